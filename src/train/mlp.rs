//! The MLP ([`crate::objective::mlp`]) trained like the seed ([`train`]), its trained
//! state ([`MlpTrained`]) and its loss at that state as an [`Objective`] ([`MlpObjective`]).

use super::sgd::{sgd, Backprop, Sgd};
use super::{NonFinite, TrainConfig};
use crate::error::Result;
use crate::objective::cross_entropy::total_loss_num;
use crate::objective::mlp::{pick, Activation, MlpLayers, MlpParams, MlpPass, MlpTensor};
use crate::objective::{as_row, linear, Objective, Reduction};
use crate::scalar::num::Num;
use crate::scalar::Scalar;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};

/// The MLP after training, all in the dtype.
#[derive(Clone, Debug)]
pub struct MlpTrained<T: Scalar> {
    /// The precision context.
    pub ctx: T::Ctx,
    /// The activation.
    pub act: Activation,
    /// Inputs.
    pub x: Array2<T>,
    /// Targets.
    pub t: Vec<usize>,
    /// The final parameters (after E - 1 steps).
    pub params: MlpParams<T>,
    /// The logits of the last forward pass.
    pub logits: Array2<T>,
    /// x.grad, reset or accumulated over epochs.
    pub grad_x: Array2<T>,
    /// The last epoch's logits gradient.
    pub grad_logits: Array2<T>,
    /// The last epoch's parameter gradients (at the final parameters).
    pub grads: MlpParams<T>,
    /// Where training first gave a value that is not finite, if it did (as the linear model's
    /// [`crate::train::Trained::nonfinite`]).
    pub nonfinite: Option<NonFinite>,
}

impl<T: Scalar> MlpTrained<T> {
    /// The number of samples n.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// For each input element (j, i), the largest perturbation that changes the sign of no
    /// hidden pre-activation of sample j: min over units u of |a_ju| / |W1_ui|, since a_ju is
    /// linear in x_ji with slope W1_ui (infinite when no unit depends on the element). Computed in
    /// f64 from the state's values (exact conversions; the sum rounded in f64): for relu, the
    /// steps at which a finite difference of the element stays on one branch of every unit.
    pub fn kink_distance(&self) -> Array2<f64> {
        let p = self.params.map(Scalar::to_f64);
        let x = self.x.map(Scalar::to_f64);
        Array2::from_shape_fn(x.dim(), |(j, i)| {
            (0..p.hidden())
                .map(|u| {
                    let a: f64 = x.row(j).iter().zip(p.w1.row(u)).map(|(a, b)| a * b).sum::<f64>() + p.b1[u];
                    a.abs() / p.w1[[u, i]].abs()
                })
                .fold(f64::INFINITY, f64::min)
        })
    }
}

/// Trains the MLP like the seed's loop: the one SGD loop ([`crate::train::sgd`](mod@crate::train::sgd)) with the MLP's
/// pass; per epoch one forward and backward pass, x.grad reset or accumulated, and an SGD step
/// p = p - lr * dp (product then difference, each rounded) on W1, b1, W2, b2 except after the
/// last epoch; E = 0 makes one pass at the initial parameters. The watch is checked before every
/// epoch and every sample of each layer's pass.
///
/// # Errors
/// [`crate::Error::Interrupted`] naming the epoch, when the watch was stopped.
#[allow(clippy::too_many_arguments)]
pub fn train<T: Scalar>(
    x: &Array2<T>,
    t: &[usize],
    init: &MlpParams<T>,
    act: Activation,
    cfg: &TrainConfig,
    ctx: T::Ctx,
    watch: &Watch,
) -> Result<MlpTrained<T>> {
    let (n, d, k) = (x.nrows(), x.ncols(), init.w2.nrows());
    let mut pass = MlpBackprop {
        pass: MlpPass::new(n, d, init.hidden(), k, ctx),
        x: x.view(),
        t,
        act,
        scale: cfg.reduction.scale::<T>(n, ctx),
    };
    let row = |v: &[T]| as_row(v).to_owned();
    let params = vec![init.w1.clone(), row(&init.b1), init.w2.clone(), row(&init.b2)];
    let Sgd { params, grad_x, nonfinite } = sgd(&mut pass, params, cfg, ctx, watch)?;
    let [w1, b1, w2, b2]: [Array2<T>; 4] = params.try_into().unwrap_or_else(|_| unreachable!("four parameters"));
    let vec = |a: Array2<T>| a.into_raw_vec_and_offset().0;
    let pass = pass.pass;
    Ok(MlpTrained {
        ctx,
        act,
        x: x.clone(),
        t: t.to_vec(),
        params: MlpParams { w1, b1: vec(b1), w2, b2: vec(b2) },
        logits: pass.logits,
        grad_x,
        grad_logits: pass.grad_logits,
        grads: pass.grads,
        nonfinite,
    })
}

