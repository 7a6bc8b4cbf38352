//! `microbatch`: a mean of micro-batch means against the true mean gradient, as the sizes grow
//! unequal; what a gradient check shows; the two fixes; data-parallel ranks with unequal batches.
//!
//! N = 64 samples split into K = 4 micro-batches, the last one short (gradient accumulation over a
//! data set whose length is not a multiple of the micro-batch), or over R = 4 data-parallel ranks
//! with local batches [16 + a, 16 + a, 16 - a, 16 - a] (DDP averages the ranks' local means of
//! W.grad and b.grad). Each sample of micro-batch b is weighted 1/(K n_b) instead of 1/N.

use gradlab::check::prepare;
use gradlab::diagnose::microbatch::{blocks, combined_grad, same_weights, Combine};
use gradlab::diagnose::{Cause, Reference, Verdict};
use gradlab::lab::prelude::*;
use gradlab::metrics::{compare, compare_to_truth, ratio_median};
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::{Reduction, Wrt};
use ndarray::s;

/// The experiment.
pub struct Microbatch;
/// Samples N, features d, classes k ((k - 1) d = 72 >= N: W.grad identifies every sample's weight).
const N: usize = 64;
const D: usize = 24;
const CLASSES: usize = 4;
/// Micro-batches (or ranks), imbalance levels, seeds.
const K: usize = 4;
const LEVELS: usize = 6;
const SEEDS: u64 = 20;
const EPS: &str = "1e-5"; // f64 central differences of the mean loss: ~1e-10 relative here
const MEAN: Reduction = Reduction::Mean;

gradlab::named_enum! {
    /// How the samples are split.
    pub enum Scenario("scenario") {
        /// Gradient accumulation over K micro-batches, the last one short.
        Accumulation = "accumulation",
        /// Data-parallel ranks [16 + a, 16 + a, 16 - a, 16 - a], W.grad and b.grad averaged.
        DataParallel = "data_parallel",
    }
}

/// The micro-batch sizes of a scenario at an imbalance level (0: equal sizes).
fn sizes(sc: Scenario, level: usize) -> Vec<usize> {
    let (m, a, r) = (N / K, 3 * level, N / K - 3 * level);
    match sc {
        Scenario::Accumulation => vec![(N - r) / (K - 1), (N - r) / (K - 1), (N - r) / (K - 1), r],
        Scenario::DataParallel => vec![m + a, m + a, m - a, m - a],
    }
}

/// One gradient (or, with `batch`, one micro-batch's rows of x.grad) against the truth and a check.
#[derive(Serialize, Deserialize)]
pub struct Row {
    scenario: Scenario,
    level: usize,
    sizes: String,
    seed: u64,
    wrt: Wrt,
    variant: Combine,
    batch: Option<usize>,
    factor: f64,
    /// Mean relative error of the gradient against the check, cs231n's (what a check shows).
    relerr_check: f64,
    /// Mean ordinary relative error |G - g| / |g| against the exact mean gradient g.
    relerr_truth: f64,
    /// Elements whose exact gradient is 0 (left out of `relerr_truth`).
    truth_zero: usize,
    /// Elements of the opposite sign to the exact gradient.
    sign_flips: usize,
    ratio_median: f64,
    diagnosed: Option<Cause>,
    sizes_found: Option<String>,
    same_weights: Option<bool>,
}

impl Experiment for Microbatch {
    /// A scenario, an imbalance level and a seed.
    type Cell = (Scenario, usize, u64);
    type Row = Row;

