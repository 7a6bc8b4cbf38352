//! The fast path: only the perturbed sample's logits and loss are recomputed, each logit and the
//! loss total re-summed along one path of its pairwise tree ([`PairwiseTree::sum_with`]).
//!
//! Every other sample's loss is the same bits as in the naive path and the tree recomputes the
//! same partial sums, so the perturbed loss is bit-identical to evaluating it from scratch
//! ([`super::naive`]), at O(k log d + log n) operations per evaluation instead of O(n d k).
//!
//! The types hold the call order: an [`Evaluator`] (built once per check) makes a
//! [`RowWorker`] per thread, whose [`RowWorker::load`] gives the [`LoadedRow`] that evaluates
//! elements. After a worker exists, evaluating allocates nothing.

use super::plan::StepPlan;
use super::{effective_step, Setup};
use crate::exact::Decimal;
use crate::objective::cross_entropy::{reduce, row_loss, row_losses, RowScratch};
use crate::objective::Wrt;
use crate::scalar::Scalar;
use crate::sum::PairwiseTree;

/// What every worker of one check shares, computed once: the step plan, the reduction's factor,
/// the tree of the unperturbed per-sample losses and their reduced total, and the weight
/// transposed (d x k, so that input i's k weights are contiguous).
#[derive(Clone, Debug)]
pub struct Evaluator<'a, T: Scalar> {
    pub(super) setup: &'a Setup<'a, T>,
    pub(super) plan: StepPlan<T>,
    scale: Option<T>,
    losses: PairwiseTree<T>,
    base_total: T,
    weight_t: Vec<T>,
}

impl<'a, T: Scalar> Evaluator<'a, T> {
    /// The evaluator of `setup` for `steps` (at least one).
    pub fn new(setup: &'a Setup<'a, T>, steps: &[Decimal]) -> Self {
        let tr = setup.trained;
        let ctx = tr.ctx;
        let scale = setup.reduction.scale::<T>(tr.n(), ctx);
        let losses = PairwiseTree::new(&row_losses(tr.logits.view(), &tr.t, ctx));
        let mut base_total = T::zero(ctx);
        reduce(losses.sum(), scale.as_ref(), &mut base_total);
        Evaluator {
            setup,
            plan: StepPlan::new(setup.stencil, steps, ctx),
            scale,
            losses,
            base_total,
            weight_t: tr.weight.t().iter().cloned().collect(),
        }
    }

    /// The step plan.
    pub fn plan(&self) -> &StepPlan<T> {
        &self.plan
    }

    /// A worker with its own buffers (one per thread).
    pub fn worker(&self) -> RowWorker<'_, 'a, T> {
        RowWorker::new(self)
    }
}

/// The stage buffers of [`LoadedRow::fill`] for `Wrt::Input`, one slot per (element, stencil
/// point) of a row: the perturbed input, its k logits, its sample loss, its reduced loss.
#[derive(Clone, Debug)]
struct Stages<T> {
    x: Vec<T>,
    z: Vec<T>,
    leaf: Vec<T>,
    loss: Vec<T>,
}

/// How the perturbed value of a loaded row becomes that sample's logits.
#[derive(Clone, Debug)]
enum RowModel<T> {
    /// `Wrt::Input`: per class, the pairwise tree of the loaded row's products x[i] w[c, i].
    Input { products: Vec<PairwiseTree<T>>, stages: Stages<T> },
    /// `Wrt::Logits`: the row is the logits.
    Logits,
}

/// One thread's buffers for the fast path.
#[derive(Clone, Debug)]
pub struct RowWorker<'e, 'a, T: Scalar> {
    ev: &'e Evaluator<'a, T>,
    model: RowModel<T>,
    /// The loaded row of the perturbed tensor (one element changed while it is evaluated).
    row: Vec<T>,
    /// Scratch for building the product trees (d values).
    scratch: Vec<T>,
    /// One sample's logits.
    z: Vec<T>,
    /// The reduced loss at each stencil point.
    values: Vec<T>,
    leaf: T,
    total: T,
    tmp: T,
    saved: T,
    ws: RowScratch<T>,
}

