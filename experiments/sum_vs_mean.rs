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
use gradlab::metrics::{compare, compare_to_truth, fit_line, slope_through_origin};
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::{Pass, Reduction};
use gradlab::scalar::Prec;
use gradlab::watch::Watch;
use gradlab_lab::claims::and_list;
use gradlab_lab::prelude::*;

/// The experiment.
pub struct SumVsMean;
/// The central difference's step per dtype: near each one's optimum on this problem (f64: ~1e-10
/// relative here; f32: ~1e-4, see `defaults`).
fn eps(dt: DType) -> &'static str {
    if dt == DType::F32 {
        "3e-2"
    } else {
        "1e-5"
    }
}
/// The dtypes the accumulation is measured in (the sum's sanity line: f64 only).
const DTYPES: [DType; 2] = [DType::F64, DType::F32];
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
    dtype: DType,
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
    /// Median over elements of the law's error on the departure from E, |r - p| / |r - E|.
    law_departure_error_median: f64,
    law_slope: f64,
    ratio_spread: f64,
    diagnosed: Cause,
    diagnosed_steps: Option<usize>,
    diagnosed_lr: Option<f64>,
}

impl Experiment for SumVsMean {
    /// A family, dtype, seed, n, E and lr.
    type Cell = (Family, DType, u64, usize, usize, &'static str);
    type Row = Row;

    const NAME: &'static str = "sum_vs_mean";
    const DESCRIPTION: &'static str = "x.grad accumulated over E epochs: the law E [1 + lr (E - 1) g'/(2g)] against \
         measurement (20 seeds, E, lr); the sum reduction's factor n as a sanity line";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let (seeds, es, lrs, ns) = if quick { QUICK } else { (20, &EPOCHS[..], &LRS[..], &NS[..]) };
        let mut v: Vec<Self::Cell> = ns.iter().map(|&n| (Family::Sum, DType::F64, 1, n, 10, "1e-3")).collect();
        for dt in DTYPES {
            for seed in 1..=seeds {
                v.extend(es.iter().flat_map(|&e| lrs.iter().map(move |&l| (Family::Accumulate, dt, seed, 10, e, l))));
            }
        }
        v
    }
    fn run_cell(&self, &(family, dt, seed, n, epochs, lr): &Self::Cell) -> Result<Vec<Row>> {
        gradlab::with_dtype!(dt, |T, ctx| measure::<T>(ctx, family, dt, seed, n, epochs, lr))
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let acc_in = |dt: DType| rows.iter().filter(move |r| r.family == Family::Accumulate && r.dtype == dt);
        let (acc, acc32): (Vec<&Row>, Vec<&Row>) = (acc_in(DType::F64).collect(), acc_in(DType::F32).collect());
        let time = |r: &Row| r.lr.to_f64() * (r.epochs - 1) as f64; // lr (E - 1), SGD's "time"
        let dep = |r: &Row, x: f64| (x / r.epochs as f64 - 1.0).abs();
        let named = |r: &&Row| r.diagnosed == Cause::AccumulatedOverSteps && r.diagnosed_steps == Some(r.epochs);
        let law_err = |v: &[&Row]| values(v, |r| r.law_departure_error_median);
        // Half-decade bins of lr (E - 1): the law's error on the departure, the per-element
        // spread, the diagnosis; f64 and, beside it, f32.
        let bins = group_by(acc.iter().copied(), |r| (2.0 * time(r).log10()).round() as i32);
        let bins32 = group_by(acc32.iter().copied(), |r| (2.0 * time(r).log10()).round() as i32);
        let t_of = |bin: Option<&(i32, Vec<&Row>)>| bin.map_or(f64::NAN, |b| 10f64.powf(b.0 as f64 / 2.0));
        let of32 = |k: i32| bins32.iter().find(|b| b.0 == k).map_or(Vec::new(), |b| b.1.clone());
        let pct =
            |v: &[f64], q: f64| if v.is_empty() { "-".to_string() } else { format!("{:.2}", 100.0 * quantile(v, q)) };
        let table = md_table(
            "lr (E - 1) | cells | f64 departure error %: median | q90 | max | f32: median | q90 | ratio spread (f64) | diagnosed E steps: f64 | f32",
            bins.iter().map(|b| {
                let (e, e32) = (law_err(&b.1), law_err(&of32(b.0)));
                let (spread, ok, ok32) =
                    (median(&values(&b.1, |r| r.ratio_spread)), count_of(&b.1, named), count_of(&of32(b.0), named));
                md_row!["{:.2e}" t_of(Some(b)), "{}" b.1.len(), "{}" pct(&e, 0.5), "{}" pct(&e, 0.9),
                    "{}" pct(&e, 1.0), "{}" pct(&e32, 0.5), "{}" pct(&e32, 0.9), "{:.1e}" spread, "{}" ok, "{}" ok32]
            }),
        );
        // The median cell's departure error at lr (E - 1) = 0.1, 0.32 and 1.
        let dep_at = |bins: &[(i32, Vec<&Row>)], k: i32| {
            bins.iter().find(|b| b.0 == k).map_or(f64::NAN, |b| 100.0 * median(&law_err(&b.1)))
        };
        let (d01, d03, d1) = (dep_at(&bins, -2), dep_at(&bins, -1), dep_at(&bins, 0));
        let (f01, f03, f1) = (dep_at(&bins32, -2), dep_at(&bins32, -1), dep_at(&bins32, 0));
        let prefix = bins.iter().take_while(|(_, v)| v.iter().all(named)).count();
        let all_ok = t_of(bins[..prefix].last());
        let rest: Vec<&Row> = bins[prefix..].iter().flat_map(|b| b.1.iter().copied()).collect();
        let how_many = |p: &dyn Fn(&&Row) -> bool| rest.iter().filter(|r| p(r)).count();
        let accumulated = |r: &&Row| r.diagnosed == Cause::AccumulatedOverSteps;
        let beyond = beyond_sentence(Beyond {
            right: how_many(&named),
            wrong: how_many(&|r| accumulated(r) && r.diagnosed_steps.is_some_and(|e| e != r.epochs)),
            uncounted: how_many(&|r| accumulated(r) && r.diagnosed_steps.is_none()),
            unexplained: how_many(&|r| r.diagnosed == Cause::Unexplained),
            cells: rest.len(),
        });
        let fit: Vec<(f64, f64)> =
            bins.iter().filter(|b| b.0 <= 0).map(|(k, v)| (*k as f64 / 2.0, median(&law_err(v)).log10())).collect();
        let slope = fit_line(&fit).0;
        let growth = growth_sentence(slope);
        // f32 against f64, bin by bin: (lr (E - 1), f64's median departure error, f32's).
        let pairs: Vec<(f64, f64, f64)> =
            bins.iter().map(|b| (t_of(Some(b)), median(&law_err(&b.1)), median(&law_err(&of32(b.0))))).collect();
        let f32_apart = apart_sentence(&pairs);
        let n32 = median(&values(&acc32, |r| r.numeric_vs_truth));
        let small_dep =
            bins.iter().find(|b| b.0 == -6).map_or(f64::NAN, |b| median(&values(&b.1, |r| dep(r, r.law_ratio_median))));
        let seeds = acc.iter().map(|r| r.seed).max().unwrap_or(0);
        let slopes = |s| acc.iter().filter(|r| r.seed == s && time(r) <= 0.1).map(|r| r.law_slope).collect::<Vec<_>>();
        let kappa: Vec<f64> = (1..=seeds).map(|s| median(&slopes(s))).collect();
        let bias = bias_sentence(&kappa);
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
                "f64; one point per (seed, E, lr), {seeds} seeds, medians over 40 elements. Violet points off the line: \
                 per-element ratios spread by 30 % or more, so the medians pick different elements."
            ));
        let groups = [(0.0, 0.035), (0.035, 0.35), (0.35, f64::INFINITY)];
        let labels = ["lr (E - 1) <= 0.03", "0.03 < lr (E - 1) <= 0.3", "lr (E - 1) > 0.3"];
        let xy = |r: &&Row| (dep(r, r.law_ratio_median), dep(r, r.ratio_median));
        for (k, (label, (lo, hi))) in labels.into_iter().zip(groups).enumerate() {
            fig.series.push(points(
                label,
                category_ink(k, DType::F64),
                acc.iter().filter(|r| (lo..hi).contains(&time(r))).map(xy).collect(),
            ));
        }
        out.figure("sum_vs_mean", &fig)?;
        let e10: Vec<&&Row> = acc.iter().filter(|r| r.epochs == 10).collect();
        let by_lr = |y: fn(&Row) -> f64| e10.iter().map(move |r| (r.lr.to_f64(), dep(r, y(r))));
        let title = "x.grad accumulated over E = 10 epochs: ratio to the truth against the learning rate";
        let fig = Figure::new(title, "learning rate", "|ratio / E - 1|")
            .with(median_with_range(
                |m| line("measured (median and range over seeds)", dtype_ink(DType::F64), m),
                by_lr(|r| r.ratio_median),
            ))
            .with(median_with_range(
                |m| dashed("law (median and range over seeds)", DARK_GREY, m),
                by_lr(|r| r.law_ratio_median),
            ))
            .with_caption(format!(
                "f64, {seeds} seeds; each point the median over the 40 elements of one problem's ratio."
            ));
        out.figure("sum_vs_mean_lr", &fig)?;
        let title = "Where the first-order law stops holding";
        let fig = Figure::new(title, "lr (E - 1)", "median per-element relative error of the law")
            .with(points(
                "one (seed, E, lr)",
                dtype_ink(DType::F64),
                acc.iter().map(|r| (time(r), r.law_error_median)).collect(),
            ))
            .with(dashed("1 %", DARK_GREY, vec![(1e-4, 0.01), (200.0, 0.01)]));
        out.figure("sum_vs_mean_holds", &fig)?;
        let (cells, cells32, (c1, c3)) = (acc.len(), acc32.len(), (q1.round(), q3.round()));
        let (kmed, kmin, kmax, p01) = (median(&kappa), quantile(&kappa, 0.0), quantile(&kappa, 1.0), 1.0 - 1.0 / q01);
        let nvt = values(&acc, |r| r.numeric_vs_truth);
        let (nmed, nmax) = (median(&nvt), quantile(&nvt, 1.0));
        let nmax_lr = acc.iter().find(|r| r.numeric_vs_truth == nmax).map_or(String::new(), |r| r.lr.to_string());
        let vars = vars![
            cells, cells32, seeds, table, seed1, sums, d01, d03, d1, f01, f03, f1, f32_apart, n32, small_dep, all_ok,
            beyond, c1, c3, q0001, slope, growth, kmed, kmin, kmax, bias, r01, q01, p01, s01, q1, q3, nmed, nmax,
            nmax_lr
        ];
        fill(include_str!("sum_vs_mean.md"), &vars)
    }
}

