//! The one-hidden-layer MLP ([`crate::objective::mlp`]) as a [`Model`]: its layers drawn from its
//! spec's seed, the problem's x and t as its data, trained by its own loop
//! ([`crate::train::mlp::train_watched`]), its backward the [`MlpPass`], every numeric method by
//! the per-element engine (no fast path).

use super::{Model, TensorKind};
use crate::error::Result;
use crate::objective::cross_entropy::logits_grad_into_watched;
pub use crate::objective::mlp::MlpTensor;
use crate::objective::mlp::{pick, MlpParams, MlpPass, MlpSpec};
use crate::objective::{Objective, Reduction};
use crate::problem::Problem;
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use crate::train::mlp::{train_watched, MlpObjective, MlpTrained};
use crate::train::{NonFinite, TrainConfig};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rug::Float;

impl TensorKind for MlpTensor {
    fn name(self) -> &'static str {
        MlpTensor::name(self)
    }
}

/// The MLP of `spec` on a problem's x and t, its loss reduced by `reduction`.
#[derive(Clone, Copy, Debug)]
pub struct MlpModel<'a> {
    /// The problem (its x and t; its linear parameters are not used).
    pub problem: &'a Problem,
    /// Activation, hidden width and the seed of its layers.
    pub spec: MlpSpec,
    /// The loss reduction.
    pub reduction: Reduction,
}

/// An empty array.
fn empty<T>() -> Array2<T> {
    Array2::from_shape_vec((0, 0), Vec::new()).unwrap_or_else(|_| unreachable!("0 x 0 holds nothing"))
}

/// A state of parameters `params` before training (no gradients, no logits).
fn untrained<T: Scalar>(
    ctx: T::Ctx,
    tr: &MlpTrained<impl Scalar>,
    x: Array2<T>,
    params: MlpParams<T>,
) -> MlpTrained<T> {
    let none = MlpParams { w1: empty(), b1: Vec::new(), w2: empty(), b2: Vec::new() };
    MlpTrained {
        ctx,
        act: tr.act,
        x,
        t: tr.t.clone(),
        params,
        logits: empty(),
        grad_x: empty(),
        grad_logits: empty(),
        grads: none,
        nonfinite: tr.nonfinite,
    }
}

impl Model for MlpModel<'_> {
    type Tensor = MlpTensor;
    type State<T: Scalar> = MlpTrained<T>;

    fn tensors(&self) -> &[MlpTensor] {
        MlpTensor::ALL
    }

    fn state<T: Scalar>(&self, ctx: T::Ctx) -> (MlpTrained<T>, usize) {
        let p = self.problem;
        let x = p.x.map(|v| T::from_f64(*v, ctx));
        let rounded = x.iter().zip(p.x.iter()).filter(|(a, b)| a.to_f64() != **b).count();
        let params = MlpParams::generate(p.d(), p.k(), self.spec.hidden, self.spec.seed).cast::<T>(ctx);
        let none = MlpParams { w1: empty(), b1: Vec::new(), w2: empty(), b2: Vec::new() };
        let state = MlpTrained {
            ctx,
            act: self.spec.act,
            x,
            t: p.t.clone(),
            params,
            logits: empty(),
            grad_x: empty(),
            grad_logits: empty(),
            grads: none,
            nonfinite: None,
        };
        (state, rounded)
    }

    /// The MLP's loop ([`crate::train::mlp::train_watched`]).
    fn train<T: Scalar>(&self, s: MlpTrained<T>, cfg: &TrainConfig, watch: &Watch) -> Result<MlpTrained<T>> {
        train_watched(&s.x, &s.t, &s.params, s.act, cfg, s.ctx, watch)
    }

    fn nonfinite<T: Scalar>(&self, state: &MlpTrained<T>) -> Option<NonFinite> {
        state.nonfinite
    }

    fn tensor<'s, T: Scalar>(&self, s: &'s MlpTrained<T>, which: MlpTensor) -> ArrayView2<'s, T> {
        pick(which, &s.x, &s.params, &s.logits)
    }

    fn loss<T: Scalar, N: Num<Real = T>>(&self, s: &MlpTrained<T>, which: MlpTensor, v: ArrayView2<N>) -> N {
        MlpObjective::new(s, self.reduction, which).value(v)
    }

    /// For the logits, the loss gradient at the state's logits; else one [`MlpPass`].
    fn backward<T: Scalar>(&self, s: &MlpTrained<T>, which: MlpTensor, watch: &Watch) -> Result<Array2<T>> {
        let ctx = s.ctx;
        let scale = self.reduction.scale::<T>(s.t.len(), ctx);
        if which == MlpTensor::Logits {
            let mut out = Array2::from_elem(s.logits.dim(), T::zero(ctx));
            logits_grad_into_watched(s.logits.view(), &s.t, scale.as_ref(), ctx, &mut out, watch)?;
            return Ok(out);
        }
        let p = &s.params;
        let mut pass = MlpPass::new(s.x.nrows(), s.x.ncols(), p.hidden(), p.w2.nrows(), ctx);
        pass.run(s.x.view(), p, s.act, &s.t, scale.as_ref());
        Ok(pick(which, &pass.grad_x, &pass.grads, &pass.grad_logits).to_owned())
    }

    /// The logits alone for the logits' truth, else x and the parameters.
    /// The backward over MPFR (checked against an independent mpmath reference in tests/), one
    /// pass for the whole tensor.
    fn truth<T: Scalar>(
        &self,
        state: &MlpTrained<T>,
        which: MlpTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Array2<Float>> {
        super::backward_truth(self, state, which, prec, watch)
    }

    fn to_mpfr<T: Scalar>(
        &self,
        s: &MlpTrained<T>,
        which: MlpTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<MlpTrained<Float>> {
        watch.checkpoint(|| "the truth".to_string())?;
        let up = |v: &T| v.to_float(prec.bits());
        if which == MlpTensor::Logits {
            let none = MlpParams { w1: empty(), b1: Vec::new(), w2: empty(), b2: Vec::new() };
            return Ok(MlpTrained { logits: s.logits.map(up), ..untrained(prec, s, empty(), none) });
        }
        Ok(untrained(prec, s, s.x.map(up), s.params.map(up)))
    }

    /// What a user reads after training: x.grad (reset or accumulated) and the last epoch's
    /// parameter and logits gradients.
    fn analytic<T: Scalar>(&self, s: &MlpTrained<T>, which: MlpTensor, _watch: &Watch) -> Result<Array2<T>> {
        Ok(pick(which, &s.grad_x, &s.grads, &s.grad_logits).to_owned())
    }
}
