//! Numeric gradients: every element perturbed by every stencil point, the whole loss evaluated.
//!
//! Two paths give bit-identical results:
//! - **naive**: the perturbed loss is evaluated from scratch, all n samples, exactly as a user's
//!   code would;
//! - **fast** (default): only the perturbed sample's logits and loss are recomputed: each logit
//!   and the total are re-summed along one path of their pairwise trees ([`LossTree::sum_with`]). Every other sample's loss is
//!   the same bits as in the naive path, and the tree recomputes the same partial sums, so the
//!   total is identical. Cost per element: O(d k + log n) instead of O(n d k).
//!
//! Rows are processed in parallel (rayon), each worker with its own buffers; every element's
//! arithmetic is sequential, so results do not depend on the thread count. After a worker's
//! buffers exist, evaluating an element allocates nothing: gradlab's own arithmetic works in
//! place, and the temporaries MPFR's `exp` and `log` allocate internally are recycled by
//! [`crate::gmp_pool`] (installed by the gradlab binaries; tests/no_alloc.rs counts both heaps).

use crate::exact::Decimal;
use crate::loss::{pairwise_sum, reduce, row_loss, row_losses, LossTree, Reduction, RowScratch};
use crate::model::logits;
use crate::scalar::Scalar;
use crate::stencil::Stencil;
use crate::train::Trained;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use std::fmt;

/// What the gradient is taken with respect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wrt {
    /// The inputs x (n x d).
    Input,
    /// The logits (n x k) of the final forward pass, as in the seed's second check.
    Logits,
}

impl Wrt {
    /// Parses `input` or `logits`.
    ///
    /// # Errors
    /// [`crate::Error::Value`] for anything else.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.trim() {
            "input" => Ok(Wrt::Input),
            "logits" => Ok(Wrt::Logits),
            _ => Err(crate::Error::value("--wrt", s, "input or logits")),
        }
    }
    /// `input` or `logits`.
    pub fn name(self) -> &'static str {
        match self {
            Wrt::Input => "input",
            Wrt::Logits => "logits",
        }
    }
}

impl fmt::Display for Wrt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A numeric gradient with its effective steps.
#[derive(Clone, Debug)]
pub struct NumericGrad<T> {
    /// The finite-difference gradient.
    pub grad: Array2<T>,
    /// The effective step (v + h) - v of every element, in the dtype.
    pub effective_step: Array2<T>,
    /// How many elements have effective step 0 (the dead zone: v + h == v).
    pub dead_zone: usize,
}

/// Everything a numeric gradient needs, shared by all workers.
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

/// One worker's buffers for the fast path.
#[derive(Clone, Debug)]
pub struct Worker<'a, T: Scalar> {
    setup: &'a Setup<'a, T>,
    /// h * o_k for each stencil point.
    steps: Vec<T>,
    /// c_k as dtype values.
    coeffs: Vec<T>,
    /// D * h, rounded.
    denom_h: T,
    /// h, rounded.
    h: T,
    scale: Option<T>,
    base_total: T,
    tree: LossTree<T>,
    row: Vec<T>,
    z: Vec<T>,
    /// For `Wrt::Input`: per class, the pairwise tree of the loaded row's products x[i] w[c, i].
    products: Vec<LossTree<T>>,
    /// Scratch for building the product trees (d values).
    scratch: Vec<T>,
    /// The weight transposed (d x k, row-major): input i's k weights are contiguous.
    weight_t: Vec<T>,
    values: Vec<T>,
    leaf: T,
    tmp: T,
    acc: T,
    ws: RowScratch<T>,
    /// Per step given to [`Worker::with_steps`]: h, h * o_k for each point, D * h (all rounded),
    /// one run of `points + 2` values per step.
    plans: Vec<T>,
    /// The perturbed total before the reduction.
    total: T,
    /// Batched fast path ([`Worker::fill_row`], `Wrt::Input`), one slot per (element, stencil
    /// point) of a row: the perturbed input, its k logits, its sample loss, its reduced loss.
    batch_x: Vec<T>,
    batch_z: Vec<T>,
    batch_leaf: Vec<T>,
    batch_loss: Vec<T>,
}

