//! Training like the seed: SGD for E epochs, with the input gradient either reset each epoch
//! (the correct check) or accumulated over all epochs (what PyTorch does when only the
//! optimizer's parameters are zeroed, as in the seed).

pub mod mlp;
mod objective;
pub mod tokens;

pub use objective::LinearObjective;

use crate::error::Result;
use crate::exact::Decimal;
use crate::objective::{Pass, Reduction};
use crate::problem::Cast;
use crate::scalar::Scalar;
use crate::watch::{within, Watch};
use ndarray::Array2;

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

/// Trains like the seed's loop. Each epoch: one forward and backward [`Pass`], x.grad reset or
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
    let lr = T::from_rational(cfg.lr.value(), ctx);
    let scale = cfg.reduction.scale::<T>(data.x.nrows(), ctx);
    // Master weights (C values for a mixed dtype), and the stored copies the forward pass uses
    // (rounded to S each epoch; for every other dtype `store` is a no-op and they are equal).
    let mut w = data.weight.clone();
    let mut b: Vec<T> = data.bias.to_vec();
    let (mut w_s, mut b_s) = (w.clone(), b.clone());
    let x = data.x.view();
    let (n, d, k) = (x.nrows(), x.ncols(), w.nrows());
    let mut pass = Pass::new(n, d, k, ctx);
    let mut grad_x = Array2::from_elem((n, d), T::zero(ctx));
    let mut tmp = T::zero(ctx);
    let mut nonfinite = None;
    let epochs = cfg.epochs.max(1);
    let place = |epoch: usize| move || format!("training epoch {} of {epochs}", epoch + 1);
    let sgd_units = crate::cost::units::<T>(ctx, crate::cost::sgd_step_ops(d, k));
    for epoch in 0..epochs {
        watch.checkpoint(place(epoch))?;
        w_s.zip_mut_with(&w, |s, m| {
            s.set(m);
            s.store();
        });
        for (s, m) in b_s.iter_mut().zip(&b) {
            s.set(m);
            s.store();
        }
        pass.run(x, w_s.view(), &b_s, t, scale.as_ref(), watch).map_err(|e| within(e, place(epoch)))?;
        if epoch > 0 && cfg.input_grad == InputGrad::Accumulate {
            // x.grad is accumulated in x's dtype (its storage format).
            grad_x.zip_mut_with(&pass.grad_x, |a, g| {
                a.add_assign(g);
                a.store();
            });
        } else {
            grad_x.zip_mut_with(&pass.grad_x, |a, g| a.set(g));
        }
        let pass_finite = || {
            all_finite(&pass.logits)
                && all_finite(&pass.grad_weight)
                && all_finite(&pass.grad_bias)
                && all_finite(&grad_x)
        };
        nonfinite = NonFinite::first(nonfinite, pass_finite, epoch, cfg.epochs, false);
        if epoch + 1 < cfg.epochs {
            w.zip_mut_with(&pass.grad_weight, |wv, g| {
                tmp.set_mul(&lr, g);
                wv.sub_assign(&tmp);
            });
            for (bv, g) in b.iter_mut().zip(&pass.grad_bias) {
                tmp.set_mul(&lr, g);
                bv.sub_assign(&tmp);
            }
            watch.advance(sgd_units);
            nonfinite = NonFinite::first(nonfinite, || all_finite(&w) && all_finite(&b), epoch, cfg.epochs, true);
        }
    }
    Ok(Trained {
        ctx,
        x: data.x.clone(),
        t: t.to_vec(),
        weight: w_s,
        bias: b_s,
        grad_x,
        grad_logits: pass.grad_logits,
        grad_weight: pass.grad_weight,
        grad_bias: pass.grad_bias,
        logits: pass.logits,
        nonfinite,
    })
}
