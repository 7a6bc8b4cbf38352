//! A user's own gradient against the exact one: is it right, and if not, what mistake made it.
//!
//! The user brings the inputs x, targets t and the parameters W, b at which their gradient was
//! taken, and the gradient their code produced (x.grad, W.grad or b.grad). The truth is the exact
//! gradient of the loss they meant (the mean or the sum over all samples) at those parameters
//! ([`exact`]: exact products and compensated double-double sums, the softmax in MPFR).
//!
//! **Tolerance.** A correct computation in the gradient's dtype leaves each element e off the
//! truth by a rounding error whose standard deviation sigma_e is modelled statistically from the
//! problem's exact values: errors of a sum of m terms grow like sqrt(m) u ([`tolerance`]), with a
//! constant calibrated on real kernels' correct gradients ([`calibration`],
//! [`crate::policy::TOLERANCE_SIGMA`]).
//!
//! **Verdict** ([`power`]): `wrong` when an element lies beyond the level N normal errors stay
//! below, when the elements together depart by more than rounding explains, when a factor
//! departs from 1 by more than its resolution, or when the gradient is closer to a named mistake
//! than to the truth. Otherwise `correct` only when the data could have shown each named mistake
//! (the negation, twice the gradient, the other reduction, a mean of unequal micro-batch means):
//! when the dtype's rounding at this size hides one of them, `inconclusive`, with what to do.
//!
//! **Causes** of a wrong gradient G (`causes`), tried in order, each with its evidence:
//!
//! - `dtype_mismatch`: every value is a number of a narrower dtype, within whose rounding G fits.
//! - `wrong_sign`: G = -g (g the truth).
//! - `sum_instead_of_mean`: G = n g, the gradient of the summed loss where the mean was meant.
//! - `scaled`: G = c g for another factor c.
//! - `params_after_step`: G is the truth at the parameters one SGD step back (the parameters were
//!   saved after `optimizer.step()`), with the learning rate it implies.
//! - `mean_of_microbatch_means`: G = sum_j w_j P_j with w_j = 1/(K n_b) for the samples of
//!   micro-batch b ([`microbatch`]).
//! - `accumulated_over_steps`: G summed over c SGD steps, c g + a g' to first order, where g' is
//!   the gradient's derivative along SGD's direction (x.grad never zeroed, as in the seed); beyond
//!   the law's range, plain SGD replayed exactly backwards from the saved parameters (`replay`);
//!   else one whole factor within a few percent (momentum, Adam), without a learning rate.
//! - `unexplained`: none of these; the worst elements say where to look.
//!
//! **Any model** ([`groups`]): given the gradients of the correct loss's groups (samples,
//! sequences, micro-batches, ranks) at the same parameters, the weights the user's gradient gave
//! each group are recovered by least squares and named against each pattern's weights
//! (`gradlab diagnose --grad g.npy --groups G.npy`).

pub mod calibration;
mod causes;
pub mod exact;
pub mod groups;
pub mod microbatch;
pub mod power;
mod replay;
pub mod text;
pub mod tokens;
pub mod tolerance;

use crate::error::{Error, Result};
use crate::objective::{LinearTensor, Reduction};
use crate::problem::Problem;
use crate::scalar::dd::Dd;
use crate::scalar::DType;
use crate::train::Trained;
use crate::watch::Watch;
use exact::{DdMatrix, Exact};
use ndarray::{Array2, ArrayD};
use power::{Alternative, Fit};
use serde::Serialize;
use tolerance::Rounding;

crate::named_enum! {
    /// Whether a gradient agrees with the truth within rounding, and whether that says anything.
    pub enum Verdict("verdict") {
        /// Within rounding, and every named mistake would have shown.
        Correct = "correct",
        /// Not what rounding of a correct computation explains.
        Wrong = "wrong",
        /// Within rounding, but the dtype's rounding at this size could hide a named mistake.
        Inconclusive = "inconclusive",
    }
}

