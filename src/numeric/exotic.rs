//! Every scheme on the linear model's gradient: the stencils by the numeric engine
//! ([`crate::numeric`]), and the complex step, dual numbers and Ridders here.
//!
//! - **complex**: the model (linear layer, softmax cross-entropy, the pairwise sums, the mean)
//!   evaluated in [`Complex`] numbers with the element set to v + ih; the derivative is
//!   Im L / h. The softmax's shift m is the logit with the largest *real* part (all of it,
//!   imaginary part included: the loss does not depend on the shift, and the shifted largest
//!   logit is exactly 0 + 0i as in the real code).
//! - **dual**: the same evaluation in [`Dual`] numbers with the element seeded v + 1 epsilon; the
//!   derivative is the dual part of L. One evaluation per element, no step.
//! - **ridders**: the central differences at h / 1.4^i for i < 10 by the numeric engine (its
//!   fast path, bit-identical to from scratch), then per element Ridders' tableau
//!   ([`crate::method::ridders::extrapolate`]), whose error estimate is kept per element.
//!
//! The complex step and dual numbers evaluate each element by the fast path of
//! `ad_fast` (the trained logits plus what the seeded element reaches), or with
//! `--naive` every sample's loss from scratch; the two agree bit for bit (tested).

use super::ad_fast::{element_loss, Buffers, Lifted};
use super::Regime;
use crate::error::Result;
use crate::exact::Decimal;
use crate::method::ridders;
use crate::method::Scheme;
use crate::numeric::{numeric_grads, NumericGrad, Setup};
use crate::objective::cross_entropy::row_loss_num;
use crate::objective::linear::row_logits_num;
use crate::objective::LinearTensor;
use crate::scalar::num::{Complex, Dual, Seeded};
use crate::scalar::Scalar;
use crate::sum::pairwise_num;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// A gradient by any scheme, with Ridders' per-element error estimates.
#[derive(Clone, Debug)]
pub struct MethodGrad<T> {
    /// The gradient, effective steps and regimes (for the complex step the effective step is h,
    /// for dual numbers 1: the input always moves).
    pub numeric: NumericGrad<T>,
    /// Ridders' absolute error estimate of each element; `None` for the other schemes.
    pub est_error: Option<Array2<T>>,
}

/// The gradients of `setup`'s tensor by `scheme` (`setup.stencil` is ignored except for the
/// stencil schemes, whose stencil it must be): one per step, or one for dual numbers, which take
/// no step. `naive` evaluates every perturbed loss from scratch (bit-identical results).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn method_grads<T: Scalar>(
    setup: &Setup<T>,
    scheme: Scheme,
    steps: &[Decimal],
    naive: bool,
    watch: &Watch,
) -> Result<Vec<MethodGrad<T>>> {
    let ctx = setup.trained.ctx;
    match scheme {
        Scheme::Complex => steps
            .iter()
            .map(|h| {
                let h = T::from_rational(h.value(), ctx);
                Ok(MethodGrad { numeric: ad_grad::<T, Complex<T>>(setup, &h, naive, watch)?, est_error: None })
            })
            .collect(),
        Scheme::Dual => {
            let one = T::from_int(1, ctx);
            Ok(vec![MethodGrad { numeric: ad_grad::<T, Dual<T>>(setup, &one, naive, watch)?, est_error: None }])
        }
        Scheme::Ridders => ridders_grads(setup, steps, naive, watch),
        _ => {
            let st = Setup { stencil: scheme.stencil(), ..setup.clone() };
            Ok(numeric_grads(&st, steps, naive, watch)?
                .into_iter()
                .map(|numeric| MethodGrad { numeric, est_error: None })
                .collect())
        }
    }
}

/// Ridders from each step: ten central gradients per step by the numeric engine, then the
/// tableau per element.
fn ridders_grads<T: Scalar>(
    setup: &Setup<T>,
    steps: &[Decimal],
    naive: bool,
    watch: &Watch,
) -> Result<Vec<MethodGrad<T>>> {
    let central = Setup { stencil: Scheme::Central.stencil(), ..setup.clone() };
    let tr = setup.trained;
    let consts = ridders::Consts::new(tr.ctx);
    let scale = setup.reduction.scale::<T>(tr.n(), tr.ctx);
    let loss = setup.wrt.loss_with(tr, setup.wrt.tensor(tr), scale.as_ref());
    // One initial step at a time: its ten gradients are all that is held at once.
    steps
        .iter()
        .map(|h| {
            let noise0 = ridders::rounding_bound(&loss, &T::from_rational(h.value(), tr.ctx));
            Ok(tableau(&consts, &noise0, &numeric_grads(&central, &ridders::steps(h), naive, watch)?))
        })
        .collect()
}

