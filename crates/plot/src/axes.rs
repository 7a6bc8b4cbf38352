//! Axis ranges and ticks, and the plotters coordinate of an axis.
//!
//! plotters maps data to pixels ([`AxisCoord`] wraps its `LogCoord` from
//! `.log_scale()` and its linear `RangedCoordf64`), and its mesh draws grid lines and
//! tick labels at the key points given here. Choosing those points stays by hand:
//! plotters' log coordinate picks decades by count from the first decade of the range
//! (so `1e0` need not be labelled), with its light points as grid lines at 2..9 ×
//! 10^k rather than minor ticks; its linear key points are chosen by count, not by
//! the room the labels need, and its default labels are `Debug` output (`0.001`,
//! `1.0` and `1e-5` side by side). Here:
//!
//! * a log axis spans whole decades and has a tick at each; labels (`1e-8`, `1e0`)
//!   go on every decade, or every 2, 4, 5, 10, … decades — multiples of the step, so
//!   `1e0` is always labelled when shown — when the labels need the room; minor ticks
//!   at 2..9 × 10^k appear when decades are far enough apart;
//! * a linear axis has ticks at 1, 2 or 5 × 10^k, labelled without floating-point
//!   noise (`0.3`, not `0.30000000000000004`).

use std::ops::Range;

use plotters::coord::combinators::{BindKeyPoints, IntoLogRange, LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// Smallest and largest decade a log axis may span (10^-323 is the smallest
/// power of ten above zero in f64).
const DECADES: (f64, f64) = (-323.0, 308.0);

/// One tick position with its label, if labelled.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tick {
    /// Position in axis units (decades on a log axis).
    pub at: f64,
    /// Text of the tick label, if this tick is labelled.
    pub label: Option<String>,
}

/// An axis: its range and ticks.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Axis {
    /// Logarithmic (`lo`, `hi` and tick positions are decades) or linear.
    pub log: bool,
    /// Shown range in axis units.
    pub lo: f64,
    /// See `lo`.
    pub hi: f64,
    /// Major ticks (whole decades on a log axis), with grid lines.
    pub major: Vec<Tick>,
    /// Minor ticks (2..9 × 10^k on a log axis), without labels or grid lines.
    pub minor: Vec<f64>,
}

/// The three kinds of tick marks, drawn with different lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TickKind {
    /// Major ticks with a label.
    Labelled,
    /// Major ticks without a label (decades between labelled ones).
    Unlabelled,
    /// Minor ticks.
    Minor,
}

impl Axis {
    /// The axis for data spanning `extent` (axis units) on a `length`-pixel axis;
    /// `label_extent` gives the room (pixels along the axis) a label needs.
    pub fn new(extent: Option<(f64, f64)>, log: bool, length: f64, label_extent: impl Fn(&str) -> f64) -> Axis {
        let (lo, hi) = range(extent, log);
        if log {
            log_ticks(lo, hi, length, label_extent)
        } else {
            linear_ticks(lo, hi, length, label_extent)
        }
    }

    /// Data value at `at` axis units (exact powers of ten at whole decades).
    pub fn value(&self, at: f64) -> f64 {
        if !self.log {
            at
        } else if at == at.round() {
            decade_label(at as i64).parse().unwrap_or_else(|_| 10f64.powf(at))
        } else {
            // m × 10^n, parsed so that it is the f64 nearest to it.
            let n = at.floor();
            let m = 10f64.powf(at - n).round();
            format!("{m}e{n}").parse().unwrap_or_else(|_| m * self.value(n))
        }
    }

    /// Data values of the ticks of one kind.
    pub fn values(&self, kind: TickKind) -> Vec<f64> {
        match kind {
            TickKind::Labelled => self.major.iter().filter(|t| t.label.is_some()).map(|t| self.value(t.at)).collect(),
            TickKind::Unlabelled => self.major.iter().filter(|t| t.label.is_none()).map(|t| self.value(t.at)).collect(),
            TickKind::Minor => self.minor.iter().map(|&m| self.value(m)).collect(),
        }
    }

    /// Label of the labelled tick at data value `v` (empty if there is none).
    pub fn label_at(&self, v: f64) -> String {
        self.major
            .iter()
            .find(|t| t.label.is_some() && self.value(t.at) == v)
            .and_then(|t| t.label.clone())
            .unwrap_or_default()
    }

