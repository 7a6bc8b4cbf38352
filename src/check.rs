//! The seed's protocol for one dtype, written once over any model ([`check_model`]): the state in
//! the dtype, training, analytic gradient, truth, numeric gradient for each step, metrics.
//! [`check_model`] takes a configuration checked against its dtype ([`Checked`]);
//! [`check_dtype`] (the linear model, checking its configuration first) is what the experiments
//! call, [`crate::plan`] what `gradlab check` calls (the one validation of its choices).

use crate::error::{Error, Result};
use crate::method::{RowStep, Scheme, Steps};
use crate::metrics::{compare_to_truth, compare_with_ratio, TruthSummary};
use crate::model::{LinearModel, LinearTensor, Model as ModelTrait, Numeric, Request, TensorKind};
use crate::numeric::exotic::MethodGrad;
use crate::numeric::generic;
use crate::objective::Objective;
use crate::problem::Problem;
use crate::scalar::{DType, Prec, Scalar};
use crate::train::{train, InputGrad, TrainConfig, Trained};
use crate::watch::Watch;
use ndarray::Array2;
use rug::Float;
use serde::{Deserialize, Serialize};

/// Settings of one check.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// Training settings.
    pub train: TrainConfig,
    /// Finite-difference scheme.
    pub scheme: Scheme,
    /// Steps h: a grid of exact decimals, `--eps auto` (a step per element from an error model,
    /// [`crate::numeric::auto`]) or none (dual numbers ignore the steps whatever they are).
    pub steps: Steps,
    /// Truth precision; `None` skips the truth.
    pub truth: Option<Prec>,
    /// Evaluate perturbed losses from scratch instead of by the fast path (identical results).
    pub naive: bool,
    /// Keep the gradients (as f64 and as full-precision text) for saving.
    pub keep_grads: bool,
}

impl CheckConfig {
    /// How many gradients the numeric engine computes (for memory and work estimates): one per
    /// step, ten per step for Ridders (its central differences, computed one initial step at a
    /// time, so that memory holds ten), one for dual numbers, three for `--eps auto`.
    pub fn engine_steps(&self) -> usize {
        match self.scheme {
            Scheme::Ridders => self.steps.fixed().len().max(1) * crate::method::ridders::NTAB,
            s if !s.has_step() => 1,
            // `--eps auto`: the estimation pass (up to 6 points) and the stencil's pass (up to 4)
            // cost about 3 steps' work; in memory, the per-element steps and their constants
            // ((2 + points) values each) and the estimate fit in the outputs of 3 steps.
            _ if self.steps.is_auto() => 3,
            _ => self.steps.fixed().len(),
        }
    }

    /// The steps of the rows a check at fixed steps gives: one per step of the grid, or one
    /// [`RowStep::None`] for dual numbers (`--eps auto`'s one row has the median of the steps it
    /// chose, known after the check).
    pub fn row_steps(&self) -> Vec<RowStep> {
        if self.scheme.has_step() {
            self.steps.fixed().iter().cloned().map(RowStep::Fixed).collect()
        } else {
            vec![RowStep::None]
        }
    }

    /// The seed's check (x.grad reset, [`TrainConfig::seed`]) by `scheme` at
    /// `steps`, without a truth; set the other fields with struct update syntax.
    pub fn seed(scheme: Scheme, steps: Steps) -> Self {
        CheckConfig {
            train: TrainConfig::seed(InputGrad::Reset),
            scheme,
            steps,
            truth: None,
            naive: false,
            keep_grads: false,
        }
    }
}

/// A [`CheckConfig`] checked against its dtype ([`Checked::new`]): what [`check_model`] takes,
/// and trusts.
#[derive(Clone, Debug)]
pub struct Checked {
    cfg: CheckConfig,
    dtype: DType,
}

