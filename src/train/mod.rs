//! Training like the seed: SGD for E epochs, with the input gradient either reset each epoch
//! (the correct check) or accumulated over all epochs (what PyTorch does when only the
//! optimizer's parameters are zeroed, as in the seed). Every model trains by the one loop in
//! [`sgd`](mod@sgd), given its forward and backward pass ([`sgd::Backprop`]): the linear model here
//! ([`train`]), the MLP in [`mlp`]. [`tokens`] holds one training step of the token model as
//! frameworks write it (micro-batches, ranks and each normalization).

pub mod mlp;
mod objective;
pub mod sgd;
pub mod tokens;

pub use objective::LinearObjective;

use crate::error::Result;
use crate::exact::Decimal;
use crate::objective::{Pass, Reduction};
use crate::problem::Cast;
use crate::scalar::Scalar;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use sgd::{sgd, Backprop, Sgd};

crate::named_enum! {
    /// What happens to the input gradient x.grad between epochs.
    pub enum InputGrad("input-grad mode") {
        /// Only the last epoch's gradient is kept (the correct gradient of the final loss).
        Reset = "reset",
        /// Gradients of all epochs are summed, as PyTorch does when x.grad is never zeroed.
        Accumulate = "accumulate",
    }
}

/// Training settings.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Number of epochs E (0: no training, check the given parameters).
    pub epochs: usize,
    /// Learning rate, exact; rounded once into the dtype.
    pub lr: Decimal,
    /// Input-gradient mode.
    pub input_grad: InputGrad,
    /// Loss reduction.
    pub reduction: Reduction,
}

impl TrainConfig {
    /// The seed's training: E = 10 epochs of SGD with lr = 1e-3 and the mean reduction.
    pub fn seed(input_grad: InputGrad) -> Self {
        TrainConfig {
            epochs: 10,
            lr: Decimal::parse("lr", "1e-3").unwrap_or_else(|_| unreachable!("a valid literal")),
            input_grad,
            reduction: Reduction::Mean,
        }
    }

    /// No training: the check at the problem's own parameters (0 epochs, lr 0, x.grad reset).
    pub fn untrained(reduction: Reduction) -> Self {
        TrainConfig {
            epochs: 0,
            lr: Decimal::parse("lr", "0").unwrap_or_else(|_| unreachable!("a valid literal")),
            input_grad: InputGrad::Reset,
            reduction,
        }
    }
}

/// Where training first produced a value that is not finite (inf or NaN): a diverging run (a
/// learning rate too large) or a dtype whose range the problem's values leave (e4m3 overflows
/// beyond 448).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonFinite {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// The epochs configured (0: one pass at the given parameters and no SGD step).
    pub epochs: usize,
    /// `true` when the epoch's SGD step made a weight or bias non-finite; `false` when its
    /// forward and backward pass gave a non-finite logit or gradient (x.grad included).
    pub in_step: bool,
}

impl NonFinite {
    /// The first epoch of a run to turn non-finite: `found` is already set, or `epoch`
    /// (counted from 0) when `finite` is false.
    pub fn first(
        found: Option<Self>,
        finite: impl FnOnce() -> bool,
        epoch: usize,
        epochs: usize,
        in_step: bool,
    ) -> Option<Self> {
        found.or_else(|| (!finite()).then_some(NonFinite { epoch: epoch + 1, epochs, in_step }))
    }
}

/// The linear model's pass as the SGD loop drives it: parameters W and b (as one row).
struct LinearBackprop<'a, T: Scalar> {
    pass: Pass<T>,
    x: ArrayView2<'a, T>,
    t: &'a [usize],
    scale: Option<T>,
    step_units: u64,
}

impl<T: Scalar> Backprop<T> for LinearBackprop<'_, T> {
    fn run(&mut self, params: &[Array2<T>], watch: &Watch) -> Result<()> {
        let b = params[1].as_slice().unwrap_or_else(|| unreachable!("a standard-layout row"));
        self.pass.run(self.x, params[0].view(), b, self.t, self.scale.as_ref(), watch)
    }

    fn param_grads(&self) -> Vec<ArrayView2<'_, T>> {
        vec![self.pass.grad_weight.view(), crate::objective::as_row(&self.pass.grad_bias)]
    }

    fn grad_x(&self) -> ArrayView2<'_, T> {
        self.pass.grad_x.view()
    }

    fn logits(&self) -> ArrayView2<'_, T> {
        self.pass.logits.view()
    }

    fn step_units(&self) -> u64 {
        self.step_units
    }
}

/// Whether every value is finite.
pub(crate) fn all_finite<'a, T: Scalar + 'a>(values: impl IntoIterator<Item = &'a T>) -> bool {
    values.into_iter().all(Scalar::is_finite)
}

