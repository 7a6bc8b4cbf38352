//! `sum_vs_mean`: the seed's two "summing instead of averaging" mistakes told apart.
//!
//! In the seed n = E = 10, so an x.grad accumulated over E epochs and a loss summed over n
//! samples (checked against the mean) both give relative error 1 - 1/10. Varying E and n
//! independently separates them: the plateau is 1 - 1/c and the analytic/numeric ratio is c,
//! where c is the factor of the mistake.

use gradlab::check::prepare;
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::plot::{Figure, LegendPos, BLUE, DARK_GREY, VERMILLION};
use gradlab::lab::report::md_table;
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::{dashed, line, points};
use gradlab::method::Scheme;
use gradlab::metrics::{compare, ratio_median};
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::{Pass, Reduction, Wrt};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct SumVsMean;

/// The step used for every measurement (f64 central differences are accurate to ~1e-10 here).
const EPS: &str = "1e-5";

/// One mistake at one size.
#[derive(Clone, Copy, Debug)]
pub enum Family {
    /// x.grad accumulated over E epochs (n = 10).
    Epochs(usize),
    /// A sum-reduced analytic gradient checked against the mean loss, n samples.
    Batch(usize),
    /// Accumulation over 10 epochs at learning rate lr.
    Lr(&'static str),
}

/// One measured plateau.
#[derive(Serialize, Deserialize)]
pub struct Row {
    family: String,
    factor: usize,
    n: usize,
    epochs: usize,
    lr: Decimal,
    eps: Decimal,
    relerr_mean: f64,
    relerr_median: f64,
    ratio_median: f64,
    expected_plateau: f64,
}

impl Experiment for SumVsMean {
    type Cell = Family;
    type Row = Row;

    fn name(&self) -> &'static str {
        "sum_vs_mean"
    }
    fn description(&self) -> &'static str {
        "accumulated x.grad (factor E) vs a sum-reduced gradient checked against the mean (factor n), told apart"
    }
    fn cells(&self, quick: bool) -> Vec<Family> {
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
    fn run_cell(&self, &fam: &Family) -> Result<Vec<Row>> {
        let (family, n, epochs, lr, factor) = match fam {
            Family::Epochs(e) => ("epochs", 10, e, "1e-3", e),
            Family::Batch(n) => ("batch", n, 10, "1e-3", n),
            Family::Lr(l) => ("lr", 10, 10, l, 10),
        };
        let problem = Problem::generate(n, 4, 2, 1)?;
        let input_grad = if matches!(fam, Family::Batch(_)) { InputGrad::Reset } else { InputGrad::Accumulate };
        let lr = Decimal::parse("lr", lr)?;
        let cfg = TrainConfig { epochs, lr: lr.clone(), input_grad, reduction: Reduction::Mean };
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
        let eps = Decimal::parse("step", EPS)?;
        let num = numeric_grad(&setup, &eps, false);
        let bits = DType::F64.bits();
        let s = compare(&num.grad, &analytic, bits, bits);
        Ok(vec![Row {
            family: family.into(),
            factor,
            n,
            epochs,
            lr,
            eps,
            relerr_mean: s.mean,
            relerr_median: s.median,
            ratio_median: ratio_median(&analytic, &num.grad),
            expected_plateau: 1.0 - 1.0 / factor as f64,
        }])
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let family = |f: &'static str| rows.iter().filter(move |r| r.family == f);
        let mut s = format!(
            "The seed cannot tell its two \"summing instead of averaging\" mistakes apart because n = E = 10. \
             Here they are varied independently (f64, central differences at eps = {EPS}, seed 1): x.grad accumulated over \
             E epochs (n = 10, lr = 1e-3), and the gradient of the summed loss checked against finite differences of the \
             mean loss (n samples). Both plateaus follow 1 - 1/c.\n\n\
             **Rule:** the analytic/numeric ratio (`ratio_median`) is the factor c of the mistake. If it equals the number \
             of epochs, x.grad is being accumulated (zero it every epoch); if it equals the batch size, the gradient is of \
             a sum where the loss is a mean. Design the check with n != E so the two cannot coincide.\n\n"
        );
        let mistake = |f: &str| if f == "epochs" { "accumulated over E epochs" } else { "sum vs mean over n samples" };
        s.push_str(&md_table(
            "mistake | factor c | relerr_mean | 1 - 1/c | ratio analytic/numeric",
            family("epochs").chain(family("batch")).map(|r| {
                vec![
                    mistake(&r.family).to_string(),
                    r.factor.to_string(),
                    format!("{:.5}", r.relerr_mean),
                    format!("{:.5}", r.expected_plateau),
                    format!("{:.4}", r.ratio_median),
                ]
            }),
        ));
        s.push_str(
            "\nThe learning rate moves the accumulation plateau away from 1 - 1/E: the epochs' gradients differ as the \
             weights move, so their sum is no longer E times the last one (E = 10):\n\n",
        );
        s.push_str(&md_table(
            "lr | relerr_mean | ratio analytic/numeric",
            family("lr")
                .map(|r| vec![r.lr.to_string(), format!("{:.5}", r.relerr_mean), format!("{:.4}", r.ratio_median)]),
        ));
        let plateau = |f: &'static str, x: fn(&Row) -> f64| -> Vec<(f64, f64)> {
            family(f).map(|r| (x(r), r.relerr_mean)).collect()
        };

        let mut fig = Figure::new(
            "Plateau of the relative error vs the factor of the mistake (f64, seed 1)",
            "factor c (epochs E, or batch size n)",
            "mean relative error",
        );
        fig.y_log = false;
        let curve: Vec<(f64, f64)> =
            (0..=200).map(|i| 10f64.powf(i as f64 * 2.4 / 200.0)).map(|c| (c, 1.0 - 1.0 / c)).collect();
        fig.series.push(dashed("1 - 1/c", DARK_GREY, curve));
        fig.series.push(points(
            "x.grad accumulated over E epochs (n = 10)",
            BLUE,
            plateau("epochs", |r| r.factor as f64),
        ));
        fig.series.push(points(
            "sum-reduced gradient vs mean loss (n samples)",
            VERMILLION,
            plateau("batch", |r| r.factor as f64),
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
        let lr = plateau("lr", |r| r.lr.to_f64());
        let (lo, hi) = lr.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
        fig.series.push(dashed("1 - 1/E = 0.9", DARK_GREY, vec![(lo, 0.9), (hi, 0.9)]));
        fig.series.push(line("measured plateau", BLUE, lr));
        fig.legend_pos = LegendPos::LowerLeft;
        out.figure("sum_vs_mean_lr", &fig)?;
        s.push_str(
            "\n![sum_vs_mean](sum_vs_mean/sum_vs_mean.png)\n\n![sum_vs_mean_lr](sum_vs_mean/sum_vs_mean_lr.png)\n",
        );
        Ok(s)
    }
}

/// `cargo run --release --bin sum_vs_mean -- [--out DIR] [--quick] [--threads N] [--shard K/N]`:
/// this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&SumVsMean)
}
