//! Marker glyphs, composed from plotters elements: series markers (circle, square, triangles,
//! diamond, pentagon, hexagon, plus, each filled or hollow, on a white halo) and the hollow
//! diamond of a highlighted point.
//!
//! Each glyph is plotters' composable element: an `EmptyElement` at the point plus
//! `Circle` or `Polygon` parts in pixel offsets. plotters' own
//! `TriangleMarker` has no inverted form and no halo, hence the composition. Glyphs
//! are drawn at pixel positions (the caller maps data with plotters), so that the
//! legend can draw the same glyphs at the positions plotters gives its samples.

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, EmptyElement, PathElement, Polygon};
use plotters::prelude::DrawingBackend;
use plotters::style::{RGBAColor, RGBColor, ShapeStyle};

use super::palette::{
    Shape, DIAMOND_FILL, DIAMOND_R, DIAMOND_STROKE_PX, HALO_PX, HOLLOW_RING_PX, MARKER_HALO, MARKER_R,
};
use super::stroke::{polyline, Pixel};
use super::supersample::{px, px_u32, Backend};

fn fill(color: RGBAColor) -> ShapeStyle {
    ShapeStyle { color, filled: true, stroke_width: 1 }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("plot drawing failed: {e:?}")
}

/// Vertices (final pixels around the origin) of `shape` sized like a circle of radius `r`;
/// `None` for the circle itself.
fn outline(shape: Shape, r: f64) -> Option<Vec<(f64, f64)>> {
    let regular = |n: usize, big: f64, turn: f64| -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let a = turn + std::f64::consts::TAU * i as f64 / n as f64;
                (big * a.sin(), -big * a.cos())
            })
            .collect()
    };
    Some(match shape {
        Shape::Circle => return None,
        Shape::Square => {
            let a = r * 0.88;
            vec![(-a, -a), (a, -a), (a, a), (-a, a)]
        }
        Shape::TriangleUp => regular(3, r * 1.3, 0.0),
        Shape::TriangleDown => regular(3, r * 1.3, std::f64::consts::PI),
        Shape::Diamond => regular(4, r * 1.25, 0.0),
        Shape::Pentagon => regular(5, r * 1.1, 0.0),
        Shape::Hexagon => regular(6, r * 1.05, 0.0),
        Shape::Plus => {
            let (w, l) = (r * 0.42, r * 1.25);
            vec![
                (-w, -l),
                (w, -l),
                (w, -w),
                (l, -w),
                (l, w),
                (w, w),
                (w, l),
                (-w, l),
                (-w, w),
                (-l, w),
                (-l, -w),
                (-w, -w),
            ]
        }
    })
}

/// Draws `shape` of radius `r` final pixels at `at`, filled with `style`.
fn glyph<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: Pixel,
    shape: Shape,
    r: f64,
    style: ShapeStyle,
) -> Result<(), String> {
    match outline(shape, r) {
        None => area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), px_u32(r).max(1), style))),
        Some(pts) => {
            let pts: Vec<Pixel> = pts.into_iter().map(|(x, y)| (px(x), px(y))).collect();
            area.draw(&(EmptyElement::at(at) + Polygon::new(pts, style)))
        }
    }
    .map_err(err)
}

/// Draws a series marker at pixel `at` of `area`: the shape in colour on a thin white halo;
/// `hollow`, a ring of the colour around a white inside.
pub(super) fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: Pixel,
    shape: Shape,
    color: RGBColor,
    hollow: bool,
) -> Result<(), String> {
    glyph(area, at, shape, MARKER_R + HALO_PX, fill(MARKER_HALO))?;
    glyph(area, at, shape, MARKER_R, fill(RGBAColor(color.0, color.1, color.2, 1.0)))?;
    if hollow {
        glyph(area, at, shape, MARKER_R - HOLLOW_RING_PX, fill(MARKER_HALO))?;
    }
    Ok(())
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
