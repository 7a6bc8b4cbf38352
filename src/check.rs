//! The seed's protocol for one dtype: cast, train, analytic gradient, numeric gradient for each
//! step, truth, metrics. [`check_dtype`] is what `gradlab check` and the experiments call.

use crate::error::{Error, Result};
use crate::exact::Decimal;
use crate::metrics::{compare, compare_with_ratio, Summary};
use crate::numeric::{numeric_grads, Setup, Wrt};
use crate::problem::Problem;
use crate::scalar::{DType, Prec, Scalar};
use crate::stencil::Scheme;
use crate::train::{train, TrainConfig, Trained};
use ndarray::Array2;
use rug::Float;
use serde::Serialize;

/// The seed's step grid, one step per decade from 1e0 down to 1e-8 (`gradlab check`'s default).
pub const SEED_STEPS: &str = "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8";

/// Settings of one check.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// Training settings.
    pub train: TrainConfig,
    /// Finite-difference scheme.
    pub scheme: Scheme,
    /// Steps h, exact.
    pub steps: Vec<Decimal>,
    /// Input or logits.
    pub wrt: Wrt,
    /// Truth precision; `None` skips the truth.
    pub truth: Option<Prec>,
    /// Evaluate perturbed losses from scratch instead of by the fast path (identical results).
    pub naive: bool,
    /// Keep the gradients (as f64 and as full-precision text) for saving.
    pub keep_grads: bool,
}

