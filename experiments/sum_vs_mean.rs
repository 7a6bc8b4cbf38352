//! `sum_vs_mean`: the accumulation law measured across seeds, E and lr, and the sum-reduction
//! factor n as a sanity line.
//!
//! x.grad accumulated over E epochs sums E gradients taken at parameters that SGD moved between
//! them. To first order the epoch s steps before the last had gradient g + s lr g', g' the exact
//! drift of the gradient along SGD ([`gradlab::truth::drift`]), so the sum is E g + lr g' E(E-1)/2
//! and each element's ratio to g is E [1 + lr (E - 1) g' / (2 g)]. Rows record the measured
//! ratio (analytic over numeric, as a check shows it), the law's, and what `gradlab diagnose` says.

use gradlab::check::prepare;
use gradlab::diagnose::{diagnose_trained, Cause};
use gradlab::lab::prelude::*;
use gradlab::metrics::{compare, compare_to_truth, fit_line, slope_through_origin};
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::{Pass, Reduction, Wrt};
use gradlab::scalar::Prec;

/// The experiment.
pub struct SumVsMean;
const EPS: &str = "1e-5"; // f64 central differences: ~1e-10 relative here
const EPOCHS: [usize; 6] = [2, 3, 5, 10, 20, 50];
const LRS: [&str; 10] = ["1e-4", "3e-4", "1e-3", "3e-3", "1e-2", "3e-2", "1e-1", "3e-1", "1", "3"];
const NS: [usize; 8] = [2, 3, 5, 12, 20, 50, 100, 200];
/// The quick grid: seeds, E, lr and n.
const QUICK: (u64, &[usize], &[&str], &[usize]) = (2, &[2, 10], &["1e-3", "1e-1"], &[2, 20]);

gradlab::named_enum! {
    /// Which mistake a row measures.
    pub enum Family("family") {
        /// x.grad accumulated over E epochs.
        Accumulate = "accumulate",
        /// The summed loss's gradient checked against the mean's.
        Sum = "sum",
    }
}

/// One gradient: measured ratios, the law's, and the diagnosis.
#[derive(Serialize, Deserialize)]
pub struct Row {
    family: Family,
    seed: u64,
    n: usize,
    epochs: usize,
    lr: Decimal,
    relerr_mean: f64,
    numeric_vs_truth: f64,
    ratio_median: f64,
    law_ratio_median: f64,
    law_error_median: f64,
    law_error_max: f64,
    law_slope: f64,
    ratio_spread: f64,
    diagnosed: Cause,
    diagnosed_steps: Option<usize>,
    diagnosed_lr: Option<f64>,
}

