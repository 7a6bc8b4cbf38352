//! The linear head on a flat list of tokens with a weight per token: one forward and backward
//! pass where token j's loss gradient (softmax - onehot) is multiplied by its own factor, the step
//! every token loss, loop and truth of [`crate::tokens`] runs on.
//!
//! The same operations, in the same order, as the linear model's [`super::Pass`]: the logits
//! ([`super::linear::logits_into`], pairwise sums), the loss gradient per token
//! ([`super::cross_entropy`], times the token's factor), and the backward
//! ([`super::linear::backward_into`], sequential sums in token order), so a mixed dtype S+C
//! stores where the linear model stores.

use super::cross_entropy::{row_loss_grad, row_loss_num, RowScratch};
use super::linear::{backward_into, logits_into, row_logits_num};
use crate::error::Result;
use crate::scalar::num::Num;
use crate::scalar::Scalar;
use crate::sum::pairwise_num;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};

/// The gradients of sum_j w_j loss_j over a flat list of tokens.
#[derive(Clone, Debug)]
pub struct TokenGrads<T> {
    /// dL/dx of each token, N x d.
    pub x: Array2<T>,
    /// dL/dW, k x d.
    pub weight: Array2<T>,
    /// dL/db, k.
    pub bias: Vec<T>,
}

/// Forward and backward over N tokens (x: N x d, classes `t`) with token j's loss gradient
/// multiplied by `scales[j]` (`None`: by 1, the sum). With no token, every gradient is 0.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn weighted_pass<T: Scalar>(
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    b: &[T],
    t: &[usize],
    scales: Option<&[T]>,
    ctx: T::Ctx,
    watch: &Watch,
) -> Result<TokenGrads<T>> {
    let (n, d, k) = (x.nrows(), x.ncols(), w.nrows());
    let zero = T::zero(ctx);
    let mut grads = TokenGrads {
        x: Array2::from_elem((n, d), zero.clone()),
        weight: Array2::from_elem((k, d), zero.clone()),
        bias: vec![zero.clone(); k],
    };
    if n == 0 {
        return Ok(grads);
    }
    let mut logits = Array2::from_elem((n, k), zero.clone());
    let mut scratch = vec![zero.clone(); d];
    logits_into(x, w, b, &mut logits, &mut scratch, watch)?;
    let mut gz = Array2::from_elem((n, k), zero);
    let mut ws = RowScratch::new(ctx);
    for (j, (zj, mut o)) in logits.rows().into_iter().zip(gz.rows_mut()).enumerate() {
        watch.checkpoint(|| format!("token {} of {n} of the loss gradient", j + 1))?;
        let z = zj.to_slice().unwrap_or_else(|| unreachable!("standard-layout rows are contiguous"));
        let g = o.as_slice_mut().unwrap_or_else(|| unreachable!("standard-layout rows are contiguous"));
        row_loss_grad(z, t[j], scales.map(|s| &s[j]), &mut ws, g);
    }
    backward_into(gz.view(), x, w, ctx, &mut grads.x, &mut grads.weight, &mut grads.bias, watch)?;
    Ok(grads)
}

/// The per-token losses of N tokens in any [`Num`] type: the logits of each
/// ([`row_logits_num`]), then its cross-entropy ([`super::cross_entropy`]).
pub fn token_losses_num<N: Num>(x: ArrayView2<N>, w: ArrayView2<N>, b: &[N], t: &[usize]) -> Vec<N> {
    let mut row = Vec::with_capacity(x.ncols());
    x.rows()
        .into_iter()
        .zip(t)
        .map(|(xj, &c)| {
            row.clear();
            row.extend(xj.iter().cloned());
            row_loss_num(&row_logits_num(&row, w, b), c)
        })
        .collect()
}

/// The pairwise sum of at least one number of any [`Num`] type ([`crate::sum`]'s tree).
pub fn sum_num<N: Num>(v: &[N]) -> N {
    pairwise_num(v)
}
