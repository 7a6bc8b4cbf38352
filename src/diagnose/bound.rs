//! How far rounding in a dtype can move a correct gradient: a first-order worst-case bound per
//! element, from the problem's exact values.
//!
//! With u the dtype's unit roundoff and gamma(m) = m u / (1 - m u) (the bound on the relative
//! error of a sum of m terms in any order, Higham's gamma), for sample j, class c, target t_j and
//! the loss's per-sample factor w_j (1/n for the mean, 1 for the sum, 1/(K n_b) for a mean of
//! micro-batch means), from the exact logits z, probabilities p = softmax(z), s = sum exp(z - max):
//!
//! - logit: |dz_jc| <= gamma(d + 1) A_jc with A_jc = sum_i |x_ji w_ci| + |b_c|;
//! - shifted logit z - max: |dz_jc| + max_c |dz_jc| + u |z_jc - max_j|;
//! - probability: relative error r_jc = that + u |ln s_j| + (k - 1 + S) u, with S =
//!   [`SOFTMAX_ULPS`] (exp, the division or log-softmax's second route, the subtraction);
//! - logits gradient g_jc = w_j (p_jc - [c = t_j]): E_jc = w_j (p_jc r_jc + u |p_jc - [c = t_j]|)
//!   + 2 u |g_jc| + eta, with eta the dtype's subnormal spacing (a probability that underflows);
//! - backward, each a sum in any order: input [j, i]: sum_c E_jc |w_ci| + gamma(k) sum_c |g_jc
//!   w_ci|; weight [c, i]: sum_j E_jc |x_ji| + gamma(n) sum_j |g_jc x_ji|; bias [c]: sum_j E_jc +
//!   gamma(n) sum_j |g_jc|.
//!
//! The bound is that sum times [`BOUND_SAFETY`], plus one rounding into the gradient file's own
//! type (u_file |g|, for a gradient computed in a wider dtype and saved narrower). A gamma with
//! m u >= 1/2 is infinite: the dtype cannot resolve such a sum (f16 with thousands of samples).

use crate::objective::Wrt;
use crate::policy::{BOUND_SAFETY, SOFTMAX_ULPS};
use crate::scalar::{DType, Prec, Scalar};
use crate::train::Trained;
use ndarray::Array2;
use rug::Float;

/// The exact forward pass of a problem, in f64 (enough for a bound): what the rounding bound of
/// any gradient of it needs.
#[derive(Clone, Debug)]
pub struct Forward {
    /// The logits, n x k.
    pub z: Array2<f64>,
    /// The softmax probabilities, n x k.
    pub p: Array2<f64>,
    /// ln sum_c exp(z_jc - max_c z_jc) per sample.
    pub ln_s: Vec<f64>,
    /// sum_i |x_ji w_ci| + |b_c|, n x k.
    pub magnitude: Array2<f64>,
    /// The inputs, n x d.
    pub x: Array2<f64>,
    /// The weight, k x d.
    pub w: Array2<f64>,
    /// The targets.
    pub t: Vec<usize>,
}

impl Forward {
    /// The forward pass of a trained state's inputs and parameters, exact at `prec`, then
    /// rounded to f64.
    pub fn new<T: Scalar>(tr: &Trained<T>, prec: Prec) -> Self {
        let bits = prec.bits();
        let x = tr.x.map(|v| v.to_f64());
        let w = tr.weight.map(|v| v.to_f64());
        let b: Vec<f64> = tr.bias.iter().map(|v| v.to_f64()).collect();
        let (n, k) = (x.nrows(), w.nrows());
        let xs = tr.x.map(|v| v.to_float(bits));
        let ws = tr.weight.map(|v| v.to_float(bits));
        let bs: Vec<Float> = tr.bias.iter().map(|v| v.to_float(bits)).collect();
        let zf = crate::objective::linear::logits(xs.view(), ws.view(), &bs, prec);
        let mut p = Array2::zeros((n, k));
        let mut ln_s = Vec::with_capacity(n);
        for (j, zj) in zf.rows().into_iter().enumerate() {
            let m = zj.iter().max_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            let m = m.unwrap_or_else(|| unreachable!("k >= 2")).clone();
            let e: Vec<Float> = zj.iter().map(|v| Float::with_val(bits, v - &m).exp()).collect();
            let s = e.iter().fold(Float::new(bits), |acc, v| acc + v);
            for (c, ec) in e.iter().enumerate() {
                p[[j, c]] = Float::with_val(bits, ec / &s).to_f64();
            }
            ln_s.push(s.ln().to_f64());
        }
        let magnitude = Array2::from_shape_fn((n, k), |(j, c)| {
            x.row(j).iter().zip(w.row(c)).map(|(a, b)| (a * b).abs()).sum::<f64>() + b[c].abs()
        });
        Forward { z: zf.map(|v| v.to_f64()), p, ln_s, magnitude, x, w, t: tr.t.clone() }
    }

