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
use gradlab::metrics::{compare, compare_to_truth, ratio_median};
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::Reduction;
use gradlab::watch::Watch;
use gradlab_lab::claims;
use gradlab_lab::prelude::*;
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

gradlab::named_enum! {
    /// How `diagnose` found the micro-batch sizes it printed (read from its evidence).
    pub enum Search("search") {
        /// Each sample's weight from its row of x.grad against the truth's row.
        RowRatios = "row_ratios",
        /// Every sample's weight at once, by least squares over the given elements.
        LeastSquares = "least_squares",
        /// The weights are not identifiable: the common partitions were tested one by one.
        CommonPartitions = "common_partitions",
    }
}

impl Search {
    /// The search named by the first line of `diagnose`'s evidence for `mean_of_microbatch_means`.
    fn from_evidence(first: &str) -> Option<Search> {
        if first.contains("from the rows of x.grad") {
            Some(Search::RowRatios)
        } else if first.contains("by least squares") {
            Some(Search::LeastSquares)
        } else if first.contains("Tested the common partitions") {
            Some(Search::CommonPartitions)
        } else {
            None
        }
    }

    /// What the search does, for the report.
    fn describe(self) -> &'static str {
        match self {
            Search::RowRatios => {
                "each sample's weight from its own row against the truth's row (row j of x.grad is sample j's gradient \
                 times its weight)"
            }
            Search::LeastSquares => "every sample's weight at once, by least squares over all the given elements",
            Search::CommonPartitions => {
                "testing the common partitions one by one (equal micro-batches with a shorter last one; sizes \
                 differing by one), since the given elements cannot determine every sample's weight"
            }
        }
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
    wrt: LinearTensor,
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
    /// `diagnose`'s verdict on the whole gradient (empty for one micro-batch's rows).
    verdict: Option<Verdict>,
    diagnosed: Option<Cause>,
    sizes_found: Option<String>,
    /// How `diagnose` found the sizes it printed.
    sizes_search: Option<Search>,
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
        let (tr, _) = prepare::<f64>(&p, (), &TrainConfig::untrained(MEAN), &Watch::unwatched())?; // the check at the given parameters
        let (sz, reference) = (sizes(scenario, level), Reference::of_trained(&tr, MEAN));
        let text = |v: &[usize]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
        let wrts = if scenario == Scenario::Accumulation { &LinearTensor::ALL[..3] } else { &LinearTensor::ALL[1..3] };
        let mut rows = Vec::new();
        for &wrt in wrts {
            let num = numeric_grad(&Setup::central(&tr, MEAN, wrt), &Decimal::parse("step", EPS)?, false).grad;
            let truth = reference.truth(wrt);
            // The whole gradient, then x.grad's rows of each micro-batch (a check shows one plateau per micro-batch).
            let mut parts = vec![(None, 0..truth.nrows())];
            parts.extend(
                blocks(&sz).into_iter().enumerate().filter(|_| wrt == LinearTensor::Input).map(|(b, r)| (Some(b), r)),
            );
            for &variant in Combine::ALL {
                let g = combined_grad(&p, &sz, variant, wrt);
                let d = reference.diagnose_one(wrt, &g)?;
                let (found, mm) = (d.microbatch_sizes.as_deref(), variant == Combine::MeanOfMeans);
                let search = d
                    .findings
                    .iter()
                    .find(|f| f.cause == Cause::MeanOfMicrobatchMeans)
                    .and_then(|f| f.evidence.first())
                    .and_then(|e| Search::from_evidence(e));
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
                        verdict: batch.is_none().then_some(d.verdict),
                        diagnosed: (batch.is_none() && d.verdict == Verdict::Wrong).then(|| d.causes[0]),
                        sizes_found: found.filter(|_| batch.is_none()).map(text),
                        sizes_search: search.filter(|_| batch.is_none() && found.is_some()),
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
            "scenario | sizes | largest N/(K n_b) | relerr x.grad | relerr W.grad | relerr b.grad | verdicts: mean of \
             means | sizes recovered from x.grad, W.grad, b.grad (printed as) | verdicts: the two fixes",
            group_by(whole.iter().copied(), |r| (r.scenario, r.level)).iter().map(|((sc, level), v)| {
                let rel = |w: LinearTensor| {
                    let e: Vec<f64> = v.iter().filter(|r| mm(r) && r.wrt == w).map(|r| r.relerr_truth).collect();
                    if e.is_empty() {
                        "-".to_string()
                    } else {
                        Spread::of(&e).range_label(3)
                    }
                };
                let verdicts =
                    |of_mm: bool| verdict_counts(v.iter().filter(|r| mm(r) == of_mm).filter_map(|r| r.verdict));
                let recovered = if *level == 0 {
                    "(equal sizes)".to_string()
                } else {
                    let per_tensor: Vec<String> = LinearTensor::ALL[..3]
                        .iter()
                        .map(|&w| {
                            let bad: Vec<&&Row> = v.iter().filter(|r| mm(r) && r.wrt == w).collect();
                            if bad.is_empty() {
                                "-".to_string()
                            } else {
                                count_of(&bad, |r| r.same_weights == Some(true))
                            }
                        })
                        .collect();
                    let mut said: Vec<&str> =
                        v.iter().filter(|r| mm(r)).filter_map(|r| r.sizes_found.as_deref()).collect();
                    said.sort_unstable();
                    said.dedup();
                    format!("{} (as {})", per_tensor.join(", "), said.join(", "))
                };
                md_row!["{}" sc, "{}" v[0].sizes, "{:.3}" largest(v[0]), "{}" rel(LinearTensor::Input), "{}" rel(LinearTensor::Weight),
                    "{}" rel(LinearTensor::Bias), "{}" verdicts(true), "{}" recovered, "{}" verdicts(false)]
            }),
        );
        let batches: Vec<&Row> = rows.iter().filter(|r| r.batch.is_some()).collect();
        let plateau_of = |c: f64| (c - 1.0).abs() / c.max(1.0); // what a check shows of a factor c
                                                                // The check's own resolution: what it shows of a correct gradient (the fixes' rows).
        let resolution = median(&batches.iter().filter(|r| !mm(r)).map(|r| r.relerr_check).collect::<Vec<_>>());
        let fig = plateau_figure(&batches, seeds, resolution);
        out.figure("microbatch", &fig)?;
        let (title, y) =
            ("Mean of micro-batch means against the true mean gradient", "mean relative error against the truth");
        let mut fig = Figure::new(title, "largest micro-batch weight N / (K n_b)", y)
            .with_legend(LegendPos::Below)
            .with_caption(format!("Median and range over {seeds} seeds."));
        let cells = [
            (Scenario::Accumulation, LinearTensor::Input),
            (Scenario::Accumulation, LinearTensor::Weight),
            (Scenario::Accumulation, LinearTensor::Bias),
            (Scenario::DataParallel, LinearTensor::Weight),
            (Scenario::DataParallel, LinearTensor::Bias),
        ];
        for (k, (sc, w)) in cells.into_iter().enumerate() {
            let sel = whole.iter().filter(|r| mm(r) && r.scenario == sc && r.wrt == w && r.level > 0);
            let pts = sel.map(|r| (largest(r), r.relerr_truth));
            fig.series.push(median_with_range(|m| line(&format!("{sc}, {w}"), category_ink(k, DType::F64), m), pts));
        }
        out.figure("microbatch_imbalance", &fig)?;
        let equal: Vec<Verdict> = whole.iter().filter(|r| r.level == 0).filter_map(|r| r.verdict).collect();
        let equal = equal_sentence(&equal);
        let dev = batches.iter().filter(|r| mm(r)).map(|r| (r.relerr_check - plateau_of(r.factor)).abs());
        let plateau = dev.fold(0.0, f64::max);
        let unequal = |w: LinearTensor| -> Vec<&Row> {
            whole
                .iter()
                .copied()
                .filter(|r| mm(r) && r.level > 0 && r.wrt == w && r.scenario == Scenario::Accumulation)
                .collect()
        };
        let med = |w: LinearTensor| median(&values(&unequal(w), |r| r.relerr_truth));
        let bias = unequal(LinearTensor::Bias);
        let spread = SpreadFacts {
            x: med(LinearTensor::Input),
            w: med(LinearTensor::Weight),
            b: med(LinearTensor::Bias),
            b_max: values(&bias, |r| r.relerr_truth).into_iter().fold(0.0, f64::max),
            b_flipped: bias.iter().filter(|r| r.sign_flips > 0).count(),
            b_cells: bias.len(),
        };
        // x.grad's relerr over the seeds at each size: the largest spread relative to its median.
        let x_spread = group_by(unequal(LinearTensor::Input), |r| r.level)
            .iter()
            .map(|(_, v)| {
                let s = Spread::of(&values(v, |r| r.relerr_truth));
                (s.max - s.min) / s.median
            })
            .fold(0.0, f64::max);
        let x_spread = seed_spread_sentence(x_spread);
        let zeros = zeros_note(whole.iter().map(|r| r.truth_zero).sum());
        let further = spread.sentence();
        let unequal_mm: Vec<&Row> = whole.iter().copied().filter(|r| mm(r) && r.level > 0).collect();
        let searches = search_sentence(
            &unequal_mm.iter().map(|r| (r.wrt, r.sizes_search, r.same_weights == Some(true))).collect::<Vec<_>>(),
        );
        let coarsened = coarsening_sentence(
            &unequal_mm
                .iter()
                .filter(|r| r.same_weights == Some(true))
                .filter_map(|r| Some((r.sizes.as_str(), r.sizes_found.as_deref()?)))
                .collect::<Vec<_>>(),
        );
        let fixes: Vec<(String, Verdict)> = whole
            .iter()
            .filter(|r| !mm(r))
            .filter_map(|r| Some((format!("{} {} {} {}", r.scenario, r.sizes, r.wrt, r.variant), r.verdict?)))
            .collect();
        let fixes = fixes_sentence(&fixes);
        // The problem as the text names it, from the values used.
        let (samples, features, classes, parts, per_part) = (N, D, CLASSES, K, N / K);
        let (eps, truth_bits) = (EPS, gradlab::policy::TRUTH_BITS);
        let most = N / (K * sizes(Scenario::Accumulation, LEVELS - 1).iter().copied().min().unwrap_or(1).max(1));
        fill(
            include_str!("microbatch.md"),
            &vars![
                seeds, table, equal, plateau, x_spread, further, searches, coarsened, fixes, zeros, samples, features,
                classes, parts, per_part, eps, truth_bits, most
            ],
        )
    }
}

