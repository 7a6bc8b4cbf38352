//! NumPy .npy files through ndarray-npy, with three small checks of our own where it is not
//! strict enough.
//!
//! Reads little- or big-endian float32/float64 arrays (and int32/int64 for targets), in C or
//! Fortran order, always returned in standard (C) layout. Anything else (float16, complex,
//! strings, objects, a wrong number of dimensions, truncated or corrupt files) is an
//! [`Error::Read`] naming the file and what was expected; no input makes it panic, abort or hang.
//! Writing goes through ndarray-npy into memory, then [`crate::atomic::write`].
//!
//! ndarray-npy (0.9) parses the header and decodes the data. What it does not give, checked here
//! before it sees the bytes:
//!
//! - **The header's size and nesting.** Its header parser (py_literal, on pest) backtracks
//!   exponentially in the nesting depth of brackets: a 100-byte header of 40 nested `[` takes
//!   hours. So a header may hold at most 4 opening brackets (NumPy's own header for these dtypes
//!   has two) and, as in NumPy, at most 10,000 bytes. This check also gives the "not a .npy file"
//!   message for a missing magic string.
//! - **The data's length against the header.** ndarray-npy allocates every element the header
//!   promises before reading any: a 100-byte file claiming shape (2^40,) aborts the process on a
//!   failed allocation. A zero-sized stand-in element (`Probe`) lets ndarray-npy parse the
//!   header and hand over the descriptor, the element count and the data, so the dtype and the
//!   length are checked (with our own messages) before the real read allocates.
//! - **Empty arrays** are refused: ndarray-npy panics (an `unwrap` on a shape error) on a
//!   zero-sized shape whose other axes overflow, such as (0, 2^40, 2^40), and the probe sees the
//!   element count only, not the shape. No problem can be empty anyway (n, d >= 1, k >= 2).
//!
//! Stricter than NumPy in two ways that NumPy's own files never meet: multi-byte descriptors need
//! an explicit byte order (`<f8` or `>f8`, as NumPy writes them, not `=f8` or `f8`), and data
//! beyond what the header promises is an error.

use crate::error::{Error, Result};
use ndarray::{Array, ArrayBase, ArrayD, Data, Dimension};
use ndarray_npy::{ReadDataError, ReadNpyError, ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};
use py_literal::Value as PyValue;
use std::io::Read;
use std::path::Path;

/// The longest header accepted, in bytes (NumPy's own default limit, `max_header_size`).
const MAX_HEADER_LEN: usize = 10_000;
/// The most opening brackets a header may hold (see the module docs).
const MAX_OPEN_BRACKETS: usize = 4;

fn read_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Read { path: path.to_path_buf(), reason: reason.into() }
}

/// Checks the magic string, and the header's length and bracket count, before ndarray-npy parses
/// it. A version or length field it cannot read is left to ndarray-npy to report.
fn check_header(bytes: &[u8]) -> std::result::Result<(), String> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or("not a .npy file (missing the \\x93NUMPY magic)")?;
    let (len, start) = match (rest.first(), rest.get(2..6)) {
        (Some(1), _) if rest.len() >= 4 => (u16::from_le_bytes([rest[2], rest[3]]) as usize, 4),
        (Some(2 | 3), Some(b)) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 6),
        _ => return Ok(()),
    };
    if len > MAX_HEADER_LEN {
        return Err(format!("its header is {len} bytes long; expected at most {MAX_HEADER_LEN}"));
    }
    let header = rest.get(start..start + len).unwrap_or(&rest[start.min(rest.len())..]);
    let open = header.iter().filter(|&&c| matches!(c, b'(' | b'[' | b'{')).count();
    if open > MAX_OPEN_BRACKETS {
        return Err(format!("its header has {open} opening brackets; expected at most {MAX_OPEN_BRACKETS}"));
    }
    Ok(())
}

/// The size in bytes of one element of `descr`, if it is one of the four dtypes read as floats
/// (`float`) or as integers; else the reason.
fn item_size(descr: &PyValue, float: bool) -> std::result::Result<usize, String> {
    let PyValue::String(d) = descr else {
        return Err("it has a structured dtype; expected plain numbers".into());
    };
    let body = d.strip_prefix(['<', '>', '=', '|']).unwrap_or(d);
    let (is_float, size) = match body {
        "f4" => (true, 4),
        "f8" => (true, 8),
        "i4" => (false, 4),
        "i8" => (false, 8),
        "f2" | "e" => return Err("it holds float16 values; expected float32 or float64".into()),
        b if b.starts_with('c') => return Err(format!("it holds complex values ({d}); expected real numbers")),
        b if b.starts_with(['U', 'S', 'O']) => {
            return Err(format!("it holds strings or objects ({d}); expected numbers"))
        }
        _ => return Err(format!("it has dtype {d:?}; expected float32, float64, int32 or int64")),
    };
    if float && !is_float {
        return Err(format!("it holds integers ({d}); expected float32 or float64"));
    }
    if !float && is_float {
        return Err(format!("it holds floats ({d}); expected int64 class labels"));
    }
    if !d.starts_with(['<', '>']) {
        return Err(format!("it has dtype {d:?} without a byte order; expected '<{body}' or '>{body}'"));
    }
    Ok(size)
}

