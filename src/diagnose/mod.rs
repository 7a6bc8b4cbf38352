//! A user's own gradient against the exact one: is it right, and if not, what mistake made it.
//!
//! The user brings the inputs x, targets t and the parameters W, b at which their gradient was
//! taken, and the gradient their code produced (x.grad, W.grad or b.grad). The truth is the exact
//! gradient, in MPFR, of the loss they meant (the mean or the sum over all samples) at those
//! parameters.
//!
//! **Verdict.** The gradient is `correct` when every element lies within the rounding bound of
//! [`bound`]: a first-order worst-case bound on what rounding in the gradient's dtype can do to
//! each element of a correct computation (any order of summation), from the problem's exact
//! values, times a safety factor, plus one rounding into the file's type. Anything outside it
//! is `wrong`: rounding cannot explain it.
//!
//! **Causes.** A wrong gradient G is compared with models of the usual mistakes, each of which
//! must fit within the same rounding bound (scaled to the model), except the accumulation over
//! SGD steps, a first-order model:
//!
//! - `wrong_sign`: G = -g (g the truth).
//! - `sum_instead_of_mean`: G = n g, the gradient of the summed loss where the mean was meant.
//! - `scaled`: G = c g for another factor c.
//! - `mean_of_microbatch_means`: G = sum_j w_j P_j with w_j = 1/(K n_b) for the samples of
//!   micro-batch b (K micro-batches of n_b samples, each loss a mean, summed and divided by K),
//!   instead of 1/N; the sizes are recovered in sample order ([`microbatch`]).
//! - `accumulated_over_steps`: G summed over c SGD steps, c g + a g' to first order, where
//!   g' = [`crate::truth::drift`] is the exact change of the gradient along SGD's direction and
//!   a = lr c (c - 1) / 2 when the parameters were stepped with their correct gradients (x.grad
//!   never zeroed, as in the seed); c must be whole and the model must explain all but
//!   [`crate::policy::DRIFT_UNEXPLAINED_MAX`] of the departure from c g.
//! - `unexplained`: none of these; the worst elements say where to look.
//!
//! When c = n both the sum and the accumulation are named, the more likely first, with what
//! separates them: an exact n (within rounding) is a sum (or an accumulation whose learning rate
//! is too small to show, for which a bound is given); a departure from n g in the direction of
//! the drift is an accumulation.

pub mod bound;
mod causes;
pub mod microbatch;

use crate::error::{Error, Result};
use crate::objective::{Reduction, Wrt};
use crate::problem::Problem;
use crate::scalar::{DType, Prec};
use crate::train::{TrainConfig, Trained};
use crate::watch::Watch;
use bound::{rounding_bound, Forward};
use ndarray::{Array2, ArrayD};
use rug::Float;
use serde::Serialize;

crate::named_enum! {
    /// Whether a gradient agrees with the truth within rounding.
    pub enum Verdict("verdict") {
        /// Every element within the rounding bound.
        Correct = "correct",
        /// Some element outside it.
        Wrong = "wrong",
    }
}

crate::named_enum! {
    /// A recognised mistake (see the module docs).
    pub enum Cause("cause") {
        /// -1 times the truth.
        WrongSign = "wrong_sign",
        /// n times the truth: the gradient of the sum where the mean was meant.
        SumInsteadOfMean = "sum_instead_of_mean",
        /// Summed over c SGD steps (x.grad or .grad never zeroed).
        AccumulatedOverSteps = "accumulated_over_steps",
        /// Micro-batch means averaged, with unequal micro-batch sizes.
        MeanOfMicrobatchMeans = "mean_of_microbatch_means",
        /// A plain factor.
        Scaled = "scaled",
        /// None of the above.
        Unexplained = "unexplained",
    }
}

/// A gradient under diagnosis: what it is taken with respect to, its values (the bias 1-D),
/// the float type of the file it came from, and the file's name (for messages).
#[derive(Clone, Debug)]
pub struct Given {
    /// Input, weight or bias.
    pub wrt: Wrt,
    /// The values, as read.
    pub grad: ArrayD<f64>,
    /// The file's float type (f32 or f64).
    pub file: DType,
    /// The file's name, for error messages.
    pub name: String,
}

/// How to diagnose.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The loss the user meant: the mean (PyTorch's default) or the sum over samples.
    pub reduction: Reduction,
    /// The dtype the gradient was computed in (its unit roundoff sets the rounding bound).
    pub dtype: DType,
    /// The truth's precision.
    pub truth: Prec,
}

