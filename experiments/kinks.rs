//! `kinks`: relu's kinks against the step. For `mlp-relu`, the fraction of input elements whose
//! perturbation moves a hidden pre-activation across 0, and each method's error on those
//! elements and on the others, against the step, in f32 and f64 over seeds.

use gradlab::check::{check_model, CheckConfig, Checked, Status};
use gradlab::metrics::relerr_to_truth;
use gradlab::model::{MlpModel, MlpTensor};
use gradlab::objective::mlp::{Activation, MlpParams, MlpSpec, DEFAULT_HIDDEN};
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::scalar::Scalar;
use gradlab::train::mlp;
use gradlab::watch::Watch;
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::prelude::*;
use ndarray::Array2;

/// The experiment.
pub struct Kinks;

const METHODS: [Scheme; 5] = [Scheme::Forward, Scheme::Central, Scheme::Central5, Scheme::Ridders, Scheme::Complex];

fn dtypes() -> [DType; 2] {
    [DType::F32, DType::F64]
}

/// The problem's samples n, features d and classes k.
const SIZE: (usize, usize, usize) = (10, 4, 2);

/// The training every seed gets: the seed's, x.grad reset.
fn training() -> TrainConfig {
    TrainConfig::seed(InputGrad::Reset)
}

/// The model and problem as the text and captions name them, from the values used.
fn setup_label() -> String {
    let (n, d, k) = SIZE;
    let t = training();
    format!(
        "H = {DEFAULT_HIDDEN} relu units, trained like the seed: n = {n}, d = {d}, k = {k}, E = {}, lr = {}",
        t.epochs, t.lr
    )
}

fn seeds(quick: bool) -> Vec<u64> {
    (1..=if quick { 2 } else { 10 }).collect()
}

/// 4 steps per decade (2 when quick) from 1 to 1e-6 (f32) or 1e-12 (f64).
fn steps(dt: DType, quick: bool) -> Vec<Decimal> {
    usable_steps(&log_grid_from(0, if dt == DType::F32 { 6 } else { 12 }, if quick { 2 } else { 4 }), dt)
}

/// One step of one method on one seed.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    method: Scheme,
    seed: u64,
    eps: Decimal,
    /// Input elements (n d).
    elements: usize,
    /// Elements whose perturbation by +-eps (2 eps for central5) moves a pre-activation across 0.
    crossing: usize,
    /// Mean ordinary relative error |numeric - truth| / |truth| over the crossing elements whose
    /// truth is not 0 (NaN when none).
    relerr_crossing: f64,
    /// The same over the other elements.
    relerr_smooth: f64,
    /// Elements whose truth is 0 (the check's truth, its rounding residues cleared), left out of
    /// both means.
    truth_zero: usize,
    /// The same mean over every element: the check without the rule.
    relerr_all: f64,
    /// The user's rule, flagged elements recomputed: each crossing element at the largest grid
    /// step below this one at which it crosses no kink, the others at this step; the mean over
    /// every element so computed (the unresolved left out).
    relerr_retried: f64,
    /// Crossing elements that cross at every smaller grid step too (no step to recompute at).
    unresolved: usize,
    status: Status,
}

/// Each input element's distance to its sample's nearest kink ([`mlp::MlpTrained::kink_distance`]),
/// in the dtype's own trained state.
fn kink_distance<T: Scalar>(problem: &Problem, ctx: T::Ctx, cfg: &TrainConfig, seed: u64) -> Result<Array2<f64>> {
    let x = problem.x.map(|v| T::from_f64(*v, ctx));
    let init = MlpParams::generate(problem.d(), problem.k(), DEFAULT_HIDDEN, seed).cast::<T>(ctx);
    Ok(mlp::train(&x, &problem.t, &init, Activation::Relu, cfg, ctx, &Watch::unwatched())?.kink_distance())
}

impl Experiment for Kinks {
    /// A dtype, a seed, and whether the grid is the quick one.
    type Cell = (DType, u64, bool);
    type Row = Row;

