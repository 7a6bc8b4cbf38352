//! The model is the extension point: a [`Model`] says what its tensors are, what its state at a
//! dtype holds, its loss with one tensor replaced (over any [`Num`]) and its backward pass (over
//! any [`Scalar`]); the check ([`crate::check::check_model`]) does the rest, once for every
//! model: the state in the dtype, training (when the model trains), the analytic gradient, the
//! MPFR truth, every numeric method and the rows.
//!
//! - **Every method from one forward pass.** [`Model::loss`] is generic over [`Num`], so the
//!   stencils, Ridders (real numbers), the complex step ([`crate::scalar::num::Complex`]) and
//!   dual numbers ([`crate::scalar::num::Dual`]) all run on it through the per-element engine
//!   [`crate::numeric::generic`] ([`At`] is the model at a state as an [`Objective`]).
//! - **The truth is the same pass over MPFR.** [`truth`] converts the state exactly into MPFR at
//!   the truth's precision ([`Model::to_mpfr`]) and, by default ([`dual_truth`]), differentiates
//!   the forward pass [`Model::loss`] over [`rug::Float`] by dual numbers: it reads no backward,
//!   so a wrong backward formula shows as the analytic gradient against the truth. A model whose
//!   backward is checked against an independent reference may run that backward over
//!   [`rug::Float`] instead ([`backward_truth`], one pass for the whole tensor): the linear model,
//!   the MLP and Martins' function do (tests/reference.rs, tests/mlp.rs, tests/martins.rs check
//!   those against mpmath).
//! - **Hooks with defaults.** [`Model::train`] (default: no training), [`Model::analytic`]
//!   (default: the backward in the dtype; the linear model and the MLP give what a user reads
//!   after training, x.grad possibly accumulated), [`Model::fast_grads`] (default: none, the
//!   generic engine; the linear model's fast engine, [`crate::numeric::fast`] and
//!   [`crate::numeric::exotic`], is its hook).
//!
//! Mixed dtypes `S+C` for any model: the state is stored rounded to S (a model builds it with
//! [`Scalar::stored_from_f64`]), every operation is C's own rounded one (the mixed type's
//! arithmetic), the model's code marks its own storage points with [`Scalar::store`] (the linear
//! model's are listed in [`crate::scalar::mixed`]), and the numeric engines store every perturbed
//! value v + o h and effective step in S. The complex step and dual numbers are refused with a
//! mixed dtype ([`crate::check::scheme_error`]).
//!
//! The models here: [`linear`] (the seed's linear layer, its tensor type [`LinearTensor`] and its
//! fast engine), [`mlp`] (the one-hidden-layer MLP, [`MlpTensor`]), [`martins`] (Martins'
//! function of one input x, [`MartinsTensor`]), [`tokens`] (a linear head on token sequences,
//! [`TokenTensor`], built on a [`crate::tokens::TokenProblem`]). Adding a model is one file
//! implementing [`Model`] (examples/own_model.rs is one, checked without any registry); for
//! `gradlab check --model` the same file implements [`registry::Registered`] (its names, options,
//! data and tensor sizes) and one line in [`crate::plan::registry`] lists it.

pub mod linear;
pub mod martins;
pub mod mlp;
pub mod registry;
pub mod tokens;

pub use linear::{LinearModel, LinearTensor};
pub use martins::{MartinsModel, MartinsTensor};
pub use mlp::{MlpModel, MlpTensor};
pub use tokens::{TokenModel, TokenTensor};

use crate::error::Result;
use crate::method::{Scheme, Steps};
use crate::numeric::exotic::MethodGrad;
use crate::numeric::NumericGrad;
use crate::objective::Objective;
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use crate::train::{NonFinite, TrainConfig};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rug::Float;
use std::fmt::Debug;

/// A model's tensor names: what a gradient can be taken with respect to. Each model has its own
/// (a small enum); [`TensorKind::name`] is the text a check's rows carry (`wrt`).
pub trait TensorKind: Copy + Eq + Debug + Send + Sync + 'static {
    /// The tensor's name as rows and `--wrt` write it.
    fn name(self) -> &'static str;

    /// Whether the tensor is 1-D in PyTorch (a bias), though held as one row (no by default).
    fn is_vector(self) -> bool {
        false
    }
}

