//! The three kinds of series the experiments draw: measured curves, theory lines, reference
//! points. Colours come from [`crate::lab::plot::dtype_color`] for a dtype and from the named
//! colours of [`crate::lab::plot`] otherwise; and a median curve over seeds with its range.

use crate::lab::plot::Series;
use crate::lab::spread::median_band_at;
use plotters::style::RGBColor;

/// A measured curve: solid line with markers.
pub fn line(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::new(label, color, points).with_markers(true)
}

/// A theory or reference line: dashed, no markers.
pub fn dashed(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::new(label, color, points).dashed()
}

/// Reference data points (markers, no line).
pub fn points(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::scatter(label, color, points)
}

/// A curve through the median of `(x, y)` measurements at each x (grouped as
/// [`median_band_at`] does), drawn by `kind` ([`line`] or [`dashed`]) over their min–max band.
pub fn median_with_range(
    kind: fn(&str, RGBColor, Vec<(f64, f64)>) -> Series,
    label: &str,
    color: RGBColor,
    points: impl IntoIterator<Item = (f64, f64)>,
) -> Series {
    let (median, band) = median_band_at(points);
    kind(label, color, median).with_band(band)
}
