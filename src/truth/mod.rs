//! Ground truth: the exact gradient of the dtype's final loss, computed in MPFR at high precision
//! from the dtype's own rounded inputs and final parameters.
//!
//! The truth answers "what is the derivative of the function the dtype's numeric gradient
//! samples?". The conversion into MPFR is exact (the truth precision exceeds the dtype's, see
//! [`crate::policy::truth_prec`]), and the forward and backward passes at, say, 256 bits differ
//! from the exact real gradient by far less than any error measured here, relative to the
//! terms they sum. An element that is exactly 0 because its terms cancel comes out as their
//! rounding residue instead (about 2^-p times them), which no relative error can be measured
//! against: [`clear_residues`] finds those by a second truth at twice the precision and sets
//! them to 0.
//!
//! Two more exact quantities live here because the diagnosis of a wrong gradient and the
//! accumulation law need them: [`drift`], the derivative of a gradient along the SGD direction
//! (how much each epoch's gradient differs from the last one's), and [`weighted_grads`], the
//! gradients of a loss that weights each sample by its own factor (a mean of micro-batch means).

use crate::error::Result;
use crate::objective::cross_entropy::logits_grad_into;
use crate::objective::{linear, LinearTensor, Pass, Reduction};
use crate::scalar::{Prec, Scalar};
use crate::train::Trained;
use crate::watch::{unwatched, Watch};
use ndarray::{Array2, Axis};
use rug::Float;

/// The trained state's inputs and final parameters in MPFR at `bits` (exact).
fn params<T: Scalar>(tr: &Trained<T>, bits: u32) -> (Array2<Float>, Array2<Float>, Vec<Float>) {
    let up = |a: &Array2<T>| a.map(|v| v.to_float(bits));
    (up(&tr.x), up(&tr.weight), tr.bias.iter().map(|v| v.to_float(bits)).collect())
}

/// The `wrt` gradient out of a finished pass (the bias as a 1 x k row).
fn pick(pass: Pass<Float>, wrt: LinearTensor) -> Array2<Float> {
    match wrt {
        LinearTensor::Input => pass.grad_x,
        LinearTensor::Weight => pass.grad_weight,
        LinearTensor::Bias => row(pass.grad_bias),
        LinearTensor::Logits => pass.grad_logits,
    }
}

fn row(v: Vec<Float>) -> Array2<Float> {
    let k = v.len();
    Array2::from_shape_vec((1, k), v).unwrap_or_else(|_| unreachable!("1 x k holds k values"))
}

/// One forward and backward pass in MPFR at `prec`.
fn pass_at(
    x: &Array2<Float>,
    w: &Array2<Float>,
    b: &[Float],
    t: &[usize],
    scale: Option<&Float>,
    prec: Prec,
) -> Pass<Float> {
    let mut pass = Pass::new(x.nrows(), x.ncols(), w.nrows(), prec);
    unwatched(|watch| pass.run(x.view(), w.view(), b, t, scale, watch));
    pass
}

/// `a` converted exactly into MPFR at `bits`, row by row so that a stop is noticed during a
/// large conversion.
///
/// # Errors
/// [`crate::Error::Interrupted`] naming the row, when the watch was stopped.
pub(crate) fn to_mpfr<T: Scalar>(a: &Array2<T>, bits: u32, watch: &Watch) -> Result<Array2<Float>> {
    let mut v = Vec::with_capacity(a.len());
    for (j, row) in a.rows().into_iter().enumerate() {
        watch.checkpoint(|| format!("the truth, converting row {} of {}", j + 1, a.nrows()))?;
        v.extend(row.iter().map(|x| x.to_float(bits)));
    }
    Ok(Array2::from_shape_vec(a.dim(), v).unwrap_or_else(|_| unreachable!("one value per element")))
}

/// The true gradient with respect to `wrt` of the reduced loss at the trained state, in MPFR
/// at `prec` bits (the bias as a 1 x k row). The watch is checked before every sample of the
/// pass and advanced by the pass's work ([`crate::cost::pass_ops`] for the input, the loss gradient's for the logits,
/// at MPFR's cost for `prec`).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn truth_grad<T: Scalar>(
    tr: &Trained<T>,
    reduction: Reduction,
    wrt: LinearTensor,
    prec: Prec,
    watch: &Watch,
) -> Result<Array2<Float>> {
    let bits = prec.bits();
    let up = |a: &Array2<T>| to_mpfr(a, bits, watch);
    let scale = reduction.scale::<Float>(tr.n(), prec);
    match wrt {
        // The loss as a function of the dtype's own final logits.
        LinearTensor::Logits => {
            let z = up(&tr.logits)?;
            let mut out = Array2::from_elem(z.dim(), Float::new(bits));
            logits_grad_into(z.view(), &tr.t, scale.as_ref(), prec, &mut out, watch)?;
            Ok(out)
        }
        // The whole model, forward and backward, from the dtype's inputs and parameters.
        _ => {
            let (x, w) = (up(&tr.x)?, up(&tr.weight)?);
            let b: Vec<Float> = tr.bias.iter().map(|v| v.to_float(bits)).collect();
            let mut pass = Pass::new(x.nrows(), x.ncols(), w.nrows(), prec);
            pass.run(x.view(), w.view(), &b, &tr.t, scale.as_ref(), watch)?;
            Ok(pick(pass, wrt))
        }
    }
}

