//! `sum_vs_mean`: the seed's two "summing instead of averaging" mistakes told apart.
//!
//! In the seed n = E = 10, so an x.grad accumulated over E epochs and a loss summed over n
//! samples (checked against the mean) both give relative error 1 - 1/10. Varying E and n
//! independently separates them: the plateau is 1 - 1/c and the analytic/numeric ratio is c,
//! where c is the factor of the mistake.

use gradlab::check::prepare;
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::plot::{palette, Figure, LegendPos};
use gradlab::lab::runner::{dashed, line, points};
use gradlab::lab::runner::{Experiment, Output, Row, Table};
use gradlab::method::Scheme;
use gradlab::metrics::{compare, ratio_median};
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::Wrt;
use gradlab::objective::{Pass, Reduction};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use plotters::style::RGBColor;
use std::fmt::Write as _;

/// The experiment.
pub struct SumVsMean;

/// The step used for every measurement (f64 central differences are accurate to ~1e-10 here).
const EPS: &str = "1e-5";

#[derive(Clone, Copy, Debug)]
enum Family {
    /// x.grad accumulated over E epochs (n = 10).
    Epochs(usize),
    /// A sum-reduced analytic gradient checked against the mean loss, n samples.
    Batch(usize),
    /// Accumulation over 10 epochs at learning rate lr.
    Lr(&'static str),
}

fn cells(quick: bool) -> Vec<Family> {
    let (es, ns, lrs): (&[usize], &[usize], &[&'static str]) = if quick {
        (&[2, 5, 20], &[2, 5, 20], &["1e-3", "1e-1"])
    } else {
        (
            &[2, 3, 4, 5, 7, 10, 15, 20, 30, 50],
            &[2, 3, 4, 5, 7, 10, 20, 50, 100, 200],
            &["1e-4", "1e-3", "3e-3", "1e-2", "3e-2", "1e-1", "3e-1", "1", "3"],
        )
    };
    let mut v: Vec<Family> = es.iter().map(|&e| Family::Epochs(e)).collect();
    v.extend(ns.iter().map(|&n| Family::Batch(n)));
    v.extend(lrs.iter().map(|&l| Family::Lr(l)));
    v
}

fn lit(what: &'static str, s: &str) -> Decimal {
    Decimal::parse(what, s).unwrap_or_else(|_| unreachable!("literal {s}"))
}

impl Experiment for SumVsMean {
    fn name(&self) -> &'static str {
        "sum_vs_mean"
    }
    fn description(&self) -> &'static str {
        "accumulated x.grad (factor E) vs a sum-reduced gradient checked against the mean (factor n), told apart"
    }
    fn columns(&self) -> Vec<&'static str> {
        vec![
            "family",
            "factor",
            "n",
            "epochs",
            "lr",
            "eps",
            "relerr_mean",
            "relerr_median",
            "ratio_median",
            "expected_plateau",
        ]
    }
    fn cell_count(&self, quick: bool) -> usize {
        cells(quick).len()
    }
    fn run_cell(&self, quick: bool, index: usize) -> Result<Vec<Row>> {
        let fam = cells(quick)[index];
        let (family, n, epochs, lr, factor) = match fam {
            Family::Epochs(e) => ("epochs", 10, e, "1e-3", e),
            Family::Batch(n) => ("batch", n, 10, "1e-3", n),
            Family::Lr(l) => ("lr", 10, 10, l, 10),
        };
        let problem = Problem::generate(n, 4, 2, 1)?;
        let input_grad = if matches!(fam, Family::Batch(_)) { InputGrad::Reset } else { InputGrad::Accumulate };
        let cfg = TrainConfig { epochs, lr: lit("lr", lr), input_grad, reduction: Reduction::Mean };
        let (tr, _) = prepare::<f64>(&problem, (), &cfg);
        // The analytic gradient under test: accumulated x.grad, or the sum-reduced loss's gradient.
        let analytic = match fam {
            Family::Batch(_) => {
                let mut pass = Pass::<f64>::new(tr.x.nrows(), tr.x.ncols(), tr.weight.nrows(), ());
                // The sum reduction has no factor.
                pass.run(tr.x.view(), tr.weight.view(), &tr.bias, &tr.t, None);
                pass.grad_x
            }
            _ => tr.grad_x.clone(),
        };
        let setup =
            Setup { trained: &tr, reduction: Reduction::Mean, stencil: Scheme::Central.stencil(), wrt: Wrt::Input };
        let num = numeric_grad(&setup, &lit("step", EPS), false);
        let bits = DType::F64.bits();
        let s = compare(&num.grad, &analytic, bits, bits);
        Ok(vec![vec![
            family.into(),
            factor.into(),
            n.into(),
            epochs.into(),
            lr.into(),
            EPS.into(),
            s.mean.into(),
            s.median.into(),
            ratio_median(&analytic, &num.grad).into(),
            (1.0 - 1.0 / factor as f64).into(),
        ]])
    }

    fn finish(&self, _quick: bool, t: &Table, out: &mut Output) -> Result<String> {
        let fam = |f: &str, x: &str| -> Vec<(f64, f64)> {
            t.select(&[("family", f)]).iter().map(|&r| (t.f(r, x), t.f(r, "relerr_mean"))).collect()
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "The seed cannot tell its two \"summing instead of averaging\" mistakes apart because n = E = 10. \
             Here they are varied independently (f64, central differences at eps = {EPS}, seed 1): x.grad accumulated over \
             E epochs (n = 10, lr = 1e-3), and the gradient of the summed loss checked against finite differences of the \
             mean loss (n samples). Both plateaus follow 1 - 1/c.\n\n\
             **Rule:** the analytic/numeric ratio (`ratio_median`) is the factor c of the mistake. If it equals the number \
             of epochs, x.grad is being accumulated (zero it every epoch); if it equals the batch size, the gradient is of \
             a sum where the loss is a mean. Design the check with n != E so the two cannot coincide.\n"
        );
        let _ = writeln!(s, "| mistake | factor c | relerr_mean | 1 - 1/c | ratio analytic/numeric |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
        for f in ["epochs", "batch"] {
            for r in t.select(&[("family", f)]) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.5} | {:.5} | {:.4} |",
                    if f == "epochs" { "accumulated over E epochs" } else { "sum vs mean over n samples" },
                    t.s(r, "factor"),
                    t.f(r, "relerr_mean"),
                    t.f(r, "expected_plateau"),
                    t.f(r, "ratio_median")
                );
            }
        }
        let _ = writeln!(
            s,
            "\nThe learning rate moves the accumulation plateau away from 1 - 1/E: the epochs' gradients differ as the \
             weights move, so their sum is no longer E times the last one (E = 10):\n"
        );
        let _ = writeln!(s, "| lr | relerr_mean | ratio analytic/numeric |");
        let _ = writeln!(s, "| --- | --- | --- |");
        for r in t.select(&[("family", "lr")]) {
            let _ = writeln!(s, "| {} | {:.5} | {:.4} |", t.s(r, "lr"), t.f(r, "relerr_mean"), t.f(r, "ratio_median"));
        }

        let mut fig = Figure::new(
            "Plateau of the relative error vs the factor of the mistake (f64, seed 1)",
            "factor c (epochs E, or batch size n)",
            "mean relative error",
        );
        fig.y_log = false;
        let curve: Vec<(f64, f64)> =
            (0..=200).map(|i| 10f64.powf(i as f64 * 2.4 / 200.0)).map(|c| (c, 1.0 - 1.0 / c)).collect();
        fig.series.push(dashed("1 - 1/c", RGBColor(60, 60, 60), curve));
        fig.series.push(points("x.grad accumulated over E epochs (n = 10)", palette("f64"), fam("epochs", "factor")));
        fig.series.push(points(
            "sum-reduced gradient vs mean loss (n samples)",
            palette("f16"),
            fam("batch", "factor"),
        ));
        fig.legend_pos = LegendPos::LowerRight;
        fig.caption = Some("Both mistakes fall on the same curve 1 - 1/c (the accumulated points hide under the batch points where c matches); only the count c differs.".into());
        out.figure("sum_vs_mean", &fig)?;
        let mut fig = Figure::new(
            "Accumulated x.grad over E = 10 epochs: the plateau moves with the learning rate",
            "learning rate",
            "mean relative error",
        );
        fig.y_log = false;
        let lr = fam("lr", "lr");
        let (lo, hi) = lr.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
        fig.series.push(dashed("1 - 1/E = 0.9", RGBColor(60, 60, 60), vec![(lo, 0.9), (hi, 0.9)]));
        fig.series.push(line("measured plateau", palette("f64"), lr));
        fig.legend_pos = LegendPos::LowerLeft;
        out.figure("sum_vs_mean_lr", &fig)?;
        let _ = writeln!(
            s,
            "\n![sum_vs_mean](sum_vs_mean/sum_vs_mean.png)\n\n![sum_vs_mean_lr](sum_vs_mean/sum_vs_mean_lr.png)"
        );
        Ok(s)
    }
}

/// `cargo run --release --bin sum_vs_mean -- [--out DIR] [--quick] [--threads N]`: this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&SumVsMean)
}
