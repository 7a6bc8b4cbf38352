//! Tidy tables: one observation per row, one variable per column, shortest round-trip floats.

use std::fmt;

/// One CSV cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text.
    S(String),
    /// A whole number.
    I(i64),
    /// A float, written as the shortest decimal that round-trips (`NaN`, `inf` for non-finite).
    F(f64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::S(s) => f.write_str(s),
            Value::I(i) => write!(f, "{i}"),
            Value::F(x) if x.is_nan() => f.write_str("NaN"),
            Value::F(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "inf" } else { "-inf" }),
            Value::F(x) => f.write_str(ryu::Buffer::new().format_finite(*x)),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::S(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::S(s)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::F(x)
    }
}
impl From<usize> for Value {
    fn from(x: usize) -> Self {
        Value::I(x as i64)
    }
}
impl From<u64> for Value {
    fn from(x: u64) -> Self {
        Value::I(x as i64)
    }
}
impl From<u32> for Value {
    fn from(x: u32) -> Self {
        Value::I(x as i64)
    }
}

/// A row of values, one per column.
pub type Row = Vec<Value>;

/// Rows with named columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows.
    pub rows: Vec<Row>,
}

impl Table {
    /// The index of column `name`. Panics if the experiment asks for a column it did not declare
    /// (a programming error, never user input).
    pub fn col(&self, name: &str) -> usize {
        self.columns.iter().position(|c| *c == name).unwrap_or_else(|| panic!("no column {name}"))
    }
    /// Text of row `r`, column `name`.
    pub fn s(&self, r: usize, name: &str) -> String {
        self.rows[r][self.col(name)].to_string()
    }
    /// Number in row `r`, column `name` (NaN for text).
    pub fn f(&self, r: usize, name: &str) -> f64 {
        match &self.rows[r][self.col(name)] {
            Value::F(x) => *x,
            Value::I(i) => *i as f64,
            Value::S(s) => s.parse().unwrap_or(f64::NAN),
        }
    }
    /// Indices of rows whose text columns equal the given values.
    pub fn select(&self, filters: &[(&str, &str)]) -> Vec<usize> {
        let cols: Vec<(usize, &str)> = filters.iter().map(|(c, v)| (self.col(c), *v)).collect();
        (0..self.rows.len()).filter(|&r| cols.iter().all(|(c, v)| self.rows[r][*c].to_string() == *v)).collect()
    }
    /// The CSV text (header, then rows; fields with commas or quotes are quoted).
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&self.columns);
        for r in &self.rows {
            let _ = w.write_record(r.iter().map(|v| v.to_string()));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
    /// Parses CSV text written by [`Table::to_csv`] (all values as text or numbers).
    pub fn from_csv(text: &str) -> Option<(Vec<String>, Vec<Vec<String>>)> {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header = r.headers().ok()?.iter().map(String::from).collect();
        let rows =
            r.records().map(|rec| rec.map(|x| x.iter().map(String::from).collect())).collect::<Result<_, _>>().ok()?;
        Some((header, rows))
    }
}