    const NAME: &'static str = "microbatch";
    const DESCRIPTION: &'static str = "a mean of micro-batch means (and of unequal data-parallel ranks) against the \
         true gradient of x, W and b as the sizes grow unequal; per-micro-batch plateaus in a check; the two fixes; \
         what diagnose recovers";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let (levels, seeds) = if quick { (vec![0, 3], 2) } else { ((0..LEVELS).collect(), SEEDS) };
        let all = Scenario::ALL.iter().flat_map(|&sc| levels.iter().map(move |&l| (sc, l)));
        all.flat_map(|(sc, l)| (1..=seeds).map(move |seed| (sc, l, seed))).collect()
    }
    fn run_cell(&self, &(scenario, level, seed): &Self::Cell) -> Result<Vec<Row>> {
        let p = Problem::generate(N, D, CLASSES, seed)?;
        let (tr, _) = prepare::<f64>(&p, (), &TrainConfig::untrained(MEAN)); // the check at the given parameters
        let (sz, reference) = (sizes(scenario, level), Reference::of_trained(&tr, MEAN));
        let text = |v: &[usize]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
        let wrts = if scenario == Scenario::Accumulation { &Wrt::LINEAR[..3] } else { &Wrt::LINEAR[1..3] };
        let mut rows = Vec::new();
        for &wrt in wrts {
            let num = numeric_grad(&Setup::central(&tr, MEAN, wrt), &Decimal::parse("step", EPS)?, false).grad;
            let truth = reference.truth(wrt);
            // The whole gradient, then x.grad's rows of each micro-batch (a check shows one plateau per micro-batch).
            let mut parts = vec![(None, 0..truth.nrows())];
            parts.extend(blocks(&sz).into_iter().enumerate().filter(|_| wrt == Wrt::Input).map(|(b, r)| (Some(b), r)));
            for &variant in Combine::ALL {
                let g = combined_grad(&p, &sz, variant, wrt);
                let d = reference.diagnose_one(wrt, &g)?;
                let (found, mm) = (d.microbatch_sizes.as_deref(), variant == Combine::MeanOfMeans);
                for (batch, r) in parts.clone() {
                    let [g, n, t] = [&g, &num, &truth].map(|a| a.slice(s![r.clone(), ..]).to_owned());
                    let vs_truth = compare_to_truth(&g, &t, 53, 53);
                    rows.push(Row {
                        scenario,
                        level,
                        sizes: text(&sz),
                        seed,
                        wrt,
                        variant,
                        batch,
                        factor: batch.map_or(f64::NAN, |_| if mm { N as f64 / (K * r.len()) as f64 } else { 1.0 }),
                        relerr_check: compare(&g, &n, 53, 53).mean,
                        relerr_truth: vs_truth.mean,
                        truth_zero: vs_truth.truth_zero,
                        sign_flips: g.iter().zip(&t).filter(|(g, t)| g.signum() * t.signum() < 0.0).count(),
                        ratio_median: ratio_median(&g, &n),
                        diagnosed: (batch.is_none() && d.verdict == Verdict::Wrong).then(|| d.causes[0]),
                        sizes_found: found.filter(|_| batch.is_none()).map(text),
                        same_weights: found.filter(|_| batch.is_none()).map(|f| same_weights(f, &sz)),
                    });
                }
            }
        }
        Ok(rows)
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let whole: Vec<&Row> = rows.iter().filter(|r| r.batch.is_none()).collect();
        let seeds = whole.iter().map(|r| r.seed).max().unwrap_or(0);
        let largest = |r: &Row| N as f64 / (K * sizes(r.scenario, r.level).iter().min().copied().unwrap_or(1)) as f64;
        let mm = |r: &&Row| r.variant == Combine::MeanOfMeans;
        let table = md_table(
            "scenario | sizes | largest N/(K n_b) | relerr x.grad | relerr W.grad | relerr b.grad | diagnose: sizes \
             recovered | fixes correct",
            group_by(whole.iter().copied(), |r| (r.scenario, r.level)).iter().map(|((sc, _), v)| {
                let rel = |w: Wrt| {
                    let e: Vec<f64> = v.iter().filter(|r| mm(r) && r.wrt == w).map(|r| r.relerr_truth).collect();
                    Spread::of(&e).range_label(3)
                };
                let bad: Vec<&&Row> = v.iter().filter(|r| mm(r) && r.level > 0).collect();
                let mut said: Vec<&str> = bad.iter().filter_map(|r| r.sizes_found.as_deref()).collect();
                said.dedup();
                let found = bad.iter().filter(|r| r.same_weights == Some(true)).count();
                let recovered = match bad.len() {
                    0 => "(equal sizes: `correct`)".to_string(),
                    n => format!("{found} of {n} (as {})", said.join(", ")),
                };
                let fixes: Vec<&&Row> = v.iter().filter(|r| !mm(r)).collect();
                let ok = count_of(&fixes, |r| r.diagnosed.is_none());
                md_row!["{}" sc, "{}" v[0].sizes, "{:.3}" largest(v[0]), "{}" rel(Wrt::Input), "{}" rel(Wrt::Weight),
                    "{}" rel(Wrt::Bias), "{}" recovered, "{}" ok]
            }),
        );
        let batches: Vec<&Row> = rows.iter().filter(|r| r.batch.is_some()).collect();
        let plateau_of = |c: f64| (c - 1.0).abs() / c.max(1.0); // what a check shows of a factor c
        let theory = (0..=100).map(|i| 10f64.powf(-0.2 + 1.4 * i as f64 / 100.0)).map(|c| (c, plateau_of(c)));
        let title = "What a check of x.grad shows: each micro-batch its own plateau";
        let mut fig =
            Figure::new(title, "the micro-batch's weight N / (K n_b)", "mean relative error, analytic vs numeric")
                .with(dashed("|c - 1| / max(c, 1)", DARK_GREY, theory.collect()))
                .with_legend(LegendPos::LowerRight)
                .with_caption(format!(
                    "Accumulation, {seeds} seeds, 6 size patterns; one point per micro-batch. The fixes (at 1, \
                     fix_sum under fix_weighted) sit at the check's own resolution."
                ));
        for (v, color) in [(Combine::MeanOfMeans, VERMILLION), (Combine::FixSum, BLUE), (Combine::FixWeighted, GREEN)] {
            let pts = batches.iter().filter(|r| r.variant == v).map(|r| (r.factor, r.relerr_check)).collect();
            fig.series.push(points(v.name(), color, pts));
        }
        out.figure("microbatch", &fig)?;
        let (title, y) =
            ("Mean of micro-batch means against the true mean gradient", "mean relative error against the truth");
        let mut fig = Figure::new(title, "largest micro-batch weight N / (K n_b)", y)
            .with_legend(LegendPos::LowerRight)
            .with_caption(format!("Median and range over {seeds} seeds."));
        for (sc, w, color) in [
            (Scenario::Accumulation, Wrt::Input, ORANGE),
            (Scenario::Accumulation, Wrt::Weight, VERMILLION),
            (Scenario::Accumulation, Wrt::Bias, BLACK),
            (Scenario::DataParallel, Wrt::Weight, BLUE),
            (Scenario::DataParallel, Wrt::Bias, GREEN),
        ] {
            let sel = whole.iter().filter(|r| mm(r) && r.scenario == sc && r.wrt == w && r.level > 0);
            let pts = sel.map(|r| (largest(r), r.relerr_truth));
            fig.series.push(median_with_range(line, &format!("{sc}, {w}"), color, pts));
        }
        out.figure("microbatch_imbalance", &fig)?;
        let equal: Vec<&&Row> = whole.iter().filter(|r| r.level == 0).collect();
        let (equal_ok, equal_all) = (equal.iter().filter(|r| r.diagnosed.is_none()).count(), equal.len());
        let dev = batches.iter().filter(|r| mm(r)).map(|r| (r.relerr_check - plateau_of(r.factor)).abs());
        let plateau = dev.fold(0.0, f64::max);
        let unequal = |w: Wrt| -> Vec<&Row> {
            whole
                .iter()
                .copied()
                .filter(|r| mm(r) && r.level > 0 && r.wrt == w && r.scenario == Scenario::Accumulation)
                .collect()
        };
        let med = |w: Wrt| median(&values(&unequal(w), |r| r.relerr_truth));
        let bias = unequal(Wrt::Bias);
        let spread = SpreadFacts {
            x: med(Wrt::Input),
            w: med(Wrt::Weight),
            b: med(Wrt::Bias),
            b_max: values(&bias, |r| r.relerr_truth).into_iter().fold(0.0, f64::max),
            b_flipped: bias.iter().filter(|r| r.sign_flips > 0).count(),
            b_cells: bias.len(),
        };
        let zeros = zeros_note(whole.iter().map(|r| r.truth_zero).sum());
        let further = spread.sentence();
        fill(include_str!("microbatch.md"), &vars![seeds, table, equal_ok, equal_all, plateau, further, zeros])
    }
}

