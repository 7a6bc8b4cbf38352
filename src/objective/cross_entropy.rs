//! Softmax cross-entropy: the stable per-sample loss and its gradient side by side, and the
//! reduced total.
//!
//! Per sample j with logits z and target t: m = max_c z_c, s = sum_c exp(z_c - m) (summed in
//! class order), loss_j = ln(s) - (z_t - m); its gradient is softmax(z) - onehot(t). The total
//! is the pairwise sum ([`crate::sum`]) of the per-sample losses; the `mean` reduction then
//! multiplies it by 1/n rounded once into the dtype ([`reduce`]).

use crate::error::Result;
use crate::scalar::num::Num;
use crate::scalar::Scalar;
use crate::sum::{pairwise_num, pairwise_sum};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use std::cmp::Ordering;

crate::named_enum! {
    /// How per-sample losses are combined.
    pub enum Reduction("reduction") {
        /// The mean over samples (PyTorch's default).
        Mean = "mean",
        /// The sum over samples.
        Sum = "sum",
    }
}

impl Reduction {
    /// The factor applied to the summed loss: 1/n rounded once for the mean, `None` for the sum.
    pub fn scale<T: Scalar>(self, n: usize, ctx: T::Ctx) -> Option<T> {
        match self {
            Reduction::Mean => Some(T::from_ratio(1, n as u64, ctx)),
            Reduction::Sum => None,
        }
    }
}

/// Scratch values for one sample's loss, so that the hot loop does not allocate.
#[derive(Clone, Debug)]
pub struct RowScratch<T> {
    m: T,
    s: T,
    e: T,
    one: T,
}

