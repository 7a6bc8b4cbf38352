//! `bits_sweep`: MPFR at every precision from 8 to 128 bits; the best achievable error and the
//! optimal step against the bit count, with the slopes theory predicts.
//!
//! With E(h) = T h^p + R u / h, the optimum is h* ~ u^(1/(p+1)) and E* ~ u^(p/(p+1)): for forward
//! differences (p = 1) h* ~ u^(1/2), E* ~ u^(1/2); for central (p = 2) h* ~ u^(1/3), E* ~ u^(2/3).
//! Since u = 2^-bits, log2 of each is linear in the bit count with those slopes (negated).

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::error::Result;
use gradlab::method::{Scheme, Steps};
use gradlab::metrics::{best_step, fit_line};
use gradlab::model::LinearTensor;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::watch::Watch;
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::plot::{scheme_ink, Figure, LegendPos, DARK_GREY};
use gradlab_lab::report::{md_table, sci6};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::{dashed, line};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct BitsSweep;

const SCHEMES: [Scheme; 2] = [Scheme::Forward, Scheme::Central];

/// One precision and scheme: the best error on the grid and where it is.
#[derive(Serialize, Deserialize)]
pub struct Row {
    bits: u32,
    scheme: Scheme,
    unit_roundoff: f64,
    best_error: f64,
    opt_step: f64,
    grid_points: usize,
    /// Empty, or which edge of the grid the minimum sits on (then the step bounds the optimum).
    opt_step_edge: String,
}

/// A fitted slope against theory's (fits.csv).
#[derive(Serialize)]
struct Fit {
    scheme: Scheme,
    quantity: &'static str,
    measured_slope: f64,
    theory_slope: f64,
    relative_deviation: f64,
}

/// Theory's slopes of log2(best error) and log2(optimal step) per bit.
pub fn theory_slopes(scheme: Scheme) -> (f64, f64) {
    let p = scheme.stencil().order as f64;
    (-p / (p + 1.0), -1.0 / (p + 1.0))
}

/// A theory line of a figure: its scheme, its slope and its points.
type TheoryLine = (Scheme, f64, Vec<(f64, f64)>);

impl Experiment for BitsSweep {
    /// Bits, scheme, and whether the grid is the quick one.
    type Cell = (u32, Scheme, bool);
    type Row = Row;

