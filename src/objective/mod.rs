//! The objectives: the seed's model (a linear layer with softmax cross-entropy), a one-hidden-layer
//! MLP with the same loss ([`mlp`]) and Martins' function ([`martins`]), each a differentiable
//! function of a tensor behind the [`Objective`] trait.
//!
//! [`Objective`] is what every scheme needs from a model, generic over the number type: the
//! tensor a gradient is taken of, the reduced loss with that tensor replaced (in any [`Num`]:
//! real, complex or dual), and the analytic gradient. [`crate::numeric::generic`] runs every
//! scheme per element over any Objective; the linear model keeps its own fast path
//! ([`crate::numeric`], [`crate::numeric::exotic`]) and implements the trait too
//! ([`crate::train::LinearObjective`], which tests/objective.rs checks against that path bit for bit).
//! A model a check runs on is a [`crate::model::Model`] (its state, training, backward and
//! truth written once for every model); adding one is a file under src/model/ (or a user's own
//! crate, as examples/own_model.rs), and for `gradlab check --model` a line in
//! [`crate::plan::registry`].
//!
//! [`linear`] holds the layer's forward (logits) and backward (gradients of x, W and b) side by
//! side; [`cross_entropy`] the per-sample loss and its gradient side by side, and the reduced
//! total. [`Pass`] is one forward and backward pass of the whole model, the step training
//! repeats and the truth takes once in MPFR. [`LinearTensor`] names what a gradient of the
//! linear model is taken with respect to (input, weight, bias or logits); the MLP's are
//! [`mlp::MlpTensor`].

pub mod cross_entropy;
pub mod linear;
pub mod martins;
pub mod mlp;
pub mod tokens;

pub use cross_entropy::Reduction;

use crate::scalar::num::Num;

use crate::error::Result;
use crate::scalar::Scalar;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};

crate::named_enum! {
    /// The linear model's tensors: what a gradient of it is taken with respect to.
    pub enum LinearTensor("--wrt") {
        /// The inputs x (n x d).
        Input = "input",
        /// The weight W (k x d), at the final parameters.
        Weight = "weight",
        /// The bias b (k), at the final parameters, as a 1 x k row.
        Bias = "bias",
        /// The logits (n x k) of the final forward pass.
        Logits = "logits",
    }
}

/// A differentiable function of one tensor, generic over the number type: what every scheme
/// needs from a model ([`crate::numeric::generic`]). The tensor is 2-D (a vector as one row, a
/// scalar as 1 x 1).
pub trait Objective<T: Scalar>: Sync {
    /// The tensor a gradient is taken of, at its current value.
    fn tensor(&self) -> ArrayView2<'_, T>;
    /// The function (the reduced loss) with the tensor replaced by `v` (same shape), evaluated
    /// in the number type `N`: real for the stencils, complex for the complex step, dual for
    /// forward mode.
    fn value<N: Num<Real = T>>(&self, v: ArrayView2<N>) -> N;
    /// The analytic gradient, in the tensor's shape.
    fn analytic(&self) -> ArrayView2<'_, T>;
    /// The unit of the objective's precision context (the tensor's, by default).
    fn ctx(&self) -> T::Ctx {
        self.tensor()[[0, 0]].ctx()
    }
}

impl LinearTensor {
    /// Whether the tensor is 1-D in PyTorch (the bias), though held here as one row.
    pub fn is_vector(self) -> bool {
        self == LinearTensor::Bias
    }

    /// The tensor's shape as PyTorch gives it, for a problem of n samples, d features and k
    /// classes: `[n, d]`, `[k, d]`, `[k]` or `[n, k]`.
    pub fn shape(self, n: usize, d: usize, k: usize) -> Vec<usize> {
        match self {
            LinearTensor::Input => vec![n, d],
            LinearTensor::Weight => vec![k, d],
            LinearTensor::Bias => vec![k],
            LinearTensor::Logits => vec![n, k],
        }
    }
}

/// A vector as a 1 x len view.
pub(crate) fn as_row<T>(v: &[T]) -> ArrayView2<'_, T> {
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
    /// ([`Reduction::scale`]). The watch is checked before every sample of each phase and advanced by
    /// [`crate::cost::pass_ops`] (times the dtype's cost) over the pass.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped; the buffers then hold a partial
    /// pass.
    pub fn run(
        &mut self,
        x: ArrayView2<T>,
        w: ArrayView2<T>,
        b: &[T],
        t: &[usize],
        scale: Option<&T>,
        watch: &Watch,
    ) -> Result<()> {
        linear::logits_into(x, w, b, &mut self.logits, &mut self.scratch, watch)?;
        cross_entropy::logits_grad_into(self.logits.view(), t, scale, self.ctx, &mut self.grad_logits, watch)?;
        linear::backward_into(
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
