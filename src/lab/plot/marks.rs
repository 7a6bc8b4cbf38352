//! Marker glyphs, composed from plotters elements: series markers (circle, square,
//! triangle, inverted triangle on a white halo) and the hollow diamond of a
//! highlighted point.
//!
//! Each glyph is plotters' composable element: an `EmptyElement` at the point plus
//! `Circle`, `Rectangle` or `Polygon` parts in pixel offsets. plotters' own
//! `TriangleMarker` has no inverted form and no halo, hence the composition. Glyphs
//! are drawn at pixel positions (the caller maps data with plotters), so that the
//! legend can draw the same glyphs at the positions plotters gives its samples.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, EmptyElement, PathElement, Polygon, Rectangle};
use plotters::prelude::DrawingBackend;
use plotters::style::{RGBAColor, RGBColor, ShapeStyle};

use super::palette::{DIAMOND_FILL, DIAMOND_R, DIAMOND_STROKE_PX, HALO_PX, MARKER_HALO, MARKER_R};
use super::stroke::{polyline, Pixel};
use super::supersample::{px, px_u32, Backend};

/// Shape of a series' markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Circle,
    Square,
    TriangleUp,
    TriangleDown,
}

/// Shapes given to series with markers, in turn.
pub(super) const SHAPES: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::TriangleUp, Shape::TriangleDown];

fn fill(color: RGBAColor) -> ShapeStyle {
    ShapeStyle { color, filled: true, stroke_width: 1 }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot drawing failed: {e:?}")
}

/// Vertices of a triangle sized like a circle of radius `r` final pixels, pointing
/// up or down, around the origin (drawing pixels).
fn triangle(r: f64, up: bool) -> Vec<Pixel> {
    let k = if up { 1.0 } else { -1.0 };
    let big = r * 1.3;
    vec![(0, px(-k * big)), (px(big * 0.866), px(k * big * 0.5)), (px(-big * 0.866), px(k * big * 0.5))]
}

/// Draws a series marker at pixel `at` of `area`: the shape in colour on a thin
/// white halo.
pub(super) fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: Pixel,
    shape: Shape,
    color: RGBColor,
) -> Result<(), String> {
    let (outer, inner) = (MARKER_R + HALO_PX, MARKER_R);
    let (halo, body) = (fill(MARKER_HALO), fill(RGBAColor(color.0, color.1, color.2, 1.0)));
    match shape {
        Shape::Circle => area.draw(
            &(EmptyElement::at(at)
                + Circle::new((0, 0), px_u32(outer).max(1), halo)
                + Circle::new((0, 0), px_u32(inner).max(1), body)),
        ),
        Shape::Square => {
            let (a, b) = (px(outer * 0.88), px(inner * 0.88));
            area.draw(
                &(EmptyElement::at(at)
                    + Rectangle::new([(-a, -a), (a, a)], halo)
                    + Rectangle::new([(-b, -b), (b, b)], body)),
            )
        }
        Shape::TriangleUp | Shape::TriangleDown => {
            let up = shape == Shape::TriangleUp;
            area.draw(
                &(EmptyElement::at(at)
                    + Polygon::new(triangle(outer, up), halo)
                    + Polygon::new(triangle(inner, up), body)),
            )
        }
    }
    .map_err(err)
}

/// Draws a highlighted point at pixel `at` of `area`: a hollow diamond, its inside
/// whitened a little.
pub(super) fn diamond<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: Pixel,
    color: RGBColor,
    backend: Backend,
) -> Result<(), String> {
    let r = px(DIAMOND_R);
    let outline = [(0, -r), (r, 0), (0, r), (-r, 0), (0, -r)];
    area.draw(&(EmptyElement::at(at) + Polygon::new(outline[..4].to_vec(), fill(DIAMOND_FILL)))).map_err(err)?;
    let ink = RGBAColor(color.0, color.1, color.2, 1.0);
    match backend {
        Backend::Svg => {
            let style = ShapeStyle { color: ink, filled: false, stroke_width: px_u32(DIAMOND_STROKE_PX) };
            area.draw(&(EmptyElement::at(at) + PathElement::new(outline.to_vec(), style))).map_err(err)
        }
        Backend::Bitmap => {
            let pts = outline.map(|(x, y)| (f64::from(at.0 + x), f64::from(at.1 + y)));
            polyline(area, &pts, f64::from(px(DIAMOND_STROKE_PX)), ink)
        }
    }
}
