//! Colours, marker shapes and sizes of every figure, in one place, with the one encoding every
//! figure follows (docs/results.md, "Reading the figures", says the same for readers):
//!
//! * **Colour = dtype.** [`dtype_color`] gives each dtype its colour (Okabe–Ito colour-blind-safe
//!   palette, plus Tol's colours for the rarer formats), the same in every figure.
//! * **Methods and other categories of one dtype take colours no dtype has.** A figure comparing
//!   differentiation methods colours each by [`scheme_color`], from [`CATEGORY`]: seven colours
//!   (magenta, violet, lime, brown, dark green, deep pink, lavender) each at least 30 CIELAB units
//!   from every dtype colour and every grey, so a method is never read as a dtype (central is not
//!   f64's blue). A figure comparing other categories of one dtype (sizes n, tensors, code paths)
//!   takes [`CATEGORY`] colours in the order of its own list, read from its legend; its markers
//!   keep the dtype's shape, while a method's marker is its own, so the pair (colour, shape)
//!   names one thing across all figures.
//! * **Marker shape from meaning, never from the series' place.** [`dtype_shape`]: by
//!   precision, 8-bit formats ▽, f16, bf16 and tf32 (10 significand bits or fewer) △, f32 □,
//!   f64 ○, MPFR ◇; [`scheme_shape`]: forward △,
//!   backward ▽, central □, five-point pentagon, Ridders ◇, complex step ○, dual numbers hexagon
//!   (its colour tells a method from a dtype); published reference points a plus
//!   ([`REFERENCE_SHAPE`]) in black or grey.
//! * **Filled or hollow.** A hollow marker is a second measurement of the series with the same
//!   colour and shape, named in its label: a mixed-precision dtype (storage S, arithmetic f32)
//!   beside S, PyTorch's numbers beside gradlab's, elements that cross a kink beside the others.
//! * **Line style: solid = measured, dashed = theory** (a prediction, a bound, a fitted law),
//!   everywhere: [`super::Series::data`] and [`super::Series::theory`] fix it. Theory lines are
//!   grey, or the colour of the dtype they predict. A large hollow diamond ([`super::Marker`]) is
//!   a single highlighted point.
//!
//! The rest is the figure's own ink (text, grid, frame, legend box) and its sizes, all in final
//! pixels of the 1600×1000 PNG.

use plotters::style::{RGBAColor, RGBColor};

use gradlab::method::Scheme;
use gradlab::scalar::DType;

/// Shape of a series' markers. Which series gets which shape is decided by what the series is
/// ([`super::dtype_ink`], [`super::scheme_ink`], [`super::REFERENCE_SHAPE`]), never by its place
/// in the figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A disc.
    Circle,
    /// A square.
    Square,
    /// A triangle pointing up.
    TriangleUp,
    /// A triangle pointing down.
    TriangleDown,
    /// A small filled diamond (a highlighted [`super::Marker`] is a large hollow one).
    Diamond,
    /// A regular pentagon.
    Pentagon,
    /// A regular hexagon.
    Hexagon,
    /// A plus sign (published reference points).
    Plus,
}

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
    use gradlab::scalar::Format;
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
        // A mixed dtype takes its storage format's colour (and hollow markers, see `dtype_ink`).
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

/// The marker shape of a dtype, by its precision: 8-bit formats (at most 3 significand bits) a
/// triangle down, f16, bf16 and tf32 (at most 10) a triangle up, f32 (at most 23) a square, f64
/// a circle, MPFR a small diamond. A mixed dtype takes its storage
/// format's shape (hollow, see [`dtype_ink`]).
pub fn dtype_shape(dt: DType) -> Shape {
    let by_bits = |man: u32| match man {
        0..=3 => Shape::TriangleDown,
        4..=10 => Shape::TriangleUp,
        11..=23 => Shape::Square,
        _ => Shape::Circle,
    };
    match dt {
        DType::Ieee(f) => by_bits(f.man_bits()),
        DType::Mixed { storage, .. } => by_bits(storage.man_bits()),
        DType::F16 | DType::BF16 => Shape::TriangleUp,
        DType::F32 => Shape::Square,
        DType::F64 => Shape::Circle,
        DType::Mpfr(_) => Shape::Diamond,
    }
}

