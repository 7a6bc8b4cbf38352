//! The linear model's loss at a trained state ([`super::Trained`]): the tensors a gradient is
//! taken of and their analytic gradients ([`LinearTensor::tensor`], [`LinearTensor::analytic`]),
//! the loss with one of them replaced ([`LinearTensor::loss_with`]), and all three as an
//! [`Objective`] ([`LinearObjective`]).

use super::Trained;
use crate::objective::{as_row, cross_entropy, linear, LinearTensor, Objective, Reduction};
use crate::scalar::num::Num;
use crate::scalar::Scalar;
use ndarray::ArrayView2;

/// The linear model's loss as an [`Objective`]: the gradient with respect to `wrt` (input,
/// weight, bias or logits) of the reduced loss of a trained state, every sample evaluated from
/// scratch in the number type (the order of operations of [`LinearTensor::loss_with`]).
#[derive(Clone, Debug)]
pub struct LinearObjective<'a, T: Scalar> {
    tr: &'a Trained<T>,
    wrt: LinearTensor,
    scale: Option<T>,
}

impl<'a, T: Scalar> LinearObjective<'a, T> {
    /// The objective of `tr`'s loss under `reduction` with respect to `wrt`.
    pub fn new(tr: &'a Trained<T>, reduction: Reduction, wrt: LinearTensor) -> Self {
        LinearObjective { tr, wrt, scale: reduction.scale::<T>(tr.n(), tr.ctx) }
    }
}

impl<T: Scalar> Objective<T> for LinearObjective<'_, T> {
    fn tensor(&self) -> ArrayView2<'_, T> {
        self.wrt.tensor(self.tr)
    }
    fn value<N: Num<Real = T>>(&self, v: ArrayView2<N>) -> N {
        let tr = self.tr;
        let lift = |a: ArrayView2<T>| a.map(|x| N::real(x.clone()));
        let lift_v = |a: &[T]| a.iter().map(|x| N::real(x.clone())).collect::<Vec<N>>();
        let z = match self.wrt {
            LinearTensor::Logits => v.to_owned(),
            LinearTensor::Input => linear::logits_num(v, lift(tr.weight.view()).view(), &lift_v(&tr.bias)),
            LinearTensor::Weight => linear::logits_num(lift(tr.x.view()).view(), v, &lift_v(&tr.bias)),
            _ => linear::logits_num(lift(tr.x.view()).view(), lift(tr.weight.view()).view(), &v.row(0).to_vec()),
        };
        cross_entropy::total_loss_num(z.view(), &tr.t, self.scale.as_ref())
    }
    fn analytic(&self) -> ArrayView2<'_, T> {
        self.wrt.analytic(self.tr)
    }
}

/// The linear model's tensors at a trained state.
impl LinearTensor {
    /// The tensor the gradient is taken with respect to (the values a numeric gradient
    /// perturbs), in a trained state, as a 2-D view: the bias is its one row (1 x k).
    pub fn tensor<T: Scalar>(self, tr: &Trained<T>) -> ArrayView2<'_, T> {
        match self {
            LinearTensor::Input => tr.x.view(),
            LinearTensor::Weight => tr.weight.view(),
            LinearTensor::Bias => as_row(&tr.bias),
            LinearTensor::Logits => tr.logits.view(),
        }
    }

    /// The reduced loss of the trained model with this tensor replaced by `v` (every sample
    /// evaluated from scratch, as a user's code would): for the input, weight and bias, the
    /// logits are recomputed with `v` in its place; for the logits, `v` is the logits.
    pub fn loss_with<T: Scalar>(self, tr: &Trained<T>, v: ArrayView2<T>, scale: Option<&T>) -> T {
        let z = match self {
            LinearTensor::Input => linear::logits(v, tr.weight.view(), &tr.bias, tr.ctx),
            LinearTensor::Weight => linear::logits(tr.x.view(), v, &tr.bias, tr.ctx),
            LinearTensor::Bias => linear::logits(tr.x.view(), tr.weight.view(), &v.row(0).to_vec(), tr.ctx),
            LinearTensor::Logits => return cross_entropy::total_loss(v, &tr.t, scale, tr.ctx),
        };
        cross_entropy::total_loss(z.view(), &tr.t, scale, tr.ctx)
    }

    /// The analytic gradient a user reads after training, in the shape of [`LinearTensor::tensor`]:
    /// x.grad (reset or accumulated over epochs), the last epoch's W.grad and b.grad (taken at the
    /// final parameters; the optimizer zeroes them every epoch), or the last epoch's y.grad.
    pub fn analytic<T: Scalar>(self, tr: &Trained<T>) -> ArrayView2<'_, T> {
        match self {
            LinearTensor::Input => tr.grad_x.view(),
            LinearTensor::Weight => tr.grad_weight.view(),
            LinearTensor::Bias => as_row(&tr.grad_bias),
            LinearTensor::Logits => tr.grad_logits.view(),
        }
    }
}
