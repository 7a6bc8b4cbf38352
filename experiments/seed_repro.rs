//! `seed_repro`: the seed's protocol (Cross Validated question 491171) in f32 with the
//! accumulating input gradient, its fix, and the logits check; then the same across dtypes.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::grid::{decades, log_grid};
use gradlab::lab::plot::{palette, Figure, LegendPos, Marker};
use gradlab::lab::report::sci6;
use gradlab::lab::runner::{dashed, line, points};
use gradlab::lab::runner::{Experiment, Output, Row, Table};
use gradlab::method::Scheme;
use gradlab::objective::Wrt;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::theory::error_model;
use gradlab::train::{InputGrad, TrainConfig};
use plotters::style::RGBColor;
use std::fmt::Write as _;

/// The experiment.
pub struct SeedRepro;

/// The published float32 table for the accumulated input gradient (eps, mean relerr).
pub const PUBLISHED_INPUT: [(f64, f64); 9] = [
    (1e0, 8.996676e-01),
    (1e-1, 9.000528e-01),
    (1e-2, 9.000629e-01),
    (1e-3, 9.000670e-01),
    (1e-4, 9.012159e-01),
    (1e-5, 8.879865e-01),
    (1e-6, 7.996843e-01),
    (1e-7, 1.000000e+00),
    (1e-8, 1.000000e+00),
];

/// The published float32 table for the logits gradient.
pub const PUBLISHED_LOGITS: [(f64, f64); 6] = [
    (1e-1, 2.426800e-04),
    (1e-2, 3.202225e-05),
    (1e-3, 3.494641e-04),
    (1e-4, 3.063642e-03),
    (1e-5, 1.855947e-02),
    (1e-6, 5.074288e-01),
];

const VARIANTS: [&str; 3] = ["accumulate", "reset", "logits"];

fn dtypes(quick: bool) -> Vec<DType> {
    let names: &[&str] = if quick { &["f32", "f64"] } else { &["f16", "bf16", "f32", "f64", "mpfr:128"] };
    names.iter().map(|n| DType::parse(n).unwrap_or_else(|_| unreachable!("valid dtype literal"))).collect()
}

fn steps(quick: bool) -> Vec<Decimal> {
    if quick {
        decades(0, 8)
    } else {
        log_grid(10, 4)
    }
}

/// The seed's configuration for one variant.
pub fn seed_config(variant: &str, steps: Vec<Decimal>) -> CheckConfig {
    let (input_grad, wrt) = match variant {
        "accumulate" => (InputGrad::Accumulate, Wrt::Input),
        "reset" => (InputGrad::Reset, Wrt::Input),
        _ => (InputGrad::Reset, Wrt::Logits),
    };
    CheckConfig {
        train: TrainConfig::seed(input_grad),
        scheme: Scheme::Central,
        steps,
        wrt,
        truth: Prec::new(256).ok(),
        naive: false,
        keep_grads: false,
    }
}

