//! .npy files for the tests: one writer of arbitrary headers (a dtype, memory order or shape
//! gradlab refuses, as a user's file might hold) and one reader of f64 arrays. Everything valid
//! goes through gradlab's own `gradlab::npy`; these are the cases it cannot write.

use std::path::Path;

/// Writes a version 1.0 .npy file with descriptor `descr` (`"<f2"`, `"<c16"`, ...), memory
/// order, shape as numpy writes it (`"(6, 3)"`, `"(18,)"`) and raw little-endian `data`, the
/// header padded to 64 bytes as numpy pads it.
pub fn write_raw(path: &Path, descr: &str, fortran: bool, shape: &str, data: &[u8]) {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The little-endian bytes of f64 values (the data of a `"<f8"` file).
pub fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The values of a 2-D float .npy file (float16 to float64), as f64 in row-major order.
pub fn read_f64(path: &Path) -> Vec<f64> {
    gradlab::npy::read_float2(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())).iter().copied().collect()
}