/// Sets to 0 the elements of `truth` (computed at `prec`) that are rounding residues of an exact
/// 0, computing the truth again at twice the precision by `again` when there may be any; returns
/// how many it cleared.
///
/// A true value that is 0 because terms cancel (for two classes, x.grad_ji is
/// (p_j1 - y_j1) W_1i + (p_j2 - y_j2) W_2i, exactly 0 when W_1i = W_2i, but p_j1 + p_j2 rounded to
/// p bits is not exactly 1) comes out of the pass as a residue of about 2^-p times the terms: in
/// e4m3, whose few values make such ties common, the 256-bit truth of seed 5 held 2^-262 beside
/// elements of 0.03 (2^-518 at 512 bits), against which an analytic gradient's own residue of
/// 2^-9 read as a relative error of 1e76. The candidates are the nonzero elements at most
/// 2^(-p/2) times the largest |t|; when there are any, the truth at 2p bits tells them apart: a
/// true value is the same there to about 2^-p of itself, while a residue shrinks by about 2^-p
/// (or is 0), so a candidate that moves by more than half of itself is a residue. A genuine tiny
/// value (a softmax saturated by a large logit gap) stays.
///
/// # Errors
/// Those of `again`.
pub fn clear_residues(
    truth: &mut Array2<Float>,
    prec: Prec,
    again: impl FnOnce(Prec) -> Result<Array2<Float>>,
) -> Result<usize> {
    let mut largest = Float::new(64);
    for x in truth.iter().filter(|x| x.is_finite()) {
        if x.cmp_abs(&largest) == Some(std::cmp::Ordering::Greater) {
            largest = Float::with_val(64, &*x.as_abs());
        }
    }
    let bits = prec.bits();
    let line = largest >> i32::try_from(bits / 2).unwrap_or(i32::MAX);
    let candidate = |x: &Float| !x.is_zero() && x.is_finite() && x.cmp_abs(&line) != Some(std::cmp::Ordering::Greater);
    // None (or no precision twice as large): nothing to clear.
    let Some(wide) = truth.iter().any(candidate).then(|| Prec::new(bits.saturating_mul(2)).ok()).flatten() else {
        return Ok(0);
    };
    let finer = again(wide)?;
    let mut cleared = 0;
    for (t, f) in truth.iter_mut().zip(finer.iter()) {
        if candidate(t) {
            let moved = Float::with_val(wide.bits(), &*t - f).abs();
            if moved > Float::with_val(bits, &*t.as_abs()) >> 1 {
                *t = Float::new(bits);
                cleared += 1;
            }
        }
    }
    Ok(cleared)
}

/// The drift of the `wrt` gradient along SGD, in MPFR at `prec`: g' = d/de g(theta + e v) at
/// e = 0, where theta = (W, b) are the trained parameters, v = (dL/dW, dL/db) their exact gradient
/// of the reduced loss, and g the exact `wrt` gradient (as [`truth_grad`]).
///
/// An SGD step moves theta by -lr v, so the gradient of the epoch s steps before the last is
/// g + s lr g' to first order: g' is what makes a gradient summed over E epochs differ from E g
/// (the accumulation law, E g + lr E (E - 1) g' / 2). Computed by central differences of exact
/// passes at theta +- e v with e = 2^-(prec / 3): truncation (e^2) and rounding (2^-prec / e) are
/// both near 2^(-2 prec / 3) relative, far below anything compared with it.
pub fn drift<T: Scalar>(tr: &Trained<T>, reduction: Reduction, wrt: LinearTensor, prec: Prec) -> Array2<Float> {
    let bits = prec.bits();
    let scale = reduction.scale::<Float>(tr.n(), prec);
    let (x, w, b) = params(tr, bits);
    let base = pass_at(&x, &w, &b, &tr.t, scale.as_ref(), prec);
    let e = Float::with_val(bits, Float::i_exp(1, -((bits / 3) as i32)));
    let at = |sign: i32| {
        let step = |v: &Float, g: &Float| {
            let mut s = Float::with_val(bits, g * &e);
            if sign < 0 {
                s.neg_mut();
            }
            Float::with_val(bits, v + &s)
        };
        let wp = Array2::from_shape_fn(w.dim(), |ix| step(&w[ix], &base.grad_weight[ix]));
        let bp: Vec<Float> = b.iter().zip(&base.grad_bias).map(|(v, g)| step(v, g)).collect();
        pick(pass_at(&x, &wp, &bp, &tr.t, scale.as_ref(), prec), wrt)
    };
    let (plus, minus) = (at(1), at(-1));
    let two_e = Float::with_val(bits, &e * 2u32);
    Array2::from_shape_fn(plus.dim(), |ix| Float::with_val(bits, &plus[ix] - &minus[ix]) / &two_e)
}

