//! The seed's model as a [`Model`]: a linear layer with softmax cross-entropy on a problem's
//! data, trained like the seed ([`crate::train::train`]), its analytic gradient what a
//! user reads after training ([`LinearTensor::analytic`]), its backward [`Pass`], and its fast engine
//! ([`crate::numeric`], [`crate::numeric::exotic`], [`crate::numeric::auto`]) as the fast path.

use super::registry::{Options, Registered, Visit};
use super::{Model, Numeric, Request, TensorKind};
use crate::cost::Shape;
use crate::error::Result;
use crate::numeric::auto::auto_grad;
use crate::numeric::exotic::method_grads;
use crate::numeric::Setup;
use crate::objective::cross_entropy::logits_grad_into;
pub use crate::objective::LinearTensor;
use crate::objective::{Objective, Pass, Reduction};
use crate::problem::{Cast, Problem};
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use crate::train::{train, LinearObjective, NonFinite, TrainConfig, Trained};
use crate::watch::Watch;
use ndarray::{Array1, Array2, ArrayView2};
use rug::Float;

impl TensorKind for LinearTensor {
    fn name(self) -> &'static str {
        LinearTensor::name(self)
    }

    fn is_vector(self) -> bool {
        LinearTensor::is_vector(self)
    }
}

/// `--model linear`.
impl Registered for LinearModel<'_> {
    type Tensor = LinearTensor;
    const NAMES: &'static [&'static str] = &["linear"];
    const TENSORS: &'static [LinearTensor] = LinearTensor::ALL;
    type Data = Problem;
    const MIXED: bool = true;
    const TRAINS: bool = true;

    fn check(options: &Options) -> Result<()> {
        match options.hidden {
            Some(h) => Err(crate::Error::value(
                "--hidden",
                h.to_string(),
                "no hidden width with --model linear (it has no hidden layer; use mlp-tanh or mlp-relu)",
            )),
            None => options.sample_reduction("linear").map(drop),
        }
    }

    fn elements(_: &Options, tensor: LinearTensor, (n, d, k): (usize, usize, usize)) -> usize {
        tensor.shape(n, d, k).iter().product()
    }

    fn budget(_: &Options, tensor: LinearTensor, shape: Shape) -> (Shape, LinearTensor) {
        (shape, tensor)
    }

    fn visit<V: Visit>(options: &Options, problem: &Problem, tensor: LinearTensor, v: V) -> Result<V::Out> {
        let reduction = options.sample_reduction("linear")?;
        Ok(v.visit(&LinearModel { problem, reduction }, tensor))
    }
}

/// The seed's linear model on a problem, its loss reduced by `reduction`.
#[derive(Clone, Copy, Debug)]
pub struct LinearModel<'a> {
    /// The problem: inputs, targets and initial parameters.
    pub problem: &'a Problem,
    /// The loss reduction.
    pub reduction: Reduction,
}

/// An empty array (what a state holds before training gives it gradients).
fn empty<T>() -> Array2<T> {
    Array2::from_shape_vec((0, 0), Vec::new()).unwrap_or_else(|_| unreachable!("0 x 0 holds nothing"))
}

