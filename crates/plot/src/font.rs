//! The embedded DejaVu Sans: registration for the bitmap backend, family for SVG, and
//! where each plotters backend puts text relative to its anchor.
//!
//! No system font is read: plotters' `ab_glyph` font table gets the embedded font
//! under the name [`FAMILY`] (and `sans-serif`), so the PNG is the same on every
//! machine. The SVG backend writes the family verbatim into `font-family`, where it is
//! a valid CSS fallback list.
//!
//! The two backends place text differently around the same anchor (`ab_glyph` puts the
//! baseline half a font size below the top of its box, SVG `0.76em` below it; SVG's
//! `font-size` is the size divided by 1.24). [`font`] picks per backend the size that
//! gives the same em, and [`baseline_offset`] says where the baseline lands, so that
//! the layout puts every text at the same place in both files.

use std::sync::OnceLock;

use plotters::style::text_anchor::VPos;
use plotters::style::{register_font, FontDesc, FontFamily, FontStyle, IntoFont, RGBColor, TextStyle};

use super::supersample::{Backend, SS};

/// DejaVu Sans 2.37 (Debian `fonts-dejavu-core`), Bitstream Vera licence.
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Family used for all text: the name of the embedded font in plotters' font table,
/// and a CSS fallback list in the SVG.
pub(super) const FAMILY: &str = "DejaVu Sans, Bitstream Vera Sans, Verdana, sans-serif";

// DejaVu Sans vertical metrics as fractions of plotters' font "size". ab_glyph scales
// a font so that ascent - descent (hhea: 1901 + 483 = 2384 units, 2048 per em)
// equals the size in pixels.
/// One em.
pub(super) const EM: f64 = 2048.0 / 2384.0;
/// Ascent.
pub(super) const ASC: f64 = 1901.0 / 2384.0;
/// Descent (positive).
pub(super) const DESC: f64 = 483.0 / 2384.0;
/// Height of capitals and digits.
pub(super) const CAP: f64 = 1493.0 / 2384.0;
/// x-height in em (what SVG's `ex` is in this font).
const X_HEIGHT_EM: f64 = 1120.0 / 2048.0;

/// Registers the embedded font with plotters (once per process).
///
/// # Errors
/// A message if the embedded font cannot be parsed.
pub(super) fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for name in ["sans-serif", FAMILY] {
                register_font(name, FontStyle::Normal, FONT_BYTES)
                    .map_err(|_| "the embedded DejaVu Sans font is invalid".to_string())?;
            }
            Ok(())
        })
        .clone()
}

/// The font for text `px` final pixels high (ascent + descent) at the drawing
/// resolution of `backend`.
pub(super) fn font(px: f64, backend: Backend) -> FontDesc<'static> {
    let size = match backend {
        Backend::Bitmap => px * f64::from(SS),
        // SVGBackend writes font-size = size / 1.24; make that one em of the bitmap.
        Backend::Svg => px * f64::from(SS) * EM * 1.24,
    };
    (FontFamily::Name(FAMILY), size, FontStyle::Normal).into_font()
}

/// [`font`] in `color`.
pub(super) fn style(px: f64, color: RGBColor, backend: Backend) -> TextStyle<'static> {
    font(px, backend).color(&color)
}

/// Where the baseline of text `px` high lands below an anchor with vertical position
/// `v`, in drawing pixels (negative: above the anchor).
pub(super) fn baseline_offset(px: f64, v: VPos, backend: Backend) -> f64 {
    match backend {
        Backend::Bitmap => {
            // Box height as ab_glyph reports it; plotters offsets the box by it.
            let size = px * f64::from(SS);
            let box_h = (size / 1.24).trunc();
            let top = size / 2.0;
            match v {
                VPos::Top => top,
                VPos::Center => top - (box_h / 2.0).trunc(),
                VPos::Bottom => top - box_h,
            }
        }
        Backend::Svg => {
            let em = px * f64::from(SS) * EM;
            match v {
                VPos::Top => 0.76 * em,
                VPos::Center => 0.5 * X_HEIGHT_EM * em,
                VPos::Bottom => -0.5 * X_HEIGHT_EM * em,
            }
        }
    }
}

/// Width in final pixels of `text` at `px` (measured at the drawing resolution).
pub(super) fn text_width(text: &str, px: f64) -> f64 {
    let ss = f64::from(SS);
    font(px, Backend::Bitmap)
        .box_size(text)
        .map(|(w, _)| f64::from(w) / ss)
        .unwrap_or(0.6 * px * text.chars().count() as f64)
}

/// Largest size <= `px` at which `text` fits in `max_w` final pixels (at least half
/// of `px`).
pub(super) fn fit(text: &str, px: f64, max_w: f64) -> f64 {
    let w = text_width(text, px);
    if w <= max_w || w <= 0.0 {
        px
    } else {
        (px * max_w / w).max(px * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_is_used() {
        // DejaVu Sans advance widths: '1' and 'e' are 1303 and 1260 units of 2048.
        ensure_font().unwrap();
        let w = text_width("1e", 2384.0 / 3.0);
        assert!((w - (1303.0 + 1260.0) / 3.0).abs() < 1.0, "width {w}");
    }

    #[test]
    fn fit_shrinks_long_text_only() {
        ensure_font().unwrap();
        assert_eq!(fit("short", 30.0, 1000.0), 30.0);
        let long = "long ".repeat(12);
        let px = fit(&long, 30.0, 600.0);
        assert!((15.0..30.0).contains(&px), "{px}");
        assert!((text_width(&long, px) - 600.0).abs() < 20.0, "{}", text_width(&long, px));
        assert_eq!(fit(&"long ".repeat(40), 30.0, 600.0), 15.0, "never below half size");
    }

    #[test]
    fn baselines_agree_between_backends_for_top_anchors() {
        // Same em on both backends, so top-anchored text differs only by the known
        // placement rules, which the layout compensates.
        let b = baseline_offset(24.0, VPos::Top, Backend::Bitmap);
        let s = baseline_offset(24.0, VPos::Top, Backend::Svg);
        assert_eq!(b, 36.0);
        assert!((s - 0.76 * 72.0 * EM).abs() < 1e-9);
        assert!(baseline_offset(24.0, VPos::Bottom, Backend::Bitmap) < 0.0);
    }
}
