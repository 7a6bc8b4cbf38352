//! A small, strict reader and writer for NumPy's .npy format (versions 1.0 to 3.0).
//!
//! Reads little- or big-endian float32/float64 arrays (and int32/int64 for targets), in C or
//! Fortran order. Anything else (float16, complex, strings, objects, truncated or corrupt files)
//! is an [`Error::Read`] naming the file and what was found.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayBase, Data, Dimension};
use std::path::Path;

/// A parsed .npy header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The dtype descriptor, such as `<f8`.
    pub descr: String,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<usize>,
}

/// The element kinds gradlab reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    F4,
    F8,
    I4,
    I8,
}

fn read_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Read { path: path.to_path_buf(), reason: reason.into() }
}

/// Parses a whole .npy file held in memory into its header and the offset of its data.
///
/// # Errors
/// A one-clause reason when the bytes are not a well-formed .npy file.
pub fn parse_header(bytes: &[u8]) -> std::result::Result<(Header, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (missing the \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (hlen, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}; expected 1, 2 or 3")),
    };
    let end = start.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or("truncated .npy header")?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| "the .npy header is not text")?;
    let descr = dict_value(text, "descr").ok_or("the .npy header has no 'descr'")?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
    let fortran = dict_value(text, "fortran_order").ok_or("the .npy header has no 'fortran_order'")?;
    let fortran_order = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("the .npy header has fortran_order {other:?}; expected True or False")),
    };
    let shape_txt = dict_value(text, "shape").ok_or("the .npy header has no 'shape'")?;
    let inner = shape_txt
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("the .npy header has shape {shape_txt:?}; expected a tuple"))?;
    let mut shape = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v: usize = part
            .trim_end_matches('L')
            .parse()
            .map_err(|_| format!("the .npy shape has entry {part:?}; expected a whole number"))?;
        shape.push(v);
    }
    Ok((Header { descr, fortran_order, shape }, end))
}

/// The text of `key`'s value in a Python dict literal, up to the next top-level comma or brace.
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let pos = text.find(&pat1).map(|p| p + pat1.len()).or_else(|| text.find(&pat2).map(|p| p + pat2.len()))?;
    let rest = text[pos..].trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

fn kind_of(descr: &str) -> std::result::Result<(Kind, bool), String> {
    let (big, body) = match descr.as_bytes().first() {
        Some(b'<') | Some(b'=') => (false, &descr[1..]),
        Some(b'>') => (true, &descr[1..]),
        Some(b'|') => (false, &descr[1..]),
        _ => (false, descr),
    };
    let kind = match body {
        "f4" => Kind::F4,
        "f8" => Kind::F8,
        "i4" => Kind::I4,
        "i8" => Kind::I8,
        "f2" | "e" => return Err("it holds float16 values; expected float32 or float64".into()),
        b if b.starts_with('c') => return Err(format!("it holds complex values ({descr}); expected real numbers")),
        b if b.starts_with('U') || b.starts_with('S') || b.starts_with('O') => {
            return Err(format!("it holds strings or objects ({descr}); expected numbers"))
        }
        _ => return Err(format!("it has dtype {descr:?}; expected float32, float64, int32 or int64")),
    };
    Ok((kind, big))
}

/// Decoded .npy contents: float values (for float files) or integers (for int files), and the
/// shape; values are in C (row-major) order whatever the file's order.
pub type Decoded = (Vec<f64>, Vec<i64>, Vec<usize>);

/// Decodes a whole .npy file held in memory; `want_float` selects float32/float64 files (else
/// int32/int64). Never panics, whatever the bytes.
///
/// # Errors
/// A one-clause reason when the bytes are not a supported .npy file of the wanted kind.
pub fn decode(bytes: &[u8], want_float: bool) -> std::result::Result<Decoded, String> {
    let (h, off) = parse_header(bytes)?;
    let (kind, big) = kind_of(&h.descr)?;
    let is_float = matches!(kind, Kind::F4 | Kind::F8);
    if want_float && !is_float {
        return Err(format!("it holds integers ({}); expected float32 or float64", h.descr));
    }
    if !want_float && is_float {
        return Err(format!("it holds floats ({}); expected int64 class labels", h.descr));
    }
    let size = match kind {
        Kind::F4 | Kind::I4 => 4,
        Kind::F8 | Kind::I8 => 8,
    };
    let too_large = || "its shape is too large".to_string();
    let count = h.shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).ok_or_else(too_large)?;
    let data = &bytes[off..];
    let need = count.checked_mul(size).ok_or_else(too_large)?;
    if data.len() < need {
        return Err(format!("it is truncated: the header promises {need} bytes of data but {} remain", data.len()));
    }
    let mut floats = Vec::new();
    let mut ints = Vec::new();
    for chunk in data[..need].chunks_exact(size) {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(chunk);
        if big {
            b[..size].reverse();
        }
        match kind {
            Kind::F4 => floats.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
            Kind::F8 => floats.push(f64::from_le_bytes(b)),
            Kind::I4 => ints.push(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
            Kind::I8 => ints.push(i64::from_le_bytes(b)),
        }
    }
    if h.fortran_order && h.shape.len() == 2 {
        let (r, c) = (h.shape[0], h.shape[1]);
        if !floats.is_empty() {
            floats = (0..r * c).map(|idx| floats[(idx % c) * r + idx / c]).collect();
        }
        if !ints.is_empty() {
            ints = (0..r * c).map(|idx| ints[(idx % c) * r + idx / c]).collect();
        }
    }
    Ok((floats, ints, h.shape))
}

