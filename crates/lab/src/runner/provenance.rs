//! Provenance recorded beside every result: the digest of the source, the git commit it is (or
//! is based on), the versions of gradlab, its numeric
//! dependencies and MPFR, the command, the thread count and the wall time (meta.json).

use std::path::Path;

/// The digest of the source this binary was built from ([`super::source_digest`]): the same
/// bytes give the same digest, so a committed result carries it truthfully.
pub fn source() -> &'static str {
    env!("GRADLAB_SOURCE")
}

/// Where the source stands in git, determined once per process (before the first result is
/// written): `("git_commit", HEAD)` when no file under the source paths differs from HEAD,
/// `("based_on", HEAD)` when some does (uncommitted changes on top of HEAD), `None` outside a
/// git checkout. Never a "dirty" commit id: a dirty tree is named by its `source` digest.
pub fn commit(_out: &Path) -> Option<(&'static str, String)> {
    static COMMIT: std::sync::OnceLock<Option<(&'static str, String)>> = std::sync::OnceLock::new();
    COMMIT.get_or_init(commit_now).clone()
}

fn commit_now() -> Option<(&'static str, String)> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = run(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty())?;
    // Untracked files count: a new module under src/ is compiled before it is committed.
    let mut args = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    args.extend(super::source_digest::SOURCE_PATHS);
    let clean = run(&args)?.is_empty();
    Some((if clean { "git_commit" } else { "based_on" }, head))
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
