//! Atomic file output: a reader, or a run killed at any instant, never leaves a half-written
//! result under its final name.
//!
//! On Linux the bytes go into an unnamed file (`O_TMPFILE`) in the target's folder, which gets a
//! name only once it is complete: it is linked under a temporary name and renamed over the
//! target in one step. A process killed while writing (even by SIGKILL) leaves nothing behind,
//! since an unnamed file vanishes with its last descriptor. Elsewhere, or where the file system
//! lacks `O_TMPFILE`, a named temporary file `.NAME.PID.tmp` is written and renamed; such
//! leftovers of a killed run are removed by [`remove_stale_temporaries`].

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
    #[cfg(target_os = "linux")]
    {
        if let Some(result) = linux::write_unnamed(dir, &tmp, path, bytes) {
            return result.map_err(werr);
        }
    }
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

/// Creates `dir` (and parents) if needed and checks it is a writable folder.
///
/// # Errors
/// [`Error::Write`] when `dir` is a file or cannot be created.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Write { path: dir.to_path_buf(), reason: "it is a file; expected a folder".into() });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), reason: e.to_string() })?;
    let probe = dir.join(format!(".gradlab-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| Error::Write { path: dir.to_path_buf(), reason: format!("the folder is not writable ({e})") })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Removes `.NAME.PID.tmp` files left in `dir` by a run that was killed (fallback path only).
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') && n.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// `None` when O_TMPFILE is unavailable here (then the caller falls back to a named file).
    pub(crate) fn write_unnamed(dir: &Path, tmp: &Path, path: &Path, bytes: &[u8]) -> Option<std::io::Result<()>> {
        let cdir = CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: cdir is a valid NUL-terminated path; the returned descriptor is owned below.
        let fd = unsafe { libc::open(cdir.as_ptr(), libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC, 0o644) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL) => None,
                _ => Some(Err(err)),
            };
        }
        // SAFETY: fd is a fresh descriptor we own.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        Some((|| {
            file.write_all(bytes)?;
            file.sync_all()?;
            let proc_path =
                CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(std::io::Error::other)?;
            let ctmp = CString::new(tmp.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
            let _ = std::fs::remove_file(tmp);
            // SAFETY: both paths are valid NUL-terminated strings.
            let rc = unsafe {
                libc::linkat(libc::AT_FDCWD, proc_path.as_ptr(), libc::AT_FDCWD, ctmp.as_ptr(), libc::AT_SYMLINK_FOLLOW)
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::fs::rename(tmp, path).inspect_err(|_| {
                let _ = std::fs::remove_file(tmp);
            })
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write(&p, b"first").unwrap();
        write(&p, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a.csv"]);
        let e = write(&dir.path().join("missing/a.csv"), b"x").unwrap_err().to_string();
        assert!(e.contains("missing/a.csv"), "{e}");
    }
}