    const NAME: &'static str = "kinks";
    const DESCRIPTION: &'static str =
        "mlp-relu: how many elements' perturbations cross a kink against the step, and what that does to each method";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        dtypes().into_iter().flat_map(|dt| seeds(quick).into_iter().map(move |s| (dt, s, quick))).collect()
    }
    fn run_cell(&self, &(dt, seed, quick): &Self::Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(SIZE.0, SIZE.1, SIZE.2, seed)?;
        let train = training();
        let dist = gradlab::with_dtype!(dt, |T, ctx| kink_distance::<T>(&problem, ctx, &train, seed))?;
        let spec = MlpSpec { act: Activation::Relu, hidden: DEFAULT_HIDDEN, seed };
        let mut out = Vec::new();
        for method in METHODS {
            let cfg = CheckConfig {
                truth: Some(truth_prec(&[dt])),
                keep_grads: true,
                ..CheckConfig::seed(method, Steps::grid(steps(dt, quick))?)
            };
            let model = MlpModel { problem: &problem, spec, reduction: cfg.train.reduction };
            let checked = Checked::new(cfg, dt)?;
            let check = check_model(&model, MlpTensor::Input, &checked, &Watch::unwatched())?;
            let Some(grads) = check.grads else { continue };
            let Some(truth) = grads.truth else { continue };
            let reach = if method == Scheme::Central5 { 2.0 } else { 1.0 };
            // Per step (largest first), each element's ordinary relative error; elements whose
            // truth is 0 (the check's truth, its rounding residues cleared) have none (counted).
            let rel = |(v, t): (&f64, &f64)| relerr_to_truth(v, t, 53, 53);
            let per_step: Vec<(f64, Vec<Option<f64>>)> = check
                .rows
                .iter()
                .zip(&grads.numeric)
                .map(|(r, num)| (reach * r.eps.to_f64(), num.iter().zip(truth.iter()).map(rel).collect()))
                .collect();
            let dist: Vec<f64> = dist.iter().copied().collect();
            for (k, ((r, eps), (h, errs))) in
                check.rows.iter().zip(checked.cfg().steps.fixed()).zip(&per_step).enumerate()
            {
                let m = measure(&dist, *h, errs, &per_step[k + 1..]);
                out.push(Row {
                    dtype: dt,
                    method,
                    seed,
                    eps: eps.clone(),
                    elements: dist.len(),
                    crossing: m.crossing,
                    relerr_crossing: m.crossing_err,
                    relerr_smooth: m.smooth_err,
                    truth_zero: m.truth_zero,
                    relerr_all: m.all_err,
                    relerr_retried: m.retried_err,
                    unresolved: m.unresolved,
                    status: r.status,
                });
            }
        }
        Ok(out)
    }
    fn row_is_nonfinite(&self, row: &Row) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let n = seeds(quick).len();
        let of = |dt: DType, m: Scheme| rows.iter().filter(move |r| r.dtype == dt && r.method == m);
        let frac = |r: &Row| r.crossing as f64 / r.elements as f64;
        let (med, band) = median_band(of(DType::F64, Scheme::Central).map(|r| (&r.eps, frac(r))));
        let (med5, _) = median_band(of(DType::F64, Scheme::Central5).map(|r| (&r.eps, frac(r))));
        let mut fig = Figure::new("Input elements whose central difference crosses a relu kink", "step h", "fraction")
            .with(line("central, +-h (f64)", scheme_ink(Scheme::Central), med).with_band(band))
            .with(line("five-point, +-2h (f64)", scheme_ink(Scheme::Central5), med5))
            .with_caption(format!(
                "median over {n} seeds, band: min-max; mlp-relu, H = {DEFAULT_HIDDEN}, n = {}, d = {}",
                SIZE.0, SIZE.1
            ));
        fig.y_log = false;
        let mut figures = out.figure_md("kinks_fraction", &fig)?;
        let title = "Error on elements that cross a kink (hollow markers) and on the others (filled), f64";
        let mut err = Figure::new(title, "step h", "mean relative error vs truth").with_caption(format!(
            "filled: median over all {n} seeds; hollow: median over the seeds with a crossing element at that step"
        ));
        for m in [Scheme::Forward, Scheme::Central, Scheme::Central5, Scheme::Complex] {
            let c = scheme_ink(m);
            let (smooth, _) = median_band(of(DType::F64, m).map(|r| (&r.eps, r.relerr_smooth)));
            let (crossing, _) =
                median_band(of(DType::F64, m).filter(|r| r.crossing > 0).map(|r| (&r.eps, r.relerr_crossing)));
            // One legend entry per method (the title says which style is which): half the
            // legend, so a corner free of data can hold it.
            err.series.push(line(&m.to_string(), c, smooth));
            err.series.push(line("", c.hollow(), crossing));
        }
        figures.push_str(&out.figure_md("kinks_error", &err)?);
        let (mut table, mut summary) = (Vec::new(), Vec::new());
        for (dt, m) in dtypes().into_iter().flat_map(|dt| METHODS.map(|m| (dt, m))) {
            let (smooth, _) = median_band(of(dt, m).map(|r| (&r.eps, r.relerr_smooth)));
            let best = smooth.iter().copied().fold((f64::NAN, f64::INFINITY), |b, p| if p.1 < b.1 { p } else { b });
            let edge = if smooth.first().is_some_and(|p| p.0 == best.0) { " (grid's edge)" } else { "" };
            let at_best: Vec<&Row> = of(dt, m).filter(|r| r.eps.to_f64() == best.0).collect();
            let crossing = median(&at_best.iter().map(|r| frac(r)).collect::<Vec<f64>>());
            let basis = SmoothBasis::of(&at_best);
            // Per seed, the best step at which no element crosses, and the error there.
            let clean: Vec<(u64, f64, f64)> = seeds(quick)
                .iter()
                .filter_map(|&s| {
                    let ok = of(dt, m).filter(|r| r.seed == s && r.crossing == 0 && r.relerr_smooth.is_finite());
                    ok.map(|r| (s, r.eps.to_f64(), r.relerr_smooth)).min_by(|a, b| a.2.total_cmp(&b.2))
                })
                .collect();
            let steps: Vec<f64> = clean.iter().map(|c| c.1).collect();
            let errs: Vec<f64> = clean.iter().map(|c| c.2).collect();
            let without: Vec<u64> = seeds(quick).into_iter().filter(|s| !clean.iter().any(|c| c.0 == *s)).collect();
            let ratios: Vec<f64> =
                of(dt, m).filter(|r| r.crossing > 0).map(|r| r.relerr_crossing / r.relerr_smooth).collect();
            let (e, ratio, clean_step) = (Spread::of(&errs), median(&ratios), lower_median(&steps));
            table.push(vec![
                dt.to_string(),
                m.to_string(),
                format!("{:.2e}{edge}", best.0),
                format!("{:.2e}", best.1),
                basis.label(),
                format!("{:.0} %", 100.0 * crossing),
                clean_label(clean_step, clean.len(), &without),
                e.sci_range_label(1),
                format!("{ratio:.1e}"),
            ]);
            summary.push(((dt, m), [best.0, 100.0 * crossing, clean_step, e.median, ratio]));
        }
        let pick = |key: (DType, Scheme)| summary.iter().find(|s| s.0 == key).map_or([f64::NAN; 5], |s| s.1);
        let [h32, p32, s32, e32, r32] = pick((DType::F32, Scheme::Central));
        let [h64, p64, s64, e64, r64] = pick((DType::F64, Scheme::Central));
        let [_, _, _, ex, rx] = pick((DType::F64, Scheme::Complex));
        let truth_rule = format!(
            "Central differences at the step best for smooth elements let {p32:.0} % of the elements cross a kink in \
             f32 (h = {h32:.2e}) and {p64:.0} % in f64 (h = {h64:.2e}); a crossing element's error is {r32:.1e} (f32) \
             and {r64:.1e} (f64) times a smooth one's. The best step at which no element crosses is {s32:.2e} in f32 \
             (error {e32:.1e}) and {s64:.2e} in f64 (error {e64:.1e}) (lower median of the seeds' grid steps, median \
             error), but both steps are chosen by the error \
             against the truth, which a user does not have. The complex step is not affected (crossing over smooth \
             error {rx:.1}): it reaches {ex:.1e} in f64, perturbing only the imaginary part."
        );
        let rules: Vec<RuleSummary> = dtypes()
            .into_iter()
            .flat_map(|dt| RULE_METHODS.map(|m| (dt, m)))
            .filter_map(|(dt, m)| RuleSummary::of(dt, m, &of(dt, m).collect::<Vec<_>>()))
            .collect();
        let rule_table = md_table(
            "dtype | method | step h = u^(1/(p+1)) on the grid | flagged: median (max) | seeds with a flag | \
             error, every element | error, flagged left out | error, flagged recomputed | not recomputable",
            rules.iter().map(RuleSummary::cells),
        );
        let rule = rule_sentence(&rules);
        let table = md_table(
            "dtype | method | best step (smooth elements) | their error | rests on: smooth elements per seed, seeds | \
             elements crossing there | best step with no crossing (lower median over seeds) | \
             error there: median (min to max) | crossing / smooth error at the same step (median)",
            table,
        );
        let zeros = zeros_note(rows.iter().map(|r| r.truth_zero).max().unwrap_or(0));
        let setup = setup_label();
        let vars = vars![n, setup, table, figures, truth_rule, rule_table, rule, zeros];
        fill(include_str!("kinks.md"), &vars)
    }
}

