//! The three kinds of series the experiments draw, and the colours of series that are not a
//! dtype (a dtype's colour comes from the dtype itself).

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

/// Colours for series that are not a dtype: roles, not names of formats.
pub mod role {
    use plotters::style::RGBColor;

    /// Black: published reference points.
    pub const BLACK: RGBColor = RGBColor(0, 0, 0);
    /// Dark grey: theory lines and identities (1 - 1/c, fitted slopes).
    pub const THEORY: RGBColor = RGBColor(60, 60, 60);
    /// Mid grey: a theory line beside dtype-coloured data (truncation T h^p).
    pub const TRUNCATION: RGBColor = RGBColor(150, 150, 150);
    /// Grey: a second set of reference points.
    pub const REFERENCE: RGBColor = RGBColor(120, 120, 120);
    /// Neutral grey for a flat reference level.
    pub const LEVEL: RGBColor = RGBColor(90, 90, 90);
    /// Red: where the numeric gradient dies.
    pub const ALERT: RGBColor = RGBColor(200, 60, 60);
    /// Blue (Okabe-Ito): the first of two compared curves.
    pub const FIRST: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    /// Vermillion (Okabe-Ito): the second of two compared curves.
    pub const SECOND: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    /// Bluish green (Okabe-Ito): a third compared curve.
    pub const THIRD: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    /// Orange (Okabe-Ito): a fourth compared curve.
    pub const FOURTH: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
}
