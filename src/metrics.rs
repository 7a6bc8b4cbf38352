//! Comparing gradients: two elementwise relative errors and their summaries.
//!
//! - Numeric against analytic (the seed's measure, what a user computes): cs231n's
//!   relerr(a, b) = |a - b| / max(|a|, |b|), with 0/0 defined as 0 (and counted), and NaN when
//!   either value is infinite or NaN ([`relerr`], [`compare`]). It is symmetric and lies in
//!   [0, 2]: in [0, 1] when a and b have the same sign, and exactly 2 when b = -a (a gradient with
//!   the wrong sign). Being capped, it cannot tell a value 7 times the other from one 700 times
//!   it (both about 1).
//! - Against the truth t: the ordinary relative error |v - t| / |t| ([`relerr_to_truth`],
//!   [`compare_to_truth`]), which has no cap, so a value 672 times off reads 671, not 1. Elements
//!   whose truth is exactly 0 have no relative error: they are counted apart
//!   ([`TruthSummary::truth_zero`]) and left out of the summaries; NaN when either value is
//!   infinite or NaN.
//!
//! Values with at most 53 significand bits are compared in f64 (the only rounding is of the
//! final quotient's ingredients, a relative 2^-53 of the error itself); wider values are compared
//! in MPFR so that a relative error of 1e-70 is not lost.

use crate::scalar::Scalar;
use ndarray::Array2;
use rug::Float;
use serde::Serialize;

/// A summary of elementwise relative errors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Mean (the seed's figure).
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Maximum.
    pub max: f64,
    /// Elements where both values were 0 (relative error defined as 0).
    pub zero_over_zero: usize,
    /// Elements where either value was infinite or NaN (the summaries are then NaN).
    pub nonfinite: usize,
}

/// The relative error of one pair and whether it was 0/0.
#[inline]
pub fn relerr<A: Scalar, B: Scalar>(a: &A, b: &B, bits_a: u32, bits_b: u32) -> (f64, bool) {
    if !a.is_finite() || !b.is_finite() {
        return (f64::NAN, false);
    }
    if a.is_zero() && b.is_zero() {
        return (0.0, true);
    }
    // f64 holds values of at most 53 bits exactly, unless they lie beyond its exponent range
    // (an MPFR value such as e^-2000 converts to 0): those take the MPFR way below.
    if bits_a <= 53 && bits_b <= 53 {
        let in_f64 = |v: f64, zero: bool| zero || (v.is_finite() && v.abs() >= f64::MIN_POSITIVE);
        let (x, y) = (a.to_f64(), b.to_f64());
        if in_f64(x, a.is_zero()) && in_f64(y, b.is_zero()) {
            let m = x.abs().max(y.abs());
            let d = (x - y).abs();
            // |x - y| overflows only for huge values of opposite sign; scale first then.
            let d = if d.is_finite() { d / m } else { (x / m - y / m).abs() };
            return (d, false);
        }
    }
    let p = bits_a.max(bits_b) + 8;
    let (x, y) = (a.to_float(p), b.to_float(p));
    let diff = Float::with_val(p, &x - &y).abs();
    let den = if x.clone().abs() >= y.clone().abs() { x.abs() } else { y.abs() };
    (Float::with_val(64, diff / den).to_f64(), false)
}

/// The ordinary relative error |v - t| / |t| of a value against the truth; `None` when the
/// truth is exactly 0 (no relative error: [`compare_to_truth`] counts those apart), NaN when
/// either value is infinite or NaN.
#[inline]
pub fn relerr_to_truth<A: Scalar, B: Scalar>(v: &A, t: &B, bits_v: u32, bits_t: u32) -> Option<f64> {
    if !v.is_finite() || !t.is_finite() {
        return Some(f64::NAN);
    }
    if t.is_zero() {
        return None;
    }
    if v.is_zero() {
        return Some(1.0);
    }
    // As in `relerr`: f64 when both values hold in it exactly and in its normal range.
    if bits_v <= 53 && bits_t <= 53 {
        let (x, y) = (v.to_f64(), t.to_f64());
        let normal = |z: f64| z.is_finite() && z.abs() >= f64::MIN_POSITIVE;
        if normal(x) && normal(y) {
            let d = (x - y).abs();
            // |x - y| overflows only for huge values of opposite sign; scale first then.
            return Some(if d.is_finite() { d / y.abs() } else { (x / y - 1.0).abs() });
        }
    }
    let p = bits_v.max(bits_t) + 8;
    let (x, y) = (v.to_float(p), t.to_float(p));
    let diff = Float::with_val(p, &x - &y).abs();
    Some(Float::with_val(64, diff / y.abs()).to_f64())
}