impl Checked {
    /// Checks the settings that depend on the dtype: a scheme the dtype can run
    /// ([`scheme_error`]), `auto` with a stencil ([`auto_error`]), a step for a scheme that takes
    /// one ([`none_error`]), every step of a grid usable in the dtype
    /// ([`crate::policy::check_step`]), a truth more precise than the dtype
    /// ([`crate::policy::check_truth_prec`]). [`crate::plan::plan`] calls it for each dtype of a
    /// command line.
    ///
    /// # Errors
    /// [`Error::Usage`] for a scheme the dtype or the steps cannot run; [`Error::Value`] naming
    /// the first bad step or the truth precision.
    pub fn new(cfg: CheckConfig, dtype: DType) -> Result<Self> {
        if let Some(e) = scheme_error(cfg.scheme, &[dtype]) {
            return Err(e);
        }
        if let Some(t) = cfg.truth {
            crate::policy::check_truth_prec(t, &[dtype])?;
        }
        if !cfg.scheme.has_step() {
            // Dual numbers take no step: the step list is ignored.
            return Ok(Checked { cfg, dtype });
        }
        match &cfg.steps {
            Steps::None => return Err(none_error(cfg.scheme)),
            Steps::Auto => {
                if let Some(e) = auto_error(cfg.scheme) {
                    return Err(e);
                }
            }
            Steps::Grid(grid) => {
                for h in grid.steps() {
                    crate::policy::check_step(h, dtype)?;
                }
            }
        }
        Ok(Checked { cfg, dtype })
    }

    /// The configuration.
    pub fn cfg(&self) -> &CheckConfig {
        &self.cfg
    }

    /// The dtype it was checked for.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}

/// The complex step and dual numbers evaluate the model in `Complex<T>` and `Dual<T>`, which do
/// not round to a mixed dtype's storage format: with a mixed dtype they are refused (`None` when
/// `scheme` and `dtypes` go together).
pub fn scheme_error(scheme: Scheme, dtypes: &[DType]) -> Option<Error> {
    let mixed = dtypes.iter().find(|d| d.storage().is_some())?;
    matches!(scheme, Scheme::Complex | Scheme::Dual).then(|| {
        let e = Error::value(
            "scheme for a mixed dtype",
            scheme.name(),
            format!(
                "forward, backward, central, central5 or ridders with {mixed} (the complex step and dual numbers \
                 do not round to the storage format)"
            ),
        );
        Error::Usage(e.to_string())
    })
}

/// `auto` (a step per element, [`crate::numeric::auto`]) takes its error model from a
/// finite-difference stencil: with another scheme it is refused (`None` for a stencil).
pub fn auto_error(scheme: Scheme) -> Option<Error> {
    (!scheme.is_stencil()).then(|| {
        Error::Usage(format!(
            "--eps auto chooses a step for a finite-difference stencil from its error model, so it needs --scheme \
             forward, backward, central or central5, not {scheme}"
        ))
    })
}

/// `--eps none` gives no step, which only dual numbers take: with a scheme that takes a step it is
/// refused.
pub fn none_error(scheme: Scheme) -> Error {
    Error::Usage(format!(
        "--eps none gives no step, which only --scheme dual takes, so {scheme} needs steps (such as 1e-3,1e-4) or auto"
    ))
}

crate::named_enum! {
    /// Whether every value of a row was finite.
    pub enum Status("status") {
        /// Every numeric and analytic value was finite.
        Ok = "ok",
        /// Some value overflowed or was NaN; the row's summaries are NaN.
        Nonfinite = "nonfinite",
    }
}

impl Status {
    /// `Nonfinite` when any of `nonfinite` values was not finite.
    pub fn of(nonfinite: usize) -> Self {
        if nonfinite > 0 {
            Status::Nonfinite
        } else {
            Status::Ok
        }
    }
}

/// One row of `gradlab check --format csv`: a dtype at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    /// The dtype.
    pub dtype: DType,
    /// The scheme.
    pub scheme: Scheme,
    /// What the gradient is taken with respect to: the name of the model's tensor
    /// ([`crate::model::TensorKind::name`]).
    pub wrt: String,
    /// What happened to x.grad between epochs.
    pub input_grad: InputGrad,
    /// The step, exact, as given; `--eps auto`'s median chosen step; or none for dual numbers
    /// (an empty CSV field). The CSV holds the decimal only: auto's median reads back as a fixed
    /// step.
    pub eps: RowStep,
    /// Mean elementwise relative error, numeric vs analytic.
    pub relerr_mean: f64,
    /// Median of the same.
    pub relerr_median: f64,
    /// Maximum of the same.
    pub relerr_max: f64,
    /// Elements where numeric and analytic were both 0.
    pub zero_over_zero: usize,
    /// Elements whose input no stencil point moved: v + o_k h == v at every point
    /// ([`crate::numeric::Regime::InputDead`]; the numeric gradient is exactly 0).
    pub dead_zone: usize,
    /// Mean ordinary relative error |numeric - truth| / |truth| over the elements whose truth is
    /// not 0 ([`crate::metrics::compare_to_truth`]: no cap, unlike the relerr columns); NaN
    /// without truth.
    pub num_vs_truth: f64,
    /// The same for the analytic gradient: mean |analytic - truth| / |truth| (NaN without truth).
    pub anal_vs_truth: f64,
    /// Median of analytic / numeric over elements with a nonzero numeric value.
    pub ratio_median: f64,
    /// Elements where the numeric or analytic value is infinite or NaN.
    pub nonfinite: usize,
    /// Elements whose analytic value is 0 while the true value is nonzero but below the dtype's
    /// smallest normal number (an underflow, not a bug).
    pub anal_underflow: usize,
    /// `ok`, or `nonfinite` when some value overflowed or was NaN.
    pub status: Status,
    /// Elements whose input moved but whose perturbed losses were all the same value
    /// ([`crate::numeric::Regime::LossFlat`]: the numeric gradient is exactly 0, every stencil
    /// subtracting paired points before weighting them).
    pub loss_flat: usize,
    /// Ridders only: the mean over elements of its error estimate relative to its value,
    /// |estimate| / |numeric|; `None` (empty) for the other schemes.
    #[serde(default)]
    pub est_error: Option<f64>,
    /// Ridders with a truth only: the fraction of elements whose error estimate bounds the
    /// true error, |numeric - truth| <= estimate; `None` (empty) otherwise.
    #[serde(default)]
    pub est_bounds: Option<f64>,
    /// Elements whose truth is 0 (exactly, its rounding residues cleared:
    /// [`crate::truth::clear_residues`]), left out of `num_vs_truth` and `anal_vs_truth` (a
    /// relative error against 0 is undefined); `None` (empty) without truth. The last column, so
    /// that the columns before it keep their places.
    #[serde(default)]
    pub truth_zero: Option<usize>,
}