    const NAME: &'static str = "bits_sweep";
    const DESCRIPTION: &'static str = "MPFR from 8 to 128 bits: best error and optimal step vs precision, forward and \
         central, against theory's slopes";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let bits: Vec<u32> = if quick { (16..=64).step_by(8).collect() } else { (8..=128).collect() };
        bits.into_iter().flat_map(|b| SCHEMES.map(|s| (b, s, quick))).collect()
    }
    fn run_cell(&self, &(bits, scheme, quick): &Self::Cell) -> Result<Vec<Row>> {
        let dt = DType::Mpfr(Prec::new(bits)?);
        let problem = Problem::generate(10, 4, 2, 1)?;
        // From 10 down: at 8 to 10 bits the central optimum lies above 1.
        let steps = if quick { log_grid_from(1, 25, 4) } else { log_grid_from(1, 31, 8) };
        let cfg = CheckConfig {
            truth: Some(gradlab::policy::truth_prec(&[dt])),
            ..CheckConfig::seed(scheme, Steps::grid(steps.clone())?)
        };
        let res = check_dtype(&problem, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?;
        let best = best_step(steps.iter().zip(&res.rows).map(|(h, r)| (h, r.num_vs_truth)));
        let (opt_step, best_error) = best.as_ref().map_or((f64::NAN, f64::NAN), |b| (b.step.to_f64(), b.value));
        let opt_step_edge = best.and_then(|b| b.edge).map_or(String::new(), |e| e.note().to_string());
        Ok(vec![Row {
            bits,
            scheme,
            unit_roundoff: dt.unit_roundoff(),
            best_error,
            opt_step,
            grid_points: steps.len(),
            opt_step_edge,
        }])
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mut s = String::from(
            "MPFR at every precision from 8 to 128 bits (correct gradients, seed 1, E = 10): the smallest error of the \
             numeric gradient against the truth over a grid of 8 steps per decade, and the step where it occurs. \
             Theory (E(h) = T h^p + R u/h) predicts log2(best error) and log2(optimal step) linear in the bit count, with \
             slopes -p/(p+1) and -1/(p+1): best error ~ u^(1/2) and u^(2/3), optimal step ~ u^(1/2) and u^(1/3) for forward \
             and central differences.\n\n",
        );
        let mut err_fig =
            Figure::new("Best achievable error vs MPFR precision", "significand bits", "best mean relative error");
        let mut step_fig = Figure::new("Optimal step vs MPFR precision", "significand bits", "optimal step eps");
        let mut fits = Vec::new();
        // Per figure: the theory lines, drawn over the data with one legend entry.
        let (mut err_theory, mut step_theory): (Vec<TheoryLine>, Vec<_>) = (Vec::new(), Vec::new());
        for scheme in SCHEMES {
            let ink = scheme_ink(scheme);
            let mine: Vec<&Row> = rows.iter().filter(|r| r.scheme == scheme).collect();
            let errs: Vec<(f64, f64)> = mine.iter().map(|r| (r.bits as f64, r.best_error)).collect();
            let steps: Vec<(f64, f64)> = mine.iter().map(|r| (r.bits as f64, r.opt_step)).collect();
            let (te, ts) = theory_slopes(scheme);
            for (quantity, pts, theory, fig, lines) in [
                ("best_error", errs, te, &mut err_fig, &mut err_theory),
                ("opt_step", steps, ts, &mut step_fig, &mut step_theory),
            ] {
                let logs: Vec<(f64, f64)> = pts.iter().filter(|p| p.1 > 0.0).map(|p| (p.0, p.1.log2())).collect();
                let (slope, icpt) = fit_line(&logs);
                let dev = (slope - theory).abs() / theory.abs();
                fits.push(Fit {
                    scheme,
                    quantity,
                    measured_slope: slope,
                    theory_slope: theory,
                    relative_deviation: dev,
                });
                fig.series.push(line(&format!("{scheme} (fitted slope {slope:.3})"), ink, pts));
                // Theory's slope through the fit's centre.
                let mx = logs.iter().map(|p| p.0).sum::<f64>() / logs.len().max(1) as f64;
                let my = slope * mx + icpt;
                let theory_line = [8.0, 128.0].iter().map(|&b| (b, 2f64.powf(my + theory * (b - mx)))).collect();
                lines.push((scheme, theory, theory_line));
            }
        }
        for (fig, lines) in [(&mut err_fig, &err_theory), (&mut step_fig, &step_theory)] {
            let slopes: Vec<String> = lines.iter().map(|(s, t, _)| format!("{t:.3} {s}")).collect();
            for (i, (_, _, pts)) in lines.iter().enumerate() {
                let label = if i == 0 { format!("theory, slopes {}", slopes.join(", ")) } else { String::new() };
                fig.series.push(dashed(&label, DARK_GREY, pts.clone()));
            }
        }
        s.push_str(&md_table(
            "scheme | quantity | measured slope (log2 per bit) | theory | deviation",
            fits.iter().map(|f| {
                vec![
                    f.scheme.to_string(),
                    f.quantity.to_string(),
                    format!("{:.4}", f.measured_slope),
                    format!("{:.4}", f.theory_slope),
                    format!("{:.1}%", f.relative_deviation * 100.0),
                ]
            }),
        ));
        for fig in [&mut err_fig, &mut step_fig] {
            fig.x_log = false;
            fig.legend_pos = LegendPos::LowerLeft;
        }
        out.figure("bits_sweep_error", &err_fig)?;
        out.figure("bits_sweep_step", &step_fig)?;
        out.csv("fits.csv", &fits)?;
        let edges = rows.iter().filter(|r| !r.opt_step_edge.is_empty()).count();
        s.push_str(&format!(
            "\n{edges} of {} minima sit on an edge of their grid (10 down to 1e-30, 8 steps per decade).\n",
            rows.len()
        ));
        if let Some(last) = rows.last() {
            s.push_str(&format!(
                "\nAt {} bits the best {} error is {}.\n",
                last.bits,
                last.scheme,
                sci6(last.best_error)
            ));
        }
        s.push_str(
            "\n![bits_sweep_error](bits_sweep/bits_sweep_error.png)\n\n![bits_sweep_step](bits_sweep/bits_sweep_step.png)\n",
        );
        Ok(s)
    }
}

gradlab_lab::experiment_main!(BitsSweep);
