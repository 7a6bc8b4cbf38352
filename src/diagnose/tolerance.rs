//! How far rounding in a dtype moves a correct gradient of the linear model, as a statistical
//! model: the scale s of each element's rounding error, from the problem's exact values.
//!
//! A sum of m terms computed with unit roundoff u carries m roundings, each a relative error of
//! at most u on a partial sum; their signs vary, so the error grows like sqrt(m) u times the
//! terms' magnitudes (Higham and Mary 2019, "A new approach to probabilistic rounding error
//! analysis"), not like the worst case m u. Errors of independent steps add in quadrature.
//!
//! Frameworks store tensors in the dtype but accumulate matrix products and reductions in a
//! wider one (PyTorch's CPU and GPU kernels, oneDNN and cuBLAS sum bf16 and f16 products in f32),
//! so the model has two unit roundoffs: u_s of the storage dtype, for every value written to a
//! tensor (the logits, the log-softmax, the logits gradient, the result), and u_a of the
//! accumulation, for the sums. For a pure dtype (every operation rounded to it, as gradlab's own
//! `check`) they are equal. For sample j, class c, target t_j and the loss's per-sample factor
//! w_j (1/n for the mean, 1 for the sum, 1/(K n_b) for a mean of micro-batch means), from the
//! exact logits z, probabilities p, residuals r = p - onehot and s = sum exp(z - max):
//!
//! - logit, a sum of d products plus the bias, stored: e_z^2 = (d + 1) u_a^2 A_jc^2 +
//!   (u_s z_jc)^2 with A_jc = sum_i |x_ji w_ci| + |b_c|;
//! - shifted logit z - max: e_d^2 = e_z^2 + e_z(max)^2 + (u_s |z_jc - max_j|)^2 (the
//!   log-softmax stores z - max - ln s);
//! - probability, relative: rho^2 = e_d^2 + (u_s ln s_j)^2 + (k - 1 + S) u_a^2 + 2 u_s^2 with S =
//!   [`SOFTMAX_OPS`] (the class sum's k - 1 additions, the exponential, the division or
//!   log-softmax's second route, the subtraction of the maximum) and two storage roundings;
//! - logits gradient G = w_j r_jc, stored: e_G = |w_j| sqrt((p rho)^2 + 2 (u_s r)^2) + eta, with
//!   eta half the storage dtype's subnormal spacing (a value that underflows);
//! - backward, each a sum of m terms accumulated in u_a: input [j, i] (m = k):
//!   sum_c (e_G w_ci)^2 plus k u_a^2 (sum_c |G w_ci|)^2; weight [c, i] (m = n):
//!   sum_j (e_G x_ji)^2 plus n u_a^2 (sum_j |G x_ji|)^2; bias `[c]` (m = n): sum_j e_G^2 plus
//!   n u_a^2 (sum_j |G|)^2;
//! - the result stored in the dtype, then in the gradient file's own type: (u_s t)^2 + eta^2 +
//!   (u_file t)^2.
//!
//! s is the square root of that total. The tolerance multiplies it by a constant calibrated on
//! real kernels' correct gradients ([`crate::policy::TOLERANCE_SIGMA`]): PyTorch's float32
//! (MKL's blocked sums), bfloat16 and float16 gradients at n from 10 to 4096, and gradlab's own
//! pure f16, bf16, f32 and f64.
//!
//! The model is linear in the weights w and in the truth: the scale of c times a gradient is |c|
//! times its scale (but for eta, which is negligible wherever it matters).

use super::exact::{f64_bias_grad, f64_input_grad, f64_logits, f64_weight_grad, Exact};
use crate::objective::LinearTensor;
use crate::scalar::DType;
use ndarray::Array2;

/// Roundings in a softmax probability at the accumulation's precision besides the class sum's
/// k - 1 additions and the shifted logit's own error, each counted as one u in quadrature: the
/// exponential, the division (or log-softmax's subtraction of ln s and its second exponential:
/// two), the subtraction of the maximum, and one for a library exp or ln within 2 ulps.
pub const SOFTMAX_OPS: f64 = 5.0;

/// What the scale of any gradient of one problem needs beyond its weights: the magnitudes A of
/// the logits' terms, computed once.
#[derive(Clone, Debug)]
pub struct Rounding {
    /// sum_i |x_ji w_ci| + |b_c|, n x k.
    magnitude: Array2<f64>,
    /// |x| (n x d) and x^2, for weight gradients (computed when first needed).
    abs_x: std::sync::OnceLock<(Array2<f64>, Array2<f64>)>,
}

