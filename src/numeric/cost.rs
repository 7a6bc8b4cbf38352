//! The cost, in units of work ([`crate::cost`]), of one row of a numeric gradient, and the
//! shape of the tensor a check perturbs.

use crate::cost::{mul, sum, tree_path, Ops, Shape};
use crate::method::Stencil;
use crate::objective::LinearTensor;

/// The rows and columns of the tensor a check perturbs: n x d for the input, k x d for the
/// weight, 1 x k for the bias, n x k for the logits.
pub fn perturbed(shape: Shape, wrt: LinearTensor) -> (u128, u128) {
    match wrt {
        LinearTensor::Input => (shape.n as u128, shape.d as u128),
        LinearTensor::Weight => (shape.k as u128, shape.d as u128),
        LinearTensor::Bias => (1, shape.k as u128),
        LinearTensor::Logits => (shape.n as u128, shape.k as u128),
    }
}

/// Operations of one row of a numeric gradient (every step, every element of the row) with
/// `stencil`, `steps` steps, perturbing `wrt`, by the naive or the fast path.
pub fn numeric_row_ops(shape: Shape, stencil: &Stencil, steps: usize, wrt: LinearTensor, naive: bool) -> Ops {
    let (n, d, k) = (shape.n as u128, shape.d as u128, shape.k as u128);
    let points = stencil.offsets.iter().filter(|&&o| o != 0).count() as u128;
    let cols = perturbed(shape, wrt).1;
    // One sample's loss: its max, k exponentials, their sum, one logarithm.
    let loss = Ops::new(mul(&[3, k]), sum(&[k, 1]));
    let per_eval = match (naive, wrt) {
        // From scratch: every sample's logits and loss, and the pairwise sum.
        (true, LinearTensor::Input) => loss.plus(Ops::new(mul(&[2, d, k]), 0)).times(n),
        (true, LinearTensor::Logits) => loss.plus(Ops::new(1, 0)).times(n),
        // One path of each class's product tree, the sample's loss, one path of the loss tree.
        (false, LinearTensor::Input) => {
            loss.plus(Ops::new(sum(&[mul(&[k, sum(&[tree_path(shape.d), 2])]), tree_path(shape.n)]), 0))
        }
        (true, LinearTensor::Weight | LinearTensor::Bias) => loss.plus(Ops::new(mul(&[2, d, k]), 0)).times(n),
        (false, LinearTensor::Logits) => loss.plus(Ops::new(tree_path(shape.n), 0)),
        // Every sample's class-c logit along one tree path and its loss, then the n losses summed.
        (false, LinearTensor::Weight) => loss.plus(Ops::new(sum(&[tree_path(shape.d), 3]), 0)).times(n),
        // Every sample's class-c logit (one addition) and its loss, then the n losses summed.
        (false, LinearTensor::Bias) => loss.plus(Ops::new(2, 0)).times(n),
    };
    let load = match (wrt, naive) {
        (LinearTensor::Input, false) => Ops::new(mul(&[2, k, d]), 0),
        // The loaded class's n product trees.
        (LinearTensor::Weight, false) => Ops::new(mul(&[2, n, d]), 0),
        _ => Ops::default(),
    };
    load.plus(per_eval.plus(Ops::new(4, 0)).times(mul(&[steps as u128, cols, points])))
}