crate::named_enum! {
    /// A recognised mistake (see the module docs).
    pub enum Cause("cause") {
        /// Computed in a narrower dtype than the one the diagnosis was told.
        DtypeMismatch = "dtype_mismatch",
        /// -1 times the truth.
        WrongSign = "wrong_sign",
        /// n times the truth: the gradient of the sum where the mean was meant.
        SumInsteadOfMean = "sum_instead_of_mean",
        /// Summed over c SGD steps (x.grad or .grad never zeroed).
        AccumulatedOverSteps = "accumulated_over_steps",
        /// Micro-batch means averaged, with unequal micro-batch sizes.
        MeanOfMicrobatchMeans = "mean_of_microbatch_means",
        /// Micro-batch means summed, not averaged over K: each sample weighted 1/n_b.
        SumOfMicrobatchMeans = "sum_of_microbatch_means",
        /// The truth at the parameters one SGD step back: parameters saved after the step.
        ParamsAfterStep = "params_after_step",
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
    pub wrt: LinearTensor,
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
    /// The dtype the gradient was computed in: its tensors are stored in it (for a mixed dtype
    /// S+C, in S).
    pub dtype: DType,
    /// The dtype its sums (matrix products, reductions) were accumulated in.
    pub accumulate: DType,
}

impl Settings {
    /// The settings for a gradient computed in `dtype` as frameworks compute it: sums
    /// accumulated in [`default_accumulation`].
    pub fn new(reduction: Reduction, dtype: DType) -> Self {
        Settings { reduction, dtype, accumulate: default_accumulation(dtype) }
    }
}

/// Where frameworks accumulate the sums of a computation in `dtype`: f32 for dtypes narrower than
/// f32 (PyTorch's CPU and GPU kernels, oneDNN, cuBLAS and XLA sum bf16, f16 and FP8 products in
/// f32), C for a mixed dtype S+C, the dtype itself otherwise.
pub fn default_accumulation(dtype: DType) -> DType {
    match dtype {
        DType::Mixed { .. } => dtype.loss_dtype(),
        d if d.bits() < 24 => DType::F32,
        d => d,
    }
}

/// One element of a gradient: where it is, its value and the truth.
#[derive(Clone, Debug, Serialize)]
pub struct Element {
    /// The tensor, when several were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrt: Option<LinearTensor>,
    /// The index in the tensor (`[j, i]` for x, `[c, i]` for W, `[c]` for b).
    pub index: Vec<usize>,
    /// The given value.
    pub given: f64,
    /// The true value (rounded to f64).
    pub truth: f64,
    /// |given - truth| in units of the element's tolerance (z_N sigma).
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
    /// The learning rate 2 a / (c (c - 1)) (the law) or the one the exact replay of plain SGD
    /// found; `None` when neither fits (momentum, Adam) and one factor named c.
    pub learning_rate: Option<f64>,
    /// ||G - c g - a g'|| / ||G - c g|| (the law), ||G - S|| / ||G - c g|| for the replay's sum S,
    /// or ||G - s g|| / ||G|| for the least-squares factor s (one factor).
    pub unexplained: f64,
}

/// One named mistake the verdict asked the data about: could it have shown, and how far from
/// the truth it would lie in units of the rounding errors.
#[derive(Clone, Debug, PartialEq)]
pub struct Power {
    /// The mistake, in words ("the negation", "twice the gradient", ...).
    pub what: String,
    /// Its distance from the truth, ||(a - t) / sigma||.
    pub distance: f64,
    /// Whether the data can tell it from the truth (distance >= 2 z).
    pub visible: bool,
}

/// The diagnosis of a gradient. Serialized (as `gradlab diagnose --format json` prints it) it has
/// `verdict`, `causes`, `factor`, `relerr`, `scale_resolution`, then `reason` (inconclusive),
/// `microbatch_sizes`, `learning_rate` and `dtype` where they apply, and `worst`.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// Correct, wrong or inconclusive.
    pub verdict: Verdict,
    /// The causes that fit, most likely first (empty unless wrong).
    pub causes: Vec<Cause>,
    /// The median over elements of given / truth.
    pub factor: f64,
    /// The mean relative error |given - truth| / |truth| over the elements whose truth is not 0.
    pub relerr: f64,
    /// tau: every factor outside [1 - tau, 1 + tau] would have shown.
    pub scale_resolution: f64,
    /// Why the verdict is inconclusive, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The micro-batch sizes in sample order, when `mean_of_microbatch_means` is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microbatch_sizes: Option<Vec<usize>>,
    /// The learning rate a cause implies (`params_after_step`, `accumulated_over_steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// The number of steps summed (`accumulated_over_steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// The dtype the gradient agrees in (`dtype_mismatch`): the `--dtype` to pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// Up to [`crate::policy::WORST_ELEMENTS`] elements, furthest from the truth in units of
    /// their tolerance first.
    pub worst: Vec<Element>,
    /// The causes with their evidence.
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// When `accumulated_over_steps` is named from SGD's drift: the steps and learning rate.
    #[serde(skip)]
    pub accumulation: Option<Accumulation>,
    /// The named mistakes the verdict asked about, when the gradient fits the truth.
    #[serde(skip)]
    pub power: Vec<Power>,
    /// How many elements were compared.
    #[serde(skip)]
    pub elements: usize,
    /// How many lie outside their tolerance.
    #[serde(skip)]
    pub outside: usize,
    /// The largest |given - truth| over an element's tolerance (at most 1 when it fits).
    #[serde(skip)]
    pub largest_excess: f64,
    /// The fit's sum of squares against its largest passing value (at most 1 when it fits).
    #[serde(skip)]
    pub pooled: f64,
}

