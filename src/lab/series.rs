//! The three kinds of series the experiments draw: measured curves, theory lines, reference
//! points. Colours come from [`crate::lab::plot::dtype_color`] for a dtype and from the named
//! colours of [`crate::lab::plot`] otherwise.

use crate::lab::plot::Series;
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
