//! Records the versions of the numeric dependencies (from Cargo.lock) for results' meta.json:
//! MPFR (rug, gmp-mpfr-sys) and CORE-MATH (core-math, core-math-sys) make the numbers.
//! It also bakes the digest of the workspace's source (src/runner/source_digest.rs) into the
//! binary as GRADLAB_SOURCE, meta.json's `source`. Paths are the workspace root's (two folders
//! up from this crate).
#[path = "src/runner/source_digest.rs"]
#[allow(dead_code)]
mod source_digest;

fn main() {
    for p in source_digest::SOURCE_PATHS {
        println!("cargo:rerun-if-changed=../../{p}");
    }
    println!("cargo:rustc-env=GRADLAB_SOURCE={}", source_digest::source_digest(std::path::Path::new("../..")));
    let lock = std::fs::read_to_string("../../Cargo.lock").unwrap_or_default();
    let mut found = Vec::new();
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            if ["rug", "half", "gmp-mpfr-sys", "core-math", "core-math-sys", "plotters", "ndarray", "rayon"]
                .contains(&name.as_str())
            {
                found.push(format!("{name} {}", v.trim_matches('"')));
            }
        }
    }
    println!("cargo:rustc-env=GRADLAB_DEP_VERSIONS={}", found.join(", "));
}