impl Experiment for SumVsMean {
    /// A family, seed, n, E and lr.
    type Cell = (Family, u64, usize, usize, &'static str);
    type Row = Row;

    const NAME: &'static str = "sum_vs_mean";
    const DESCRIPTION: &'static str = "x.grad accumulated over E epochs: the law E [1 + lr (E - 1) g'/(2g)] against \
         measurement (20 seeds, E, lr); the sum reduction's factor n as a sanity line";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let (seeds, es, lrs, ns) = if quick { QUICK } else { (20, &EPOCHS[..], &LRS[..], &NS[..]) };
        let mut v: Vec<Self::Cell> = ns.iter().map(|&n| (Family::Sum, 1, n, 10, "1e-3")).collect();
        for seed in 1..=seeds {
            v.extend(es.iter().flat_map(|&e| lrs.iter().map(move |&l| (Family::Accumulate, seed, 10, e, l))));
        }
        v
    }
    fn run_cell(&self, &(family, seed, n, epochs, lr): &Self::Cell) -> Result<Vec<Row>> {
        let (sum, lr) = (family == Family::Sum, Decimal::parse("lr", lr)?);
        let input_grad = if sum { InputGrad::Reset } else { InputGrad::Accumulate };
        let cfg = TrainConfig { epochs, lr: lr.clone(), input_grad, reduction: Reduction::Mean };
        let (tr, _) = prepare::<f64>(&Problem::generate(n, 4, 2, seed)?, (), &cfg);
        let mut pass = Pass::<f64>::new(n, 4, 2, ());
        pass.run(tr.x.view(), tr.weight.view(), &tr.bias, &tr.t, None); // the summed loss's gradient
        let analytic = if sum { pass.grad_x } else { tr.grad_x.clone() };
        let num =
            numeric_grad(&Setup::central(&tr, Reduction::Mean, Wrt::Input), &Decimal::parse("step", EPS)?, false).grad;
        let prec = Prec::new(256)?;
        let (e, ratio) = (epochs as f64, analytic.iter().zip(&num).map(|(a, b)| a / b).collect::<Vec<f64>>());
        let law = gradlab::truth::accumulation_law(&tr, Reduction::Mean, Wrt::Input, epochs, lr.to_f64(), prec);
        let truth = gradlab::truth::truth_grad(&tr, Reduction::Mean, Wrt::Input, prec);
        let law: Vec<f64> = if sum { vec![n as f64; ratio.len()] } else { law.into_iter().collect() };
        let err: Vec<f64> = ratio.iter().zip(&law).map(|(r, p)| ((r - p) / r).abs()).collect();
        // The least-squares slope of the measured departures r/E - 1 on the law's, over elements.
        let slope = slope_through_origin(ratio.iter().zip(&law).map(|(r, p)| (p / e - 1.0, r / e - 1.0)));
        let d = diagnose_trained(&tr, Wrt::Input, &analytic, Reduction::Mean)?;
        Ok(vec![Row {
            family,
            seed,
            n,
            epochs,
            lr,
            relerr_mean: compare(&num, &analytic, 53, 53).mean,
            numeric_vs_truth: compare_to_truth(&num, &truth, 53, 256).mean,
            ratio_median: median(&ratio),
            law_ratio_median: median(&law),
            law_error_median: median(&err),
            law_error_max: err.iter().copied().fold(0.0, f64::max),
            law_slope: if sum { f64::NAN } else { slope },
            ratio_spread: (quantile(&ratio, 0.9) - quantile(&ratio, 0.1)) / median(&ratio).abs(),
            diagnosed: d.causes.first().copied().unwrap_or(Cause::Unexplained),
            diagnosed_steps: d.accumulation.map(|a| a.steps),
            diagnosed_lr: d.accumulation.map(|a| a.learning_rate),
        }])
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let acc: Vec<&Row> = rows.iter().filter(|r| r.family == Family::Accumulate).collect();
        let time = |r: &Row| r.lr.to_f64() * (r.epochs - 1) as f64; // lr (E - 1), SGD's "time"
        let dep = |r: &Row, x: f64| (x / r.epochs as f64 - 1.0).abs();
        let named = |r: &&Row| r.diagnosed == Cause::AccumulatedOverSteps && r.diagnosed_steps == Some(r.epochs);
        let law_err = |v: &[&Row]| values(v, |r| r.law_error_median);
        // Half-decade bins of lr (E - 1): the law's error, the per-element spread, the diagnosis.
        let bins = group_by(acc.iter().copied(), |r| (2.0 * time(r).log10()).round() as i32);
        let t_of = |bin: Option<&(i32, Vec<&Row>)>| bin.map_or(f64::NAN, |b| 10f64.powf(b.0 as f64 / 2.0));
        let table = md_table(
            "lr (E - 1) | cells | law error: median | q90 | max | ratio spread | diagnosed: E steps",
            bins.iter().map(|b| {
                let (e, spread, ok) = (law_err(&b.1), median(&values(&b.1, |r| r.ratio_spread)), count_of(&b.1, named));
                md_row!["{:.2e}" t_of(Some(b)), "{}" b.1.len(), "{:.1e}" median(&e), "{:.1e}" quantile(&e, 0.9),
                    "{:.1e}" quantile(&e, 1.0), "{:.1e}" spread, "{}" ok]
            }),
        );
        let holds = t_of(bins.iter().take_while(|(_, v)| quantile(&law_err(v), 0.9) < 0.01).last());
        let fails = bins.iter().find(|(_, v)| median(&law_err(v)) >= 0.01);
        let (fails_t, fails_err) = (t_of(fails), 100.0 * fails.map_or(f64::NAN, |(_, v)| median(&law_err(v))));
        let all_ok = t_of(bins.iter().take_while(|(_, v)| v.iter().all(named)).last());
        let fit = bins.iter().filter(|b| b.0 <= 0).map(|(k, v)| (*k as f64 / 2.0, median(&law_err(v)).log10()));
        let seeds = acc.iter().map(|r| r.seed).max().unwrap_or(0);
        let slopes = |s| acc.iter().filter(|r| r.seed == s && time(r) <= 0.1).map(|r| r.law_slope).collect::<Vec<_>>();
        let kappa: Vec<f64> = (1..=seeds).map(|s| median(&slopes(s))).collect();
        let seed1: Vec<&&Row> = acc.iter().filter(|r| r.seed == 1 && r.epochs == 10).collect();
        let at = |lr: f64, f: fn(&Row) -> f64| seed1.iter().find(|r| r.lr.to_f64() == lr).map_or(f64::NAN, |r| f(r));
        let (r01, q01, s01) = (at(0.1, |r| r.relerr_mean), at(0.1, |r| r.ratio_median), at(0.1, |r| r.ratio_spread));
        let (q1, q3, q0001) = (at(1.0, |r| r.ratio_median), at(3.0, |r| r.ratio_median), at(1e-3, |r| r.ratio_median));
        let seed1 = md_table(
            "lr | relerr_mean | ratio (measured) | ratio (law) | 1 - 1/ratio | ratio spread | diagnose says",
            seed1.iter().map(|r| {
                let steps = r.diagnosed_lr.map_or(String::new(), |l| format!(" ({} steps, lr {l:.2e})", r.epochs));
                let said = format!("{}{steps}", r.diagnosed);
                md_row!["{}" r.lr, "{:.4}" r.relerr_mean, "{:.4}" r.ratio_median, "{:.4}" r.law_ratio_median,
                    "{:.4}" 1.0 - 1.0 / r.ratio_median, "{:.3}" r.ratio_spread, "{}" said]
            }),
        );
        let sums = rows.iter().filter(|r| r.family == Family::Sum);
        let sums = sums.map(|r| md_row!["{}" r.n, "{:.6}" r.ratio_median, "{:.5}" r.relerr_mean, "{}" r.diagnosed]);
        let sums = md_table("n | ratio analytic/numeric | relerr_mean | diagnose says", sums);
        let title = "Accumulated x.grad: the ratio's departure from E, measured against the law";
        let mut fig = Figure::new(title, "|law ratio / E - 1|", "|measured ratio / E - 1|")
            .with(dashed("measured = law", DARK_GREY, vec![(1e-7, 1e-7), (10.0, 10.0)]))
            .with_legend(LegendPos::UpperLeft)
            .with_caption(format!(
                "One point per (seed, E, lr), {seeds} seeds, medians over 40 elements. Green points off the line: \
                 per-element ratios spread by 30 % or more, so the medians pick different elements."
            ));
        let groups = [(0.0, 0.035, BLUE), (0.035, 0.35, GREEN), (0.35, f64::INFINITY, VERMILLION)];
        let labels = ["lr (E - 1) <= 0.03", "0.03 < lr (E - 1) <= 0.3", "lr (E - 1) > 0.3"];
        let xy = |r: &&Row| (dep(r, r.law_ratio_median), dep(r, r.ratio_median));
        for (label, (lo, hi, color)) in labels.into_iter().zip(groups) {
            fig.series.push(points(label, color, acc.iter().filter(|r| (lo..hi).contains(&time(r))).map(xy).collect()));
        }
        out.figure("sum_vs_mean", &fig)?;
        let e10: Vec<&&Row> = acc.iter().filter(|r| r.epochs == 10).collect();
        let by_lr = |y: fn(&Row) -> f64| e10.iter().map(move |r| (r.lr.to_f64(), dep(r, y(r))));
        let title = "x.grad accumulated over E = 10 epochs: ratio to the truth against the learning rate";
        let fig = Figure::new(title, "learning rate", "|ratio / E - 1|")
            .with(median_with_range(line, "measured (median and range over seeds)", ORANGE, by_lr(|r| r.ratio_median)))
            .with(median_with_range(dashed, "law (median and range over seeds)", BLACK, by_lr(|r| r.law_ratio_median)))
            .with_caption(format!("{seeds} seeds; each point the median over the 40 elements of one problem's ratio."));
        out.figure("sum_vs_mean_lr", &fig)?;
        let title = "Where the first-order law stops holding";
        let fig = Figure::new(title, "lr (E - 1)", "median per-element relative error of the law")
            .with(points("one (seed, E, lr)", BLUE, acc.iter().map(|r| (time(r), r.law_error_median)).collect()))
            .with(dashed("1 %", DARK_GREY, vec![(1e-4, 0.01), (200.0, 0.01)]));
        out.figure("sum_vs_mean_holds", &fig)?;
        let (cells, slope, (c1, c3)) = (acc.len(), fit_line(&fit.collect::<Vec<_>>()).0, (q1.round(), q3.round()));
        let (kmed, kmin, kmax, p01) = (median(&kappa), quantile(&kappa, 0.0), quantile(&kappa, 1.0), 1.0 - 1.0 / q01);
        let nvt = values(&acc, |r| r.numeric_vs_truth);
        let (nmed, nmax) = (median(&nvt), quantile(&nvt, 1.0));
        let nmax_lr = acc.iter().find(|r| r.numeric_vs_truth == nmax).map_or(String::new(), |r| r.lr.to_string());
        let vars = vars![
            cells, seeds, table, seed1, sums, holds, fails_t, fails_err, all_ok, c1, c3, q0001, slope, kmed, kmin,
            kmax, r01, q01, p01, s01, q1, q3, nmed, nmax, nmax_lr
        ];
        fill(include_str!("sum_vs_mean.md"), &vars)
    }
}

gradlab::experiment_main!(SumVsMean);