/// What the mean of micro-batch means does to W.grad and b.grad beside x.grad (accumulation, the
/// unequal sizes): the median relative errors against the truth, b.grad's largest, and in how many
/// b.grad gradients some element has the sign opposite to the truth.
struct SpreadFacts {
    x: f64,
    w: f64,
    b: f64,
    b_max: f64,
    b_flipped: usize,
    b_cells: usize,
}

impl SpreadFacts {
    /// The report's sentence, written from the numbers: which tensors are further off than x.grad
    /// in the median, and whether b.grad's elements change sign.
    fn sentence(&self) -> String {
        let further: Vec<&str> = [("W.grad", self.w), ("b.grad", self.b)]
            .iter()
            .filter(|(_, e)| *e > self.x)
            .map(|(name, _)| *name)
            .collect();
        let first = match further.len() {
            2 => format!("W.grad and b.grad are further off than x.grad in the median ({:.3} and {:.3} against {:.3})", self.w, self.b, self.x),
            1 => format!("{} is further off than x.grad in the median, the other is not ({:.3} for W.grad and {:.3} for b.grad against {:.3})", further[0], self.w, self.b, self.x),
            _ => format!("Neither W.grad nor b.grad is further off than x.grad in the median ({:.3} and {:.3} against {:.3})", self.w, self.b, self.x),
        };
        let flips = if self.b_flipped > 0 {
            format!(
                "; b.grad's relerr reaches {:.2}, and in {} of its {} gradients some element has the opposite sign to \
                 the truth (reweighting the samples flips an element whose true value is a sum of terms of both signs)",
                self.b_max, self.b_flipped, self.b_cells
            )
        } else {
            format!(
                "; b.grad's relerr reaches {:.2}, and in none of its {} gradients does an element change sign",
                self.b_max, self.b_cells
            )
        };
        format!("{first}{flips}.")
    }
}

