//! The linear layer: logits = x W^T + b.
//!
//! Each logit is the pairwise (tree) sum of its d products x[i] * w[c, i], then + b[c], every
//! product and sum rounded to the dtype (no fused multiply-add). The tree splits [lo, hi) at
//! mid = lo + (hi - lo) / 2, exactly like the loss total ([`crate::loss::pairwise_sum`]). Pairwise
//! summation has an error bound growing with log d rather than d, and it lets the numeric
//! gradient update a logit after one input changes in O(log d) operations while staying
//! bit-identical to summing from scratch ([`crate::numeric`]).

use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView1, ArrayView2};

/// Sums `v` pairwise in place (the sum ends in `v[0]`; the rest is overwritten). Same tree as
/// [`crate::loss::pairwise_sum`] and [`crate::loss::LossTree`]; allocates nothing.
#[inline]
pub fn pairwise_reduce<T: Scalar>(v: &mut [T]) {
    let len = v.len();
    if len <= 1 {
        return;
    }
    // The smallest trees written out (same operations as the recursion below).
    match v {
        [a, b] => {
            a.add_assign(b);
            return;
        }
        [a, b, c] => {
            b.add_assign(c);
            a.add_assign(b);
            return;
        }
        [a, b, c, d] => {
            a.add_assign(b);
            c.add_assign(d);
            a.add_assign(c);
            return;
        }
        _ => {}
    }
    let mid = len / 2;
    let (left, right) = v.split_at_mut(mid);
    pairwise_reduce(left);
    pairwise_reduce(right);
    left[0].add_assign(&right[0]);
}

/// Writes the k logits of one sample `x_row` into `out`; `scratch` holds at least d values.
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
    }
}

/// The n x k logits of every sample.
pub fn logits<T: Scalar>(x: ArrayView2<T>, w: ArrayView2<T>, b: &[T]) -> Array2<T> {
    let zero = T::zero(x[[0, 0]].ctx());
    let mut out = Array2::from_elem((x.nrows(), w.nrows()), zero.clone());
    let mut scratch = vec![zero; x.ncols()];
    logits_into(x, w, b, &mut out, &mut scratch);
    out
}

/// [`logits`] into a standard-layout n x k array; `scratch` holds at least d values.
pub fn logits_into<T: Scalar>(x: ArrayView2<T>, w: ArrayView2<T>, b: &[T], out: &mut Array2<T>, scratch: &mut [T]) {
    for (j, mut row) in out.rows_mut().into_iter().enumerate() {
        // Rows of a standard-layout array are contiguous.
        let slice = row.as_slice_mut().unwrap_or_else(|| unreachable!("standard-layout rows are contiguous"));
        row_logits(x.row(j), w, b, slice, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::pairwise_sum;

    #[test]
    fn in_place_reduction_is_the_pairwise_sum() {
        for n in 1..40 {
            let v: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 1.7)).collect();
            let mut w = v.clone();
            pairwise_reduce(&mut w);
            assert_eq!(w[0].to_bits(), pairwise_sum(&v).to_bits(), "n = {n}");
        }
    }
}