    /// The plotters coordinate of this axis: the labelled ticks are its bold key
    /// points (grid line and label), the unlabelled major ticks its light points (grid
    /// line only).
    pub fn coord(&self) -> WithKeyPoints<AxisCoord> {
        let range = self.value(self.lo)..self.value(self.hi);
        let coord = if self.log { AxisCoord::Log(range.log_scale().into()) } else { AxisCoord::Linear(range.into()) };
        coord.with_key_points(self.values(TickKind::Labelled)).with_light_points(self.values(TickKind::Unlabelled))
    }
}

/// plotters' own coordinate for an axis: logarithmic (`LogCoord`) or linear.
pub(super) enum AxisCoord {
    /// From `(lo..hi).log_scale()`.
    Log(LogCoord<f64>),
    /// From `lo..hi`.
    Linear(RangedCoordf64),
}

impl Ranged for AxisCoord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        match self {
            AxisCoord::Log(c) => c.map(value, limit),
            AxisCoord::Linear(c) => c.map(value, limit),
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match self {
            AxisCoord::Log(c) => c.key_points(hint),
            AxisCoord::Linear(c) => c.key_points(hint),
        }
    }

    fn range(&self) -> Range<f64> {
        match self {
            AxisCoord::Log(c) => c.range(),
            AxisCoord::Linear(c) => c.range(),
        }
    }
}

/// Range in axis units (decades on a log axis) of an axis showing `extent`.
pub(super) fn range(extent: Option<(f64, f64)>, log: bool) -> (f64, f64) {
    match (extent, log) {
        (None, true) => (-8.0, 0.0),
        (None, false) => (0.0, 1.0),
        (Some((a, b)), true) => {
            // Pad outward to whole decades. Data on (or within a few pixels of) a
            // decade gets one more decade, so that curves saturating at e.g. 1e0 do
            // not merge with the frame; a single value gets at least one each side.
            let pad = (0.01 * (b - a)).max(0.01);
            if b - a < 2.0 {
                // Data within two decades: pad to 1, 2 or 5 × 10^k, so that data ending at 16
                // does not get an axis running to 100.
                let lo = nice(a - pad, false).clamp(DECADES.0, DECADES.1 - 1.0);
                return (lo, nice(b + pad, true).clamp(lo + 2f64.log10() - 1e-12, DECADES.1));
            }
            let lo = (a - pad).floor().clamp(DECADES.0, DECADES.1 - 1.0);
            (lo, (b + pad).ceil().clamp(lo + 1.0, DECADES.1))
        }
        (Some((a, b)), false) => {
            let span = b - a;
            let pad = if span > 0.0 { 0.04 * span } else { (0.1 * a.abs()).max(0.5) };
            let (lo, hi) = (a - pad, b + pad);
            if (hi - lo).is_finite() && hi > lo {
                (lo, hi)
            } else {
                (a.max(-f64::MAX / 4.0), b.min(f64::MAX / 4.0).max(a + 1.0))
            }
        }
    }
}

/// The nearest 1, 2 or 5 × 10^k (in decades) at or below `v` (or at or above it when `up`).
fn nice(v: f64, up: bool) -> f64 {
    let n = v.floor();
    let steps = [0.0, 2f64.log10(), 5f64.log10(), 1.0];
    let f = v - n;
    let pick = if up {
        steps.iter().copied().find(|&s| s >= f - 1e-9).unwrap_or(1.0)
    } else {
        steps.iter().copied().rev().find(|&s| s <= f + 1e-9).unwrap_or(0.0)
    };
    n + pick
}

/// Ticks at 1, 2 and 5 × 10^k (labelled `2e0`, `5e0`, `1e1`) with minor ticks at the other
/// digits, for a log axis spanning under three decades.
fn fine_log_ticks(lo: f64, hi: f64) -> Axis {
    let inside = |at: f64| at >= lo - 1e-9 && at <= hi + 1e-9;
    let (mut major, mut minor) = (Vec::new(), Vec::new());
    for n in lo.floor() as i64..=hi.ceil() as i64 {
        for m in 1..=9 {
            let at = n as f64 + f64::from(m).log10();
            if !inside(at) {
                continue;
            }
            if matches!(m, 1 | 2 | 5) {
                major.push(Tick { at, label: Some(format!("{m}e{n}")) });
            } else {
                minor.push(at);
            }
        }
    }
    Axis { log: true, lo, hi, major, minor }
}