impl<'e, 'a, T: Scalar> RowWorker<'e, 'a, T> {
    fn new(ev: &'e Evaluator<'a, T>) -> Self {
        let tr = ev.setup.trained;
        let ctx = tr.ctx;
        let zero = T::zero(ctx);
        let (d, k, points) = (tr.x.ncols(), tr.logits.ncols(), ev.plan.stencil().offsets.len());
        let model = match ev.setup.wrt {
            Wrt::Input => {
                let slots = d * points;
                RowModel::Input {
                    products: (0..k).map(|_| PairwiseTree::new(&vec![zero.clone(); d])).collect(),
                    stages: Stages {
                        x: vec![zero.clone(); slots],
                        z: vec![zero.clone(); slots * k],
                        leaf: vec![zero.clone(); slots],
                        loss: vec![zero.clone(); slots],
                    },
                }
            }
            Wrt::Logits => RowModel::Logits,
        };
        RowWorker {
            ev,
            model,
            row: vec![zero.clone(); ev.setup.wrt.tensor(tr).ncols()],
            scratch: vec![zero.clone(); d],
            z: vec![zero.clone(); k],
            values: vec![zero.clone(); points],
            leaf: zero.clone(),
            total: zero.clone(),
            tmp: zero.clone(),
            saved: zero,
            ws: RowScratch::new(ctx),
        }
    }

    /// Loads row j of the perturbed tensor (and, for the input, the row's product trees).
    pub fn load(&mut self, j: usize) -> LoadedRow<'_, 'e, 'a, T> {
        let tr = self.ev.setup.trained;
        for (r, v) in self.row.iter_mut().zip(self.ev.setup.wrt.tensor(tr).row(j)) {
            r.set(v);
        }
        if let RowModel::Input { products, .. } = &mut self.model {
            for (tree, wc) in products.iter_mut().zip(tr.weight.rows()) {
                for (s, (x, w)) in self.scratch.iter_mut().zip(self.row.iter().zip(wc)) {
                    s.set_mul(x, w);
                }
                tree.rebuild(&self.scratch);
            }
        }
        LoadedRow { w: self, j }
    }
}

/// A worker with row j loaded: evaluates that row's elements.
#[derive(Debug)]
pub struct LoadedRow<'w, 'e, 'a, T: Scalar> {
    w: &'w mut RowWorker<'e, 'a, T>,
    j: usize,
}

