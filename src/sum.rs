//! Pairwise summation: the one summation tree every sum of the model uses.
//!
//! The sum over [lo, hi) is the sum over [lo, mid) plus the sum over [mid, hi), with
//! mid = lo + (hi - lo) / 2, every addition rounded to the dtype. Each logit is such a sum of its
//! d products and the loss total is such a sum of the n per-sample losses. Pairwise summation
//! has an error bound growing with log n rather than n ([`pairwise_sum`], [`pairwise_reduce`]),
//! and kept as a tree ([`PairwiseTree`]) it gives the sum with one leaf replaced in O(log n)
//! operations, bit-identical to summing from scratch: that is the fast path of
//! [`crate::numeric`].

use crate::scalar::num::Num;
use crate::scalar::Scalar;

/// Sums `v` pairwise in place: the sum ends in `v[0]`, the rest is overwritten. Allocates
/// nothing. An empty slice is left alone.
#[inline]
pub fn pairwise_reduce<T: Scalar>(v: &mut [T]) {
    // The smallest trees written out (the same operations as the recursion below).
    match v {
        [] | [_] => {}
        [a, b] => a.add_assign(b),
        [a, b, c] => {
            b.add_assign(c);
            a.add_assign(b);
        }
        [a, b, c, d] => {
            a.add_assign(b);
            c.add_assign(d);
            a.add_assign(c);
        }
        _ => {
            let (left, right) = v.split_at_mut(v.len() / 2);
            pairwise_reduce(left);
            pairwise_reduce(right);
            left[0].add_assign(&right[0]);
        }
    }
}

/// The pairwise sum of `v` (at least one value), as a new value.
pub fn pairwise_sum<T: Scalar>(v: &[T]) -> T {
    let mut work = v.to_vec();
    pairwise_reduce(&mut work);
    work.swap_remove(0)
}

/// The pairwise sum of at least one number of any [`Num`] type (real, complex, dual), by the
/// same tree as [`pairwise_reduce`]: the first half, then the second, then their sum. For a real
/// Scalar type it gives the same bits as [`pairwise_sum`].
pub(crate) fn pairwise_num<N: Num>(v: &[N]) -> N {
    match v {
        [a] => a.clone(),
        _ => {
            let (l, r) = v.split_at(v.len() / 2);
            pairwise_num(l).add(&pairwise_num(r))
        }
    }
}

/// Values kept in a pairwise summation tree, so that the sum with one leaf replaced takes
/// O(log n) operations ([`PairwiseTree::sum_with`]), bit-identical to [`pairwise_sum`] of the
/// changed leaves.
#[derive(Clone, Debug)]
pub struct PairwiseTree<T> {
    n: usize,
    /// Heap layout: node 1 is the root, the children of node q are 2q and 2q + 1.
    nodes: Vec<T>,
    /// The node holding leaf j.
    leaf_node: Vec<usize>,
}

impl<T: Scalar> PairwiseTree<T> {
    /// A tree over the given leaves.
    ///
    /// # Panics
    /// When `leaves` is empty (every caller sums at least one sample or feature).
    pub fn new(leaves: &[T]) -> Self {
        let n = leaves.len();
        assert!(n > 0, "a pairwise tree needs at least one leaf");
        let mut tree = PairwiseTree { n, nodes: vec![leaves[0].clone(); 4 * n], leaf_node: vec![0; n] };
        Self::place(&mut tree.leaf_node, 1, 0, n);
        tree.rebuild(leaves);
        tree
    }

    /// Records which node holds each leaf.
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
    pub(crate) fn rebuild(&mut self, leaves: &[T]) {
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

    /// [`PairwiseTree::sum_with`] for trees of one shape at once: `accs[c]` holds on entry tree
    /// c's new leaf `j` and on exit tree c's sum with it. Each tree's additions are its own, in
    /// its own order (the same bits as `sum_with`); walking the trees level by level only gives
    /// the processor their independent additions side by side instead of one long chain.
    #[inline]
    pub fn sums_with(trees: &[Self], j: usize, accs: &mut [T]) {
        let Some(first) = trees.first() else { return };
        debug_assert!(trees.iter().all(|t| t.n == first.n), "trees of one shape");
        let mut q = first.leaf_node[j];
        while q > 1 {
            for (acc, tree) in accs.iter_mut().zip(trees) {
                acc.add_assign(&tree.nodes[q ^ 1]);
            }
            q /= 2;
        }
    }

    /// The pairwise sum of the current leaves.
    pub fn sum(&self) -> &T {
        &self.nodes[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recursive definition, written independently of the in-place reduction.
    fn reference(v: &[f32]) -> f32 {
        if v.len() == 1 {
            return v[0];
        }
        let mid = v.len() / 2;
        reference(&v[..mid]) + reference(&v[mid..])
    }

    #[test]
    fn in_place_reduction_is_the_pairwise_sum() {
        for n in 1..40 {
            let v: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 1.7)).collect();
            let mut w = v.clone();
            pairwise_reduce(&mut w);
            assert_eq!(w[0].to_bits(), reference(&v).to_bits(), "n = {n}");
            assert_eq!(pairwise_sum(&v).to_bits(), reference(&v).to_bits(), "n = {n}");
        }
    }

    #[test]
    fn tree_sums_match_pairwise_sum() {
        for n in 1..=17 {
            let mut leaves: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 3.0)).collect();
            let mut tree = PairwiseTree::new(&leaves);
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

    /// Trees of one shape walked side by side give each tree's own `sum_with`, bit for bit.
    #[test]
    fn side_by_side_sums_match_one_at_a_time() {
        for n in 1..=17 {
            let trees: Vec<PairwiseTree<f32>> = (0..5)
                .map(|c| {
                    PairwiseTree::new(&(0..n).map(|i| 1.0 / (i as f32 + 1.5 + c as f32 * 0.37)).collect::<Vec<_>>())
                })
                .collect();
            for j in 0..n {
                let leaves: Vec<f32> = (0..5).map(|c| 0.3 + (j * 5 + c) as f32 * 1e-3).collect();
                let mut accs = leaves.clone();
                PairwiseTree::sums_with(&trees, j, &mut accs);
                for (c, (tree, leaf)) in trees.iter().zip(&leaves).enumerate() {
                    let mut one = 0.0;
                    tree.sum_with(j, leaf, &mut one);
                    assert_eq!(accs[c].to_bits(), one.to_bits(), "n={n} j={j} tree {c}");
                }
            }
        }
    }
}
