//! Drawing a laid-out figure with plotters, on either backend.
//!
//! plotters does the drawing: `ChartBuilder` places the plot area and label areas
//! (margins and sizes from [`super::layout`]), `build_cartesian_2d` maps data through
//! the axes' log-scale or linear coordinates, `configure_mesh` draws the grid, the
//! tick labels (at the ticks [`super::axes`] chooses) and the axis titles, the
//! series are `Polygon` bands and `LineSeries` / `DashedLineSeries` lines, markers
//! are composed plotters elements ([`super::marks`]), and the legend is plotters'
//! series labels. By hand, each module saying why: thick lines in the PNG
//! ([`super::stroke`]), the frame and ticks ([`super::frame`]), the legend corner
//! ([`super::legend`]) and the anti-aliasing ([`super::supersample`]).
//!
//! Two charts share the plot area: one for the mesh, whose coordinates are snapped to
//! whole final pixels so that grid lines stay sharp, and one for the data.

use plotters::chart::{ChartBuilder, LabelAreaPosition};
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, Polygon, Text};
use plotters::prelude::{DashedLineSeries, DrawingBackend, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBAColor, ShapeStyle, TRANSPARENT};

use super::data::Prepared;
use super::figure::{Figure, LineStyle};
use super::font::{baseline_offset, style, CAP};
use super::layout::Layout;
use super::legend::{self, Chart};
use super::marks::{diamond, marker};
use super::palette::{
    AXIS_INK, BAND_ALPHA, DASH, GRID_INK, HAIRLINE_PX, LINE_PX, THEORY_PX, TICK_LABEL_GAP, TICK_PX, WHITE,
};
use super::supersample::{px, px_u32, Backend, Snapped, SS};
use super::{frame, stroke, HEIGHT, WIDTH};

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot drawing failed: {e:?}")
}

/// The plot area in drawing pixels: left, top, right (exclusive), bottom
/// (exclusive). plotters maps an axis range onto the first to the last pixel of the
/// area, so the area ends one pixel after the frame's right and bottom lines: the
/// range ends land on the frame.
fn plot_rect(lay: &Layout) -> (i32, i32, i32, i32) {
    (px(lay.left), px(lay.top), px(lay.right) + 1, px(lay.bottom) + 1)
}

/// Title and caption, as plotters `Text` anchored so that their baselines land where
/// the layout wants them.
fn texts<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, lay: &Layout, backend: Backend) -> Result<(), String> {
    for t in [&lay.title, &lay.caption].into_iter().flatten() {
        let anchor = Pos::new(HPos::Center, VPos::Top);
        let y = px(t.baseline) - baseline_offset(t.px, VPos::Top, backend).round() as i32;
        root.draw(&Text::new(t.text.clone(), (px(t.x), y), style(t.px, t.color, backend).pos(anchor))).map_err(err)?;
    }
    Ok(())
}

/// Grid lines, tick labels and axis titles: plotters' mesh on a chart whose label
/// areas hold the tick labels, with its own axis lines and ticks left transparent.
fn mesh<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, lay: &Layout, backend: Backend) -> Result<(), String> {
    let (x0, y0, x1, y1) = plot_rect(lay);
    let (w, h) = ((WIDTH * SS) as i32, (HEIGHT * SS) as i32);
    let title_px = lay.axis_title_px;
    // The y title is drawn rotated at the left edge of the left label area, the x
    // title at the bottom of the bottom one: size those areas to put them in place.
    let left = match &lay.y_title {
        Some((_, at)) => px(*at) - baseline_offset(title_px, VPos::Top, backend).round() as i32,
        None => px(lay.margin_left),
    };
    let below = match &lay.x_title {
        Some((_, at)) => px(*at) - y1 - baseline_offset(title_px, VPos::Bottom, backend).round() as i32,
        None => px(TICK_LABEL_GAP + TICK_PX),
    };
    let below = below.clamp(1, h - y1);
    let mut chart = ChartBuilder::on(root)
        .margin_top(y0)
        .margin_right(w - x1)
        .margin_left(left)
        .margin_bottom(h - y1 - below)
        .y_label_area_size(x0 - left)
        .x_label_area_size(below)
        .build_cartesian_2d(Snapped(lay.x.coord(), backend), Snapped(lay.y.coord(), backend))
        .map_err(err)?;

    // plotters puts x labels (top-anchored) at twice the tick size below the axis and
    // y labels (right-aligned, centred) at twice the tick size left of it.
    let x_label_top = px(lay.bottom + TICK_LABEL_GAP + CAP * TICK_PX) - y1;
    let x_label_top = x_label_top - baseline_offset(TICK_PX, VPos::Top, backend).round() as i32;
    let y_label_right = px(TICK_LABEL_GAP);
    let y_label_down = CAP * TICK_PX * f64::from(SS) / 2.0 - baseline_offset(TICK_PX, VPos::Center, backend);
    let grid = ShapeStyle { color: GRID_INK, filled: false, stroke_width: backend.stroke_width(HAIRLINE_PX) };
    let x_fmt = |v: &f64| lay.x.label_at(*v);
    let y_fmt = |v: &f64| lay.y.label_at(*v);
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(grid)
        .light_line_style(grid)
        .axis_style(ShapeStyle::from(TRANSPARENT))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(style(TICK_PX, AXIS_INK, backend))
        .set_tick_mark_size(LabelAreaPosition::Bottom, x_label_top / 2)
        .set_tick_mark_size(LabelAreaPosition::Left, y_label_right / 2)
        .y_label_offset(y_label_down.round() as i32)
        .axis_desc_style(style(title_px, AXIS_INK, backend));
    if let Some((text, _)) = &lay.x_title {
        mesh.x_desc(text.clone());
    }
    if let Some((text, _)) = &lay.y_title {
        mesh.y_desc(text.clone());
    }
    mesh.draw().map_err(err)
}