/// The first figure: what a check of x.grad shows per micro-batch, against |c - 1| / max(c, 1)
/// floored at the check's own `resolution` (reached at c = 1, where the fixes sit).
fn plateau_figure(batches: &[&Row], seeds: u64, resolution: f64) -> Figure {
    let theory_of = |c: f64| ((c - 1.0).abs() / c.max(1.0)).max(resolution);
    let mut levels: Vec<usize> = batches.iter().map(|r| r.level).collect();
    levels.sort_unstable();
    levels.dedup();
    let patterns = levels.len();
    // A log grid from 10^-0.2 to 10^1.2, with c = 1 and points ever closer to it on both sides.
    let mut cs: Vec<f64> = (0..=100).map(|i| 10f64.powf(-0.2 + 1.4 * f64::from(i) / 100.0)).collect();
    cs.extend((1..=16).flat_map(|j| [1.0 - 10f64.powf(-f64::from(j) / 2.0), 1.0 + 10f64.powf(-f64::from(j) / 2.0)]));
    cs.push(1.0);
    cs.sort_by(f64::total_cmp);
    let theory = cs.into_iter().map(|c| (c, theory_of(c))).collect();
    let title = "What a check of x.grad shows: each micro-batch its own plateau";
    let label = format!("|c - 1| / max(c, 1), floor {resolution:.1e} (the check's resolution) at c = 1");
    let mut fig =
        Figure::new(title, "the micro-batch's weight N / (K n_b)", "mean relative error, analytic vs numeric")
            .with(dashed(&label, DARK_GREY, theory))
            .with_legend(LegendPos::LowerRight)
            .with_caption(format!(
            "Accumulation, {seeds} seeds, {patterns} size patterns; one point per micro-batch. The fixes (at 1, fix_sum under \
             fix_weighted) sit at the check's own resolution, the median of their points."
        ));
    for (k, v) in [Combine::MeanOfMeans, Combine::FixSum, Combine::FixWeighted].into_iter().enumerate() {
        let pts = batches.iter().filter(|r| r.variant == v).map(|r| (r.factor, r.relerr_check)).collect();
        fig.series.push(points(v.name(), category_ink(k, DType::F64), pts));
    }
    fig
}

