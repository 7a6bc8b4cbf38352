//! A one-hidden-layer MLP with the seed's softmax cross-entropy: forward and backward side by
//! side and its initialisation (its training and [`super::Objective`] are in [`crate::train::mlp`], its
//! truth by [`crate::model::backward_truth`]).
//!
//! Forward: pre = x W1^T + b1 (n x H), h = act(pre), logits = h W2^T + b2 (n x k), then the
//! same cross-entropy and reduction as the linear model ([`super::cross_entropy`]). Both layers
//! are the linear layer's code ([`super::linear`]): every logit and pre-activation is the
//! pairwise sum of its products plus the bias, each operation rounded to the dtype.
//!
//! Activations: tanh (correctly rounded in every dtype) or relu = max(0, v). relu's derivative
//! is 1 where the pre-activation is > 0 and 0 elsewhere, at exactly 0 included (PyTorch's
//! convention). In complex or dual numbers relu passes the whole number (imaginary or dual part
//! included) where its real part is > 0 and gives 0 elsewhere, so the complex step and dual
//! numbers differentiate the same piecewise-linear function (and are exact on each piece).
//!
//! Backward: dL/dlogits as the linear model's, then the output layer's backward (dL/dh, dL/dW2,
//! dL/db2), dL/dpre = dL/dh * act'(pre) (for tanh, act' = 1 - h h from the rounded h, computed
//! as h h, then 1 minus it, then times dL/dh), then the hidden layer's backward (dL/dx, dL/dW1,
//! dL/db1); each backward is [`linear::backward_into`] (sequential sums in index order).
//!
//! Initialisation (deterministic from a seed, [`MlpParams::generate`]): a SplitMix64 stream
//! started at seed + [`STREAM`] draws W1 (H x d, row-major), b1 (H), W2 (k x H), b2 (k) in that
//! order, each uniform in +-1/sqrt(fan_in) as PyTorch's nn.Linear (fan_in d for the hidden layer,
//! H for the output layer) and made exact in every dtype like the problem's own values
//! ([`representable_everywhere`]). The problem supplies x and t; its linear weight and bias are
//! not used.

use super::cross_entropy::logits_grad_into;
use super::linear;
use crate::error::Result;
use crate::problem::{representable_everywhere, SplitMix64};
use crate::scalar::num::Num;
use crate::scalar::Scalar;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2, Zip};
use std::cmp::Ordering;

crate::named_enum! {
    /// The MLP's activation.
    pub enum Activation("activation") {
        /// tanh(v).
        Tanh = "tanh",
        /// max(0, v), with derivative 0 at v = 0.
        Relu = "relu",
    }
}

crate::named_enum! {
    /// The MLP's tensors: what a gradient of it is taken with respect to.
    pub enum MlpTensor("--wrt") {
        /// The inputs x (n x d).
        Input = "input",
        /// The output layer's weight W2 (k x H).
        Weight = "weight",
        /// The output layer's bias b2 (k), as one row.
        Bias = "bias",
        /// The logits (n x k) of the final forward pass.
        Logits = "logits",
        /// The hidden layer's weight W1 (H x d).
        HiddenWeight = "hidden-weight",
        /// The hidden layer's bias b1 (H), as one row.
        HiddenBias = "hidden-bias",
    }
}

impl MlpTensor {
    /// Whether the tensor is 1-D in PyTorch (a bias), though held here as one row.
    pub fn is_vector(self) -> bool {
        matches!(self, MlpTensor::Bias | MlpTensor::HiddenBias)
    }
}

/// The hidden width when `--hidden` is not given.
pub const DEFAULT_HIDDEN: usize = 8;
/// The largest hidden width accepted.
pub const MAX_HIDDEN: usize = 4096;
/// Added to the seed to start the MLP's SplitMix64 stream ("mlp" in ASCII), so that its layers
/// are not drawn from the numbers the problem's x came from.
pub const STREAM: u64 = 0x006d_6c70;

/// An MLP's settings: activation, hidden width and the seed its layers are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlpSpec {
    /// The activation.
    pub act: Activation,
    /// The hidden width H.
    pub hidden: usize,
    /// The seed of [`MlpParams::generate`].
    pub seed: u64,
}

impl Activation {
    /// act(pre) into `out`, in place (relu of anything not > 0, NaN aside, is +0).
    #[inline]
    pub fn apply<T: Scalar>(self, pre: &T, out: &mut T) {
        match self {
            Activation::Tanh => {
                out.set(pre);
                out.tanh_mut();
            }
            Activation::Relu => match pre.partial_cmp_val(&T::zero(pre.ctx())) {
                Some(Ordering::Less | Ordering::Equal) => *out = T::zero(pre.ctx()),
                _ => out.set(pre),
            },
        }
    }

    /// act(v) in any [`Num`] type: tanh, or relu on the real part (the whole number where
    /// Re v > 0, else 0).
    pub(crate) fn apply_num<N: Num>(self, v: &N) -> N {
        match self {
            Activation::Tanh => v.tanh(),
            Activation::Relu => {
                let zero = N::Real::zero(v.re().ctx());
                match v.re().partial_cmp_val(&zero) {
                    Some(Ordering::Less | Ordering::Equal) => N::real(zero),
                    _ => v.clone(),
                }
            }
        }
    }