/// The lower median of `v` (the middle value of an odd count, the smaller of the two middle ones
/// of an even count; NaN for none): a value of `v` itself, so a grid step stays a grid step.
fn lower_median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    s.sort_by(f64::total_cmp);
    s.get(s.len().saturating_sub(1) / 2).copied().unwrap_or(f64::NAN)
}

/// The per-seed best no-crossing step's cell: the lower median over the `found` seeds that have
/// one, and the seeds that have none (every step with an error crosses).
fn clean_label(step: f64, found: usize, without: &[u64]) -> String {
    let step = if step.is_nan() { "-".to_string() } else { format!("{step:.2e}") };
    if without.is_empty() {
        format!("{step} ({found} seeds)")
    } else {
        let list: Vec<String> = without.iter().map(u64::to_string).collect();
        format!(
            "{step} ({found} seeds; none in seed{} {}: every step crosses)",
            if list.len() == 1 { "" } else { "s" },
            list.join(", ")
        )
    }
}

/// What the best step's error on the smooth elements rests on: per seed, how many elements are
/// smooth there (min to max, of how many), and the seeds left out of the median for having none.
#[derive(Debug, PartialEq)]
struct SmoothBasis {
    /// The fewest and most smooth elements (crossing no kink, truth not 0) in one seed.
    fewest: usize,
    most: usize,
    elements: usize,
    /// Seeds with at least one smooth element (the median's).
    counted: usize,
    /// Seeds with none: their error is not a number and the median leaves them out.
    dropped: Vec<u64>,
}

