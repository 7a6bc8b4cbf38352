//! The objective: a linear layer with softmax cross-entropy, the seed's model.
//!
//! [`linear`] holds the layer's forward (logits) and backward (gradients of x, W and b) side by
//! side; [`cross_entropy`] the per-sample loss and its gradient side by side, and the reduced
//! total. [`Pass`] is one forward and backward pass of the whole model, the step training
//! repeats and the truth takes once in MPFR. [`Wrt`] names what a gradient is taken with
//! respect to (input, weight, bias or logits) and knows where that tensor and its gradient live.

pub mod cross_entropy;
pub mod linear;
pub mod martins;

pub use cross_entropy::Reduction;

use crate::error::Result;
use crate::scalar::Scalar;
use crate::train::Trained;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};

crate::named_enum! {
    /// What a gradient is taken with respect to.
    pub enum Wrt("--wrt") {
        /// The inputs x (n x d).
        Input = "input",
        /// The layer's weight W (k x d), at the final parameters.
        Weight = "weight",
        /// The layer's bias b (k), at the final parameters; held as a 1 x k row.
        Bias = "bias",
        /// The logits (n x k) of the final forward pass, as in the seed's second check.
        Logits = "logits",
    }
}

impl Wrt {
    /// The tensor the gradient is taken with respect to (the values a numeric gradient
    /// perturbs), in a trained state, as a 2-D view: the bias is its one row (1 x k).
    pub fn tensor<T: Scalar>(self, tr: &Trained<T>) -> ArrayView2<'_, T> {
        match self {
            Wrt::Input => tr.x.view(),
            Wrt::Weight => tr.weight.view(),
            Wrt::Bias => as_row(&tr.bias),
            Wrt::Logits => tr.logits.view(),
        }
    }

    /// The reduced loss of the trained model with this tensor replaced by `v` (every sample
    /// evaluated from scratch, as a user's code would): for the input, weight and bias, the
    /// logits are recomputed with `v` in its place; for the logits, `v` is the logits.
    pub fn loss_with<T: Scalar>(self, tr: &Trained<T>, v: ArrayView2<T>, scale: Option<&T>) -> T {
        let z = match self {
            Wrt::Input => linear::logits(v, tr.weight.view(), &tr.bias, tr.ctx),
            Wrt::Weight => linear::logits(tr.x.view(), v, &tr.bias, tr.ctx),
            Wrt::Bias => linear::logits(tr.x.view(), tr.weight.view(), &v.row(0).to_vec(), tr.ctx),
            Wrt::Logits => return cross_entropy::total_loss(v, &tr.t, scale, tr.ctx),
        };
        cross_entropy::total_loss(z.view(), &tr.t, scale, tr.ctx)
    }

    /// The analytic gradient a user reads after training, in the shape of [`Wrt::tensor`]:
    /// x.grad (reset or accumulated over epochs), the last epoch's W.grad and b.grad (taken at the
    /// final parameters; the optimizer zeroes them every epoch), or the last epoch's y.grad.
    pub fn analytic<T: Scalar>(self, tr: &Trained<T>) -> ArrayView2<'_, T> {
        match self {
            Wrt::Input => tr.grad_x.view(),
            Wrt::Weight => tr.grad_weight.view(),
            Wrt::Bias => as_row(&tr.grad_bias),
            Wrt::Logits => tr.grad_logits.view(),
        }
    }

    /// Whether a tensor of this kind is 1-D in PyTorch (the bias), though held here as one row.
    pub fn is_vector(self) -> bool {
        self == Wrt::Bias
    }

    /// The tensor's shape as PyTorch gives it, for a problem of n samples, d features and k
    /// classes: `[n, d]`, `[k, d]`, `[k]` or `[n, k]`.
    pub fn shape(self, n: usize, d: usize, k: usize) -> Vec<usize> {
        match self {
            Wrt::Input => vec![n, d],
            Wrt::Weight => vec![k, d],
            Wrt::Bias => vec![k],
            Wrt::Logits => vec![n, k],
        }
    }
}

/// A vector as a 1 x len view.
fn as_row<T>(v: &[T]) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((1, v.len()), v).unwrap_or_else(|_| unreachable!("1 x len holds len values"))
}

/// One forward and backward pass of the whole model, into buffers reused from pass to pass:
/// logits, the loss gradient with respect to them, and the gradients of x, W and b.
#[derive(Clone, Debug)]
pub struct Pass<T: Scalar> {
    /// The n x k logits.
    pub logits: Array2<T>,
    /// dL/dlogits (n x k), with the reduction's factor.
    pub grad_logits: Array2<T>,
    /// dL/dx (n x d).
    pub grad_x: Array2<T>,
    /// dL/dW (k x d).
    pub grad_weight: Array2<T>,
    /// dL/db (k).
    pub grad_bias: Vec<T>,
    scratch: Vec<T>,
    ctx: T::Ctx,
}

impl<T: Scalar> Pass<T> {
    /// Buffers for n samples, d features and k classes, in context `ctx`.
    pub fn new(n: usize, d: usize, k: usize, ctx: T::Ctx) -> Self {
        let zero = T::zero(ctx);
        Pass {
            logits: Array2::from_elem((n, k), zero.clone()),
            grad_logits: Array2::from_elem((n, k), zero.clone()),
            grad_x: Array2::from_elem((n, d), zero.clone()),
            grad_weight: Array2::from_elem((k, d), zero.clone()),
            grad_bias: vec![zero.clone(); k],
            scratch: vec![zero; d],
            ctx,
        }
    }

    /// Forward and backward at (x, W, b) with targets `t` and the reduction's factor `scale`
    /// ([`Reduction::scale`]).
    pub fn run(&mut self, x: ArrayView2<T>, w: ArrayView2<T>, b: &[T], t: &[usize], scale: Option<&T>) {
        // A new watch is never stopped.
        self.run_watched(x, w, b, t, scale, &Watch::unwatched()).unwrap_or_else(|_| unreachable!("never stopped"));
    }

    /// [`Pass::run`], checking `watch` before every sample of each phase and advancing it by
    /// [`crate::budget::pass_ops`] (times the dtype's cost) over the pass.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped; the buffers then hold a partial
    /// pass.
    pub fn run_watched(
        &mut self,
        x: ArrayView2<T>,
        w: ArrayView2<T>,
        b: &[T],
        t: &[usize],
        scale: Option<&T>,
        watch: &Watch,
    ) -> Result<()> {
        linear::logits_into_watched(x, w, b, &mut self.logits, &mut self.scratch, watch)?;
        cross_entropy::logits_grad_into_watched(self.logits.view(), t, scale, self.ctx, &mut self.grad_logits, watch)?;
        linear::backward_into_watched(
            self.grad_logits.view(),
            x,
            w,
            self.ctx,
            &mut self.grad_x,
            &mut self.grad_weight,
            &mut self.grad_bias,
            watch,
        )
    }
}