/// Writes rows as CSV with a header (shortest round-trip floats): `gradlab check --format csv`'s
/// output, and the columns of the Python `gradlab.check`'s rows.
///
/// # Errors
/// [`Error::Write`] when the writer fails.
pub fn write_csv<'a, W: std::io::Write>(w: W, rows: impl IntoIterator<Item = &'a CheckRow>) -> Result<()> {
    let mut wr = csv::Writer::from_writer(w);
    let werr = |e: csv::Error| Error::Write { path: "<csv>".into(), reason: e.to_string() };
    for r in rows {
        wr.serialize(r).map_err(werr)?;
    }
    wr.flush().map_err(|e| Error::Write { path: "<csv>".into(), reason: e.to_string() })
}

/// Gradients kept for `--save-grads`, as f64 arrays and (for MPFR) full-precision text.
#[derive(Clone, Debug)]
pub struct KeptGrads {
    /// The analytic gradient rounded to f64.
    pub analytic: Array2<f64>,
    /// The truth rounded to f64, when computed.
    pub truth: Option<Array2<f64>>,
    /// The numeric gradient for each step, rounded to f64.
    pub numeric: Vec<Array2<f64>>,
    /// For MPFR dtypes: every significant digit of the analytic gradient, row-major.
    pub analytic_text: Option<Vec<String>>,
    /// For MPFR dtypes: every significant digit of the truth, row-major.
    pub truth_text: Option<Vec<String>>,
}