impl SmoothBasis {
    /// From the rows of one dtype, method and step (one per seed).
    fn of(rows: &[&Row]) -> SmoothBasis {
        let smooth = |r: &Row| r.elements - r.crossing - r.truth_zero.min(r.elements - r.crossing);
        let counts: Vec<usize> = rows.iter().map(|r| smooth(r)).collect();
        let dropped: Vec<u64> = rows.iter().filter(|r| r.relerr_smooth.is_nan()).map(|r| r.seed).collect();
        SmoothBasis {
            fewest: counts.iter().copied().min().unwrap_or(0),
            most: counts.iter().copied().max().unwrap_or(0),
            elements: rows.first().map_or(0, |r| r.elements),
            counted: rows.len() - dropped.len(),
            dropped,
        }
    }

    fn label(&self) -> String {
        let range =
            if self.fewest == self.most { self.most.to_string() } else { format!("{} to {}", self.fewest, self.most) };
        let plural = if self.counted == 1 { "" } else { "s" };
        let head = format!("{range} of {}; {} seed{plural}", self.elements, self.counted);
        match self.dropped.as_slice() {
            [] => head,
            d => {
                let list: Vec<String> = d.iter().map(u64::to_string).collect();
                format!(
                    "{head} (seed{} {} left out: no smooth element)",
                    if d.len() == 1 { "" } else { "s" },
                    list.join(", ")
                )
            }
        }
    }
}

