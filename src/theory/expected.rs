//! The expected error of a finite-difference gradient, element by element.
//!
//! For element e with true gradient g_e (MPFR truth) the stencil gives, to first order,
//!
//! numeric_e(h) = g_e (1 + δ_e(h)) + T_e h^p + r_e(h), where
//!
//! - δ_e(h) = Σ c_k s_k / round(D h) - 1 is the input's own rounding (c_k the weight of point k,
//!   [`crate::method::Stencil::coefficients`]): s_k = round(x + o_k h) - x is the step the dtype
//!   actually took at point k (exact, computed from the dtype's values), so δ_e is known
//!   exactly, not modelled;
//! - T_e h^p is the truncation error, with T_e (signed) measured per element in MPFR on the
//!   dtype's own trained state at [`super::TRUNCATION_PROBE_STEP`], where rounding is negligible;
//! - r_e(h) = Σ c_k η_k / (D h) is the loss's rounding: each computed loss value carries an error
//!   η_k, treated as independent across stencil points with standard deviation σ_L, so r_e has
//!   standard deviation σ_L sqrt(Σ c_k²) / (D h). The stencil subtracts paired points first
//!   ([`crate::method::quotient`]), which to first order in the η_k is the same sum; the roundings
//!   of the differences themselves are left out (two losses within a factor 2 of each other, as
//!   at every small step, subtract exactly). σ_L is measured once per problem and dtype by
//!   [`loss_noise`]: the spread of the dtype's computed loss around the exact loss at the same
//!   perturbed inputs. Nothing is fitted to the error curve the model then predicts.
//!
//! With r_e normal, E|μ + r| for μ = g_e δ_e + T_e h^p is the mean of a folded normal,
//! s sqrt(2/π) exp(-μ²/2s²) + |μ| erf(|μ| / (s sqrt 2)), and the predicted mean relative error
//! is the mean over elements of that divided by |g_e|.
//!
//! Where it fails: when h is so small that the perturbed losses round to the same value (the
//! flat-loss regime of [`crate::regimes`]) the errors η_k are no longer independent, and for the
//! 16-bit formats, whose optima lie at h of order 1, the truncation is no longer T_e h^p.

use crate::exact::Decimal;
use crate::method::{Stencil, StepConsts};
use crate::numeric::{numeric_grad, Setup};
use crate::objective::{LinearTensor, Reduction};
use crate::scalar::{Prec, Scalar};
use crate::train::Trained;
use crate::truth::truth_grad;
use rug::Float;

/// The calibration steps of [`loss_noise`]: large enough that the perturbed losses of every dtype
/// here differ from the unperturbed one (so their rounding errors are not the same error twice),
/// small enough to stay near the trained point.
pub const NOISE_PROBE_STEPS: [&str; 2] = ["1e-1", "-1e-1"];

/// The spread σ_L of a dtype's computed loss around the exact loss: the root mean square, over
/// every element perturbed by each of [`NOISE_PROBE_STEPS`], of (computed - exact) minus its
/// mean. The exact loss is evaluated in MPFR at `truth` bits at the very same perturbed inputs
/// (the dtype's values, converted exactly).
pub fn loss_noise<T: Scalar>(tr: &Trained<T>, reduction: Reduction, wrt: LinearTensor, truth: Prec) -> f64 {
    let bits = truth.bits();
    let exact = tr.to_mpfr(truth);
    let scale = reduction.scale::<T>(tr.n(), tr.ctx);
    let scale_exact = reduction.scale::<Float>(tr.n(), truth);
    let base = wrt.tensor(tr);
    let mut errors = Vec::with_capacity(2 * base.len());
    for step in NOISE_PROBE_STEPS {
        let h = T::from_rational(
            Decimal::parse("step", step).unwrap_or_else(|_| unreachable!("a literal")).value(),
            tr.ctx,
        );
        for ((j, i), v) in base.indexed_iter() {
            let mut moved = base.to_owned();
            moved[[j, i]] = v.add(&h);
            let computed = wrt.loss_with(tr, moved.view(), scale.as_ref()).to_float(bits);
            let moved_exact = moved.map(|v| v.to_float(bits));
            let truth = wrt.loss_with(&exact, moved_exact.view(), scale_exact.as_ref());
            errors.push(Float::with_val(bits, &computed - &truth).to_f64());
        }
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / errors.len() as f64).sqrt()
}