/// What `diagnose` says beyond the bins where every f64 cell has the right E, over `cells`.
struct Beyond {
    /// Cells naming `accumulated_over_steps` with the right count.
    right: usize,
    /// Cells naming it with another count.
    wrong: usize,
    /// Cells naming it without a count (the law beyond its first order, no replay to confirm).
    uncounted: usize,
    /// Cells saying `unexplained`.
    unexplained: usize,
    cells: usize,
}

/// The sentence for [`Beyond`]; the cells not counted in it name another cause.
fn beyond_sentence(b: Beyond) -> String {
    if b.cells == 0 {
        return "no cell lies beyond".into();
    }
    let other = b.cells - b.right - b.wrong - b.uncounted - b.unexplained;
    let mut s = format!("beyond, of the {} f64 cells, {} name the right E", b.cells, b.right);
    if b.uncounted > 0 {
        s += &format!(", {} name `accumulated_over_steps` without a count (the count not resolved)", b.uncounted);
    }
    s += &format!(", {} say `unexplained`", b.unexplained);
    if other > 0 {
        s += &format!(", {other} name another cause");
    }
    if b.wrong == 0 {
        s += ", and none guesses a wrong count";
    } else {
        s += &format!(", and {} name `accumulated_over_steps` with a wrong count", b.wrong);
    }
    s
}