/// A zero-sized stand-in element: reading an array of it has ndarray-npy parse the header and
/// hand over the descriptor, element count and data, which are checked here; an array of it
/// takes no memory whatever its length. `FLOAT` selects the dtypes wanted.
#[derive(Clone, Copy)]
struct Probe<const FLOAT: bool>;

impl<const FLOAT: bool> ReadableElement for Probe<FLOAT> {
    fn read_to_end_exact_vec<R: Read>(
        mut data: R,
        descr: &PyValue,
        len: usize,
    ) -> std::result::Result<Vec<Self>, ReadDataError> {
        check_data(descr, len, &mut data, FLOAT).map_err(|reason| ReadDataError::ParseData(reason.into()))?;
        Ok(vec![Probe; len])
    }
}

/// Checks the dtype, that the array is not empty, and that the data holds exactly the `len`
/// elements the header promises.
fn check_data(descr: &PyValue, len: usize, data: &mut impl Read, float: bool) -> std::result::Result<(), String> {
    let size = item_size(descr, float)?;
    if len == 0 {
        return Err("it holds no values (its shape has a 0); expected a non-empty array".into());
    }
    let need = len.checked_mul(size).ok_or("its shape is too large")? as u64;
    let have = std::io::copy(data, &mut std::io::sink()).map_err(|e| e.to_string())?;
    if have < need {
        return Err(format!("it is truncated: the header promises {need} bytes of data but {have} remain"));
    }
    if have > need {
        let extra = have - need;
        return Err(format!("it has {extra} bytes beyond the {need} bytes of data its header promises; expected none"));
    }
    Ok(())
}

/// One clause for an error of ndarray-npy (header errors keep its first line, shortened).
fn reason(e: ReadNpyError) -> String {
    match e {
        ReadNpyError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => "truncated .npy header".into(),
        ReadNpyError::ParseHeader(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default().trim_end_matches([' ', ':']);
            let short: String = first.chars().take(120).collect();
            let more = if short.len() < first.len() { "..." } else { "" };
            format!("its .npy header is malformed ({short}{more})")
        }
        // The probe's own reasons.
        ReadNpyError::ParseData(e) => e.to_string(),
        ReadNpyError::LengthOverflow => "its shape is too large".into(),
        other => other.to_string(),
    }
}

/// Decodes a whole .npy file held in memory as `W`, or as `N` widened to `W`, in standard layout,
/// and whether it held the narrower `N`.
fn decode<W, N, const FLOAT: bool>(bytes: &[u8]) -> std::result::Result<(ArrayD<W>, bool), String>
where
    W: ReadableElement + Clone,
    N: ReadableElement + Copy + Into<W>,
{
    check_header(bytes)?;
    ArrayD::<Probe<FLOAT>>::read_npy(bytes).map_err(reason)?;
    let (a, narrow) = match ArrayD::<W>::read_npy(bytes) {
        Err(ReadNpyError::WrongDescriptor(_)) => (ArrayD::<N>::read_npy(bytes).map(|a| a.mapv(Into::into)), true),
        r => (r, false),
    };
    let a = a.map_err(reason)?;
    Ok((if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() }, narrow))
}

/// Decodes a whole .npy file held in memory holding float32 or float64 values, as f64 in
/// standard layout. Never panics, whatever the bytes.
///
/// # Errors
/// A one-clause reason when the bytes are not a non-empty float32/float64 .npy file.
pub fn decode_float(bytes: &[u8]) -> std::result::Result<ArrayD<f64>, String> {
    decode::<f64, f32, true>(bytes).map(|(a, _)| a)
}

/// Decodes a whole .npy file held in memory holding int32 or int64 values, as i64 in standard
/// layout. Never panics, whatever the bytes.
///
/// # Errors
/// A one-clause reason when the bytes are not a non-empty int32/int64 .npy file.
pub(crate) fn decode_int(bytes: &[u8]) -> std::result::Result<ArrayD<i64>, String> {
    decode::<i64, i32, false>(bytes).map(|(a, _)| a)
}

/// The bytes of a file, or a read error naming it.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        read_err(
            path,
            if e.kind() == std::io::ErrorKind::NotFound { "no such file".to_string() } else { e.to_string() },
        )
    })
}

/// Reads a float32/float64 array of any number of dimensions as f64, with the file's own type
/// ([`crate::scalar::DType::F32`] or [`crate::scalar::DType::F64`]).
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file.
pub fn read_float_typed(path: &Path) -> Result<(ArrayD<f64>, crate::scalar::DType)> {
    let (a, narrow) = decode::<f64, f32, true>(&read_bytes(path)?).map_err(|r| read_err(path, r))?;
    Ok((a, if narrow { crate::scalar::DType::F32 } else { crate::scalar::DType::F64 }))
}

