//! The frame around the plot and its tick marks.
//!
//! plotters' mesh draws tick marks outward (inward only when the labels go inside the
//! plot too), at labelled points only and with one length per side; it places labels
//! at twice the tick length from the axis and draws
//! axis lines butt-ended, one pixel wider than asked (notched corners, blurred after
//! the box filter). The figures have inward ticks on all four sides — labelled ones
//! longest, unlabelled decades shorter, minor ticks shortest and thinner — and a crisp
//! frame, so frame and ticks are drawn here as filled plotters `Rectangle`s covering
//! whole final pixels. Tick positions come from plotters' mapping of the chart.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::Rectangle;
use plotters::prelude::DrawingBackend;
use plotters::style::ShapeStyle;

use super::axes::TickKind;
use super::layout::Layout;
use super::palette::{FRAME_INK, FRAME_PX, HAIRLINE_PX, TICK_LEN};
use super::supersample::{px, SS};

/// A crisp line `width` whole final pixels wide at final-pixel column (when
/// `vertical`) or row `at`, spanning `from..to`: a filled rectangle on whole pixels.
fn crisp(vertical: bool, at: f64, from: f64, to: f64, width: f64) -> Rectangle<(i32, i32)> {
    let start = at.floor() - ((width - 1.0) / 2.0).floor();
    let (a, b) = ((start, from), (start + width, to));
    let (a, b) = if vertical { (a, b) } else { ((a.1, a.0), (b.1, b.0)) };
    Rectangle::new([(px(a.0), px(a.1)), (px(b.0), px(b.1))], ShapeStyle::from(FRAME_INK).filled())
}

/// Draws the frame and all tick marks. `map_x` and `map_y` give the drawing pixel of
/// a data value on each axis.
pub(super) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lay: &Layout,
    map_x: impl Fn(f64) -> i32,
    map_y: impl Fn(f64) -> i32,
) -> Result<(), String> {
    let (l, t, r, b) = (lay.left, lay.top, lay.right, lay.bottom);
    let mut rects = vec![
        crisp(true, l, t - 1.0, b + 1.0, FRAME_PX),
        crisp(true, r, t - 1.0, b + 1.0, FRAME_PX),
        crisp(false, t, l - 1.0, r + 1.0, FRAME_PX),
        crisp(false, b, l - 1.0, r + 1.0, FRAME_PX),
    ];
    let ss = f64::from(SS);
    for (kind, len) in [TickKind::Labelled, TickKind::Unlabelled, TickKind::Minor].into_iter().zip(TICK_LEN) {
        let width = if kind == TickKind::Minor { HAIRLINE_PX } else { FRAME_PX };
        for v in lay.x.values(kind) {
            let x = f64::from(map_x(v)) / ss;
            rects.push(crisp(true, x, b - len, b, width));
            rects.push(crisp(true, x, t, t + len, width));
        }
        for v in lay.y.values(kind) {
            let y = f64::from(map_y(v)) / ss;
            rects.push(crisp(false, y, l, l + len, width));
            rects.push(crisp(false, y, r - len, r, width));
        }
    }
    for rect in &rects {
        root.draw(rect).map_err(|e| format!("plot drawing failed: {e:?}"))?;
    }
    Ok(())
}
