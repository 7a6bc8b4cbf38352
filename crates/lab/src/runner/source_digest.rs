//! The digest of the source that makes results: SHA-256 (FIPS 180-4, a small pure-Rust
//! implementation) over every file under `src/`, `crates/` (the lab and plotting crates, their
//! build.rs included) and `experiments/` and over the workspace's `Cargo.toml` and `Cargo.lock`.
//! crates/lab/build.rs includes this file (`#[path]`) and bakes the digest of
//! the tree it compiles into the binary; meta.json records it as `source`, which a committed
//! result can carry truthfully (a commit id cannot name the commit that holds it).
//!
//! This file uses only `std`: build.rs compiles it on its own.

use std::path::{Path, PathBuf};

/// The files and folders, relative to the workspace root, whose content can change a result.
pub const SOURCE_PATHS: [&str; 5] = ["src", "crates", "experiments", "Cargo.toml", "Cargo.lock"];

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The SHA-256 digest of `data`, as 64 lowercase hexadecimal digits.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// Every file under `path` (or `path` itself), relative to `root`, `/`-separated.
fn files_under(root: &Path, path: &Path, found: &mut Vec<(String, PathBuf)>) {
    let full = root.join(path);
    if full.is_dir() {
        let Ok(entries) = std::fs::read_dir(&full) else { return };
        for entry in entries.flatten() {
            files_under(root, &path.join(entry.file_name()), found);
        }
    } else if full.is_file() {
        let rel: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        found.push((rel.join("/"), full));
    }
}

/// The digest of the source under the workspace root `root`: SHA-256 over, for each file of
/// [`SOURCE_PATHS`] in the order of its `/`-separated relative path, the path, a NUL byte, the
/// length in decimal, a NUL byte and the content. `sha256:` and 64 hexadecimal digits.
pub fn source_digest(root: &Path) -> String {
    let mut files = Vec::new();
    for p in SOURCE_PATHS {
        files_under(root, Path::new(p), &mut files);
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut all = Vec::new();
    for (rel, full) in files {
        let content = std::fs::read(&full).unwrap_or_default();
        all.extend_from_slice(rel.as_bytes());
        all.push(0);
        all.extend_from_slice(content.len().to_string().as_bytes());
        all.push(0);
        all.extend_from_slice(&content);
    }
    format!("sha256:{}", sha256_hex(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vectors() {
        let long = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(long.as_bytes()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        assert_eq!(sha256_hex(&[b'a'; 1000]), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    }

    #[test]
    fn the_binary_carries_the_digest_of_the_tree_it_was_built_from() {
        let here = source_digest(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
        assert_eq!(here, env!("GRADLAB_SOURCE"));
        assert!(here.starts_with("sha256:") && here.len() == 71);
    }

    #[test]
    fn the_digest_changes_with_a_file_and_its_path() {
        let tmp = std::env::temp_dir().join(format!("gradlab-digest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("src")).unwrap();
        std::fs::write(tmp.join("src/a.rs"), "fn a() {}").unwrap();
        let one = source_digest(&tmp);
        std::fs::write(tmp.join("README.md"), "not source").unwrap();
        assert_eq!(source_digest(&tmp), one, "a file outside the source paths does not count");
        std::fs::write(tmp.join("src/a.rs"), "fn a() { }").unwrap();
        let two = source_digest(&tmp);
        std::fs::rename(tmp.join("src/a.rs"), tmp.join("src/b.rs")).unwrap();
        let three = source_digest(&tmp);
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(one != two && two != three && one != three);
    }
}