/// Reads and decodes a .npy file of `D`'s number of dimensions.
fn read<T, D: Dimension>(
    path: &Path,
    decode: fn(&[u8]) -> std::result::Result<ArrayD<T>, String>,
) -> Result<Array<T, D>> {
    let a = decode(&read_bytes(path)?).map_err(|r| read_err(path, r))?;
    let shape = a.shape().to_vec();
    a.into_dimensionality::<D>().map_err(|_| {
        read_err(path, format!("it has shape {shape:?}; expected a {}-D array", D::NDIM.unwrap_or_default()))
    })
}

/// Reads a 2-D float32/float64 array as f64.
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 2-D.
pub fn read_float2(path: &Path) -> Result<ndarray::Array2<f64>> {
    read(path, decode_float)
}

/// Reads a 1-D float32/float64 array as f64.
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 1-D.
pub fn read_float1(path: &Path) -> Result<ndarray::Array1<f64>> {
    read(path, decode_float)
}

/// Reads a 1-D int32/int64 array as i64.
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 1-D.
pub fn read_int1(path: &Path) -> Result<ndarray::Array1<i64>> {
    read(path, decode_int)
}

/// Reads a 3-D float32/float64 array as f64 (a token problem's x, B x T x d).
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 3-D.
pub fn read_float3(path: &Path) -> Result<ndarray::Array3<f64>> {
    read(path, decode_float)
}

/// Reads a 2-D int32/int64 array as i64 (a token problem's targets, B x T).
///
/// # Errors
/// [`Error::Read`] for a missing, corrupt or wrongly typed file or a shape that is not 2-D.
pub fn read_int2(path: &Path) -> Result<ndarray::Array2<i64>> {
    read(path, decode_int)
}

/// Writes `a` (such as f64 or i64 values) as a .npy file atomically: encoded in memory by
/// ndarray-npy, then written by [`crate::atomic::write`].
///
/// # Errors
/// [`Error::Write`] when the file cannot be written.
pub fn write<S, D>(path: &Path, a: &ArrayBase<S, D>) -> Result<()>
where
    S: Data,
    S::Elem: WritableElement,
    D: Dimension,
{
    let mut bytes = Vec::new();
    a.write_npy(&mut bytes).map_err(|e| Error::Write { path: path.to_path_buf(), reason: e.to_string() })?;
    crate::atomic::write(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A version 1.0 .npy file with the given header dict and raw data.
    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        header.push_str(&" ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn round_trip_and_fortran_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = Array2::from_shape_fn((3, 2), |(i, j)| (i * 10 + j) as f64);
        write(&dir.path().join("a.npy"), &a).unwrap();
        assert_eq!(read_float2(&dir.path().join("a.npy")).unwrap(), a);
        // A Fortran-order float32 file: columns stored one after another.
        let cols: Vec<u8> = [0f32, 10., 20., 1., 11., 21.].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", &cols);
        std::fs::write(dir.path().join("f.npy"), &bytes).unwrap();
        let f = read_float2(&dir.path().join("f.npy")).unwrap();
        assert!(f == a && f.is_standard_layout());
        // Big-endian int32 targets.
        let t: Vec<u8> = [3i32, -1].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(
            decode_int(&npy("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", &t))
                .unwrap()
                .into_raw_vec_and_offset()
                .0,
            [3, -1]
        );
        // Truncated data is an error naming the file.
        std::fs::write(dir.path().join("t.npy"), &bytes[..bytes.len() - 3]).unwrap();
        let e = read_float2(&dir.path().join("t.npy")).unwrap_err().to_string();
        assert!(e.contains("t.npy") && e.contains("truncated"), "{e}");
    }

    /// Each case ndarray-npy alone would abort on, panic on or hang on is a one-line error.
    #[test]
    fn hand_written_checks() {
        let cases = [
            // ndarray-npy would allocate 8 TiB before reading (abort).
            (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }", &[0; 16]), "truncated"),
            (npy("{'descr': '<U5', 'fortran_order': False, 'shape': (1099511627776,), }", &[0; 16]), "strings"),
            // ndarray-npy would panic on the shape error.
            (
                npy("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }", &[]),
                "no values",
            ),
            // py_literal would backtrack for hours.
            (
                npy(
                    &format!(
                        "{{'descr': {}{}, 'fortran_order': False, 'shape': (1,), }}",
                        "[".repeat(40),
                        "]".repeat(40)
                    ),
                    &[0; 8],
                ),
                "brackets",
            ),
            (
                npy(
                    &format!(
                        "{{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': '{}'}}",
                        " ".repeat(20_000)
                    ),
                    &[0; 8],
                ),
                "at most 10000",
            ),
            (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", &[0; 9]), "1 bytes beyond"),
            (npy("{'descr': '=f8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]), "without a byte order"),
            (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", &[0; 8]), "malformed"),
            (b"\x93NUMPY\x01\x00\xff".to_vec(), "truncated .npy header"),
            (b"PK\x03\x04".to_vec(), "not a .npy file"),
        ];
        for (bytes, needle) in cases {
            let e = decode_float(&bytes).unwrap_err();
            assert!(e.contains(needle) && !e.contains('\n'), "{needle}: {e}");
        }
    }
}