/// A summary of ordinary relative errors against the truth ([`compare_to_truth`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TruthSummary {
    /// Mean over the elements whose truth is not 0.
    pub mean: f64,
    /// Median over the same.
    pub median: f64,
    /// Maximum over the same.
    pub max: f64,
    /// Elements whose truth is exactly 0: left out of the mean, median and maximum (a relative
    /// error against 0 is undefined). When every element's truth is 0 the summaries are NaN.
    pub truth_zero: usize,
    /// Elements where either value was infinite or NaN (the summaries are then NaN).
    pub nonfinite: usize,
}

/// Elementwise ordinary relative errors of `v` against the truth `t`, summarised; the elements
/// whose truth is 0 are counted apart.
pub fn compare_to_truth<A: Scalar, B: Scalar>(v: &Array2<A>, t: &Array2<B>, bits_v: u32, bits_t: u32) -> TruthSummary {
    let mut zero = 0;
    let mut errs = Buf::with_capacity(v.len());
    for_each_pair(v, t, |x, y| match relerr_to_truth(x, y, bits_v, bits_t) {
        Some(r) => errs.push(r),
        None => zero += 1,
    });
    let s = summarize_in_place(errs.as_mut_slice(), 0);
    TruthSummary { mean: s.mean, median: s.median, max: s.max, truth_zero: zero, nonfinite: s.nonfinite }
}

/// Calls `f` on each pair of elements of two equally shaped arrays, in row-major order
/// (through slices when both are in standard layout, the common case).
#[inline]
fn for_each_pair<A, B>(a: &Array2<A>, b: &Array2<B>, mut f: impl FnMut(&A, &B)) {
    debug_assert_eq!(a.dim(), b.dim());
    match (a.as_slice(), b.as_slice()) {
        (Some(x), Some(y)) => x.iter().zip(y).for_each(|(p, q)| f(p, q)),
        _ => a.iter().zip(b.iter()).for_each(|(p, q)| f(p, q)),
    }
}

/// Up to 64 values on the stack (every seed-sized check), more on the heap.
// The large inline variant is the point: small inputs never touch the allocator.
#[allow(clippy::large_enum_variant)]
enum Buf {
    Stack([f64; 64], usize),
    Heap(Vec<f64>),
}

impl Buf {
    fn with_capacity(n: usize) -> Self {
        if n <= 64 {
            Buf::Stack([0.0; 64], 0)
        } else {
            Buf::Heap(Vec::with_capacity(n))
        }
    }
    #[inline]
    fn push(&mut self, x: f64) {
        match self {
            Buf::Stack(v, len) => {
                v[*len] = x;
                *len += 1;
            }
            Buf::Heap(v) => v.push(x),
        }
    }
    fn as_mut_slice(&mut self) -> &mut [f64] {
        match self {
            Buf::Stack(v, len) => &mut v[..*len],
            Buf::Heap(v) => v,
        }
    }
}

/// Elementwise relative errors of `a` against `b`, summarised.
pub fn compare<A: Scalar, B: Scalar>(a: &Array2<A>, b: &Array2<B>, bits_a: u32, bits_b: u32) -> Summary {
    let mut zz = 0;
    let mut errs = Buf::with_capacity(a.len());
    for_each_pair(a, b, |x, y| {
        let (r, z) = relerr(x, y, bits_a, bits_b);
        zz += z as usize;
        errs.push(r);
    });
    summarize_in_place(errs.as_mut_slice(), zz)
}

/// The median of the non-NaN values (mean of the two middle ones for an even count); NaN if
/// there are none.
pub fn median(v: &[f64]) -> f64 {
    let mut buf = Buf::with_capacity(v.len());
    v.iter().filter(|x| !x.is_nan()).for_each(|&x| buf.push(x));
    median_in_place(buf.as_mut_slice())
}

/// The q-quantile (0 <= q <= 1) of the non-NaN values by the nearest rank (the value at
/// position round(q (len - 1)) in sorted order: q = 0 the minimum, 1 the maximum); NaN if there
/// are none.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize]
}

