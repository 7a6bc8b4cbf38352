//! The complex step's and dual numbers' fast path on the linear model: an element's evaluation
//! reuses the trained logits and changes only what its perturbation reaches.
//!
//! Seeding a value v as v + i h (dual: v + 1 epsilon) adds delta = seed(v) - v = 0 + i h exactly.
//! Through the layer, a perturbed input x_ji reaches every logit of sample j as
//! z_jc + delta W_ci, a weight W_ci the logit c of every sample as z_qc + delta x_qi, and a bias
//! b_c the logit c of every sample as z_qc + delta. Evaluated from scratch, the same logits come
//! out bit for bit: the real parts of the products and of their pairwise sum are the real
//! code's (the imaginary parts multiply exact zeros), and the imaginary parts are exact zeros
//! except the one product delta times the weight (input) or input (weight), so the sum's
//! imaginary part is that rounded product, as here. tests/methods_check.rs compares every tensor
//! with `--naive`'s evaluation from scratch in several dtypes and steps.
//!
//! Per element: O(k) operations in the number type for an input or logits element (one
//! sample's loss), O(n k) for a weight or bias element (every sample's loss), and no allocation
//! for the hardware types: the logits and losses live in [`Buffers`] reused from element to
//! element.

use crate::objective::cross_entropy::row_loss_num as sample_loss;
use crate::objective::LinearTensor;
use crate::scalar::num::Num;
use crate::sum::pairwise_num as pairwise;
use ndarray::Array2;

/// The trained state lifted into the number type N once per check.
pub(super) struct Lifted<N> {
    /// Inputs, n x d.
    pub x: Array2<N>,
    /// Weight, k x d.
    pub w: Array2<N>,
    /// Bias, k.
    pub b: Vec<N>,
    /// The final logits, n x k.
    pub z: Array2<N>,
}

/// A worker's scratch: one sample's logits and every sample's loss.
pub(super) struct Buffers<N> {
    logits: Vec<N>,
    losses: Vec<N>,
}

impl<N: Num> Buffers<N> {
    /// Scratch for n samples and k classes, filled with `zero`.
    pub fn new(n: usize, k: usize, zero: &N) -> Self {
        Buffers { logits: vec![zero.clone(); k], losses: vec![zero.clone(); n] }
    }
}

/// The unreduced loss (the sum of the samples' losses, or the one sample's that moves) with the
/// element (j, i) of `wrt`'s tensor seeded as `s`.
pub(super) fn element_loss<N: Num>(
    lifted: &Lifted<N>,
    t: &[usize],
    wrt: LinearTensor,
    (j, i): (usize, usize),
    s: &N,
    buf: &mut Buffers<N>,
) -> N {
    let Lifted { x, w, b, z } = lifted;
    let load = |logits: &mut Vec<N>, q: usize| {
        for (dst, src) in logits.iter_mut().zip(z.row(q)) {
            dst.clone_from(src);
        }
    };
    match wrt {
        LinearTensor::Input => {
            let delta = s.sub(&x[[j, i]]);
            for (c, dst) in buf.logits.iter_mut().enumerate() {
                *dst = z[[j, c]].add(&delta.mul(&w[[c, i]]));
            }
            sample_loss(&buf.logits, t[j])
        }
        LinearTensor::Logits => {
            load(&mut buf.logits, j);
            buf.logits[i].clone_from(s);
            sample_loss(&buf.logits, t[j])
        }
        LinearTensor::Weight | LinearTensor::Bias => {
            // The weight's element (j, i) is class j's; the bias's (0, i) is class i's.
            let (c, delta) = if wrt == LinearTensor::Weight { (j, s.sub(&w[[j, i]])) } else { (i, s.sub(&b[i])) };
            for q in 0..x.nrows() {
                load(&mut buf.logits, q);
                let moved = if wrt == LinearTensor::Weight { delta.mul(&x[[q, i]]) } else { delta.clone() };
                buf.logits[c] = buf.logits[c].add(&moved);
                buf.losses[q] = sample_loss(&buf.logits, t[q]);
            }
            pairwise(&buf.losses)
        }
    }
}
