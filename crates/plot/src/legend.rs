//! The legend: plotters' series labels (`.label()`, `.legend()` and
//! `configure_series_labels`) at a corner chosen here.
//!
//! plotters lays out the rows and draws the box and the text, but places a legend
//! only at a fixed position or a given coordinate: the automatic corner — the one
//! covering the fewest data — is computed here from the data's pixel positions
//! (plotters' mapping). Also chosen here: a smaller font when the legend would not
//! fit the plot, and margins that keep the box edges on whole final pixels.
//!
//! Each row's sample (band, solid or dashed line, marker glyph) is drawn at the
//! position plotters hands to that row's sample closure. The closure itself returns an
//! empty element: a sample made of a varying number of parts would have to be a
//! `DynElement` built from `DynElement`s, which plotters only allows for a `'static`
//! backend, and ours draw into borrowed memory.

use std::cell::RefCell;
use std::rc::Rc;

use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{DashedPathElement, EmptyElement, MultiLineText, PathElement, Rectangle};
use plotters::prelude::DrawingBackend;
use plotters::style::text_anchor::VPos;
use plotters::style::{Color, RGBAColor, RGBColor, ShapeStyle};

use super::axes::AxisCoord;
use super::data::Prepared;
use super::figure::{Figure, LegendPos, LineStyle};
use super::font::{baseline_offset, style, CAP};
use super::layout::Layout;
use super::marks::{diamond, marker};
use super::overlap;
use super::palette::Shape;
use super::palette::{
    BAND_ALPHA, LEGEND_BAND_HALF, LEGEND_BORDER, LEGEND_DASH, LEGEND_FILL, LEGEND_GAP, LEGEND_INK, LEGEND_INSET,
    LEGEND_PAD, LEGEND_PX, LEGEND_SAMPLE, LINE_PX, MARKER_R, THEORY_PX,
};
use super::stroke::{line, Pixel};
use super::supersample::{px, Backend, SS};
use super::{HEIGHT, WIDTH};

/// A point is hidden under a later series' marker when their centres are closer than this
/// fraction of the marker radius (then most of it is covered).
const HIDDEN_WITHIN: f64 = 0.75;

/// The chart the data is drawn on.
pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<WithKeyPoints<AxisCoord>, WithKeyPoints<AxisCoord>>>;

/// What a legend row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Series(usize),
    Marker(usize),
}

/// The rows of the legend: labelled series, then labelled markers.
fn entries(fig: &Figure) -> Vec<(Entry, String)> {
    let series = fig.series.iter().enumerate().filter(|(_, s)| !s.label.trim().is_empty());
    let markers =
        fig.markers.iter().enumerate().filter_map(|(i, m)| {
            m.label.as_ref().filter(|l| !l.trim().is_empty()).map(|l| (Entry::Marker(i), l.clone()))
        });
    series.map(|(i, s)| (Entry::Series(i), s.label.clone())).chain(markers).collect()
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot drawing failed: {e:?}")
}

/// Legend geometry in drawing pixels: margin, width of the sample area, box size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Geometry {
    margin: i32,
    area: i32,
    w: i32,
    h: i32,
}

/// The box plotters will draw for `labels` at font size `size`: its text block
/// measured as plotters measures it, with margin and sample width adjusted so that
/// the box edges fall on whole final pixels.
fn geometry(labels: &[&str], size: f64, backend: Backend) -> Geometry {
    let font = style(size, LEGEND_INK, backend);
    let mut text = MultiLineText::<_, &str>::new((0, 0), &font);
    for l in labels {
        text.push_line(*l);
    }
    let (tw, th) = text.estimate_dimension().unwrap_or((0, 0));
    let ss = SS as i32;
    let k = size / LEGEND_PX;
    let mut margin = px(LEGEND_PAD * k);
    while (th + 2 * margin).rem_euclid(ss) != 0 {
        margin += 1;
    }
    let mut area = px((LEGEND_SAMPLE + LEGEND_GAP) * k);
    while (tw + area + 2 * margin).rem_euclid(ss) != 0 {
        area += 1;
    }
    Geometry { margin, area, w: tw + area + 2 * margin, h: th + 2 * margin }
}

/// The legend font size: [`LEGEND_PX`], smaller (down to 60 %) when the box would not
/// fit inside the plot.
fn font_px(labels: &[&str], plot: (i32, i32)) -> f64 {
    let room = (plot.0 - 2 * px(LEGEND_INSET), plot.1 - 2 * px(LEGEND_INSET));
    let mut size = LEGEND_PX;
    loop {
        let g = geometry(labels, size, Backend::Bitmap);
        if (g.w <= room.0 && g.h <= room.1) || size <= 0.6 * LEGEND_PX {
            return size;
        }
        size = (size * 0.92).max(0.6 * LEGEND_PX);
    }
}

