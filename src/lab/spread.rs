//! Spread over seeds: the median of repeated measurements at each step, with the min-max band
//! a figure draws around it.

use crate::exact::Decimal;
use crate::metrics::median;

/// A curve as (x, median) points and its band as (x, min, max), in first-seen step order.
pub type CurveWithBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// The median and the min-max band of `(step, value)` measurements grouped by exact step (every
/// seed of a cell runs the same grid, so a step is found by its exact value), in the order the
/// steps first appear.
pub fn median_band<'a>(points: impl IntoIterator<Item = (&'a Decimal, f64)>) -> CurveWithBand {
    let mut groups: Vec<(&Decimal, Vec<f64>)> = Vec::new();
    for (h, v) in points {
        match groups.iter_mut().find(|(g, _)| g.value() == h.value()) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((h, vec![v])),
        }
    }
    groups
        .into_iter()
        .map(|(h, v)| {
            let x = h.to_f64();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            ((x, median(&v)), (x, lo, hi))
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_exact_step_in_order() {
        let d = |s: &str| Decimal::parse("step", s).unwrap();
        let (a, b, c) = (d("1e-1"), d("0.01"), d("1e-2"));
        let (med, band) = median_band([(&a, 3.0), (&b, 1.0), (&a, 1.0), (&c, 5.0), (&a, 2.0)]);
        assert_eq!(med, vec![(0.1, 2.0), (0.01, 3.0)]);
        assert_eq!(band, vec![(0.1, 1.0, 3.0), (0.01, 1.0, 5.0)]);
    }
}

/// The spread of repeated measurements: minimum, median and maximum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The smallest value.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN for an empty list).
    pub fn of(values: &[f64]) -> Self {
        let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
        if values.is_empty() {
            return Spread { min: f64::NAN, median: f64::NAN, max: f64::NAN };
        }
        Spread { min, median: median(values), max }
    }

    /// `median (min-max)` with two decimals, for tables.
    pub fn label(&self) -> String {
        format!("{:.2} ({:.2}-{:.2})", self.median, self.min, self.max)
    }
}

/// The x of the first point (in the order given: steps run from large to small) whose y reaches
/// `level`, or `None`.
pub fn first_reaching(points: &[(f64, f64)], level: f64) -> Option<f64> {
    points.iter().find(|p| p.1 >= level).map(|p| p.0)
}
