//! Tests of whole figures: determinism, file format, dropped-point counting, and
//! inputs that must not break rendering.

use std::path::Path;

use plotters::style::RGBColor;

use super::data::prepare;
use super::*;
use gradlab::scalar::DType;

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
    fig.series.push(Series::data("f32", dtype_ink(DType::parse("f32").unwrap()), v_curve(0.2, 1e-8)));
    fig.series.push(Series::data("f64", dtype_ink(DType::parse("f64").unwrap()), v_curve(0.2, 1e-16)));
    fig.markers.push(Marker {
        x: 1e-5,
        y: 1e-11,
        label: Some("h*".into()),
        color: dtype_color(DType::parse("f64").unwrap()),
    });
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

/// The RGB pixels of a PNG.
fn decode(png: &[u8]) -> Vec<[u8; 3]> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf[..info.buffer_size()].chunks(3).map(|c| [c[0], c[1], c[2]]).collect()
}

#[test]
fn frame_and_grid_lines_are_crisp() {
    // Only two markers in opposite corners: a column between two x decades crosses
    // nothing but the frame and the y grid.
    let mut fig = Figure::new("crisp", "x", "y");
    fig.series.push(Series::reference("", BLACK, vec![(1e-6, 1e-6), (1.0, 1.0)]));
    let (png, _, _) = render_to_bytes(&fig).unwrap();
    let px = decode(&png);
    let lay = super::lay_out(&fig, &prepare(&fig));
    let (lo, hi) = (lay.y.lo, lay.y.hi);
    let x = (lay.left + (lay.right - lay.left) / (lay.x.hi - lay.x.lo) / 2.0) as usize;
    let column: Vec<[u8; 3]> = (0..HEIGHT as usize).map(|y| px[y * WIDTH as usize + x]).collect();
    // Runs of non-white pixels: (first row, length, colour).
    let mut runs: Vec<(usize, usize, [u8; 3])> = Vec::new();
    for (y, &c) in column.iter().enumerate() {
        if c == [255; 3] {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.0 + r.1 == y && r.2 == c => r.1 += 1,
            _ => runs.push((y, 1, c)),
        }
    }
    let (t, b) = (lay.top as usize, lay.bottom as usize);
    assert!(runs.contains(&(t, 2, [0; 3])), "top frame: 2 black rows at {t}: {runs:?}");
    assert!(runs.contains(&(b, 2, [0; 3])), "bottom frame: 2 black rows at {b}: {runs:?}");
    let grid: Vec<_> = runs.iter().filter(|r| r.0 > t + 15 && r.0 < b - 15).collect();
    assert_eq!(grid.len(), (hi - lo) as usize - 1, "one line per inner decade: {grid:?}");
    for r in grid {
        assert!(r.1 == 1 && (226..=228).contains(&r.2[0]), "a grid line is one pixel of 11 % black: {r:?}");
    }
}

/// The legend box of a rendered SVG (the one rectangle filled 88 % white), as
/// `(x0, y0, x1, y1)` in final pixels.
fn legend_box(svg: &str) -> (f64, f64, f64, f64) {
    let rect = svg.lines().find(|l| l.starts_with("<rect") && l.contains("opacity=\"0.88\"")).expect("legend box");
    let attr = |name: &str| -> f64 {
        let at = rect.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        rect[at..].split('"').next().unwrap().parse::<f64>().unwrap() / 3.0
    };
    let (x, y) = (attr("x"), attr("y"));
    (x, y, x + attr("width"), y + attr("height"))
}

#[test]
fn legend_avoids_the_data() {
    // A zigzag over the whole height of the right part and a point at the lower
    // left: the upper left is the only free corner.
    let mut fig = Figure::new("legend", "x", "y");
    let zigzag = (0..=40).map(|i| {
        let x = 10f64.powf(-1.0 + 1.95 * f64::from(i) / 40.0);
        (x, if i % 2 == 0 { 1e-3 } else { 0.9 })
    });
    fig.series.push(Series::line("zigzag", BLACK, zigzag.collect()));
    fig.series.push(Series::line("", BLACK, vec![(1e-4, 1e-3)]));
    fig.markers.push(Marker { x: 3e-1, y: 0.5, label: Some("a marker".into()), color: ALERT_RED });
    let (_, svg, _) = render_to_bytes(&fig).unwrap();
    let lay = super::lay_out(&fig, &prepare(&fig));
    let (x, y, _, _) = legend_box(&svg);
    assert!((x - lay.left - 14.0).abs() < 2.0 && (y - lay.top - 14.0).abs() < 2.0, "upper left: {x} {y}");
    let texts: Vec<&str> = svg.split("<text").skip(1).map(|t| t.split('\n').nth(1).unwrap_or("")).collect();
    assert!(texts.contains(&"zigzag") && texts.contains(&"a marker"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.trim().is_empty() || t.starts_with("</text>")), "no empty labels: {texts:?}");

    // Placed by hand, it stays where it is put.
    fig.legend_pos = LegendPos::LowerRight;
    let (_, svg, _) = render_to_bytes(&fig).unwrap();
    let (x, _, _, _) = legend_box(&svg);
    assert!(x > (lay.left + lay.right) / 2.0, "lower right: {x}");
}

