//! The one-hidden-layer MLP ([`crate::objective::mlp`]) as a [`Model`]: its layers drawn from its
//! spec's seed, the problem's x and t as its data, trained by its own loop
//! ([`crate::train::mlp::train`]), its backward the [`MlpPass`], every numeric method by
//! the per-element engine (no fast path).

use super::registry::{Options, Registered, Visit};
use super::{LinearTensor, Model, TensorKind};
use crate::cost::Shape;
use crate::error::Result;
use crate::objective::cross_entropy::logits_grad_into;
pub use crate::objective::mlp::MlpTensor;
use crate::objective::mlp::{pick, Activation, MlpParams, MlpPass, MlpSpec, DEFAULT_HIDDEN, MAX_HIDDEN};
use crate::objective::{Objective, Reduction};
use crate::problem::Problem;
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use crate::train::mlp::{train, MlpObjective, MlpTrained};
use crate::train::{NonFinite, TrainConfig};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rug::Float;

impl TensorKind for MlpTensor {
    fn name(self) -> &'static str {
        MlpTensor::name(self)
    }

    fn is_vector(self) -> bool {
        MlpTensor::is_vector(self)
    }
}

/// `--model mlp-tanh` and `--model mlp-relu`, with `--hidden` ([`DEFAULT_HIDDEN`] when not given)
/// and the problem's seed for its layers.
impl Registered for MlpModel<'_> {
    type Tensor = MlpTensor;
    const NAMES: &'static [&'static str] = &["mlp-tanh", "mlp-relu"];
    const TENSORS: &'static [MlpTensor] = MlpTensor::ALL;
    type Data = Problem;
    const TRAINS: bool = true;

    fn check(options: &Options) -> Result<()> {
        options.sample_reduction(Self::NAMES[options.variant])?;
        let hidden = spec(options).hidden;
        if hidden == 0 || hidden > MAX_HIDDEN {
            return Err(crate::Error::value(
                "--hidden",
                hidden.to_string(),
                format!("a hidden width from 1 to {MAX_HIDDEN}"),
            ));
        }
        Ok(())
    }

    fn elements(options: &Options, tensor: MlpTensor, (n, d, k): (usize, usize, usize)) -> usize {
        let h = spec(options).hidden;
        match tensor {
            MlpTensor::Input => n * d,
            MlpTensor::Logits => n * k,
            MlpTensor::Weight => k * h,
            MlpTensor::Bias => k,
            MlpTensor::HiddenWeight => h * d,
            MlpTensor::HiddenBias => h,
        }
    }

    /// A linear model with max(k, H) classes (the MLP's tensors are at most that large), the
    /// hidden layer's weight and bias estimated as the weight and bias.
    fn budget(options: &Options, tensor: MlpTensor, shape: Shape) -> (Shape, LinearTensor) {
        let wide = Shape { k: shape.k.max(spec(options).hidden), ..shape };
        let like = match tensor {
            MlpTensor::Input => LinearTensor::Input,
            MlpTensor::Weight | MlpTensor::HiddenWeight => LinearTensor::Weight,
            MlpTensor::Bias | MlpTensor::HiddenBias => LinearTensor::Bias,
            MlpTensor::Logits => LinearTensor::Logits,
        };
        (wide, like)
    }

    fn header(options: &Options) -> String {
        format!(" model={} H={}", Self::NAMES[options.variant], spec(options).hidden)
    }

    fn visit<V: Visit>(options: &Options, problem: &Problem, tensor: MlpTensor, v: V) -> Result<V::Out> {
        let reduction = options.sample_reduction(Self::NAMES[options.variant])?;
        Ok(v.visit(&MlpModel { problem, spec: spec(options), reduction }, tensor))
    }
}

/// The MLP's settings from the registry's options: the activation of its variant
/// ([`Registered::NAMES`]: tanh, then relu), the hidden width, the seed.
fn spec(options: &Options) -> MlpSpec {
    let act = if options.variant == 0 { Activation::Tanh } else { Activation::Relu };
    MlpSpec { act, hidden: options.hidden.unwrap_or(DEFAULT_HIDDEN), seed: options.seed }
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

    /// The MLP's loop ([`crate::train::mlp::train`]).
    fn train<T: Scalar>(&self, s: MlpTrained<T>, cfg: &TrainConfig, watch: &Watch) -> Result<MlpTrained<T>> {
        train(&s.x, &s.t, &s.params, s.act, cfg, s.ctx, watch)
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
            logits_grad_into(s.logits.view(), &s.t, scale.as_ref(), ctx, &mut out, watch)?;
            return Ok(out);
        }
        let p = &s.params;
        let mut pass = MlpPass::new(s.x.nrows(), s.x.ncols(), p.hidden(), p.w2.nrows(), ctx);
        pass.run(s.x.view(), p.layers(), s.act, &s.t, scale.as_ref(), watch)?;
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
