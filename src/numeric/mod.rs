//! Numeric gradients: every element perturbed by every stencil point, the whole loss evaluated.
//!
//! Two paths give bit-identical results: [`naive`] evaluates each perturbed loss from scratch,
//! exactly as a user's code would; [`fast`] (the default) re-sums one path of each pairwise tree.
//! [`plan`] holds the step constants both use, rounded once per check.
//!
//! Rows are processed in parallel (rayon), each worker with its own buffers; every element's
//! arithmetic is sequential, so results do not depend on the thread count. After a worker's
//! buffers exist, evaluating an element allocates nothing: gradlab's own arithmetic works in
//! place, and the temporaries MPFR's `exp` and `log` allocate internally are recycled by
//! [`crate::gmp_pool`] (installed by the gradlab binaries; tests/no_alloc.rs counts both heaps).

pub mod fast;
pub mod naive;
pub mod plan;

pub use fast::{Evaluator, LoadedRow, RowWorker};
pub use plan::StepPlan;

use crate::exact::Decimal;
use crate::method::Stencil;
use crate::objective::{Reduction, Wrt};
use crate::scalar::Scalar;
use crate::train::Trained;
use ndarray::Array2;
use rayon::prelude::*;

/// A numeric gradient with its effective steps.
#[derive(Clone, Debug)]
pub struct NumericGrad<T> {
    /// The finite-difference gradient.
    pub grad: Array2<T>,
    /// The effective step (v + h) - v of every element, in the dtype.
    pub effective_step: Array2<T>,
    /// How many elements have effective step 0 (the input does not move: v + h == v).
    pub dead_zone: usize,
}

/// What a numeric gradient is taken of: a trained state, its loss's reduction, a stencil and
/// the tensor perturbed.
#[derive(Clone, Debug)]
pub struct Setup<'a, T: Scalar> {
    /// The trained state (inputs, final parameters, final logits).
    pub trained: &'a Trained<T>,
    /// Loss reduction.
    pub reduction: Reduction,
    /// The stencil.
    pub stencil: Stencil,
    /// What is perturbed.
    pub wrt: Wrt,
}

/// The effective step (x + h) - x into `eff` (0 when the input does not move; `tmp` is scratch).
#[inline]
pub fn effective_step<T: Scalar>(x: &T, h: &T, tmp: &mut T, eff: &mut T) {
    tmp.set_add(x, h);
    eff.set_sub(tmp, x);
}

/// Checks with fewer elements than this run on the calling thread (same results either way):
/// below it, waking rayon's workers costs more than the check.
pub const SEQUENTIAL_BELOW: usize = 1024;

/// The numeric gradient for step `h`, by the fast path or (with `naive`) from scratch.
pub fn numeric_grad<T: Scalar>(setup: &Setup<T>, h: &Decimal, naive: bool) -> NumericGrad<T> {
    numeric_grads(setup, std::slice::from_ref(h), naive).pop().unwrap_or_else(|| unreachable!("one step"))
}

/// The numeric gradients for several steps (one per step, in order), by the fast path or (with
/// `naive`) from scratch. A small check runs on one worker; a large one spreads rows over the
/// current rayon pool. The result does not depend on either.
pub fn numeric_grads<T: Scalar>(setup: &Setup<T>, steps: &[Decimal], naive: bool) -> Vec<NumericGrad<T>> {
    if steps.is_empty() {
        return Vec::new();
    }
    let ev = Evaluator::new(setup, steps);
    let (rows, cols) = setup.wrt.tensor(setup.trained).dim();
    let zero = T::zero(setup.trained.ctx);
    // One row at a time, every step on it: the row and its product trees are loaded once.
    // `dst` holds, per step, the row's slots of the gradient and of the effective steps.
    let run_row = |w: &mut RowWorker<T>, j: usize, dst: &mut [(&mut [T], &mut [T])]| {
        if naive {
            for (s, (g, e)) in dst.iter_mut().enumerate() {
                for (i, (g, e)) in g.iter_mut().zip(e.iter_mut()).enumerate() {
                    naive::element(&ev, j, i, s, g, e);
                }
            }
        } else {
            let mut row = w.load(j);
            for (s, (g, e)) in dst.iter_mut().enumerate() {
                row.fill(s, g, e);
            }
        }
    };
    let mut grads: Vec<(Vec<T>, Vec<T>)>;
    if rows * cols < SEQUENTIAL_BELOW || rayon::current_num_threads() == 1 {
        // One worker, results written in place.
        grads = (0..steps.len()).map(|_| (vec![zero.clone(); rows * cols], vec![zero.clone(); rows * cols])).collect();
        let mut w = ev.worker();
        for j in 0..rows {
            let span = j * cols..(j + 1) * cols;
            let mut dst: Vec<(&mut [T], &mut [T])> =
                grads.iter_mut().map(|(g, e)| (&mut g[span.clone()], &mut e[span.clone()])).collect();
            run_row(&mut w, j, &mut dst);
        }
    } else {
        let per_row: Vec<Vec<(Vec<T>, Vec<T>)>> = (0..rows)
            .into_par_iter()
            .map_init(
                || ev.worker(),
                |w, j| {
                    let mut out: Vec<(Vec<T>, Vec<T>)> =
                        (0..steps.len()).map(|_| (vec![zero.clone(); cols], vec![zero.clone(); cols])).collect();
                    let mut dst: Vec<(&mut [T], &mut [T])> =
                        out.iter_mut().map(|(g, e)| (g.as_mut_slice(), e.as_mut_slice())).collect();
                    run_row(w, j, &mut dst);
                    out
                },
            )
            .collect();
        grads = (0..steps.len()).map(|_| (Vec::with_capacity(rows * cols), Vec::with_capacity(rows * cols))).collect();
        for row in per_row {
            for ((g_all, e_all), (g, e)) in grads.iter_mut().zip(row) {
                g_all.extend(g);
                e_all.extend(e);
            }
        }
    }
    grads
        .into_iter()
        .map(|(grad, eff)| {
            let dead_zone = eff.iter().filter(|v| v.is_zero()).count();
            // Both vectors hold exactly rows * cols values.
            let grad = Array2::from_shape_vec((rows, cols), grad).unwrap_or_else(|_| unreachable!("shape matches"));
            let effective_step =
                Array2::from_shape_vec((rows, cols), eff).unwrap_or_else(|_| unreachable!("shape matches"));
            NumericGrad { grad, effective_step, dead_zone }
        })
        .collect()
}