/// The state after training, all in the dtype, with the dtype's precision context.
#[derive(Clone, Debug)]
pub struct Trained<T: Scalar> {
    /// The precision context every value here was made with.
    pub ctx: T::Ctx,
    /// Inputs (unchanged by training).
    pub x: Array2<T>,
    /// Targets.
    pub t: Vec<usize>,
    /// Final weight (after E - 1 steps).
    pub weight: Array2<T>,
    /// Final bias.
    pub bias: Vec<T>,
    /// The analytic input gradient a user would read from x.grad.
    pub grad_x: Array2<T>,
    /// The analytic logits gradient of the last epoch (y.grad in the seed).
    pub grad_logits: Array2<T>,
    /// The last epoch's weight gradient (W.grad after the loop: taken at the final parameters,
    /// since the optimizer zeroes it every epoch and takes no step after the last).
    pub grad_weight: Array2<T>,
    /// The last epoch's bias gradient (b.grad after the loop), like `grad_weight`.
    pub grad_bias: Vec<T>,
    /// The logits of the last forward pass (at the final parameters).
    pub logits: Array2<T>,
    /// Where training first gave a value that is not finite, if it did.
    pub nonfinite: Option<NonFinite>,
}

impl<T: Scalar> Trained<T> {
    /// Every value converted exactly into MPFR at `prec` bits (at least the dtype's precision).
    pub fn to_mpfr(&self, prec: crate::scalar::Prec) -> Trained<rug::Float> {
        let bits = prec.bits();
        let m = |a: &Array2<T>| a.map(|v| v.to_float(bits));
        let v = |a: &[T]| a.iter().map(|v| v.to_float(bits)).collect();
        Trained {
            ctx: prec,
            x: m(&self.x),
            t: self.t.clone(),
            weight: m(&self.weight),
            bias: v(&self.bias),
            grad_x: m(&self.grad_x),
            grad_logits: m(&self.grad_logits),
            grad_weight: m(&self.grad_weight),
            grad_bias: v(&self.grad_bias),
            logits: m(&self.logits),
            nonfinite: self.nonfinite,
        }
    }

    /// The number of samples n.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// The inputs, targets and final parameters as a problem (values as f64: exact for every
    /// dtype of at most 53 bits), as a user would save them after training.
    pub(crate) fn final_problem(&self) -> crate::problem::Problem {
        crate::problem::Problem {
            x: self.x.map(|v| v.to_f64()),
            t: self.t.clone(),
            weight: self.weight.map(|v| v.to_f64()),
            bias: self.bias.iter().map(|v| v.to_f64()).collect(),
        }
    }
}

/// Trains like the seed's loop: the one SGD loop ([`sgd::sgd`]) with the linear model's
/// [`Pass`]. Each epoch: one forward and backward pass, x.grad reset or
/// accumulated, and an SGD step `w = w - lr * dw` (product then difference, each rounded) except
/// after the last epoch. For a mixed dtype the step updates master weights in C and each
/// forward pass uses them rounded to S; the final weight and bias are those rounded values.
/// With E = 0 a single forward/backward at the given parameters gives the gradients. The weight
/// and bias gradients kept are the last pass's, at the final parameters (what W.grad and b.grad
/// hold after the seed's loop, which zeroes them every epoch). The first epoch whose pass or SGD
/// step gives a value that is not finite is recorded ([`Trained::nonfinite`]); training goes on,
/// as PyTorch's would.
///
/// The watch is checked before every epoch and every sample of each pass, and advanced by the work done ([`crate::cost::pass_ops`] per epoch, [`crate::cost::sgd_step_ops`]
/// per SGD step, times the dtype's cost).
///
/// # Errors
/// [`crate::Error::Interrupted`] naming the epoch, when the watch was stopped.
pub fn train<T: Scalar>(
    data: &Cast<T>,
    t: &[usize],
    cfg: &TrainConfig,
    ctx: T::Ctx,
    watch: &Watch,
) -> Result<Trained<T>> {
    let x = data.x.view();
    let (n, d, k) = (x.nrows(), x.ncols(), data.weight.nrows());
    let bias = Array2::from_shape_vec((1, k), data.bias.to_vec()).unwrap_or_else(|_| unreachable!("1 x k holds k"));
    let mut pass = LinearBackprop {
        pass: Pass::new(n, d, k, ctx),
        x,
        t,
        scale: cfg.reduction.scale::<T>(n, ctx),
        step_units: crate::cost::units::<T>(ctx, crate::cost::sgd_step_ops(d, k)),
    };
    let Sgd { params, grad_x, nonfinite } = sgd(&mut pass, vec![data.weight.clone(), bias], cfg, ctx, watch)?;
    let [weight, bias]: [Array2<T>; 2] = params.try_into().unwrap_or_else(|_| unreachable!("two parameters"));
    let pass = pass.pass;
    Ok(Trained {
        ctx,
        x: data.x.clone(),
        t: t.to_vec(),
        weight,
        bias: bias.into_raw_vec_and_offset().0,
        grad_x,
        grad_logits: pass.grad_logits,
        grad_weight: pass.grad_weight,
        grad_bias: pass.grad_bias,
        logits: pass.logits,
        nonfinite,
    })
}