impl Experiment for SeedRepro {
    fn name(&self) -> &'static str {
        "seed_repro"
    }
    fn description(&self) -> &'static str {
        "the seed's check (accumulated x.grad, its fix, the logits) in f32 beside the published table, then across dtypes"
    }
    fn columns(&self) -> Vec<&'static str> {
        vec![
            "dtype",
            "variant",
            "wrt",
            "input_grad",
            "eps",
            "eps_value",
            "relerr_mean",
            "relerr_median",
            "relerr_max",
            "num_vs_truth",
            "anal_vs_truth",
            "ratio_median",
            "dead_zone",
            "zero_over_zero",
            "nonfinite",
            "status",
        ]
    }
    fn cell_count(&self, quick: bool) -> usize {
        dtypes(quick).len() * VARIANTS.len()
    }
    fn run_cell(&self, quick: bool, index: usize) -> Result<Vec<Row>> {
        let dt = dtypes(quick)[index / VARIANTS.len()];
        let variant = VARIANTS[index % VARIANTS.len()];
        let problem = Problem::generate(10, 4, 2, 1)?;
        let st = gradlab::lab::grid::usable(&steps(quick), dt);
        let cfg = seed_config(variant, st.clone());
        let res = check_dtype(&problem, dt, &cfg)?;
        Ok(res
            .rows
            .into_iter()
            .zip(&st)
            .map(|(r, h)| {
                vec![
                    r.dtype.to_string().into(),
                    variant.into(),
                    r.wrt.to_string().into(),
                    r.input_grad.to_string().into(),
                    h.text().into(),
                    h.to_f64().into(),
                    r.relerr_mean.into(),
                    r.relerr_median.into(),
                    r.relerr_max.into(),
                    r.num_vs_truth.into(),
                    r.anal_vs_truth.into(),
                    r.ratio_median.into(),
                    r.dead_zone.into(),
                    r.zero_over_zero.into(),
                    r.nonfinite.into(),
                    r.status.to_string().into(),
                ]
            })
            .collect())
    }

    fn finish(&self, quick: bool, t: &Table, out: &mut Output) -> Result<String> {
        let curve = |dt: &str, variant: &str, col: &str| -> Vec<(f64, f64)> {
            t.select(&[("dtype", dt), ("variant", variant)])
                .iter()
                .map(|&r| (t.f(r, "eps_value"), t.f(r, col)))
                .collect()
        };
        let at = |dt: &str, variant: &str, eps: f64, col: &str| -> f64 {
            curve(dt, variant, col).iter().find(|(h, _)| (h / eps - 1.0).abs() < 1e-9).map_or(f64::NAN, |p| p.1)
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "The seed's table reproduced in f32 (n = 10, d = 4, k = 2, E = 10, lr = 1e-3, seed 1; central differences). \
             With x.grad accumulated over 10 epochs the relative error sits at 1 - 1/E = 0.9 for every usable step, \
             rises through the rounding zone, and is exactly 1 in the dead zone where x + eps == x. \
             The MPFR truth shows the analytic gradient is the wrong one (`anal_vs_truth` = 0.9) while the numeric gradient is fine.\n"
        );
        let _ = writeln!(s, "| eps | published (accumulated) | gradlab accumulated | gradlab reset | reset num_vs_truth | accumulated anal_vs_truth | ratio |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- |");
        for (eps, publ) in PUBLISHED_INPUT {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {:.3} |",
                gradlab::exact::format_sci(eps),
                sci6(publ),
                sci6(at("f32", "accumulate", eps, "relerr_mean")),
                sci6(at("f32", "reset", eps, "relerr_mean")),
                sci6(at("f32", "reset", eps, "num_vs_truth")),
                sci6(at("f32", "accumulate", eps, "anal_vs_truth")),
                at("f32", "accumulate", eps, "ratio_median")
            );
        }
        let _ = writeln!(s, "\nThe logits check (y.grad is not accumulated), f32:\n");
        let _ = writeln!(s, "| eps | published | gradlab |");
        let _ = writeln!(s, "| --- | --- | --- |");
        for (eps, publ) in PUBLISHED_LOGITS {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                gradlab::exact::format_sci(eps),
                sci6(publ),
                sci6(at("f32", "logits", eps, "relerr_mean"))
            );
        }
        let _ = writeln!(s, "\nAcross dtypes (accumulated plateau = mean over eps 1e0 to 1e-3; best = smallest reset relerr_mean on the grid):\n");
        let _ =
            writeln!(s, "| dtype | plateau (accumulated) | best reset relerr | at eps | first eps with a dead zone |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
        for dt in dtypes(quick) {
            let name = dt.name();
            let plateau: Vec<f64> =
                [1e0, 1e-1, 1e-2, 1e-3].iter().map(|&e| at(&name, "accumulate", e, "relerr_mean")).collect();
            let plateau = plateau.iter().sum::<f64>() / plateau.len() as f64;
            let reset = curve(&name, "reset", "relerr_mean");
            let best = reset.iter().copied().filter(|p| p.1.is_finite()).min_by(|a, b| a.1.total_cmp(&b.1));
            let dead = t
                .select(&[("dtype", &name), ("variant", "reset")])
                .into_iter()
                .find(|&r| t.f(r, "dead_zone") > 0.0)
                .map_or("none on the grid".to_string(), |r| gradlab::exact::format_sci(t.f(r, "eps_value")));
            let _ = writeln!(
                s,
                "| {name} | {:.4} | {} | {} | {dead} |",
                plateau,
                best.map_or("NaN".into(), |b| sci6(b.1)),
                best.map_or("-".into(), |b| gradlab::exact::format_sci(b.0))
            );
        }

        // Figure 1: the three regimes of the seed's curve, on a linear axis where 0.9 and 1 are apart.
        let mut fig = Figure::new(
            "The seed's curve in f32: plateau, rounding zone, dead zone (accumulated x.grad)",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        fig.y_log = false;
        let acc = curve("f32", "accumulate", "relerr_mean");
        let (lo, hi) = acc.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
        fig.series.push(dashed(
            "plateau 1 - 1/E = 0.9 (x.grad summed over 10 epochs)",
            RGBColor(90, 90, 90),
            vec![(lo, 0.9), (hi, 0.9)],
        ));
        fig.series.push(dashed(
            "dead zone: x + eps == x, numeric gradient 0, relerr 1",
            RGBColor(200, 60, 60),
            vec![(lo, 1.0), (hi, 1.0)],
        ));
        fig.series.push(line("gradlab, f32", palette("f32"), acc));
        fig.series.push(points("published (Cross Validated 491171)", RGBColor(0, 0, 0), PUBLISHED_INPUT.to_vec()));
        fig.legend_pos = LegendPos::LowerRight;
        fig.caption = Some(
            "eps >= 1e-4: plateau at 0.9; 1e-5 and 1e-6: f32 rounding of the loss (u/eps) moves the curve; <= 1e-7: dead zone, relerr exactly 1."
                .into(),
        );
        out.figure("seed_repro_regimes", &fig)?;
        let _ = writeln!(s, "\n![seed_repro_regimes](seed_repro/seed_repro_regimes.png)\n");

        // Figure 2: the bug's plateau beside the fix's V in f32, with the published points.
        let mut fig = Figure::new(
            "The seed's check in f32: accumulated x.grad vs the fix (n=10, d=4, k=2, E=10, lr=1e-3)",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        fig.series.push(line(
            "accumulated x.grad (the seed's bug)",
            palette("f32"),
            curve("f32", "accumulate", "relerr_mean"),
        ));
        fig.series.push(line("x.grad reset (the fix)", palette("f64"), curve("f32", "reset", "relerr_mean")));
        fig.series.push(line("logits (y.grad)", palette("bf16"), curve("f32", "logits", "relerr_mean")));
        fig.series.push(points("published, accumulated", RGBColor(0, 0, 0), PUBLISHED_INPUT.to_vec()));
        fig.series.push(points("published, logits", RGBColor(120, 120, 120), PUBLISHED_LOGITS.to_vec()));
        // The error model of the fixed check in f32 (src/theory.rs), dashed, with its optimum.
        let problem = Problem::generate(10, 4, 2, 1)?;
        let model = error_model(&problem, &seed_config("reset", Vec::new()).train, Scheme::Central, Wrt::Input);
        let u = DType::F32.unit_roundoff();
        let hs: Vec<f64> = curve("f32", "reset", "relerr_mean").iter().map(|p| p.0).collect();
        let tl: Vec<(f64, f64)> = hs.iter().map(|&h| (h, model.truncation(h))).filter(|p| p.1 >= 1e-6).collect();
        let rl: Vec<(f64, f64)> = hs.iter().map(|&h| (h, model.rounding(h, u))).filter(|p| p.1 <= 1.0).collect();
        fig.series.push(dashed("theory: truncation T h^2", RGBColor(150, 150, 150), tl));
        fig.series.push(dashed("theory: f32 rounding R u/h", palette("f64"), rl));
        fig.markers.push(Marker {
            x: model.optimal_step(u),
            y: model.min_error(u),
            label: Some("predicted optimal step".into()),
            color: palette("f64"),
        });
        fig.legend_pos = LegendPos::LowerLeft;
        fig.caption = Some("The fix (x.grad reset) and the logits check show the V: truncation error falls with eps, rounding error ~ u/eps rises.".into());
        out.figure("seed_repro", &fig)?;
        let _ = writeln!(s, "\n![seed_repro](seed_repro/seed_repro.png)\n");

        // Figure 2: every dtype, accumulated (dashed) and reset (solid).
        let mut fig = Figure::new(
            "Seed protocol across dtypes: accumulated (dashed) and reset (solid) input gradient",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        for dt in dtypes(quick) {
            let name = dt.name();
            fig.series.push(line(&format!("{name} reset"), palette(&name), curve(&name, "reset", "relerr_mean")));
            // Unlabelled: the title says dashed is accumulated, and the legend stays short.
            fig.series.push(dashed("", palette(&name), curve(&name, "accumulate", "relerr_mean")));
        }
        fig.legend_pos = LegendPos::LowerRight;
        out.figure("seed_repro_dtypes", &fig)?;
        let _ = writeln!(s, "![seed_repro_dtypes](seed_repro/seed_repro_dtypes.png)");
        Ok(s)
    }
}

/// `cargo run --release --bin seed_repro -- [--out DIR] [--quick] [--threads N]`: this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&SeedRepro)
}