/// The values of a standard-layout array (every array the diagnosis builds is one).
fn flat(a: &Array2<f64>) -> &[f64] {
    a.as_slice().unwrap_or_else(|| unreachable!("the diagnosis's arrays are in standard layout"))
}

/// One given tensor with its truth and standard deviations.
struct Part {
    wrt: LinearTensor,
    given: Array2<f64>,
    truth: DdMatrix,
    sigma: Array2<f64>,
    file: DType,
}

impl Part {
    /// given - truth per element, in f64.
    fn deviations(&self) -> impl Iterator<Item = f64> + '_ {
        flat(&self.given)
            .iter()
            .zip(flat(&self.truth.hi).iter().zip(flat(&self.truth.lo)))
            .map(|(g, (h, l))| (g - h) - l)
    }
}

/// Everything the verdict and the causes are computed from.
struct Analysis<'a> {
    r: &'a Reference,
    parts: Vec<Part>,
    /// The meant per-sample factor: 1/n for the mean, 1 for the sum.
    omega: f64,
    omega_dd: Dd,
}

impl Analysis<'_> {
    fn n(&self) -> usize {
        self.r.ex.n()
    }

    fn settings(&self) -> &Settings {
        &self.r.settings
    }

    fn elements(&self) -> usize {
        self.parts.iter().map(|p| p.given.len()).sum()
    }

    /// The standard deviations of every part for a correct gradient of the loss with per-sample
    /// factors `weights` in `dtype`, whose values are about `reference`.
    fn sigma_for(&self, weights: &[f64], dtype: DType, reference: &[Array2<f64>]) -> Vec<Array2<f64>> {
        let accumulate =
            if dtype == self.settings().dtype { self.settings().accumulate } else { default_accumulation(dtype) };
        self.parts
            .iter()
            .zip(reference)
            .map(|(p, r)| {
                let s = self.r.rounding.scale(&self.r.ex, p.wrt, weights, dtype, accumulate, p.file, r);
                s.mapv(|v| v * crate::policy::TOLERANCE_SIGMA)
            })
            .collect()
    }

    /// The tally of the given gradients against a model: `model(part, e)` and `sigma(part, e)`
    /// give element e's model value and standard deviation.
    fn tally(&self, model: impl Fn(usize, usize) -> f64, sigma: impl Fn(usize, usize) -> f64) -> power::Tally {
        let mut t = power::Tally::new(self.elements());
        for (pi, p) in self.parts.iter().enumerate() {
            for (e, &g) in flat(&p.given).iter().enumerate() {
                let m = model(pi, e);
                t.add(g - m, m, sigma(pi, e));
            }
        }
        t
    }

    /// The tally against the truth itself (deviations from its double-double value).
    fn tally_truth(&self) -> power::Tally {
        let mut t = power::Tally::new(self.elements());
        for p in &self.parts {
            let (h, s) = (flat(&p.truth.hi), flat(&p.sigma));
            for (e, d) in p.deviations().enumerate() {
                t.add(d, h[e], s[e]);
            }
        }
        t
    }

    /// The fit of the given gradients to `model` (f64 values per part) with standard deviations
    /// `sigma`.
    fn fit_to(&self, model: &[Array2<f64>], sigma: &[Array2<f64>]) -> Fit {
        self.tally(|p, e| flat(&model[p])[e], |p, e| flat(&sigma[p])[e]).fit()
    }

    /// The fit of c times the truth (standard deviations |c| sigma).
    fn fit_scaled(&self, c: f64) -> Fit {
        let mut t = power::Tally::new(self.elements());
        for p in &self.parts {
            let (g, h, l, s) = (flat(&p.given), flat(&p.truth.hi), flat(&p.truth.lo), flat(&p.sigma));
            for e in 0..g.len() {
                t.add((g[e] - c * h[e]) - c * l[e], c * h[e], c.abs() * s[e]);
            }
        }
        t.fit()
    }

    /// Every part's values of `f`, concatenated in order.
    fn flat(&self, f: impl Fn(&Part) -> &Array2<f64>) -> Vec<f64> {
        self.parts.iter().flat_map(|p| flat(f(p)).iter().copied()).collect()
    }

    fn sigmas(&self) -> impl Iterator<Item = &f64> + '_ {
        self.parts.iter().flat_map(|p| flat(&p.sigma).iter())
    }

    fn deviations(&self) -> impl Iterator<Item = f64> + '_ {
        self.parts.iter().flat_map(|p| p.deviations())
    }

    /// The gradients of every part for per-sample factors `weights` (f64, first order: for fits).
    fn f64_grads(&self, weights: &[f64]) -> Vec<Array2<f64>> {
        self.parts.iter().map(|p| self.r.ex.f64_grad(p.wrt, weights)).collect()
    }

    /// How the data stands against the alternative whose departure from the truth is
    /// `a_minus_t` (one array per part).
    fn alternative(&self, a_minus_t: &[Array2<f64>]) -> Alternative {
        Alternative::of(a_minus_t.iter().flat_map(|a| flat(a).iter().copied()), self.deviations(), self.sigmas())
    }
}