/// What the log-log slope of the law's departure error against lr (E - 1) says: the neglected
/// term is second order and the departure first order, so their ratio grows like lr (E - 1).
fn growth_sentence(slope: f64) -> String {
    if (slope - 1.0).abs() <= 0.25 {
        "close to 1: the neglected term is of second order in lr (E − 1), the departure of first, so their ratio grows \
         like lr (E − 1)"
            .into()
    } else {
        "not the 1 a neglected second-order term over a first-order departure would give: the error does not follow \
         the law's own order here"
            .into()
    }
}

/// The bins (lr (E - 1), f64 error, f32 error) where f32's departure error is more than twice
/// f64's, and how many are within a factor 2.
fn apart_sentence(pairs: &[(f64, f64, f64)]) -> String {
    let apart: Vec<String> = pairs.iter().filter(|p| p.2 > 2.0 * p.1).map(|p| format!("{:.2e}", p.0)).collect();
    let (k, m) = (apart.len(), pairs.len());
    if k == 0 {
        format!("f32's median departure error is within a factor 2 of f64's in all {m} bins")
    } else {
        let s = if k == 1 { "" } else { "s" };
        format!(
            "f32's median departure error is more than twice f64's in {k} bin{s} (lr (E − 1) ≈ {}) and within a factor 2 \
             of it in the other {}",
            and_list(&apart),
            m - k
        )
    }
}