#[test]
fn legend_goes_along_the_top_when_corners_and_sides_are_taken() {
    // Zigzags over the whole height near the left and right ends of the data, a line along the
    // bottom, and labels long enough that a box in any corner or side reaches a zigzag (the axis
    // pads the data by a decade each side): the top middle is the only free place.
    let mut fig = Figure::new("legend", "x", "y");
    fig.y_log = false;
    let zigzag = |from: f64, to: f64| -> Vec<(f64, f64)> {
        (0..=30).map(|i| (10f64.powf(from + (to - from) * f64::from(i) / 30.0), f64::from(i % 2))).collect()
    };
    fig.series.push(Series::line("the left zigzag, with a label long enough", BLACK, zigzag(0.0, 0.5)));
    fig.series.push(Series::line("the right zigzag, with a label long enough", BLACK, zigzag(3.5, 4.0)));
    fig.series.push(Series::line("floor", BLACK, (0..=40).map(|i| (10f64.powf(f64::from(i) / 10.0), 0.0)).collect()));
    let (_, svg, _) = render_to_bytes(&fig).unwrap();
    let lay = super::lay_out(&fig, &prepare(&fig));
    let (x, y, x1, _) = legend_box(&svg);
    let w = x1 - x;
    assert!((y - lay.top - 14.0).abs() < 2.0, "at the top: {y}");
    // Not in a corner: between the zigzags.
    assert!(x > lay.left + 30.0 && x + w < lay.right - 30.0, "along the top, not a corner: {x} .. {}", x + w);
}

#[test]
fn legend_below_stays_outside_the_frame() {
    // Long labels over data that fill the plot: below the x axis, the box does not meet the frame.
    let mut fig = Figure::new("legend below", "x", "y");
    fig.y_log = false;
    for k in 0..6 {
        let pts = (0..=40).map(|i| (10f64.powf(f64::from(i) / 10.0), f64::from((i + k) % 7))).collect();
        fig.series.push(Series::data(
            format!("series {k}, with a label long enough to cover data anywhere"),
            dtype_ink(DType::F32),
            pts,
        ));
    }
    fig.legend_pos = LegendPos::Below;
    let (_, svg, _) = render_to_bytes(&fig).unwrap();
    let lay = super::lay_out(&fig, &prepare(&fig));
    let (x0, y0, x1, y1) = legend_box(&svg);
    assert!(y0 > lay.bottom + 30.0, "below the frame and its tick labels: {y0} vs {}", lay.bottom);
    assert!(y1 < f64::from(HEIGHT) && x0 >= 0.0 && x1 <= f64::from(WIDTH), "{x0} {y0} {x1} {y1}");
    let below = lay.legend_below.unwrap();
    assert!((y0 - below).abs() < 2.0, "where the layout left room: {y0} vs {below}");
    let texts: Vec<&str> = svg.split("<text").skip(1).map(|t| t.split('\n').nth(1).unwrap_or("")).collect();
    assert!(texts.iter().any(|t| t.starts_with("series 5")), "{texts:?}");
}

#[test]
fn legend_counts_a_band_over_its_whole_area() {
    // A band spanning the upper right between two data columns far apart, and a line in the
    // upper left: the upper right corner's box lies on the band between its columns only.
    let mut fig = Figure::new("band", "x", "y");
    fig.y_log = false;
    let band = vec![(1e-1, 0.0, 1.0), (1e3, 0.0, 1.0)];
    fig.series.push(Series::line("band", BLACK, vec![(1e-1, 0.0), (1e3, 0.0)]).with_band(band));
    fig.series.push(Series::line("line", BLACK, vec![(1e-4, 1.0), (1e-3, 0.9)]));
    let (_, svg, _) = render_to_bytes(&fig).unwrap();
    let lay = super::lay_out(&fig, &prepare(&fig));
    let (x0, _, _, _) = legend_box(&svg);
    // Not over the band: to the left of x = 1e-1 (on the left half of the plot).
    assert!(x0 < (lay.left + lay.right) / 2.0, "left of the band: {x0}");
}