/// A differentiable model: its tensors, its state at a dtype, its loss (the forward pass over any
/// [`Num`]) and its backward pass (over any [`Scalar`]), with optional training and a fast path
/// for the numeric gradients. The module documentation says what the check does with each.
///
/// Every tensor is 2-D: a vector is one row (1 x len), a scalar 1 x 1.
pub trait Model: Sync {
    /// The model's tensors.
    type Tensor: TensorKind;
    /// The model's state at a dtype: its parameters and data (and, for a model that trains, what
    /// training leaves: its gradients, its final logits).
    type State<T: Scalar>: Sync;

    /// The tensors a gradient can be taken of.
    fn tensors(&self) -> &[Self::Tensor];

    /// The state in `T` (every value rounded once into `T`; into S for a mixed dtype), before any
    /// training, and how many of its values that rounding changed.
    fn state<T: Scalar>(&self, ctx: T::Ctx) -> (Self::State<T>, usize);

    /// Training the state: none by default (the state is returned as it is). `cfg` is the
    /// check's training settings; the watch is checked as training goes.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    fn train<T: Scalar>(&self, state: Self::State<T>, cfg: &TrainConfig, watch: &Watch) -> Result<Self::State<T>> {
        let _ = (cfg, watch);
        Ok(state)
    }

    /// Where training first gave a value that is not finite (none for a model that does not
    /// train).
    fn nonfinite<T: Scalar>(&self, state: &Self::State<T>) -> Option<NonFinite> {
        let _ = state;
        None
    }

    /// The tensor `which` of a state, as a 2-D view.
    fn tensor<'s, T: Scalar>(&self, state: &'s Self::State<T>, which: Self::Tensor) -> ArrayView2<'s, T>;

    /// The loss (the reduced, scalar loss of the forward pass) with tensor `which` replaced by `v`
    /// (same shape), every operation in the number type `N`: real for the stencils and Ridders,
    /// complex for the complex step, dual for dual numbers.
    fn loss<T: Scalar, N: Num<Real = T>>(&self, state: &Self::State<T>, which: Self::Tensor, v: ArrayView2<N>) -> N;

    /// The gradient of the loss with respect to `which` at the state by the model's backward pass,
    /// every operation rounded in `T`; over [`rug::Float`] it is the truth ([`truth`]).
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    fn backward<T: Scalar>(&self, state: &Self::State<T>, which: Self::Tensor, watch: &Watch) -> Result<Array2<T>>;

    /// The state converted exactly into MPFR at `prec` bits (at least the dtype's precision). A
    /// model may leave out what the backward of `which` does not read.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    fn to_mpfr<T: Scalar>(
        &self,
        state: &Self::State<T>,
        which: Self::Tensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Self::State<Float>>;

    /// The MPFR truth of `which` at `prec` bits. By default the forward pass ([`Model::loss`])
    /// differentiated by dual numbers over MPFR at the state converted exactly
    /// ([`dual_truth`]): one forward pass per element, and independent of the model's backward,
    /// so a wrong backward formula shows as the analytic gradient against the truth. A model whose
    /// backward is checked against an independent reference may give that backward over MPFR
    /// instead ([`backward_truth`]: one pass for the whole tensor), as the linear model, the MLP
    /// and Martins' function do.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    fn truth<T: Scalar>(
        &self,
        state: &Self::State<T>,
        which: Self::Tensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Array2<Float>>
    where
        Self: Sized,
    {
        dual_truth(self, state, which, prec, watch)
    }

    /// The analytic gradient the check tests: by default the backward in the dtype
    /// ([`Model::backward`]); a model that trains gives what a user reads after training.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    fn analytic<T: Scalar>(&self, state: &Self::State<T>, which: Self::Tensor, watch: &Watch) -> Result<Array2<T>> {
        self.backward(state, which, watch)
    }

    /// The numeric gradients by a fast path of the model's own, or `None` (the default) for the
    /// per-element engine [`crate::numeric::generic`]. A fast path must give the generic
    /// engine's bits.
    fn fast_grads<T: Scalar>(
        &self,
        state: &Self::State<T>,
        which: Self::Tensor,
        req: &Request<'_>,
        watch: &Watch,
    ) -> Option<Result<Numeric<T>>> {
        let _ = (state, which, req, watch);
        None
    }
}

/// What numeric gradients a check asks for.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The scheme.
    pub scheme: Scheme,
    /// The steps: a grid, or `--eps auto` (a step per element, [`crate::numeric::auto`], with
    /// the scheme's stencil); dual numbers ignore them.
    pub steps: &'a Steps,
    /// Evaluate every perturbed loss from scratch (a fast path's switch; identical results).
    pub naive: bool,
}