/// Whether the fitted κ of the seeds is above 1 systematically: a two-sided sign test at 1 %
/// (with no bias each seed is above or below with probability 1/2).
fn bias_sentence(kappa: &[f64]) -> String {
    let n = kappa.len();
    let above = kappa.iter().filter(|&&k| k > 1.0).count();
    let below = kappa.iter().filter(|&&k| k < 1.0).count();
    let m = above + below;
    let tail = |k: usize| (k..=m).map(|i| binomial(m, i)).sum::<f64>() / 2f64.powi(m as i32);
    let p = (2.0 * tail(above.max(below))).min(1.0);
    if m > 0 && p < 0.01 {
        let (side, what) = if above > below { ("above", "under") } else { ("below", "over") };
        format!(
            "κ is {side} 1 in {} of {n} seeds (a sign test gives p = {p:.1e}): the law {what}states the departure \
             systematically, a bias of the first-order law on this problem family, not noise",
            above.max(below)
        )
    } else {
        format!(
            "κ is above 1 in {above} and below 1 in {below} of {n} seeds (sign test p = {p:.2}): no systematic bias"
        )
    }
}

/// The binomial coefficient C(n, k), as a float.
fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

/// One cell in the dtype `T`: the measured ratios against the law's, and the diagnosis.
fn measure<T: gradlab::scalar::Scalar>(
    ctx: T::Ctx,
    family: Family,
    dt: DType,
    seed: u64,
    n: usize,
    epochs: usize,
    lr: &str,
) -> Result<Vec<Row>> {
    let (sum, lr) = (family == Family::Sum, Decimal::parse("lr", lr)?);
    let input_grad = if sum { InputGrad::Reset } else { InputGrad::Accumulate };
    let cfg = TrainConfig { epochs, lr: lr.clone(), input_grad, reduction: Reduction::Mean };
    let (tr, _) = prepare::<T>(&Problem::generate(n, 4, 2, seed)?, ctx, &cfg, &Watch::unwatched())?;
    let mut pass = Pass::<T>::new(n, 4, 2, ctx);
    pass.run(tr.x.view(), tr.weight.view(), &tr.bias, &tr.t, None, &Watch::unwatched())?; // the summed loss's gradient
    let analytic = if sum { &pass.grad_x } else { &tr.grad_x }.map(|v| v.to_f64());
    let setup = Setup::central(&tr, Reduction::Mean, LinearTensor::Input);
    let num = numeric_grad(&setup, &Decimal::parse("step", eps(dt))?, false).grad.map(|v| v.to_f64());
    let prec = Prec::new(256)?;
    let (e, ratio) = (epochs as f64, analytic.iter().zip(&num).map(|(a, b)| a / b).collect::<Vec<f64>>());
    let law = gradlab::truth::accumulation_law(&tr, Reduction::Mean, LinearTensor::Input, epochs, lr.to_f64(), prec);
    let truth = gradlab::truth::truth_grad(&tr, Reduction::Mean, LinearTensor::Input, prec, &Watch::unwatched())?;
    let law: Vec<f64> = if sum { vec![n as f64; ratio.len()] } else { law.into_iter().collect() };
    let err: Vec<f64> = ratio.iter().zip(&law).map(|(r, p)| ((r - p) / r).abs()).collect();
    // The error on the departure from E: predicted departure p - E against measured r - E.
    let dep_err: Vec<f64> = ratio.iter().zip(&law).map(|(r, p)| ((r - p) / (r - e)).abs()).collect();
    // The least-squares slope of the measured departures r/E - 1 on the law's, over elements.
    let slope = slope_through_origin(ratio.iter().zip(&law).map(|(r, p)| (p / e - 1.0, r / e - 1.0)));
    let d = diagnose_trained(&tr, LinearTensor::Input, &analytic, Reduction::Mean)?;
    let bits = dt.bits();
    Ok(vec![Row {
        family,
        dtype: dt,
        seed,
        n,
        epochs,
        lr,
        relerr_mean: compare(&num, &analytic, bits, bits).mean,
        numeric_vs_truth: compare_to_truth(&num, &truth, bits, 256).mean,
        ratio_median: median(&ratio),
        law_ratio_median: median(&law),
        law_error_median: median(&err),
        law_error_max: err.iter().copied().fold(0.0, f64::max),
        law_departure_error_median: if sum { f64::NAN } else { median(&dep_err) },
        law_slope: if sum { f64::NAN } else { slope },
        ratio_spread: (quantile(&ratio, 0.9) - quantile(&ratio, 0.1)) / median(&ratio).abs(),
        diagnosed: d.causes.first().copied().unwrap_or(Cause::Unexplained),
        diagnosed_steps: d.accumulation.map(|a| a.steps),
        diagnosed_lr: d.accumulation.and_then(|a| a.learning_rate),
    }])
}