    /// The number of samples.
    pub fn n(&self) -> usize {
        self.z.nrows()
    }

    /// The per-sample contribution to the logits gradient before its factor w_j: p_jc - [c = t_j].
    pub fn residual(&self, j: usize, c: usize) -> f64 {
        self.p[[j, c]] - if c == self.t[j] { 1.0 } else { 0.0 }
    }
}

/// Higham's gamma(m) = m u / (1 - m u), infinite from m u >= 1/2.
fn gamma(m: usize, u: f64) -> f64 {
    let mu = m as f64 * u;
    if mu >= 0.5 {
        f64::INFINITY
    } else {
        mu / (1.0 - mu)
    }
}

/// The rounding bound of every element of the `wrt` gradient (input, weight or bias; the bias as
/// a 1 x k row) of the loss sum_j weights[j] loss_j computed in `dtype` and stored in `file`, by
/// the module's formula. `truth` is the exact gradient (for the storage rounding).
///
/// # Panics
/// For `Wrt::Logits` (not a gradient the diagnosis takes) or a weight count other than n.
pub fn rounding_bound(
    f: &Forward,
    wrt: Wrt,
    weights: &[f64],
    dtype: DType,
    file: DType,
    truth: &Array2<f64>,
) -> Array2<f64> {
    assert_eq!(weights.len(), f.n(), "one weight per sample");
    let u = dtype.unit_roundoff();
    let eta = dtype.normal_exp_min().map_or(0.0, |e| 2f64.powi(e - dtype.bits() as i32 + 1));
    let (n, k, d) = (f.n(), f.w.nrows(), f.w.ncols());
    let gz = Array2::from_shape_fn((n, k), |(j, c)| weights[j] * f.residual(j, c));
    let lz = gamma(d + 1, u);
    let egz = Array2::from_shape_fn((n, k), |(j, c)| {
        let dz_max = f.magnitude.row(j).iter().fold(0.0f64, |m, a| m.max(lz * a));
        let zmax = f.z.row(j).iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shifted = lz * f.magnitude[[j, c]] + dz_max + u * (f.z[[j, c]] - zmax).abs();
        let r = shifted + u * f.ln_s[j].abs() + gamma(k - 1, u) + SOFTMAX_ULPS * u;
        let res = f.residual(j, c);
        weights[j].abs() * (f.p[[j, c]] * r + u * res.abs()) + 2.0 * u * gz[[j, c]].abs() + eta
    });
    let raw = match wrt {
        Wrt::Input => Array2::from_shape_fn((n, d), |(j, i)| {
            (0..k)
                .map(|c| egz[[j, c]] * f.w[[c, i]].abs() + gamma(k, u) * (gz[[j, c]] * f.w[[c, i]]).abs())
                .sum::<f64>()
        }),
        Wrt::Weight => Array2::from_shape_fn((k, d), |(c, i)| {
            (0..n)
                .map(|j| egz[[j, c]] * f.x[[j, i]].abs() + gamma(n, u) * (gz[[j, c]] * f.x[[j, i]]).abs())
                .sum::<f64>()
        }),
        Wrt::Bias => Array2::from_shape_fn((1, k), |(_, c)| {
            (0..n).map(|j| egz[[j, c]] + gamma(n, u) * gz[[j, c]].abs()).sum::<f64>()
        }),
        Wrt::Logits | Wrt::HiddenWeight | Wrt::HiddenBias => {
            panic!("the diagnosis takes input, weight and bias gradients")
        }
    };
    let u_file = file.unit_roundoff();
    let mut out = raw.mapv(|v| BOUND_SAFETY * v);
    out.zip_mut_with(truth, |b, t| *b += u_file * t.abs());
    out
}