impl Rounding {
    /// The logits' magnitudes of `ex`.
    pub fn new(ex: &Exact) -> Self {
        let ax = ex.x.mapv(f64::abs);
        let aw = ex.w.mapv(f64::abs);
        let ab: Vec<f64> = ex.b.iter().map(|v| v.abs()).collect();
        let magnitude = f64_logits(ax.view(), aw.view(), &ab);
        Rounding { magnitude, abs_x: std::sync::OnceLock::new() }
    }

    /// The scale s of every element of the `wrt` gradient (input n x d, weight k x d, bias 1 x k)
    /// of the loss sum_j weights_j loss_j computed with tensors stored in `storage`, sums
    /// accumulated in `accumulate`, and the result saved in `file`, whose values are
    /// (approximately) `truth`, by the module's model.
    ///
    /// # Panics
    /// For a `wrt` other than input, weight or bias.
    #[allow(clippy::too_many_arguments)]
    pub fn scale(
        &self,
        ex: &Exact,
        wrt: LinearTensor,
        weights: &[f64],
        storage: DType,
        accumulate: DType,
        file: DType,
        truth: &Array2<f64>,
    ) -> Array2<f64> {
        let (us, ua) = (storage.unit_roundoff(), accumulate.unit_roundoff());
        // Half the storage dtype's subnormal spacing: a stored value's rounding error near 0.
        let eta = storage.normal_exp_min().map_or(0.0, |e| 2f64.powi(e - storage.bits() as i32));
        let (n, k, d) = (ex.n(), ex.k(), ex.d());
        let lz2 = (d as f64 + 1.0) * ua * ua;
        // Per sample and class: the logits gradient G and the square of its error's scale.
        let mut g = Array2::zeros((n, k));
        let mut eg2 = Array2::zeros((n, k));
        for j in 0..n {
            let zrow = ex.z.hi.row(j);
            let (mut jmax, mut zmax) = (0, f64::NEG_INFINITY);
            for (c, &v) in zrow.iter().enumerate() {
                if v > zmax {
                    (jmax, zmax) = (c, v);
                }
            }
            let ez2 = |c: usize| lz2 * self.magnitude[[j, c]].powi(2) + (us * zrow[c]).powi(2);
            let ez2_max = ez2(jmax);
            for c in 0..k {
                let ed2 = ez2(c) + ez2_max + (us * (zmax - zrow[c])).powi(2);
                let rho2 = ed2 + (us * ex.ln_s[j]).powi(2) + (k as f64 - 1.0 + SOFTMAX_OPS) * ua * ua + 2.0 * us * us;
                let (p, r) = (ex.p[[j, c]], ex.residual.hi[[j, c]]);
                let eg = weights[j].abs() * (p * p * rho2 + 2.0 * (us * r).powi(2)).sqrt() + eta;
                g[[j, c]] = weights[j] * r;
                eg2[[j, c]] = eg * eg;
            }
        }
        let abs_g = g.mapv(f64::abs);
        let (m, spread, sums) = match wrt {
            LinearTensor::Input => {
                let w2 = ex.w.mapv(|v| v * v);
                let aw = ex.w.mapv(f64::abs);
                (k, f64_input_grad(eg2.view(), w2.view()), f64_input_grad(abs_g.view(), aw.view()))
            }
            LinearTensor::Weight => {
                let (ax, x2) = self.abs_x.get_or_init(|| (ex.x.mapv(f64::abs), ex.x.mapv(|v| v * v)));
                (n, f64_weight_grad(eg2.view(), x2.view()), f64_weight_grad(abs_g.view(), ax.view()))
            }
            LinearTensor::Bias => (n, f64_bias_grad(eg2.view()), f64_bias_grad(abs_g.view())),
            other => panic!("the linear model's diagnosis takes input, weight and bias gradients, not {other}"),
        };
        let uf = file.unit_roundoff();
        let mut out = spread;
        ndarray::Zip::from(&mut out).and(&sums).and(truth).for_each(|s, &a, &t| {
            let stored = (us * t).powi(2) + eta * eta;
            *s = (*s + m as f64 * (ua * a).powi(2) + stored + (uf * t).powi(2)).sqrt();
        });
        out
    }
}