/// The accumulation law for the `wrt` gradient summed over `epochs` SGD steps at learning rate
/// `lr` ending at the trained state: per element, E [1 + lr (E - 1) g' / (2 g)], with g the
/// exact gradient and g' its [`drift`] (both in MPFR at `prec`), in f64.
///
/// Going back from the last of E epochs, the parameters s steps earlier were theta + s lr v +
/// O(lr^2), so that epoch's gradient was g + s lr g' + O(lr^2); the E gradients sum to
/// E g + lr g' E (E - 1) / 2 + O(lr^2). The ratio of the sum to g, element by element, is the
/// law; its error is of order (lr (E - 1))^2 (the `sum_vs_mean` experiment measures it).
pub fn accumulation_law<T: Scalar>(
    tr: &Trained<T>,
    reduction: Reduction,
    wrt: LinearTensor,
    epochs: usize,
    lr: f64,
    prec: Prec,
) -> Array2<f64> {
    let g = unwatched(|watch| truth_grad(tr, reduction, wrt, prec, watch));
    let d = drift(tr, reduction, wrt, prec);
    let e = epochs as f64;
    Array2::from_shape_fn(g.dim(), |ix| e * (1.0 + lr * (e - 1.0) * (d[ix].to_f64() / (2.0 * g[ix].to_f64()))))
}

/// The exact gradients (x, W, b; the bias as a 1 x k row) of the loss `sum_j weights[j] loss_j`
/// at the trained state's inputs and parameters, in MPFR at `prec`: each sample's logits
/// gradient softmax - onehot times its own weight, then backpropagated. Weights 1/n give the
/// mean; weights 1/(K n_b) for the samples of micro-batch b give a mean of K micro-batch means.
///
/// # Panics
/// When `weights` does not hold one value per sample (a caller's bug).
pub fn weighted_grads<T: Scalar>(tr: &Trained<T>, weights: &[Float], prec: Prec) -> [Array2<Float>; 3] {
    assert_eq!(weights.len(), tr.n(), "one weight per sample");
    let bits = prec.bits();
    let (x, w, b) = params(tr, bits);
    let (n, d, k) = (x.nrows(), x.ncols(), w.nrows());
    let z = linear::logits(x.view(), w.view(), &b, prec);
    let mut gz = Array2::from_elem((n, k), Float::new(bits));
    unwatched(|watch| logits_grad_into(z.view(), &tr.t, None, prec, &mut gz, watch));
    for (mut r, wj) in gz.axis_iter_mut(Axis(0)).zip(weights) {
        r.iter_mut().for_each(|v| *v *= wj);
    }
    let (mut gx, mut gw) = (Array2::from_elem((n, d), Float::new(bits)), Array2::from_elem((k, d), Float::new(bits)));
    let mut gb = vec![Float::new(bits); k];
    unwatched(|watch| linear::backward_into(gz.view(), x.view(), w.view(), prec, &mut gx, &mut gw, &mut gb, watch));
    [gx, gw, row(gb)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(bits: u32, v: &[(i32, i32)]) -> Array2<Float> {
        // (m, e): m 2^e.
        let v: Vec<Float> = v.iter().map(|&(m, e)| Float::with_val(bits, Float::i_exp(m, e))).collect();
        Array2::from_shape_vec((1, v.len()), v).unwrap()
    }

    /// A residue (2^-262 beside 0.03 at 256 bits, 2^-518 at 512) is cleared; a genuine tiny value
    /// (the same at both precisions) and the ordinary elements stay; without a candidate the
    /// truth is not computed again.
    #[test]
    fn residues_of_an_exact_zero_are_cleared() {
        let p = Prec::new(256).unwrap();
        let mut t = floats(256, &[(1, -5), (1, -262), (-3, -400), (0, 0), (1, -7)]);
        let finer = floats(512, &[(1, -5), (1, -518), (-3, -400), (0, 0), (1, -7)]);
        let cleared = clear_residues(&mut t, p, |q| {
            assert_eq!(q.bits(), 512);
            Ok(finer)
        })
        .unwrap();
        assert_eq!(cleared, 1);
        assert!(t[[0, 1]].is_zero());
        assert_eq!(t[[0, 2]], Float::with_val(256, Float::i_exp(-3, -400)));
        assert_eq!(t[[0, 4]], Float::with_val(256, Float::i_exp(1, -7)));
        // A residue that is exactly 0 at twice the precision is cleared too.
        let mut t = floats(256, &[(1, -5), (-1, -262)]);
        assert_eq!(clear_residues(&mut t, p, |_| Ok(floats(512, &[(1, -5), (0, 0)]))).unwrap(), 1);
        // Nothing below 2^-128 of the largest: no second truth.
        let mut t = floats(256, &[(1, -5), (1, -100), (0, 0)]);
        assert_eq!(clear_residues(&mut t, p, |_| unreachable!("no candidate")).unwrap(), 0);
    }
}
