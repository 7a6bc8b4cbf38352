//! The fast path: only what the perturbed value changes is recomputed, each logit and the loss
//! total re-summed along one path of its pairwise tree ([`PairwiseTree::sum_with`]) where one
//! path is all that changed.
//!
//! Every unchanged value is the same bits as in the naive path and the trees recompute the same
//! partial sums, so the perturbed loss is bit-identical to evaluating it from scratch
//! ([`super::naive`]). Per evaluation (n samples, d features, k classes):
//!
//! - **input** x[j, i]: one sample's k logits, each one tree path, its loss, one path of the loss
//!   tree: O(k log d + log n) instead of O(n d k).
//! - **weight** w[c, i]: one product in *every* sample's class-c logit. Each sample's class-c
//!   product tree gives the new logit along one path (O(log d)), every sample's loss is
//!   recomputed (O(k), the other k - 1 logits unchanged) and the n new losses are summed
//!   pairwise (O(n), all leaves changed): O(n (log d + k)) instead of O(n d k).
//! - **bias** `b[c]`: every sample's class-c logit is its product sum (kept from the unperturbed
//!   forward pass) plus the new `b[c]`: O(n k).
//! - **logits** z[j, c]: one sample's loss and one path of the loss tree.
//!
//! Memory beyond the trained state (values of the dtype): input, per worker, k trees over d
//! leaves and the stage buffers of a row (about (4 + 2 k) d values). Weight, per worker, n trees
//! over d leaves for the loaded class (one tree per sample: 4 d values and d indices each, about
//! four times the size of x), a working copy of the n x k logits and n losses; the trees of all
//! k classes (n k trees) are never held at once: a worker builds one class's trees when it loads
//! that row of W (O(n d), once per class). Bias: the n x k product sums, shared, and per worker
//! the same logits and losses. So memory stays a small multiple of the data: with 2 workers at
//! n = 1000, d = 784 (MNIST) the weight path holds about 8 copies of x.
//!
//! The types hold the call order: an [`Evaluator`] (built once per check) makes a
//! [`RowWorker`] per thread, whose [`RowWorker::load`] gives the [`LoadedRow`] that evaluates
//! elements. After a worker exists, evaluating allocates nothing.
//!
//! For a mixed dtype the fast path stores (rounds into S, [`Scalar::store`]) exactly where the
//! naive path does: every perturbed value, every logit after its C sum plus the bias, and the
//! effective step; the sample losses, the loss tree and the quotient stay in C.

use super::plan::StepPlan;
use super::Regime;
use super::{effective_step, Setup};
use crate::exact::Decimal;
use crate::objective::cross_entropy::{reduce, row_loss, row_losses, RowScratch};
use crate::objective::LinearTensor;
use crate::scalar::Scalar;
use crate::sum::{pairwise_reduce, PairwiseTree};

/// What every worker of one check shares, computed once: the step plan, the reduction's factor,
/// the tree of the unperturbed per-sample losses and their reduced total, the weight
/// transposed (d x k, so that input i's k weights are contiguous) and, for the bias, every
/// logit's product sum before the bias is added.
#[derive(Clone, Debug)]
pub struct Evaluator<'a, T: Scalar> {
    pub(super) setup: &'a Setup<'a, T>,
    pub(super) plan: StepPlan<T>,
    scale: Option<T>,
    losses: PairwiseTree<T>,
    base_total: T,
    weight_t: Vec<T>,
    /// `LinearTensor::Bias` only: the pairwise sum of x[j, i] w[c, i] over i, at j * k + c.
    product_sums: Vec<T>,
}

impl<'a, T: Scalar> Evaluator<'a, T> {
    /// The evaluator of `setup` for `steps` (at least one).
    pub fn new(setup: &'a Setup<'a, T>, steps: &[Decimal]) -> Self {
        Self::with_plan(setup, StepPlan::new(setup.stencil, steps, setup.trained.ctx))
    }

