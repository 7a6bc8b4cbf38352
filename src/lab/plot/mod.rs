//! Publication figures: one log–log plot helper shared by every experiment.
//!
//! A [`Figure`] holds data series (solid or dashed, optional markers and a
//! translucent min–max band), special [`Marker`] symbols (for example the predicted
//! optimal step) and a one-line caption. [`render_to_bytes`] draws it as a
//! 1600×1000 PNG and an SVG with the same layout; [`render`] writes both files
//! atomically.
//!
//! Axes are logarithmic by default with ticks at whole decades only, labelled
//! `1e-8`, `1e0`, …; the axis range is the finite data range padded outward to whole
//! decades. A linear y axis (`y_log = false`) is supported for quantities such as
//! fractions in `[0, 1]`. Points that cannot be shown (non-finite, or `<= 0` on a log
//! axis) are skipped, break the polyline, and are counted in [`PlotStats`].
//!
//! # Determinism
//! Text is drawn with DejaVu Sans embedded in the binary
//! (`assets/fonts/DejaVuSans.ttf`, licence in `assets/fonts/LICENSE-DejaVu.txt`); no
//! system font is read, so the same [`Figure`] gives byte-identical PNG and SVG output
//! on every machine (with the crate versions pinned in `Cargo.lock`). The SVG names the font family (`DejaVu Sans` first, then
//! look-alikes), so how an SVG *viewer* draws its text depends on the fonts it has.
//!
//! The PNG is drawn at 3× resolution and box-filtered down, which anti-aliases lines
//! and markers (the plotters bitmap backend does not anti-alias shapes itself).

use std::fmt::Debug;
use std::path::Path;
use std::sync::OnceLock;

use plotters::backend::{BitMapBackend, DrawingBackend, SVGBackend};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontDesc, FontFamily, FontStyle, FontTransform, RGBAColor, RGBColor, ShapeStyle};

/// Width of the PNG in pixels (the SVG has the same nominal size).
pub const WIDTH: u32 = 1600;
/// Height of the PNG in pixels (the SVG has the same nominal size).
pub const HEIGHT: u32 = 1000;

/// Neutral grey for theory and reference lines; [`palette`] returns it for any name
/// that is not a known dtype.
pub const REFERENCE_GREY: RGBColor = RGBColor(0x6E, 0x6E, 0x6E);

/// How a series' line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineStyle {
    /// A continuous line (measured data).
    #[default]
    Solid,
    /// A dashed line (theory, reference slopes).
    Dashed,
    /// No line: markers only (drawn whatever [`Series::markers`] says), for
    /// scattered reference data.
    MarkersOnly,
}

/// One curve of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; an empty label keeps the series out of the legend.
    pub label: String,
    /// Line, marker and band colour; use [`palette`] for a colour fixed per dtype.
    pub color: RGBColor,
    /// `(x, y)` data points, drawn in the given order. Points that cannot be shown
    /// are skipped and break the line.
    pub points: Vec<(f64, f64)>,
    /// Solid, dashed or no line.
    pub style: LineStyle,
    /// Draw a marker symbol at every shown point. Series with markers (or
    /// [`LineStyle::MarkersOnly`]) get the shapes circle, square, triangle, inverted
    /// triangle in turn, in series order.
    pub markers: bool,
    /// Optional min–max band as `(x, lo, hi)` triples, drawn translucent under the
    /// line. On a log y axis a `lo <= 0` is drawn down to the bottom of the plot.
    pub band: Option<Vec<(f64, f64, f64)>>,
}

impl Series {
    /// A solid series without markers or band.
    pub fn new(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Series { label: label.into(), color, points, style: LineStyle::Solid, markers: false, band: None }
    }

    /// The same series drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.style = LineStyle::Dashed;
        self
    }

    /// Markers only, no line: scattered reference data.
    pub fn scatter(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Series { style: LineStyle::MarkersOnly, markers: true, ..Series::new(label, color, points) }
    }

    /// The same series with (`true`) or without markers.
    pub fn with_markers(mut self, markers: bool) -> Self {
        self.markers = markers;
        self
    }

    /// The same series with a min–max band of `(x, lo, hi)` triples.
    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = Some(band);
        self
    }
}

/// A single highlighted point, such as a predicted optimal step, drawn as a hollow
/// diamond on top of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// x coordinate (data units).
    pub x: f64,
    /// y coordinate (data units).
    pub y: f64,
    /// Legend text; `None` keeps the marker out of the legend.
    pub label: Option<String>,
    /// Outline colour.
    pub color: RGBColor,
}

/// Where the legend goes inside the plot area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegendPos {
    /// Top-left corner.
    UpperLeft,
    /// Top-right corner.
    UpperRight,
    /// Bottom-left corner.
    LowerLeft,
    /// Bottom-right corner.
    LowerRight,
    /// The corner that covers the fewest data (deterministic; ties go to
    /// upper right, upper left, lower left, lower right in that order).
    #[default]
    Auto,
}

/// Everything one plot shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Title above the plot, naming the setup.
    pub title: String,
    /// Title of the x axis.
    pub x_label: String,
    /// Title of the y axis.
    pub y_label: String,
    /// Curves, drawn in order (later series on top).
    pub series: Vec<Series>,
    /// Highlighted points, drawn on top of all series.
    pub markers: Vec<Marker>,
    /// One line under the plot. When `None` and some points were not shown, a note
    /// giving their number is printed instead.
    pub caption: Option<String>,
    /// Logarithmic x axis (default `true`).
    pub x_log: bool,
    /// Logarithmic y axis (default `true`); `false` gives a linear y axis.
    pub y_log: bool,
    /// Legend placement (default [`LegendPos::Auto`]).
    pub legend_pos: LegendPos,
}

impl Default for Figure {
    fn default() -> Self {
        Figure {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            markers: Vec::new(),
            caption: None,
            x_log: true,
            y_log: true,
            legend_pos: LegendPos::Auto,
        }
    }
}

impl Figure {
    /// An empty log–log figure with the given title and axis titles.
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Figure { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Figure::default() }
    }

    /// Number of series points that [`render`] will not show (the value it reports
    /// as [`PlotStats::dropped`]); useful to write a caption before rendering.
    pub fn count_dropped(&self) -> usize {
        self.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|&&(x, y)| to_axis(x, self.x_log).is_none() || to_axis(y, self.y_log).is_none())
            .count()
    }
}

/// What [`render`] could not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlotStats {
    /// Series points not shown: x or y NaN or infinite, or `<= 0` on a log axis.
    pub dropped: usize,
    /// Band triples and [`Marker`]s not shown, for the same reasons (a band `lo <= 0`
    /// on a log axis is still shown, reaching the bottom of the plot).
    pub dropped_other: usize,
}

/// The colour of a dtype, the same in every figure (Okabe–Ito colour-blind-safe
/// palette, plus Tol's wine for other MPFR precisions).
///
/// `"f16"` vermillion, `"bf16"` orange, `"f32"` bluish green, `"f64"` blue,
/// `"mpfr:113"` reddish purple, `"mpfr:128"` sky blue, `"mpfr:256"` black, any other
/// `"mpfr:*"` wine; every other name (for example `"theory"`, `"reference"`) gives
/// [`REFERENCE_GREY`]. Matching ignores case and surrounding spaces.
pub fn palette(dtype_name: &str) -> RGBColor {
    let name = dtype_name.trim().to_ascii_lowercase();
    match name.as_str() {
        "f16" => RGBColor(0xD5, 0x5E, 0x00),
        "bf16" => RGBColor(0xE6, 0x9F, 0x00),
        "f32" => RGBColor(0x00, 0x9E, 0x73),
        "f64" => RGBColor(0x00, 0x72, 0xB2),
        "mpfr:113" => RGBColor(0xCC, 0x79, 0xA7),
        "mpfr:128" => RGBColor(0x56, 0xB4, 0xE9),
        "mpfr:256" => RGBColor(0x00, 0x00, 0x00),
        n if n.starts_with("mpfr") => RGBColor(0x88, 0x22, 0x55),
        _ => REFERENCE_GREY,
    }
}

