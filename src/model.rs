//! The linear layer: logits = x W^T + b.
//!
//! Each logit is accumulated in a fixed order, sequentially and without fused multiply-add:
//! `z = x[0]*w[0]; z += x[1]*w[1]; ...; z += b`, every product and sum rounded to the dtype.

use crate::scalar::Scalar;
use ndarray::{Array2, ArrayView1, ArrayView2};

/// Writes the k logits of one sample `x_row` into `out`; `tmp` is scratch space.
#[inline]
pub fn row_logits<T: Scalar>(x_row: ArrayView1<T>, w: ArrayView2<T>, b: &[T], out: &mut [T], tmp: &mut T) {
    for (c, z) in out.iter_mut().enumerate() {
        let wc = w.row(c);
        z.set_mul(&x_row[0], &wc[0]);
        for i in 1..x_row.len() {
            tmp.set_mul(&x_row[i], &wc[i]);
            z.add_assign(tmp);
        }
        z.add_assign(&b[c]);
    }
}

/// The n x k logits of every sample.
pub fn logits<T: Scalar>(x: ArrayView2<T>, w: ArrayView2<T>, b: &[T]) -> Array2<T> {
    let zero = T::zero(x[[0, 0]].ctx());
    let mut out = Array2::from_elem((x.nrows(), w.nrows()), zero.clone());
    let mut tmp = zero;
    for (j, mut row) in out.rows_mut().into_iter().enumerate() {
        // Rows of a standard-layout array are contiguous.
        let slice = row.as_slice_mut().unwrap_or_else(|| unreachable!("fresh arrays are contiguous"));
        row_logits(x.row(j), w, b, slice, &mut tmp);
    }
    out
}