impl Model for LinearModel<'_> {
    type Tensor = LinearTensor;
    /// Before training: the cast inputs and parameters (no gradients, no logits).
    type State<T: Scalar> = Trained<T>;

    fn tensors(&self) -> &[LinearTensor] {
        LinearTensor::ALL
    }

    fn state<T: Scalar>(&self, ctx: T::Ctx) -> (Trained<T>, usize) {
        let Cast { x, weight, bias, rounded } = self.problem.cast::<T>(ctx);
        let state = Trained {
            ctx,
            x,
            t: self.problem.t.clone(),
            weight,
            bias: bias.to_vec(),
            grad_x: empty(),
            grad_logits: empty(),
            grad_weight: empty(),
            grad_bias: Vec::new(),
            logits: empty(),
            nonfinite: None,
        };
        (state, rounded)
    }

    /// The seed's loop ([`crate::train::train`]).
    fn train<T: Scalar>(&self, state: Trained<T>, cfg: &TrainConfig, watch: &Watch) -> Result<Trained<T>> {
        let Trained { ctx, x, t, weight, bias, .. } = state;
        let cast = Cast { x, weight, bias: Array1::from(bias), rounded: 0 };
        train(&cast, &t, cfg, ctx, watch)
    }

    fn nonfinite<T: Scalar>(&self, state: &Trained<T>) -> Option<NonFinite> {
        state.nonfinite
    }

    fn tensor<'s, T: Scalar>(&self, state: &'s Trained<T>, which: LinearTensor) -> ArrayView2<'s, T> {
        which.tensor(state)
    }

    fn loss<T: Scalar, N: Num<Real = T>>(&self, state: &Trained<T>, which: LinearTensor, v: ArrayView2<N>) -> N {
        LinearObjective::new(state, self.reduction, which).value(v)
    }

    /// For the logits, the loss gradient at the state's logits; else one forward and backward
    /// [`Pass`] at its inputs and parameters.
    fn backward<T: Scalar>(&self, state: &Trained<T>, which: LinearTensor, watch: &Watch) -> Result<Array2<T>> {
        let ctx = state.ctx;
        let scale = self.reduction.scale::<T>(state.t.len(), ctx);
        if which == LinearTensor::Logits {
            let z = &state.logits;
            let mut out = Array2::from_elem(z.dim(), T::zero(ctx));
            logits_grad_into(z.view(), &state.t, scale.as_ref(), ctx, &mut out, watch)?;
            return Ok(out);
        }
        let (x, w) = (&state.x, &state.weight);
        let mut pass = Pass::new(x.nrows(), x.ncols(), w.nrows(), ctx);
        pass.run(x.view(), w.view(), &state.bias, &state.t, scale.as_ref(), watch)?;
        Ok(match which {
            LinearTensor::Input => pass.grad_x,
            LinearTensor::Weight => pass.grad_weight,
            LinearTensor::Bias => super::row(pass.grad_bias),
            LinearTensor::Logits => unreachable!("returned above"),
        })
    }

    /// The backward over MPFR ([`crate::truth::truth_grad`], checked against an independent
    /// mpmath reference in tests/), one pass for the whole tensor.
    fn truth<T: Scalar>(
        &self,
        state: &Trained<T>,
        which: LinearTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Array2<Float>> {
        crate::truth::truth_grad(state, self.reduction, which, prec, watch)
    }

    /// The logits alone for the logits' truth, else the inputs and parameters; row by row, so that
    /// a stop is noticed during large conversions.
    fn to_mpfr<T: Scalar>(
        &self,
        state: &Trained<T>,
        which: LinearTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Trained<Float>> {
        let bits = prec.bits();
        let up = |a: &Array2<T>| crate::truth::to_mpfr(a, bits, watch);
        let logits = which == LinearTensor::Logits;
        let (x, weight, bias, logits) = if logits {
            (empty(), empty(), Vec::new(), up(&state.logits)?)
        } else {
            (up(&state.x)?, up(&state.weight)?, state.bias.iter().map(|v| v.to_float(bits)).collect(), empty())
        };
        Ok(Trained {
            ctx: prec,
            x,
            t: state.t.clone(),
            weight,
            bias,
            grad_x: empty(),
            grad_logits: empty(),
            grad_weight: empty(),
            grad_bias: Vec::new(),
            logits,
            nonfinite: state.nonfinite,
        })
    }

    /// What a user reads after training: x.grad (reset or accumulated), W.grad, b.grad, y.grad.
    fn analytic<T: Scalar>(&self, state: &Trained<T>, which: LinearTensor, _watch: &Watch) -> Result<Array2<T>> {
        Ok(which.analytic(state).to_owned())
    }

    /// The fast engine: the row cache of [`crate::numeric::fast`], [`crate::numeric::exotic`] for
    /// the complex step, dual numbers and Ridders, [`crate::numeric::auto`] for `--eps auto`.
    fn fast_grads<T: Scalar>(
        &self,
        state: &Trained<T>,
        which: LinearTensor,
        req: &Request<'_>,
        watch: &Watch,
    ) -> Option<Result<Numeric<T>>> {
        let setup = Setup { trained: state, reduction: self.reduction, stencil: req.scheme.stencil(), wrt: which };
        Some(if req.steps.is_auto() {
            auto_grad(&setup, req.naive, watch).map(|(g, steps)| Numeric::Auto(Box::new(g), steps))
        } else {
            method_grads(&setup, req.scheme, req.steps.fixed(), req.naive, watch).map(Numeric::Fixed)
        })
    }
}