/// Theory is dashed and measured data solid, whatever the caller does: the constructors fix it.
#[test]
fn theory_is_dashed_and_data_is_not() {
    let pts = vec![(1.0, 1.0), (10.0, 10.0)];
    assert_eq!(Series::theory("t", REFERENCE_GREY, pts.clone()).style(), LineStyle::Dashed);
    assert_eq!(Series::theory("t", REFERENCE_GREY, pts.clone()).shape(), None);
    for s in [
        Series::data("d", dtype_ink(DType::F32), pts.clone()),
        Series::line("d", REFERENCE_GREY, pts.clone()),
        Series::scatter("d", dtype_ink(DType::F32).hollow(), pts.clone()),
        Series::reference("r", BLACK, pts.clone()),
    ] {
        assert_ne!(s.style(), LineStyle::Dashed, "{}", s.label);
    }
    assert_eq!(Series::reference("r", BLACK, pts).shape(), Some(REFERENCE_SHAPE));
}

/// A dtype's markers are the same glyph whatever its place in the figure: f16's are triangles
/// (three-point polygons in its colour) first or last.
#[test]
fn a_dtype_keeps_its_shape_in_any_order() {
    let f16 = Series::data("f16", dtype_ink(DType::F16), v_curve(0.2, 1e-3));
    let f64 = Series::data("f64", dtype_ink(DType::F64), v_curve(0.2, 1e-16));
    let color = dtype_color(DType::F16);
    let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
    for order in [[f16.clone(), f64.clone()], [f64, f16]] {
        let mut fig = Figure::new("order", "x", "y");
        fig.series.extend(order);
        let (_, svg, _) = render_to_bytes(&fig).unwrap();
        let glyphs: Vec<usize> = svg
            .lines()
            .filter(|l| l.starts_with("<polygon") && l.contains(&fill) && !l.contains("opacity=\"0.2\""))
            .map(|l| l.split("points=\"").nth(1).unwrap().split('"').next().unwrap().split(' ').count())
            .collect();
        // Three vertices, the first repeated to close the path.
        assert!(!glyphs.is_empty() && glyphs.iter().all(|&n| n == 4), "{glyphs:?}");
    }
}

#[test]
fn counts_dropped_points() {
    let mut fig = Figure::new("t", "x", "y");
    let pts = vec![(1.0, 1.0), (1e-1, 0.0), (1e-2, f64::NAN), (1e-3, -1.0), (1e-4, 1e-3), (1e-5, 1e-2)];
    fig.series.push(Series::line("s", dtype_color(DType::parse("f32").unwrap()), pts));
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
    fig.series.push(Series::data("s", dtype_ink(DType::parse("f64").unwrap()), pts));
    let (png, _, stats) = render_to_bytes(&fig).unwrap();
    assert_eq!(stats.dropped, 2);
    assert_eq!(png_size(&png), (1600, 1000));
}

#[test]
fn all_dropped_and_empty_figures_render() {
    let mut fig = Figure::new("nothing to see", "x", "y");
    fig.series.push(Series::line(
        "bad",
        dtype_color(DType::parse("f16").unwrap()),
        vec![(0.0, 1.0), (f64::NAN, 1.0), (1.0, -1.0)],
    ));
    fig.series.push(Series::theory("empty", dtype_color(DType::parse("bf16").unwrap()), vec![]).with_band(vec![(
        f64::NAN,
        1.0,
        2.0,
    )]));
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
    fig.series.push(Series::line("one", dtype_color(DType::parse("f64").unwrap()), vec![(1e-3, 1e-3)]));
    render_to_bytes(&fig).unwrap();
    fig.series.push(Series::line(
        "wide",
        dtype_color(DType::parse("mpfr:256").unwrap()),
        vec![(1e-300, 1e-300), (1e300, 1e300)],
    ));
    render_to_bytes(&fig).unwrap();
}

