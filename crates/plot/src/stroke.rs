//! Thick lines in the PNG, built from plotters `Polygon` and `Circle` elements.
//!
//! plotters-backend turns a path wider than one pixel into a single polygon with
//! mitred joins (`rasterizer::polygonize`), which grows spikes at sharp turns, folds
//! into a wedge where a line doubles back and cuts V-shaped minima flat: exactly the
//! shapes of error-vs-step curves. So in the PNG each segment is drawn as its own quad
//! and every vertex gets a disc: round joins and caps at any angle. Dashes are cut
//! here too, so that each dash gets round caps. The SVG keeps plotters' `LineSeries`
//! and `DashedLineSeries` (SVG viewers stroke paths themselves).

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, Polygon};
use plotters::prelude::DrawingBackend;
use plotters::style::{RGBAColor, ShapeStyle};

/// A pixel position of the drawing backend.
pub(super) type Pixel = (i32, i32);

fn fill(color: RGBAColor) -> ShapeStyle {
    ShapeStyle { color, filled: true, stroke_width: 1 }
}

fn pixel((x, y): (f64, f64)) -> Pixel {
    (x.round().clamp(-1e6, 1e6) as i32, y.round().clamp(-1e6, 1e6) as i32)
}

/// Splits a polyline (drawing pixels) into dashes of `on` pixels separated by `off`,
/// starting with a dash.
pub(super) fn dashes(pts: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
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

/// Draws on `area` an opaque polyline `width` drawing pixels wide through `pts`
/// (pixels of `area`), with round joins and caps.
pub(super) fn polyline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pts: &[(f64, f64)],
    width: f64,
    color: RGBAColor,
) -> Result<(), String> {
    let err = |e| format!("plot drawing failed: {e:?}");
    let mut p: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for &q in pts {
        if p.last().is_none_or(|&l| pixel(l) != pixel(q)) {
            p.push(q);
        }
    }
    if p.len() == 1 {
        let r = (width / 2.0).round().max(1.0) as u32;
        return area.draw(&Circle::new(pixel(p[0]), r, fill(color))).map_err(err);
    }
    let half = width / 2.0;
    for seg in p.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        let (nx, ny) = (-(b.1 - a.1) / len * half, (b.0 - a.0) / len * half);
        let quad = [(a.0 + nx, a.1 + ny), (b.0 + nx, b.1 + ny), (b.0 - nx, b.1 - ny), (a.0 - nx, a.1 - ny)];
        area.draw(&Polygon::new(quad.map(pixel).to_vec(), fill(color))).map_err(err)?;
    }
    let r = ((width - 1.0) / 2.0).round().max(1.0) as u32;
    for &q in &p {
        area.draw(&Circle::new(pixel(q), r, fill(color))).map_err(err)?;
    }
    Ok(())
}

/// [`polyline`], cut into dashes of `on` and `off` drawing pixels first when `dash`
/// is given.
pub(super) fn line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pts: &[(f64, f64)],
    width: f64,
    color: RGBAColor,
    dash: Option<(f64, f64)>,
) -> Result<(), String> {
    match dash {
        None => polyline(area, pts, width, color),
        Some((on, off)) => dashes(pts, on, off).iter().try_for_each(|d| polyline(area, d, width, color)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::backend::BitMapBackend;
    use plotters::drawing::IntoDrawingArea;

    #[test]
    fn dashes_alternate_and_keep_the_path() {
        let d = dashes(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)], 4.0, 2.0);
        let ends: Vec<_> = d.iter().map(|dash| (dash[0], *dash.last().unwrap())).collect();
        assert_eq!(
            ends,
            [
                ((0.0, 0.0), (4.0, 0.0)),
                ((6.0, 0.0), (10.0, 0.0)),
                ((10.0, 2.0), (10.0, 6.0)),
                ((10.0, 8.0), (10.0, 10.0))
            ]
        );
        assert!(dashes(&[(0.0, 0.0)], 4.0, 2.0).is_empty());
    }

    #[test]
    fn sharp_turns_keep_their_width() {
        // A hairpin: plotters' polygonizer folds it into a wedge; here both legs keep
        // their full width and the turn is round.
        let mut buf = vec![255_u8; 60 * 40 * 3];
        {
            let area = BitMapBackend::with_buffer(&mut buf, (60, 40)).into_drawing_area();
            let pts = [(5.0, 10.0), (50.0, 10.0), (50.0, 10.2), (5.0, 25.0)];
            polyline(&area, &pts, 5.0, RGBAColor(0, 0, 0, 1.0)).unwrap();
        }
        let dark = |x: usize, y: usize| buf[(y * 60 + x) * 3] == 0;
        assert!((8..=12).all(|y| dark(10, y)), "first leg 5 px wide");
        assert!(dark(52, 10) && !dark(55, 10), "round cap of radius 2 at the turn");
        assert!(dark(5, 25) && dark(8, 24));
        assert!(!dark(10, 16) && !dark(15, 15) && !dark(20, 16), "nothing between the legs");
    }
}