/// How a measured series is marked: colour, marker shape, and whether the marker is hollow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ink {
    /// Line, marker and band colour.
    pub color: RGBColor,
    /// Marker shape.
    pub shape: Shape,
    /// A hollow marker: a second measurement of the series with the same colour and shape.
    pub hollow: bool,
}

impl Ink {
    /// The same ink with hollow markers (a second measurement of the same series, named in its
    /// label).
    pub fn hollow(self) -> Ink {
        Ink { hollow: true, ..self }
    }
}

/// The ink of a dtype: [`dtype_color`] and [`dtype_shape`]; hollow for a mixed dtype (storage
/// S, arithmetic f32), drawn beside S in S's colour and shape.
pub fn dtype_ink(dt: DType) -> Ink {
    Ink { color: dtype_color(dt), shape: dtype_shape(dt), hollow: matches!(dt, DType::Mixed { .. }) }
}

/// Colours for categories that are not dtypes (methods; sizes, tensors or code paths of one
/// dtype): magenta, violet, lime, brown, dark green, deep pink, lavender (deep pink after dark
/// green: beside magenta it reads as one colour, so a figure's first five never pair them). Each is at least 30
/// CIELAB units from every dtype colour and every grey of the palette (a test checks it), so none
/// reads as a dtype.
pub const CATEGORY: [RGBColor; 7] = [
    RGBColor(0xD0, 0x00, 0xD0),
    RGBColor(0x66, 0x33, 0xFF),
    RGBColor(0x4D, 0xB3, 0x00),
    RGBColor(0x77, 0x44, 0x11),
    RGBColor(0x1A, 0x5E, 0x1A),
    RGBColor(0xFF, 0x14, 0x93),
    RGBColor(0xA0, 0xA0, 0xFF),
];

/// The colour of a differentiation method, from [`CATEGORY`] (never a dtype's): forward
/// magenta, central violet, five-point lime, Ridders brown, complex step dark green (not deep
/// pink: beside forward's magenta it read as one colour), backward deep pink, dual numbers
/// lavender.
pub fn scheme_color(m: Scheme) -> RGBColor {
    CATEGORY[match m {
        Scheme::Forward => 0,
        Scheme::Central => 1,
        Scheme::Central5 => 2,
        Scheme::Ridders => 3,
        Scheme::Complex => 4,
        Scheme::Backward => 5,
        Scheme::Dual => 6,
    }]
}

/// The marker shape of a differentiation method: forward a triangle up, backward a triangle
/// down, central a square, five-point a pentagon, Ridders a diamond, complex step a circle, dual
/// numbers a hexagon.
pub fn scheme_shape(m: Scheme) -> Shape {
    match m {
        Scheme::Forward => Shape::TriangleUp,
        Scheme::Backward => Shape::TriangleDown,
        Scheme::Central => Shape::Square,
        Scheme::Central5 => Shape::Pentagon,
        Scheme::Ridders => Shape::Diamond,
        Scheme::Complex => Shape::Circle,
        Scheme::Dual => Shape::Hexagon,
    }
}

/// The ink of a differentiation method: [`scheme_color`] and [`scheme_shape`].
pub fn scheme_ink(m: Scheme) -> Ink {
    Ink { color: scheme_color(m), shape: scheme_shape(m), hollow: false }
}

/// The ink of the `k`-th category (0-based, in the order of the figure's own list) of a figure
/// comparing categories of one dtype `dt` that are not methods (sizes n, tensors, code paths):
/// colour `CATEGORY[k]` (wrapping), the dtype's shape.
pub fn category_ink(k: usize, dt: DType) -> Ink {
    Ink { color: CATEGORY[k % CATEGORY.len()], shape: dtype_shape(dt), hollow: false }
}