/// `60 wrong`, `58 correct, 2 inconclusive`: how many of each verdict, in the order correct,
/// wrong, inconclusive.
fn verdict_counts(verdicts: impl IntoIterator<Item = Verdict>) -> String {
    let all: Vec<Verdict> = verdicts.into_iter().collect();
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .filter_map(|v| {
            let n = all.iter().filter(|&&x| x == *v).count();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// Whether equal sizes give gradients `diagnose` calls correct, from their verdicts.
fn equal_sentence(verdicts: &[Verdict]) -> String {
    let ok = verdicts.iter().filter(|&&v| v == Verdict::Correct).count();
    if ok == verdicts.len() {
        format!(
            "Equal sizes give the true mean gradient: all {ok} gradients with equal sizes, whichever way they are \
             combined, are `correct`."
        )
    } else {
        format!(
            "With equal sizes, {ok} of {} gradients are `correct` ({}).",
            verdicts.len(),
            verdict_counts(verdicts.iter().copied())
        )
    }
}

/// x.grad's relerr over the seeds, from its largest spread (max - min over the median) at any size.
fn seed_spread_sentence(relative_spread: f64) -> String {
    if relative_spread <= 1e-9 {
        format!(
            "x.grad's relerr is the same on every seed at each size (relative spread at most {relative_spread:.1e}): it \
             depends only on the sizes."
        )
    } else {
        format!(
            "x.grad's relerr varies over the seeds at a given size (relative spread up to {relative_spread:.2}): it does \
             not depend on the sizes alone."
        )
    }
}

/// How `diagnose` found the sizes of each tensor's gradients: per tensor and search, how many
/// gradients it recovered (`(tensor, search, recovered)` per mean-of-means gradient with unequal sizes).
fn search_sentence(items: &[(LinearTensor, Option<Search>, bool)]) -> String {
    let mut parts = Vec::new();
    for &w in &LinearTensor::ALL[..3] {
        let mine: Vec<&(LinearTensor, Option<Search>, bool)> = items.iter().filter(|i| i.0 == w).collect();
        if mine.is_empty() {
            continue;
        }
        let mut by: Vec<String> = Vec::new();
        for search in Search::ALL.iter().map(|&s| Some(s)).chain([None]) {
            let of: Vec<&&(LinearTensor, Option<Search>, bool)> = mine.iter().filter(|i| i.1 == search).collect();
            if of.is_empty() {
                continue;
            }
            let found = of.iter().filter(|i| i.2).count();
            by.push(match search {
                Some(s) => format!("{found} of {} recovered by {} (`{s}`)", of.len(), s.describe()),
                None => format!("{} with no sizes printed", of.len()),
            });
        }
        let name = match w {
            LinearTensor::Input => "x.grad",
            LinearTensor::Weight => "W.grad",
            _ => "b.grad",
        };
        parts.push(format!("from {name}, {}", by.join("; ")));
    }
    format!("How `diagnose` found the sizes (read from its evidence), over the unequal sizes: {}.", parts.join("; "))
}

/// Whether the printed sizes are the true ones, from `(true sizes, printed sizes)` of every
/// recovery that weights each sample as the true sizes do.
fn coarsening_sentence(found: &[(&str, &str)]) -> String {
    let differ: Vec<&(&str, &str)> = found.iter().filter(|(t, p)| t != p).collect();
    match differ.first() {
        None => format!("In all {} recoveries the printed sizes are the true ones.", found.len()),
        Some((t, p)) => format!(
            "In {} of {} recoveries the printed sizes differ from the true ones but weight every sample alike (for \
             example {p} for {t}): splitting every micro-batch evenly leaves 1/(K n_b) unchanged, and `diagnose` prints \
             the smallest K first.",
            differ.len(),
            found.len()
        ),
    }
}

/// Whether the two fixes are `correct`, from `(what, verdict)` of every fixed gradient.
fn fixes_sentence(fixes: &[(String, Verdict)]) -> String {
    let not: Vec<String> =
        fixes.iter().filter(|(_, v)| *v != Verdict::Correct).map(|(what, v)| format!("{what} ({v})")).collect();
    if !not.is_empty() {
        format!(
            "The fixes are `correct` in {} of {} gradients; not: {}.",
            fixes.len() - not.len(),
            fixes.len(),
            claims::and_list(&not)
        )
    } else {
        format!(
            "Both fixes are `correct` at every size pattern, for every tensor ({} of {} gradients).",
            fixes.len(),
            fixes.len()
        )
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
        format!("{first}{flips} (micro-batches accumulated; the data-parallel rows are in the table).")
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

gradlab_lab::experiment_main!(Microbatch);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each verdict sentence has its other branch: a verdict that is not `correct` is named.
    #[test]
    fn the_verdict_sentences_follow_the_verdicts() {
        use Verdict::{Correct, Inconclusive, Wrong};
        assert_eq!(verdict_counts([Wrong, Correct, Wrong, Inconclusive]), "1 correct, 2 wrong, 1 inconclusive");
        assert_eq!(verdict_counts([]), "-");
        assert!(equal_sentence(&[Correct, Correct]).contains("all 2 gradients with equal sizes"));
        let s = equal_sentence(&[Correct, Inconclusive]);
        assert!(s.contains("1 of 2 gradients are `correct` (1 correct, 1 inconclusive)"), "{s}");
        let s = fixes_sentence(&[("a".into(), Correct), ("b".into(), Correct)]);
        assert!(s.starts_with("Both fixes are `correct` at every size pattern, for every tensor (2 of 2"), "{s}");
        let s = fixes_sentence(&[("a".into(), Correct), ("accumulation 21-21-21-1 bias fix_sum".into(), Wrong)]);
        assert!(s.contains("1 of 2 gradients; not: accumulation 21-21-21-1 bias fix_sum (wrong)"), "{s}");
    }

    /// The seed-spread, search and coarsening sentences each have the case of their other branch.
    #[test]
    fn the_recovery_sentences_follow_the_rows() {
        assert!(seed_spread_sentence(1e-15).contains("the same on every seed"));
        assert!(seed_spread_sentence(0.3).contains("varies over the seeds"));
        let s = search_sentence(&[
            (LinearTensor::Input, Some(Search::RowRatios), true),
            (LinearTensor::Bias, Some(Search::CommonPartitions), true),
            (LinearTensor::Bias, None, false),
        ]);
        assert!(s.contains("from x.grad, 1 of 1 recovered by each sample's weight from its own row"), "{s}");
        assert!(s.contains("from b.grad, 1 of 1 recovered by testing the common partitions"), "{s}");
        assert!(s.contains("1 with no sizes printed"), "{s}");
        assert!(!s.contains("W.grad"), "{s}");
        assert!(coarsening_sentence(&[("17-17-17-13", "17-17-17-13")])
            .contains("In all 1 recoveries the printed sizes are the true ones"));
        let s = coarsening_sentence(&[("17-17-17-13", "17-17-17-13"), ("19-19-13-13", "38-26")]);
        assert!(s.contains("In 1 of 2 recoveries the printed sizes differ from the true ones"), "{s}");
        assert!(s.contains("for example 38-26 for 19-19-13-13"), "{s}");
    }

    /// Every search is read back from the evidence line `diagnose` writes for it.
    #[test]
    fn the_search_is_read_from_the_evidence() {
        assert_eq!(
            Search::from_evidence(
                "per-sample weights recovered from the rows of x.grad (row j ...) take 2 distinct values"
            ),
            Some(Search::RowRatios)
        );
        assert_eq!(
            Search::from_evidence("per-sample weights recovered by least squares over the 96 given elements"),
            Some(Search::LeastSquares)
        );
        assert_eq!(
            Search::from_evidence("per-sample weights are not identifiable: ... Tested the common partitions (...)"),
            Some(Search::CommonPartitions)
        );
        assert_eq!(Search::from_evidence("something else"), None);
    }

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