/// Reads and decodes a .npy file.
fn read_values(path: &Path, want_float: bool) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| {
        read_err(
            path,
            if e.kind() == std::io::ErrorKind::NotFound { "no such file".to_string() } else { e.to_string() },
        )
    })?;
    decode(&bytes, want_float).map_err(|r| read_err(path, r))
}

/// Reads a 2-D float32/float64 array as f64.
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 2-D.
pub fn read_float2(path: &Path) -> Result<Array2<f64>> {
    let (v, _, shape) = read_values(path, true)?;
    if shape.len() != 2 {
        return Err(read_err(path, format!("it has shape {shape:?}; expected a 2-D array")));
    }
    Array2::from_shape_vec((shape[0], shape[1]), v).map_err(|e| read_err(path, e.to_string()))
}

/// Reads a 1-D float32/float64 array as f64.
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 1-D.
pub fn read_float1(path: &Path) -> Result<Array1<f64>> {
    let (v, _, shape) = read_values(path, true)?;
    if shape.len() != 1 {
        return Err(read_err(path, format!("it has shape {shape:?}; expected a 1-D array")));
    }
    Ok(Array1::from(v))
}

/// Reads a 1-D int32/int64 array.
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 1-D.
pub fn read_int1(path: &Path) -> Result<Array1<i64>> {
    let (_, v, shape) = read_values(path, false)?;
    if shape.len() != 1 {
        return Err(read_err(path, format!("it has shape {shape:?}; expected a 1-D array")));
    }
    Ok(Array1::from(v))
}

/// Elements that can be written to .npy.
pub trait NpyElem: Copy {
    /// The descriptor, e.g. `<f8`.
    const DESCR: &'static str;
    /// Little-endian bytes.
    fn le_bytes(self, out: &mut Vec<u8>);
}
impl NpyElem for f64 {
    const DESCR: &'static str = "<f8";
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl NpyElem for i64 {
    const DESCR: &'static str = "<i8";
    fn le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The bytes of a version 1.0 .npy file holding `a` in C order.
pub fn to_bytes<S, D, E>(a: &ArrayBase<S, D>) -> Vec<u8>
where
    S: Data<Elem = E>,
    D: Dimension,
    E: NpyElem,
{
    let shape: Vec<String> = a.shape().iter().map(|s| s.to_string()).collect();
    let shape = if shape.len() == 1 { format!("({},)", shape[0]) } else { format!("({})", shape.join(", ")) };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", E::DESCR);
    // Pad so that the data starts at a multiple of 64 bytes, ending the header with a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + a.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in a.iter() {
        v.le_bytes(&mut out);
    }
    out
}

/// Writes `a` as a .npy file atomically (temporary file, then rename).
///
/// # Errors
/// [`Error::Write`] when the file cannot be written.
pub fn write<S, D, E>(path: &Path, a: &ArrayBase<S, D>) -> Result<()>
where
    S: Data<Elem = E>,
    D: Dimension,
    E: NpyElem,
{
    crate::atomic::write(path, &to_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fortran_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = Array2::from_shape_fn((3, 2), |(i, j)| (i * 10 + j) as f64);
        write(&dir.path().join("a.npy"), &a).unwrap();
        assert_eq!(read_float2(&dir.path().join("a.npy")).unwrap(), a);
        // A Fortran-order float32 file written by hand: columns stored one after another.
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut header = "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }".to_string();
        header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        header.push('\n');
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [0f32, 10., 20., 1., 11., 21.] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(dir.path().join("f.npy"), &bytes).unwrap();
        assert_eq!(read_float2(&dir.path().join("f.npy")).unwrap(), a);
        // Truncated data is an error naming the file.
        std::fs::write(dir.path().join("t.npy"), &bytes[..bytes.len() - 3]).unwrap();
        let e = read_float2(&dir.path().join("t.npy")).unwrap_err().to_string();
        assert!(e.contains("t.npy") && e.contains("truncated"), "{e}");
    }
}