/// The MLP's pass as the SGD loop drives it: parameters W1, b1, W2, b2 (the biases as rows).
struct MlpBackprop<'a, T: Scalar> {
    pass: MlpPass<T>,
    x: ArrayView2<'a, T>,
    t: &'a [usize],
    act: Activation,
    scale: Option<T>,
}

impl<T: Scalar> Backprop<T> for MlpBackprop<'_, T> {
    fn run(&mut self, params: &[Array2<T>], watch: &Watch) -> Result<()> {
        let slice = |i: usize| params[i].as_slice().unwrap_or_else(|| unreachable!("a standard-layout row"));
        let layers = MlpLayers { w1: params[0].view(), b1: slice(1), w2: params[2].view(), b2: slice(3) };
        self.pass.run(self.x, layers, self.act, self.t, self.scale.as_ref(), watch)
    }

    fn param_grads(&self) -> Vec<ArrayView2<'_, T>> {
        let g = &self.pass.grads;
        vec![g.w1.view(), as_row(&g.b1), g.w2.view(), as_row(&g.b2)]
    }

    fn grad_x(&self) -> ArrayView2<'_, T> {
        self.pass.grad_x.view()
    }

    fn logits(&self) -> ArrayView2<'_, T> {
        self.pass.logits.view()
    }
}

/// The MLP's reduced loss as an [`Objective`] of one of its tensors (`wrt`), every sample
/// evaluated from scratch in the number type, with the operations of the forward pass above.
#[derive(Clone, Debug)]
pub struct MlpObjective<'a, T: Scalar> {
    tr: &'a MlpTrained<T>,
    wrt: MlpTensor,
    scale: Option<T>,
}

impl<'a, T: Scalar> MlpObjective<'a, T> {
    /// The objective of `tr`'s loss under `reduction` with respect to `wrt`.
    pub fn new(tr: &'a MlpTrained<T>, reduction: Reduction, wrt: MlpTensor) -> Self {
        MlpObjective { tr, wrt, scale: reduction.scale::<T>(tr.n(), tr.ctx) }
    }
}

impl<T: Scalar> Objective<T> for MlpObjective<'_, T> {
    fn tensor(&self) -> ArrayView2<'_, T> {
        pick(self.wrt, &self.tr.x, &self.tr.params, &self.tr.logits)
    }

    fn value<N: Num<Real = T>>(&self, v: ArrayView2<N>) -> N {
        let tr = self.tr;
        if self.wrt == MlpTensor::Logits {
            return total_loss_num(v, &tr.t, self.scale.as_ref());
        }
        let lift = |a: &Array2<T>| a.map(|x| N::real(x.clone()));
        let lift_v = |a: &[T]| a.iter().map(|x| N::real(x.clone())).collect::<Vec<N>>();
        let p = &tr.params;
        let own = |w: MlpTensor| (self.wrt == w).then(|| v.to_owned());
        let x = own(MlpTensor::Input).unwrap_or_else(|| lift(&tr.x));
        let w1 = own(MlpTensor::HiddenWeight).unwrap_or_else(|| lift(&p.w1));
        let w2 = own(MlpTensor::Weight).unwrap_or_else(|| lift(&p.w2));
        let b1 = if self.wrt == MlpTensor::HiddenBias { v.row(0).to_vec() } else { lift_v(&p.b1) };
        let b2 = if self.wrt == MlpTensor::Bias { v.row(0).to_vec() } else { lift_v(&p.b2) };
        let pre = linear::logits_num(x.view(), w1.view(), &b1);
        let h = pre.map(|v| tr.act.apply_num(v));
        let z = linear::logits_num(h.view(), w2.view(), &b2);
        total_loss_num(z.view(), &tr.t, self.scale.as_ref())
    }

    fn analytic(&self) -> ArrayView2<'_, T> {
        pick(self.wrt, &self.tr.grad_x, &self.tr.grads, &self.tr.grad_logits)
    }
}
