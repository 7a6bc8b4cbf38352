//! Softmax cross-entropy: the stable per-sample loss, its pairwise total, and the analytic
//! gradients.
//!
//! Per sample j with logits z and target t: m = max_c z_c, s = sum_c exp(z_c - m) (summed in
//! class order), loss_j = ln(s) - (z_t - m). The total over samples uses pairwise (tree)
//! summation: the sum over [lo, hi) is the sum over [lo, mid) plus the sum over [mid, hi) with
//! mid = lo + (hi - lo) / 2. Pairwise summation has an error bound growing with log n rather than
//! n, and it lets [`LossTree`] update the total after one sample changes in O(log n) operations
//! while staying bit-identical to summing from scratch. The `mean` reduction multiplies the total
//! by 1/n rounded once into the dtype.

use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView2};
use std::cmp::Ordering;
use std::fmt;

/// How per-sample losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The mean over samples (PyTorch's default).
    Mean,
    /// The sum over samples.
    Sum,
}

impl Reduction {
    /// Parses `mean` or `sum`.
    ///
    /// # Errors
    /// [`crate::Error::Value`] for anything else.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.trim() {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            _ => Err(crate::Error::value("reduction", s, "mean or sum")),
        }
    }
    /// `mean` or `sum`.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        }
    }
    /// The factor applied to the summed loss: 1/n rounded once for the mean, `None` for the sum.
    pub fn scale<T: Scalar>(self, n: usize, ctx: T::Ctx) -> Option<T> {
        match self {
            Reduction::Mean => Some(T::from_ratio(1, n as u64, ctx)),
            Reduction::Sum => None,
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Scratch values for one sample's loss, so that the hot loop does not allocate.
#[derive(Clone, Debug)]
pub struct RowScratch<T> {
    m: T,
    s: T,
    e: T,
}

impl<T: Scalar> RowScratch<T> {
    /// Scratch values in context `ctx`.
    pub fn new(ctx: T::Ctx) -> Self {
        RowScratch { m: T::zero(ctx), s: T::zero(ctx), e: T::zero(ctx) }
    }
}

/// The maximum of `z` (the first NaN-free maximum in class order).
#[inline]
fn row_max<T: Scalar>(z: &[T], m: &mut T) {
    m.set(&z[0]);
    for v in &z[1..] {
        if v.partial_cmp_val(m) == Some(Ordering::Greater) {
            m.set(v);
        }
    }
}

/// One sample's loss ln(sum_c exp(z_c - m)) - (z_t - m), written into `out`.
#[inline]
pub fn row_loss<T: Scalar>(z: &[T], target: usize, ws: &mut RowScratch<T>, out: &mut T) {
    row_max(z, &mut ws.m);
    exp_shifted(&z[0], &ws.m, &mut ws.e);
    ws.s.set(&ws.e);
    for v in &z[1..] {
        exp_shifted(v, &ws.m, &mut ws.e);
        ws.s.add_assign(&ws.e);
    }
    ws.s.ln_mut();
    ws.e.set_sub(&z[target], &ws.m);
    out.set_sub(&ws.s, &ws.e);
}

/// `out = exp(v - m)` rounded; for v - m == 0 (the largest logit) that is exactly 1 in every
/// dtype, so the exponential is skipped without changing a bit.
#[inline]
fn exp_shifted<T: Scalar>(v: &T, m: &T, out: &mut T) {
    out.set_sub(v, m);
    if out.is_zero() {
        out.set(&T::from_int(1, m.ctx()));
    } else {
        out.exp_mut();
    }
}

/// One sample's loss gradient with respect to its logits: (softmax(z) - onehot(t)) * scale.
pub fn row_loss_grad<T: Scalar>(z: &[T], target: usize, scale: Option<&T>, ws: &mut RowScratch<T>, out: &mut [T]) {
    row_max(z, &mut ws.m);
    for (v, o) in z.iter().zip(out.iter_mut()) {
        exp_shifted(v, &ws.m, o);
    }
    ws.s.set(&out[0]);
    for o in &out[1..] {
        ws.s.add_assign(o);
    }
    let one = T::from_int(1, z[0].ctx());
    for (c, o) in out.iter_mut().enumerate() {
        o.div_assign(&ws.s);
        if c == target {
            o.sub_assign(&one);
        }
        if let Some(sc) = scale {
            o.mul_assign(sc);
        }
    }
}

/// Values kept in a pairwise summation tree, so that the sum with one value replaced takes
/// O(log n) operations ([`LossTree::sum_with`]), bit-identical to [`pairwise_sum`] from scratch. Used for the per-sample
/// losses and, in the numeric gradient, for each logit's products.
#[derive(Clone, Debug)]
pub struct LossTree<T> {
    n: usize,
    /// Heap layout: node 1 is the root, the children of node q are 2q and 2q + 1.
    nodes: Vec<T>,
    /// The node holding leaf j.
    leaf_node: Vec<usize>,
}

impl<T: Scalar> LossTree<T> {
    /// A tree over the given leaves (at least one).
    pub fn new(leaves: &[T]) -> Self {
        let n = leaves.len();
        assert!(n > 0, "a loss tree needs at least one sample");
        let mut tree = LossTree { n, nodes: vec![leaves[0].clone(); 4 * n], leaf_node: vec![0; n] };
        Self::place(&mut tree.leaf_node, 1, 0, n);
        tree.rebuild(leaves);
        tree
    }

    /// Records which node holds each leaf, splitting [lo, hi) at lo + (hi - lo) / 2.
    fn place(leaf_node: &mut [usize], node: usize, lo: usize, hi: usize) {
        if hi - lo == 1 {
            leaf_node[lo] = node;
            return;
        }
        let mid = lo + (hi - lo) / 2;
        Self::place(leaf_node, 2 * node, lo, mid);
        Self::place(leaf_node, 2 * node + 1, mid, hi);
    }

    /// Rebuilds the tree over new leaves of the same count; allocates nothing.
    pub fn rebuild(&mut self, leaves: &[T]) {
        debug_assert_eq!(leaves.len(), self.n);
        Self::build(&mut self.nodes, leaves, 1, 0, self.n);
    }

    fn build(nodes: &mut [T], leaves: &[T], node: usize, lo: usize, hi: usize) {
        if hi - lo == 1 {
            nodes[node].set(&leaves[lo]);
            return;
        }
        let mid = lo + (hi - lo) / 2;
        Self::build(nodes, leaves, 2 * node, lo, mid);
        Self::build(nodes, leaves, 2 * node + 1, mid, hi);
        let (head, tail) = nodes.split_at_mut(2 * node);
        head[node].set_add(&tail[0], &tail[1]);
    }

    /// The pairwise sum the tree would have with leaf `j` replaced by `leaf`, into `acc`, without
    /// changing the tree: the new leaf is added to each sibling on the way up. Addition is
    /// commutative in every dtype (IEEE and MPFR), so `acc + sibling` is the same bits as
    /// `left + right`, and the result equals [`pairwise_sum`] of the leaves with `leaf` at `j`.
    #[inline]
    pub fn sum_with(&self, j: usize, leaf: &T, acc: &mut T) {
        let mut q = self.leaf_node[j];
        acc.set(leaf);
        while q > 1 {
            acc.add_assign(&self.nodes[q ^ 1]);
            q /= 2;
        }
    }

    /// The pairwise sum of the current leaves.
    pub fn sum(&self) -> &T {
        &self.nodes[1]
    }
}

/// The pairwise sum of `v` (same order as [`LossTree`]).
pub fn pairwise_sum<T: Scalar>(v: &[T]) -> T {
    if v.len() == 1 {
        return v[0].clone();
    }
    let mid = v.len() / 2;
    let mut s = pairwise_sum(&v[..mid]);
    s.add_assign(&pairwise_sum(&v[mid..]));
    s
}

/// Applies the reduction to a summed loss: `total * (1/n)` for the mean, `total` for the sum.
#[inline]
pub fn reduce<T: Scalar>(sum: &T, scale: Option<&T>, out: &mut T) {
    match scale {
        Some(s) => out.set_mul(sum, s),
        None => out.set(sum),
    }
}

/// The per-sample losses of an n x k logits array.
pub fn row_losses<T: Scalar>(z: ArrayView2<T>, t: &[usize]) -> Vec<T> {
    let ctx = z[[0, 0]].ctx();
    let mut ws = RowScratch::new(ctx);
    let mut out = vec![T::zero(ctx); z.nrows()];
    let mut row = vec![T::zero(ctx); z.ncols()];
    for (j, o) in out.iter_mut().enumerate() {
        for (r, v) in row.iter_mut().zip(z.row(j)) {
            r.set(v);
        }
        row_loss(&row, t[j], &mut ws, o);
    }
    out
}

/// The reduced loss of an n x k logits array.
pub fn loss<T: Scalar>(z: ArrayView2<T>, t: &[usize], reduction: Reduction) -> T {
    let ctx = z[[0, 0]].ctx();
    let scale = reduction.scale::<T>(z.nrows(), ctx);
    let sum = pairwise_sum(&row_losses(z, t));
    let mut out = T::zero(ctx);
    reduce(&sum, scale.as_ref(), &mut out);
    out
}

/// The gradient of the reduced loss with respect to the logits (n x k).
pub fn logits_grad<T: Scalar>(z: ArrayView2<T>, t: &[usize], reduction: Reduction) -> Array2<T> {
    let scale = reduction.scale::<T>(z.nrows(), z[[0, 0]].ctx());
    logits_grad_scaled(z, t, scale.as_ref())
}

/// [`logits_grad`] with the reduction's factor (see [`Reduction::scale`]) already rounded.
pub fn logits_grad_scaled<T: Scalar>(z: ArrayView2<T>, t: &[usize], scale: Option<&T>) -> Array2<T> {
    let mut out = Array2::from_elem(z.dim(), T::zero(z[[0, 0]].ctx()));
    logits_grad_into(z, t, scale, &mut out);
    out
}

/// [`logits_grad_scaled`] into a standard-layout n x k array.
pub fn logits_grad_into<T: Scalar>(z: ArrayView2<T>, t: &[usize], scale: Option<&T>, out: &mut Array2<T>) {
    let ctx = z[[0, 0]].ctx();
    let mut ws = RowScratch::new(ctx);
    let mut row = Vec::new(); // a copy of a row, only for non-contiguous logits
    for (j, (&target, mut o)) in t.iter().zip(out.rows_mut()).enumerate() {
        let zj = z.row(j);
        let zj = match zj.as_slice() {
            Some(r) => r,
            None => {
                row.clear();
                row.extend(zj.iter().cloned());
                &row
            }
        };
        // Rows of a standard-layout array are contiguous.
        let g = o.as_slice_mut().unwrap_or_else(|| unreachable!("standard-layout rows are contiguous"));
        row_loss_grad(zj, target, scale, &mut ws, g);
    }
}

/// Backpropagates a logits gradient gz (n x k) through the linear layer: returns
/// (dL/dx = gz W, dL/dW = gz^T x, dL/db = column sums of gz), each a sequential sum in index order.
pub fn backprop<T: Scalar>(gz: ArrayView2<T>, x: ArrayView2<T>, w: ArrayView2<T>) -> (Array2<T>, Array2<T>, Vec<T>) {
    let zero = T::zero(gz[[0, 0]].ctx());
    let mut gx = Array2::from_elem(x.dim(), zero.clone());
    let mut gw = Array2::from_elem(w.dim(), zero.clone());
    let mut gb = vec![zero; w.nrows()];
    backprop_into(gz, x, w, &mut gx, &mut gw, &mut gb);
    (gx, gw, gb)
}

/// [`backprop`] into existing n x d, k x d and k buffers (same order of operations).
pub fn backprop_into<T: Scalar>(
    gz: ArrayView2<T>,
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    gx: &mut Array2<T>,
    gw: &mut Array2<T>,
    gb: &mut [T],
) {
    // Every sum runs in index order (c for dL/dx, j for dL/dW and dL/db): acc = first term,
    // then acc += each next term. Works on contiguous copies (free for standard layout).
    let (gz, x, w) = (gz.as_standard_layout(), x.as_standard_layout(), w.as_standard_layout());
    let (n, k, d) = (gz.nrows(), gz.ncols(), x.ncols());
    let contiguous = "as_standard_layout gives contiguous arrays";
    let (gz, x, w) =
        (gz.as_slice().expect(contiguous), x.as_slice().expect(contiguous), w.as_slice().expect(contiguous));
    let gx = gx.as_slice_mut().expect("gradient buffers are standard layout");
    let gw = gw.as_slice_mut().expect("gradient buffers are standard layout");
    let mut tmp = T::zero(gz[0].ctx());
    for j in 0..n {
        let g = &gz[j * k..(j + 1) * k];
        let xj = &x[j * d..(j + 1) * d];
        let gx_j = &mut gx[j * d..(j + 1) * d];
        for (c, (gc, wc)) in g.iter().zip(w.chunks_exact(d)).enumerate() {
            // dL/dx[j, :] += gz[j, c] * w[c, :], over c in order.
            if c == 0 {
                for (acc, wv) in gx_j.iter_mut().zip(wc) {
                    acc.set_mul(gc, wv);
                }
            } else {
                for (acc, wv) in gx_j.iter_mut().zip(wc) {
                    tmp.set_mul(gc, wv);
                    acc.add_assign(&tmp);
                }
            }
            // dL/dW[c, :] += gz[j, c] * x[j, :] and dL/db[c] += gz[j, c], over j in order.
            let gw_c = &mut gw[c * d..(c + 1) * d];
            if j == 0 {
                for (acc, xv) in gw_c.iter_mut().zip(xj) {
                    acc.set_mul(gc, xv);
                }
                gb[c].set(gc);
            } else {
                for (acc, xv) in gw_c.iter_mut().zip(xj) {
                    tmp.set_mul(gc, xv);
                    acc.add_assign(&tmp);
                }
                gb[c].add_assign(gc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sums_match_pairwise_sum() {
        for n in 1..=17 {
            let mut leaves: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 3.0)).collect();
            let mut tree = LossTree::new(&leaves);
            assert_eq!(tree.sum().to_bits(), pairwise_sum(&leaves).to_bits());
            for j in 0..n {
                // One leaf replaced, read-only: the same bits as summing from scratch.
                let mut other = leaves.clone();
                other[j] = 0.1 + j as f32 * 1e-3;
                let mut acc = 0.0;
                tree.sum_with(j, &other[j], &mut acc);
                assert_eq!(acc.to_bits(), pairwise_sum(&other).to_bits(), "sum_with n={n} j={j}");
                assert_eq!(tree.sum().to_bits(), pairwise_sum(&leaves).to_bits(), "sum_with changed the tree");
                // Rebuilt over the changed leaves: the same bits again.
                leaves = other;
                tree.rebuild(&leaves);
                assert_eq!(tree.sum().to_bits(), pairwise_sum(&leaves).to_bits(), "rebuild n={n} j={j}");
            }
        }
    }

    #[test]
    fn stable_loss_of_huge_logits() {
        let z = [1000.0f32, 0.0];
        let mut ws = RowScratch::new(());
        let mut out = 0.0;
        row_loss(&z, 1, &mut ws, &mut out);
        assert_eq!(out, 1000.0);
        row_loss(&z, 0, &mut ws, &mut out);
        assert_eq!(out, 0.0);
    }
}
