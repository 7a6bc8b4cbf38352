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
//! crate, as examples/own_model.rs), and for `gradlab check --model` a line in [`ModelKind`] with
//! its arm in [`crate::check::check_model_watched`].
//!
//! [`linear`] holds the layer's forward (logits) and backward (gradients of x, W and b) side by
//! side; [`cross_entropy`] the per-sample loss and its gradient side by side, and the reduced
//! total. [`Pass`] is one forward and backward pass of the whole model, the step training
//! repeats and the truth takes once in MPFR. [`Wrt`] names what a gradient is taken with
//! respect to (input, weight, bias or logits) and knows where that tensor and its gradient live.

pub mod cross_entropy;
pub mod linear;
pub mod martins;
pub mod mlp;

pub use cross_entropy::Reduction;

use crate::error::Error;
use crate::scalar::num::Num;

use crate::error::Result;
use crate::scalar::Scalar;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};

crate::named_enum! {
    /// What a gradient is taken with respect to.
    pub enum Wrt("--wrt") {
        /// The inputs x (n x d).
        Input = "input",
        /// The layer's weight W (k x d), at the final parameters; for the MLP its output layer's
        /// W2 (k x H).
        Weight = "weight",
        /// The layer's bias b (k), at the final parameters; held as a 1 x k row. For the MLP its
        /// output layer's b2.
        Bias = "bias",
        /// The logits (n x k) of the final forward pass, as in the seed's second check.
        Logits = "logits",
        /// The MLP only: its hidden layer's weight W1 (H x d).
        HiddenWeight = "hidden-weight",
        /// The MLP only: its hidden layer's bias b1 (H), held as a 1 x H row.
        HiddenBias = "hidden-bias",
    }
}

crate::named_enum! {
    /// The model a check differentiates (`--model`): the registry of objectives that train
    /// like the seed.
    pub enum ModelKind("--model") {
        /// The seed's linear layer with softmax cross-entropy.
        Linear = "linear",
        /// A one-hidden-layer MLP with tanh ([`mlp`]).
        MlpTanh = "mlp-tanh",
        /// A one-hidden-layer MLP with relu ([`mlp`]).
        MlpRelu = "mlp-relu",
    }
}

/// A model with its settings: the linear layer, or an MLP of a hidden width whose layers are
/// drawn from a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// The seed's linear model (the problem's weight and bias).
    Linear,
    /// The MLP ([`mlp::MlpSpec`]).
    Mlp(mlp::MlpSpec),
}

impl Model {
    /// The model of `kind`; `hidden` (the MLP's width, [`mlp::DEFAULT_HIDDEN`] when `None`) and
    /// `seed` (its layers' draw) are for the MLP only.
    ///
    /// # Errors
    /// [`Error::Value`] for a hidden width given with the linear model, or one of 0 or above
    /// [`mlp::MAX_HIDDEN`].
    pub fn new(kind: ModelKind, hidden: Option<usize>, seed: u64) -> crate::error::Result<Self> {
        let act = match kind {
            ModelKind::Linear => {
                return match hidden {
                    Some(h) => Err(Error::value(
                        "--hidden",
                        h.to_string(),
                        "no hidden width with --model linear (it has no hidden layer; use mlp-tanh or mlp-relu)",
                    )),
                    None => Ok(Model::Linear),
                }
            }
            ModelKind::MlpTanh => mlp::Activation::Tanh,
            ModelKind::MlpRelu => mlp::Activation::Relu,
        };
        let hidden = hidden.unwrap_or(mlp::DEFAULT_HIDDEN);
        if hidden == 0 || hidden > mlp::MAX_HIDDEN {
            return Err(Error::value(
                "--hidden",
                hidden.to_string(),
                format!("a hidden width from 1 to {}", mlp::MAX_HIDDEN),
            ));
        }
        Ok(Model::Mlp(mlp::MlpSpec { act, hidden, seed }))
    }

    /// The tensors a gradient can be taken of with this model.
    pub fn wrts(self) -> &'static [Wrt] {
        match self {
            Model::Linear => Wrt::LINEAR,
            Model::Mlp(_) => Wrt::ALL,
        }
    }

    /// The model's name as `--model` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Model::Linear => ModelKind::Linear.name(),
            Model::Mlp(s) => match s.act {
                mlp::Activation::Tanh => ModelKind::MlpTanh.name(),
                mlp::Activation::Relu => ModelKind::MlpRelu.name(),
            },
        }
    }

    /// Checks that `wrt` exists for this model.
    ///
    /// # Errors
    /// [`Error::Value`] naming the wrt and the model's choices.
    pub fn check_wrt(self, wrt: Wrt) -> crate::error::Result<()> {
        if self.wrts().contains(&wrt) {
            return Ok(());
        }
        let names: Vec<&str> = self.wrts().iter().map(|w| w.name()).collect();
        Err(Error::value(
            "--wrt",
            wrt.name(),
            format!("one of {} (what --model {} has)", names.join(", "), self.name()),
        ))
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

impl Wrt {
    /// The linear model's tensors: input, weight, bias, logits (every wrt but the hidden
    /// layer's, which only the MLP has).
    pub const LINEAR: &'static [Wrt] = &[Wrt::Input, Wrt::Weight, Wrt::Bias, Wrt::Logits];

    /// Whether a tensor of this kind is 1-D in PyTorch (a bias), though held here as one row.
    pub fn is_vector(self) -> bool {
        matches!(self, Wrt::Bias | Wrt::HiddenBias)
    }

    /// The tensor's shape as PyTorch gives it, for a problem of n samples, d features and k
    /// classes: `[n, d]`, `[k, d]`, `[k]` or `[n, k]` (the linear model's tensors).
    ///
    /// # Panics
    /// For the hidden layer's tensors (their shape depends on the hidden width).
    pub fn shape(self, n: usize, d: usize, k: usize) -> Vec<usize> {
        match self {
            Wrt::Input => vec![n, d],
            Wrt::Weight => vec![k, d],
            Wrt::Bias => vec![k],
            Wrt::Logits => vec![n, k],
            Wrt::HiddenWeight | Wrt::HiddenBias => no_hidden_layer(),
        }
    }
}

/// The linear model's answer for a hidden layer's tensor: none (a caller's bug, refused by
/// [`Model::check_wrt`] before any check starts).
pub(crate) fn no_hidden_layer() -> ! {
    panic!("the linear model has no hidden layer (Model::check_wrt refuses hidden-weight and hidden-bias)")
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
    /// ([`Reduction::scale`]).
    pub fn run(&mut self, x: ArrayView2<T>, w: ArrayView2<T>, b: &[T], t: &[usize], scale: Option<&T>) {
        // A new watch is never stopped.
        self.run_watched(x, w, b, t, scale, &Watch::unwatched()).unwrap_or_else(|_| unreachable!("never stopped"));
    }

    /// [`Pass::run`], checking `watch` before every sample of each phase and advancing it by
    /// [`crate::cost::pass_ops`] (times the dtype's cost) over the pass.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped; the buffers then hold a partial
    /// pass.
    pub(crate) fn run_watched(
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