/// The methods the user's rule is measured for: those whose error the kinks change.
const RULE_METHODS: [Scheme; 3] = [Scheme::Forward, Scheme::Central, Scheme::Central5];

/// The textbook step of `method` in `dt`, u^(1/(p+1)) for a difference of order p (the step that
/// balances truncation h^p against rounding u / h when f and its derivatives are of order 1): what
/// a user picks without the truth.
fn textbook_step(dt: DType, method: Scheme) -> f64 {
    let p = match method {
        Scheme::Forward | Scheme::Backward => 1.0,
        Scheme::Central5 => 4.0,
        _ => 2.0,
    };
    dt.unit_roundoff().powf(1.0 / (p + 1.0))
}

/// The user's rule at the textbook step (the grid step nearest it), over seeds.
#[derive(Debug, Clone)]
struct RuleSummary {
    dtype: DType,
    method: Scheme,
    step: f64,
    /// Percent of elements flagged.
    flagged: Spread,
    seeds_flagged: usize,
    seeds: usize,
    all: Spread,
    skipped: Spread,
    retried: Spread,
    unresolved: usize,
    /// Per flagged seed: the error with every element and with the flagged ones left out.
    per_seed: Vec<(f64, f64)>,
}

impl RuleSummary {
    /// From one dtype's and method's rows (every seed and step); `None` without rows.
    fn of(dtype: DType, method: Scheme, rows: &[&Row]) -> Option<RuleSummary> {
        let t = textbook_step(dtype, method).ln();
        let step =
            rows.iter().map(|r| r.eps.to_f64()).min_by(|a, b| (a.ln() - t).abs().total_cmp(&(b.ln() - t).abs()))?;
        let at: Vec<&&Row> = rows.iter().filter(|r| r.eps.to_f64() == step).collect();
        let spread =
            |f: &dyn Fn(&Row) -> f64| Spread::of(&at.iter().map(|r| f(r)).filter(|v| !v.is_nan()).collect::<Vec<_>>());
        Some(RuleSummary {
            dtype,
            method,
            step,
            flagged: spread(&|r| 100.0 * r.crossing as f64 / r.elements as f64),
            seeds_flagged: at.iter().filter(|r| r.crossing > 0).count(),
            seeds: at.len(),
            all: spread(&|r| r.relerr_all),
            skipped: spread(&|r| r.relerr_smooth),
            retried: spread(&|r| r.relerr_retried),
            unresolved: at.iter().map(|r| r.unresolved).sum(),
            per_seed: at.iter().filter(|r| r.crossing > 0).map(|r| (r.relerr_all, r.relerr_smooth)).collect(),
        })
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.dtype.to_string(),
            self.method.to_string(),
            format!("{:.2e}", self.step),
            format!("{:.1} % ({:.1} %)", self.flagged.median, self.flagged.max),
            format!("{} of {}", self.seeds_flagged, self.seeds),
            self.all.sci_range_label(1),
            self.skipped.sci_range_label(1),
            self.retried.sci_range_label(1),
            self.unresolved.to_string(),
        ]
    }
}

/// Whether leaving a seed's flagged elements out helps it: its error without them is at most
/// half its error with them.
fn helps(all: f64, skipped: f64) -> bool {
    skipped <= all / 2.0
}