/// One element of a gradient: where it is, its value and the truth.
#[derive(Clone, Debug, Serialize)]
pub struct Element {
    /// The tensor, when several were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrt: Option<Wrt>,
    /// The index in the tensor ([j, i] for x, [c, i] for W, [c] for b).
    pub index: Vec<usize>,
    /// The given value.
    pub given: f64,
    /// The true value (rounded to f64).
    pub truth: f64,
    /// |given - truth| in units of the element's rounding bound.
    #[serde(skip)]
    pub excess: f64,
}

/// A named cause with the evidence for it, as sentences.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The cause.
    pub cause: Cause,
    /// Why, with the numbers.
    pub evidence: Vec<String>,
}

/// What the accumulation model found: the whole number of steps c, the learning rate that
/// explains the drift (for parameters stepped with their correct gradients), and the fraction of
/// the departure from c g the model leaves unexplained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accumulation {
    /// The number of steps c.
    pub steps: usize,
    /// The learning rate 2 a / (c (c - 1)).
    pub learning_rate: f64,
    /// ||G - c g - a g'|| / ||G - c g||.
    pub unexplained: f64,
}

/// The diagnosis of a gradient. Serialized (as `gradlab diagnose --format json` prints it) it
/// has exactly `verdict`, `causes`, `factor`, `relerr`, `microbatch_sizes` (when that cause is
/// named) and `worst`.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// Correct or wrong.
    pub verdict: Verdict,
    /// The causes that fit, most likely first (empty when correct).
    pub causes: Vec<Cause>,
    /// The median over elements of given / truth.
    pub factor: f64,
    /// The mean elementwise relative error against the truth (cs231n's |a - b| / max(|a|, |b|)).
    pub relerr: f64,
    /// The micro-batch sizes in sample order, when `mean_of_microbatch_means` is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microbatch_sizes: Option<Vec<usize>>,
    /// Up to [`crate::policy::WORST_ELEMENTS`] elements, furthest from the truth in units of
    /// their rounding bound first.
    pub worst: Vec<Element>,
    /// The causes with their evidence.
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// When `accumulated_over_steps` is named from SGD's drift: the steps and learning rate.
    #[serde(skip)]
    pub accumulation: Option<Accumulation>,
    /// How many elements were compared.
    #[serde(skip)]
    pub elements: usize,
    /// How many lie outside their rounding bound.
    #[serde(skip)]
    pub outside: usize,
    /// The largest |given - truth| over an element's rounding bound (at most 1 when correct).
    #[serde(skip)]
    pub largest_excess: f64,
}

/// One given tensor with its truth and rounding bound.
struct Part {
    wrt: Wrt,
    given: Array2<f64>,
    truth: Array2<Float>,
    truth64: Array2<f64>,
    file: DType,
}

/// Everything the causes are tested against.
struct Analysis<'a> {
    settings: &'a Settings,
    tr: &'a Trained<Float>,
    fwd: &'a Forward,
    parts: Vec<Part>,
    /// The meant per-sample factor: 1/n for the mean, 1 for the sum.
    omega: f64,
}

impl Analysis<'_> {
    fn n(&self) -> usize {
        self.tr.n()
    }

    /// The rounding bound of every part for per-sample factors `weights`, around `reference`.
    fn bounds(&self, weights: &[f64], reference: &[Array2<f64>]) -> Vec<Array2<f64>> {
        let s = self.settings;
        self.parts
            .iter()
            .zip(reference)
            .map(|(p, r)| rounding_bound(self.fwd, p.wrt, weights, s.dtype, p.file, r))
            .collect()
    }

    /// Per element, |given - model| over its bound, computed exactly at the truth's precision.
    fn excess(&self, model: &[Array2<Float>], bounds: &[Array2<f64>]) -> Vec<Array2<f64>> {
        let bits = self.settings.truth.bits();
        self.parts
            .iter()
            .zip(model)
            .zip(bounds)
            .map(|((p, m), b)| {
                Array2::from_shape_fn(p.given.dim(), |ix| {
                    let d = Float::with_val(bits, p.given[ix] - &m[ix]).abs().to_f64();
                    if d == 0.0 {
                        0.0
                    } else {
                        d / b[ix]
                    }
                })
            })
            .collect()
    }

    /// The largest excess of the model c g (c times the truth).
    fn scaled_excess(&self, c: f64) -> f64 {
        let bits = self.settings.truth.bits();
        let model: Vec<Array2<Float>> =
            self.parts.iter().map(|p| p.truth.map(|t| Float::with_val(bits, t * c))).collect();
        let reference: Vec<Array2<f64>> = self.parts.iter().map(|p| p.truth64.mapv(|t| t * c)).collect();
        let bounds = self.bounds(&vec![c * self.omega; self.n()], &reference);
        largest(&self.excess(&model, &bounds))
    }

    /// Every part's values of `f`, concatenated in order.
    fn flat(&self, f: impl Fn(&Part) -> &Array2<f64>) -> Vec<f64> {
        self.parts.iter().flat_map(|p| f(p).iter().copied()).collect()
    }
}

