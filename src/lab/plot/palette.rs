//! Colours and style constants of every figure, in one place.
//!
//! Data colours: [`dtype_color`] gives each dtype its colour (Okabe–Ito
//! colour-blind-safe palette, plus Tol's wine for other MPFR precisions); the named
//! greys, black and red are for theory curves and published reference data. The rest
//! is the figure's own ink (text, grid, frame, legend box) and its sizes, all in final
//! pixels of the 1600×1000 PNG.

use plotters::style::{RGBAColor, RGBColor};

use crate::scalar::DType;

// ---------------------------------------------------------------------------------
// Data colours

/// Neutral grey for theory and reference lines.
pub const REFERENCE_GREY: RGBColor = RGBColor(0x6E, 0x6E, 0x6E);
/// Black, for published reference points.
pub const BLACK: RGBColor = RGBColor(0, 0, 0);
/// Dark grey (60, 60, 60), for theory curves drawn over coloured data (such as 1 − 1/c).
pub const DARK_GREY: RGBColor = RGBColor(60, 60, 60);
/// Dim grey (90, 90, 90), for a second theory curve next to [`DARK_GREY`] (such as a
/// plateau).
pub const DIM_GREY: RGBColor = RGBColor(90, 90, 90);
/// Medium grey (120, 120, 120), for a second set of published points next to [`BLACK`].
pub const MEDIUM_GREY: RGBColor = RGBColor(120, 120, 120);
/// Light grey (150, 150, 150), for truncation-error theory lines.
pub const LIGHT_GREY: RGBColor = RGBColor(150, 150, 150);
/// Red (200, 60, 60), for a regime the figure warns about (such as the dead zone).
pub const ALERT_RED: RGBColor = RGBColor(200, 60, 60);

/// Blue (Okabe–Ito), for a curve that is not a dtype (the first of several compared).
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// Vermillion (Okabe–Ito), for a second compared curve.
pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
/// Bluish green (Okabe–Ito), for a third compared curve.
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
/// Orange (Okabe–Ito), for a fourth compared curve.
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);

const F16: RGBColor = VERMILLION;
const BF16: RGBColor = ORANGE;
const F32: RGBColor = GREEN;
const F64: RGBColor = BLUE;
const MPFR_113: RGBColor = RGBColor(0xCC, 0x79, 0xA7); // reddish purple
const MPFR_128: RGBColor = RGBColor(0x56, 0xB4, 0xE9); // sky blue
const MPFR_256: RGBColor = BLACK;
const MPFR_OTHER: RGBColor = RGBColor(0x88, 0x22, 0x55); // Tol's wine
const TF32: RGBColor = RGBColor(0x33, 0x22, 0x88); // Tol's indigo
const E5M2: RGBColor = RGBColor(0x99, 0x99, 0x33); // Tol's olive
const E4M3: RGBColor = RGBColor(0xCC, 0x66, 0x77); // Tol's rose
const IEEE_OTHER: RGBColor = RGBColor(0x66, 0x66, 0x66); // grey

/// The colour of a dtype, the same in every figure.
///
/// f16 vermillion, bf16 orange, f32 bluish green, f64 blue, mpfr:113 reddish purple,
/// mpfr:128 sky blue, mpfr:256 black, any other MPFR precision wine; tf32 indigo, e5m2 olive,
/// e4m3 rose, any other emulated format grey (ieee:5:10, ieee:8:7, ieee:8:23 and ieee:11:52 take
/// the colour of f16, bf16, f32 and f64, which they equal).
pub fn dtype_color(dt: DType) -> RGBColor {
    use crate::scalar::Format;
    match dt {
        DType::Ieee(f) => match (f, f.exp_bits(), f.man_bits()) {
            (Format::TF32, _, _) => TF32,
            (Format::E5M2, _, _) => E5M2,
            (Format::E4M3, _, _) => E4M3,
            (_, 5, 10) => F16,
            (_, 8, 7) => BF16,
            (_, 8, 23) => F32,
            (_, 11, 52) => F64,
            _ => IEEE_OTHER,
        },
        // A mixed dtype takes its storage format's colour (the formats experiment dashes it).
        DType::Mixed { storage, .. } => dtype_color(DType::Ieee(storage)),
        DType::F16 => F16,
        DType::BF16 => BF16,
        DType::F32 => F32,
        DType::F64 => F64,
        DType::Mpfr(p) => match p.bits() {
            113 => MPFR_113,
            128 => MPFR_128,
            256 => MPFR_256,
            _ => MPFR_OTHER,
        },
    }
}

// ---------------------------------------------------------------------------------
// The figure's own ink

