//! Provenance recorded beside every result: the git commit, the versions of gradlab, its numeric
//! dependencies and MPFR, the command, the thread count and the wall time (meta.json).

use std::path::Path;

/// The git commit of the working directory (with `-dirty` when tracked files outside the results
/// folder `out` have changes), or `unknown`. Determined once per process, before the first result
/// is written, so that a run's own output does not mark it dirty.
pub fn git_commit(out: &Path) -> String {
    static COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMIT.get_or_init(|| git_commit_now(out)).clone()
}

/// The commit, dirty when tracked files outside the results folder `out` have changes.
fn git_commit_now(out: &Path) -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            // Rewritten results (a new wall time in meta.json) do not make the code dirty.
            let exclude = format!(":(exclude){}", out.display());
            let mut args = vec!["status", "--porcelain", "--untracked-files=no"];
            if out.is_relative() {
                args.extend(["--", ".", exclude.as_str()]);
            }
            let dirty = run(&args).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        _ => "unknown".into(),
    }
}

/// The MPFR library version linked in.
pub fn mpfr_version() -> String {
    // SAFETY: mpfr_get_version returns a pointer to a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(gmp_mpfr_sys::mpfr::get_version()) }.to_string_lossy().into_owned()
}

/// The versions of gradlab's numeric dependencies, from Cargo.lock at build time.
pub fn dependency_versions() -> &'static str {
    env!("GRADLAB_DEP_VERSIONS")
}