impl<'a, T: Scalar> Worker<'a, T> {
    /// A worker for step `h` (rounded once into the dtype).
    pub fn new(setup: &'a Setup<'a, T>, h: &Decimal) -> Self {
        Self::with_steps(setup, std::slice::from_ref(h))
    }

    /// A worker prepared for every step in `steps` (at least one), set to the first; switch with
    /// [`Worker::use_step`].
    pub fn with_steps(setup: &'a Setup<'a, T>, steps: &[Decimal]) -> Self {
        let tr = setup.trained;
        let ctx = tr.x[[0, 0]].ctx();
        let st = setup.stencil;
        let coeffs = st.coeffs.iter().map(|&c| T::from_int(c, ctx)).collect();
        let scale = setup.reduction.scale::<T>(tr.x.nrows(), ctx);
        let base_leaves = row_losses(tr.logits.view(), &tr.t);
        let tree = LossTree::new(&base_leaves);
        let mut base_total = T::zero(ctx);
        reduce(tree.sum(), scale.as_ref(), &mut base_total);
        let width = match setup.wrt {
            Wrt::Input => tr.x.ncols(),
            Wrt::Logits => tr.logits.ncols(),
        };
        let scratch = vec![T::zero(ctx); tr.x.ncols()];
        let products = match setup.wrt {
            Wrt::Input => (0..tr.logits.ncols()).map(|_| LossTree::new(&scratch)).collect(),
            Wrt::Logits => Vec::new(),
        };
        let mut w = Worker {
            setup,
            steps: vec![T::zero(ctx); st.offsets.len()],
            coeffs,
            denom_h: T::zero(ctx),
            h: T::zero(ctx),
            scale,
            base_total,
            tree,
            row: vec![T::zero(ctx); width],
            z: vec![T::zero(ctx); tr.logits.ncols()],
            products,
            scratch,
            weight_t: tr.weight.t().iter().cloned().collect(),
            values: vec![T::zero(ctx); st.offsets.len()],
            leaf: T::zero(ctx),
            tmp: T::zero(ctx),
            acc: T::zero(ctx),
            ws: RowScratch::new(ctx),
            plans: Vec::with_capacity(steps.len() * (st.offsets.len() + 2)),
            total: T::zero(ctx),
            batch_x: Vec::new(),
            batch_z: Vec::new(),
            batch_leaf: Vec::new(),
            batch_loss: Vec::new(),
        };
        if setup.wrt == Wrt::Input {
            let slots = width * st.offsets.len();
            w.batch_x = vec![T::zero(ctx); slots];
            w.batch_z = vec![T::zero(ctx); slots * tr.logits.ncols()];
            w.batch_leaf = vec![T::zero(ctx); slots];
            w.batch_loss = vec![T::zero(ctx); slots];
        }
        for h in steps {
            w.set_step(h);
            w.plans.push(w.h.clone());
            w.plans.extend(w.steps.iter().cloned());
            w.plans.push(w.denom_h.clone());
        }
        w.use_step(0);
        w
    }

    /// Switches to the `s`-th step given to [`Worker::with_steps`] (no rounding, no allocation).
    pub fn use_step(&mut self, s: usize) {
        let len = self.steps.len() + 2;
        let plan = &self.plans[s * len..(s + 1) * len];
        self.h.set(&plan[0]);
        for (dst, src) in self.steps.iter_mut().zip(&plan[1..len - 1]) {
            dst.set(src);
        }
        self.denom_h.set(&plan[len - 1]);
    }