    /// dL/dpre = dL/dh * act'(pre) into `out`, from the pre-activation, its activation `h` and
    /// dL/dh; `one` is 1 and `tmp` scratch.
    #[inline]
    fn backward<T: Scalar>(self, pre: &T, h: &T, g: &T, one: &T, tmp: &mut T, out: &mut T) {
        match self {
            Activation::Tanh => {
                tmp.set_mul(h, h);
                out.set_sub(one, tmp);
                out.mul_assign(g);
            }
            Activation::Relu => match pre.partial_cmp_val(&T::zero(pre.ctx())) {
                Some(Ordering::Less | Ordering::Equal) => *out = T::zero(pre.ctx()),
                Some(Ordering::Greater) => out.set(g),
                // A NaN pre-activation passes NaN on.
                None => out.set_mul(g, pre),
            },
        }
    }
}

/// The MLP's parameters: W1 (H x d), b1 (H), W2 (k x H), b2 (k).
#[derive(Clone, Debug, PartialEq)]
pub struct MlpParams<T> {
    /// The hidden layer's weight, H x d.
    pub w1: Array2<T>,
    /// The hidden layer's bias, H.
    pub b1: Vec<T>,
    /// The output layer's weight, k x H.
    pub w2: Array2<T>,
    /// The output layer's bias, k.
    pub b2: Vec<T>,
}

/// The MLP's parameters borrowed, as a pass reads them.
#[derive(Clone, Copy, Debug)]
pub struct MlpLayers<'a, T> {
    /// The hidden layer's weight, H x d.
    pub w1: ArrayView2<'a, T>,
    /// The hidden layer's bias, H.
    pub b1: &'a [T],
    /// The output layer's weight, k x H.
    pub w2: ArrayView2<'a, T>,
    /// The output layer's bias, k.
    pub b2: &'a [T],
}

impl<T> MlpParams<T> {
    /// The parameters borrowed.
    pub fn layers(&self) -> MlpLayers<'_, T> {
        MlpLayers { w1: self.w1.view(), b1: &self.b1, w2: self.w2.view(), b2: &self.b2 }
    }
}

impl MlpParams<f64> {
    /// The initial parameters for d features, k classes and `hidden` units, drawn from `seed`
    /// (module documentation); every value exact in every dtype.
    pub fn generate(d: usize, k: usize, hidden: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed.wrapping_add(STREAM));
        let mut uni = |fan_in: usize| {
            let bound = 1.0 / (fan_in as f64).sqrt();
            representable_everywhere((2.0 * rng.uniform() - 1.0) * bound)
        };
        let w1 = Array2::from_shape_fn((hidden, d), |_| uni(d));
        let b1 = (0..hidden).map(|_| uni(d)).collect();
        let w2 = Array2::from_shape_fn((k, hidden), |_| uni(hidden));
        let b2 = (0..k).map(|_| uni(hidden)).collect();
        MlpParams { w1, b1, w2, b2 }
    }

    /// Every value rounded once into `T` (exact for generated parameters).
    pub fn cast<T: Scalar>(&self, ctx: T::Ctx) -> MlpParams<T> {
        self.map(|v| T::from_f64(*v, ctx))
    }
}

impl<T> MlpParams<T> {
    /// Every value mapped by `f`.
    pub fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> MlpParams<U> {
        MlpParams {
            w1: self.w1.map(&mut f),
            b1: self.b1.iter().map(&mut f).collect(),
            w2: self.w2.map(&mut f),
            b2: self.b2.iter().map(&mut f).collect(),
        }
    }

    /// The hidden width H.
    pub fn hidden(&self) -> usize {
        self.b1.len()
    }
}

/// One forward and backward pass of the MLP, into buffers reused from pass to pass.
#[derive(Clone, Debug)]
pub struct MlpPass<T: Scalar> {
    /// Pre-activations x W1^T + b1 (n x H).
    pub pre: Array2<T>,
    /// Activations act(pre) (n x H).
    pub hidden: Array2<T>,
    /// Logits h W2^T + b2 (n x k).
    pub logits: Array2<T>,
    /// dL/dlogits (n x k), with the reduction's factor.
    pub grad_logits: Array2<T>,
    /// dL/dh (n x H).
    pub grad_hidden: Array2<T>,
    /// dL/dpre (n x H).
    pub grad_pre: Array2<T>,
    /// dL/dx (n x d).
    pub grad_x: Array2<T>,
    /// dL/dW1, dL/db1, dL/dW2, dL/db2.
    pub grads: MlpParams<T>,
    scratch: Vec<T>,
    ctx: T::Ctx,
}

