//! Page layout: where the title, plot, axis titles and caption go.
//!
//! plotters' `ChartBuilder` takes margins and label-area sizes but does not derive
//! them from the text they must hold, and its caption is centred over the whole canvas
//! a few pixels under its top. So the layout is computed here, in final pixels, from
//! the measured widths of the tick labels and titles (long titles shrink to fit), and
//! handed to plotters as margins and label-area sizes (see `render`).

use plotters::style::RGBColor;

use super::axes::{decade_label, range, Axis};
use super::data::Prepared;
use super::figure::Figure;
use super::font::{fit, text_width, ASC, CAP, DESC};
use super::palette::{CAPTION_INK, CAPTION_PX, LABEL_PX, TICK_LABEL_GAP, TICK_PX, TITLE_INK, TITLE_PX};
use super::{HEIGHT, WIDTH};

/// A line of text centred on `x`, with its baseline at `baseline` (final pixels).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TextLine {
    pub text: String,
    pub x: f64,
    pub baseline: f64,
    pub px: f64,
    pub color: RGBColor,
}

/// Where everything goes, in final pixels.
pub(super) struct Layout {
    /// Plot area: left and right columns, top and bottom rows of the frame.
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub x: Axis,
    pub y: Axis,
    pub title: Option<TextLine>,
    pub caption: Option<TextLine>,
    /// Axis titles: the x title's baseline row, the y title's baseline column
    /// (rotated, reading bottom to top), and their common size.
    pub x_title: Option<(String, f64)>,
    pub y_title: Option<(String, f64)>,
    pub axis_title_px: f64,
    /// Left edge of the space the layout leaves for the y axis title.
    pub margin_left: f64,
    /// Top of the legend box when it goes [`super::LegendPos::Below`] the plot.
    pub legend_below: Option<f64>,
}

/// The caption under the plot: the figure's own, else a note on points not shown;
/// prefixed with "no finite points" when nothing at all can be drawn.
fn caption_text(fig: &Figure, prep: &Prepared) -> Option<String> {
    let note = (prep.stats.dropped > 0).then(|| {
        let n = prep.stats.dropped;
        format!("{n} point{} not shown (NaN, infinite, or \u{2264} 0 on a log axis)", if n == 1 { "" } else { "s" })
    });
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

/// Centre for a text `width` wide near `centre`, kept within `lo..hi` if it fits.
fn centre_within(centre: f64, width: f64, lo: f64, hi: f64) -> f64 {
    if width >= hi - lo {
        (lo + hi) / 2.0
    } else {
        centre.clamp(lo + width / 2.0, hi - width / 2.0)
    }
}

/// Lays out `fig`, leaving `legend_below` final pixels for a legend below the plot (the
/// legend's height, [`super::legend::height_below`]; `None` for a legend inside it).
pub(super) fn layout(fig: &Figure, prep: &Prepared, legend_below: Option<f64>) -> Layout {
    let w = f64::from(WIDTH);
    let h = f64::from(HEIGHT);

    // Vertical: title, plot, tick labels, x-axis title, caption.
    let mut title = None;
    let top = if fig.title.trim().is_empty() {
        28.0
    } else {
        let px = fit(&fig.title, TITLE_PX, w - 40.0);
        let baseline = (14.0 + ASC * px).round();
        title = Some(TextLine { text: fig.title.clone(), x: 0.0, baseline, px, color: TITLE_INK });
        (baseline + DESC * px + 22.0).round()
    };
    let mut cursor = h - 12.0;
    let caption = caption_text(fig, prep).map(|text| {
        let px = fit(&text, CAPTION_PX, w - 40.0);
        let baseline = (cursor - DESC * px).round();
        cursor = baseline - ASC * px - 14.0;
        TextLine { text, x: w / 2.0, baseline, px, color: CAPTION_INK }
    });
    // A legend below the plot: between the x-axis title and the caption.
    let legend_below = legend_below.map(|h| {
        cursor -= h;
        let top = cursor.round();
        cursor -= 10.0;
        top
    });
    let axis_title_px = fit(&fig.x_label, LABEL_PX, w - 40.0).min(fit(&fig.y_label, LABEL_PX, h - 40.0));
    let x_title_at = (!fig.x_label.trim().is_empty()).then(|| {
        let baseline = (cursor - DESC * axis_title_px).round();
        cursor = baseline - CAP * LABEL_PX - 16.0;
        baseline
    });
    let bottom = (cursor - CAP * TICK_PX - TICK_LABEL_GAP).round();
    let plot_h = bottom - top;

    // y ticks depend on the plot height only.
    let y = Axis::new(prep.y_extent, fig.y_log, plot_h, |_| 1.6 * TICK_PX);
    let y_label_w =
        y.major.iter().filter_map(|t| t.label.as_deref()).map(|l| text_width(l, TICK_PX)).fold(0.0, f64::max);

    // Horizontal: y-axis title, tick labels, plot.
    let margin_left = 14.0;
    let mut x_cursor = margin_left;
    let y_title_at = (!fig.y_label.trim().is_empty()).then(|| {
        let baseline = (x_cursor + ASC * axis_title_px).round();
        x_cursor = baseline + DESC * axis_title_px + 14.0;
        baseline
    });
    let left = (x_cursor + y_label_w + TICK_LABEL_GAP).round();

    // The last x tick label is centred on the right edge: leave room for half of it.
    let (xlo, xhi) = range(prep.x_extent, fig.x_log);
    let widest_x = if fig.x_log {
        (xlo.round() as i64..=xhi.round() as i64).map(|n| text_width(&decade_label(n), TICK_PX)).fold(0.0, f64::max)
    } else {
        text_width("-0.0000", TICK_PX)
    };
    let right = (w - (widest_x / 2.0 + 14.0).max(30.0)).round();
    let x = Axis::new(prep.x_extent, fig.x_log, right - left, |l| text_width(l, TICK_PX) + 20.0);

    // The title is centred on the plot, kept inside the canvas.
    if let Some(t) = title.as_mut() {
        t.x = centre_within((left + right) / 2.0, text_width(&t.text, t.px), 20.0, w - 20.0);
    }

    Layout {
        left,
        top,
        right,
        bottom,
        x,
        y,
        title,
        caption,
        x_title: x_title_at.map(|b| (fig.x_label.clone(), b)),
        y_title: y_title_at.map(|b| (fig.y_label.clone(), b)),
        axis_title_px,
        margin_left,
        legend_below,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prepare;
    use crate::font::ensure_font;
    use crate::{Series, REFERENCE_GREY};

    #[test]
    fn plot_area_leaves_room_for_text() {
        ensure_font().unwrap();
        let mut fig = Figure::new("title", "x", "y");
        fig.series.push(Series::line("s", REFERENCE_GREY, vec![(1e-8, 1e-3), (1.0, 1.0)]));
        let prep = prepare(&fig);
        let lay = super::super::lay_out(&fig, &prep);
        assert!(lay.top > 40.0 && lay.bottom < f64::from(HEIGHT) - 60.0, "{} {}", lay.top, lay.bottom);
        assert!(lay.left > 60.0 && lay.right < f64::from(WIDTH) - 14.0, "{} {}", lay.left, lay.right);
        assert!(lay.caption.is_none());
        assert_eq!(lay.x.lo, -9.0);

        let empty = Figure::new("", "", "");
        let lay = super::super::lay_out(&empty, &prepare(&empty));
        assert_eq!(lay.caption.unwrap().text, "no finite points");
        assert!(lay.title.is_none() && lay.x_title.is_none() && lay.y_title.is_none());
    }
}