/// Background.
pub(super) const WHITE: RGBAColor = RGBAColor(255, 255, 255, 1.0);
/// Title text.
pub(super) const TITLE_INK: RGBColor = BLACK;
/// Axis titles and tick labels.
pub(super) const AXIS_INK: RGBColor = RGBColor(0x20, 0x20, 0x20);
/// The caption line under the plot.
pub(super) const CAPTION_INK: RGBColor = RGBColor(0x40, 0x40, 0x40);
/// Legend text.
pub(super) const LEGEND_INK: RGBColor = RGBColor(0x10, 0x10, 0x10);
/// Frame and tick marks.
pub(super) const FRAME_INK: RGBAColor = RGBAColor(0, 0, 0, 1.0);
/// Grid lines at major ticks.
pub(super) const GRID_INK: RGBAColor = RGBAColor(0, 0, 0, 0.11);
/// Legend box fill (lets the grid show through a little).
pub(super) const LEGEND_FILL: RGBAColor = RGBAColor(255, 255, 255, 0.88);
/// Legend box outline.
pub(super) const LEGEND_BORDER: RGBAColor = RGBAColor(0, 0, 0, 0.45);
/// Halo around series markers, separating them from lines below.
pub(super) const MARKER_HALO: RGBAColor = WHITE;
/// Fill of the hollow diamond of a highlighted [`super::Marker`].
pub(super) const DIAMOND_FILL: RGBAColor = RGBAColor(255, 255, 255, 0.85);
/// Opacity of a min–max band.
pub(super) const BAND_ALPHA: f64 = 0.2;

// ---------------------------------------------------------------------------------
// Sizes (final pixels)

/// Title font size (ascent + descent).
pub(super) const TITLE_PX: f64 = 40.0;
/// Axis title font size.
pub(super) const LABEL_PX: f64 = 30.0;
/// Tick label font size.
pub(super) const TICK_PX: f64 = 24.0;
/// Legend font size (before shrinking to fit).
pub(super) const LEGEND_PX: f64 = 24.0;
/// Caption font size.
pub(super) const CAPTION_PX: f64 = 24.0;

/// Width of series lines.
pub(super) const LINE_PX: f64 = 3.0;
/// Dash and gap lengths of dashed series.
pub(super) const DASH: (f64, f64) = (14.0, 9.0);
/// Radius of series markers (circle; the other shapes are scaled to look as large).
pub(super) const MARKER_R: f64 = 6.5;
/// Width of the white halo around series markers.
pub(super) const HALO_PX: f64 = 1.5;
/// Half-diagonal of the hollow diamond of a highlighted marker.
pub(super) const DIAMOND_R: f64 = 13.0;
/// Width of the diamond's outline.
pub(super) const DIAMOND_STROKE_PX: f64 = 3.0;

/// Width of the frame and of major tick marks.
pub(super) const FRAME_PX: f64 = 2.0;
/// Width of minor tick marks and grid lines.
pub(super) const HAIRLINE_PX: f64 = 1.0;
/// Length of labelled, unlabelled and minor tick marks (drawn inward).
pub(super) const TICK_LEN: [f64; 3] = [12.0, 8.0, 5.0];
/// Gap between the frame and tick labels.
pub(super) const TICK_LABEL_GAP: f64 = 12.0;

/// Padding inside the legend box.
pub(super) const LEGEND_PAD: f64 = 12.0;
/// Width of the line sample in a legend row.
pub(super) const LEGEND_SAMPLE: f64 = 58.0;
/// Gap between a legend sample and its text.
pub(super) const LEGEND_GAP: f64 = 12.0;
/// Distance of the legend box from the frame.
pub(super) const LEGEND_INSET: f64 = 14.0;
/// Dash and gap lengths of a dashed legend sample (three dashes).
pub(super) const LEGEND_DASH: (f64, f64) = (12.0, 7.0);
/// Half-height of a band sample in the legend.
pub(super) const LEGEND_BAND_HALF: f64 = 10.0;

/// The colour of a differentiation method (Okabe-Ito): forward orange, central blue, five-point
/// green, Ridders vermillion, the complex step black, the others (backward, dual numbers) grey.
pub fn scheme_color(m: crate::method::Scheme) -> RGBColor {
    use crate::method::Scheme;
    match m {
        Scheme::Forward => ORANGE,
        Scheme::Central => BLUE,
        Scheme::Central5 => GREEN,
        Scheme::Ridders => VERMILLION,
        Scheme::Complex => BLACK,
        _ => MEDIUM_GREY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_has_a_fixed_colour_apart_from_the_others() {
        let names = ["f16", "bf16", "f32", "f64", "mpfr:113", "mpfr:128", "mpfr:256", "mpfr:64"];
        let color = |n: &str| dtype_color(DType::parse(n).unwrap());
        assert_eq!(color("mpfr:512"), color("mpfr:1024"));
        for (i, a) in names.iter().enumerate() {
            assert_ne!(color(a), REFERENCE_GREY, "{a}");
            for b in &names[i + 1..] {
                assert_ne!(color(a), color(b), "{a} vs {b}");
            }
        }
        assert_eq!(dtype_color(DType::F64), RGBColor(0x00, 0x72, 0xB2));
        assert_eq!(dtype_color(DType::parse("mpfr:256").unwrap()), BLACK);
    }
}
