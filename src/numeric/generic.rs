//! Every scheme on any [`Objective`], element by element: the stencils (fixed steps or
//! `--eps auto`), the complex step, dual numbers and Ridders. This is how the MLP (and any
//! objective without a fast path of its own) is checked; the linear model keeps its own engine
//! ([`crate::numeric`], [`super::exotic`]), with which this one agrees bit for bit on the
//! linear model's [`crate::train::LinearObjective`] (tests/objective.rs).
//!
//! Each perturbed value is the objective's whole function evaluated from scratch
//! ([`Objective::value`]), with the same roundings as the numeric engine: the step rounded once
//! into the dtype, its shifts o_k h and D h rounded once ([`crate::method::StepConsts`]), the
//! quotient by [`crate::method::quotient`]; Im f(x + ih) / h for the complex step; the dual part
//! for dual numbers; Ridders' tableau over ten central gradients. Rows run in parallel (rayon),
//! each element's arithmetic sequential, so results do not depend on the thread count. Per row
//! one copy of the tensor is made (and one in the complex or dual type); an evaluation allocates
//! what the objective's own evaluation does.

use super::exotic::{tableau, MethodGrad};
use super::Regime;
use crate::error::Result;
use crate::exact::Decimal;
use crate::method::{ridders, Scheme, Stencil};
use crate::numeric::auto::{estimation_stencil, estimation_step, model_step};
use crate::numeric::fast::{all_equal, same};
use crate::numeric::{effective_step, NumericGrad, StepPlan};
use crate::objective::Objective;
use crate::scalar::num::{Complex, Dual, Seeded};
use crate::scalar::Scalar;
use crate::watch::Watch;
use ndarray::Array2;
use rayon::prelude::*;

/// The gradients of `obj` by `scheme` at `steps` (one per step; one for dual numbers, which take
/// no step; Ridders from each initial step with its error estimates).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn method_grads<T: Scalar, O: Objective<T>>(
    obj: &O,
    scheme: Scheme,
    steps: &[Decimal],
    watch: &Watch,
) -> Result<Vec<MethodGrad<T>>> {
    let ctx = obj.ctx();
    let plain = |numeric| MethodGrad { numeric, est_error: None };
    match scheme {
        Scheme::Complex => steps
            .iter()
            .map(|h| Ok(plain(ad_grad::<T, Complex<T>, O>(obj, &T::from_rational(h.value(), ctx), watch)?)))
            .collect(),
        Scheme::Dual => Ok(vec![plain(ad_grad::<T, Dual<T>, O>(obj, &T::from_int(1, ctx), watch)?)]),
        Scheme::Ridders => {
            let central = Scheme::Central.stencil();
            let consts = ridders::Consts::new(ctx);
            let value = obj.value::<T>(obj.tensor());
            steps
                .iter()
                .map(|h| {
                    let plan = StepPlan::new(central, &ridders::steps(h), ctx);
                    let noise0 = ridders::rounding_bound(&value, &T::from_rational(h.value(), ctx));
                    Ok(tableau(&consts, &noise0, &stencil_grads(obj, &plan, false, watch)?))
                })
                .collect()
        }
        _ => Ok(stencil_grads(obj, &StepPlan::new(scheme.stencil(), steps, ctx), false, watch)?
            .into_iter()
            .map(plain)
            .collect()),
    }
}

/// `--eps auto` on `obj` with `stencil` ([`crate::numeric::auto`]'s error model, the same
/// estimation stencil and step H): the gradient with a step per element, and the steps chosen
/// (row-major).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
///
/// # Panics
/// When `stencil` is not a finite-difference stencil (checks refuse `--eps auto` for others).
pub fn auto_grad<T: Scalar, O: Objective<T>>(
    obj: &O,
    stencil: Stencil,
    watch: &Watch,
) -> Result<(NumericGrad<T>, Vec<T>)> {
    let ctx = obj.ctx();
    let est_stencil = estimation_stencil(stencil.scheme)
        .unwrap_or_else(|| unreachable!("--eps auto is validated to go with a stencil"));
    let u = T::dtype(ctx).unit_roundoff();
    let big_h = estimation_step(u, est_stencil.order);
    let plan = StepPlan::new(est_stencil, std::slice::from_ref(&big_h), ctx);
    let est = stencil_grads(obj, &plan, false, watch)?.pop().unwrap_or_else(|| unreachable!("one step"));
    let loss = obj.value::<T>(obj.tensor()).to_f64().abs();
    let h_pow = big_h.to_f64().powi(est_stencil.order as i32 - 1);
    let steps: Vec<T> =
        est.grad.iter().map(|q| T::from_f64(model_step(&stencil, u, loss, q.to_f64().abs() / h_pow), ctx)).collect();
    let plan = StepPlan::from_values(stencil, steps.clone(), ctx);
    let grad = stencil_grads(obj, &plan, true, watch)?.pop().unwrap_or_else(|| unreachable!("one gradient"));
    Ok((grad, steps))
}

/// One element's outputs at one step: the gradient, the effective step, its regime (input dead
/// when no point moved it, loss flat when one did but every point's value was equal).
type Cell<T> = (T, T, Regime);