/// Draws `fig` and returns the PNG file bytes (1600×1000 RGB), the SVG text and the
/// statistics, without touching the output folder.
///
/// The PNG is encoded in memory.
///
/// # Errors
/// A message when the embedded font cannot be loaded or drawing or encoding fails.
pub fn render_to_bytes(fig: &Figure) -> Result<(Vec<u8>, String, PlotStats), String> {
    ensure_font()?;
    let prep = prepare(fig);
    let layout = layout(fig, &prep);
    let png = render_png(fig, &prep, &layout)?;
    let svg = render_svg(fig, &prep, &layout)?;
    Ok((png, svg, prep.stats))
}

/// Draws `fig` to `png_path` and `svg_path`. Each file is written to a temporary
/// file in its folder and renamed into place, so readers never see half a file.
///
/// # Errors
/// A message when drawing fails or a file cannot be written (the folders must exist).
pub fn render(fig: &Figure, png_path: &Path, svg_path: &Path) -> Result<PlotStats, String> {
    let (png, svg, stats) = render_to_bytes(fig)?;
    crate::atomic::write(png_path, &png).map_err(|e| e.to_string())?;
    crate::atomic::write(svg_path, svg.as_bytes()).map_err(|e| e.to_string())?;
    Ok(stats)
}

// ---------------------------------------------------------------------------------
// Font

/// DejaVu Sans 2.37 (Debian `fonts-dejavu-core`), Bitstream Vera licence.
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Family used for all text. The bitmap backend looks it up in plotters' font table
/// (where the embedded font is registered under this name); the SVG backend writes
/// it verbatim into `font-family`, where it is a valid CSS fallback list.
const FAMILY: &str = "DejaVu Sans, Bitstream Vera Sans, Verdana, sans-serif";

// DejaVu Sans vertical metrics as fractions of plotters' font "size". ab_glyph scales
// a font so that ascent - descent (hhea: 1901 + 483 = 2384 units, 2048 per em)
// equals the size in pixels.
const EM: f64 = 2048.0 / 2384.0;
const ASC: f64 = 1901.0 / 2384.0;
const DESC: f64 = 483.0 / 2384.0;
const CAP: f64 = 1493.0 / 2384.0;