/// The median of NaN-free values, reordering them (selection, O(len)).
fn median_in_place(s: &mut [f64]) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let (len, m) = (s.len(), s.len() / 2);
    if len <= 64 {
        // Sorting integer keys with the same order as `f64::total_cmp` beats selection here.
        let mut keys = [0i64; 64];
        for (k, x) in keys.iter_mut().zip(s.iter()) {
            *k = total_key(*x);
        }
        let keys = &mut keys[..len];
        keys.sort_unstable();
        let at = |i: usize| from_total_key(keys[i]);
        return if len % 2 == 1 { at(m) } else { 0.5 * (at(m - 1) + at(m)) };
    }
    let (lower, mid, _) = s.select_nth_unstable_by(m, f64::total_cmp);
    let mid = *mid;
    if len % 2 == 1 {
        mid
    } else {
        // The largest of the lower half is the other middle value.
        0.5 * (lower.iter().copied().fold(f64::NEG_INFINITY, f64::max) + mid)
    }
}

/// An integer whose order is `f64::total_cmp`'s (negative values have their magnitude bits
/// flipped), and back.
#[inline]
fn total_key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

#[inline]
fn from_total_key(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// The median of sorted values.
#[cfg(test)]
fn middle(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// [`compare`] of `numeric` against `analytic` and [`ratio_median`] of analytic / numeric, in
/// one pass over the elements (what every row of a check reports). The ratio is infinite when
/// every numeric value is 0 and some analytic one is not (a numeric gradient that died), and NaN
/// when there is no ratio at all.
pub(crate) fn compare_with_ratio<A: Scalar, B: Scalar>(
    numeric: &Array2<A>,
    analytic: &Array2<B>,
    bits_a: u32,
    bits_b: u32,
) -> (Summary, f64) {
    let mut zz = 0;
    let mut errs = Buf::with_capacity(numeric.len());
    let mut ratios = Buf::with_capacity(numeric.len());
    let mut over_zero = 0;
    for_each_pair(numeric, analytic, |n, a| {
        let (r, z) = relerr(n, a, bits_a, bits_b);
        zz += z as usize;
        errs.push(r);
        match ratio(a, n) {
            Some(q) => ratios.push(q),
            None => over_zero += (n.is_zero() && !a.is_zero() && a.is_finite()) as usize,
        }
    });
    let ratio = match ratios.as_mut_slice() {
        // Every numeric value is 0 where the analytic one is not: analytic/numeric is infinite.
        [] if over_zero > 0 => f64::INFINITY,
        r => median_in_place(r),
    };
    (summarize_in_place(errs.as_mut_slice(), zz), ratio)
}

/// Mean, median and max of elementwise relative errors; NaN summaries if any is NaN.
pub fn summarize(errs: &[f64], zero_over_zero: usize) -> Summary {
    let mut buf = Buf::with_capacity(errs.len());
    errs.iter().for_each(|&x| buf.push(x));
    summarize_in_place(buf.as_mut_slice(), zero_over_zero)
}

/// [`summarize`], reordering `errs`.
fn summarize_in_place(errs: &mut [f64], zero_over_zero: usize) -> Summary {
    let nonfinite = errs.iter().filter(|x| x.is_nan()).count();
    if nonfinite > 0 || errs.is_empty() {
        return Summary { mean: f64::NAN, median: f64::NAN, max: f64::NAN, zero_over_zero, nonfinite };
    }
    // In element order (before the median reorders them).
    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
    let max = errs.iter().copied().fold(0.0, f64::max);
    Summary { mean, median: median_in_place(errs), max, zero_over_zero, nonfinite }
}

/// analytic / numeric in f64, or `None` when the numeric value is 0, either is not finite, or
/// the quotient is not (the elements [`ratio_median`] skips).
#[inline]
fn ratio<A: Scalar, B: Scalar>(a: &A, n: &B) -> Option<f64> {
    if !(a.is_finite() && n.is_finite()) || n.is_zero() {
        return None;
    }
    Some(a.to_f64() / n.to_f64()).filter(|q| q.is_finite())
}

/// The median over elements of analytic / numeric, skipping elements where the numeric value is
/// 0 or either is not finite; NaN if none remain. The ratio names a scaling bug's factor.
pub fn ratio_median<A: Scalar, B: Scalar>(analytic: &Array2<A>, numeric: &Array2<B>) -> f64 {
    let mut r = Buf::with_capacity(analytic.len());
    for_each_pair(analytic, numeric, |a, n| {
        if let Some(q) = ratio(a, n) {
            r.push(q);
        }
    });
    median_in_place(r.as_mut_slice())
}

/// Where a minimum over a grid of steps sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The largest step of the grid: the true optimum may lie above it.
    Largest,
    /// The smallest step of the grid: the true optimum may lie below it.
    Smallest,
}

impl Edge {
    /// A short note for tables: `largest step tried` or `smallest step tried`.
    pub fn note(self) -> &'static str {
        match self {
            Edge::Largest => "largest step tried",
            Edge::Smallest => "smallest step tried",
        }
    }
}