impl<T: Scalar> MlpPass<T> {
    /// Buffers for n samples, d features, H hidden units and k classes, in context `ctx`.
    pub fn new(n: usize, d: usize, hidden: usize, k: usize, ctx: T::Ctx) -> Self {
        let z = T::zero(ctx);
        let a = |r: usize, c: usize| Array2::from_elem((r, c), z.clone());
        MlpPass {
            pre: a(n, hidden),
            hidden: a(n, hidden),
            logits: a(n, k),
            grad_logits: a(n, k),
            grad_hidden: a(n, hidden),
            grad_pre: a(n, hidden),
            grad_x: a(n, d),
            grads: MlpParams {
                w1: a(hidden, d),
                b1: vec![z.clone(); hidden],
                w2: a(k, hidden),
                b2: vec![z.clone(); k],
            },
            scratch: vec![z; d.max(hidden)],
            ctx,
        }
    }

    /// Forward and backward at x and `p` with targets `t`, activation `act` and the
    /// reduction's factor `scale`; the watch is checked before every sample of each layer's pass.
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped; the buffers then hold a partial
    /// pass.
    pub fn run(
        &mut self,
        x: ArrayView2<T>,
        p: MlpLayers<'_, T>,
        act: Activation,
        t: &[usize],
        scale: Option<&T>,
        watch: &Watch,
    ) -> Result<()> {
        let ctx = self.ctx;
        linear::logits_into(x, p.w1, p.b1, &mut self.pre, &mut self.scratch, watch)?;
        Zip::from(&mut self.hidden).and(&self.pre).for_each(|h, v| act.apply(v, h));
        linear::logits_into(self.hidden.view(), p.w2, p.b2, &mut self.logits, &mut self.scratch, watch)?;
        logits_grad_into(self.logits.view(), t, scale, ctx, &mut self.grad_logits, watch)?;
        let g = &mut self.grads;
        linear::backward_into(
            self.grad_logits.view(),
            self.hidden.view(),
            p.w2.view(),
            ctx,
            &mut self.grad_hidden,
            &mut g.w2,
            &mut g.b2,
            watch,
        )?;
        let (one, mut tmp) = (T::from_int(1, ctx), T::zero(ctx));
        Zip::from(&mut self.grad_pre)
            .and(&self.pre)
            .and(&self.hidden)
            .and(&self.grad_hidden)
            .for_each(|out, v, h, gh| act.backward(v, h, gh, &one, &mut tmp, out));
        linear::backward_into(self.grad_pre.view(), x, p.w1.view(), ctx, &mut self.grad_x, &mut g.w1, &mut g.b1, watch)
    }
}

/// A vector as a 1 x len view.
fn as_row<T>(v: &[T]) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((1, v.len()), v).unwrap_or_else(|_| unreachable!("1 x len holds len values"))
}

/// The tensor `wrt` names in a state of the MLP (x, its parameters, or the logits); the biases
/// as one row.
pub fn pick<'a, T>(wrt: MlpTensor, x: &'a Array2<T>, p: &'a MlpParams<T>, logits: &'a Array2<T>) -> ArrayView2<'a, T> {
    match wrt {
        MlpTensor::Input => x.view(),
        MlpTensor::Weight => p.w2.view(),
        MlpTensor::Bias => as_row(&p.b2),
        MlpTensor::HiddenWeight => p.w1.view(),
        MlpTensor::HiddenBias => as_row(&p.b1),
        MlpTensor::Logits => logits.view(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated layers are seeded, within PyTorch's bounds and exact in f16.
    #[test]
    fn generation_is_seeded_and_bounded() {
        let a = MlpParams::generate(4, 3, 5, 7);
        assert_eq!(a, MlpParams::generate(4, 3, 5, 7));
        assert_ne!(a, MlpParams::generate(4, 3, 5, 8));
        assert_eq!((a.w1.dim(), a.b1.len(), a.w2.dim(), a.b2.len()), ((5, 4), 5, (3, 5), 3));
        assert!(a.w1.iter().chain(&a.b1).all(|v| v.abs() <= 0.5));
        assert!(a.w2.iter().chain(&a.b2).all(|v| v.abs() <= 1.0 / 5f64.sqrt()));
        assert!(a.w1.iter().all(|v| f64::from(half::f16::from_f64(*v)) == *v));
    }

    /// relu: the whole number where the real part is > 0, else 0; derivative 0 at 0.
    #[test]
    fn relu_convention() {
        use crate::scalar::num::Dual;
        let r = Activation::Relu;
        assert_eq!(r.apply_num(&Dual::new(0.5f64, 1.0)), Dual::new(0.5, 1.0));
        assert_eq!(r.apply_num(&Dual::new(0.0f64, 1.0)), Dual::new(0.0, 0.0));
        assert_eq!(r.apply_num(&Dual::new(-0.5f64, 1.0)), Dual::new(0.0, 0.0));
        let (mut tmp, mut out) = (0.0f64, 9.0f64);
        r.backward(&0.0, &0.0, &3.0, &1.0, &mut tmp, &mut out);
        assert_eq!(out, 0.0);
        r.backward(&1e-300, &1e-300, &3.0, &1.0, &mut tmp, &mut out);
        assert_eq!(out, 3.0);
    }
}