/// Numeric gradients: one per step (one for dual numbers; Ridders' with their error estimates),
/// or `--eps auto`'s one gradient with the step chosen for each element (row-major).
#[derive(Clone, Debug)]
pub enum Numeric<T> {
    /// One per configured step.
    Fixed(Vec<MethodGrad<T>>),
    /// `--eps auto`: the gradient and the steps chosen.
    Auto(Box<NumericGrad<T>>, Vec<T>),
}

/// The numeric gradients of `which` at `state`: the model's fast path, or the per-element engine.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn numeric<'a, M: Model, T: Scalar>(
    model: &'a M,
    state: &'a M::State<T>,
    which: M::Tensor,
    analytic: ArrayView2<'a, T>,
    req: &Request<'_>,
    watch: &Watch,
) -> Result<Numeric<T>> {
    if let Some(fast) = model.fast_grads(state, which, req, watch) {
        return fast;
    }
    let at = At { model, state, which, analytic };
    if req.steps.is_auto() {
        let (grad, steps) = crate::numeric::generic::auto_grad(&at, req.scheme.stencil(), watch)?;
        Ok(Numeric::Auto(Box::new(grad), steps))
    } else {
        Ok(Numeric::Fixed(crate::numeric::generic::method_grads(&at, req.scheme, req.steps.fixed(), watch)?))
    }
}

/// The truth of `which` at `prec` bits, as the model gives it ([`Model::truth`]).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn truth<M: Model, T: Scalar>(
    model: &M,
    state: &M::State<T>,
    which: M::Tensor,
    prec: Prec,
    watch: &Watch,
) -> Result<Array2<Float>> {
    model.truth(state, which, prec, watch)
}

/// The truth by the model's backward over MPFR at `prec`, at the state converted exactly.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn backward_truth<M: Model, T: Scalar>(
    model: &M,
    state: &M::State<T>,
    which: M::Tensor,
    prec: Prec,
    watch: &Watch,
) -> Result<Array2<Float>> {
    let up = model.to_mpfr(state, which, prec, watch)?;
    model.backward::<Float>(&up, which, watch)
}

/// The truth by dual numbers over MPFR: the forward pass ([`Model::loss`]) at the state
/// converted exactly, each element's derivative the dual part of one pass with that element
/// seeded, every operation rounded to `prec` bits. It reads no backward.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn dual_truth<M: Model, T: Scalar>(
    model: &M,
    state: &M::State<T>,
    which: M::Tensor,
    prec: Prec,
    watch: &Watch,
) -> Result<Array2<Float>> {
    let up = model.to_mpfr(state, which, prec, watch)?;
    let shape = model.tensor(&up, which).dim();
    let none = Array2::from_elem(shape, Float::new(prec.bits()));
    let at = At { model, state: &up, which, analytic: none.view() };
    let grads = crate::numeric::generic::method_grads(&at, Scheme::Dual, &[], watch)?;
    let grad = grads.into_iter().next().map(|g| g.numeric.grad);
    Ok(grad.unwrap_or_else(|| unreachable!("dual numbers give one gradient")))
}

/// A model at a state, as an [`Objective`] of one of its tensors (what the per-element engine
/// takes), with the analytic gradient the check compares against.
pub struct At<'a, M: Model, T: Scalar> {
    /// The model.
    pub model: &'a M,
    /// Its state.
    pub state: &'a M::State<T>,
    /// The tensor perturbed.
    pub which: M::Tensor,
    /// The analytic gradient.
    pub analytic: ArrayView2<'a, T>,
}

impl<M: Model, T: Scalar> Objective<T> for At<'_, M, T> {
    fn tensor(&self) -> ArrayView2<'_, T> {
        self.model.tensor(self.state, self.which)
    }
    fn value<N: Num<Real = T>>(&self, v: ArrayView2<N>) -> N {
        self.model.loss(self.state, self.which, v)
    }
    fn analytic(&self) -> ArrayView2<'_, T> {
        self.analytic.view()
    }
}

/// A vector as a 1 x len array.
pub(crate) fn row<T>(v: Vec<T>) -> Array2<T> {
    let k = v.len();
    Array2::from_shape_vec((1, k), v).unwrap_or_else(|_| unreachable!("1 x len holds len values"))
}