impl CheckConfig {
    /// Checks settings that depend on the dtypes: the truth must be more precise than every dtype.
    ///
    /// # Errors
    /// [`Error::Value`] naming the truth precision and the widest dtype.
    pub fn validate_for(&self, dtypes: &[DType]) -> Result<()> {
        if self.steps.is_empty() {
            return Err(Error::value("step list", "", "at least one step"));
        }
        for h in &self.steps {
            if h.value().cmp0() != std::cmp::Ordering::Greater {
                return Err(Error::value("step", h.text(), "a positive number"));
            }
            for &dt in dtypes {
                let hv = crate::with_dtype!(dt, |T, ctx| {
                    let v = T::from_rational(h.value(), ctx);
                    (v.is_finite(), v.is_zero())
                });
                if hv.1 {
                    return Err(Error::value("step", h.text(), format!("a step that does not round to 0 in {dt}")));
                }
                if !hv.0 {
                    return Err(Error::value("step", h.text(), format!("a step that is finite in {dt}")));
                }
            }
        }
        if let Some(t) = self.truth {
            if let Some(widest) = dtypes.iter().max_by_key(|d| d.bits()) {
                if t.bits() <= widest.bits() {
                    return Err(Error::value(
                        "--truth-bits",
                        t.bits().to_string(),
                        format!("more bits than the widest dtype checked ({widest}, {} bits)", widest.bits()),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One row of `gradlab check --format csv`: a dtype at one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckRow {
    /// dtype name.
    pub dtype: String,
    /// Scheme name.
    pub scheme: &'static str,
    /// `input` or `logits`.
    pub wrt: &'static str,
    /// `reset` or `accumulate`.
    pub input_grad: &'static str,
    /// The step as given.
    pub eps: String,
    /// Mean elementwise relative error, numeric vs analytic.
    pub relerr_mean: f64,
    /// Median of the same.
    pub relerr_median: f64,
    /// Maximum of the same.
    pub relerr_max: f64,
    /// Elements where numeric and analytic were both 0.
    pub zero_over_zero: usize,
    /// Elements whose effective step (v + h) - v is 0.
    pub dead_zone: usize,
    /// Mean elementwise relative error, numeric vs truth (NaN without truth).
    pub num_vs_truth: f64,
    /// Mean elementwise relative error, analytic vs truth (NaN without truth).
    pub anal_vs_truth: f64,
    /// Median of analytic / numeric over elements with a nonzero numeric value.
    pub ratio_median: f64,
    /// Elements where the numeric or analytic value is infinite or NaN.
    pub nonfinite: usize,
    /// Elements whose analytic value is 0 while the true value is nonzero but below the dtype's
    /// smallest normal number (an underflow, not a bug).
    pub anal_underflow: usize,
    /// `ok`, or `nonfinite` when some value overflowed or was NaN.
    pub status: &'static str,
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
    /// Per-step summaries of numeric vs truth (the full summaries behind the CSV's means).
    pub vs_truth: Vec<Option<Summary>>,
    /// How many problem values the dtype had to round.
    pub rounded: usize,
    /// The gradients, when asked for.
    pub grads: Option<KeptGrads>,
}

/// Every significant decimal digit of an MPFR value (enough to round-trip at its precision).
pub fn full_digits(v: &Float) -> String {
    v.to_string_radix(10, None)
}

/// Runs the check for one dtype on `problem`.
///
/// # Errors
/// [`Error::Value`] when the truth is not more precise than the dtype.
pub fn check_dtype(problem: &Problem, dtype: DType, cfg: &CheckConfig) -> Result<DTypeCheck> {
    cfg.validate_for(&[dtype])?;
    Ok(crate::with_dtype!(dtype, |T, ctx| check_typed::<T>(problem, ctx, cfg)))
}

/// The trained state of `problem` in dtype `T`, and how many values were rounded.
pub fn prepare<T: Scalar>(problem: &Problem, ctx: T::Ctx, cfg: &TrainConfig) -> (Trained<T>, usize) {
    let cast = problem.cast::<T>(ctx);
    (train(&cast, &problem.t, cfg, ctx), cast.rounded)
}

/// The analytic gradient for `wrt` from a trained state.
pub fn analytic<T: Scalar>(tr: &Trained<T>, wrt: Wrt) -> &Array2<T> {
    match wrt {
        Wrt::Input => &tr.grad_x,
        Wrt::Logits => &tr.grad_logits,
    }
}

fn check_typed<T: Scalar>(problem: &Problem, ctx: T::Ctx, cfg: &CheckConfig) -> DTypeCheck {
    let dtype = T::dtype(ctx);
    let bits = dtype.bits();
    let (tr, rounded) = prepare::<T>(problem, ctx, &cfg.train);
    let anal = analytic(&tr, cfg.wrt);
    let truth = cfg.truth.map(|p| (crate::truth::truth_grad(&tr, cfg.train.reduction, cfg.wrt, p), p.bits()));
    let anal_underflow = match (&truth, dtype.normal_exp_min()) {
        (Some((t, _)), Some(e)) => {
            let tiny = Float::with_val(64, Float::i_exp(1, e));
            anal.iter().zip(t.iter()).filter(|(a, t)| a.is_zero() && !t.is_zero() && *t.as_abs() < tiny).count()
        }
        _ => 0,
    };
    let anal_vs_truth = truth.as_ref().map(|(t, tb)| compare(anal, t, bits, *tb));
    let setup = Setup { trained: &tr, reduction: cfg.train.reduction, stencil: cfg.scheme.stencil(), wrt: cfg.wrt };
    let mut rows = Vec::with_capacity(cfg.steps.len());
    let mut vs_truth = Vec::with_capacity(cfg.steps.len());
    let mut numerics = Vec::new();
    for (h, num) in cfg.steps.iter().zip(numeric_grads(&setup, &cfg.steps, cfg.naive)) {
        let (s, ratio) = compare_with_ratio(&num.grad, anal, bits, bits);
        let nt = truth.as_ref().map(|(t, tb)| compare(&num.grad, t, bits, *tb));
        rows.push(CheckRow {
            dtype: dtype.name(),
            scheme: cfg.scheme.name(),
            wrt: cfg.wrt.name(),
            input_grad: cfg.train.input_grad.name(),
            eps: h.text().to_string(),
            relerr_mean: s.mean,
            relerr_median: s.median,
            relerr_max: s.max,
            zero_over_zero: s.zero_over_zero,
            dead_zone: num.dead_zone,
            num_vs_truth: nt.map_or(f64::NAN, |s| s.mean),
            anal_vs_truth: anal_vs_truth.map_or(f64::NAN, |s| s.mean),
            ratio_median: ratio,
            nonfinite: s.nonfinite,
            status: if s.nonfinite > 0 { "nonfinite" } else { "ok" },
            anal_underflow,
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
    DTypeCheck { rows, vs_truth, rounded, grads }
}
