//! Atomic file output: every result file is written to a temporary file in the same folder and
//! renamed into place, so a reader never sees a half-written file.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// [`Error::Write`] when the folder is missing or not writable.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let werr = |e: std::io::Error| Error::Write { path: path.to_path_buf(), reason: e.to_string() };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(werr)
}