    /// Switches the worker to step `h` (rounded once into the dtype); everything else is kept.
    pub fn set_step(&mut self, h: &Decimal) {
        let ctx = self.acc.ctx();
        self.h = T::from_rational(h.value(), ctx);
        let st = self.setup.stencil;
        for (s, &o) in self.steps.iter_mut().zip(st.offsets) {
            s.set_mul(&self.h, &T::from_int(o, ctx));
        }
        self.denom_h.set_mul(&self.h, &T::from_int(st.denom, ctx));
    }

    /// Loads row j of the perturbed quantity into the row buffer (and, for the input, the row's
    /// product trees).
    pub fn load_row(&mut self, j: usize) {
        let tr = self.setup.trained;
        let src = match self.setup.wrt {
            Wrt::Input => tr.x.row(j),
            Wrt::Logits => tr.logits.row(j),
        };
        for (r, v) in self.row.iter_mut().zip(src) {
            r.set(v);
        }
        if self.setup.wrt == Wrt::Input {
            for (c, tree) in self.products.iter_mut().enumerate() {
                for (s, (x, w)) in self.scratch.iter_mut().zip(self.row.iter().zip(tr.weight.row(c))) {
                    s.set_mul(x, w);
                }
                tree.rebuild(&self.scratch);
            }
        }
    }

    /// The reduced loss with the current row buffer as sample j, element i changed, into
    /// `values[out_index]` (fast path: O(k log d + log n) operations; the trees are only read).
    fn perturbed_loss(&mut self, j: usize, i: usize, out_index: usize) {
        let tr = self.setup.trained;
        match self.setup.wrt {
            Wrt::Input => {
                let k = self.z.len();
                let w_i = &self.weight_t[i * k..(i + 1) * k];
                perturbed_logits(&self.products, w_i, &tr.bias, i, &self.row[i], &mut self.tmp, &mut self.z);
                row_loss(&self.z, tr.t[j], &mut self.ws, &mut self.leaf);
            }
            Wrt::Logits => row_loss(&self.row, tr.t[j], &mut self.ws, &mut self.leaf),
        }
        self.tree.sum_with(j, &self.leaf, &mut self.total);
        reduce(&self.total, self.scale.as_ref(), &mut self.values[out_index]);
    }

    /// Element (j, i) of the numeric gradient and its effective step, assuming row j is loaded.
    /// Allocates nothing.
    pub fn element(&mut self, j: usize, i: usize, grad: &mut T, eff: &mut T) {
        effective_step(&self.row[i], &self.h, &mut self.tmp, eff);
        self.acc.set(&self.row[i]); // the unperturbed value, restored below
        for k in 0..self.steps.len() {
            if self.setup.stencil.offsets[k] == 0 {
                self.values[k].set(&self.base_total);
                continue;
            }
            self.row[i].set_add(&self.acc, &self.steps[k]);
            self.perturbed_loss(j, i, k);
        }
        self.row[i].set(&self.acc);
        self.combine(grad);
    }

