//! The one SGD loop every model trains by: per epoch one forward and backward pass, x.grad reset
//! or accumulated, and a step `p = p - lr * dp` (product then difference, each rounded) on every
//! parameter except after the last epoch. A model gives its pass as a [`Backprop`]; the linear
//! model ([`super::train`]) and the MLP ([`super::mlp::train`]) are this loop with their passes.
//!
//! For a mixed dtype S+C the step updates master parameters in C and each pass uses them rounded
//! to S ([`Scalar::store`]); the parameters returned are those rounded values. For every other
//! dtype `store` does nothing and the master and stored values are the same.

use super::{all_finite, InputGrad, NonFinite, TrainConfig};
use crate::error::Result;
use crate::scalar::Scalar;
use crate::watch::{within, Watch};
use ndarray::{Array2, ArrayView2};

/// A model's forward and backward pass as the SGD loop drives it: its parameters are 2-D tensors
/// in a fixed order (a bias as one row), and after [`Backprop::run`] it holds the gradients of
/// the reduced loss with respect to each, to the input and the logits.
pub trait Backprop<T: Scalar> {
    /// Forward and backward at `params` (in the model's order); the watch is checked as the pass
    /// goes.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    fn run(&mut self, params: &[Array2<T>], watch: &Watch) -> Result<()>;

    /// The last pass's gradients of the parameters, in the order of `params`.
    fn param_grads(&self) -> Vec<ArrayView2<'_, T>>;

    /// The last pass's gradient with respect to the input x.
    fn grad_x(&self) -> ArrayView2<'_, T>;

    /// The last pass's logits.
    fn logits(&self) -> ArrayView2<'_, T>;

    /// The units of work of one SGD step, counted into the watch ([`crate::cost`]; 0 by default).
    fn step_units(&self) -> u64 {
        0
    }
}

/// What training leaves besides the pass's own buffers: the parameters of the last pass (as
/// stored), x.grad (the last pass's, or summed over the epochs) and the first epoch that gave a
/// value that is not finite.
#[derive(Clone, Debug)]
pub struct Sgd<T: Scalar> {
    /// The parameters the last pass used, in the model's order.
    pub params: Vec<Array2<T>>,
    /// x.grad.
    pub grad_x: Array2<T>,
    /// The first epoch whose pass or step gave a value that is not finite.
    pub nonfinite: Option<NonFinite>,
}

/// Trains `params` (the initial values, each already in `T`) by `pass` for `cfg.epochs` epochs
/// (E = 0 makes one pass at the initial parameters), checking the watch before every epoch.
/// Training goes on past a value that is not finite, as PyTorch's would; the first is recorded.
///
/// # Errors
/// [`crate::Error::Interrupted`] naming the epoch, when the watch was stopped.
pub fn sgd<T: Scalar, P: Backprop<T>>(
    pass: &mut P,
    params: Vec<Array2<T>>,
    cfg: &TrainConfig,
    ctx: T::Ctx,
    watch: &Watch,
) -> Result<Sgd<T>> {
    let lr = T::from_rational(cfg.lr.value(), ctx);
    // Master parameters (C values for a mixed dtype), and the stored copies each pass uses.
    let mut master = params;
    let mut stored = master.clone();
    let mut grad_x: Option<Array2<T>> = None;
    let mut tmp = T::zero(ctx);
    let mut nonfinite = None;
    let epochs = cfg.epochs.max(1);
    let place = |epoch: usize| move || format!("training epoch {} of {epochs}", epoch + 1);
    for epoch in 0..epochs {
        watch.checkpoint(place(epoch))?;
        for (s, m) in stored.iter_mut().zip(&master) {
            s.zip_mut_with(m, |s, m| {
                s.set(m);
                s.store();
            });
        }
        pass.run(&stored, watch).map_err(|e| within(e, place(epoch)))?;
        match grad_x.as_mut() {
            // x.grad is accumulated in x's dtype (its storage format).
            Some(acc) if cfg.input_grad == InputGrad::Accumulate => acc.zip_mut_with(&pass.grad_x(), |a, g| {
                a.add_assign(g);
                a.store();
            }),
            Some(acc) => acc.zip_mut_with(&pass.grad_x(), |a, g| a.set(g)),
            None => grad_x = Some(pass.grad_x().to_owned()),
        }
        let pass_finite = || {
            all_finite(pass.logits())
                && pass.param_grads().iter().all(|g| all_finite(g))
                && grad_x.iter().all(|g| all_finite(g))
        };
        nonfinite = NonFinite::first(nonfinite, pass_finite, epoch, cfg.epochs, false);
        if epoch + 1 < cfg.epochs {
            for (m, g) in master.iter_mut().zip(pass.param_grads()) {
                m.zip_mut_with(&g, |v, g| {
                    tmp.set_mul(&lr, g);
                    v.sub_assign(&tmp);
                });
            }
            watch.advance(pass.step_units());
            nonfinite = NonFinite::first(nonfinite, || master.iter().all(|m| all_finite(m)), epoch, cfg.epochs, true);
        }
    }
    let grad_x = grad_x.unwrap_or_else(|| unreachable!("at least one epoch"));
    Ok(Sgd { params: stored, grad_x, nonfinite })
}