/// The chart the data is drawn on: the plot area, no label areas.
fn data_chart<'a, DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, lay: &Layout) -> Result<Chart<'a, DB>, String> {
    let (x0, y0, x1, y1) = plot_rect(lay);
    let (w, h) = ((WIDTH * SS) as i32, (HEIGHT * SS) as i32);
    ChartBuilder::on(root)
        .margin_top(y0)
        .margin_left(x0)
        .margin_right(w - x1)
        .margin_bottom(h - y1)
        .build_cartesian_2d(lay.x.coord(), lay.y.coord())
        .map_err(err)
}

/// Which lines a call of [`lines`] draws.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Bands, then the lines of measured series (drawn under the markers).
    Data,
    /// The dashed theory lines, drawn last, over the markers, and thinner: a prediction through
    /// the data stays visible and leaves the markers readable.
    Theory,
}

/// Bands and data lines (and isolated points of series without markers), or theory lines.
fn lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &mut Chart<'_, DB>,
    fig: &Figure,
    prep: &Prepared,
    lay: &Layout,
    backend: Backend,
    pass: Pass,
) -> Result<(), String> {
    let bottom = lay.y.value(lay.y.lo);
    let bands = if pass == Pass::Data { prep.bands.as_slice() } else { &[] };
    for (s, bands) in fig.series.iter().zip(bands) {
        for run in bands.iter().filter(|r| r.len() >= 2) {
            let mut pts: Vec<(f64, f64)> = run.iter().map(|&(x, _, hi)| (x, hi)).collect();
            pts.extend(run.iter().rev().map(|&(x, lo, _)| (x, lo.unwrap_or(bottom))));
            chart.draw_series(std::iter::once(Polygon::new(pts, s.color.mix(BAND_ALPHA).filled()))).map_err(err)?;
        }
    }
    for (s, runs) in fig.series.iter().zip(&prep.runs) {
        let theory = s.style() == LineStyle::Dashed;
        if theory != (pass == Pass::Theory) {
            continue;
        }
        let width = px(if theory { THEORY_PX } else { LINE_PX });
        let shape = s.shape();
        let ink = RGBAColor(s.color.0, s.color.1, s.color.2, 1.0);
        let pen = ink.stroke_width(width as u32);
        for run in runs {
            if run.len() == 1 && shape.is_none() {
                // An isolated point would otherwise be invisible.
                let dot = Circle::new(run[0], px_u32(LINE_PX * 1.2), ink.filled());
                chart.draw_series(std::iter::once(dot)).map_err(err)?;
                continue;
            }
            let dash = (s.style() == LineStyle::Dashed).then_some((px(DASH.0), px(DASH.1)));
            match (s.style(), backend) {
                // A single point with a marker needs no line under it.
                (LineStyle::MarkersOnly, _) => {}
                _ if run.len() < 2 => {}
                (_, Backend::Bitmap) => {
                    let pts: Vec<(f64, f64)> =
                        run.iter().map(|p| chart.backend_coord(p)).map(|(x, y)| (f64::from(x), f64::from(y))).collect();
                    let dash = dash.map(|(on, off)| (f64::from(on), f64::from(off)));
                    stroke::line(root, &pts, f64::from(width), ink, dash)?;
                }
                (LineStyle::Solid, Backend::Svg) => {
                    chart.draw_series(LineSeries::new(run.iter().copied(), pen)).map_err(err)?;
                }
                (LineStyle::Dashed, Backend::Svg) => {
                    let (on, off) = dash.unwrap_or_default();
                    chart.draw_series(DashedLineSeries::new(run.iter().copied(), on, off, pen)).map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

/// Series markers, then highlighted points, at the pixels plotters maps them to.
fn markers<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    fig: &Figure,
    prep: &Prepared,
    backend: Backend,
) -> Result<(), String> {
    for (s, runs) in fig.series.iter().zip(&prep.runs) {
        if let Some(shape) = s.shape() {
            for p in runs.iter().flatten() {
                marker(root, chart.backend_coord(p), shape, s.color, s.hollow())?;
            }
        }
    }
    for (m, p) in fig.markers.iter().zip(&prep.markers) {
        if let Some(p) = p {
            diamond(root, chart.backend_coord(p), m.color, backend)?;
        }
    }
    Ok(())
}

/// Draws `fig` on `root` (the whole canvas, at [`SS`]× the final size).
///
/// # Errors
/// A message when plotters fails to draw.
pub(super) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    prep: &Prepared,
    lay: &Layout,
    backend: Backend,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    texts(root, lay, backend)?;
    mesh(root, lay, backend)?;
    let mut chart = data_chart(root, lay)?;
    lines(root, &mut chart, fig, prep, lay, backend, Pass::Data)?;
    // Frame and ticks over the line ends that touch them, markers over the frame so
    // that points at the ends of an axis stay whole.
    let (xlo, ylo) = (lay.x.value(lay.x.lo), lay.y.value(lay.y.lo));
    frame::draw(root, lay, |v| chart.backend_coord(&(v, ylo)).0, |v| chart.backend_coord(&(xlo, v)).1)?;
    markers(root, &chart, fig, prep, backend)?;
    lines(root, &mut chart, fig, prep, lay, backend, Pass::Theory)?;
    legend::draw(root, &mut chart, fig, prep, lay, backend)
}