/// What the rule buys, per dtype and method, from the summaries: nothing flagged; or, judged
/// seed by seed, in how many flagged seeds leaving the flagged elements out helps ([`helps`]),
/// with the worst seed's error with and without them and, when it helps somewhere, what
/// recomputing them costs and gives.
fn rule_sentence(rules: &[RuleSummary]) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|r| {
            let head = format!("{} {} at h = {:.2e}", r.dtype, r.method, r.step);
            if r.seeds_flagged == 0 {
                return format!(
                    "{head} flags no element in any seed: the rule costs nothing and changes nothing \
                    (worst seed's error {:.1e})",
                    r.all.max
                );
            }
            let (med, max) = (r.flagged.median, r.flagged.max);
            let helped = r.per_seed.iter().filter(|(a, s)| helps(*a, *s)).count();
            let judged = r.per_seed.len();
            let recompute = format!(
                "recomputing them instead at the largest grid step at which they cross nothing ({med:.1} % more \
                 differences in the median seed, at most {max:.1} %) gives {:.1e} in the worst seed with every \
                 element kept",
                r.retried.max
            );
            let worst =
                format!("the worst seed's error is {:.1e} with them and {:.1e} without", r.all.max, r.skipped.max);
            if helped == 0 {
                format!(
                    "{head} flags elements in {} of {} seeds ({med:.1} % of the elements in the median seed, at most \
                     {max:.1} %), but leaving them out halves the error in none of the {judged}; {worst}: at this step \
                     the crossing elements are not what limits the error",
                    r.seeds_flagged, r.seeds
                )
            } else if helped == judged {
                format!(
                    "{head} flags elements in {} of {} seeds; leaving them out ({med:.1} % of the elements unchecked \
                     in the median seed, at most {max:.1} %) at least halves the error in every one of the {judged} \
                     ({worst}), and {recompute}",
                    r.seeds_flagged, r.seeds
                )
            } else {
                format!(
                    "{head} flags elements in {} of {} seeds; leaving them out ({med:.1} % of the elements unchecked \
                     in the median seed, at most {max:.1} %) at least halves the error in {helped} of the {judged} \
                     and not in the {} ({worst}), and {recompute}",
                    r.seeds_flagged,
                    r.seeds,
                    if judged - helped == 1 { "other" } else { "others" }
                )
            }
        })
        .collect();
    parts.join("; ") + "."
}

/// What one step of one method gives, split by the user's rule.
#[derive(Debug, PartialEq)]
struct Measured {
    crossing: usize,
    truth_zero: usize,
    crossing_err: f64,
    smooth_err: f64,
    all_err: f64,
    retried_err: f64,
    unresolved: usize,
}

/// The mean of the finite values, NaN for none.
fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The rule at one step of reach `h`: an element is flagged when some kink lies within the
/// reach (`dist` < `h`: a pre-activation changes sign between stencil points, which the user sees
/// in the forward passes); `errs` its errors at this step, `smaller` the smaller steps (reach,
/// errors), largest first, where a flagged element is recomputed at the first it does not cross.
fn measure(dist: &[f64], h: f64, errs: &[Option<f64>], smaller: &[(f64, Vec<Option<f64>>)]) -> Measured {
    let (mut cross, mut smooth, mut retried, mut unresolved) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for (i, (&d, e)) in dist.iter().zip(errs).enumerate() {
        let Some(e) = *e else { continue };
        if d >= h {
            smooth.push(e);
            retried.push(e);
            continue;
        }
        cross.push(e);
        match smaller.iter().find(|(h2, _)| d >= *h2).and_then(|(_, e2)| e2[i]) {
            Some(e2) => retried.push(e2),
            None => unresolved += 1,
        }
    }
    let all: Vec<f64> = cross.iter().chain(&smooth).copied().collect();
    Measured {
        crossing: dist.iter().filter(|&&d| d < h).count(),
        truth_zero: errs.iter().filter(|e| e.is_none()).count(),
        crossing_err: mean(&cross),
        smooth_err: mean(&smooth),
        all_err: mean(&all),
        retried_err: mean(&retried),
        unresolved,
    }
}

/// How many elements the means leave out for a true gradient of exactly 0, from the largest
/// count in one check.
fn zeros_note(most: usize) -> String {
    match most {
        0 => "no element's truth is 0 here".to_string(),
        z => format!("at most {z} per check"),
    }
}

