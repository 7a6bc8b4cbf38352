//! Publication figures: one log–log plot helper shared by every experiment, drawn with
//! plotters.
//!
//! A [`Figure`] holds data series (solid or dashed, optional markers and a
//! translucent min–max band), special [`Marker`] symbols (for example the predicted
//! optimal step) and a one-line caption. [`render_to_bytes`] draws it as a
//! 1600×1000 PNG and an SVG with the same layout; [`render`](fn@render) writes both files
//! atomically. Colours, shapes and line styles follow one encoding, written in `palette`'s
//! documentation: colour = dtype, methods in colours no dtype has, shapes from meaning, solid =
//! measured, dashed = theory.
//!
//! Axes are logarithmic by default with ticks at whole decades only, labelled
//! `1e-8`, `1e0`, …; the axis range is the finite data range padded outward to whole
//! decades. A linear y axis (`y_log = false`) is supported for quantities such as
//! fractions in `[0, 1]`. Points that cannot be shown (non-finite, or `<= 0` on a log
//! axis) are skipped, break the polyline, and are counted in [`PlotStats`].
//!
//! # Modules
//! * The description: `figure` ([`Figure`], [`Series`], …), `data` (what of it can
//!   be shown), `palette` (the encoding: colours, shapes, and sizes).
//! * The drawing, with plotters: `render` (`ChartBuilder`, log-scale coordinates,
//!   mesh, series, series labels), `font` (the embedded font for plotters' text).
//! * By hand, each module's documentation saying why plotters could not do it:
//!   `axes` (which ticks, and their labels), `layout` (the sizes of title, label areas
//!   and caption), `frame` (inward ticks on four sides), `legend` (the automatic
//!   corner), `overlap` (series hidden under later ones, named in the legend), `marks` (marker glyphs, composed of plotters elements), `stroke` (thick
//!   lines in the PNG), `supersample` (anti-aliasing).
//!
//! # Layers
//!
//! The modules bottom to top; each uses only modules listed before it (the workspace's
//! tests/layers.rs checks it):
//!
//! 1. `stroke`, `supersample`, `font`: thick lines, anti-aliasing, the embedded font.
//! 2. `palette`, `axes`, `marks`: the encoding, the ticks, the marker glyphs.
//! 3. `figure`, `data`, `overlap`: the description, what of it can be shown, hidden series.
//! 4. `layout`, `legend`, `frame`: the sizes of the areas, the legend's corner, the frame.
//! 5. `render`, `tests`: the drawing with plotters, and the crate's tests.
//!
//! # Example
//!
//! ```
//! use gradlab::scalar::DType;
//! use gradlab_plot::{dtype_ink, render_to_bytes, Figure, Series};
//! let steps: Vec<f64> = (0..=32).map(|i| 10f64.powf(-i as f64 / 4.0)).collect();
//! let error = |u: f64| steps.iter().map(|&h| (h, 0.2 * h * h + u / h)).collect();
//! let fig = Figure::new("central difference", "step h", "abs. error")
//!     .with(Series::data("f32", dtype_ink(DType::F32), error(6e-8)))
//!     .with(Series::data("f64", dtype_ink(DType::F64), error(1e-16)));
//! let (png, svg, stats) = render_to_bytes(&fig)?; // or render(&fig, png_path, svg_path)
//! assert_eq!(render_to_bytes(&fig)?.0, png); // the same figure, the same bytes
//! assert!(svg.starts_with("<svg") && stats.dropped == 0);
//! # Ok::<(), String>(())
//! ```
//!
//! # Determinism
//! Text is drawn with DejaVu Sans embedded in the binary
//! (`assets/fonts/DejaVuSans.ttf`, licence in `assets/fonts/LICENSE-DejaVu.txt`); no
//! system font is read, so the same [`Figure`] gives byte-identical PNG and SVG output
//! on every machine (with the crate versions pinned in `Cargo.lock`). The SVG names
//! the font family (`DejaVu Sans` first, then look-alikes), so how an SVG *viewer*
//! draws its text depends on the fonts it has.
//!
//! The PNG is drawn at 3× resolution and box-filtered down, which anti-aliases lines
//! and markers (the plotters bitmap backend does not anti-alias shapes itself).

mod axes;
mod data;
mod figure;
mod font;
mod frame;
mod layout;
mod legend;
mod marks;
mod overlap;
mod palette;
mod render;
mod stroke;
mod supersample;
/// The layout of `fig`, with room for its legend when the legend goes below the plot.
fn lay_out(fig: &Figure, prep: &data::Prepared) -> layout::Layout {
    layout::layout(fig, prep, legend::height_below(fig))
}

#[cfg(test)]
mod tests;

use std::path::Path;

use plotters::backend::SVGBackend;
use plotters::drawing::IntoDrawingArea;

pub use figure::{Figure, LegendPos, LineStyle, Marker, PlotStats, Series};
pub use palette::Shape;
pub use palette::{
    category_ink, dtype_color, dtype_ink, dtype_shape, scheme_color, scheme_ink, scheme_shape, Ink, ALERT_RED, BLACK,
    BLUE, CATEGORY, DARK_GREY, DIM_GREY, GREEN, LIGHT_GREY, MEDIUM_GREY, ORANGE, REFERENCE_GREY, REFERENCE_SHAPE,
    VERMILLION,
};
/// An RGB colour (plotters'), what every colour of the palette is.
pub use plotters::style::RGBColor;

use supersample::{Backend, SS};

/// Width of the PNG in pixels (the SVG has the same nominal size).
pub const WIDTH: u32 = 1600;
/// Height of the PNG in pixels (the SVG has the same nominal size).
pub const HEIGHT: u32 = 1000;

/// Draws `fig` and returns the PNG file bytes (1600×1000 RGB), the SVG text and the
/// statistics, without touching the output folder.
///
/// The PNG is encoded in memory.
///
/// # Errors
/// A message when the embedded font cannot be loaded or drawing or encoding fails.
pub fn render_to_bytes(fig: &Figure) -> Result<(Vec<u8>, String, PlotStats), String> {
    font::ensure_font()?;
    let prep = data::prepare(fig);
    let lay = lay_out(fig, &prep);
    let png = supersample::render_png(|root| render::draw(root, fig, &prep, &lay, Backend::Bitmap))?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH * SS, HEIGHT * SS)).into_drawing_area();
        render::draw(&root, fig, &prep, &lay, Backend::Svg)?;
        root.present().map_err(|e| format!("plot drawing failed: {e:?}"))?;
    }
    // Drawn in 3× coordinates for sub-pixel precision; show it at the nominal size.
    let drawn = format!("<svg width=\"{}\" height=\"{}\" ", WIDTH * SS, HEIGHT * SS);
    let shown = format!("<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" ");
    Ok((png, svg.replacen(&drawn, &shown, 1), prep.stats))
}

/// Draws `fig` to `png_path` and `svg_path`. Each file is written to a temporary
/// file in its folder and renamed into place, so readers never see half a file.
///
/// # Errors
/// A message when drawing fails or a file cannot be written (the folders must exist).
pub fn render(fig: &Figure, png_path: &Path, svg_path: &Path) -> Result<PlotStats, String> {
    let (png, svg, stats) = render_to_bytes(fig)?;
    gradlab::atomic::write(png_path, &png).map_err(|e| e.to_string())?;
    gradlab::atomic::write(svg_path, svg.as_bytes()).map_err(|e| e.to_string())?;
    Ok(stats)
}

/// `a`, `a and b`, `a, b and c`: how a legend names the series hidden under others, and how the
/// lab's sentences list things.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