    /// Every element of the loaded row j at the current step, into `grad` and `eff` (one value
    /// per column), by the fast path or (with `naive`) from scratch.
    ///
    /// For `Wrt::Input` the fast path runs in stages over the whole row (all perturbed inputs and
    /// logits, then all sample losses, then all totals, then the quotients) rather than element by
    /// element: every evaluation does exactly the operations of [`Worker::element`], in the same
    /// order, so the results are the same bits; the stages only give the processor independent
    /// work to overlap (each evaluation alone is one long chain of dependent operations).
    pub fn fill_row(&mut self, j: usize, naive: bool, grad: &mut [T], eff: &mut [T]) {
        if naive || self.setup.wrt == Wrt::Logits {
            for (i, (g, e)) in grad.iter_mut().zip(eff.iter_mut()).enumerate() {
                if naive {
                    self.element_naive(j, i, g, e);
                } else {
                    self.element(j, i, g, e);
                }
            }
            return;
        }
        let tr = self.setup.trained;
        let offsets = self.setup.stencil.offsets;
        let (k, p) = (self.z.len(), offsets.len());
        // Perturbed inputs and their logits: each class's product tree with input i changed,
        // then + b. Slot i * p + q holds point q of element i.
        let xs = self.batch_x.chunks_exact_mut(p);
        let zs = self.batch_z.chunks_exact_mut(p * k);
        for (i, (((x, w_i), xs), zs)) in self.row.iter().zip(self.weight_t.chunks_exact(k)).zip(xs).zip(zs).enumerate()
        {
            for (((step, &o), xp), z) in self.steps.iter().zip(offsets).zip(xs).zip(zs.chunks_exact_mut(k)) {
                if o == 0 {
                    continue;
                }
                xp.set_add(x, step);
                perturbed_logits(&self.products, w_i, &tr.bias, i, xp, &mut self.tmp, z);
            }
        }
        // Sample losses.
        let target = tr.t[j];
        for (leaves, zs) in self.batch_leaf.chunks_exact_mut(p).zip(self.batch_z.chunks_exact(p * k)) {
            for ((leaf, z), &o) in leaves.iter_mut().zip(zs.chunks_exact(k)).zip(offsets) {
                if o != 0 {
                    row_loss(z, target, &mut self.ws, leaf);
                }
            }
        }
        // Totals and their reduction.
        for (leaves, losses) in self.batch_leaf.chunks_exact(p).zip(self.batch_loss.chunks_exact_mut(p)) {
            for ((leaf, loss), &o) in leaves.iter().zip(losses).zip(offsets) {
                if o != 0 {
                    self.tree.sum_with(j, leaf, &mut self.total);
                    reduce(&self.total, self.scale.as_ref(), loss);
                } else {
                    loss.set(&self.base_total);
                }
            }
        }
        // Effective steps and quotients, as in `element`.
        let losses = self.batch_loss.chunks_exact(p);
        for (((g, e), x), values) in grad.iter_mut().zip(eff.iter_mut()).zip(&self.row).zip(losses) {
            effective_step(x, &self.h, &mut self.tmp, e);
            quotient(&self.coeffs, values, &self.denom_h, &mut self.tmp, g);
        }
    }

    /// (sum_k c_k L_k) / (D h) into `grad`, from `values`.
    fn combine(&mut self, grad: &mut T) {
        quotient(&self.coeffs, &self.values, &self.denom_h, &mut self.tmp, grad);
    }

    /// Element (j, i) by the naive path: the whole loss re-evaluated from scratch for each point.
    pub fn element_naive(&mut self, j: usize, i: usize, grad: &mut T, eff: &mut T) {
        let tr = self.setup.trained;
        effective_step(&self.row[i], &self.h, &mut self.tmp, eff);
        let mut x = tr.x.clone();
        let mut z = tr.logits.clone();
        for k in 0..self.steps.len() {
            let (base, target) = match self.setup.wrt {
                Wrt::Input => (&tr.x, &mut x),
                Wrt::Logits => (&tr.logits, &mut z),
            };
            target[[j, i]].set_add(&base[[j, i]], &self.steps[k]);
            if self.setup.stencil.offsets[k] == 0 {
                target[[j, i]].set(&base[[j, i]]);
            }
            let total = full_loss(self.setup, x.view(), &z);
            self.values[k].set(&total);
        }
        self.combine(grad);
    }
}