gradlab_lab::experiment_main!(SumVsMean);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bias_is_named_only_when_the_signs_agree() {
        let all = vec![1.002; 20];
        assert_eq!(
            bias_sentence(&all),
            "κ is above 1 in 20 of 20 seeds (a sign test gives p = 1.9e-6): the law understates the departure \
             systematically, a bias of the first-order law on this problem family, not noise"
        );
        let mixed: Vec<f64> = (0..20).map(|i| if i % 2 == 0 { 1.001 } else { 0.999 }).collect();
        assert_eq!(
            bias_sentence(&mixed),
            "κ is above 1 in 10 and below 1 in 10 of 20 seeds (sign test p = 1.00): no systematic bias"
        );
        assert!(
            bias_sentence(&[0.99; 20]).contains("below 1 in 20 of 20 seeds")
                && bias_sentence(&[0.99; 20]).contains("overstates")
        );
    }

    #[test]
    fn f32_is_named_apart_only_where_it_is() {
        let close = [(1e-2, 0.01, 0.015), (1e-1, 0.04, 0.04)];
        assert_eq!(apart_sentence(&close), "f32's median departure error is within a factor 2 of f64's in all 2 bins");
        let apart = [(1e-4, 1e-4, 0.6), (1e-3, 4e-4, 0.09), (1e-1, 0.04, 0.04)];
        assert_eq!(
            apart_sentence(&apart),
            "f32's median departure error is more than twice f64's in 2 bins (lr (E − 1) ≈ 1.00e-4 and 1.00e-3) and \
             within a factor 2 of it in the other 1"
        );
    }

    #[test]
    fn the_beyond_sentence_says_whether_a_count_is_wrong() {
        let at = |right, wrong, uncounted, unexplained, cells| {
            beyond_sentence(Beyond { right, wrong, uncounted, unexplained, cells })
        };
        assert!(at(3, 0, 0, 2, 5).ends_with("and none guesses a wrong count"));
        assert!(!at(3, 0, 0, 2, 5).contains("without a count"));
        let s = at(3, 2, 0, 1, 7);
        assert!(
            s.contains("1 name another cause") && s.contains("2 name `accumulated_over_steps` with a wrong count"),
            "{s}"
        );
        let s = at(3, 0, 4, 1, 8);
        assert!(s.contains("4 name `accumulated_over_steps` without a count") && !s.contains("another"), "{s}");
    }

    #[test]
    fn the_growth_sentence_follows_the_slope() {
        assert!(growth_sentence(0.97).starts_with("close to 1"));
        assert!(growth_sentence(1.9).starts_with("not the 1"));
    }
}