/// The stencil gradients of `obj` for every step of `plan` (one each), or with `per_element` one
/// gradient whose element e (row-major) takes the plan's step e.
fn stencil_grads<T: Scalar, O: Objective<T>>(
    obj: &O,
    plan: &StepPlan<T>,
    per_element: bool,
    watch: &Watch,
) -> Result<Vec<NumericGrad<T>>> {
    let base = obj.tensor();
    let (rows, cols) = base.dim();
    let ctx = obj.ctx();
    let outputs = if per_element { 1 } else { plan.len() };
    let offsets = plan.stencil().offsets;
    let row = |j: usize| -> Vec<Vec<Cell<T>>> {
        let mut perturbed = base.to_owned();
        let (mut tmp, mut values) = (T::zero(ctx), Vec::with_capacity(offsets.len()));
        let mut out: Vec<Vec<Cell<T>>> = (0..outputs).map(|_| Vec::with_capacity(cols)).collect();
        for i in 0..cols {
            let v = &base[[j, i]];
            let which = if per_element { j * cols + i..j * cols + i + 1 } else { 0..plan.len() };
            for (slot, s) in which.enumerate() {
                let consts = plan.step(s);
                let (mut grad, mut eff) = (T::zero(ctx), T::zero(ctx));
                effective_step(v, &consts.h, &mut tmp, &mut eff);
                values.clear();
                let mut moved = false;
                for (&o, shift) in offsets.iter().zip(&consts.shifts) {
                    if o == 0 {
                        perturbed[[j, i]].set(v);
                    } else {
                        perturbed[[j, i]].set_add(v, shift);
                        // A stored value (rounded to S for a mixed dtype; a no-op otherwise).
                        perturbed[[j, i]].store();
                        moved |= !same(&perturbed[[j, i]], v);
                    }
                    values.push(obj.value::<T>(perturbed.view()));
                }
                perturbed[[j, i]].set(v);
                let regime = Regime::of(!moved, all_equal(&values));
                plan.quotient(s, &values, &mut tmp, &mut grad);
                out[slot].push((grad, eff, regime));
            }
        }
        out
    };
    let per_row = by_rows(rows, watch, row)?;
    Ok((0..outputs).map(|s| finish(rows, cols, per_row.iter().flat_map(|r| r[s].iter().cloned()).collect())).collect())
}

/// The gradient by one evaluation per element in the number type `N`: the element seeded with
/// `h` ([`Seeded::seed`]), the derivative read from the value ([`Seeded::derivative`]); `h` is
/// also the effective step reported for every element.
fn ad_grad<T: Scalar, N: Seeded<Real = T>, O: Objective<T>>(obj: &O, h: &T, watch: &Watch) -> Result<NumericGrad<T>> {
    let base = obj.tensor();
    let (rows, cols) = base.dim();
    let row = |j: usize| -> Vec<Vec<Cell<T>>> {
        let mut lifted = base.map(|v| N::real(v.clone()));
        let cells = (0..cols)
            .map(|i| {
                lifted[[j, i]] = N::seed(&base[[j, i]], h);
                let g = N::derivative(&obj.value(lifted.view()), h);
                lifted[[j, i]] = N::real(base[[j, i]].clone());
                (g, h.clone(), Regime::Finite)
            })
            .collect();
        vec![cells]
    };
    let per_row = by_rows(rows, watch, row)?;
    Ok(finish(rows, cols, per_row.into_iter().flat_map(|mut r| r.swap_remove(0)).collect()))
}

/// `row(j)` for every row, in parallel, in row order; rows not started once the watch is
/// stopped are skipped, and the first of them named.
fn by_rows<T: Send>(rows: usize, watch: &Watch, row: impl Fn(usize) -> T + Sync) -> Result<Vec<T>> {
    let per_row: Vec<Option<T>> =
        (0..rows).into_par_iter().map(|j| (!watch.stop_requested()).then(|| row(j))).collect();
    if let Some(j) = per_row.iter().position(Option::is_none) {
        return Err(crate::Error::Interrupted(format!("row {} of {rows} of the gradient", j + 1)));
    }
    Ok(per_row.into_iter().flatten().collect())
}

/// A rows x cols numeric gradient from its cells (row-major), with each element's regime.
fn finish<T: Scalar>(rows: usize, cols: usize, cells: Vec<Cell<T>>) -> NumericGrad<T> {
    let regime: Vec<Regime> = cells.iter().map(|c| c.2).collect();
    let dead_zone = regime.iter().filter(|r| **r == Regime::InputDead).count();
    let loss_flat = regime.iter().filter(|r| **r == Regime::LossFlat).count();
    let (grad, eff): (Vec<T>, Vec<T>) = cells.into_iter().map(|(g, e, _)| (g, e)).unzip();
    let shape = |v| Array2::from_shape_vec((rows, cols), v).unwrap_or_else(|_| unreachable!("one value per element"));
    NumericGrad {
        grad: shape(grad),
        effective_step: shape(eff),
        regime: Array2::from_shape_vec((rows, cols), regime).unwrap_or_else(|_| unreachable!("one per element")),
        dead_zone,
        loss_flat,
    }
}