/// The smallest finite value over a grid of steps, the step where it occurs, and whether that
/// step is an edge of the grid (then it bounds the optimum, it does not locate it).
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    /// The step of the smallest value.
    pub step: crate::exact::Decimal,
    /// The smallest value.
    pub value: f64,
    /// `Some` when the step is the largest or smallest of the grid.
    pub edge: Option<Edge>,
}

/// The [`Best`] of `(step, value)` points (in any order), ignoring non-finite values; `None` when
/// no value is finite. A grid of one step has its minimum on an edge.
pub fn best_step<'a>(points: impl IntoIterator<Item = (&'a crate::exact::Decimal, f64)>) -> Option<Best> {
    let points: Vec<(&crate::exact::Decimal, f64)> = points.into_iter().collect();
    let (step, value) = points.iter().filter(|p| p.1.is_finite()).min_by(|a, b| a.1.total_cmp(&b.1))?;
    let largest = points.iter().map(|p| p.0.value()).max()?;
    let smallest = points.iter().map(|p| p.0.value()).min()?;
    let edge = if step.value() == largest {
        Some(Edge::Largest)
    } else if step.value() == smallest {
        Some(Edge::Smallest)
    } else {
        None
    };
    Some(Best { step: (*step).clone(), value: *value, edge })
}

/// The least-squares slope of `y = slope x` through the origin: Σ x y / Σ x².
pub fn slope_through_origin(points: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    let xy: Vec<(f64, f64)> = points.into_iter().collect();
    xy.iter().map(|(x, y)| x * y).sum::<f64>() / xy.iter().map(|(x, _)| x * x).sum::<f64>()
}

