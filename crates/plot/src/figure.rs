//! What a figure shows: the description an experiment fills in ([`Figure`], [`Series`],
//! [`Marker`]) and what rendering could not show ([`PlotStats`]).
//!
//! Nothing here draws; [`super::render_to_bytes`] turns a [`Figure`] into pixels.

use plotters::style::RGBColor;

use super::palette::{Ink, Shape, REFERENCE_SHAPE};

/// How a series' line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineStyle {
    /// A continuous line (measured data).
    #[default]
    Solid,
    /// A dashed line (theory, reference slopes).
    Dashed,
    /// No line: markers only, for scattered points.
    MarkersOnly,
}

/// One curve of a figure. Its line style and marker are fixed by the constructor that says what
/// it is: [`Series::data`] (measured: solid, marked), [`Series::line`] (measured, a dense line
/// without markers), [`Series::scatter`] (measured points without a line), [`Series::theory`]
/// (a prediction, bound or fit: dashed, no markers) and [`Series::reference`] (published points:
/// a plus, no line). There is no way to dash measured data.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text; an empty label keeps the series out of the legend.
    pub label: String,
    /// Line, marker and band colour.
    pub color: RGBColor,
    /// `(x, y)` data points, drawn in the given order. Points that cannot be shown
    /// are skipped and break the line.
    pub points: Vec<(f64, f64)>,
    style: LineStyle,
    shape: Option<Shape>,
    hollow: bool,
    /// Optional min–max band as `(x, lo, hi)` triples, drawn translucent under the
    /// line. On a log y axis a `lo <= 0` is drawn down to the bottom of the plot.
    pub band: Option<Vec<(f64, f64, f64)>>,
}

impl Series {
    fn of(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>, style: LineStyle) -> Self {
        Series { label: label.into(), color, points, style, shape: None, hollow: false, band: None }
    }

    /// Measured data: a solid line with the ink's marker at every point.
    pub fn data(label: impl Into<String>, ink: Ink, points: Vec<(f64, f64)>) -> Self {
        Series { shape: Some(ink.shape), hollow: ink.hollow, ..Series::of(label, ink.color, points, LineStyle::Solid) }
    }

    /// Measured data drawn as a solid line without markers (a dense curve, or a test's line).
    pub fn line(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Series::of(label, color, points, LineStyle::Solid)
    }

    /// Measured points without a line, with the ink's marker.
    pub fn scatter(label: impl Into<String>, ink: Ink, points: Vec<(f64, f64)>) -> Self {
        Series {
            shape: Some(ink.shape),
            hollow: ink.hollow,
            ..Series::of(label, ink.color, points, LineStyle::MarkersOnly)
        }
    }

    /// Theory (a prediction, a bound, a fitted law): dashed, no markers.
    pub fn theory(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Series::of(label, color, points, LineStyle::Dashed)
    }

    /// Published reference points: a plus ([`super::REFERENCE_SHAPE`]) at each, no line; black
    /// or a grey.
    pub fn reference(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Series { shape: Some(REFERENCE_SHAPE), ..Series::of(label, color, points, LineStyle::MarkersOnly) }
    }

    /// The same series with a min–max band of `(x, lo, hi)` triples.
    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = Some(band);
        self
    }

    /// Solid, dashed or no line.
    pub fn style(&self) -> LineStyle {
        self.style
    }

    /// The marker shape, if the series draws markers.
    pub fn shape(&self) -> Option<Shape> {
        self.shape
    }

    /// Whether its markers are hollow.
    pub fn hollow(&self) -> bool {
        self.hollow
    }

    /// Whether the series draws a marker symbol at its points.
    pub(super) fn has_markers(&self) -> bool {
        self.shape.is_some()
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

/// Where the legend goes: inside the plot area, or [`LegendPos::Below`] it.
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
    /// The middle of the plot area (for data that fill every corner and leave the middle free).
    Center,
    /// The middle of the left side.
    Left,
    /// The middle of the right side.
    Right,
    /// Along the top edge, `i` eighths of the free width from the left (1 to 7).
    Top(u8),
    /// Outside the frame: under the x axis title, centred on the plot, which is made shorter to
    /// leave it the room (for long labels that would cover data anywhere inside).
    Below,
    /// The place that covers the fewest data (lines, markers, and bands over their whole area):
    /// the corners, then the middle of the left or right side and seven places along the top
    /// edge from left to right, a later place taken only when it covers less than every earlier
    /// one (deterministic; ties go to upper right, upper left, lower left, lower right).
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

    /// The same figure with `series` drawn on top of the others.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// The same figure with the legend at `pos`.
    pub fn with_legend(mut self, pos: LegendPos) -> Self {
        self.legend_pos = pos;
        self
    }

    /// The same figure with a caption under the plot.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Number of series points that [`render`](fn@super::render) will not show (the value it
    /// reports as [`PlotStats::dropped`]); useful to write a caption before rendering.
    pub fn count_dropped(&self) -> usize {
        self.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|&&(x, y)| !shown(x, self.x_log) || !shown(y, self.y_log))
            .count()
    }
}

/// What [`render`](fn@super::render) could not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlotStats {
    /// Series points not shown: x or y NaN or infinite, or `<= 0` on a log axis.
    pub dropped: usize,
    /// Band triples and [`Marker`]s not shown, for the same reasons (a band `lo <= 0`
    /// on a log axis is still shown, reaching the bottom of the plot).
    pub dropped_other: usize,
}

/// Whether `v` can be drawn on an axis: finite, and positive on a log axis.
pub(super) fn shown(v: f64, log: bool) -> bool {
    v.is_finite() && !(log && v <= 0.0)
}

/// `v` in axis units: `log10(v)` on a log axis, `v` on a linear one; `None` when it
/// cannot be shown.
pub(super) fn to_axis(v: f64, log: bool) -> Option<f64> {
    if !shown(v, log) {
        None
    } else if log {
        Some(v.log10())
    } else {
        Some(v)
    }
}