fn largest(v: &[Array2<f64>]) -> f64 {
    v.iter().flat_map(|a| a.iter().copied()).fold(0.0, f64::max)
}

/// Checks the given gradients against the problem: distinct input, weight or bias tensors, each
/// of its tensor's shape, every value finite.
fn validate((n, d, k): (usize, usize, usize), given: &[Given]) -> Result<()> {
    for (i, g) in given.iter().enumerate() {
        if g.wrt == Wrt::Logits {
            return Err(Error::value(
                "--wrt",
                "logits",
                "input, weight or bias (the tensors a user's code has .grad for)",
            ));
        }
        if given[..i].iter().any(|o| o.wrt == g.wrt) {
            return Err(Error::value("--wrt", g.wrt.name(), "each of input, weight, bias at most once"));
        }
        let want = g.wrt.shape(n, d, k);
        if g.grad.shape() != want.as_slice() {
            let of = match g.wrt {
                Wrt::Input => "x",
                Wrt::Weight => "weight.npy",
                _ => "bias.npy",
            };
            return Err(Error::Problem(format!(
                "{} has shape {:?}; expected {want:?}, the shape of {of} in the data folder (n = {n} samples, d = {d} \
                 features, k = {k} classes)",
                g.name,
                g.grad.shape()
            )));
        }
        if let Some((ix, v)) = g.grad.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Problem(format!(
                "{} contains {v} at {:?}; expected finite numbers only",
                g.name,
                ndarray::Dimension::slice(&ix)
            )));
        }
    }
    if given.is_empty() {
        return Err(Error::value("--grad", "", "at least one gradient file"));
    }
    Ok(())
}

/// The exact side of a diagnosis for one data folder: the problem in MPFR, its exact gradients
/// and forward pass, computed once and reused for every gradient diagnosed against it.
#[derive(Clone, Debug)]
pub struct Reference {
    settings: Settings,
    tr: Trained<Float>,
    fwd: Forward,
}

impl Reference {
    /// The exact model of `problem` at its parameters, for gradients of the loss `settings` names.
    pub fn new(problem: &Problem, settings: Settings) -> Self {
        // A new watch is never stopped.
        Self::new_watched(problem, settings, &Watch::unwatched()).unwrap_or_else(|_| unreachable!("never stopped"))
    }

    /// [`Reference::new`] under a [`Watch`]: the exact pass checks it before every sample and
    /// advances it by the pass's work ([`crate::budget::pass_ops`] at the truth's cost).
    ///
    /// # Errors
    /// [`Error::Interrupted`] when the watch was stopped.
    pub fn new_watched(problem: &Problem, settings: Settings, watch: &Watch) -> Result<Self> {
        let cfg = TrainConfig::untrained(settings.reduction);
        let (tr, _) = crate::check::prepare_watched::<Float>(problem, settings.truth, &cfg, watch)?;
        let fwd = Forward::new(&tr, settings.truth);
        Ok(Reference { settings, tr, fwd })
    }

    /// The reference of a trained state's data at its final parameters (as a user would save them),
    /// for gradients computed in its dtype, with the default truth precision.
    pub fn of_trained<T: crate::scalar::Scalar>(tr: &Trained<T>, reduction: Reduction) -> Self {
        let dtype = T::dtype(tr.ctx);
        Reference::new(&tr.final_problem(), Settings { reduction, dtype, truth: crate::policy::truth_prec(&[dtype]) })
    }

    /// The exact `wrt` gradient (the bias as a 1 x k row).
    pub fn truth(&self, wrt: Wrt) -> Array2<Float> {
        wrt.analytic(&self.tr).to_owned()
    }

    /// Diagnoses `grad`, a `wrt` gradient (the bias as a 1 x k row) from a file of f64 values.
    ///
    /// # Errors
    /// As [`Reference::diagnose`].
    pub fn diagnose_one(&self, wrt: Wrt, grad: &Array2<f64>) -> Result<Diagnosis> {
        let grad = if wrt.is_vector() { grad.row(0).to_owned().into_dyn() } else { grad.clone().into_dyn() };
        self.diagnose(&[Given { wrt, grad, file: DType::F64, name: format!("the {wrt} gradient") }])
    }

    /// Diagnoses the given gradients.
    ///
    /// # Errors
    /// [`Error::Problem`] naming a gradient whose shape does not match the problem or that holds
    /// a non-finite value; [`Error::Value`] for a logits gradient or a tensor given twice.
    pub fn diagnose(&self, given: &[Given]) -> Result<Diagnosis> {
        let tr = &self.tr;
        validate((tr.n(), tr.x.ncols(), tr.weight.nrows()), given)?;
        analyse(self, given)
    }
}