fn ensure_font() -> Result<(), String> {
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

/// Width in final pixels of `text` at `size` (measured at the drawing resolution).
fn text_width(text: &str, size: f64) -> f64 {
    FontDesc::new(FontFamily::Name(FAMILY), size * SSF, FontStyle::Normal)
        .box_size(text)
        .map(|(w, _)| f64::from(w) / SSF)
        .unwrap_or(0.6 * size * text.chars().count() as f64)
}

// ---------------------------------------------------------------------------------
// Data preparation

/// A value on an axis: `log10(v)` on a log axis, `v` on a linear one; `None` when it
/// cannot be shown.
fn to_axis(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() || (log && v <= 0.0) {
        None
    } else if log {
        Some(v.log10())
    } else {
        Some(v)
    }
}

/// One band sample in axis units; `lo == None` means "down to the bottom of the plot".
type BandPoint = (f64, Option<f64>, f64);

struct Prepared {
    /// Per series: runs of consecutive shown points, in axis units.
    runs: Vec<Vec<Vec<(f64, f64)>>>,
    /// Per series: runs of consecutive shown band samples.
    bands: Vec<Vec<Vec<BandPoint>>>,
    /// Per figure marker: its position in axis units, if shown.
    markers: Vec<Option<(f64, f64)>>,
    stats: PlotStats,
    /// Data extent in axis units over everything shown.
    x_extent: Option<(f64, f64)>,
    y_extent: Option<(f64, f64)>,
}

impl Prepared {
    fn is_empty(&self) -> bool {
        self.x_extent.is_none()
    }
}

fn widen(extent: &mut Option<(f64, f64)>, v: f64) {
    *extent = Some(match *extent {
        None => (v, v),
        Some((lo, hi)) => (lo.min(v), hi.max(v)),
    });
}

fn prepare(fig: &Figure) -> Prepared {
    let mut stats = PlotStats::default();
    let mut x_extent = None;
    let mut y_extent = None;
    let mut runs = Vec::with_capacity(fig.series.len());
    let mut bands = Vec::with_capacity(fig.series.len());

    for s in &fig.series {
        let mut series_runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current = Vec::new();
        for &(x, y) in &s.points {
            match (to_axis(x, fig.x_log), to_axis(y, fig.y_log)) {
                (Some(tx), Some(ty)) => {
                    widen(&mut x_extent, tx);
                    widen(&mut y_extent, ty);
                    current.push((tx, ty));
                }
                _ => {
                    stats.dropped += 1;
                    if !current.is_empty() {
                        series_runs.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            series_runs.push(current);
        }
        runs.push(series_runs);

        let mut band_runs: Vec<Vec<BandPoint>> = Vec::new();
        let mut current: Vec<BandPoint> = Vec::new();
        for &(x, lo, hi) in s.band.as_deref().unwrap_or(&[]) {
            let t_lo = match to_axis(lo, fig.y_log) {
                Some(v) => Some(Some(v)),
                None if fig.y_log && lo <= 0.0 => Some(None),
                None => None,
            };
            match (to_axis(x, fig.x_log), t_lo, to_axis(hi, fig.y_log)) {
                (Some(tx), Some(t_lo), Some(t_hi)) => {
                    widen(&mut x_extent, tx);
                    widen(&mut y_extent, t_hi);
                    if let Some(v) = t_lo {
                        widen(&mut y_extent, v);
                    }
                    current.push((tx, t_lo, t_hi));
                }
                _ => {
                    stats.dropped_other += 1;
                    if !current.is_empty() {
                        band_runs.push(std::mem::take(&mut current));
                    }
                }
            }
        }
        if !current.is_empty() {
            band_runs.push(current);
        }
        bands.push(band_runs);
    }

    let markers = fig
        .markers
        .iter()
        .map(|m| match (to_axis(m.x, fig.x_log), to_axis(m.y, fig.y_log)) {
            (Some(tx), Some(ty)) => {
                widen(&mut x_extent, tx);
                widen(&mut y_extent, ty);
                Some((tx, ty))
            }
            _ => {
                stats.dropped_other += 1;
                None
            }
        })
        .collect();

    // Keep both extents consistent: there is data on both axes or on neither.
    if x_extent.is_none() || y_extent.is_none() {
        x_extent = None;
        y_extent = None;
    }
    Prepared { runs, bands, markers, stats, x_extent, y_extent }
}

// ---------------------------------------------------------------------------------
// Axes

struct Tick {
    /// Position in axis units.
    at: f64,
    /// Text of the tick label, if this tick is labelled.
    label: Option<String>,
}

struct Axis {
    /// Shown range in axis units.
    lo: f64,
    hi: f64,
    /// Major ticks (whole decades on a log axis) with grid lines.
    major: Vec<Tick>,
    /// Minor ticks (2..9 × 10^k on a log axis), without labels or grid lines.
    minor: Vec<f64>,
}

/// Range in axis units (decades on a log axis) of an axis showing `extent`.
fn axis_range(extent: Option<(f64, f64)>, log: bool) -> (f64, f64) {
    match (extent, log) {
        (None, true) => (-8.0, 0.0),
        (None, false) => (0.0, 1.0),
        (Some((a, b)), true) => {
            // Pad outward to whole decades. Data on (or within a few pixels of) a
            // decade gets one more decade, so that curves saturating at e.g. 1e0 do
            // not merge with the frame; a single value gets at least one each side.
            let pad = (0.01 * (b - a)).max(0.01);
            ((a - pad).floor(), (b + pad).ceil())
        }
        (Some((a, b)), false) => {
            let span = b - a;
            let pad = if span > 0.0 { 0.04 * span } else { (0.1 * a.abs()).max(0.5) };
            let (lo, hi) = (a - pad, b + pad);
            if (hi - lo).is_finite() && hi > lo {
                (lo, hi)
            } else {
                (a.max(-f64::MAX / 4.0), b.min(f64::MAX / 4.0).max(a + 1.0))
            }
        }
    }
}

fn decade_label(n: i64) -> String {
    format!("1e{n}")
}

/// Log-axis ticks for `lo..hi` decades on a `length`-pixel axis. `label_extent`
/// gives the space (px along the axis) a label needs, including the gap.
fn log_ticks(lo: f64, hi: f64, length: f64, label_extent: impl Fn(&str) -> f64) -> Axis {
    let (first, last) = (lo.round() as i64, hi.round() as i64);
    let span = (last - first).max(1);
    let per_decade = length / span as f64;
    let need = (first..=last).map(|n| label_extent(&decade_label(n))).fold(0.0, f64::max);
    const STEPS: [i64; 13] = [1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];
    let min_step = if span > 12 { 2 } else { 1 };
    let step = STEPS
        .iter()
        .copied()
        .find(|&k| k >= min_step && k as f64 * per_decade >= need)
        .unwrap_or_else(|| (span + 1).max(1));
    let show_unlabelled = per_decade >= 6.0;
    let mut major = Vec::new();
    for n in first..=last {
        let labelled = n.rem_euclid(step) == 0;
        if labelled || show_unlabelled {
            major.push(Tick { at: n as f64, label: labelled.then(|| decade_label(n)) });
        }
    }
    let mut minor = Vec::new();
    if per_decade >= 60.0 {
        for n in first..last {
            for m in 2..=9 {
                minor.push(n as f64 + f64::from(m).log10());
            }
        }
    }
    Axis { lo: first as f64, hi: last as f64, major, minor }
}

/// Label of `k × mantissa × 10^exp` with no floating-point noise.
fn linear_label(k: i64, mantissa: i64, exp: i32) -> String {
    let mut digits = k * mantissa;
    if digits == 0 {
        return "0".to_string();
    }
    let mut exp = exp;
    while digits % 10 == 0 {
        digits /= 10;
        exp += 1;
    }
    let neg = digits < 0;
    let s = digits.unsigned_abs().to_string();
    let sign = if neg { "-" } else { "" };
    let len = s.len() as i32;
    if (-4..=5).contains(&(exp + len - 1)) {
        // Plain decimal notation.
        if exp >= 0 {
            format!("{sign}{s}{}", "0".repeat(exp as usize))
        } else if -exp < len {
            let (int, frac) = s.split_at((len + exp) as usize);
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{s}", "0".repeat((-exp - len) as usize))
        }
    } else {
        let (head, tail) = s.split_at(1);
        let e = exp + len - 1;
        if tail.is_empty() {
            format!("{sign}{head}e{e}")
        } else {
            format!("{sign}{head}.{tail}e{e}")
        }
    }
}

/// Linear-axis ticks at 1, 2 or 5 × 10^k steps inside `lo..hi`.
fn linear_ticks(lo: f64, hi: f64, length: f64, label_extent: impl Fn(&str) -> f64) -> Axis {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let first_exp = (span / 10.0).log10().floor() as i32;
    let candidates: Vec<(i64, i32)> =
        (first_exp..first_exp.saturating_add(6)).flat_map(|e| [1_i64, 2, 5].map(|m| (m, e))).collect();
    let ticks_for = |m: i64, e: i32| -> Vec<(f64, String)> {
        let step = m as f64 * 10f64.powi(e);
        let (k0, k1) = ((lo / step).ceil(), (hi / step).floor());
        if !(step > 0.0 && k0.is_finite() && k1.is_finite() && k1 - k0 <= 1000.0) {
            return Vec::new();
        }
        (k0 as i64..=k1 as i64).map(|k| (k as f64 * step, linear_label(k, m, e))).collect()
    };
    let mut chosen = Vec::new();
    for &(m, e) in &candidates {
        let ticks = ticks_for(m, e);
        let step_px = m as f64 * 10f64.powi(e) / span * length;
        let need = ticks.iter().map(|(_, l)| label_extent(l)).fold(0.0, f64::max);
        chosen = ticks;
        if step_px >= need && chosen.len() <= 8 {
            break;
        }
    }
    let major = chosen.into_iter().map(|(at, l)| Tick { at, label: Some(l) }).collect();
    Axis { lo, hi, major, minor: Vec::new() }
}

// ---------------------------------------------------------------------------------
// Layout (all in final 1600×1000 pixels)

const TITLE_PX: f64 = 40.0;
const LABEL_PX: f64 = 30.0;
const TICK_PX: f64 = 24.0;
const LEGEND_PX: f64 = 24.0;
const CAPTION_PX: f64 = 24.0;

const LINE_PX: f64 = 3.0;
const DASH_ON: f64 = 14.0;
const DASH_OFF: f64 = 9.0;
const MARKER_R: f64 = 6.5;
const DIAMOND_R: f64 = 13.0;
const BAND_ALPHA: f64 = 0.2;

const LEGEND_PAD: f64 = 12.0;
const LEGEND_ROW: f64 = 36.0;
const LEGEND_SAMPLE: f64 = 58.0;
const LEGEND_GAP: f64 = 12.0;
const LEGEND_INSET: f64 = 14.0;
const LEGEND_COL_GAP: f64 = 24.0;

struct TextItem {
    text: String,
    /// Anchor x (per `h`) for horizontal text; baseline x for rotated text.
    x: f64,
    /// Baseline y for horizontal text; centre y for rotated text.
    y: f64,
    size: f64,
    h: HPos,
    /// Rotated 90° counter-clockwise (reads bottom to top).
    rotated: bool,
    color: RGBColor,
}

enum LegendKind {
    Series(usize),
    Marker(usize),
}

struct Legend {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    /// Font size; rows and columns scale with it.
    size: f64,
    /// Entries per column (filled column by column).
    rows: usize,
    col_w: f64,
    row_h: f64,
    entries: Vec<(LegendKind, String)>,
}

struct Layout {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x: Axis,
    y: Axis,
    texts: Vec<TextItem>,
    /// Every series with markers gets the next shape.
    shapes: Vec<Option<Shape>>,
    legend: Option<Legend>,
}

impl Layout {
    fn sx(&self, v: f64) -> f64 {
        self.left + (v - self.x.lo) / (self.x.hi - self.x.lo) * (self.right - self.left)
    }
    fn sy(&self, v: f64) -> f64 {
        self.bottom - (v - self.y.lo) / (self.y.hi - self.y.lo) * (self.bottom - self.top)
    }
    fn screen(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (self.sx(x), self.sy(y))
    }
}

/// Centre for a text `width` wide near `centre`, kept within `lo..hi` if it fits.
fn centre_within(centre: f64, width: f64, lo: f64, hi: f64) -> f64 {
    if width >= hi - lo {
        (lo + hi) / 2.0
    } else {
        centre.clamp(lo + width / 2.0, hi - width / 2.0)
    }
}

/// Largest size <= `size` at which `text` fits in `max_w` pixels.
fn fit(text: &str, size: f64, max_w: f64) -> f64 {
    let w = text_width(text, size);
    if w <= max_w || w <= 0.0 {
        size
    } else {
        (size * max_w / w).max(size * 0.5)
    }
}

fn caption_text(fig: &Figure, prep: &Prepared) -> Option<String> {
    let note = if prep.stats.dropped > 0 {
        let n = prep.stats.dropped;
        Some(format!(
            "{n} point{} not shown (NaN, infinite, or \u{2264} 0 on a log axis)",
            if n == 1 { "" } else { "s" }
        ))
    } else {
        None
    };
    let caption = fig.caption.clone().filter(|c| !c.trim().is_empty()).or(note);
    if prep.is_empty() {
        Some(match caption {
            Some(c) => format!("no finite points \u{2014} {c}"),
            None => "no finite points".to_string(),
        })
    } else {
        caption
    }
}

fn layout(fig: &Figure, prep: &Prepared) -> Layout {
    let w = f64::from(WIDTH);
    let h = f64::from(HEIGHT);
    let dark = RGBColor(0x20, 0x20, 0x20);
    let mut texts = Vec::new();

    // Vertical: title, plot, tick labels, x-axis title, caption.
    let has_title = !fig.title.trim().is_empty();
    let top = if !has_title {
        28.0
    } else {
        let size = fit(&fig.title, TITLE_PX, w - 40.0);
        let baseline = (14.0 + ASC * size).round();
        texts.push(TextItem {
            text: fig.title.clone(),
            x: 0.0, // centred over the plot once its width is known
            y: baseline,
            size,
            h: HPos::Center,
            rotated: false,
            color: RGBColor(0, 0, 0),
        });
        (baseline + DESC * size + 22.0).round()
    };
    let mut cursor = h - 12.0;
    if let Some(caption) = caption_text(fig, prep) {
        let size = fit(&caption, CAPTION_PX, w - 40.0);
        let baseline = (cursor - DESC * size).round();
        texts.push(TextItem {
            text: caption,
            x: w / 2.0,
            y: baseline,
            size,
            h: HPos::Center,
            rotated: false,
            color: RGBColor(0x40, 0x40, 0x40),
        });
        cursor = baseline - ASC * size - 14.0;
    }
    let x_title_at = if fig.x_label.trim().is_empty() {
        None
    } else {
        let baseline = (cursor - DESC * LABEL_PX).round();
        cursor = baseline - CAP * LABEL_PX - 16.0;
        Some(baseline)
    };
    let bottom = (cursor - CAP * TICK_PX - 12.0).round();
    let plot_h = bottom - top;

    // y ticks depend on the plot height only.
    let (ylo, yhi) = axis_range(prep.y_extent, fig.y_log);
    let y_extent_px = |_: &str| 1.6 * TICK_PX;
    let y_axis =
        if fig.y_log { log_ticks(ylo, yhi, plot_h, y_extent_px) } else { linear_ticks(ylo, yhi, plot_h, y_extent_px) };
    let y_label_w =
        y_axis.major.iter().filter_map(|t| t.label.as_deref()).map(|l| text_width(l, TICK_PX)).fold(0.0, f64::max);

    // Horizontal: y-axis title, tick labels, plot.
    let mut x_cursor = 14.0;
    let y_title_x = if fig.y_label.trim().is_empty() {
        None
    } else {
        let baseline = (x_cursor + ASC * LABEL_PX).round();
        x_cursor = baseline + DESC * LABEL_PX + 14.0;
        Some(baseline)
    };
    let left = (x_cursor + y_label_w + 12.0).round();

    let (xlo, xhi) = axis_range(prep.x_extent, fig.x_log);
    // The last x tick label is centred on the right edge: leave room for half of it.
    let widest_x = if fig.x_log {
        (xlo.round() as i64..=xhi.round() as i64).map(|n| text_width(&decade_label(n), TICK_PX)).fold(0.0, f64::max)
    } else {
        text_width("-0.0000", TICK_PX)
    };
    let right = (w - (widest_x / 2.0 + 14.0).max(30.0)).round();
    let plot_w = right - left;
    let x_extent_px = |l: &str| text_width(l, TICK_PX) + 20.0;
    let x_axis =
        if fig.x_log { log_ticks(xlo, xhi, plot_w, x_extent_px) } else { linear_ticks(xlo, xhi, plot_w, x_extent_px) };

    // Titles centred on the plot, kept inside the canvas.
    let centre_x = (left + right) / 2.0;
    if let Some(t) = texts.first_mut().filter(|_| has_title) {
        t.x = centre_within(centre_x, text_width(&t.text, t.size), 20.0, w - 20.0);
    }
    if let Some(baseline) = x_title_at {
        let size = fit(&fig.x_label, LABEL_PX, w - 40.0);
        let half = text_width(&fig.x_label, size) / 2.0;
        texts.push(TextItem {
            text: fig.x_label.clone(),
            x: centre_within(centre_x, 2.0 * half, 20.0, w - 20.0),
            y: baseline,
            size,
            h: HPos::Center,
            rotated: false,
            color: dark,
        });
    }
    if let Some(baseline) = y_title_x {
        let size = fit(&fig.y_label, LABEL_PX, h - 40.0);
        let half = text_width(&fig.y_label, size) / 2.0;
        texts.push(TextItem {
            text: fig.y_label.clone(),
            x: baseline,
            y: centre_within((top + bottom) / 2.0, 2.0 * half, 20.0, h - 20.0),
            size,
            h: HPos::Center,
            rotated: true,
            color: dark,
        });
    }

    let mut next_shape = 0;
    let shapes = fig
        .series
        .iter()
        .map(|s| {
            (s.markers || s.style == LineStyle::MarkersOnly).then(|| {
                let shape = SHAPES[next_shape % SHAPES.len()];
                next_shape += 1;
                shape
            })
        })
        .collect();

    let mut out = Layout { left, top, right, bottom, x: x_axis, y: y_axis, texts, shapes, legend: None };
    out.legend = legend_layout(fig, prep, &out);
    out
}

fn legend_layout(fig: &Figure, prep: &Prepared, lay: &Layout) -> Option<Legend> {
    let mut entries = Vec::new();
    for (i, s) in fig.series.iter().enumerate() {
        if !s.label.trim().is_empty() {
            entries.push((LegendKind::Series(i), s.label.clone()));
        }
    }
    for (i, m) in fig.markers.iter().enumerate() {
        if let Some(l) = m.label.as_ref().filter(|l| !l.trim().is_empty()) {
            entries.push((LegendKind::Marker(i), l.clone()));
        }
    }
    if entries.is_empty() {
        return None;
    }
    // Up to three columns keep the legend within half the plot height; a smaller
    // font keeps it within the plot width.
    let n = entries.len();
    let (plot_w, plot_h) = (lay.right - lay.left - 2.0 * LEGEND_INSET, lay.bottom - lay.top);
    let mut cols = 1;
    while cols < 3 && LEGEND_PAD * 2.0 + LEGEND_ROW * n.div_ceil(cols) as f64 > 0.5 * plot_h {
        cols += 1;
    }
    let rows = n.div_ceil(cols);
    let cols = n.div_ceil(rows);
    let mut size = LEGEND_PX;
    let (mut w, mut h, mut col_w, mut row_h);
    loop {
        let k = size / LEGEND_PX;
        let text_w = entries.iter().map(|(_, l)| text_width(l, size)).fold(0.0, f64::max);
        col_w = (LEGEND_SAMPLE + LEGEND_GAP) * k + text_w + LEGEND_COL_GAP;
        row_h = LEGEND_ROW * k;
        w = (LEGEND_PAD * 2.0 + col_w * cols as f64 - LEGEND_COL_GAP).ceil();
        h = (LEGEND_PAD * 2.0 + row_h * rows as f64).ceil();
        if w <= plot_w || size <= 0.6 * LEGEND_PX {
            break;
        }
        size = (size * 0.92).max(0.6 * LEGEND_PX);
    }
    let corner = |pos: LegendPos| -> (f64, f64) {
        let xl = lay.left + LEGEND_INSET;
        let xr = lay.right - LEGEND_INSET - w;
        let yt = lay.top + LEGEND_INSET;
        let yb = lay.bottom - LEGEND_INSET - h;
        match pos {
            LegendPos::UpperLeft => (xl, yt),
            LegendPos::LowerLeft => (xl, yb),
            LegendPos::LowerRight => (xr, yb),
            LegendPos::UpperRight | LegendPos::Auto => (xr, yt),
        }
    };
    let pos = if fig.legend_pos == LegendPos::Auto {
        let samples = data_samples(prep, lay);
        let order = [LegendPos::UpperRight, LegendPos::UpperLeft, LegendPos::LowerLeft, LegendPos::LowerRight];
        let mut best = (u64::MAX, LegendPos::UpperRight);
        for p in order {
            let (x, y) = corner(p);
            let m = 8.0;
            let score: u64 = samples
                .iter()
                .filter(|&&(sx, sy, _)| sx >= x - m && sx <= x + w + m && sy >= y - m && sy <= y + h + m)
                .map(|&(_, _, weight)| weight)
                .sum();
            if score < best.0 {
                best = (score, p);
            }
        }
        best.1
    } else {
        fig.legend_pos
    };
    let (x, y) = corner(pos);
    Some(Legend { x: x.round(), y: y.round(), w, h, size, rows, col_w, row_h, entries })
}

/// Screen positions covered by data, with weights: lines and markers 4, band area 1.
fn data_samples(prep: &Prepared, lay: &Layout) -> Vec<(f64, f64, u64)> {
    let mut out = Vec::new();
    let step = 4.0;
    for runs in &prep.runs {
        for run in runs {
            let pts: Vec<_> = run.iter().map(|&p| lay.screen(p)).collect();
            out.extend(pts.iter().map(|&(x, y)| (x, y, 4)));
            for seg in pts.windows(2) {
                let (a, b) = (seg[0], seg[1]);
                let n = ((b.0 - a.0).hypot(b.1 - a.1) / step).ceil().min(10_000.0) as usize;
                for i in 1..n {
                    let t = i as f64 / n as f64;
                    out.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, 4));
                }
            }
        }
    }
    for bands in &prep.bands {
        for run in bands {
            for &(x, lo, hi) in run {
                let sx = lay.sx(x);
                let (y0, y1) = (lay.sy(hi), lo.map_or(lay.bottom, |v| lay.sy(v)));
                let (y0, y1) = (y0.min(y1), y0.max(y1));
                let n = ((y1 - y0) / 8.0).ceil().min(1000.0) as usize;
                for i in 0..=n {
                    out.push((sx, y0 + (y1 - y0) * i as f64 / n.max(1) as f64, 1));
                }
            }
        }
    }
    for &p in prep.markers.iter().flatten() {
        let (x, y) = lay.screen(p);
        out.push((x, y, 8));
    }
    out
}

// ---------------------------------------------------------------------------------
// Drawing

/// Supersampling factor of the PNG, and the coordinate scale of the SVG.
const SS: u32 = 3;
const SSF: f64 = SS as f64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Circle,
    Square,
    TriangleUp,
    TriangleDown,
}

const SHAPES: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::TriangleUp, Shape::TriangleDown];