/// Checks the given gradients against the problem: distinct input, weight or bias tensors, each
/// of its tensor's shape, every value finite.
fn validate((n, d, k): (usize, usize, usize), given: &[Given]) -> Result<()> {
    for (i, g) in given.iter().enumerate() {
        if !matches!(g.wrt, LinearTensor::Input | LinearTensor::Weight | LinearTensor::Bias) {
            return Err(Error::value(
                "--wrt",
                g.wrt.name(),
                "input, weight or bias (the tensors a user's code has .grad for)",
            ));
        }
        if given[..i].iter().any(|o| o.wrt == g.wrt) {
            return Err(Error::value("--wrt", g.wrt.name(), "each of input, weight, bias at most once"));
        }
        let want = g.wrt.shape(n, d, k);
        if g.grad.shape() != want.as_slice() {
            let of = match g.wrt {
                LinearTensor::Input => "x",
                LinearTensor::Weight => "weight.npy",
                _ => "bias.npy",
            };
            return Err(Error::Problem(format!(
                "{} has shape {:?}; expected {want:?}, the shape of {of} in the data folder (n = {n} samples, d = {d} \
                 features, k = {k} classes)",
                g.name,
                g.grad.shape()
            )));
        }
        if g.grad.iter().any(|v| !v.is_finite()) {
            let (ix, v) =
                g.grad.indexed_iter().find(|(_, v)| !v.is_finite()).unwrap_or_else(|| unreachable!("found above"));
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

/// The exact side of a diagnosis for one data folder: the problem's exact forward pass and what
/// the tolerance needs, computed once and reused for every gradient diagnosed against it.
#[derive(Clone, Debug)]
pub struct Reference {
    settings: Settings,
    ex: Exact,
    rounding: Rounding,
}

impl Reference {
    /// The exact model of `problem` at its parameters, for gradients of the loss `settings` names;
    /// the watch is checked before the exact pass starts.
    ///
    /// # Errors
    /// [`Error::Interrupted`] when the watch was stopped.
    pub fn new(problem: &Problem, settings: Settings, watch: &Watch) -> Result<Self> {
        watch.checkpoint(|| "the exact model".to_string())?;
        let ex = Exact::new(problem, watch)?;
        watch.checkpoint(|| "the exact model".to_string())?;
        let rounding = Rounding::new(&ex);
        Ok(Reference { settings, ex, rounding })
    }

    /// The reference of a trained state's data at its final parameters (as a user would save them),
    /// for gradients computed in its dtype.
    pub fn of_trained<T: crate::scalar::Scalar>(tr: &Trained<T>, reduction: Reduction) -> Self {
        let dtype = T::dtype(tr.ctx);
        // gradlab's own gradients round every operation, sums included, to the dtype.
        crate::watch::unwatched(|watch| {
            Reference::new(&tr.final_problem(), Settings { reduction, dtype, accumulate: dtype }, watch)
        })
    }

    /// The meant per-sample factor, exact (1/n for the mean, 1 for the sum).
    fn omega(&self) -> Dd {
        match self.settings.reduction {
            Reduction::Mean => exact::ratio_dd(1, self.ex.n() as i64),
            Reduction::Sum => Dd { hi: 1.0, lo: 0.0 },
        }
    }

    /// The exact `wrt` gradient of the loss meant (the bias as a 1 x k row), rounded to f64.
    pub fn truth(&self, wrt: LinearTensor) -> Array2<f64> {
        self.ex.grad(wrt, &vec![self.omega(); self.ex.n()]).hi
    }

    /// Diagnoses `grad`, a `wrt` gradient (the bias as a 1 x k row) from a file of f64 values.
    ///
    /// # Errors
    /// As [`Reference::diagnose`].
    pub fn diagnose_one(&self, wrt: LinearTensor, grad: &Array2<f64>) -> Result<Diagnosis> {
        let grad = if wrt.is_vector() { grad.row(0).to_owned().into_dyn() } else { grad.clone().into_dyn() };
        self.diagnose(&[Given { wrt, grad, file: DType::F64, name: format!("the {wrt} gradient") }])
    }

    /// Diagnoses the given gradients.
    ///
    /// # Errors
    /// [`Error::Problem`] naming a gradient whose shape does not match the problem or that holds
    /// a non-finite value; [`Error::Value`] for a logits gradient or a tensor given twice.
    pub fn diagnose(&self, given: &[Given]) -> Result<Diagnosis> {
        validate((self.ex.n(), self.ex.d(), self.ex.k()), given)?;
        Ok(analyse(self, given))
    }
}

/// Diagnoses one gradient of a trained state, as `gradlab diagnose` would after the user saved
/// the inputs, targets, final parameters and the gradient ([`Reference::of_trained`]).
///
/// # Errors
/// As [`Reference::diagnose`].
pub fn diagnose_trained<T: crate::scalar::Scalar>(
    tr: &Trained<T>,
    wrt: LinearTensor,
    grad: &Array2<f64>,
    reduction: Reduction,
) -> Result<Diagnosis> {
    Reference::of_trained(tr, reduction).diagnose_one(wrt, grad)
}

/// Diagnoses the given gradients of `problem`'s loss at its parameters, under a [`Watch`]
/// ([`Watch::unwatched`] for none; checked between the exact passes).
///
/// # Errors
/// [`Error::Problem`] naming a gradient whose shape does not match the problem or that holds a
/// non-finite value; [`Error::Value`] for a logits gradient or a tensor given twice;
/// [`Error::Interrupted`] when the watch was stopped.
pub fn diagnose(problem: &Problem, given: &[Given], settings: &Settings, watch: &Watch) -> Result<Diagnosis> {
    validate((problem.n(), problem.d(), problem.k()), given)?;
    let r = Reference::new(problem, *settings, watch)?;
    watch.checkpoint(|| "the diagnosis".to_string())?;
    Ok(analyse(&r, given))
}

/// The analysis of validated gradients against a reference.
fn analysis<'a>(r: &'a Reference, given: &[Given]) -> Analysis<'a> {
    let Settings { dtype, accumulate, .. } = r.settings;
    let n = r.ex.n();
    let omega_dd = r.omega();
    let omega = omega_dd.hi;
    let weights = vec![omega; n];
    let parts: Vec<Part> = given
        .iter()
        .map(|g| {
            let truth = r.ex.grad(g.wrt, &vec![omega_dd; n]);
            let given = Array2::from_shape_vec(truth.hi.dim(), g.grad.iter().copied().collect())
                .unwrap_or_else(|_| unreachable!("validated: the shapes hold the same number of values"));
            let s = r.rounding.scale(&r.ex, g.wrt, &weights, dtype, accumulate, g.file, &truth.hi);
            let sigma = s.mapv(|v| v * crate::policy::TOLERANCE_SIGMA);
            Part { wrt: g.wrt, given, truth, sigma, file: g.file }
        })
        .collect();
    Analysis { r, parts, omega, omega_dd }
}

/// The up to [`crate::policy::WORST_ELEMENTS`] elements with the largest excess, largest first
/// (ties in element order).
fn worst_elements(a: &Analysis, z: f64) -> Vec<Element> {
    let several = a.parts.len() > 1;
    let mut top: Vec<(f64, usize, usize)> = Vec::new();
    let keep = crate::policy::WORST_ELEMENTS;
    for (pi, p) in a.parts.iter().enumerate() {
        let s = flat(&p.sigma);
        for (e, d) in p.deviations().enumerate() {
            let x = if d == 0.0 { 0.0 } else { d.abs() / (z * s[e]) };
            if top.len() < keep || x > top[top.len() - 1].0 {
                let at = top.partition_point(|t| t.0 >= x);
                top.insert(at, (x, pi, e));
                top.truncate(keep);
            }
        }
    }
    top.into_iter()
        .map(|(excess, pi, e)| {
            let p = &a.parts[pi];
            let cols = p.given.ncols();
            let (row, col) = (e / cols, e % cols);
            let index = if p.wrt.is_vector() { vec![col] } else { vec![row, col] };
            Element {
                wrt: several.then_some(p.wrt),
                index,
                given: p.given[[row, col]],
                truth: p.truth.hi[[row, col]],
                excess,
            }
        })
        .collect()
}

/// A named mistake the verdict asks about: what it is, and how the data stands against it.
struct Asked {
    what: String,
    alternative: Alternative,
}

/// The named mistakes the verdict asks about: the negation, twice the gradient (an accumulation
/// over two steps, to first order), the other reduction (from the tally: a scale of the truth),
/// and for the mean, micro-batch means as unequal as two thirds and one third of the samples
/// ([2n/3, n/3]: weights 3/4 and 3/2 of 1/n).
fn alternatives(a: &Analysis, tally: &power::Tally) -> Vec<Asked> {
    let n = a.n();
    let scaled = |what: String, c: f64| Asked { what, alternative: tally.scale_alternative(c) };
    let mut out = vec![scaled("the negation".into(), -1.0), scaled("twice the gradient".into(), 2.0)];
    if n >= 2 {
        out.push(match a.settings().reduction {
            Reduction::Mean => scaled(format!("the sum over the {n} samples ({n} times the gradient)"), n as f64),
            Reduction::Sum => scaled(format!("the mean over the {n} samples (1/{n} of the gradient)"), 1.0 / n as f64),
        });
    }
    if a.settings().reduction == Reduction::Mean && n >= 3 {
        let first = (2 * n).div_ceil(3).min(n - 1);
        let sizes = [first, n - first];
        let w = microbatch::weights_of(&sizes);
        let delta: Vec<f64> = w.iter().map(|v| v - a.omega).collect();
        let what = format!("a mean of micro-batch means with sizes {sizes:?}");
        out.push(Asked { what, alternative: a.alternative(&a.f64_grads(&delta)) });
    }
    out
}

/// The mean relative error |given - truth| / |truth| over the elements whose truth is not 0, and
/// the median of given / truth over them.
fn relerr_and_factor(a: &Analysis) -> (f64, f64) {
    let (mut sum, mut ratios) = (0.0, Vec::with_capacity(a.elements()));
    for p in &a.parts {
        let h = flat(&p.truth.hi);
        for ((d, &t), &g) in p.deviations().zip(h).zip(flat(&p.given)) {
            if t != 0.0 {
                sum += d.abs() / t.abs();
                ratios.push(g / t);
            }
        }
    }
    (sum / ratios.len() as f64, crate::metrics::median(&ratios))
}

/// The verdict and causes for validated gradients.
fn analyse(r: &Reference, given: &[Given]) -> Diagnosis {
    let settings = r.settings;
    let a = analysis(r, given);
    let elements = a.elements();
    let tally = a.tally_truth();
    let (fit, scale) = (tally.fit(), tally.scale(settings.dtype.unit_roundoff()));
    let (relerr, factor) = relerr_and_factor(&a);
    let worst = worst_elements(&a, tally.z);

    let mut power = Vec::new();
    let mut chosen = None;
    if fit.holds() && !scale.departs() {
        for Asked { what, alternative } in alternatives(&a, &tally) {
            if alternative.chosen() && chosen.is_none() {
                chosen = Some(what.clone());
            }
            power.push(Power { what, distance: alternative.distance, visible: alternative.visible() });
        }
    }
    let fits = fit.holds() && !scale.departs() && chosen.is_none();
    let hidden: Vec<&Power> = power.iter().filter(|p| !p.visible).collect();
    let (verdict, reason) = if !fits {
        (Verdict::Wrong, None)
    } else if !hidden.is_empty() {
        (Verdict::Inconclusive, Some(inconclusive_reason(&settings, &hidden)))
    } else {
        (Verdict::Correct, None)
    };
    let found = if verdict == Verdict::Wrong {
        causes::explain(&a, &scale, fit, factor, chosen.as_deref())
    } else {
        causes::Explained::default()
    };
    let causes::Explained { findings, sizes, accumulation, learning_rate, dtype } = found;
    Diagnosis {
        verdict,
        causes: findings.iter().map(|f| f.cause).collect(),
        factor,
        relerr,
        scale_resolution: scale.tau,
        reason,
        microbatch_sizes: sizes,
        learning_rate,
        steps: accumulation.as_ref().map(|a| a.steps),
        dtype,
        worst,
        findings,
        accumulation,
        power,
        elements,
        outside: fit.outside,
        largest_excess: fit.largest,
        pooled: fit.q / power::q_max(elements),
    }
}

/// Why a gradient within rounding says nothing about some mistakes, and what to do.
fn inconclusive_reason(s: &Settings, hidden: &[&Power]) -> String {
    let what: Vec<String> =
        hidden.iter().map(|p| format!("{} ({:.2} standard errors away)", p.what, p.distance)).collect();
    let todo = if s.dtype.bits() < 24 {
        "recompute this gradient in f32 (or f64) and diagnose that to check the code".to_string()
    } else if s.dtype.bits() < 53 {
        "recompute this gradient in f64 and diagnose that to check the code".to_string()
    } else {
        "diagnose more of the gradient (every tensor, or a larger batch)".to_string()
    };
    format!(
        "rounding in {} at this size could hide {}: each would lie fewer than {} standard errors from the truth, the \
         distance the data needs to tell it apart; {todo}.",
        s.dtype,
        what.join(", "),
        2.0 * crate::policy::Z_TEST
    )
}

/// Whether `v` is a number of the narrower dtype `d` (bf16 or f16; false for any other): the
/// test of `dtype_mismatch`, in the linear and the groups diagnosis.
pub(crate) fn representable(v: f64, d: DType) -> bool {
    match d {
        DType::BF16 => half::bf16::from_f64(v).to_f64() == v,
        DType::F16 => half::f16::from_f64(v).to_f64() == v,
        _ => false,
    }
}
