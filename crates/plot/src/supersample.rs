//! Supersampled anti-aliasing of the PNG: plotters draws the figure at [`SS`]× the
//! final size, and every `SS`×`SS` block is averaged into one pixel, which is then
//! encoded in memory.
//!
//! plotters' bitmap backend does not anti-alias shapes (only `ab_glyph` text is), so
//! lines, markers and bands would have jagged edges at the final size. The SVG is drawn
//! in the same `SS`× coordinates (so both files share one layout) and shown at the
//! final size.

use std::ops::Range;

use plotters::backend::BitMapBackend;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};

use super::{HEIGHT, WIDTH};

/// Supersampling factor of the PNG, and the coordinate scale of the SVG.
pub(super) const SS: u32 = 3;

/// The backend a figure is drawn on; text and thin lines are placed per backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    /// plotters' bitmap backend (with `ab_glyph` text), drawn at `SS`× and filtered
    /// down: the PNG.
    Bitmap,
    /// plotters' SVG backend.
    Svg,
}

impl Backend {
    /// The `stroke_width` that draws a line `final_px` final pixels wide. plotters'
    /// bitmap rasteriser draws lines of width >= 2 one pixel wider than asked.
    pub fn stroke_width(self, final_px: f64) -> u32 {
        let w = px_u32(final_px).max(1);
        match self {
            Backend::Bitmap if w >= 3 => w - 1,
            _ => w,
        }
    }
}

/// A plotters coordinate whose pixels are moved onto the middle of the final pixel
/// they fall in, so that a one-pixel line there (drawn three drawing pixels wide,
/// see [`Backend::stroke_width`]) stays one sharp pixel after the box filter. For
/// grid lines only: data keeps its sub-pixel positions.
pub(super) struct Snapped<R>(pub R, pub Backend);

impl<R: Ranged<ValueType = f64>> Ranged for Snapped<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let p = self.0.map(value, limit);
        let ss = SS as i32;
        match self.1 {
            // Kept inside the axis: plotters drops labels beyond its ends.
            Backend::Bitmap => (p.div_euclid(ss) * ss + ss / 2).clamp(limit.0.min(limit.1), limit.0.max(limit.1)),
            Backend::Svg => p,
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        self.0.key_points(hint)
    }

    fn range(&self) -> Range<f64> {
        self.0.range()
    }
}

/// Drawing pixels of `v` final pixels, rounded.
pub(super) fn px(v: f64) -> i32 {
    (v * f64::from(SS)).round().clamp(-1e6, 1e6) as i32
}

/// [`px`] for sizes (negative gives 0).
pub(super) fn px_u32(v: f64) -> u32 {
    px(v).max(0) as u32
}

/// Draws with `draw` on an `SS`× bitmap, filters it down and returns the PNG file
/// bytes.
///
/// # Errors
/// What `draw` returns, or a message when presenting or encoding fails.
pub(super) fn render_png(
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let (w, h) = (WIDTH * SS, HEIGHT * SS);
    let mut big = vec![255_u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut big, (w, h)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| format!("plot drawing failed: {e:?}"))?;
    }
    let small = downsample(&big, w as usize, h as usize, SS as usize);
    encode_png(&small, WIDTH, HEIGHT)
}

/// Box filter: every `k`×`k` block of the RGB image becomes one pixel.
fn downsample(big: &[u8], w: usize, h: usize, k: usize) -> Vec<u8> {
    let (sw, sh) = (w / k, h / k);
    let mut out = vec![0_u8; sw * sh * 3];
    let n = (k * k) as u32;
    for y in 0..sh {
        for x in 0..sw {
            let mut acc = [0_u32; 3];
            for dy in 0..k {
                let row = ((y * k + dy) * w + x * k) * 3;
                for dx in 0..k {
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a += u32::from(big[row + dx * 3 + c]);
                    }
                }
            }
            let o = (y * sw + x) * 3;
            for c in 0..3 {
                out[o + c] = ((acc[c] + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Encodes a `w`×`h` RGB image as PNG file bytes, in memory (the `png` crate with
/// fixed settings, so the same pixels always give the same bytes).
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Default);
        let mut writer = enc.write_header().map_err(|e| format!("encoding PNG: {e}"))?;
        writer.write_image_data(rgb).map_err(|e| format!("encoding PNG: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_filter_averages_blocks() {
        // 2×2 blocks of a 4×2 image: black/white halves average to mid grey.
        let mut big = vec![255_u8; 4 * 2 * 3];
        big[..3].copy_from_slice(&[0, 0, 0]);
        big[(4 + 1) * 3..(4 + 2) * 3].copy_from_slice(&[0, 0, 0]);
        let small = downsample(&big, 4, 2, 2);
        assert_eq!(small, vec![128, 128, 128, 255, 255, 255]);
    }

    #[test]
    fn png_encoding_is_fixed() {
        let rgb = vec![7_u8; 3 * 4 * 2];
        let a = encode_png(&rgb, 4, 2).unwrap();
        assert_eq!(a, encode_png(&rgb, 4, 2).unwrap());
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn stroke_widths_compensate_the_bitmap_rasteriser() {
        assert_eq!(Backend::Svg.stroke_width(1.0), 3);
        assert_eq!(Backend::Bitmap.stroke_width(1.0), 2);
        assert_eq!(Backend::Bitmap.stroke_width(0.1), 1);
        assert_eq!(px(-1e300), -1_000_000);
    }

    #[test]
    fn snapped_grid_lines_sit_mid_pixel() {
        use plotters::coord::types::RangedCoordf64;
        let c = Snapped(RangedCoordf64::from(0.0..100.0), Backend::Bitmap);
        assert_eq!(c.map(&50.0, (0, 300)), 151);
        assert_eq!(c.map(&50.5, (0, 300)), 151);
        assert_eq!(c.map(&51.0, (0, 300)), 154);
        assert_eq!(c.map(&100.0, (0, 300)), 300, "the last pixel stays on the axis");
        assert_eq!(c.map(&0.0, (300, 0)), 300);
        let c = Snapped(RangedCoordf64::from(0.0..100.0), Backend::Svg);
        assert_eq!(c.map(&50.5, (0, 300)), 151);
    }
}