/// The result of checking one dtype.
#[derive(Clone, Debug)]
pub struct DTypeCheck {
    /// One row per step.
    pub rows: Vec<CheckRow>,
    /// Per-step summaries of numeric vs truth, ordinary relative errors (the full summaries
    /// behind the CSV's means).
    pub vs_truth: Vec<Option<TruthSummary>>,
    /// How many problem values the dtype had to round.
    pub rounded: usize,
    /// The gradients, when asked for.
    pub grads: Option<KeptGrads>,
    /// Where training first gave a value that is not finite, if it did
    /// ([`crate::train::Trained::nonfinite`]).
    pub training: Option<crate::train::NonFinite>,
}

/// Ridders' error estimates summarised: the mean over elements of |estimate| / |numeric| (an
/// element whose numeric value is 0 counts as 0 when its estimate is 0 too, else as infinite)
/// and, with a truth, the fraction of elements where |numeric - truth| <= estimate.
fn estimate_summary<T: Scalar>(
    num: &Array2<T>,
    est: &Array2<T>,
    truth: Option<&Array2<Float>>,
    bits: u32,
) -> (f64, Option<f64>) {
    let p = bits + 64;
    let len = num.len().max(1) as f64;
    let rel: f64 = num
        .iter()
        .zip(est.iter())
        .map(|(v, e)| match (v.is_zero(), e.is_zero()) {
            (_, true) => 0.0,
            (true, false) => f64::INFINITY,
            _ => Float::with_val(64, e.to_float(p) / v.to_float(p).abs()).to_f64(),
        })
        .sum::<f64>()
        / len;
    let bounds = truth.map(|t| {
        let ok = num
            .iter()
            .zip(est.iter())
            .zip(t.iter())
            .filter(|((v, e), t)| {
                let err = Float::with_val(t.prec().max(p), v.to_float(p) - *t).abs();
                e.is_finite() && err <= e.to_float(p)
            })
            .count();
        ok as f64 / len
    });
    (rel, bounds)
}

/// Every significant decimal digit of an MPFR value (enough to round-trip at its precision).
pub fn full_digits(v: &Float) -> String {
    v.to_string_radix(10, None)
}

/// Runs the check of the linear model's tensor `which` for one dtype on `problem`, under a
/// [`Watch`] ([`Watch::unwatched`] for none): it stops at the next epoch, sample or row once the
/// watch is stopped, and advances it by the units of [`crate::budget::check_work`] as it goes. The
/// linear model's [`check_model`], its configuration checked first ([`Checked::new`]).
///
/// # Errors
/// What [`Checked::new`] refuses (a step or truth precision the dtype refuses, a scheme it
/// cannot run); [`Error::Interrupted`], saying where the check stopped, when the watch was
/// stopped.
pub fn check_dtype(
    problem: &Problem,
    which: LinearTensor,
    dtype: DType,
    cfg: &CheckConfig,
    watch: &Watch,
) -> Result<DTypeCheck> {
    let checked = Checked::new(cfg.clone(), dtype)?;
    check_model(&LinearModel { problem, reduction: cfg.train.reduction }, which, &checked, watch)
}

/// The check of any [`ModelTrait`] in the dtype of `checked`, the same for every model: the
/// state in the dtype, training ([`ModelTrait::train`], with the configuration's `train`), the
/// analytic gradient, the truth (the model's backward over MPFR at its `truth`,
/// [`crate::model::truth`], its residues of an exact 0 cleared by
/// [`crate::truth::clear_residues`]), the numeric gradients (the model's fast path or the
/// per-element engine, [`crate::model::numeric`]) and the rows (their `wrt` is `which`'s name).
/// Nothing is validated here: `checked` was ([`Checked::new`], [`crate::plan::plan`]).
///
/// # Errors
/// [`Error::Interrupted`], saying where the check stopped, when the watch was stopped.
pub fn check_model<M: ModelTrait>(model: &M, which: M::Tensor, checked: &Checked, watch: &Watch) -> Result<DTypeCheck> {
    let (cfg, dtype) = (checked.cfg(), checked.dtype());
    crate::with_dtype!(dtype, |T, ctx| check_model_typed::<M, T>(model, which, ctx, cfg, watch)).map_err(|e| match e {
        Error::Interrupted(at) => Error::Interrupted(format!("the {dtype} check stopped at {at}")),
        other => other,
    })
}