/// The marker of published reference points: a plus, in [`BLACK`] or a grey.
pub const REFERENCE_SHAPE: Shape = Shape::Plus;

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
/// Width of the ring of a hollow marker.
pub(super) const HOLLOW_RING_PX: f64 = 2.5;
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
/// Width of dashed theory lines (drawn over the markers, so thinner than data lines).
pub(super) const THEORY_PX: f64 = 2.5;
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
    }

    /// CIELAB (D65) of an sRGB colour.
    fn lab(c: RGBColor) -> [f64; 3] {
        let lin = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v > 0.04045 {
                ((v + 0.055) / 1.055).powf(2.4)
            } else {
                v / 12.92
            }
        };
        let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| if t > 0.008856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
        [116.0 * f(y) - 16.0, 500.0 * (f(x) - f(y)), 200.0 * (f(y) - f(z))]
    }

    fn distance(a: RGBColor, b: RGBColor) -> f64 {
        let (a, b) = (lab(a), lab(b));
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    /// Every method (category) colour is at least 30 CIELAB units from every dtype colour and
    /// every grey of the palette, and 40 from every other category colour: a method never reads
    /// as a dtype (central is no longer f64's blue, five-point no longer f32's green).
    #[test]
    fn method_colours_are_no_dtype_colours() {
        let dtypes = [
            "f16", "bf16", "f32", "f64", "tf32", "e4m3", "e5m2", "mpfr:113", "mpfr:128", "mpfr:256", "mpfr:64",
            "ieee:6:9",
        ];
        let mut taken: Vec<(String, RGBColor)> =
            dtypes.iter().map(|n| (n.to_string(), dtype_color(DType::parse(n).unwrap()))).collect();
        for (name, c) in [
            ("reference grey", REFERENCE_GREY),
            ("dark grey", DARK_GREY),
            ("dim grey", DIM_GREY),
            ("medium grey", MEDIUM_GREY),
            ("light grey", LIGHT_GREY),
            ("alert red", ALERT_RED),
        ] {
            taken.push((name.to_string(), c));
        }
        let schemes = [
            Scheme::Forward,
            Scheme::Backward,
            Scheme::Central,
            Scheme::Central5,
            Scheme::Ridders,
            Scheme::Complex,
            Scheme::Dual,
        ];
        for (i, &m) in schemes.iter().enumerate() {
            for (name, c) in &taken {
                let d = distance(scheme_color(m), *c);
                assert!(d >= 30.0, "{m} is {d:.0} from {name}");
            }
            for &o in &schemes[i + 1..] {
                assert!(distance(scheme_color(m), scheme_color(o)) >= 40.0, "{m} vs {o}");
                assert_ne!(scheme_shape(m), scheme_shape(o), "{m} vs {o}");
            }
        }
        // Every category colour is some method's.
        for c in CATEGORY {
            assert!(schemes.iter().any(|&m| scheme_color(m) == c), "{c:?}");
        }
    }

    /// A dtype's shape comes from the dtype (its width), whatever else the figure holds; a mixed
    /// dtype takes its storage format's colour and shape, hollow.
    #[test]
    fn shapes_come_from_meaning() {
        let ink = |n: &str| dtype_ink(DType::parse(n).unwrap());
        assert_eq!(ink("f16").shape, Shape::TriangleUp);
        assert_eq!(ink("bf16").shape, Shape::TriangleUp);
        assert_eq!(ink("f32").shape, Shape::Square);
        assert_eq!(ink("tf32").shape, Shape::TriangleUp);
        assert_eq!(ink("f64").shape, Shape::Circle);
        assert_eq!(ink("e4m3").shape, Shape::TriangleDown);
        assert_eq!(ink("mpfr:128").shape, Shape::Diamond);
        let mixed = ink("bf16+f32");
        assert!(mixed.hollow && !ink("bf16").hollow);
        assert_eq!((mixed.color, mixed.shape), (ink("bf16").color, ink("bf16").shape));
        assert_eq!(scheme_ink(Scheme::Central).shape, Shape::Square);
        assert_eq!(category_ink(1, DType::F32), Ink { color: CATEGORY[1], shape: Shape::Square, hollow: false });
        assert_eq!(dtype_color(DType::parse("mpfr:256").unwrap()), BLACK);
    }
}