/// Height in final pixels of the legend box when `fig` puts it [`LegendPos::Below`] the plot
/// (`None` when it does not, or has no rows). Its rows are known before the plot is laid out, and
/// the overlap notes only lengthen them, so the layout can leave this room first.
pub(super) fn height_below(fig: &Figure) -> Option<f64> {
    let rows = entries(fig);
    if fig.legend_pos != LegendPos::Below || rows.is_empty() {
        return None;
    }
    let labels: Vec<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
    Some(f64::from(geometry(&labels, LEGEND_PX, Backend::Bitmap).h) / f64::from(SS))
}

/// Top-left corner (relative to the plot area) of a `w`×`h` box at `pos` inside the plot.
fn corner(pos: LegendPos, w: i32, h: i32, plot: (i32, i32)) -> (i32, i32) {
    let inset = px(LEGEND_INSET);
    let (xl, xr) = (inset, plot.0 - inset - w);
    let (yt, yb) = (inset, plot.1 - inset - h);
    match pos {
        LegendPos::UpperLeft => (xl, yt),
        LegendPos::LowerLeft => (xl, yb),
        LegendPos::LowerRight => (xr, yb),
        LegendPos::Center => ((plot.0 - w) / 2, (plot.1 - h) / 2),
        LegendPos::Left => (xl, (plot.1 - h) / 2),
        LegendPos::Right => (xr, (plot.1 - h) / 2),
        LegendPos::Top(i) => (xl + (xr - xl) * i32::from(i.min(8)) / 8, yt),
        // Placed by `draw`, which knows the layout.
        LegendPos::UpperRight | LegendPos::Auto | LegendPos::Below => (xr, yt),
    }
}

/// Pixels (relative to the plot area) covered by data, with weights: lines and
/// markers 4, band area 1 (sampled over the whole band polygon, not only at its data columns),
/// highlighted markers 8.
fn data_samples(prep: &Prepared, bottom: f64, map: impl Fn((f64, f64)) -> Pixel) -> Vec<(f64, f64, u64)> {
    let at = |p: (f64, f64)| {
        let (x, y) = map(p);
        (f64::from(x), f64::from(y))
    };
    let mut out = Vec::new();
    let step = 4.0 * f64::from(SS);
    for run in prep.runs.iter().flatten() {
        let pts: Vec<_> = run.iter().map(|&p| at(p)).collect();
        out.extend(pts.iter().map(|&(x, y)| (x, y, 4)));
        for seg in pts.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            let n = ((b.0 - a.0).hypot(b.1 - a.1) / step).ceil().min(10_000.0) as usize;
            out.extend((1..n).map(|i| {
                let t = i as f64 / n as f64;
                (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, 4)
            }));
        }
    }
    // A band covers the whole polygon between its samples: a grid over it, every 8 final pixels.
    let grid = 8.0 * f64::from(SS);
    let column = |out: &mut Vec<(f64, f64, u64)>, sx: f64, y0: f64, y1: f64| {
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        let n = ((y1 - y0) / grid).ceil().min(1000.0) as usize;
        out.extend((0..=n).map(|i| (sx, y0 + (y1 - y0) * i as f64 / n.max(1) as f64, 1)));
    };
    for run in prep.bands.iter().flatten() {
        let cols: Vec<(f64, f64, f64)> = run
            .iter()
            .map(|&(x, lo, hi)| {
                let (sx, y0) = at((x, hi));
                (sx, y0, lo.map_or(bottom, |v| at((x, v)).1))
            })
            .collect();
        if let Some(&(sx, y0, y1)) = cols.last() {
            column(&mut out, sx, y0, y1);
        }
        for pair in cols.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let n = ((b.0 - a.0).abs() / grid).ceil().min(1000.0) as usize;
            for i in 0..n.max(1) {
                let t = i as f64 / n.max(1) as f64;
                column(&mut out, a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, a.2 + (b.2 - a.2) * t);
            }
        }
    }
    out.extend(prep.markers.iter().flatten().map(|&p| {
        let (x, y) = at(p);
        (x, y, 8)
    }));
    out
}