/// Diagnoses one gradient of a trained state, as `gradlab diagnose` would after the user saved
/// the inputs, targets, final parameters and the gradient ([`Reference::of_trained`]).
///
/// # Errors
/// As [`Reference::diagnose`].
pub fn diagnose_trained<T: crate::scalar::Scalar>(
    tr: &Trained<T>,
    wrt: Wrt,
    grad: &Array2<f64>,
    reduction: Reduction,
) -> Result<Diagnosis> {
    Reference::of_trained(tr, reduction).diagnose_one(wrt, grad)
}

/// Diagnoses the given gradients of `problem`'s loss at its parameters.
///
/// # Errors
/// [`Error::Problem`] naming a gradient whose shape does not match the problem or that holds a
/// non-finite value; [`Error::Value`] for a logits gradient or a tensor given twice.
pub fn diagnose(problem: &Problem, given: &[Given], settings: &Settings) -> Result<Diagnosis> {
    diagnose_watched(problem, given, settings, &Watch::unwatched())
}

/// [`diagnose`] under a [`Watch`] (the exact model's pass, [`Reference::new_watched`]).
///
/// # Errors
/// As [`diagnose`], and [`Error::Interrupted`] when the watch was stopped.
pub fn diagnose_watched(problem: &Problem, given: &[Given], settings: &Settings, watch: &Watch) -> Result<Diagnosis> {
    validate((problem.n(), problem.d(), problem.k()), given)?;
    analyse(&Reference::new_watched(problem, *settings, watch)?, given)
}

/// The verdict and causes for validated gradients.
fn analyse(r: &Reference, given: &[Given]) -> Result<Diagnosis> {
    let (settings, tr) = (&r.settings, &r.tr);
    let prec = settings.truth;
    let n = tr.n();
    let omega = match settings.reduction {
        Reduction::Mean => 1.0 / n as f64,
        Reduction::Sum => 1.0,
    };
    let parts: Vec<Part> = given
        .iter()
        .map(|g| {
            let truth = g.wrt.analytic(tr).to_owned();
            let truth64 = truth.map(|v| v.to_f64());
            let shape = truth.dim();
            let given = Array2::from_shape_vec(shape, g.grad.iter().copied().collect())
                .unwrap_or_else(|_| unreachable!("validated: the shapes hold the same number of values"));
            Part { wrt: g.wrt, given, truth, truth64, file: g.file }
        })
        .collect();
    let a = Analysis { settings, tr, fwd: &r.fwd, parts, omega };

    let reference: Vec<Array2<f64>> = a.parts.iter().map(|p| p.truth64.clone()).collect();
    let bounds = a.bounds(&vec![omega; n], &reference);
    let truths: Vec<Array2<Float>> = a.parts.iter().map(|p| p.truth.clone()).collect();
    let excess = a.excess(&truths, &bounds);
    let several = a.parts.len() > 1;
    let mut elements: Vec<Element> = Vec::new();
    for (p, e) in a.parts.iter().zip(&excess) {
        for ((ix, g), t) in p.given.indexed_iter().zip(p.truth64.iter()) {
            let index = if p.wrt.is_vector() { vec![ix.1] } else { vec![ix.0, ix.1] };
            elements.push(Element { wrt: several.then_some(p.wrt), index, given: *g, truth: *t, excess: e[ix] });
        }
    }
    let outside = elements.iter().filter(|e| e.excess > 1.0).count();
    let largest_excess = elements.iter().map(|e| e.excess).fold(0.0, f64::max);
    let bits = prec.bits();
    let relerr = a
        .parts
        .iter()
        .flat_map(|p| p.given.iter().zip(p.truth.iter()).map(|(g, t)| crate::metrics::relerr(g, t, 53, bits).0))
        .sum::<f64>()
        / elements.len() as f64;
    let ratios: Vec<f64> = elements.iter().filter(|e| e.truth != 0.0).map(|e| e.given / e.truth).collect();
    let factor = crate::metrics::median(&ratios);
    let mut worst = elements.clone();
    worst.sort_by(|x, y| y.excess.total_cmp(&x.excess));
    worst.truncate(crate::policy::WORST_ELEMENTS);

    let (verdict, found) = if outside == 0 {
        (Verdict::Correct, causes::Explained::default())
    } else {
        (Verdict::Wrong, causes::explain(&a, factor))
    };
    let causes::Explained { findings, sizes, accumulation } = found;
    Ok(Diagnosis {
        verdict,
        causes: findings.iter().map(|f| f.cause).collect(),
        factor,
        relerr,
        microbatch_sizes: sizes,
        worst,
        findings,
        accumulation,
        elements: elements.len(),
        outside,
        largest_excess,
    })
}