impl<T: Scalar> RowScratch<T> {
    /// Scratch values in context `ctx`.
    pub fn new(ctx: T::Ctx) -> Self {
        RowScratch { m: T::zero(ctx), s: T::zero(ctx), e: T::zero(ctx), one: T::from_int(1, ctx) }
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

/// `out = exp(v - m)` rounded; for v - m == 0 (the largest logit) that is exactly `one` in every
/// dtype, so the exponential is skipped without changing a bit.
#[inline]
fn exp_shifted<T: Scalar>(v: &T, m: &T, one: &T, out: &mut T) {
    out.set_sub(v, m);
    if out.is_zero() {
        out.set(one);
    } else {
        out.exp_mut();
    }
}

/// Forward: one sample's loss ln(sum_c exp(z_c - m)) - (z_t - m), written into `out`.
#[inline]
pub fn row_loss<T: Scalar>(z: &[T], target: usize, ws: &mut RowScratch<T>, out: &mut T) {
    row_max(z, &mut ws.m);
    exp_shifted(&z[0], &ws.m, &ws.one, &mut ws.e);
    ws.s.set(&ws.e);
    for v in &z[1..] {
        exp_shifted(v, &ws.m, &ws.one, &mut ws.e);
        ws.s.add_assign(&ws.e);
    }
    ws.s.ln_mut();
    ws.e.set_sub(&z[target], &ws.m);
    out.set_sub(&ws.s, &ws.e);
}

/// Backward: one sample's loss gradient with respect to its logits, (softmax(z) - onehot(t))
/// times the reduction's factor, into `out`.
pub(crate) fn row_loss_grad<T: Scalar>(
    z: &[T],
    target: usize,
    scale: Option<&T>,
    ws: &mut RowScratch<T>,
    out: &mut [T],
) {
    row_max(z, &mut ws.m);
    for (v, o) in z.iter().zip(out.iter_mut()) {
        exp_shifted(v, &ws.m, &ws.one, o);
    }
    ws.s.set(&out[0]);
    for o in &out[1..] {
        ws.s.add_assign(o);
    }
    for (c, o) in out.iter_mut().enumerate() {
        o.div_assign(&ws.s);
        if c == target {
            o.sub_assign(&ws.one);
        }
        if let Some(sc) = scale {
            o.mul_assign(sc);
        }
        // Computed in C, handed back to the logits in S (a mixed dtype's storage).
        o.store();
    }
}

/// The reduction applied to a summed loss: `sum * (1/n)` for the mean, `sum` for the sum. The
/// one place a total becomes the loss a user's code reports.
#[inline]
pub fn reduce<T: Scalar>(sum: &T, scale: Option<&T>, out: &mut T) {
    match scale {
        Some(s) => out.set_mul(sum, s),
        None => out.set(sum),
    }
}

/// The per-sample losses of an n x k logits array (in context `ctx`).
pub fn row_losses<T: Scalar>(z: ArrayView2<T>, t: &[usize], ctx: T::Ctx) -> Vec<T> {
    let mut ws = RowScratch::new(ctx);
    let mut out = vec![T::zero(ctx); z.nrows()];
    let mut row = vec![T::zero(ctx); z.ncols()];
    for ((o, zj), &target) in out.iter_mut().zip(z.rows()).zip(t) {
        for (r, v) in row.iter_mut().zip(zj) {
            r.set(v);
        }
        row_loss(&row, target, &mut ws, o);
    }
    out
}

/// The reduced loss of an n x k logits array: the pairwise sum of the per-sample losses, then
/// [`reduce`].
pub fn total_loss<T: Scalar>(z: ArrayView2<T>, t: &[usize], scale: Option<&T>, ctx: T::Ctx) -> T {
    let sum = pairwise_sum(&row_losses(z, t, ctx));
    let mut out = T::zero(ctx);
    reduce(&sum, scale, &mut out);
    out
}

/// One sample's loss from its logits in any [`Num`] type, as [`row_loss`]: the shift m is the
/// first logit with the largest real part (all of it, imaginary or dual part included: the loss
/// does not depend on the shift, and the shifted largest logit is exactly 0 as in the real
/// code), s = sum of exp(z_c - m) in class order, loss = ln s - (z_t - m). The same bits as
/// [`row_loss`] for a real Scalar type.
pub(crate) fn row_loss_num<N: Num>(z: &[N], target: usize) -> N {
    let mut m = &z[0];
    for v in &z[1..] {
        if v.cmp_re(m) == Some(Ordering::Greater) {
            m = v;
        }
    }
    let mut s = z[0].sub(m).exp();
    for v in &z[1..] {
        s = s.add(&v.sub(m).exp());
    }
    s.ln().sub(&z[target].sub(m))
}

/// The reduced loss of an n x k logits array in any [`Num`] type, as [`total_loss`]: the
/// pairwise sum of the per-sample losses times the reduction's factor (real, `scale`).
pub(crate) fn total_loss_num<N: Num>(z: ArrayView2<N>, t: &[usize], scale: Option<&N::Real>) -> N {
    let mut row = Vec::with_capacity(z.ncols());
    let losses: Vec<N> = z
        .rows()
        .into_iter()
        .zip(t)
        .map(|(zj, &target)| {
            row.clear();
            row.extend(zj.iter().cloned());
            row_loss_num(&row, target)
        })
        .collect();
    let total = pairwise_num(&losses);
    match scale {
        Some(s) => total.scale(s),
        None => total,
    }
}

/// Backward for every sample: the gradient of the reduced loss with respect to the n x k logits,
/// into a standard-layout array of the same shape. The watch is checked before each sample and
/// advanced by
/// [`crate::cost::loss_grad_row_ops`] (times the dtype's cost) after each.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn logits_grad_into<T: Scalar>(
    z: ArrayView2<T>,
    t: &[usize],
    scale: Option<&T>,
    ctx: T::Ctx,
    out: &mut Array2<T>,
    watch: &Watch,
) -> Result<()> {
    let mut ws = RowScratch::new(ctx);
    let units = crate::cost::units::<T>(ctx, crate::cost::loss_grad_row_ops(z.ncols()));
    let mut row = Vec::new(); // a copy of a row, only for non-contiguous logits
    for (j, ((zj, &target), mut o)) in z.rows().into_iter().zip(t).zip(out.rows_mut()).enumerate() {
        watch.checkpoint(|| format!("sample {} of {} of the loss gradient", j + 1, z.nrows()))?;
        let zj = match zj.to_slice() {
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
        watch.advance_items(j, z.nrows(), units);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn gradient_is_softmax_minus_onehot() {
        let z = [0.0f64, 2f64.ln()];
        let mut ws = RowScratch::new(());
        let mut g = [0.0; 2];
        row_loss_grad(&z, 0, None, &mut ws, &mut g);
        assert!((g[0] - (1.0 / 3.0 - 1.0)).abs() < 1e-15 && (g[1] - 2.0 / 3.0).abs() < 1e-15, "{g:?}");
        row_loss_grad(&z, 0, Some(&0.5), &mut ws, &mut g);
        assert!((g[1] - 1.0 / 3.0).abs() < 1e-15, "{g:?}");
    }
}
