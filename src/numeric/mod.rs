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

mod ad_fast;
pub mod auto;
pub mod cost;
pub mod exotic;
pub mod fast;
pub mod generic;
pub mod naive;
pub mod plan;
mod regime;

pub use fast::{Evaluator, LoadedRow, RowWorker};
pub use plan::StepPlan;
pub use regime::Regime;

use crate::error::Result;
use crate::exact::Decimal;
use crate::method::Stencil;
use crate::objective::{LinearTensor, Reduction};
use crate::scalar::Scalar;
use crate::train::Trained;
use crate::watch::Watch;
use ndarray::Array2;
use rayon::prelude::*;

/// A numeric gradient with its effective steps and the regime of every element.
#[derive(Clone, Debug)]
pub struct NumericGrad<T> {
    /// The finite-difference gradient.
    pub grad: Array2<T>,
    /// The effective step (v + h) - v of every element, in the dtype.
    pub effective_step: Array2<T>,
    /// Each element's regime: the input did not move, the loss did not move, or neither.
    pub regime: Array2<Regime>,
    /// How many elements no stencil point moved (v + o_k h == v at every point: the input did not
    /// move; the numeric gradient is exactly 0).
    pub dead_zone: usize,
    /// How many elements moved but every stencil point's loss was the same value (the loss is
    /// flat at this step: the numeric gradient is exactly 0, every stencil subtracting paired
    /// points before weighting them).
    pub loss_flat: usize,
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
    pub wrt: LinearTensor,
}

impl<'a, T: Scalar> Setup<'a, T> {
    /// Central differences (the check's default scheme) of `trained`'s loss with respect to `wrt`.
    pub fn central(trained: &'a Trained<T>, reduction: Reduction, wrt: LinearTensor) -> Self {
        Setup { trained, reduction, stencil: crate::method::Scheme::Central.stencil(), wrt }
    }
}

/// One row's slots of a step's outputs: gradient, effective steps, regimes.
type Slots<'a, T> = (&'a mut [T], &'a mut [T], &'a mut [Regime]);

/// A step's outputs, row-major, as they are filled.
struct Outputs<T> {
    grad: Vec<T>,
    eff: Vec<T>,
    regime: Vec<Regime>,
}

impl<T: Scalar> Outputs<T> {
    fn new(len: usize, zero: &T) -> Self {
        Outputs { grad: vec![zero.clone(); len], eff: vec![zero.clone(); len], regime: vec![Regime::Finite; len] }
    }
    fn with_capacity(len: usize) -> Self {
        Outputs { grad: Vec::with_capacity(len), eff: Vec::with_capacity(len), regime: Vec::with_capacity(len) }
    }
    fn slots(&mut self, span: std::ops::Range<usize>) -> Slots<'_, T> {
        (&mut self.grad[span.clone()], &mut self.eff[span.clone()], &mut self.regime[span])
    }
    /// The numeric gradient of a rows x cols tensor, with each element's regime.
    fn finish(self, rows: usize, cols: usize) -> NumericGrad<T> {
        let regime = self.regime;
        let dead_zone = regime.iter().filter(|r| **r == Regime::InputDead).count();
        let loss_flat = regime.iter().filter(|r| **r == Regime::LossFlat).count();
        // Every vector holds exactly rows * cols values.
        let shape = |v| Array2::from_shape_vec((rows, cols), v).unwrap_or_else(|_| unreachable!("shape matches"));
        NumericGrad {
            grad: shape(self.grad),
            effective_step: shape(self.eff),
            regime: Array2::from_shape_vec((rows, cols), regime).unwrap_or_else(|_| unreachable!("shape matches")),
            dead_zone,
            loss_flat,
        }
    }
}

/// The effective step (x + h) - x into `eff` (0 when the input does not move; `tmp` is scratch).
/// For a mixed dtype x + h and the difference are stored values, rounded into S.
#[inline]
pub fn effective_step<T: Scalar>(x: &T, h: &T, tmp: &mut T, eff: &mut T) {
    tmp.set_add(x, h);
    tmp.store();
    eff.set_sub(tmp, x);
    eff.store();
}

/// Checks with fewer sample-loss evaluations per step than this (elements, times n for the weight
/// and bias, whose elements each re-evaluate every sample) run on the calling thread (same
/// results either way): below it, waking rayon's workers costs more than the check.
pub const SEQUENTIAL_BELOW: usize = 1024;

/// The numeric gradient for step `h`, by the fast path or (with `naive`) from scratch.
pub fn numeric_grad<T: Scalar>(setup: &Setup<T>, h: &Decimal, naive: bool) -> NumericGrad<T> {
    crate::watch::unwatched(|watch| numeric_grads(setup, std::slice::from_ref(h), naive, watch))
        .pop()
        .unwrap_or_else(|| unreachable!("one step"))
}

/// The numeric gradients for several steps (one per step, in order), by the fast path or (with
/// `naive`) from scratch. A small check runs on one worker; a large one spreads rows over the
/// current rayon pool. The result does not depend on either. The watch is checked before every
/// row and advanced by
/// [`crate::numeric::cost::numeric_row_ops`] (times the dtype's cost) after each. Once the watch is
/// stopped, the rows not yet started are skipped.
///
/// # Errors
/// [`crate::Error::Interrupted`] naming a row that was not computed, when the watch was stopped.
///
/// # Panics
/// When `setup.stencil` is the cost pattern of a scheme that is not a stencil (complex step,
/// dual numbers, Ridders: [`crate::method::Scheme::is_stencil`]); those are evaluated by
/// [`crate::numeric::exotic`], and evaluating their pattern here would give wrong numbers.
pub fn numeric_grads<T: Scalar>(
    setup: &Setup<T>,
    steps: &[Decimal],
    naive: bool,
    watch: &Watch,
) -> Result<Vec<NumericGrad<T>>> {
    assert!(
        setup.stencil.scheme.is_stencil(),
        "{} is not a finite-difference stencil: use gradlab::numeric::exotic for it",
        setup.stencil.scheme
    );
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    run(setup, Evaluator::new(setup, steps), steps.len(), false, naive, watch)
}