/// The place for `fig`'s legend: its own, or for [`LegendPos::Auto`] the place whose box covers
/// the least data (bands count over their whole area), the four corners first, then the middle
/// of the left or right side and seven places along the top edge, a place taken only when it
/// covers less than every earlier one. Decided on the PNG's geometry, so both files agree.
fn choose(
    fig: &Figure,
    prep: &Prepared,
    g: Geometry,
    plot: (i32, i32),
    map: impl Fn((f64, f64)) -> Pixel,
) -> LegendPos {
    if fig.legend_pos != LegendPos::Auto {
        return fig.legend_pos;
    }
    let samples = data_samples(prep, f64::from(plot.1), map);
    let m = 8.0 * f64::from(SS);
    let mut best = (u64::MAX, LegendPos::UpperRight);
    let places = [
        LegendPos::UpperRight,
        LegendPos::UpperLeft,
        LegendPos::LowerLeft,
        LegendPos::LowerRight,
        LegendPos::Left,
        LegendPos::Right,
    ]
    .into_iter()
    .chain((1..8).map(LegendPos::Top));
    for pos in places {
        let (x, y) = corner(pos, g.w, g.h, plot);
        let (x, y, w, h) = (f64::from(x), f64::from(y), f64::from(g.w), f64::from(g.h));
        let score: u64 = samples
            .iter()
            .filter(|&&(sx, sy, _)| sx >= x - m && sx <= x + w + m && sy >= y - m && sy <= y + h + m)
            .map(|&(_, _, weight)| weight)
            .sum();
        // A place other than a corner only when it covers less than every corner (a corner
        // wins ties): it sits over the data a corner keeps clear of.
        if score < best.0 {
            best = (score, pos);
        }
    }
    best.1
}

/// What a legend sample shows, owned (plotters keeps the sample closures as long as
/// the chart).
#[derive(Debug, Clone, Copy)]
struct Sample {
    color: RGBColor,
    /// `None` for a highlighted marker (a diamond).
    style: Option<LineStyle>,
    band: bool,
    shape: Option<Shape>,
    hollow: bool,
    /// Font scale (legend font / [`LEGEND_PX`]).
    k: f64,
    backend: Backend,
}

impl Sample {
    fn new(fig: &Figure, entry: Entry, k: f64, backend: Backend) -> Sample {
        match entry {
            Entry::Marker(i) => {
                Sample { color: fig.markers[i].color, style: None, band: false, shape: None, hollow: false, k, backend }
            }
            Entry::Series(i) => {
                let s = &fig.series[i];
                Sample {
                    color: s.color,
                    style: Some(s.style()),
                    band: s.band.is_some(),
                    shape: s.shape(),
                    hollow: s.hollow(),
                    k,
                    backend,
                }
            }
        }
    }

    /// Draws the sample on `area` with the left end of its sample area at `at`, the
    /// middle height of the row's digits.
    fn draw<DB: DrawingBackend>(self, area: &DrawingArea<DB, Shift>, at: Pixel) -> Result<(), String> {
        let (x0, x1) = (at.0, at.0 + px(LEGEND_SAMPLE * self.k));
        let mid = ((x0 + x1) / 2, at.1);
        let Some(style) = self.style else {
            return diamond(area, mid, self.color, self.backend);
        };
        let ink = RGBAColor(self.color.0, self.color.1, self.color.2, 1.0);
        if self.band {
            let half = px(LEGEND_BAND_HALF * self.k);
            let band = Rectangle::new([(x0, at.1 - half), (x1, at.1 + half)], self.color.mix(BAND_ALPHA).filled());
            area.draw(&band).map_err(err)?;
        }
        // Three dashes centred in the sample, or a solid line.
        let (on, off) = (px(LEGEND_DASH.0 * self.k), px(LEGEND_DASH.1 * self.k));
        let (inset, dash) = match style {
            LineStyle::Dashed => ((x1 - x0 - 3 * on - 2 * off) / 2, Some((on, off))),
            _ => (px(2.0), None),
        };
        if style != LineStyle::MarkersOnly {
            let ends = [(x0 + inset, at.1), (x1 - inset, at.1)];
            let width = px(if style == LineStyle::Dashed { THEORY_PX } else { LINE_PX });
            let pen = ink.stroke_width(width as u32);
            match (self.backend, dash) {
                (Backend::Svg, None) => area.draw(&PathElement::new(ends.to_vec(), pen)).map_err(err)?,
                (Backend::Svg, Some((on, off))) => {
                    area.draw(&DashedPathElement::new(ends, on, off, pen)).map_err(err)?;
                }
                (Backend::Bitmap, dash) => {
                    let pts = ends.map(|(x, y)| (f64::from(x), f64::from(y)));
                    let dash = dash.map(|(on, off)| (f64::from(on), f64::from(off)));
                    line(area, &pts, f64::from(width), ink, dash)?;
                }
            }
        }
        match self.shape {
            Some(shape) => marker(area, mid, shape, self.color, self.hollow),
            None => Ok(()),
        }
    }
}

