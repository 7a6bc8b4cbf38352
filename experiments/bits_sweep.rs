//! `bits_sweep`: MPFR at every precision from 8 to 128 bits; the best achievable error and the
//! optimal step against the bit count, with the slopes theory predicts.
//!
//! With E(h) = T h^p + R u / h, the optimum is h* ~ u^(1/(p+1)) and E* ~ u^(p/(p+1)): for forward
//! differences (p = 1) h* ~ u^(1/2), E* ~ u^(1/2); for central (p = 2) h* ~ u^(1/3), E* ~ u^(2/3).
//! Since u = 2^-bits, log2 of each is linear in the bit count with those slopes (negated).

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::error::Result;
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::plot::{palette, Figure, LegendPos};
use gradlab::lab::report::sci6;
use gradlab::lab::runner::{dashed, line};
use gradlab::lab::runner::{Experiment, Output, Row, Table, Value};
use gradlab::method::Scheme;
use gradlab::metrics::fit_line;
use gradlab::objective::Wrt;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use plotters::style::RGBColor;
use std::fmt::Write as _;

/// The experiment.
pub struct BitsSweep;

const SCHEMES: [Scheme; 2] = [Scheme::Forward, Scheme::Central];

fn bits(quick: bool) -> Vec<u32> {
    if quick {
        (16..=64).step_by(8).collect()
    } else {
        (8..=128).collect()
    }
}

fn cells(quick: bool) -> Vec<(u32, Scheme)> {
    bits(quick).into_iter().flat_map(|b| SCHEMES.map(|s| (b, s))).collect()
}

/// Theory's slopes of log2(best error) and log2(optimal step) per bit.
pub fn theory_slopes(scheme: Scheme) -> (f64, f64) {
    let p = scheme.stencil().order as f64;
    (-p / (p + 1.0), -1.0 / (p + 1.0))
}