/// Label of the decade 10^n.
pub(super) fn decade_label(n: i64) -> String {
    format!("1e{n}")
}

/// Log-axis ticks for `lo..hi` decades on a `length`-pixel axis. `label_extent`
/// gives the space (px along the axis) a label needs, including the gap.
fn log_ticks(lo: f64, hi: f64, length: f64, label_extent: impl Fn(&str) -> f64) -> Axis {
    if hi - lo < 3.0 {
        return fine_log_ticks(lo, hi);
    }
    let (first, last) = (lo.round() as i64, hi.round() as i64);
    let span = (last - first).max(1);
    let per_decade = length / span as f64;
    let need = (first..=last).map(|n| label_extent(&decade_label(n))).fold(0.0, f64::max);
    const STEPS: [i64; 13] = [1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];
    let min_step = if span > 12 { 2 } else { 1 };
    let step = STEPS
        .iter()
        .copied()
        .find(|&k| k >= min_step && k as f64 * per_decade >= need)
        .unwrap_or_else(|| (span + 1).max(1));
    let show_unlabelled = per_decade >= 6.0;
    let mut major = Vec::new();
    for n in first..=last {
        let labelled = n.rem_euclid(step) == 0;
        if labelled || show_unlabelled {
            major.push(Tick { at: n as f64, label: labelled.then(|| decade_label(n)) });
        }
    }
    let mut minor = Vec::new();
    if per_decade >= 60.0 {
        for n in first..last {
            for m in 2..=9 {
                minor.push(n as f64 + f64::from(m).log10());
            }
        }
    }
    Axis { log: true, lo: first as f64, hi: last as f64, major, minor }
}

/// Label of `k × mantissa × 10^exp` with no floating-point noise.
fn linear_label(k: i64, mantissa: i64, exp: i32) -> String {
    let mut digits = k * mantissa;
    if digits == 0 {
        return "0".to_string();
    }
    let mut exp = exp;
    while digits % 10 == 0 {
        digits /= 10;
        exp += 1;
    }
    let neg = digits < 0;
    let s = digits.unsigned_abs().to_string();
    let sign = if neg { "-" } else { "" };
    let len = s.len() as i32;
    if (-4..=5).contains(&(exp + len - 1)) {
        // Plain decimal notation.
        if exp >= 0 {
            format!("{sign}{s}{}", "0".repeat(exp as usize))
        } else if -exp < len {
            let (int, frac) = s.split_at((len + exp) as usize);
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{s}", "0".repeat((-exp - len) as usize))
        }
    } else {
        let (head, tail) = s.split_at(1);
        let e = exp + len - 1;
        if tail.is_empty() {
            format!("{sign}{head}e{e}")
        } else {
            format!("{sign}{head}.{tail}e{e}")
        }
    }
}