/// The numeric gradient of `setup` with a step per element, `steps[j * cols + i]` for element
/// (j, i) (each already in the dtype), by the fast path or (with `naive`) from scratch, with
/// identical results. The watch as in [`numeric_grads`].
///
/// # Errors
/// [`crate::Error::Interrupted`] naming a row that was not computed, when the watch was stopped.
pub fn per_element_grad<T: Scalar>(
    setup: &Setup<T>,
    steps: &[T],
    naive: bool,
    watch: &Watch,
) -> Result<NumericGrad<T>> {
    let plan = StepPlan::from_values(setup.stencil, steps.to_vec(), setup.trained.ctx);
    let mut out = run(setup, Evaluator::with_plan(setup, plan), 1, true, naive, watch)?;
    Ok(out.pop().unwrap_or_else(|| unreachable!("one gradient")))
}

/// The row loop of [`numeric_grads`] and [`per_element_grad`]: `outputs`
/// gradients, one per step of the plan, or (with `own_steps`) one whose element (j, i) takes
/// step j * cols + i of the plan.
fn run<T: Scalar>(
    setup: &Setup<T>,
    ev: Evaluator<T>,
    outputs: usize,
    own_steps: bool,
    naive: bool,
    watch: &Watch,
) -> Result<Vec<NumericGrad<T>>> {
    let (rows, cols) = setup.wrt.tensor(setup.trained).dim();
    // A weight or bias element re-evaluates every sample's loss, an input or logits element one.
    let per_element =
        if matches!(setup.wrt, LinearTensor::Weight | LinearTensor::Bias) { setup.trained.n() } else { 1 };
    let zero = T::zero(setup.trained.ctx);
    let tr = setup.trained;
    let shape = crate::cost::Shape { n: tr.n(), d: tr.x.ncols(), k: tr.logits.ncols() };
    let row_ops = crate::numeric::cost::numeric_row_ops(shape, &setup.stencil, outputs, setup.wrt, naive);
    let row_units = crate::cost::units::<T>(tr.ctx, row_ops);
    let stopped = |j: usize| move || format!("row {} of {rows} of the numeric gradient", j + 1);
    // One row at a time, every step on it: the row and its product trees are loaded once.
    // `dst` holds, per step, the row's slots of the gradient, the effective steps and the
    // regimes.
    let run_row = |w: &mut RowWorker<T>, j: usize, dst: &mut [Slots<T>]| {
        if own_steps {
            let (g, e, f) = &mut dst[0];
            let mut row = (!naive).then(|| w.load(j));
            for (i, ((g, e), f)) in g.iter_mut().zip(e.iter_mut()).zip(f.iter_mut()).enumerate() {
                match &mut row {
                    Some(row) => row.element(i, j * cols + i, g, e, f),
                    None => naive::element(&ev, j, i, j * cols + i, g, e, f),
                }
            }
        } else if naive {
            for (s, (g, e, f)) in dst.iter_mut().enumerate() {
                for (i, ((g, e), f)) in g.iter_mut().zip(e.iter_mut()).zip(f.iter_mut()).enumerate() {
                    naive::element(&ev, j, i, s, g, e, f);
                }
            }
        } else {
            let mut row = w.load(j);
            for (s, (g, e, f)) in dst.iter_mut().enumerate() {
                row.fill(s, g, e, f);
            }
        }
        watch.advance(row_units);
    };
    let mut grads: Vec<Outputs<T>>;
    if rows * cols * per_element < SEQUENTIAL_BELOW || rayon::current_num_threads() == 1 {
        // One worker, results written in place.
        grads = (0..outputs).map(|_| Outputs::new(rows * cols, &zero)).collect();
        let mut w = ev.worker();
        for j in 0..rows {
            watch.checkpoint(stopped(j))?;
            let span = j * cols..(j + 1) * cols;
            let mut dst: Vec<Slots<T>> = grads.iter_mut().map(|o| o.slots(span.clone())).collect();
            run_row(&mut w, j, &mut dst);
        }
    } else {
        // A stopped watch makes every row not yet started return `None` at once.
        let per_row: Vec<Option<Vec<Outputs<T>>>> = (0..rows)
            .into_par_iter()
            .map_init(
                || ev.worker(),
                |w, j| {
                    if watch.stop_requested() {
                        return None;
                    }
                    let mut out: Vec<Outputs<T>> = (0..outputs).map(|_| Outputs::new(cols, &zero)).collect();
                    let mut dst: Vec<Slots<T>> = out.iter_mut().map(|o| o.slots(0..cols)).collect();
                    run_row(w, j, &mut dst);
                    Some(out)
                },
            )
            .collect();
        if let Some(j) = per_row.iter().position(Option::is_none) {
            return Err(crate::Error::Interrupted(stopped(j)()));
        }
        grads = (0..outputs).map(|_| Outputs::with_capacity(rows * cols)).collect();
        for row in per_row.into_iter().flatten() {
            for (all, one) in grads.iter_mut().zip(row) {
                all.grad.extend(one.grad);
                all.eff.extend(one.eff);
                all.regime.extend(one.regime);
            }
        }
    }
    Ok(grads.into_iter().map(|o| o.finish(rows, cols)).collect())
}
