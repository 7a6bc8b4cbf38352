//! Report templates filled at run time: an experiment's `NAME.md` with `{name}` or
//! `{name:.3}` placeholders, and its values named after the variables that hold them
//! ([`vars!`](crate::vars)).
//!
//! `format!` cannot capture variables into a template that comes from `include_str!`, so every
//! value had to be listed twice (`name = name`); [`fill`] reads the same placeholders at run time
//! and formats each value exactly as `format!` would.

use gradlab::error::{Error, Result};

/// A value for a placeholder: a float, an integer or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float, formatted like an `f64`.
    Float(f64),
    /// An integer, formatted like any Rust integer.
    Int(i128),
    /// Text, formatted like a `str`.
    Text(String),
}

macro_rules! value_from {
    ($($t:ty => |$x:ident| $value:expr),* $(,)?) => {$(
        impl From<&$t> for Value {
            fn from($x: &$t) -> Self {
                $value
            }
        }
    )*};
}

value_from! {
    f64 => |x| Value::Float(*x),
    f32 => |x| Value::Float(f64::from(*x)),
    usize => |x| Value::Int(*x as i128),
    u64 => |x| Value::Int(i128::from(*x)),
    u32 => |x| Value::Int(i128::from(*x)),
    i64 => |x| Value::Int(i128::from(*x)),
    i32 => |x| Value::Int(i128::from(*x)),
    String => |x| Value::Text(x.clone()),
    &str => |x| Value::Text(x.to_string()),
}

/// The named values of a template, each named after the variable that holds it:
/// `vars![seeds, table]` is `[("seeds", Value::from(&seeds)), ("table", Value::from(&table))]`.
///
/// ```
/// let (seeds, kappa) = (20, 0.98765);
/// let text = gradlab_lab::template::fill("{seeds} seeds, κ = {kappa:.3}", &gradlab_lab::vars![seeds, kappa]);
/// assert_eq!(text.unwrap(), "20 seeds, κ = 0.988");
/// ```
#[macro_export]
macro_rules! vars {
    ($($name:ident),* $(,)?) => {
        [$((stringify!($name), $crate::template::Value::from(&$name))),*]
    };
}

/// How a placeholder formats its value: `{name}`, `{name:.N}`, `{name:e}` or `{name:.Ne}`.
struct Spec {
    precision: Option<usize>,
    exp: bool,
}

impl Spec {
    fn parse(spec: &str) -> Option<Spec> {
        let (rest, exp) = match spec.strip_suffix('e') {
            Some(r) => (r, true),
            None => (spec, false),
        };
        let precision = match rest {
            "" => None,
            r => Some(r.strip_prefix('.')?.parse().ok()?),
        };
        Some(Spec { precision, exp })
    }

    /// `value` as `format!` writes it with this spec (`None`: text has no exponent form).
    fn format(&self, value: &Value) -> Option<String> {
        Some(match (value, self.exp, self.precision) {
            (Value::Float(x), false, None) => format!("{x}"),
            (Value::Float(x), false, Some(p)) => format!("{x:.p$}"),
            (Value::Float(x), true, None) => format!("{x:e}"),
            (Value::Float(x), true, Some(p)) => format!("{x:.p$e}"),
            (Value::Int(i), false, None) => format!("{i}"),
            (Value::Int(i), false, Some(p)) => format!("{i:.p$}"),
            (Value::Int(i), true, None) => format!("{i:e}"),
            (Value::Int(i), true, Some(p)) => format!("{i:.p$e}"),
            (Value::Text(s), false, None) => s.clone(),
            (Value::Text(s), false, Some(p)) => format!("{s:.p$}"),
            (Value::Text(_), true, _) => return None,
        })
    }
}

/// `template` with every placeholder replaced by its value, as `format!(template, name = value,
/// ...)` would write it: `{name}`, `{name:.N}`, `{name:e}`, `{name:.Ne}`; `{{` and `}}` are
/// braces.
///
/// # Errors
/// [`Error::Value`] for a placeholder without a value or with another format, an unmatched
/// brace, or a value no placeholder uses (what `format!` rejects when it compiles).
pub fn fill(template: &str, values: &[(&str, Value)]) -> Result<String> {
    let bad = |text: &str, expected: &str| Error::value("report template placeholder", text, expected);
    let mut used = vec![false; values.len()];
    let (mut out, mut rest) = (String::with_capacity(template.len()), template);
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let (brace, after) = (&rest[i..i + 1], &rest[i + 1..]);
        if let Some(a) = after.strip_prefix(brace) {
            out.push_str(brace);
            rest = a;
            continue;
        }
        let end = after.find('}').filter(|_| brace == "{").ok_or_else(|| bad(brace, "`{{` or `}}` for a brace"))?;
        let (name, spec) = after[..end].split_once(':').unwrap_or((&after[..end], ""));
        let k = values.iter().position(|(n, _)| *n == name).ok_or_else(|| bad(name, "the name of a value"))?;
        let text = Spec::parse(spec).and_then(|s| s.format(&values[k].1));
        out.push_str(&text.ok_or_else(|| bad(&after[..end], "`name`, `name:.N`, `name:e` or `name:.Ne`"))?);
        used[k] = true;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    match used.iter().position(|u| !u) {
        Some(k) => Err(bad(values[k].0, "a placeholder for every value")),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_format_does() {
        let (x, n, s, nan) = (1234.5678e-7, 42usize, "text".to_string(), f64::NAN);
        let got = fill("{x} {x:.2} {x:e} {x:.1e} {n} {n:.3} {s} {s:.2} {nan:.2} {{{n}}}", &crate::vars![x, n, s, nan]);
        let want = format!("{x} {x:.2} {x:e} {x:.1e} {n} {n:.3} {s} {s:.2} {nan:.2} {{{n}}}");
        assert_eq!(got.unwrap(), want);
    }

    #[test]
    fn rejects_what_format_rejects() {
        let n = 1;
        assert!(fill("{m}", &crate::vars![n]).is_err());
        assert!(fill("none", &crate::vars![n]).is_err());
        assert!(fill("{n:>5}", &crate::vars![n]).is_err());
        assert!(fill("{n} }", &crate::vars![n]).is_err());
        assert!(fill("{n", &crate::vars![n]).is_err());
    }
}