/// Draws the legend of `fig` on `chart` (nothing when no series or marker has a
/// label).
pub(super) fn draw<'a, DB: DrawingBackend + 'a>(
    root: &DrawingArea<DB, Shift>,
    chart: &mut Chart<'a, DB>,
    fig: &Figure,
    prep: &Prepared,
    lay: &Layout,
    backend: Backend,
) -> Result<(), String> {
    let mut rows = entries(fig);
    if rows.is_empty() {
        return Ok(());
    }
    let map = |p: (f64, f64)| {
        let (x, y) = chart.backend_coord(&p);
        let (x0, y0) = chart.plotting_area().get_base_pixel();
        (x - x0, y - y0)
    };
    // A series hidden (in whole or in part) under a later one says so in its label.
    let at = |p: (f64, f64)| {
        let (x, y) = map(p);
        (f64::from(x), f64::from(y))
    };
    let hidden = overlap::notes(fig, prep, at, HIDDEN_WITHIN * MARKER_R * f64::from(SS));
    for (entry, label) in &mut rows {
        if let Entry::Series(i) = *entry {
            label.push_str(&hidden[i]);
        }
    }
    let labels: Vec<&str> = rows.iter().map(|(_, l)| l.as_str()).collect();
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    // The plot area reaches one pixel past the frame (see `render::plot_rect`).
    let plot = (pw as i32 - 1, ph as i32 - 1);
    let below = lay.legend_below.filter(|_| fig.legend_pos == LegendPos::Below);
    let size = match below {
        // Below the plot the whole canvas width is free.
        Some(_) => font_px(&labels, ((WIDTH * SS) as i32, plot.1.max((HEIGHT * SS) as i32))),
        None => font_px(&labels, plot),
    };
    let pos = choose(fig, prep, geometry(&labels, size, Backend::Bitmap), plot, map);
    let g = geometry(&labels, size, backend);
    let rows: Vec<(Sample, String)> =
        rows.into_iter().map(|(entry, label)| (Sample::new(fig, entry, size / LEGEND_PX, backend), label)).collect();
    match below {
        // Below the frame: on a chart of its own (plotters clips the box to the chart's area),
        // a strip of the canvas' width, the box centred on the plot and kept on the canvas.
        Some(top) => {
            let (w, h) = ((WIDTH * SS) as i32, (HEIGHT * SS) as i32);
            let top = px(top);
            let mut strip = ChartBuilder::on(root)
                .margin_top(top)
                .margin_bottom((h - top - g.h - 2).max(0))
                .build_cartesian_2d(lay.x.coord(), lay.y.coord())
                .map_err(err)?;
            let centre = px((lay.left + lay.right) / 2.0) - g.w / 2;
            let x = centre.clamp(px(LEGEND_INSET), (w - g.w - px(LEGEND_INSET)).max(px(LEGEND_INSET)));
            emit(&mut strip, rows, g, size, (x, 0), backend)
        }
        None => emit(chart, rows, g, size, corner(pos, g.w, g.h, plot), backend),
    }
}

/// Draws the legend `rows` with plotters' series labels on `chart`, the box's top-left corner at
/// `(x, y)` relative to its plotting area.
fn emit<'b, DB: DrawingBackend + 'b>(
    chart: &mut Chart<'b, DB>,
    rows: Vec<(Sample, String)>,
    g: Geometry,
    size: f64,
    (x, y): Pixel,
    backend: Backend,
) -> Result<(), String> {
    // plotters centres a sample on the text's box; move it to the middle of the digits.
    let font = style(size, LEGEND_INK, backend);
    let box_h = f64::from(font.font.box_size("1").map_or(0, |(_, h)| h));
    let dy = baseline_offset(size, VPos::Top, backend) - CAP * size * f64::from(SS) / 2.0 - box_h / 2.0;
    let dy = dy.round() as i32;
    // plotters lays out the rows and hands each sample closure its position; the
    // closures note it, and the samples are drawn there afterwards.
    let spots: Rc<RefCell<Vec<(Sample, Pixel)>>> = Rc::default();
    for (sample, label) in rows {
        let spots = Rc::clone(&spots);
        chart.draw_series(std::iter::empty::<EmptyElement<(f64, f64), DB>>()).map_err(err)?.label(label).legend(
            move |(sx, sy)| {
                spots.borrow_mut().push((sample, (sx, sy + dy)));
                EmptyElement::at((sx, sy))
            },
        );
    }
    // The one-pixel border is drawn three drawing pixels wide around its coordinate:
    // one pixel in, it fills whole final pixels.
    let border = ShapeStyle { color: LEGEND_BORDER, filled: false, stroke_width: backend.stroke_width(1.0) };
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(x + 1, y + 1))
        .margin(g.margin)
        .legend_area_size(g.area)
        .background_style(LEGEND_FILL.filled())
        .border_style(border)
        .label_font(font)
        .draw()
        .map_err(err)?;
    let area = chart.plotting_area().strip_coord_spec();
    let spots = spots.borrow();
    spots.iter().try_for_each(|&(sample, at)| sample.draw(&area, at))
}
