//! The linear layer logits = x W^T + b: forward and backward side by side.
//!
//! Forward: each logit is the pairwise (tree) sum ([`crate::sum`]) of its d products
//! `x[i] * w[c, i]`, then `+ b[c]`, every product and sum rounded to the dtype (no fused
//! multiply-add). Pairwise summation has an error bound growing with log d rather than d, and it
//! lets the numeric gradient update a logit after one input changes in O(log d) operations while
//! staying bit-identical to summing from scratch ([`crate::numeric`]).
//!
//! Backward: from the logits gradient gz (n x k), dL/dx = gz W, dL/dW = gz^T x and dL/db = the
//! column sums of gz, each a sequential sum in index order (as a user's backprop would).
//!
//! For a mixed dtype `S+C` ([`crate::scalar::Mixed`]) every sum above runs in C and its result
//! (a logit, after + b; an element of dL/dx, dL/dW, dL/db) is rounded once into S
//! ([`Scalar::store`]), as a tensor core's matrix product stores its output.

use crate::error::Result;
use crate::scalar::num::Num;
use crate::scalar::Scalar;
use crate::sum::{pairwise_num, pairwise_reduce};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView1, ArrayView2};

/// Forward for one sample: the k logits of `x_row` into `out`; `scratch` holds at least d values.
#[inline]
pub fn row_logits<T: Scalar>(x_row: ArrayView1<T>, w: ArrayView2<T>, b: &[T], out: &mut [T], scratch: &mut [T]) {
    let d = x_row.len();
    let scratch = &mut scratch[..d];
    for ((z, wc), bc) in out.iter_mut().zip(w.rows()).zip(b) {
        match (x_row.as_slice(), wc.as_slice()) {
            (Some(xs), Some(ws)) => {
                for ((s, x), wv) in scratch.iter_mut().zip(xs).zip(ws) {
                    s.set_mul(x, wv);
                }
            }
            _ => {
                for ((s, x), wv) in scratch.iter_mut().zip(x_row.iter()).zip(wc.iter()) {
                    s.set_mul(x, wv);
                }
            }
        }
        pairwise_reduce(scratch);
        z.set_add(&scratch[0], bc);
        // A mixed dtype's logit is accumulated in C and stored in S.
        z.store();
    }
}

/// Forward: the n x k logits of every sample into a standard-layout array; `scratch` holds at
/// least d values. The watch is checked before each sample and advanced by
/// [`crate::cost::forward_row_ops`] (times the dtype's cost) after each.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn logits_into<T: Scalar>(
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    b: &[T],
    out: &mut Array2<T>,
    scratch: &mut [T],
    watch: &Watch,
) -> Result<()> {
    // The bias gives the context (with no class there is no work to count).
    let units =
        b.first().map_or(0, |v| crate::cost::units::<T>(v.ctx(), crate::cost::forward_row_ops(x.ncols(), w.nrows())));
    for (j, (xj, mut row)) in x.rows().into_iter().zip(out.rows_mut()).enumerate() {
        watch.checkpoint(|| format!("sample {} of {} of the forward pass", j + 1, x.nrows()))?;
        // Rows of a standard-layout array are contiguous.
        let slice = row.as_slice_mut().unwrap_or_else(|| unreachable!("standard-layout rows are contiguous"));
        row_logits(xj, w, b, slice, scratch);
        watch.advance_items(j, x.nrows(), units);
    }
    Ok(())
}

/// Forward: the n x k logits of every sample (in context `ctx`).
pub fn logits<T: Scalar>(x: ArrayView2<T>, w: ArrayView2<T>, b: &[T], ctx: T::Ctx) -> Array2<T> {
    let mut out = Array2::from_elem((x.nrows(), w.nrows()), T::zero(ctx));
    let mut scratch = vec![T::zero(ctx); x.ncols()];
    crate::watch::unwatched(|watch| logits_into(x, w, b, &mut out, &mut scratch, watch));
    out
}

/// Forward for one sample in any [`Num`] type (complex step, dual numbers): per class the
/// pairwise sum of the products x_i w_ci, then + b_c, as [`row_logits`] (the same bits for a
/// real Scalar type).
pub fn row_logits_num<N: Num>(x: &[N], w: ArrayView2<N>, b: &[N]) -> Vec<N> {
    let mut products = Vec::with_capacity(x.len());
    w.rows()
        .into_iter()
        .zip(b)
        .map(|(wc, bc)| {
            products.clear();
            products.extend(x.iter().zip(wc.iter()).map(|(a, c)| a.mul(c)));
            pairwise_num(&products).add(bc)
        })
        .collect()
}

/// Forward in any [`Num`] type: the n x k logits of every sample ([`row_logits_num`]).
pub(crate) fn logits_num<N: Num>(x: ArrayView2<N>, w: ArrayView2<N>, b: &[N]) -> Array2<N> {
    let (n, k) = (x.nrows(), w.nrows());
    let mut row = Vec::with_capacity(x.ncols());
    let mut out = Vec::with_capacity(n * k);
    for xj in x.rows() {
        row.clear();
        row.extend(xj.iter().cloned());
        out.extend(row_logits_num(&row, w, b));
    }
    Array2::from_shape_vec((n, k), out).unwrap_or_else(|_| unreachable!("k logits per sample"))
}

/// Backward: backpropagates a logits gradient gz (n x k) through the layer into existing n x d,
/// k x d and k buffers: dL/dx = gz W (summed over c in order), dL/dW = gz^T x and dL/db = column
/// sums of gz (summed over j in order); each sum is acc = first term, then acc += each next.
/// The watch is checked before each sample and advanced by
/// [`crate::cost::backward_row_ops`] (times the dtype's cost) after each.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
#[allow(clippy::too_many_arguments)]
pub fn backward_into<T: Scalar>(
    gz: ArrayView2<T>,
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    ctx: T::Ctx,
    gx: &mut Array2<T>,
    gw: &mut Array2<T>,
    gb: &mut [T],
    watch: &Watch,
) -> Result<()> {
    // Works on contiguous copies (free for standard layout).
    let (gz, x, w) = (gz.as_standard_layout(), x.as_standard_layout(), w.as_standard_layout());
    let (n, k, d) = (gz.nrows(), gz.ncols(), x.ncols());
    let contiguous = "as_standard_layout gives contiguous arrays";
    let (gz, x, w) =
        (gz.as_slice().expect(contiguous), x.as_slice().expect(contiguous), w.as_slice().expect(contiguous));
    let gx = gx.as_slice_mut().expect("gradient buffers are standard layout");
    let gw = gw.as_slice_mut().expect("gradient buffers are standard layout");
    let mut tmp = T::zero(ctx);
    let units = crate::cost::units::<T>(ctx, crate::cost::backward_row_ops(d, k));
    for j in 0..n {
        watch.checkpoint(|| format!("sample {} of {n} of the backward pass", j + 1))?;
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
        gx_j.iter_mut().for_each(|v| v.store());
        watch.advance_items(j, n, units);
    }
    gw.iter_mut().chain(gb.iter_mut()).for_each(|v| v.store());
    Ok(())
}