/// The expected-error model of one trained state, stencil and wrt (see the module docs).
#[derive(Clone, Debug)]
pub struct ExpectedModel {
    stencil: Stencil,
    /// Per element: the true gradient g_e and the truncation coefficient T_e.
    terms: Vec<(f64, f64)>,
    /// The loss's rounding noise σ_L.
    pub sigma_loss: f64,
    truth: Prec,
}

impl ExpectedModel {
    /// The model of `tr` (a dtype's trained state): truth and truncation in MPFR at `truth` bits,
    /// σ_L from [`loss_noise`].
    pub fn new<T: Scalar>(
        tr: &Trained<T>,
        reduction: Reduction,
        stencil: Stencil,
        wrt: LinearTensor,
        truth: Prec,
    ) -> Self {
        let g = crate::watch::unwatched(|watch| truth_grad(tr, reduction, wrt, truth, watch));
        let exact = tr.to_mpfr(truth);
        let h0 = Decimal::parse("step", super::TRUNCATION_PROBE_STEP).unwrap_or_else(|_| unreachable!("a literal"));
        let num = numeric_grad(&Setup { trained: &exact, reduction, stencil, wrt }, &h0, false).grad;
        let h0p = h0.to_f64().powi(stencil.order as i32);
        let terms = g
            .iter()
            .zip(num.iter())
            .map(|(g, n)| (g.to_f64(), Float::with_val(truth.bits(), n - g).to_f64() / h0p))
            .collect();
        ExpectedModel { stencil, terms, sigma_loss: loss_noise(tr, reduction, wrt, truth), truth }
    }

    /// The predicted mean relative error at step `h` (rounded into the dtype of `tr`, the state
    /// the model was built from), over the elements with a nonzero true gradient.
    pub fn predict<T: Scalar>(&self, tr: &Trained<T>, wrt: LinearTensor, h: &Decimal) -> f64 {
        let bits = self.truth.bits();
        let consts = StepConsts::new(&self.stencil, T::from_rational(h.value(), tr.ctx));
        let denom = consts.denom_h.to_f64();
        let hf = consts.h.to_f64();
        let coeffs = self.stencil.coefficients();
        let gain: f64 = coeffs.iter().map(|&c| (c * c) as f64).sum::<f64>().sqrt();
        let noise = self.sigma_loss * gain / denom;
        let p = self.stencil.order as i32;
        let (mut total, mut count) = (0.0, 0usize);
        for (x, &(g, trunc)) in wrt.tensor(tr).iter().zip(&self.terms) {
            if g == 0.0 {
                continue;
            }
            // The steps the dtype actually took, combined by the stencil, over the rounded D h.
            let mut taken = Float::new(bits);
            for ((&c, &o), shift) in coeffs.iter().zip(self.stencil.offsets).zip(&consts.shifts) {
                if o != 0 {
                    let moved = x.add(shift).to_float(bits);
                    taken += Float::with_val(bits, &moved - &x.to_float(bits)) * c;
                }
            }
            let delta = Float::with_val(bits, &taken / &consts.denom_h.to_float(bits)).to_f64() - 1.0;
            let mu = g * delta + trunc * hf.powi(p);
            total += folded_normal_mean(mu, noise) / g.abs();
            count += 1;
        }
        total / count.max(1) as f64
    }
}

/// E|μ + s Z| for a standard normal Z: s sqrt(2/π) exp(-μ²/(2 s²)) + |μ| erf(|μ| / (s sqrt 2)).
pub(crate) fn folded_normal_mean(mu: f64, s: f64) -> f64 {
    if s <= 0.0 {
        return mu.abs();
    }
    let a = mu.abs() / s;
    s * (2.0 / std::f64::consts::PI).sqrt() * (-a * a / 2.0).exp() + mu.abs() * erf(a / std::f64::consts::SQRT_2)
}

/// The error function, by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7: ample for a
/// model judged to a factor 1.5).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly =
        ((((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592) * t;
    let y = 1.0 - poly * (-x * x).exp();
    if x >= 0.0 {
        y
    } else {
        -y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_normal_limits() {
        assert!((folded_normal_mean(0.0, 1.0) - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-12);
        assert!((folded_normal_mean(10.0, 1.0) - 10.0).abs() < 1e-6);
        assert_eq!(folded_normal_mean(-3.0, 0.0), 3.0);
        // E|1 + Z| = 2 phi(1) + erf(1/sqrt 2) = 0.4839414 + 0.6826895.
        assert!((folded_normal_mean(1.0, 1.0) - 1.166_630_9).abs() < 1e-6);
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 2e-7);
    }
}
