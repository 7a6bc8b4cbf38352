//! The kinds of series the experiments draw, each with its fixed style (the encoding is written
//! in [`crate::plot`]'s palette): measured curves ([`line`], [`points`]), theory lines
//! ([`dashed`]), published reference points ([`reference`]); and a median curve over seeds with
//! its range. A measured series takes an [`Ink`] ([`crate::plot::dtype_ink`],
//! [`crate::plot::scheme_ink`] or [`crate::plot::category_ink`]), which fixes its colour
//! and marker from what it is.

use crate::plot::{Ink, Series};
use crate::spread::median_band_at;
use gradlab_plot::RGBColor;

/// A measured curve: solid line with the ink's markers.
pub fn line(label: &str, ink: Ink, points: Vec<(f64, f64)>) -> Series {
    Series::data(label, ink, points)
}

/// A theory line (a prediction, a bound, a fit): dashed, no markers.
pub fn dashed(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::theory(label, color, points)
}

/// Measured points (the ink's markers, no line).
pub fn points(label: &str, ink: Ink, points: Vec<(f64, f64)>) -> Series {
    Series::scatter(label, ink, points)
}

/// Published reference points (a plus, no line), in black or a grey.
pub fn reference(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::reference(label, color, points)
}

/// A curve through the median of `(x, y)` measurements at each x (grouped as
/// [`median_band_at`] does), drawn by `make` (for example `|m| line(label, ink, m)`) over their
/// min–max band.
pub fn median_with_range(
    make: impl FnOnce(Vec<(f64, f64)>) -> Series,
    points: impl IntoIterator<Item = (f64, f64)>,
) -> Series {
    let (median, band) = median_band_at(points);
    make(median).with_band(band)
}