fn err<E: Debug>(e: E) -> String {
    format!("plot drawing failed: {e:?}")
}

fn rgba(c: RGBColor, alpha: f64) -> RGBAColor {
    RGBAColor(c.0, c.1, c.2, alpha)
}

fn fill_style(c: RGBAColor) -> ShapeStyle {
    ShapeStyle { color: c, filled: true, stroke_width: 1 }
}

/// Drawing-resolution pixel of a final-pixel coordinate, kept far from `i32` limits
/// (plotters' rasterisers overflow there); off-canvas points stay off-canvas.
fn hi(v: f64) -> i32 {
    (v * SSF).round().clamp(-1e6, 1e6) as i32
}

/// Splits a polyline (screen pixels) into dashes of `on` pixels separated by `off`.
fn dashes(pts: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut drawing = true;
    let mut left = on;
    if let Some(&p) = pts.first() {
        current.push(p);
    }
    for seg in pts.windows(2) {
        let (mut a, b) = (seg[0], seg[1]);
        loop {
            let d = (b.0 - a.0).hypot(b.1 - a.1);
            if !d.is_finite() {
                break;
            }
            if d <= left {
                left -= d;
                if drawing {
                    current.push(b);
                }
                break;
            }
            let t = left / d;
            let p = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            if drawing {
                current.push(p);
                out.push(std::mem::take(&mut current));
                left = off;
            } else {
                current.push(p);
                left = on;
            }
            drawing = !drawing;
            a = p;
        }
    }
    if drawing && current.len() > 1 {
        out.push(current);
    }
    out
}