/// Least-squares slope and intercept of y against x.
pub fn fit_line(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
    let (mx, my) = (sx / n, sy / n);
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), p| (a + (p.0 - mx) * (p.1 - my), b + (p.0 - mx).powi(2)));
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimum_on_the_grid_edge_is_flagged() {
        let d = |s: &str| crate::exact::Decimal::parse("step", s).unwrap();
        let (a, b, c) = (d("1e-1"), d("1e-2"), d("1e-3"));
        let best = best_step([(&a, 0.5), (&b, 0.1), (&c, 0.3)]).unwrap();
        assert_eq!((best.step.text(), best.edge), ("1e-2", None));
        let best = best_step([(&b, 0.5), (&a, 0.1), (&c, f64::NAN)]).unwrap();
        assert_eq!((best.step.text(), best.edge), ("1e-1", Some(Edge::Largest)));
        assert_eq!(best_step([(&c, 0.1), (&a, 0.2)]).unwrap().edge, Some(Edge::Smallest));
        assert!(best_step([(&a, f64::NAN)]).is_none());
    }

    #[test]
    fn relerr_to_truth_definition() {
        let r = |v: f64, t: f64| relerr_to_truth(&v, &t, 53, 53);
        assert_eq!(r(3.0, 1.0), Some(2.0));
        assert_eq!(r(0.0, 3.0), Some(1.0));
        assert_eq!(r(-1.0, 1.0), Some(2.0));
        // No cap: cs231n's measure reads about 1 for both of these.
        assert_eq!(r(673.0, 1.0), Some(672.0));
        assert_eq!(r(-6.5e8, 0.5), Some(1.3e9 + 1.0));
        assert_eq!(relerr(&673.0f64, &1.0f64, 53, 53).0, 672.0 / 673.0);
        assert_eq!(r(1.0, 0.0), None);
        assert_eq!(r(0.0, 0.0), None);
        assert!(r(f64::NAN, 1.0).unwrap().is_nan());
        assert!(r(1.0, f64::INFINITY).unwrap().is_nan());
        // Beyond f64's range and wider than f64: MPFR.
        let tiny = Float::with_val(53, Float::i_exp(3, -5000));
        let tinier = Float::with_val(53, Float::i_exp(1, -5000));
        assert_eq!(relerr_to_truth(&tiny, &tinier, 53, 53), Some(2.0));
        let a = Float::with_val(256, 1) + Float::with_val(256, 1e-70);
        let r = relerr_to_truth(&a, &Float::with_val(256, 1), 256, 256).unwrap();
        assert!((r / 1e-70 - 1.0).abs() < 1e-6, "{r}");
        // Summaries leave the zero truths out and count them.
        let v = ndarray::arr2(&[[2.0f64, 5.0, 0.0, 1.0]]);
        let t = ndarray::arr2(&[[1.0f64, 0.0, 0.0, 4.0]]);
        let s = compare_to_truth(&v, &t, 53, 53);
        assert_eq!((s.mean, s.median, s.max, s.truth_zero, s.nonfinite), (0.875, 0.875, 1.0, 2, 0));
        let s = compare_to_truth(&v, &ndarray::Array2::<f64>::zeros((1, 4)), 53, 53);
        assert!(s.mean.is_nan() && s.truth_zero == 4 && s.nonfinite == 0, "{s:?}");
    }

    /// A NaN truth is not a zero: it makes the summary NaN.
    #[test]
    fn a_nonfinite_truth_is_not_a_zero() {
        let t = ndarray::arr2(&[[1.0f64, f64::NAN]]);
        let s = compare_to_truth(&t, &t, 53, 53);
        assert!(s.mean.is_nan() && s.nonfinite == 1 && s.truth_zero == 0, "{s:?}");
    }

    #[test]
    fn relerr_definition() {
        assert_eq!(relerr(&1.0f64, &0.5f64, 53, 53), (0.5, false));
        assert_eq!(relerr(&0.0f64, &0.0f64, 53, 53), (0.0, true));
        assert_eq!(relerr(&0.0f64, &3.0f64, 53, 53).0, 1.0);
        assert!(relerr(&f64::NAN, &3.0f64, 53, 53).0.is_nan());
        // Values of 53 bits or fewer beyond f64's exponent range are compared in MPFR.
        let tiny = Float::with_val(53, Float::i_exp(3, -5000));
        let tinier = Float::with_val(53, Float::i_exp(1, -5000));
        assert_eq!(relerr(&tiny, &tinier, 53, 53), (2.0 / 3.0, false));
        assert_eq!(relerr(&tiny, &Float::new(53), 53, 53), (1.0, false));
        // In MPFR a tiny relative difference survives.
        let a = Float::with_val(256, 1);
        let b = Float::with_val(256, 1) + Float::with_val(256, 1e-70);
        let r = relerr(&a, &b, 256, 256).0;
        // b itself is rounded to a multiple of 2^-255 (about 1.7e-77), so the difference is 1e-70
        // only to about 1e-7 relative; in f64 it would be lost entirely.
        assert!((r / 1e-70 - 1.0).abs() < 1e-6, "{r}");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(&[3.0, f64::NAN, 1.0, 2.0, 5.0, 4.0], 0.25), 2.0);
        assert_eq!((quantile(&[3.0, 1.0], 0.0), quantile(&[3.0, 1.0], 1.0)), (1.0, 3.0));
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[f64::NAN]).is_nan());
        // The one-pass comparison equals the separate ones, on small and large arrays.
        for n in [3usize, 40, 70] {
            let num = ndarray::Array2::from_shape_fn((1, n), |(_, i)| ((i * 37) % 11) as f64 - 3.0);
            let anal = ndarray::Array2::from_shape_fn((1, n), |(_, i)| ((i * 13) % 7) as f64 * 0.5 - 1.0);
            let (s, r) = compare_with_ratio(&num, &anal, 53, 53);
            assert_eq!(format!("{s:?}"), format!("{:?}", compare(&num, &anal, 53, 53)));
            assert_eq!(r.to_bits(), ratio_median(&anal, &num).to_bits());
        }
        // The small-input and large-input paths agree.
        for n in [1usize, 2, 63, 64, 65, 100, 101] {
            let v: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64 - 50.0).collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(median(&v), middle(&sorted), "n = {n}");
        }
    }
}