fn check_model_typed<M: ModelTrait, T: Scalar>(
    model: &M,
    which: M::Tensor,
    ctx: T::Ctx,
    cfg: &CheckConfig,
    watch: &Watch,
) -> Result<DTypeCheck> {
    let (state, rounded) = model.state::<T>(ctx);
    let state = model.train(state, &cfg.train, watch)?;
    let anal = model.analytic(&state, which, watch)?;
    let truth = truth_of(cfg, |p| crate::model::truth(model, &state, which, p, watch))?;
    let req = Request { scheme: cfg.scheme, steps: &cfg.steps, naive: cfg.naive };
    let (grads, steps) = match crate::model::numeric(model, &state, which, anal.view(), &req, watch)? {
        Numeric::Fixed(grads) => (grads, cfg.row_steps()),
        Numeric::Auto(numeric, chosen) => {
            let median = RowStep::AutoMedian(crate::numeric::auto::median_step(&chosen));
            (vec![MethodGrad { numeric: *numeric, est_error: None }], vec![median])
        }
    };
    rows_of(T::dtype(ctx), cfg, which.name(), Gradients { anal, truth, grads, steps, rounded }, watch)
        .map(|r| DTypeCheck { training: model.nonfinite(&state), ..r })
}

/// The trained state of `problem` in dtype `T`, and how many values were rounded, trained under
/// `watch` ([`crate::train::train`]).
///
/// # Errors
/// [`Error::Interrupted`] when the watch was stopped.
pub fn prepare<T: Scalar>(
    problem: &Problem,
    ctx: T::Ctx,
    cfg: &TrainConfig,
    watch: &Watch,
) -> Result<(Trained<T>, usize)> {
    let cast = problem.cast::<T>(ctx);
    Ok((train(&cast, &problem.t, cfg, ctx, watch)?, cast.rounded))
}

/// The truth by `grad` at the configured precision (with its bits), its residues of an exact 0
/// cleared ([`crate::truth::clear_residues`], which may call `grad` again at twice the
/// precision), or `None` without one; an interruption inside it is said to be in the truth.
fn truth_of(cfg: &CheckConfig, grad: impl Fn(Prec) -> Result<Array2<Float>>) -> Result<Option<(Array2<Float>, u32)>> {
    let labelled = |p: Prec| {
        grad(p).map_err(|e| match e {
            // Conversions say "the truth" themselves; the pass's samples do not.
            Error::Interrupted(at) if !at.starts_with("the truth") => Error::Interrupted(format!("the truth, {at}")),
            other => other,
        })
    };
    match cfg.truth {
        Some(p) => {
            let mut truth = labelled(p)?;
            crate::truth::clear_residues(&mut truth, p, labelled)?;
            Ok(Some((truth, p.bits())))
        }
        None => Ok(None),
    }
}

/// The gradients of `obj` by the configured scheme and steps ([`crate::numeric::generic`]), and
/// the step of each (for `--eps auto`, the median of the steps chosen).
///
/// # Errors
/// [`Error::Interrupted`] when the watch was stopped.
pub fn objective_grads<T: Scalar, O: Objective<T>>(
    obj: &O,
    cfg: &CheckConfig,
    watch: &Watch,
) -> Result<(Vec<MethodGrad<T>>, Vec<RowStep>)> {
    if cfg.steps.is_auto() {
        let (numeric, chosen) = generic::auto_grad(obj, cfg.scheme.stencil(), watch)?;
        let median = RowStep::AutoMedian(crate::numeric::auto::median_step(&chosen));
        Ok((vec![MethodGrad { numeric, est_error: None }], vec![median]))
    } else {
        Ok((generic::method_grads(obj, cfg.scheme, cfg.steps.fixed(), watch)?, cfg.row_steps()))
    }
}