impl Experiment for BitsSweep {
    fn name(&self) -> &'static str {
        "bits_sweep"
    }
    fn description(&self) -> &'static str {
        "MPFR from 8 to 128 bits: best error and optimal step vs precision, forward and central, against theory's slopes"
    }
    fn columns(&self) -> Vec<&'static str> {
        vec!["bits", "scheme", "unit_roundoff", "best_error", "opt_step", "grid_points"]
    }
    fn cell_count(&self, quick: bool) -> usize {
        cells(quick).len()
    }
    fn run_cell(&self, quick: bool, index: usize) -> Result<Vec<Row>> {
        let (b, scheme) = cells(quick)[index];
        let dt = DType::Mpfr(Prec::new(b).unwrap_or_else(|_| unreachable!("8..=128 bits is in range")));
        let problem = Problem::generate(10, 4, 2, 1)?;
        // From 10 down: at 8 to 10 bits the central optimum lies above 1.
        let steps = if quick { log_grid_from(1, 25, 4) } else { log_grid_from(1, 31, 8) };
        let cfg = CheckConfig {
            train: TrainConfig::seed(InputGrad::Reset),
            scheme,
            steps: steps.clone(),
            wrt: Wrt::Input,
            truth: Prec::new(256).ok(),
            naive: false,
            keep_grads: false,
        };
        let res = check_dtype(&problem, dt, &cfg)?;
        let best = res
            .rows
            .iter()
            .zip(&steps)
            .map(|(r, h)| (h.to_f64(), r.num_vs_truth))
            .filter(|p| p.1.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((f64::NAN, f64::NAN));
        Ok(vec![vec![
            b.into(),
            scheme.name().into(),
            Value::F(dt.unit_roundoff()),
            Value::F(best.1),
            Value::F(best.0),
            steps.len().into(),
        ]])
    }

    fn finish(&self, _quick: bool, t: &Table, out: &mut Output) -> Result<String> {
        let mut fits = Table {
            columns: vec!["scheme", "quantity", "measured_slope", "theory_slope", "relative_deviation"],
            rows: Vec::new(),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "MPFR at every precision from 8 to 128 bits (correct gradients, seed 1, E = 10): the smallest error of the \
             numeric gradient against the truth over a grid of 8 steps per decade, and the step where it occurs. \
             Theory (E(h) = T h^p + R u/h) predicts log2(best error) and log2(optimal step) linear in the bit count, with \
             slopes -p/(p+1) and -1/(p+1): best error ~ u^(1/2) and u^(2/3), optimal step ~ u^(1/2) and u^(1/3) for forward \
             and central differences.\n"
        );
        let _ = writeln!(s, "| scheme | quantity | measured slope (log2 per bit) | theory | deviation |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
        let mut err_fig =
            Figure::new("Best achievable error vs MPFR precision", "significand bits", "best mean relative error");
        err_fig.x_log = false;
        let mut step_fig = Figure::new("Optimal step vs MPFR precision", "significand bits", "optimal step eps");
        step_fig.x_log = false;
        let colors = [palette("f16"), palette("f64")];
        for (scheme, color) in SCHEMES.iter().zip(colors) {
            let rows = t.select(&[("scheme", scheme.name())]);
            let errs: Vec<(f64, f64)> = rows.iter().map(|&r| (t.f(r, "bits"), t.f(r, "best_error"))).collect();
            let stepv: Vec<(f64, f64)> = rows.iter().map(|&r| (t.f(r, "bits"), t.f(r, "opt_step"))).collect();
            let (te, ts) = theory_slopes(*scheme);
            for (quantity, pts, theory, fig) in
                [("best_error", &errs, te, &mut err_fig), ("opt_step", &stepv, ts, &mut step_fig)]
            {
                let logs: Vec<(f64, f64)> = pts.iter().filter(|p| p.1 > 0.0).map(|p| (p.0, p.1.log2())).collect();
                let (slope, icpt) = fit_line(&logs);
                let dev = (slope - theory).abs() / theory.abs();
                fits.rows.push(vec![
                    scheme.name().into(),
                    quantity.into(),
                    Value::F(slope),
                    Value::F(theory),
                    Value::F(dev),
                ]);
                let _ =
                    writeln!(s, "| {} | {quantity} | {slope:.4} | {theory:.4} | {:.1}% |", scheme.name(), dev * 100.0);
                fig.series.push(line(&format!("{} (fitted slope {slope:.3})", scheme.name()), color, pts.clone()));
                // Theory's slope through the fit's centre.
                let mx = logs.iter().map(|p| p.0).sum::<f64>() / logs.len().max(1) as f64;
                let my = slope * mx + icpt;
                let line: Vec<(f64, f64)> =
                    [8.0, 128.0].iter().map(|&b| (b, 2f64.powf(my + theory * (b - mx)))).collect();
                fig.series.push(dashed(
                    &format!("{} theory slope {theory:.3}", scheme.name()),
                    RGBColor(60, 60, 60),
                    line,
                ));
            }
        }
        err_fig.legend_pos = LegendPos::LowerLeft;
        step_fig.legend_pos = LegendPos::LowerLeft;
        out.figure("bits_sweep_error", &err_fig)?;
        out.figure("bits_sweep_step", &step_fig)?;
        out.csv("fits.csv", &fits)?;
        let last = t.rows.len().saturating_sub(1);
        if !t.rows.is_empty() {
            let _ = writeln!(
                s,
                "\nAt {} bits the best {} error is {}.",
                t.s(last, "bits"),
                t.s(last, "scheme"),
                sci6(t.f(last, "best_error"))
            );
        }
        let _ = writeln!(s, "\n![bits_sweep_error](bits_sweep/bits_sweep_error.png)\n\n![bits_sweep_step](bits_sweep/bits_sweep_step.png)");
        Ok(s)
    }
}

/// `cargo run --release --bin bits_sweep -- [--out DIR] [--quick] [--threads N]`: this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&BitsSweep)
}