/// Linear-axis ticks at 1, 2 or 5 × 10^k steps inside `lo..hi`.
fn linear_ticks(lo: f64, hi: f64, length: f64, label_extent: impl Fn(&str) -> f64) -> Axis {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let first_exp = (span / 10.0).log10().floor() as i32;
    let candidates: Vec<(i64, i32)> =
        (first_exp..first_exp.saturating_add(6)).flat_map(|e| [1_i64, 2, 5].map(|m| (m, e))).collect();
    let ticks_for = |m: i64, e: i32| -> Vec<(f64, String)> {
        let step = m as f64 * 10f64.powi(e);
        let (k0, k1) = ((lo / step).ceil(), (hi / step).floor());
        if !(step > 0.0 && k0.is_finite() && k1.is_finite() && k1 - k0 <= 1000.0) {
            return Vec::new();
        }
        (k0 as i64..=k1 as i64).map(|k| (k as f64 * step, linear_label(k, m, e))).collect()
    };
    let mut chosen = Vec::new();
    for &(m, e) in &candidates {
        let ticks = ticks_for(m, e);
        let step_px = m as f64 * 10f64.powi(e) / span * length;
        let need = ticks.iter().map(|(_, l)| label_extent(l)).fold(0.0, f64::max);
        chosen = ticks;
        if step_px >= need && chosen.len() <= 8 {
            break;
        }
    }
    let major = chosen.into_iter().map(|(at, l)| Tick { at, label: Some(l) }).collect();
    Axis { log: false, lo, hi, major, minor: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::font::{ensure_font, text_width};
    use crate::palette::TICK_PX;
    use plotters::coord::ranged1d::BoldPoints;

    #[test]
    fn decade_ticks_thin_out_on_wide_axes() {
        ensure_font().unwrap();
        let narrow = log_ticks(-12.0, 0.0, 1300.0, |l| text_width(l, TICK_PX) + 20.0);
        assert!(narrow.major.iter().all(|t| t.label.is_some()));
        assert_eq!(narrow.major.first().unwrap().label.as_deref(), Some("1e-12"));
        let wide = log_ticks(-40.0, 0.0, 1300.0, |l| text_width(l, TICK_PX) + 20.0);
        let labels: Vec<_> = wide.major.iter().filter_map(|t| t.label.clone()).collect();
        assert!(labels.len() <= 21 && labels.contains(&"1e0".to_string()), "{labels:?}");
        assert_eq!(wide.major.len(), 41, "every decade keeps a tick");
    }

    #[test]
    fn linear_labels_are_clean() {
        assert_eq!(linear_label(3, 1, -1), "0.3");
        assert_eq!(linear_label(0, 5, -2), "0");
        assert_eq!(linear_label(-4, 2, -1), "-0.8");
        assert_eq!(linear_label(6, 5, 0), "30");
        assert_eq!(linear_label(3, 5, -6), "1.5e-5");
        let axis = linear_ticks(-0.04, 1.04, 800.0, |_| 40.0);
        let labels: Vec<_> = axis.major.iter().filter_map(|t| t.label.clone()).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    }

    #[test]
    fn log_ranges_pad_to_decades_and_stay_in_f64() {
        assert_eq!(range(Some((-8.0, 0.0)), true), (-9.0, 1.0));
        // Within two decades: 1, 2 or 5 × 10^k (data from 1.2 to 16: 1 to 20).
        let (lo, hi) = range(Some((1.2f64.log10(), 16f64.log10())), true);
        assert_eq!((lo, 10f64.powf(hi).round()), (0.0, 20.0));
        let (lo, hi) = range(Some((-3.5, -3.5)), true);
        assert!((lo - (-4.0 + 2f64.log10())).abs() < 1e-12 && (hi - (-4.0 + 5f64.log10())).abs() < 1e-12);
        assert_eq!(range(Some((-323.3, -323.3)), true).0, -323.0);
        assert_eq!(range(Some((300.0, 308.2)), true), (299.0, 308.0));
        assert_eq!(range(None, false), (0.0, 1.0));
    }

    #[test]
    fn narrow_log_axes_label_one_two_five() {
        let axis = Axis::new(Some((1.2f64.log10(), 16f64.log10())), true, 1300.0, |_| 40.0);
        assert_eq!(axis.values(TickKind::Labelled), vec![1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(axis.label_at(20.0), "2e1");
        assert_eq!(axis.values(TickKind::Minor).len(), 6, "3, 4, 6, 7, 8, 9");
    }

    #[test]
    fn values_and_labels_round_trip() {
        let axis = Axis::new(Some((-8.0, 0.0)), true, 1300.0, |_| 40.0);
        assert_eq!(axis.value(-8.0), 1e-8);
        assert_eq!(axis.value(-8.0 + 3f64.log10()), 3e-8);
        let labelled = axis.values(TickKind::Labelled);
        assert!(labelled.contains(&1e-8) && labelled.contains(&1.0), "{labelled:?}");
        assert_eq!(axis.label_at(1e-8), "1e-8");
        assert_eq!(axis.label_at(1.0), "1e0");
        assert_eq!(axis.label_at(3e-8), "");
        assert_eq!(axis.values(TickKind::Minor).len(), 10 * 8);
        // plotters' log coordinate maps the range ends to the pixel range ends.
        let coord = axis.coord();
        assert_eq!(coord.map(&1e-9, (0, 1000)), 0);
        assert_eq!(coord.map(&1.0, (0, 1000)), 900);
        assert_eq!(coord.key_points(BoldPoints(10)), labelled);
        let linear = Axis::new(Some((0.0, 1.0)), false, 800.0, |_| 40.0);
        assert_eq!(linear.label_at(linear.value(0.2)), "0.2");
    }
}