/// What a check computed before its rows: the analytic gradient, the truth with its precision,
/// a numeric gradient per row and its step, and how many problem values the dtype rounded.
struct Gradients<T> {
    anal: Array2<T>,
    truth: Option<(Array2<Float>, u32)>,
    grads: Vec<MethodGrad<T>>,
    steps: Vec<RowStep>,
    rounded: usize,
}

/// The rows, summaries and kept gradients of a check from its gradients (the same for every
/// model).
fn rows_of<T: Scalar>(
    dtype: DType,
    cfg: &CheckConfig,
    wrt: &str,
    g: Gradients<T>,
    watch: &Watch,
) -> Result<DTypeCheck> {
    // The bits that hold every value exactly (a mixed dtype's numeric gradients are C values).
    let bits = dtype.value_bits();
    let Gradients { anal, truth, grads, steps, rounded } = g;
    let anal = &anal;
    let anal_underflow = match (&truth, dtype.normal_exp_min()) {
        (Some((t, _)), Some(e)) => {
            let tiny = Float::with_val(64, Float::i_exp(1, e));
            anal.iter().zip(t.iter()).filter(|(a, t)| a.is_zero() && !t.is_zero() && *t.as_abs() < tiny).count()
        }
        _ => 0,
    };
    let anal_vs_truth = truth.as_ref().map(|(t, tb)| compare_to_truth(anal, t, bits, *tb));
    let mut rows = Vec::with_capacity(steps.len());
    let mut vs_truth = Vec::with_capacity(steps.len());
    let mut numerics = Vec::new();
    for (h, MethodGrad { numeric: num, est_error }) in steps.iter().zip(grads) {
        watch.checkpoint(|| {
            format!("the comparisons of step {}", h.decimal().map_or_else(|| h.label(), ToString::to_string))
        })?;
        let est = est_error.map(|e| estimate_summary(&num.grad, &e, truth.as_ref().map(|(t, _)| t), bits));
        let (s, ratio) = compare_with_ratio(&num.grad, anal, bits, bits);
        let nt = truth.as_ref().map(|(t, tb)| compare_to_truth(&num.grad, t, bits, *tb));
        rows.push(CheckRow {
            dtype,
            scheme: cfg.scheme,
            wrt: wrt.to_string(),
            input_grad: cfg.train.input_grad,
            eps: h.clone(),
            relerr_mean: s.mean,
            relerr_median: s.median,
            relerr_max: s.max,
            zero_over_zero: s.zero_over_zero,
            dead_zone: num.dead_zone,
            num_vs_truth: nt.map_or(f64::NAN, |s| s.mean),
            anal_vs_truth: anal_vs_truth.map_or(f64::NAN, |s| s.mean),
            ratio_median: ratio,
            nonfinite: s.nonfinite,
            status: Status::of(s.nonfinite),
            loss_flat: num.loss_flat,
            anal_underflow,
            est_error: est.map(|e| e.0),
            est_bounds: est.and_then(|e| e.1),
            truth_zero: anal_vs_truth.map(|s| s.truth_zero),
        });
        vs_truth.push(nt);
        if cfg.keep_grads {
            numerics.push(num.grad.map(|v| v.to_f64()));
        }
    }
    let grads = cfg.keep_grads.then(|| {
        let is_mpfr = matches!(dtype, DType::Mpfr(_));
        KeptGrads {
            analytic: anal.map(|v| v.to_f64()),
            truth: truth.as_ref().map(|(t, _)| t.map(|v| v.to_f64())),
            numeric: numerics,
            analytic_text: is_mpfr.then(|| anal.iter().map(|v| full_digits(&v.to_float(bits))).collect()),
            truth_text: if is_mpfr { truth.as_ref().map(|(t, _)| t.iter().map(full_digits).collect()) } else { None },
        }
    });
    Ok(DTypeCheck { rows, vs_truth, rounded, grads, training: None })
}