/// Ridders' tableau per element over the central gradients `cols` at the steps h / 1.4^i
/// ([`ridders::steps`]), with the first column's effective steps and regimes; `noise0` is the
/// rounding bound of the first central difference ([`ridders::rounding_bound`]).
pub(crate) fn tableau<T: Scalar>(consts: &ridders::Consts<T>, noise0: &T, cols: &[NumericGrad<T>]) -> MethodGrad<T> {
    let (rows, n_cols) = cols[0].grad.dim();
    let mut value = cols[0].grad.clone();
    let mut error = cols[0].grad.clone();
    for j in 0..rows {
        for i in 0..n_cols {
            let r = ridders::extrapolate(consts, noise0, |c| cols[c].grad[[j, i]].clone());
            value[[j, i]] = r.value;
            error[[j, i]] = r.error;
        }
    }
    let first = &cols[0];
    MethodGrad {
        numeric: NumericGrad {
            grad: value,
            effective_step: first.effective_step.clone(),
            regime: first.regime.clone(),
            dead_zone: first.dead_zone,
            loss_flat: first.loss_flat,
        },
        est_error: Some(error),
    }
}

/// The gradient by one evaluation per element in the number type `N`: the element seeded with
/// `h` ([`Seeded::seed`]), the derivative read from the reduced loss ([`Seeded::derivative`]);
/// `h` is also the effective step reported for every element.
fn ad_grad<T: Scalar, N: Seeded<Real = T>>(
    setup: &Setup<T>,
    h: &T,
    naive: bool,
    watch: &Watch,
) -> Result<NumericGrad<T>> {
    let tr = setup.trained;
    let ctx = tr.ctx;
    let lift = |a: ArrayView2<T>| a.map(|v| N::real(v.clone()));
    let lifted = Lifted {
        x: lift(tr.x.view()),
        w: lift(tr.weight.view()),
        b: tr.bias.iter().map(|v| N::real(v.clone())).collect(),
        z: lift(tr.logits.view()),
    };
    let (x, w, z, b) = (&lifted.x, &lifted.w, &lifted.z, &lifted.b);
    let scale = setup.reduction.scale::<T>(tr.n(), ctx);
    let reduce = |total: N| {
        let total = match &scale {
            Some(s) => total.scale(s),
            None => total,
        };
        N::derivative(&total, h)
    };
    // The reduced loss from every sample's loss, evaluated from scratch (`--naive`).
    let all = |loss_of: &dyn Fn(usize) -> N| reduce(pairwise_num(&(0..tr.n()).map(loss_of).collect::<Vec<N>>()));
    let base = setup.wrt.tensor(tr);
    let (rows, cols) = base.dim();
    let from_scratch = |j: usize, i: usize| -> T {
        let s = N::seed(&base[[j, i]], h);
        match setup.wrt {
            LinearTensor::Input => {
                let mut row: Vec<N> = x.row(j).to_vec();
                row[i] = s;
                all(&|q| {
                    if q == j {
                        row_loss_num(&row_logits_num(&row, w.view(), b), tr.t[j])
                    } else {
                        row_loss_num(&row_logits_num(&x.row(q).to_vec(), w.view(), b), tr.t[q])
                    }
                })
            }
            LinearTensor::Logits => {
                let mut row: Vec<N> = z.row(j).to_vec();
                row[i] = s;
                all(&|q| if q == j { row_loss_num(&row, tr.t[q]) } else { row_loss_num(&z.row(q).to_vec(), tr.t[q]) })
            }
            LinearTensor::Weight => {
                let mut wp = w.clone();
                wp[[j, i]] = s;
                all(&|q| row_loss_num(&row_logits_num(&x.row(q).to_vec(), wp.view(), b), tr.t[q]))
            }
            LinearTensor::Bias => {
                let mut bp = b.clone();
                bp[i] = s;
                all(&|q| row_loss_num(&row_logits_num(&x.row(q).to_vec(), w.view(), &bp), tr.t[q]))
            }
        }
    };
    let zero = N::real(T::zero(ctx));
    let row_of = |j: usize| -> Vec<T> {
        if naive {
            return (0..cols).map(|i| from_scratch(j, i)).collect();
        }
        let mut buf = Buffers::new(tr.n(), z.ncols(), &zero);
        (0..cols)
            .map(|i| reduce(element_loss(&lifted, &tr.t, setup.wrt, (j, i), &N::seed(&base[[j, i]], h), &mut buf)))
            .collect()
    };
    let stopped = |j: usize| format!("row {} of {rows} of the gradient", j + 1);
    let per_row: Vec<Option<Vec<T>>> =
        (0..rows).into_par_iter().map(|j| (!watch.stop_requested()).then(|| row_of(j))).collect();
    if let Some(j) = per_row.iter().position(Option::is_none) {
        return Err(crate::Error::Interrupted(stopped(j)));
    }
    let mut grad: Vec<T> = Vec::with_capacity(rows * cols);
    grad.extend(per_row.into_iter().flatten().flatten());
    let shape = (rows, cols);
    Ok(NumericGrad {
        grad: Array2::from_shape_vec(shape, grad).unwrap_or_else(|_| unreachable!("one value per element")),
        effective_step: Array2::from_elem(shape, h.clone()),
        regime: Array2::from_elem(shape, Regime::Finite),
        dead_zone: 0,
        loss_flat: 0,
    })
}