#[test]
fn extreme_inputs_do_not_panic() {
    let long = "a very long title that does not fit ".repeat(20);
    let mut fig = Figure::new(long.clone(), long.clone(), long.clone());
    fig.caption = Some(long.clone());
    fig.y_log = false;
    fig.series.push(Series::line(
        "huge",
        dtype_color(DType::parse("f32").unwrap()),
        vec![(1e-3, -1.7e308), (1.0, 1.7e308)],
    ));
    fig.series.push(Series::theory(
        "tiny",
        dtype_color(DType::parse("f64").unwrap()),
        vec![(1e-3, 5e-324), (1.0, 1e-323)],
    ));
    for k in 0..40 {
        fig.series.push(Series::reference(
            format!("{k} {long}"),
            dtype_color(DType::parse("f16").unwrap()),
            vec![(1e-2, 0.5)],
        ));
    }
    fig.markers.push(Marker { x: 1e-2, y: 0.0, label: Some(long), color: REFERENCE_GREY });
    let (png, _, _) = render_to_bytes(&fig).unwrap();
    assert_eq!(png_size(&png), (1600, 1000));
    fig.series.truncate(2);
    fig.series[1].points = vec![(1e-3, 5e-324), (1.0, 5e-324)];
    render_to_bytes(&fig).unwrap();
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
    fig.series.push(Series::data("bf16", dtype_ink(DType::parse("bf16").unwrap()), bf16));
    fig.series.push(Series::data("f16", dtype_ink(DType::parse("f16").unwrap()), curve(4.9e-4)));
    let f32c = curve(6e-8);
    let band = f32c.iter().map(|&(h, y)| (h, y * 0.35, (y * 2.2).min(1.0))).collect();
    fig.series.push(Series::data("f32", dtype_ink(DType::parse("f32").unwrap()), f32c).with_band(band));
    fig.series.push(Series::data("f64", dtype_ink(DType::parse("f64").unwrap()), curve(eps64)));
    let trunc = xs.iter().filter(|&&h| h >= 1e-7).map(|&h| (h, c * h * h)).collect();
    fig.series.push(Series::theory("truncation C h\u{b2}", REFERENCE_GREY, trunc));
    let round = xs.iter().filter(|&&h| h <= 1e-3).map(|&h| (h, eps64 / h)).collect();
    fig.series.push(Series::theory("rounding \u{3b5}(f64) / h", dtype_color(DType::parse("f64").unwrap()), round));
    let h32 = (6e-8_f64 / (2.0 * c)).cbrt();
    let h64 = (eps64 / (2.0 * c)).cbrt();
    fig.markers.push(Marker {
        x: h32,
        y: c * h32 * h32 + 6e-8 / h32,
        label: Some("predicted optimum (f32)".into()),
        color: dtype_color(DType::parse("f32").unwrap()),
    });
    fig.markers.push(Marker {
        x: h64,
        y: c * h64 * h64 + eps64 / h64,
        label: Some("predicted optimum (f64)".into()),
        color: dtype_color(DType::parse("f64").unwrap()),
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

    let mut fig = Figure::new("Plateau of accumulated gradients vs scale factor", "factor c", "plateau 1 \u{2212} 1/c");
    fig.y_log = false;
    let cs: Vec<f64> = (0..=20).map(|i| 10f64.powf(f64::from(i) / 5.0)).collect();
    fig.series.push(Series::theory("1 \u{2212} 1/c", REFERENCE_GREY, cs.iter().map(|&c| (c, 1.0 - 1.0 / c)).collect()));
    let meas = cs.iter().step_by(2).map(|&c| (c, (1.0 - 1.0 / c) * 1.01)).collect();
    fig.series.push(Series::data("measured", dtype_ink(DType::parse("f64").unwrap()), meas));
    fig.legend_pos = LegendPos::LowerRight;
    render(&fig, Path::new("/tmp/plot_demo_linear.png"), Path::new("/tmp/plot_demo_linear.svg")).unwrap();

    let mut fig = Figure::new("Every dtype, accumulated (dashed) and reset (solid)", "step h", "relative error");
    let xs: Vec<f64> = (0..=12).map(|i| 10f64.powi(-i)).collect();
    let dtypes = ["f16", "bf16", "f32", "f64", "mpfr:113", "mpfr:128", "mpfr:256"];
    for (k, name) in dtypes.iter().enumerate() {
        let eps = 10f64.powi(-3 - 3 * k as i32);
        let reset = xs.iter().map(|&h| (h, (0.3 * h * h + eps / h).min(1.0))).collect();
        let acc = xs.iter().map(|&h| (h, (0.9 + 0.3 * h * h + eps / h).min(1.0))).collect();
        fig.series.push(Series::data(format!("{name} reset"), dtype_ink(DType::parse(name).unwrap()), reset));
        fig.series.push(Series::theory(format!("{name} accumulated"), dtype_color(DType::parse(name).unwrap()), acc));
    }
    let published = vec![(1e-2, 0.9), (1e-4, 0.93), (1e-6, 0.5), (1e-8, 1.0)];
    fig.series.push(Series::reference("published", RGBColor(0, 0, 0), published));
    render(&fig, Path::new("/tmp/plot_demo_many.png"), Path::new("/tmp/plot_demo_many.svg")).unwrap();

    let mut fig = Figure::new("All points dropped", "step h", "error");
    fig.series.push(Series::line(
        "f16",
        dtype_color(DType::parse("f16").unwrap()),
        vec![(1e-3, 0.0), (1e-4, f64::NAN)],
    ));
    render(&fig, Path::new("/tmp/plot_demo_empty.png"), Path::new("/tmp/plot_demo_empty.svg")).unwrap();
}
