//! Spread over seeds: the median of repeated measurements at each step, with the min-max band
//! a figure draws around it; and grouping rows by a key (a bin, a setting) to summarise each
//! group.

use gradlab::exact::Decimal;
use gradlab::metrics::median;

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

/// The median and min-max band of `(x, value)` measurements grouped by exact x (f64 bits), in
/// the order the x values first appear: [`median_band`] for x values that are not steps.
pub fn median_band_at(points: impl IntoIterator<Item = (f64, f64)>) -> CurveWithBand {
    let mut groups: Vec<(f64, Vec<f64>)> = Vec::new();
    for (x, v) in points {
        match groups.iter_mut().find(|(g, _)| g.to_bits() == x.to_bits()) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((x, vec![v])),
        }
    }
    let lo_hi = |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    groups.into_iter().map(|(x, v)| ((x, median(&v)), (x, lo_hi(&v).0, lo_hi(&v).1))).unzip()
}

/// The value `f` gives for each of `items`, in order: one column of rows, to summarise.
pub fn values<T>(items: &[T], f: impl Fn(&T) -> f64) -> Vec<f64> {
    items.iter().map(f).collect()
}

/// `items` grouped by `key`, groups in increasing key order, items in their given order within
/// each group.
pub fn group_by<T, K: Ord + Copy>(items: impl IntoIterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<(K, Vec<T>)> {
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for it in items {
        let k = key(&it);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(it),
            None => groups.push((k, vec![it])),
        }
    }
    groups.sort_by_key(|(k, _)| *k);
    groups
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
        let (med, band) = median_band_at([(2.0, 1.0), (1.0, 4.0), (2.0, 3.0), (2.0, 2.0)]);
        assert_eq!((med, band), (vec![(2.0, 2.0), (1.0, 4.0)], vec![(2.0, 1.0, 3.0), (1.0, 4.0, 4.0)]));
        let g = group_by([(2, 'a'), (1, 'b'), (2, 'c')], |p| p.0);
        assert_eq!(g, vec![(1, vec![(1, 'b')]), (2, vec![(2, 'a'), (2, 'c')])]);
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

    /// `median (min to max)` with `digits` decimals, for tables; `-` for the spread of no values.
    pub fn range_label(&self, digits: usize) -> String {
        let Spread { min, median, max } = self;
        if [min, median, max].iter().all(|x| x.is_nan()) {
            return "-".into();
        }
        format!("{median:.digits$} ({min:.digits$} to {max:.digits$})")
    }

    /// `median (min to max)` in scientific notation with `digits` decimals (`1.06e-10 (7.79e-11 to
    /// 3.18e-10)`), for tables of errors spanning decades; `-` for the spread of no values.
    pub fn sci_range_label(&self, digits: usize) -> String {
        let Spread { min, median, max } = self;
        if [min, median, max].iter().all(|x| x.is_nan()) {
            return "-".into();
        }
        format!("{median:.digits$e} ({min:.digits$e} to {max:.digits$e})")
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