impl<T: Scalar> LoadedRow<'_, '_, '_, T> {
    /// The row's element i at step `s` of the plan: the numeric gradient into `grad`, the
    /// effective step (v + h) - v into `eff`, and into `flat` whether every stencil point's loss
    /// was the same value. Allocates nothing.
    pub fn element(&mut self, i: usize, s: usize, grad: &mut T, eff: &mut T, flat: &mut bool) {
        let (w, j) = (&mut *self.w, self.j);
        let ev = w.ev;
        let consts = ev.plan.step(s);
        effective_step(&w.row[i], &consts.h, &mut w.tmp, eff);
        w.saved.set(&w.row[i]); // the unperturbed value, restored below
        for (q, (&o, shift)) in ev.plan.stencil().offsets.iter().zip(&consts.shifts).enumerate() {
            if o == 0 {
                w.values[q].set(&ev.base_total);
                continue;
            }
            w.row[i].set_add(&w.saved, shift);
            // The perturbed sample's loss.
            let target = ev.setup.trained.t[j];
            match &w.model {
                RowModel::Input { products, .. } => {
                    let k = w.z.len();
                    let w_i = &ev.weight_t[i * k..(i + 1) * k];
                    perturbed_logits(products, w_i, &ev.setup.trained.bias, i, &w.row[i], &mut w.tmp, &mut w.z);
                    row_loss(&w.z, target, &mut w.ws, &mut w.leaf);
                }
                RowModel::Logits => row_loss(&w.row, target, &mut w.ws, &mut w.leaf),
            }
            ev.losses.sum_with(j, &w.leaf, &mut w.total);
            reduce(&w.total, ev.scale.as_ref(), &mut w.values[q]);
        }
        w.row[i].set(&w.saved);
        *flat = all_equal(&w.values);
        ev.plan.quotient(s, &w.values, &mut w.tmp, grad);
    }

    /// Every element of the row at step `s` into `grad`, `eff` and `flat` (one value per column).
    ///
    /// For `Wrt::Input` this runs in stages over the whole row (all perturbed inputs and logits,
    /// then all sample losses, then all totals, then the quotients) rather than element by
    /// element: every evaluation does exactly the operations of [`LoadedRow::element`], in the
    /// same order, so the results are the same bits; the stages only give the processor
    /// independent work to overlap (each evaluation alone is one long chain of dependent
    /// operations).
    pub fn fill(&mut self, s: usize, grad: &mut [T], eff: &mut [T], flat: &mut [bool]) {
        if matches!(self.w.model, RowModel::Logits) {
            for (i, ((g, e), f)) in grad.iter_mut().zip(eff.iter_mut()).zip(flat.iter_mut()).enumerate() {
                self.element(i, s, g, e, f);
            }
            return;
        }
        let w = &mut *self.w;
        let RowModel::Input { products, stages } = &mut w.model else {
            unreachable!("the logits model returned above")
        };
        let ev = w.ev;
        let tr = ev.setup.trained;
        let consts = ev.plan.step(s);
        let offsets = ev.plan.stencil().offsets;
        let (k, p) = (w.z.len(), offsets.len());
        // Perturbed inputs and their logits. Slot i * p + q holds point q of element i.
        let xs = stages.x.chunks_exact_mut(p);
        let zs = stages.z.chunks_exact_mut(p * k);
        for (i, (((x, w_i), xs), zs)) in w.row.iter().zip(ev.weight_t.chunks_exact(k)).zip(xs).zip(zs).enumerate() {
            for (((shift, &o), xp), z) in consts.shifts.iter().zip(offsets).zip(xs).zip(zs.chunks_exact_mut(k)) {
                if o != 0 {
                    xp.set_add(x, shift);
                    perturbed_logits(products, w_i, &tr.bias, i, xp, &mut w.tmp, z);
                }
            }
        }
        // Sample losses.
        let target = tr.t[self.j];
        for (leaves, zs) in stages.leaf.chunks_exact_mut(p).zip(stages.z.chunks_exact(p * k)) {
            for ((leaf, z), &o) in leaves.iter_mut().zip(zs.chunks_exact(k)).zip(offsets) {
                if o != 0 {
                    row_loss(z, target, &mut w.ws, leaf);
                }
            }
        }
        // Totals and their reduction.
        for (leaves, losses) in stages.leaf.chunks_exact(p).zip(stages.loss.chunks_exact_mut(p)) {
            for ((leaf, loss), &o) in leaves.iter().zip(losses).zip(offsets) {
                if o != 0 {
                    ev.losses.sum_with(self.j, leaf, &mut w.total);
                    reduce(&w.total, ev.scale.as_ref(), loss);
                } else {
                    loss.set(&ev.base_total);
                }
            }
        }
        // Effective steps and quotients, as in `element`.
        let losses = stages.loss.chunks_exact(p);
        for ((((g, e), f), x), values) in grad.iter_mut().zip(eff.iter_mut()).zip(flat).zip(&w.row).zip(losses) {
            effective_step(x, &consts.h, &mut w.tmp, e);
            *f = all_equal(values);
            ev.plan.quotient(s, values, &mut w.tmp, g);
        }
    }
}

/// Whether every value is the same number (the loss did not move across the stencil).
#[inline]
pub(super) fn all_equal<T: Scalar>(values: &[T]) -> bool {
    values.windows(2).all(|w| w[0].partial_cmp_val(&w[1]) == Some(std::cmp::Ordering::Equal))
}

/// The k logits with input i set to `xi`, into `z`: each class's product tree with leaf i
/// replaced by xi * w[c, i] (`w_i` holds input i's k weights), then + b[c], as in the forward
/// pass. `tmp` is scratch.
#[inline]
fn perturbed_logits<T: Scalar>(
    products: &[PairwiseTree<T>],
    w_i: &[T],
    bias: &[T],
    i: usize,
    xi: &T,
    tmp: &mut T,
    z: &mut [T],
) {
    for (((z, tree), w), b) in z.iter_mut().zip(products).zip(w_i).zip(bias) {
        tmp.set_mul(xi, w);
        tree.sum_with(i, tmp, z);
        z.add_assign(b);
    }
}
