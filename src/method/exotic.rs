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
//!   ([`super::ridders::extrapolate`]), whose error estimate is kept per element.
//!
//! For the complex step and dual numbers an input or logits element only enters its own
//! sample's loss: the other samples' losses have imaginary (dual) part exactly 0, and adding an
//! exact 0 changes nothing, so only that sample is evaluated and its part scaled by the
//! reduction's factor, bit-identical to evaluating every sample (`--naive` does; tested). A
//! weight or bias element evaluates every sample. There is no incremental fast path as for the
//! stencils: an element costs a sample's full forward pass in the wider number type (and for MPFR
//! allocates its temporaries).

use super::num::{Complex, Dual, Num};
use super::ridders;
use super::Scheme;
use crate::error::Result;
use crate::exact::Decimal;
use crate::numeric::{numeric_grads_watched, NumericGrad, Setup};
use crate::objective::cross_entropy::row_loss_num;
use crate::objective::linear::row_logits_num;
use crate::objective::Wrt;
use crate::regimes::Regime;
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
pub fn method_grads_watched<T: Scalar>(
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
                let seed = |v: &T| Complex::new(v.clone(), h.clone());
                let part = |y: &Complex<T>| y.im.div(&h);
                Ok(MethodGrad { numeric: ad_grad(setup, &seed, &part, &h, naive, watch)?, est_error: None })
            })
            .collect(),
        Scheme::Dual => {
            let one = T::from_int(1, ctx);
            let seed = |v: &T| Dual::new(v.clone(), one.clone());
            let part = |y: &Dual<T>| y.d.clone();
            Ok(vec![MethodGrad { numeric: ad_grad(setup, &seed, &part, &one, naive, watch)?, est_error: None }])
        }
        Scheme::Ridders => ridders_grads(setup, steps, naive, watch),
        _ => {
            let st = Setup { stencil: scheme.stencil(), ..setup.clone() };
            Ok(numeric_grads_watched(&st, steps, naive, watch)?
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
    let consts = ridders::Consts::new(setup.trained.ctx);
    // One initial step at a time: its ten gradients are all that is held at once.
    steps
        .iter()
        .map(|h| Ok(tableau(&consts, &numeric_grads_watched(&central, &ridders::steps(h), naive, watch)?)))
        .collect()
}

/// Ridders' tableau per element over the central gradients `cols` at the steps h / 1.4^i
/// ([`ridders::steps`]), with the first column's effective steps and regimes.
pub(crate) fn tableau<T: Scalar>(consts: &ridders::Consts<T>, cols: &[NumericGrad<T>]) -> MethodGrad<T> {
    let (rows, n_cols) = cols[0].grad.dim();
    let mut value = cols[0].grad.clone();
    let mut error = cols[0].grad.clone();
    for j in 0..rows {
        for i in 0..n_cols {
            let r = ridders::extrapolate(consts, |c| cols[c].grad[[j, i]].clone());
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

/// The gradient by one evaluation per element in the number type `N`: the element seeded by
/// `seed`, the derivative read from the reduced loss by `part`; `eff` is the effective step
/// reported for every element.
fn ad_grad<T: Scalar, N: Num<Real = T>>(
    setup: &Setup<T>,
    seed: &(dyn Fn(&T) -> N + Sync),
    part: &(dyn Fn(&N) -> T + Sync),
    eff: &T,
    naive: bool,
    watch: &Watch,
) -> Result<NumericGrad<T>> {
    let tr = setup.trained;
    let ctx = tr.ctx;
    let lift = |a: ArrayView2<T>| a.map(|v| N::real(v.clone()));
    let (x, w, z) = (lift(tr.x.view()), lift(tr.weight.view()), lift(tr.logits.view()));
    let b: Vec<N> = tr.bias.iter().map(|v| N::real(v.clone())).collect();
    let scale = setup.reduction.scale::<T>(tr.n(), ctx);
    let reduce = |total: N| {
        part(&match &scale {
            Some(s) => total.scale(s),
            None => total,
        })
    };
    // The reduced loss from the per-sample losses of the samples `which` (the others' parts are 0).
    let all = |loss_of: &dyn Fn(usize) -> N| reduce(pairwise_num(&(0..tr.n()).map(loss_of).collect::<Vec<N>>()));
    let base = setup.wrt.tensor(tr);
    let (rows, cols) = base.dim();
    let element = |j: usize, i: usize| -> T {
        let s = seed(&base[[j, i]]);
        match setup.wrt {
            Wrt::Input => {
                let mut row: Vec<N> = x.row(j).to_vec();
                row[i] = s;
                let own = || row_loss_num(&row_logits_num(&row, w.view(), &b), tr.t[j]);
                if naive {
                    all(&|q| {
                        if q == j {
                            own()
                        } else {
                            row_loss_num(&row_logits_num(&x.row(q).to_vec(), w.view(), &b), tr.t[q])
                        }
                    })
                } else {
                    reduce(own())
                }
            }
            Wrt::Logits => {
                let mut row: Vec<N> = z.row(j).to_vec();
                row[i] = s;
                if naive {
                    all(&|q| {
                        if q == j {
                            row_loss_num(&row, tr.t[q])
                        } else {
                            row_loss_num(&z.row(q).to_vec(), tr.t[q])
                        }
                    })
                } else {
                    reduce(row_loss_num(&row, tr.t[j]))
                }
            }
            Wrt::Weight => {
                let mut wp = w.clone();
                wp[[j, i]] = s;
                all(&|q| row_loss_num(&row_logits_num(&x.row(q).to_vec(), wp.view(), &b), tr.t[q]))
            }
            Wrt::Bias => {
                let mut bp = b.clone();
                bp[i] = s;
                all(&|q| row_loss_num(&row_logits_num(&x.row(q).to_vec(), w.view(), &bp), tr.t[q]))
            }
            Wrt::HiddenWeight | Wrt::HiddenBias => unreachable!("Wrt::tensor refuses the hidden layer's tensors"),
        }
    };
    let stopped = |j: usize| format!("row {} of {rows} of the gradient", j + 1);
    let per_row: Vec<Option<Vec<T>>> = (0..rows)
        .into_par_iter()
        .map(|j| (!watch.stop_requested()).then(|| (0..cols).map(|i| element(j, i)).collect()))
        .collect();
    if let Some(j) = per_row.iter().position(Option::is_none) {
        return Err(crate::Error::Interrupted(stopped(j)));
    }
    let grad: Vec<T> = per_row.into_iter().flatten().flatten().collect();
    let shape = (rows, cols);
    Ok(NumericGrad {
        grad: Array2::from_shape_vec(shape, grad).unwrap_or_else(|_| unreachable!("one value per element")),
        effective_step: Array2::from_elem(shape, eff.clone()),
        regime: Array2::from_elem(shape, Regime::Finite),
        dead_zone: 0,
        loss_flat: 0,
    })
}