struct Painter<'a, DB: DrawingBackend> {
    db: &'a mut DB,
    svg: bool,
}

impl<DB: DrawingBackend> Painter<'_, DB> {
    /// Filled rectangle, final-pixel coordinates.
    fn rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: RGBAColor) -> Result<(), String> {
        self.db.draw_rect((hi(x0), hi(y0)), (hi(x1), hi(y1)), &fill_style(c), true).map_err(err)
    }

    /// A crisp line one or more whole final pixels wide: vertical when `vertical`,
    /// at final-pixel column/row `at`, spanning `from..to`.
    fn crisp(&mut self, vertical: bool, at: f64, from: f64, to: f64, px: u32, c: RGBAColor) -> Result<(), String> {
        let start = at.floor() - f64::from((px - 1) / 2);
        let end = start + f64::from(px);
        if vertical {
            self.rect(start, from, end, to, c)
        } else {
            self.rect(from, start, to, end, c)
        }
    }

    fn polygon(&mut self, pts: &[(f64, f64)], c: RGBAColor) -> Result<(), String> {
        if pts.len() < 3 {
            return Ok(());
        }
        let pts: Vec<_> = pts.iter().map(|&(x, y)| (hi(x), hi(y))).collect();
        self.db.fill_polygon(pts, &fill_style(c)).map_err(err)
    }

    fn disc(&mut self, (x, y): (f64, f64), r: f64, c: RGBAColor) -> Result<(), String> {
        let r = (r * SSF).round().max(1.0) as u32;
        self.db.draw_circle((hi(x), hi(y)), r, &fill_style(c), true).map_err(err)
    }

    /// Opaque polyline `width` final pixels wide with round joins and caps.
    fn polyline(&mut self, pts: &[(f64, f64)], width: f64, c: RGBColor) -> Result<(), String> {
        let mut p: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
        for &q in pts {
            if p.last().is_none_or(|&l| hi(l.0) != hi(q.0) || hi(l.1) != hi(q.1)) {
                p.push(q);
            }
        }
        if p.len() == 1 {
            return self.disc(p[0], width / 2.0, rgba(c, 1.0));
        }
        if self.svg {
            let style = ShapeStyle { color: rgba(c, 1.0), filled: false, stroke_width: (width * SSF).round() as u32 };
            let pts: Vec<_> = p.iter().map(|&(x, y)| (hi(x), hi(y))).collect();
            return self.db.draw_path(pts, &style).map_err(err);
        }
        // The bitmap backend polygonises thick paths with mitred joins, which breaks
        // on sharp turns and repeated points; draw each segment as a quad instead and
        // round the joins with discs.
        let half = width * SSF / 2.0;
        for seg in p.windows(2) {
            let (a, b) = ((seg[0].0 * SSF, seg[0].1 * SSF), (seg[1].0 * SSF, seg[1].1 * SSF));
            let len = (b.0 - a.0).hypot(b.1 - a.1);
            let (nx, ny) = (-(b.1 - a.1) / len * half, (b.0 - a.0) / len * half);
            let quad = [(a.0 + nx, a.1 + ny), (b.0 + nx, b.1 + ny), (b.0 - nx, b.1 - ny), (a.0 - nx, a.1 - ny)];
            let quad: Vec<_> = quad.iter().map(|&(x, y)| (hi(x / SSF), hi(y / SSF))).collect();
            self.db.fill_polygon(quad, &fill_style(rgba(c, 1.0))).map_err(err)?;
        }
        let r = ((width * SSF - 1.0) / 2.0).round().max(1.0) as u32;
        for &q in &p {
            self.db.draw_circle((hi(q.0), hi(q.1)), r, &fill_style(rgba(c, 1.0)), true).map_err(err)?;
        }
        Ok(())
    }

    fn line(
        &mut self,
        pts: &[(f64, f64)],
        style: LineStyle,
        width: f64,
        c: RGBColor,
        on: f64,
        off: f64,
    ) -> Result<(), String> {
        match style {
            LineStyle::MarkersOnly => Ok(()),
            LineStyle::Solid => self.polyline(pts, width, c),
            LineStyle::Dashed => {
                for dash in dashes(pts, on, off) {
                    self.polyline(&dash, width, c)?;
                }
                Ok(())
            }
        }
    }

    fn shape(&mut self, shape: Shape, (x, y): (f64, f64), r: f64, c: RGBAColor) -> Result<(), String> {
        match shape {
            Shape::Circle => self.disc((x, y), r, c),
            Shape::Square => {
                let s = r * 0.88;
                self.rect(x - s, y - s, x + s, y + s, c)
            }
            Shape::TriangleUp | Shape::TriangleDown => {
                let k = if shape == Shape::TriangleUp { 1.0 } else { -1.0 };
                let big = r * 1.3;
                let pts =
                    [(x, y - k * big), (x + big * 0.866, y + k * big * 0.5), (x - big * 0.866, y + k * big * 0.5)];
                self.polygon(&pts, c)
            }
        }
    }

    /// Series marker: the shape in colour on a thin white halo.
    fn marker(&mut self, shape: Shape, p: (f64, f64), c: RGBColor) -> Result<(), String> {
        self.shape(shape, p, MARKER_R + 1.5, rgba(RGBColor(255, 255, 255), 1.0))?;
        self.shape(shape, p, MARKER_R, rgba(c, 1.0))
    }

    /// Highlight marker: hollow diamond.
    fn diamond(&mut self, (x, y): (f64, f64), c: RGBColor) -> Result<(), String> {
        let r = DIAMOND_R;
        let pts = [(x, y - r), (x + r, y), (x, y + r), (x - r, y), (x, y - r)];
        self.polygon(&pts[..4], rgba(RGBColor(255, 255, 255), 0.85))?;
        self.polyline(&pts, 3.0, c)
    }

    fn text(&mut self, t: &TextItem) -> Result<(), String> {
        let size = t.size * SSF;
        // Distance from the anchor (top of plotters' text box) to the baseline, which
        // differs between the backends; the SVG font size is corrected so that both
        // use the same em size.
        let (font_size, to_baseline) = if self.svg { (size * 1.24 * EM, 0.76 * size * EM) } else { (size, size / 2.0) };
        let font = FontDesc::new(FontFamily::Name(FAMILY), font_size, FontStyle::Normal);
        let style = font.color(&t.color);
        let (style, pos) = if t.rotated {
            let style = style.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Top));
            (style, (hi(t.x - to_baseline / SSF), hi(t.y)))
        } else {
            let style = style.pos(Pos::new(t.h, VPos::Top));
            (style, (hi(t.x), hi(t.y - to_baseline / SSF)))
        };
        self.db.draw_text(&t.text, &style, pos).map_err(err)
    }
}