/// How many elements the relative errors against the truth leave out for an exact value of 0,
/// from their total over the gradients.
fn zeros_note(total: usize) -> String {
    match total {
        0 => "there are none".to_string(),
        z => format!("{z} in all"),
    }
}

gradlab::experiment_main!(Microbatch);

#[cfg(test)]
mod tests {
    use super::{zeros_note, SpreadFacts};

    /// The note says there are none only when there are none.
    #[test]
    fn the_zero_truth_note_follows_the_count() {
        assert_eq!(zeros_note(0), "there are none");
        assert_eq!(zeros_note(7), "7 in all");
    }

    /// Each branch of the sentence appears when the numbers call for it.
    #[test]
    fn the_spread_sentence_follows_the_numbers() {
        let f = SpreadFacts { x: 0.1, w: 0.3, b: 0.4, b_max: 1.4, b_flipped: 12, b_cells: 100 };
        let s = f.sentence();
        assert!(s.starts_with("W.grad and b.grad are further off than x.grad"), "{s}");
        assert!(s.contains("in 12 of its 100 gradients some element has the opposite sign"), "{s}");
        let s = SpreadFacts { w: 0.05, b_flipped: 0, ..f }.sentence();
        assert!(s.starts_with("b.grad is further off than x.grad in the median, the other is not"), "{s}");
        assert!(s.contains("in none of its 100 gradients does an element change sign"), "{s}");
        let s = SpreadFacts { w: 0.05, b: 0.01, ..f }.sentence();
        assert!(s.starts_with("Neither W.grad nor b.grad is further off"), "{s}");
    }
}
