//! `methods`: every way to differentiate, in every dtype, on each model: forward, central and
//! five-point differences (on a grid and with `--eps auto`), Ridders, the complex step and dual
//! numbers against the MPFR truth, over seeds; the best error, the step it needs and the cost;
//! and each method's error curve collapsed across dtypes by its own scaling.

use gradlab::check::{CheckConfig, Checked, Status};
use gradlab::metrics::best_step;
use gradlab::plan::model_named;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::watch::Watch;
use gradlab_lab::claims;
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::prelude::*;
use gradlab_lab::report::best_step_label;

/// The experiment.
pub struct Methods;

gradlab::named_enum! {
    /// The models of the experiment, each a model of `gradlab check --model`'s registry by its
    /// name ([`gradlab::plan::registry`]).
    pub enum ModelKind("model") {
        /// The seed's linear layer with softmax cross-entropy.
        Linear = "linear",
        /// A one-hidden-layer MLP with tanh.
        MlpTanh = "mlp-tanh",
        /// A one-hidden-layer MLP with relu.
        MlpRelu = "mlp-relu",
    }
}

/// The methods with a step, in the tables' order; dual numbers and `--eps auto` follow.
const STEPPED: [Scheme; 5] = [Scheme::Forward, Scheme::Central, Scheme::Central5, Scheme::Ridders, Scheme::Complex];

/// The dtypes of a model's cells: MPFR for the linear model only (the MLPs, without a fast path,
/// would take minutes there, Ridders most).
fn dtypes(quick: bool, model: ModelKind) -> Vec<DType> {
    match (quick, model) {
        (true, _) => vec![DType::BF16, DType::F64],
        (false, ModelKind::Linear) => vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_113],
        (false, _) => vec![DType::F16, DType::BF16, DType::F32, DType::F64],
    }
}

fn seeds(quick: bool) -> Vec<u64> {
    (1..=if quick { 2 } else { 5 }).collect()
}

/// 4 steps per decade (2 when quick) from 10 down past the dtype's flat zone, then single steps
/// 1e-20, 1e-50, 1e-100 and 1e-300 where the dtype holds them (the complex step's range).
fn steps(dt: DType, quick: bool) -> Vec<Decimal> {
    let decades = (f64::from(dt.bits()) * 0.3).ceil() as u32 + 1;
    let mut grid = log_grid_from(1, decades, if quick { 2 } else { 4 });
    grid.extend(["1e-20", "1e-50", "1e-100", "1e-300"].iter().filter_map(|t| Decimal::parse("step", t).ok()));
    grid.dedup_by(|a, b| a.value() == b.value());
    usable_steps(&grid, dt)
}

/// One step of one method on one problem.
#[derive(Serialize, Deserialize)]
pub struct Row {
    model: ModelKind,
    dtype: DType,
    method: Scheme,
    /// The step was chosen per element by `--eps auto` (`eps` is the median chosen step).
    auto_step: bool,
    seed: u64,
    /// The step; empty for dual numbers.
    eps: Option<Decimal>,
    num_vs_truth: f64,
    anal_vs_truth: f64,
    status: Status,
}

/// The method's label (with `auto` for a step per element) and its function evaluations per
/// element.
fn label_and_cost(method: Scheme, auto: bool) -> [String; 2] {
    let cost = match (method, auto) {
        (Scheme::Central, true) => "4 + 2",
        (Scheme::Central5, true) => "6 + 4",
        (Scheme::Forward | Scheme::Central, _) => "2",
        (Scheme::Central5, _) => "4",
        (Scheme::Ridders, _) => "2 per tableau row, at most 20",
        (Scheme::Complex, _) => "1 in complex numbers",
        _ => "1 in dual numbers",
    };
    [if auto { format!("{method} (auto)") } else { method.to_string() }, cost.into()]
}

impl Experiment for Methods {
    /// A model, a dtype, a seed, and whether the grid is the quick one.
    type Cell = (ModelKind, DType, u64, bool);
    type Row = Row;