/// The k logits with input i set to `xi`, into `z`: each class's product tree with leaf i
/// replaced by xi * w[c, i] (`w_i` holds input i's k weights), then + b[c], as in the model.
/// `tmp` is scratch.
#[inline]
fn perturbed_logits<T: Scalar>(
    products: &[LossTree<T>],
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

/// The finite-difference quotient (sum_k c_k L_k) / (D h) into `grad`: products and sum in
/// point order, then one division (`tmp` is scratch).
#[inline]
fn quotient<T: Scalar>(coeffs: &[T], values: &[T], denom_h: &T, tmp: &mut T, grad: &mut T) {
    grad.set_mul(&coeffs[0], &values[0]);
    for (c, v) in coeffs[1..].iter().zip(&values[1..]) {
        tmp.set_mul(c, v);
        grad.add_assign(tmp);
    }
    grad.div_assign(denom_h);
}

/// The effective step (x + h) - x into `eff` (0 in the dead zone; `tmp` is scratch).
#[inline]
fn effective_step<T: Scalar>(x: &T, h: &T, tmp: &mut T, eff: &mut T) {
    tmp.set_add(x, h);
    eff.set_sub(tmp, x);
}

/// The reduced loss evaluated from scratch: logits from x (for `Wrt::Input`) or the given logits.
fn full_loss<T: Scalar>(setup: &Setup<T>, x: ArrayView2<T>, z: &Array2<T>) -> T {
    let tr = setup.trained;
    let zz;
    let zv = match setup.wrt {
        Wrt::Input => {
            zz = logits(x, tr.weight.view(), &tr.bias);
            zz.view()
        }
        Wrt::Logits => z.view(),
    };
    let ctx = tr.x[[0, 0]].ctx();
    let sum = pairwise_sum(&row_losses(zv, &tr.t));
    let mut out = T::zero(ctx);
    reduce(&sum, setup.reduction.scale::<T>(tr.x.nrows(), ctx).as_ref(), &mut out);
    out
}

/// Checks with fewer elements than this run on the calling thread (same results either way).
pub const SEQUENTIAL_BELOW: usize = 1024;

/// The numeric gradient for step `h`, by the fast path or (with `naive`) from scratch. Rows are
/// spread over the current rayon pool unless the check is small; the result does not depend on
/// it.
pub fn numeric_grad<T: Scalar>(setup: &Setup<T>, h: &Decimal, naive: bool) -> NumericGrad<T> {
    numeric_grads(setup, std::slice::from_ref(h), naive).pop().unwrap_or_else(|| unreachable!("one step"))
}

/// The numeric gradients for several steps (one per step, in order). A small check reuses one
/// worker for every step; a large one spreads each step's rows over the rayon pool.
pub fn numeric_grads<T: Scalar>(setup: &Setup<T>, steps: &[Decimal], naive: bool) -> Vec<NumericGrad<T>> {
    let tr = setup.trained;
    let ctx = tr.x[[0, 0]].ctx();
    let (rows, cols) = match setup.wrt {
        Wrt::Input => tr.x.dim(),
        Wrt::Logits => tr.logits.dim(),
    };
    if steps.is_empty() {
        return Vec::new();
    }
    // One row at a time, every step on it: the row and its product trees are loaded once.
    let row_all_steps = |w: &mut Worker<T>, j: usize| -> Vec<(Vec<T>, Vec<T>)> {
        w.load_row(j);
        (0..steps.len())
            .map(|s| {
                w.use_step(s);
                let mut g = vec![T::zero(ctx); cols];
                let mut e = g.clone();
                w.fill_row(j, naive, &mut g, &mut e);
                (g, e)
            })
            .collect()
    };
    let mut grads: Vec<(Vec<T>, Vec<T>)>;
    if rows * cols < SEQUENTIAL_BELOW || rayon::current_num_threads() == 1 {
        // One worker, results written in place.
        grads = (0..steps.len()).map(|_| (vec![T::zero(ctx); rows * cols], vec![T::zero(ctx); rows * cols])).collect();
        let mut w = Worker::with_steps(setup, steps);
        for j in 0..rows {
            w.load_row(j);
            for (s, (g, e)) in grads.iter_mut().enumerate() {
                w.use_step(s);
                w.fill_row(j, naive, &mut g[j * cols..(j + 1) * cols], &mut e[j * cols..(j + 1) * cols]);
            }
        }
    } else {
        let per_row: Vec<Vec<(Vec<T>, Vec<T>)>> =
            (0..rows).into_par_iter().map_init(|| Worker::with_steps(setup, steps), row_all_steps).collect();
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