fn paint<DB: DrawingBackend>(
    db: &mut DB,
    fig: &Figure,
    prep: &Prepared,
    lay: &Layout,
    svg: bool,
) -> Result<(), String> {
    let mut p = Painter { db, svg };
    let white = rgba(RGBColor(255, 255, 255), 1.0);
    let black = rgba(RGBColor(0, 0, 0), 1.0);
    let grid = rgba(RGBColor(0, 0, 0), 0.11);
    p.rect(0.0, 0.0, f64::from(WIDTH), f64::from(HEIGHT), white)?;

    // Grid at major ticks.
    for t in &lay.x.major {
        let x = lay.sx(t.at);
        if x > lay.left + 1.0 && x < lay.right - 1.0 {
            p.crisp(true, x, lay.top, lay.bottom, 1, grid)?;
        }
    }
    for t in &lay.y.major {
        let y = lay.sy(t.at);
        if y > lay.top + 1.0 && y < lay.bottom - 1.0 {
            p.crisp(false, y, lay.left, lay.right, 1, grid)?;
        }
    }

    // Bands, then lines.
    for (s, bands) in fig.series.iter().zip(&prep.bands) {
        for run in bands.iter().filter(|r| r.len() >= 2) {
            let mut pts: Vec<(f64, f64)> = run.iter().map(|&(x, _, hi_v)| lay.screen((x, hi_v))).collect();
            pts.extend(run.iter().rev().map(|&(x, lo, _)| (lay.sx(x), lo.map_or(lay.bottom, |v| lay.sy(v)))));
            p.polygon(&pts, rgba(s.color, BAND_ALPHA))?;
        }
    }
    for ((s, runs), shape) in fig.series.iter().zip(&prep.runs).zip(&lay.shapes) {
        for run in runs {
            let pts: Vec<_> = run.iter().map(|&q| lay.screen(q)).collect();
            if pts.len() == 1 && shape.is_none() {
                // An isolated point would otherwise be invisible.
                p.disc(pts[0], LINE_PX * 1.2, rgba(s.color, 1.0))?;
            } else {
                p.line(&pts, s.style, LINE_PX, s.color, DASH_ON, DASH_OFF)?;
            }
        }
    }
    // Frame (covers line ends that touch it) and ticks.
    let (l, t, r, b) = (lay.left, lay.top, lay.right, lay.bottom);
    p.crisp(true, l, t - 1.0, b + 1.0, 2, black)?;
    p.crisp(true, r, t - 1.0, b + 1.0, 2, black)?;
    p.crisp(false, t, l - 1.0, r + 1.0, 2, black)?;
    p.crisp(false, b, l - 1.0, r + 1.0, 2, black)?;
    let major_len = |tick: &Tick| if tick.label.is_some() { 12.0 } else { 8.0 };
    for tick in &lay.x.major {
        let x = lay.sx(tick.at);
        let len = major_len(tick);
        p.crisp(true, x, b - len, b, 2, black)?;
        p.crisp(true, x, t, t + len, 2, black)?;
    }
    for &at in &lay.x.minor {
        let x = lay.sx(at);
        p.crisp(true, x, b - 5.0, b, 1, black)?;
        p.crisp(true, x, t, t + 5.0, 1, black)?;
    }
    for tick in &lay.y.major {
        let y = lay.sy(tick.at);
        let len = major_len(tick);
        p.crisp(false, y, l, l + len, 2, black)?;
        p.crisp(false, y, r - len, r, 2, black)?;
    }
    for &at in &lay.y.minor {
        let y = lay.sy(at);
        p.crisp(false, y, l, l + 5.0, 1, black)?;
        p.crisp(false, y, r - 5.0, r, 1, black)?;
    }
    // Markers on top of the frame, so that points on the axis range ends stay whole.
    for ((s, runs), shape) in fig.series.iter().zip(&prep.runs).zip(&lay.shapes) {
        if let Some(shape) = *shape {
            for &q in runs.iter().flatten() {
                p.marker(shape, lay.screen(q), s.color)?;
            }
        }
    }
    for (m, q) in fig.markers.iter().zip(&prep.markers) {
        if let Some(q) = q {
            p.diamond(lay.screen(*q), m.color)?;
        }
    }

    let tick_color = RGBColor(0x20, 0x20, 0x20);
    for tick in &lay.x.major {
        if let Some(label) = &tick.label {
            p.text(&TextItem {
                text: label.clone(),
                x: lay.sx(tick.at),
                y: (b + 12.0 + CAP * TICK_PX).round(),
                size: TICK_PX,
                h: HPos::Center,
                rotated: false,
                color: tick_color,
            })?;
        }
    }
    for tick in &lay.y.major {
        if let Some(label) = &tick.label {
            p.text(&TextItem {
                text: label.clone(),
                x: l - 12.0,
                y: (lay.sy(tick.at) + CAP * TICK_PX / 2.0).round(),
                size: TICK_PX,
                h: HPos::Right,
                rotated: false,
                color: tick_color,
            })?;
        }
    }
    for text in &lay.texts {
        p.text(text)?;
    }

    if let Some(lg) = &lay.legend {
        p.rect(lg.x, lg.y, lg.x + lg.w, lg.y + lg.h, rgba(RGBColor(255, 255, 255), 0.88))?;
        let border = rgba(RGBColor(0, 0, 0), 0.45);
        p.crisp(true, lg.x, lg.y, lg.y + lg.h + 1.0, 1, border)?;
        p.crisp(true, lg.x + lg.w, lg.y, lg.y + lg.h + 1.0, 1, border)?;
        p.crisp(false, lg.y, lg.x + 1.0, lg.x + lg.w, 1, border)?;
        p.crisp(false, lg.y + lg.h, lg.x + 1.0, lg.x + lg.w, 1, border)?;
        let k = lg.size / LEGEND_PX;
        for (i, (kind, label)) in lg.entries.iter().enumerate() {
            let (col, row) = (i / lg.rows, i % lg.rows);
            let cy = (lg.y + LEGEND_PAD + lg.row_h * (row as f64 + 0.5)).round();
            let x0 = lg.x + LEGEND_PAD + lg.col_w * col as f64;
            let x1 = x0 + LEGEND_SAMPLE * k;
            match *kind {
                LegendKind::Series(si) => {
                    let s = &fig.series[si];
                    if s.band.is_some() {
                        p.rect(x0, cy - 10.0 * k, x1, cy + 10.0 * k, rgba(s.color, BAND_ALPHA))?;
                    }
                    // Three dashes centred in the sample.
                    let (on, off) = (12.0 * k, 7.0 * k);
                    let inset = match s.style {
                        LineStyle::Dashed => (x1 - x0 - 3.0 * on - 2.0 * off) / 2.0,
                        _ => 2.0,
                    };
                    p.line(&[(x0 + inset, cy), (x1 - inset, cy)], s.style, LINE_PX, s.color, on, off)?;
                    if let Some(shape) = lay.shapes[si] {
                        p.marker(shape, ((x0 + x1) / 2.0, cy), s.color)?;
                    }
                }
                LegendKind::Marker(mi) => {
                    p.diamond(((x0 + x1) / 2.0, cy), fig.markers[mi].color)?;
                }
            }
            p.text(&TextItem {
                text: label.clone(),
                x: x1 + LEGEND_GAP * k,
                y: (cy + CAP * lg.size / 2.0).round(),
                size: lg.size,
                h: HPos::Left,
                rotated: false,
                color: RGBColor(0x10, 0x10, 0x10),
            })?;
        }
    }
    Ok(())
}