    /// The evaluator of `setup` with a step plan already made (its stencil must be the setup's).
    pub fn with_plan(setup: &'a Setup<'a, T>, plan: StepPlan<T>) -> Self {
        let tr = setup.trained;
        let ctx = tr.ctx;
        let scale = setup.reduction.scale::<T>(tr.n(), ctx);
        let losses = PairwiseTree::new(&row_losses(tr.logits.view(), &tr.t, ctx));
        let mut base_total = T::zero(ctx);
        reduce(losses.sum(), scale.as_ref(), &mut base_total);
        Evaluator {
            setup,
            plan,
            scale,
            losses,
            base_total,
            weight_t: tr.weight.t().iter().cloned().collect(),
            product_sums: if setup.wrt == LinearTensor::Bias { product_sums(tr) } else { Vec::new() },
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

/// The stage buffers of [`LoadedRow::fill`] for `LinearTensor::Input`, one slot per (element, stencil
/// point) of a row: the perturbed input, its k logits, its sample loss, its reduced loss; and per
/// element whether some point moved the input.
#[derive(Clone, Debug)]
struct Stages<T> {
    x: Vec<T>,
    z: Vec<T>,
    leaf: Vec<T>,
    loss: Vec<T>,
    moved: Vec<bool>,
}

/// How the perturbed value of a loaded row becomes the perturbed logits.
#[derive(Clone, Debug)]
enum RowModel<T> {
    /// `LinearTensor::Input`: per class, the pairwise tree of the loaded row's products x[i] w[c, i].
    Input { products: Vec<PairwiseTree<T>>, stages: Stages<T> },
    /// `LinearTensor::Weight`, with class c's row of W loaded: per sample j, the pairwise tree of its
    /// products x[j, i] w[c, i]; a working copy of the n x k logits (row-major; one class-c logit
    /// changed while a sample's loss is evaluated, then restored) and the n sample losses.
    Weight { products: Vec<PairwiseTree<T>>, logits: Vec<T>, losses: Vec<T> },
    /// `LinearTensor::Bias`: the working logits and sample losses, as for the weight.
    Bias { logits: Vec<T>, losses: Vec<T> },
    /// `LinearTensor::Logits`: the row is the logits.
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
            LinearTensor::Input => {
                let slots = d * points;
                RowModel::Input {
                    products: (0..k).map(|_| PairwiseTree::new(&vec![zero.clone(); d])).collect(),
                    stages: Stages {
                        x: vec![zero.clone(); slots],
                        z: vec![zero.clone(); slots * k],
                        leaf: vec![zero.clone(); slots],
                        loss: vec![zero.clone(); slots],
                        moved: vec![false; d],
                    },
                }
            }
            LinearTensor::Weight => RowModel::Weight {
                products: (0..tr.n()).map(|_| PairwiseTree::new(&vec![zero.clone(); d])).collect(),
                logits: tr.logits.iter().cloned().collect(),
                losses: vec![zero.clone(); tr.n()],
            },
            LinearTensor::Bias => {
                RowModel::Bias { logits: tr.logits.iter().cloned().collect(), losses: vec![zero.clone(); tr.n()] }
            }
            LinearTensor::Logits => RowModel::Logits,
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

    /// Loads row j of the perturbed tensor (and, for the input, the row's product trees; for the
    /// weight, row j is class j, and every sample's product tree of that class).
    pub fn load(&mut self, j: usize) -> LoadedRow<'_, 'e, 'a, T> {
        let tr = self.ev.setup.trained;
        for (r, v) in self.row.iter_mut().zip(self.ev.setup.wrt.tensor(tr).row(j)) {
            r.set(v);
        }
        match &mut self.model {
            RowModel::Input { products, .. } => {
                for (tree, wc) in products.iter_mut().zip(tr.weight.rows()) {
                    for (s, (x, w)) in self.scratch.iter_mut().zip(self.row.iter().zip(wc)) {
                        s.set_mul(x, w);
                    }
                    tree.rebuild(&self.scratch);
                }
            }
            RowModel::Weight { products, .. } => {
                for (tree, xs) in products.iter_mut().zip(tr.x.rows()) {
                    for (s, (x, w)) in self.scratch.iter_mut().zip(xs.iter().zip(&self.row)) {
                        s.set_mul(x, w);
                    }
                    tree.rebuild(&self.scratch);
                }
            }
            RowModel::Bias { .. } | RowModel::Logits => {}
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
    /// effective step (v + h) - v into `eff`, and its regime into `regime` (input dead when no
    /// stencil point moved v, loss flat when one did but every point's loss was the same value).
    /// Allocates nothing.
    pub fn element(&mut self, i: usize, s: usize, grad: &mut T, eff: &mut T, regime: &mut Regime) {
        let (w, j) = (&mut *self.w, self.j);
        let ev = w.ev;
        let consts = ev.plan.step(s);
        effective_step(&w.row[i], &consts.h, &mut w.tmp, eff);
        w.saved.set(&w.row[i]); // the unperturbed value, restored below
        let mut moved = false;
        for (q, (&o, shift)) in ev.plan.stencil().offsets.iter().zip(&consts.shifts).enumerate() {
            if o == 0 {
                w.values[q].set(&ev.base_total);
                continue;
            }
            w.row[i].set_add(&w.saved, shift);
            w.row[i].store();
            moved |= !same(&w.row[i], &w.saved);
            // The perturbed sample's loss (input, logits), or every sample's (weight, bias).
            let tr = ev.setup.trained;
            let k = w.z.len();
            match &mut w.model {
                RowModel::Input { products, .. } => {
                    let w_i = &ev.weight_t[i * k..(i + 1) * k];
                    perturbed_logits(products, w_i, &tr.bias, i, &w.row[i], &mut w.z);
                    row_loss(&w.z, tr.t[j], &mut w.ws, &mut w.leaf);
                }
                RowModel::Logits => row_loss(&w.row, tr.t[j], &mut w.ws, &mut w.leaf),
                RowModel::Weight { products, logits, losses } => {
                    // Row j of W is class j: w[j, i] changed, so every sample's class-j logit did.
                    let (c, wci) = (j, &w.row[i]);
                    let xs = tr.x.column(i);
                    for (s, ((tree, x), loss)) in products.iter().zip(xs).zip(losses.iter_mut()).enumerate() {
                        let z = &mut logits[s * k..(s + 1) * k];
                        w.tmp.set_mul(x, wci);
                        tree.sum_with(i, &w.tmp, &mut z[c]);
                        z[c].add_assign(&tr.bias[c]);
                        z[c].store();
                        row_loss(z, tr.t[s], &mut w.ws, loss);
                        z[c].set(&tr.logits[[s, c]]);
                    }
                    pairwise_reduce(losses);
                    reduce(&losses[0], ev.scale.as_ref(), &mut w.values[q]);
                    continue;
                }
                RowModel::Bias { logits, losses } => {
                    // b[i] changed: every sample's class-i logit is its product sum plus b[i].
                    let (c, bc) = (i, &w.row[i]);
                    for (s, loss) in losses.iter_mut().enumerate() {
                        let z = &mut logits[s * k..(s + 1) * k];
                        z[c].set_add(&ev.product_sums[s * k + c], bc);
                        z[c].store();
                        row_loss(z, tr.t[s], &mut w.ws, loss);
                        z[c].set(&tr.logits[[s, c]]);
                    }
                    pairwise_reduce(losses);
                    reduce(&losses[0], ev.scale.as_ref(), &mut w.values[q]);
                    continue;
                }
            }
            ev.losses.sum_with(j, &w.leaf, &mut w.total);
            reduce(&w.total, ev.scale.as_ref(), &mut w.values[q]);
        }
        w.row[i].set(&w.saved);
        *regime = Regime::of(!moved, all_equal(&w.values));
        ev.plan.quotient(s, &w.values, &mut w.tmp, grad);
    }

    /// Every element of the row at step `s` into `grad`, `eff` and `regime` (one value per column).
    ///
    /// For `LinearTensor::Input` this runs in stages over the whole row (all perturbed inputs and logits,
    /// then all sample losses, then all totals, then the quotients) rather than element by
    /// element: every evaluation does exactly the operations of [`LoadedRow::element`], in the
    /// same order, so the results are the same bits; the stages only give the processor
    /// independent work to overlap (each evaluation alone is one long chain of dependent
    /// operations). The other tensors run element by element (for the weight and bias, each
    /// evaluation is already n independent sample losses).
    pub fn fill(&mut self, s: usize, grad: &mut [T], eff: &mut [T], regime: &mut [Regime]) {
        if !matches!(self.w.model, RowModel::Input { .. }) {
            for (i, ((g, e), f)) in grad.iter_mut().zip(eff.iter_mut()).zip(regime.iter_mut()).enumerate() {
                self.element(i, s, g, e, f);
            }
            return;
        }
        let w = &mut *self.w;
        let RowModel::Input { products, stages } = &mut w.model else {
            unreachable!("the other models returned above")
        };
        let ev = w.ev;
        let tr = ev.setup.trained;
        let consts = ev.plan.step(s);
        let offsets = ev.plan.stencil().offsets;
        let (k, p) = (w.z.len(), offsets.len());
        // Perturbed inputs and their logits. Slot i * p + q holds point q of element i.
        let xs = stages.x.chunks_exact_mut(p);
        let zs = stages.z.chunks_exact_mut(p * k);
        let rows = w.row.iter().zip(ev.weight_t.chunks_exact(k)).zip(xs).zip(zs).zip(stages.moved.iter_mut());
        for (i, ((((x, w_i), xs), zs), moved)) in rows.enumerate() {
            *moved = false;
            for (((shift, &o), xp), z) in consts.shifts.iter().zip(offsets).zip(xs).zip(zs.chunks_exact_mut(k)) {
                if o != 0 {
                    xp.set_add(x, shift);
                    xp.store();
                    *moved |= !same(xp, x);
                    perturbed_logits(products, w_i, &tr.bias, i, xp, z);
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
        let losses = stages.loss.chunks_exact(p).zip(&stages.moved);
        for ((((g, e), r), x), (values, &moved)) in
            grad.iter_mut().zip(eff.iter_mut()).zip(regime).zip(&w.row).zip(losses)
        {
            effective_step(x, &consts.h, &mut w.tmp, e);
            *r = Regime::of(!moved, all_equal(values));
            ev.plan.quotient(s, values, &mut w.tmp, g);
        }
    }
}

/// Whether every value is the same number (the loss did not move across the stencil).
#[inline]
pub(crate) fn all_equal<T: Scalar>(values: &[T]) -> bool {
    values.windows(2).all(|w| same(&w[0], &w[1]))
}

/// Whether two values are the same number (a perturbed input that did not move, two equal losses).
#[inline]
pub(crate) fn same<T: Scalar>(a: &T, b: &T) -> bool {
    a.partial_cmp_val(b) == Some(std::cmp::Ordering::Equal)
}

/// The k logits with input i set to `xi`, into `z`: each class's product tree with leaf i
/// replaced by xi * w[c, i] (`w_i` holds input i's k weights), then + b[c], as in the forward
/// pass. The classes' trees are walked side by side ([`PairwiseTree::sums_with`]): the same
/// operations in each class's own order, but k independent chains for the processor to overlap
/// (the emulated formats gain most: their rounding makes each addition a long chain).
#[inline]
fn perturbed_logits<T: Scalar>(products: &[PairwiseTree<T>], w_i: &[T], bias: &[T], i: usize, xi: &T, z: &mut [T]) {
    for (z, w) in z.iter_mut().zip(w_i) {
        z.set_mul(xi, w);
    }
    PairwiseTree::sums_with(products, i, z);
    for (z, b) in z.iter_mut().zip(bias) {
        z.add_assign(b);
        z.store();
    }
}

/// Every logit's product sum before the bias, at j * k + c: the pairwise sum of x[j, i] w[c, i]
/// over i, exactly as the forward pass forms it before adding b[c].
fn product_sums<T: Scalar>(tr: &crate::train::Trained<T>) -> Vec<T> {
    let zero = T::zero(tr.ctx);
    let mut scratch = vec![zero.clone(); tr.x.ncols()];
    let mut out = Vec::with_capacity(tr.logits.len());
    for xj in tr.x.rows() {
        for wc in tr.weight.rows() {
            for (s, (x, w)) in scratch.iter_mut().zip(xj.iter().zip(wc)) {
                s.set_mul(x, w);
            }
            pairwise_reduce(&mut scratch);
            out.push(scratch[0].clone());
        }
    }
    out
}