gradlab_lab::experiment_main!(Kinks);

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(flagged: f64, seeds_flagged: usize, all: f64, skipped: f64) -> RuleSummary {
        let sp = |v: f64| Spread { min: v, median: v, max: v };
        let per_seed = vec![(all, skipped); seeds_flagged];
        RuleSummary {
            dtype: DType::F32,
            method: Scheme::Central,
            step: 3.16e-3,
            flagged: sp(flagged),
            seeds_flagged,
            seeds: 10,
            all: sp(all),
            skipped: sp(skipped),
            retried: sp(skipped),
            unresolved: 0,
            per_seed,
        }
    }

    /// Each of the rule's sentences appears when the summary calls for it, judged on every
    /// flagged seed, not the worst one alone.
    #[test]
    fn the_rule_sentence_follows_the_data() {
        let none = rule_sentence(&[summary(0.0, 0, 1e-3, 1e-3)]);
        assert!(none.contains("flags no element in any seed"), "{none}");
        let helps = rule_sentence(&[summary(5.0, 3, 1e-1, 1e-3)]);
        assert!(helps.contains("at least halves the error in every one of the 3"), "{helps}");
        assert!(helps.contains("the worst seed's error is 1.0e-1 with them and 1.0e-3 without"), "{helps}");
        let idle = rule_sentence(&[summary(5.0, 3, 1e-3, 0.9e-3)]);
        assert!(idle.contains("halves the error in none of the 3"), "{idle}");
        assert!(idle.contains("the crossing elements are not what limits the error"), "{idle}");
        // The worst seed alone would say "not limited"; another seed is helped.
        let mut mixed = summary(5.0, 2, 1e-3, 0.9e-3);
        mixed.per_seed = vec![(1e-3, 0.9e-3), (1e-4, 1e-6)];
        let s = rule_sentence(&[mixed]);
        assert!(s.contains("at least halves the error in 1 of the 2 and not in the other ("), "{s}");
        assert!(!s.contains("not what limits"), "{s}");
    }

    fn row(seed: u64, crossing: usize, relerr_smooth: f64) -> Row {
        Row {
            dtype: DType::F32,
            method: Scheme::Central,
            seed,
            eps: Decimal::parse("step", "1e-1").unwrap(),
            elements: 40,
            crossing,
            relerr_crossing: 1.0,
            relerr_smooth,
            truth_zero: 0,
            relerr_all: 1.0,
            relerr_retried: 1.0,
            unresolved: 0,
            status: Status::Ok,
        }
    }

    /// The smooth elements are counted per seed, and a seed with none is named as left out.
    #[test]
    fn the_smooth_basis_names_the_seeds_left_out() {
        let rows = [row(1, 36, 1e-3), row(2, 40, f64::NAN), row(3, 39, 2e-3)];
        let b = SmoothBasis::of(&rows.iter().collect::<Vec<_>>());
        assert_eq!(b.label(), "0 to 4 of 40; 2 seeds (seed 2 left out: no smooth element)");
        let b = SmoothBasis::of(&[&rows[0]]);
        assert_eq!(b.label(), "4 of 40; 1 seed");
    }

    /// A grid step stays a grid step: the lower median is a value of the list.
    #[test]
    fn the_lower_median_is_one_of_the_values() {
        assert_eq!(lower_median(&[1e-2, 1e-3, 1e-1, 1e-4]), 1e-3);
        assert_eq!(lower_median(&[1e-2, 1e-3, 1e-1]), 1e-2);
        assert!(lower_median(&[]).is_nan());
        assert_eq!(clean_label(1e-3, 4, &[]), "1.00e-3 (4 seeds)");
        assert_eq!(clean_label(1e-3, 3, &[7]), "1.00e-3 (3 seeds; none in seed 7: every step crosses)");
    }

    /// Flagged elements are recomputed at the first smaller step they do not cross, or counted
    /// when there is none; truth-zero elements count apart.
    #[test]
    fn the_rule_flags_and_recomputes() {
        let dist = [1.0, 0.05, 0.001, 0.5];
        let errs = [Some(1e-6), Some(1e-1), Some(2e-1), None];
        let smaller = vec![(0.01, vec![Some(2e-6), Some(3e-6), Some(9e-1), None])];
        let m = measure(&dist, 0.1, &errs, &smaller);
        assert_eq!((m.crossing, m.truth_zero, m.unresolved), (2, 1, 1));
        assert_eq!(m.smooth_err, 1e-6);
        assert_eq!(m.crossing_err, (1e-1 + 2e-1) / 2.0);
        assert_eq!(m.retried_err, (1e-6 + 3e-6) / 2.0);
    }

    /// The note says there are none only when no check has one.
    #[test]
    fn the_zero_truth_note_follows_the_count() {
        assert_eq!(zeros_note(0), "no element's truth is 0 here");
        assert_eq!(zeros_note(3), "at most 3 per check");
    }
}