fn render_svg(fig: &Figure, prep: &Prepared, lay: &Layout) -> Result<String, String> {
    let (w, h) = (WIDTH * SS, HEIGHT * SS);
    let mut out = String::new();
    {
        let mut db = SVGBackend::with_string(&mut out, (w, h));
        paint(&mut db, fig, prep, lay, true)?;
        db.present().map_err(err)?;
    }
    // Drawn in 3× coordinates for sub-pixel precision; show it at the nominal size.
    let drawn = format!("<svg width=\"{w}\" height=\"{h}\" ");
    let shown = format!("<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" ");
    Ok(out.replacen(&drawn, &shown, 1))
}

fn render_png(fig: &Figure, prep: &Prepared, lay: &Layout) -> Result<Vec<u8>, String> {
    let (w, h) = (WIDTH * SS, HEIGHT * SS);
    let mut big = vec![255_u8; (w * h * 3) as usize];
    {
        let mut db = BitMapBackend::with_buffer(&mut big, (w, h));
        paint(&mut db, fig, prep, lay, false)?;
        db.present().map_err(err)?;
    }
    let small = downsample(&big, w as usize, h as usize, SS as usize);
    encode_png(&small)
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

/// Encodes a `WIDTH`×`HEIGHT` RGB image as PNG file bytes, in memory (the `png` crate with
/// fixed settings, so the same pixels always give the same bytes).
fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Default);
        let mut w = enc.write_header().map_err(|e| format!("encoding PNG: {e}"))?;
        w.write_image_data(rgb).map_err(|e| format!("encoding PNG: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v_curve(scale: f64, noise: f64) -> Vec<(f64, f64)> {
        (0..=48)
            .map(|i| {
                let h = 10f64.powf(-(i as f64) / 4.0);
                (h, (scale * h * h).max(noise / h))
            })
            .collect()
    }

    fn sample_figure() -> Figure {
        let mut fig = Figure::new("central difference, f(x) = exp(x)", "step h", "abs. error");
        fig.series.push(Series::new("f32", palette("f32"), v_curve(0.2, 1e-8)).with_markers(true));
        fig.series.push(Series::new("f64", palette("f64"), v_curve(0.2, 1e-16)).with_markers(true));
        fig.markers.push(Marker { x: 1e-5, y: 1e-11, label: Some("h*".into()), color: palette("f64") });
        fig.caption = Some("test".into());
        fig
    }

    fn png_size(png: &[u8]) -> (u32, u32) {
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        (w, h)
    }

    #[test]
    fn same_figure_gives_identical_bytes() {
        let fig = sample_figure();
        let (png1, svg1, s1) = render_to_bytes(&fig).unwrap();
        let (png2, svg2, s2) = render_to_bytes(&fig).unwrap();
        assert!(png1 == png2, "PNG differs between two renders");
        assert_eq!(svg1, svg2);
        assert_eq!(s1, s2);
    }

    #[test]
    fn png_has_signature_and_size() {
        let (png, svg, _) = render_to_bytes(&sample_figure()).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(png_size(&png), (1600, 1000));
        assert!(svg.starts_with("<svg width=\"1600\" height=\"1000\" viewBox=\"0 0 4800 3000\""));
        assert!(svg.contains("DejaVu Sans"));
    }

    #[test]
    fn counts_dropped_points() {
        let mut fig = Figure::new("t", "x", "y");
        let pts = vec![(1.0, 1.0), (1e-1, 0.0), (1e-2, f64::NAN), (1e-3, -1.0), (1e-4, 1e-3), (1e-5, 1e-2)];
        fig.series.push(Series::new("s", palette("f32"), pts));
        assert_eq!(fig.count_dropped(), 3);
        let (_, _, stats) = render_to_bytes(&fig).unwrap();
        assert_eq!(stats.dropped, 3);
        assert_eq!(stats.dropped_other, 0);
        // The dropped points split the series into two runs.
        let prep = prepare(&fig);
        assert_eq!(prep.runs[0].len(), 2);
        assert_eq!(prep.runs[0][1].len(), 2);
    }

    #[test]
    fn linear_y_keeps_zero_and_negative() {
        let mut fig = Figure::new("t", "factor", "plateau");
        fig.y_log = false;
        let pts = vec![(1e-3, 0.0), (1e-2, 0.5), (1e-1, 1.0), (1.0, -0.1), (0.0, 0.5), (1e1, f64::INFINITY)];
        fig.series.push(Series::new("s", palette("f64"), pts).with_markers(true));
        let (png, _, stats) = render_to_bytes(&fig).unwrap();
        assert_eq!(stats.dropped, 2);
        assert_eq!(png_size(&png), (1600, 1000));
    }

    #[test]
    fn all_dropped_and_empty_figures_render() {
        let mut fig = Figure::new("nothing to see", "x", "y");
        fig.series.push(Series::new("bad", palette("f16"), vec![(0.0, 1.0), (f64::NAN, 1.0), (1.0, -1.0)]));
        fig.series.push(Series::new("empty", palette("bf16"), vec![]).dashed().with_band(vec![(f64::NAN, 1.0, 2.0)]));
        fig.markers.push(Marker { x: -1.0, y: 1.0, label: Some("m".into()), color: REFERENCE_GREY });
        let (png, svg, stats) = render_to_bytes(&fig).unwrap();
        assert_eq!(stats.dropped, 3);
        assert_eq!(stats.dropped_other, 2);
        assert_eq!(png_size(&png), (1600, 1000));
        assert!(svg.contains("no finite points"));

        let (png, _, stats) = render_to_bytes(&Figure::default()).unwrap();
        assert_eq!(stats, PlotStats::default());
        assert_eq!(png_size(&png), (1600, 1000));
    }

    #[test]
    fn single_point_and_huge_span_render() {
        let mut fig = Figure::new("one point", "x", "y");
        fig.series.push(Series::new("one", palette("f64"), vec![(1e-3, 1e-3)]));
        render_to_bytes(&fig).unwrap();
        fig.series.push(Series::new("wide", palette("mpfr:256"), vec![(1e-300, 1e-300), (1e300, 1e300)]));
        render_to_bytes(&fig).unwrap();
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let long = "a very long title that does not fit ".repeat(20);
        let mut fig = Figure::new(long.clone(), long.clone(), long.clone());
        fig.caption = Some(long.clone());
        fig.y_log = false;
        fig.series.push(Series::new("huge", palette("f32"), vec![(1e-3, -1.7e308), (1.0, 1.7e308)]));
        fig.series.push(Series::new("tiny", palette("f64"), vec![(1e-3, 5e-324), (1.0, 1e-323)]).dashed());
        for k in 0..40 {
            fig.series.push(Series::scatter(format!("{k} {long}"), palette("f16"), vec![(1e-2, 0.5)]));
        }
        fig.markers.push(Marker { x: 1e-2, y: 0.0, label: Some(long), color: REFERENCE_GREY });
        let (png, _, _) = render_to_bytes(&fig).unwrap();
        assert_eq!(png_size(&png), (1600, 1000));
        fig.series.truncate(2);
        fig.series[1].points = vec![(1e-3, 5e-324), (1.0, 5e-324)];
        render_to_bytes(&fig).unwrap();
    }

    #[test]
    fn decade_ticks_thin_out_on_wide_axes() {
        let narrow = log_ticks(-12.0, 0.0, 1300.0, |l| text_width(l, TICK_PX) + 20.0);
        assert!(narrow.major.iter().all(|t| t.label.is_some()));
        assert_eq!(narrow.major.first().unwrap().label.as_deref(), Some("1e-12"));
        let wide = log_ticks(-40.0, 0.0, 1300.0, |l| text_width(l, TICK_PX) + 20.0);
        let labels: Vec<_> = wide.major.iter().filter_map(|t| t.label.clone()).collect();
        assert!(labels.len() <= 21 && labels.contains(&"1e0".to_string()), "{labels:?}");
        assert_eq!(wide.major.len(), 41, "every decade keeps a tick");
    }

    #[test]
    fn linear_labels_are_clean() {
        assert_eq!(linear_label(3, 1, -1), "0.3");
        assert_eq!(linear_label(0, 5, -2), "0");
        assert_eq!(linear_label(-4, 2, -1), "-0.8");
        assert_eq!(linear_label(6, 5, 0), "30");
        assert_eq!(linear_label(3, 5, -6), "1.5e-5");
        let axis = linear_ticks(-0.04, 1.04, 800.0, |_| 40.0);
        let labels: Vec<_> = axis.major.iter().filter_map(|t| t.label.clone()).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    }

    #[test]
    fn palette_is_fixed() {
        assert_eq!(palette("f64"), palette(" F64 "));
        assert_eq!(palette("mpfr:512"), palette("mpfr:1024"));
        assert_ne!(palette("mpfr:512"), palette("mpfr:256"));
        assert_eq!(palette("theory"), REFERENCE_GREY);
        let names = ["f16", "bf16", "f32", "f64", "mpfr:113", "mpfr:128", "mpfr:256", "mpfr:64", "theory"];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(palette(a), palette(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn embedded_font_is_used() {
        // DejaVu Sans advance widths: '1' and 'e' are 1303 and 1260 units of 2048.
        ensure_font().unwrap();
        let w = text_width("1e", 2384.0 / 3.0);
        assert!((w - (1303.0 + 1260.0) / 3.0).abs() < 1.0, "width {w}");
    }

    /// A V-shaped error plot like the precision sweep produces.
    fn demo_figure() -> Figure {
        let xs: Vec<f64> = (0..=48).map(|i| 10f64.powf(-f64::from(i) / 4.0)).collect();
        let (c, eps64) = (0.3, 1.1e-16);
        let curve = |eps: f64| -> Vec<(f64, f64)> {
            let wiggle = |h: f64| 1.0 + 0.35 * (h.log10() * 7.3).sin().abs();
            xs.iter().map(|&h| (h, ((c * h * h + eps / h) * wiggle(h)).min(1.0))).collect()
        };
        let mut fig = Figure::new(
            "Central difference, f(x) = exp(sin x) at x = 0.7: relative error vs step",
            "step size h",
            "relative error |D_h f \u{2212} f\u{2032}| / |f\u{2032}|",
        );
        let mut bf16 = curve(3.9e-3);
        bf16[30].1 = 0.0;
        bf16[31].1 = f64::NAN;
        fig.series.push(Series::new("bf16", palette("bf16"), bf16).with_markers(true));
        fig.series.push(Series::new("f16", palette("f16"), curve(4.9e-4)).with_markers(true));
        let f32c = curve(6e-8);
        let band = f32c.iter().map(|&(h, y)| (h, y * 0.35, (y * 2.2).min(1.0))).collect();
        fig.series.push(Series::new("f32", palette("f32"), f32c).with_markers(true).with_band(band));
        fig.series.push(Series::new("f64", palette("f64"), curve(eps64)).with_markers(true));
        let trunc = xs.iter().filter(|&&h| h >= 1e-7).map(|&h| (h, c * h * h)).collect();
        fig.series.push(Series::new("truncation C h\u{b2}", REFERENCE_GREY, trunc).dashed());
        let round = xs.iter().filter(|&&h| h <= 1e-3).map(|&h| (h, eps64 / h)).collect();
        fig.series.push(Series::new("rounding \u{3b5}(f64) / h", palette("f64"), round).dashed());
        let h32 = (6e-8_f64 / (2.0 * c)).cbrt();
        let h64 = (eps64 / (2.0 * c)).cbrt();
        fig.markers.push(Marker {
            x: h32,
            y: c * h32 * h32 + 6e-8 / h32,
            label: Some("predicted optimum (f32)".into()),
            color: palette("f32"),
        });
        fig.markers.push(Marker {
            x: h64,
            y: c * h64 * h64 + eps64 / h64,
            label: Some("predicted optimum (f64)".into()),
            color: palette("f64"),
        });
        fig.caption = Some("2 points not shown (0 or NaN); f32 band: min\u{2013}max over 16 seeds".into());
        fig
    }

    /// Writes /tmp/plot_demo{,_linear,_empty}.{png,svg}:
    /// `cargo test --lib plot::tests::demo -- --ignored`.
    #[test]
    #[ignore]
    fn demo() {
        let stats = render(&demo_figure(), Path::new("/tmp/plot_demo.png"), Path::new("/tmp/plot_demo.svg")).unwrap();
        assert_eq!(stats.dropped, 2);

        let mut fig =
            Figure::new("Plateau of accumulated gradients vs scale factor", "factor c", "plateau 1 \u{2212} 1/c");
        fig.y_log = false;
        let cs: Vec<f64> = (0..=20).map(|i| 10f64.powf(f64::from(i) / 5.0)).collect();
        fig.series.push(
            Series::new("1 \u{2212} 1/c", REFERENCE_GREY, cs.iter().map(|&c| (c, 1.0 - 1.0 / c)).collect()).dashed(),
        );
        let meas = cs.iter().step_by(2).map(|&c| (c, (1.0 - 1.0 / c) * 1.01)).collect();
        fig.series.push(Series::new("measured", palette("f64"), meas).with_markers(true));
        fig.legend_pos = LegendPos::LowerRight;
        render(&fig, Path::new("/tmp/plot_demo_linear.png"), Path::new("/tmp/plot_demo_linear.svg")).unwrap();

        let mut fig = Figure::new("Every dtype, accumulated (dashed) and reset (solid)", "step h", "relative error");
        let xs: Vec<f64> = (0..=12).map(|i| 10f64.powi(-i)).collect();
        let dtypes = ["f16", "bf16", "f32", "f64", "mpfr:113", "mpfr:128", "mpfr:256"];
        for (k, name) in dtypes.iter().enumerate() {
            let eps = 10f64.powi(-3 - 3 * k as i32);
            let reset = xs.iter().map(|&h| (h, (0.3 * h * h + eps / h).min(1.0))).collect();
            let acc = xs.iter().map(|&h| (h, (0.9 + 0.3 * h * h + eps / h).min(1.0))).collect();
            fig.series.push(Series::new(format!("{name} reset"), palette(name), reset).with_markers(true));
            fig.series.push(Series::new(format!("{name} accumulated"), palette(name), acc).dashed());
        }
        let published = vec![(1e-2, 0.9), (1e-4, 0.93), (1e-6, 0.5), (1e-8, 1.0)];
        fig.series.push(Series::scatter("published", RGBColor(0, 0, 0), published));
        render(&fig, Path::new("/tmp/plot_demo_many.png"), Path::new("/tmp/plot_demo_many.svg")).unwrap();

        let mut fig = Figure::new("All points dropped", "step h", "error");
        fig.series.push(Series::new("f16", palette("f16"), vec![(1e-3, 0.0), (1e-4, f64::NAN)]));
        render(&fig, Path::new("/tmp/plot_demo_empty.png"), Path::new("/tmp/plot_demo_empty.svg")).unwrap();
    }
}