    const NAME: &'static str = "methods";
    const DESCRIPTION: &'static str =
        "every method (stencils, auto step, Ridders, complex step, dual numbers) in every dtype: best error, step, cost";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let per_dtype = |m| move |dt| seeds(quick).into_iter().map(move |s| (m, dt, s, quick));
        ModelKind::ALL.iter().flat_map(|&m| dtypes(quick, m).into_iter().flat_map(per_dtype(m))).collect()
    }
    fn run_cell(&self, &(model, dt, seed, quick): &Self::Cell) -> Result<Vec<Row>> {
        let (problem, net) = (Problem::generate(10, 4, 2, seed)?, model_named(model.name())?.with(None, seed)?);
        let mut runs = Vec::new();
        for m in STEPPED {
            runs.push((m, Steps::grid(steps(dt, quick))?));
        }
        runs.extend([(Scheme::Dual, Steps::None), (Scheme::Central, Steps::Auto), (Scheme::Central5, Steps::Auto)]);
        let mut out = Vec::new();
        for (method, grid) in runs {
            let cfg = CheckConfig { truth: Some(truth_prec(&[dt])), ..CheckConfig::seed(method, grid) };
            let check = net.check(&problem, "input", &Checked::new(cfg, dt)?, &Watch::unwatched())?;
            for r in check.rows {
                out.push(Row {
                    model,
                    dtype: dt,
                    method,
                    auto_step: r.eps.is_auto(),
                    seed,
                    eps: r.eps.decimal().cloned(),
                    num_vs_truth: r.num_vs_truth,
                    anal_vs_truth: r.anal_vs_truth,
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
        let curve = |m: ModelKind, dt: DType, method: Scheme| {
            let mine = rows.iter().filter(move |r| r.model == m && r.dtype == dt && r.method == method && !r.auto_step);
            median_band(mine.filter_map(|r| Some((r.eps.as_ref()?, r.num_vs_truth))))
        };
        let (mut tables, mut figures) = (String::new(), String::new());
        // The linear model's best median error of every method in every dtype (the README's table).
        let mut headline: Vec<(String, DType, f64)> = Vec::new();
        let spread = |v: &[f64]| Spread::of(v).sci_range_label(2);
        for &m in ModelKind::ALL {
            let mut table = Vec::new();
            let mut fig =
                Figure::new(format!("Every method on the {m} model, f64"), "step h", "mean relative error vs truth");
            for dt in dtypes(quick, m) {
                let of = |method: Scheme, auto: bool| {
                    rows.iter()
                        .filter(move |r| r.model == m && r.dtype == dt && r.method == method && r.auto_step == auto)
                };
                for method in STEPPED {
                    let (med, band) = curve(m, dt, method);
                    let grid: Vec<&Decimal> =
                        of(method, false).filter_map(|r| r.eps.as_ref()).take(med.len()).collect();
                    let Some(best) = best_step(grid.into_iter().zip(med.iter().map(|p| p.1))) else { continue };
                    let needed = med.iter().find(|p| p.1 <= 2.0 * best.value).map_or(f64::NAN, |p| p.0);
                    let at = |r: &&Row| r.eps.as_ref().is_some_and(|e| e.value() == best.step.value());
                    let errs: Vec<f64> = of(method, false).filter(at).map(|r| r.num_vs_truth).collect();
                    let [name, cost] = label_and_cost(method, false);
                    let need = format!("{needed:.0e}");
                    if m == ModelKind::Linear {
                        headline.push((name.clone(), dt, best.value));
                    }
                    table.push(vec![dt.to_string(), name, best_step_label(&best), spread(&errs), need, cost]);
                    if dt == DType::F64 {
                        // The regular grid only (the complex step's 1e-20 .. 1e-300 stay in the table).
                        let med = med.into_iter().filter(|p| p.0 >= 1e-20).collect();
                        let band = band.into_iter().filter(|p| p.0 >= 1e-20).collect();
                        fig.series.push(line(&method.to_string(), scheme_ink(method), med).with_band(band));
                    }
                }
                for (method, auto) in [(Scheme::Central, true), (Scheme::Central5, true), (Scheme::Dual, false)] {
                    let errs: Vec<f64> = of(method, auto).map(|r| r.num_vs_truth).collect();
                    let chosen: Vec<f64> = of(method, auto).filter_map(|r| Some(r.eps.as_ref()?.to_f64())).collect();
                    let step = if auto { format!("median {:.2e}", median(&chosen)) } else { "none".into() };
                    let [name, cost] = label_and_cost(method, auto);
                    if m == ModelKind::Linear {
                        headline.push((name.clone(), dt, median(&errs)));
                    }
                    table.push(vec![dt.to_string(), name, step, spread(&errs), "-".into(), cost]);
                }
            }
            fig.caption =
                Some(format!("median over {n} seeds, band: min-max; steps >= 1e-20 (the table has the rest)"));
            figures.push_str(&out.figure_md(&format!("methods_{m}"), &fig)?);
            tables.push_str(&format!("**{m}**\n\n"));
            tables.push_str(&md_table(
                "dtype | method | best step | error there: median (min to max) | step needed (within 2x) | evaluations per element",
                table,
            ));
        }
        for (method, order) in
            [(Scheme::Forward, 1.0), (Scheme::Central, 2.0), (Scheme::Central5, 4.0), (Scheme::Complex, 2.0)]
        {
            let complex = method == Scheme::Complex;
            let (x, y) =
                if complex { ("h / sqrt(u)", "error / u") } else { ("h / u^(1/(p+1))", "error / u^(p/(p+1))") };
            let mut fig = Figure::new(String::new(), x, y);
            let mut scaled: Vec<(DType, Vec<(f64, f64)>)> = Vec::new();
            for dt in dtypes(quick, ModelKind::Linear) {
                let u = dt.unit_roundoff();
                // The complex step's rounding does not grow as h shrinks: error / u against h / sqrt(u).
                let (xs, ys) =
                    if complex { (u.sqrt(), u) } else { (u.powf(1.0 / (order + 1.0)), u.powf(order / (order + 1.0))) };
                let (med, _) = curve(ModelKind::Linear, dt, method);
                let pts: Vec<(f64, f64)> =
                    med.iter().map(|p| (p.0 / xs, p.1 / ys)).filter(|p| (1e-4..=1e4).contains(&p.0)).collect();
                fig.series.push(line(&dt.to_string(), dtype_ink(dt), pts.clone()));
                scaled.push((dt, pts));
            }
            fig.title = format!("{method}: {} (linear model)", claims::collapse_phrase(&scaled));
            fig.caption = Some(format!(
                "order p = {order}, u the dtype's unit roundoff; median over {n} seeds; x within 1e-4 to 1e4"
            ));
            figures.push_str(&out.figure_md(&format!("methods_collapse_{method}"), &fig)?);
        }
        out.block("best_errors", &best_errors(&headline, n))?;
        let auto = auto_vs_best(quick, rows);
        out.block("auto_summary", &auto.summary)?;
        let auto_table = out.block("auto_vs_best", &auto.table)?;
        tables.push_str(&format!("\n{auto_table}"));
        let ridders = RiddersFailures::of(rows).sentences();
        let vars = vars![n, tables, ridders, figures];
        fill(include_str!("methods.md"), &vars)
    }
}

/// The README's table: each method's best median error over the seeds on the linear model, one
/// column per dtype.
fn best_errors(headline: &[(String, DType, f64)], n: usize) -> String {
    let mut methods: Vec<&str> = Vec::new();
    let mut dts: Vec<DType> = Vec::new();
    for (name, dt, _) in headline {
        if !methods.contains(&name.as_str()) {
            methods.push(name);
        }
        if !dts.contains(dt) {
            dts.push(*dt);
        }
    }
    let header: Vec<String> = std::iter::once("method".to_string()).chain(dts.iter().map(|d| d.to_string())).collect();
    let table = md_table(
        &header,
        methods.iter().map(|&name| {
            let cell = |dt: &DType| {
                headline.iter().find(|(m, d, _)| m == name && d == dt).map_or("-".into(), |h| format!("{:.1e}", h.2))
            };
            std::iter::once(format!("`{name}`")).chain(dts.iter().map(cell)).collect::<Vec<_>>()
        }),
    );
    format!(
        "Mean relative error of the numeric input gradient against the MPFR truth on the linear model (the default \
         problem, seeds 1 to {n}): the median over the seeds at the grid step where that median is smallest (for \
         `--eps auto`, the step chosen per element; dual numbers take no step). Steps, spreads and the MLPs: \
         [REPORT.md, methods](REPORT.md#methods).\n\n{table}"
    )
}

/// `--eps auto` against the best step of the grid, seed by seed: the table and the sentences.
struct AutoVsBest {
    /// Per model, dtype and stencil: the ratio at each seed.
    table: String,
    /// One sentence per model (the README's lines).
    summary: String,
}

/// `--eps auto`'s error divided by the smallest error of the fixed grid on the same seed, for
/// central and five-point differences, every model and dtype.
fn auto_vs_best(quick: bool, rows: &[Row]) -> AutoVsBest {
    let (mut table, mut summary) = (Vec::new(), String::new());
    let seeds = seeds(quick);
    for &m in ModelKind::ALL {
        let mut cases = Vec::new();
        for dt in dtypes(quick, m) {
            for method in [Scheme::Central, Scheme::Central5] {
                let mut ratios = Vec::new();
                let mut chosen = Vec::new();
                for &seed in &seeds {
                    let mine = || {
                        rows.iter().filter(|r| r.model == m && r.dtype == dt && r.method == method && r.seed == seed)
                    };
                    let best = mine()
                        .filter(|r| !r.auto_step && r.num_vs_truth.is_finite())
                        .map(|r| r.num_vs_truth)
                        .fold(f64::INFINITY, f64::min);
                    let Some(auto) = mine().find(|r| r.auto_step) else { continue };
                    chosen.extend(auto.eps.as_ref().map(Decimal::to_f64));
                    let ratio = auto.num_vs_truth / best;
                    ratios.push(claims::times(ratio));
                    cases.push(claims::Ratio { group: format!("{dt} {method}"), seed, ratio });
                }
                table.push(vec![
                    m.to_string(),
                    dt.to_string(),
                    method.to_string(),
                    ratios.join(", "),
                    format!("{:.2e}", median(&chosen)),
                ]);
            }
        }
        let what = format!("On the {m} model, `--eps auto` against the best grid step of the same seed");
        summary.push_str(&format!("- {}\n", claims::within_sentence(&what, &cases, AUTO_BOUND)));
    }
    let first = seeds.first().copied().unwrap_or(1);
    let last = seeds.last().copied().unwrap_or(1);
    let table = format!(
        "**`--eps auto` against the best grid step, seed by seed.** The mean relative error against the truth of the \
         input gradient with `--eps auto`, divided by the smallest over the fixed grid (4 steps per decade) on the same \
         seed: below 1, auto is more accurate than every step of the grid.\n\n{}\n{summary}",
        md_table(
            &["model", "dtype", "method", &format!("auto / best grid step, seeds {first} to {last}"), "auto's step (median)"],
            table
        )
    );
    AutoVsBest { table, summary }
}

/// A seed's error is a failure when it exceeds the median over the seeds by this factor.
const FAILURE_FACTOR: f64 = 100.0;
/// A jump between neighbouring initial steps is named when it spans at least this many decades.
const JUMP_DECADES: f64 = 3.0;

/// One seed where Ridders' error at its best step (the smallest median over the seeds) is more
/// than [`FAILURE_FACTOR`] times that median.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    model: ModelKind,
    dtype: DType,
    seed: u64,
    step: f64,
    error: f64,
    median: f64,
    /// Central and five-point differences' errors on the same seed at the same step, where both
    /// were measured: when the five-point error is no smaller than the central one (within
    /// [`KINK_AGREEMENT`]) the error does not shrink with the stencil's order, so it is not
    /// truncation: the seed's stencils cross a kink there.
    stencils: Option<(f64, f64)>,
}

/// A five-point error above (1 - this) times the central one is "no smaller".
const KINK_AGREEMENT: f64 = 0.1;

impl Failure {
    /// Whether the failure belongs to the function (a kink) rather than to the extrapolation.
    fn at_a_kink(&self) -> bool {
        self.stencils
            .is_some_and(|(c, c5)| c.is_finite() && c5.is_finite() && c > 0.0 && c5 >= (1.0 - KINK_AGREEMENT) * c)
    }
}

/// The largest change of Ridders' error between neighbouring initial steps of one seed's grid.
#[derive(Debug, Clone, PartialEq)]
struct Jump {
    model: ModelKind,
    dtype: DType,
    seed: u64,
    /// The two neighbouring steps and their errors.
    from: (f64, f64),
    to: (f64, f64),
}

impl Jump {
    fn decades(&self) -> f64 {
        (self.from.1 / self.to.1).log10().abs()
    }
}

/// Where Ridders' extrapolation fails, read from the rows: the seeds far above the median at
/// the best step, and per model the largest jump between neighbouring initial steps.
#[derive(Debug, Default)]
struct RiddersFailures {
    failures: Vec<Failure>,
    jumps: Vec<Jump>,
}

impl RiddersFailures {
    fn of(rows: &[Row]) -> Self {
        let ridders: Vec<&Row> = rows.iter().filter(|r| r.method == Scheme::Ridders && !r.auto_step).collect();
        let mut out = RiddersFailures::default();
        let mut models: Vec<ModelKind> = Vec::new();
        for r in &ridders {
            if !models.contains(&r.model) {
                models.push(r.model);
            }
        }
        for m in models {
            let mine: Vec<&&Row> = ridders.iter().filter(|r| r.model == m).collect();
            let mut dts: Vec<DType> = Vec::new();
            for r in &mine {
                if !dts.contains(&r.dtype) {
                    dts.push(r.dtype);
                }
            }
            let mut largest: Option<Jump> = None;
            for dt in dts {
                let cell: Vec<&&&Row> = mine.iter().filter(|r| r.dtype == dt).collect();
                let step = |r: &Row| r.eps.as_ref().map_or(f64::NAN, Decimal::to_f64);
                // The best step: the smallest median over the seeds (steps in grid order).
                let mut best: Option<(f64, f64)> = None;
                let mut steps: Vec<f64> = Vec::new();
                for r in &cell {
                    let h = step(r);
                    if !steps.contains(&h) {
                        steps.push(h);
                    }
                }
                for &h in &steps {
                    let errs: Vec<f64> = cell
                        .iter()
                        .filter(|r| step(r) == h && r.num_vs_truth.is_finite())
                        .map(|r| r.num_vs_truth)
                        .collect();
                    let med = median(&errs);
                    if med.is_finite() && best.is_none_or(|b| med < b.1) {
                        best = Some((h, med));
                    }
                }
                if let Some((h, med)) = best {
                    for r in cell
                        .iter()
                        .filter(|r| step(r) == h && (r.num_vs_truth > FAILURE_FACTOR * med || r.num_vs_truth.is_nan()))
                    {
                        let (seed, error) = (r.seed, r.num_vs_truth);
                        let at = |method: Scheme| {
                            rows.iter()
                                .find(|q| {
                                    q.method == method
                                        && !q.auto_step
                                        && q.model == m
                                        && q.dtype == dt
                                        && q.seed == seed
                                        && q.eps.as_ref().is_some_and(|e| e.to_f64() == h)
                                })
                                .map(|q| q.num_vs_truth)
                        };
                        let stencils = at(Scheme::Central).zip(at(Scheme::Central5));
                        out.failures.push(Failure { model: m, dtype: dt, seed, step: h, error, median: med, stencils });
                    }
                }
                let mut seeds: Vec<u64> = cell.iter().map(|r| r.seed).collect();
                seeds.sort_unstable();
                seeds.dedup();
                for seed in seeds {
                    let curve: Vec<(f64, f64)> = cell
                        .iter()
                        .filter(|r| r.seed == seed && r.num_vs_truth > 0.0 && r.num_vs_truth.is_finite())
                        .map(|r| (step(r), r.num_vs_truth))
                        .collect();
                    for w in curve.windows(2) {
                        let j = Jump { model: m, dtype: dt, seed, from: w[0], to: w[1] };
                        if largest.as_ref().is_none_or(|l| j.decades() > l.decades()) {
                            largest = Some(j);
                        }
                    }
                }
            }
            out.jumps.extend(largest);
        }
        out
    }

    /// The section's paragraph on Ridders, each sentence chosen by the rows.
    fn sentences(&self) -> String {
        let (kinks, own): (Vec<&Failure>, Vec<&Failure>) = self.failures.iter().partition(|f| f.at_a_kink());
        let failures = if own.is_empty() {
            format!(
                "**Where Ridders fails.** At its best step (the smallest median over the seeds), Ridders' error is \
                 within {FAILURE_FACTOR:.0}x of that median on every seed, for every model and dtype."
            )
        } else {
            let items: Vec<String> = own
                .iter()
                .map(|f| {
                    format!(
                        "{} {} seed {} ({:.1e} against a median of {:.1e}, {} at step {:.2e})",
                        f.model,
                        f.dtype,
                        f.seed,
                        f.error,
                        f.median,
                        claims::times(f.error / f.median),
                        f.step
                    )
                })
                .collect();
            format!(
                "**Where Ridders fails.** At its best step (the smallest median over the seeds), Ridders' error is more \
                 than {FAILURE_FACTOR:.0}x that median on {} of the seeds: {} (the tables' max column).",
                own.len(),
                claims::and_list(&items)
            )
        };
        let failures = if kinks.is_empty() {
            failures
        } else {
            let items: Vec<String> = kinks
                .iter()
                .map(|f| {
                    let (c, c5) = f.stencils.unwrap_or((f64::NAN, f64::NAN));
                    format!(
                        "{} {} seed {} (Ridders {:.1e}, central {c:.1e}, five-point {c5:.1e} at step {:.2e})",
                        f.model, f.dtype, f.seed, f.error, f.step
                    )
                })
                .collect();
            format!(
                "{failures} Not Ridders' doing, though also more than {FAILURE_FACTOR:.0}x the median: {}, where \
                 five-point differences are no better than central ones (an error that does not shrink with the \
                 stencil's order is not truncation: the seed's stencils cross a kink at that step).",
                claims::and_list(&items),
            )
        };
        let big: Vec<&Jump> = self.jumps.iter().filter(|j| j.decades() >= JUMP_DECADES).collect();
        let describe = |j: &Jump| {
            format!(
                "{:.1} decades on the {} model ({}, seed {}: {:.1e} at step {:.2e}, {:.1e} at {:.2e})",
                j.decades(),
                j.model,
                j.dtype,
                j.seed,
                j.from.1,
                j.from.0,
                j.to.1,
                j.to.0
            )
        };
        let jumps = if self.jumps.is_empty() {
            String::new()
        } else if big.len() == self.jumps.len() {
            format!(
                " Its error is not a smooth function of the initial step: between neighbouring steps of one seed's grid \
                 (a factor 10^(1/4) apart) it changes by up to {}.",
                claims::and_list(&big.iter().map(|j| describe(j)).collect::<Vec<_>>())
            )
        } else {
            let all: Vec<String> = self.jumps.iter().map(describe).collect();
            let small = self.jumps.len() - big.len();
            format!(
                " Between neighbouring steps of one seed's grid (a factor 10^(1/4) apart) its error changes by less \
                 than {JUMP_DECADES:.0} decades on {small} of {} models; the largest changes: {}.",
                self.jumps.len(),
                claims::and_list(&all)
            )
        };
        format!("{failures}{jumps}\n")
    }
}

/// How far from the best grid step `--eps auto` is meant to stay (issue #12's target).
const AUTO_BOUND: f64 = 3.0;

gradlab_lab::experiment_main!(Methods);

#[cfg(test)]
mod tests {

    use super::*;

    fn row(model: ModelKind, dtype: DType, seed: u64, eps: &str, err: f64) -> Row {
        Row {
            model,
            dtype,
            method: Scheme::Ridders,
            auto_step: false,
            seed,
            eps: Decimal::parse("step", eps).ok(),
            num_vs_truth: err,
            anal_vs_truth: 0.0,
            status: Status::Ok,
        }
    }

    /// A seed 1000x above the median at the best step is named, with the largest jump; smooth
    /// curves on every seed give the other sentences.
    #[test]
    fn ridders_failures_follow_the_rows() {
        let (m, dt) = (ModelKind::Linear, DType::F64);
        let base = || -> Vec<Row> {
            (1..=3)
                .flat_map(|seed| {
                    [
                        row(m, dt, seed, "1e0", if seed == 1 { 1e-9 } else { 1e-10 }),
                        row(m, dt, seed, "1e-1", if seed == 2 { 1e-9 } else { 1e-12 }),
                    ]
                })
                .collect()
        };
        let rows = base();
        let s = RiddersFailures::of(&rows).sentences();
        assert!(s.contains("more than 100x that median on 1 of the seeds: linear f64 seed 2 (1.0e-9 against a median of 1.0e-12, 1000x at step 1.00e-1)"), "{s}");
        assert!(s.contains("it changes by up to 3.0 decades on the linear model (f64, seed 1: 1.0e-9 at step 1.00e0, 1.0e-12 at 1.00e-1)"), "{s}");
        let smooth: Vec<Row> =
            (1..=3).flat_map(|seed| [row(m, dt, seed, "1e0", 1e-10), row(m, dt, seed, "1e-1", 1e-11)]).collect();
        let s = RiddersFailures::of(&smooth).sentences();
        assert!(s.contains("within 100x of that median on every seed"), "{s}");
        assert!(s.contains("changes by less than 3 decades on 1 of 1 models"), "{s}");
        // Central and five-point differences as far off as each other at that seed and step: a
        // kink, not Ridders; differing by the stencils' orders: still Ridders' failure.
        let stencil = |method, err| Row { method, ..row(m, dt, 2, "1e-1", err) };
        let mut kink = base();
        kink.extend([stencil(Scheme::Central, 4.43e-3), stencil(Scheme::Central5, 4.41e-3)]);
        let s = RiddersFailures::of(&kink).sentences();
        assert!(s.contains("within 100x of that median on every seed"), "{s}");
        assert!(s.contains("Not Ridders' doing, though also more than 100x the median: linear f64 seed 2 (Ridders 1.0e-9, central 4.4e-3, five-point 4.4e-3"), "{s}");
        let mut truncation = base();
        truncation.extend([stencil(Scheme::Central, 1e-3), stencil(Scheme::Central5, 1e-5)]);
        let s = RiddersFailures::of(&truncation).sentences();
        assert!(
            s.contains("more than 100x that median on 1 of the seeds: linear f64 seed 2") && !s.contains("Not Ridders"),
            "{s}"
        );
    }
}
