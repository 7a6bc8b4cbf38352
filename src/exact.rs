//! Exact decimal numbers: user-facing constants (steps, learning rates) parsed into exact
//! rationals, so that each dtype rounds them exactly once.
//!
//! `1e-3` parsed as an f64 is already rounded; rounding that f64 again into f16 or MPFR would be
//! a double rounding, and `from_f64(0.1)` in MPFR at 256 bits is not one tenth. We keep the
//! decimal text and its exact value instead.

use crate::error::{Error, Result};
use rug::{Integer, Rational};
use std::fmt;

/// A decimal number given by the user, kept with its text and its exact value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    text: String,
    value: Rational,
}

impl Decimal {
    /// Parses a decimal literal such as `1e-3`, `0.001`, `-2.5E+2` or `3` exactly.
    ///
    /// # Errors
    /// [`Error::Value`] naming `what` when the text is not a plain decimal literal or its exponent
    /// is beyond +-100000.
    pub fn parse(what: &'static str, text: &str) -> Result<Self> {
        let t = text.trim();
        let bad = || Error::value(what, text, "a decimal number such as 1e-3 or 0.001");
        let (neg, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(p) => (&body[..p], Some(&body[p + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = match mant.find('.') {
            Some(p) => (&mant[..p], &mant[p + 1..]),
            None => (mant, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        if !int_part.bytes().chain(frac_part.bytes()).all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let mut e10: i64 = match exp {
            None => 0,
            Some(s) => {
                let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
                if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                // At most 6 digits were checked above, so this parse cannot fail.
                let v: i64 = digits.parse().unwrap_or(0);
                if s.starts_with('-') {
                    -v
                } else {
                    v
                }
            }
        };
        if e10.abs() > 100_000 {
            return Err(bad());
        }
        let digits = format!("{int_part}{frac_part}");
        e10 -= frac_part.len() as i64;
        // Only ASCII digits remain, so this parse cannot fail; fall back defensively to an error.
        let mut num: Integer = Integer::from_str_radix(&digits, 10).map_err(|_| bad())?;
        if neg {
            num = -num;
        }
        let pow = Integer::from(Integer::u_pow_u(10, e10.unsigned_abs() as u32));
        let value = if e10 >= 0 { Rational::from(num * pow) } else { Rational::from((num, pow)) };
        Ok(Decimal { text: t.to_string(), value })
    }

    /// A decimal made from an exact rational, displayed with the given text.
    pub fn from_rational(text: impl Into<String>, value: Rational) -> Self {
        Decimal { text: text.into(), value }
    }

    /// The exact value.
    pub fn value(&self) -> &Rational {
        &self.value
    }

    /// The text as given (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value rounded to the nearest f64 (for labels, plots and CSV columns only).
    pub fn to_f64(&self) -> f64 {
        rug::Float::with_val(53, &self.value).to_f64()
    }

    /// The value written like `1e-05`, `2.5e-03` or `1e+00` (the step labels used in file names).
    pub fn label(&self) -> String {
        format_sci(self.to_f64())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Written as its text (`1e-3`), so a CSV shows the step as the user or the grid spelled it.
impl serde::Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Read back from its text, exactly.
impl<'de> serde::Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Decimal::parse("decimal", &text).map_err(serde::de::Error::custom)
    }
}

/// `x` as `8.996676e-01` (six digits, two-digit exponent, like C's `%e`).
pub fn sci6(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let s = format!("{x:.6e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Three significant digits, in scientific notation below 1e-3 or from 1e4 up.
pub(crate) fn sci3(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e4) {
        format!("{x:.2e}")
    } else {
        format!("{x:.3}")
    }
}

/// Formats like Python's `f"{x:.0e}"` when the mantissa is a whole number (`1e-05`), otherwise
/// with the shortest mantissa that round-trips (`2.5e-03`).
pub fn format_sci(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let s = format!("{x:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{m}e{sign}{:02}", e.abs())
}

/// Parses a comma-separated list of decimals; an empty list is an error.
///
/// # Errors
/// [`Error::Value`] naming the first bad entry, or the empty list.
pub fn parse_list(what: &'static str, text: &str) -> Result<Vec<Decimal>> {
    let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err(Error::value(what, text, "a comma-separated list with at least one number"));
    }
    items.into_iter().map(|s| Decimal::parse(what, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        let d = Decimal::parse("step", "1e-3").unwrap();
        assert_eq!(*d.value(), Rational::from((1, 1000)));
        let d = Decimal::parse("step", "-2.5E+2").unwrap();
        assert_eq!(*d.value(), Rational::from(-250));
        let d = Decimal::parse("step", "0.1").unwrap();
        assert_eq!(*d.value(), Rational::from((1, 10)));
        let d = Decimal::parse("step", ".5").unwrap();
        assert_eq!(*d.value(), Rational::from((1, 2)));
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "abc", "1e", "e5", "1.2.3", "nan", "inf", "1e-9999999", "--1", "0x10"] {
            assert!(Decimal::parse("step", s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn labels_like_python() {
        assert_eq!(format_sci(1e-5), "1e-05");
        assert_eq!(format_sci(1.0), "1e+00");
        assert_eq!(format_sci(2.5e-3), "2.5e-03");
        assert_eq!(format_sci(1e-20), "1e-20");
    }
}
