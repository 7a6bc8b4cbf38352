//! `--eps auto`: a step per element, chosen from an error model estimated from function values
//! alone, in the manner of FiniteDifferences.jl's `estimate_step`.
//!
//! For a stencil of order p (truncation error C h^p f^(p+1), C = [`Stencil::trunc_const`]) whose
//! function values carry rounding errors of about u |L| each, amplified by
//! G = [`Stencil::noise_gain`] = sum |c_k| / D, the error of the quotient is modelled as
//!
//! E(h) = C |f^(p+1)| h^p + G u |L| / h,
//!
//! minimised at h* = (G u |L| / (p C |f^(p+1)|))^(1 / (p + 1)). Per element:
//!
//! 1. |f^(p+1)| is estimated by one extra pass of the numeric engine with an estimation stencil
//!    of derivative order m = p + 1 ([`estimation_stencil`]: forward f'' from the points 0, 1, 2
//!    as (f(2) - f(1)) - (f(1) - f(0)) (backward: -2, -1, 0 likewise), central f''' as
//!    (f(2) - f(-2)) - 2 (f(1) - f(-1)), central5 f^(5) as (f(3) - f(-3)) - 4 (f(2) - f(-2)) +
//!    5 (f(1) - f(-1)): differences of paired points like every stencil, so a flat loss gives an
//!    estimate of exactly 0) at one
//!    moderate step H per dtype ([`estimation_step`]: u^(1/(m+2)), the step that balances the
//!    estimate's own rounding, u |L| / H^m, against its truncation, about H^2, rounded to a
//!    power of ten and then taken one decade larger, at most 1: h* depends on the estimate only through
//!    its (p+1)-th root, so a biased but quiet estimate is worth more than a noisy one, and
//!    rounding noise, which grows as H^-m, inflates |f^(p+1)| and so shrinks h*; on the default
//!    problem the larger decade gave 1.5x (central) and 4.3x (central5) smaller errors in f32 and
//!    about equal ones in f64).
//!    The engine evaluates it exactly like any stencil, in the dtype (so the fast
//!    path and `--naive` agree bit for bit), returning sum_k c_k L(x + o_k H) / (D H) = H^(m-1)
//!    f^(m); the division by H^(m-1) is done in f64.
//! 2. |L| is the unperturbed loss and u the dtype's unit roundoff. The rest of the arithmetic,
//!    h* above, is in f64 with no other constant factor. When the estimate of |f^(p+1)| is 0 or
//!    not finite, |L| stands in for it (FiniteDifferences.jl likewise assumes derivatives of the
//!    function's own magnitude when it has nothing better), and 1 when |L| is 0 too.
//! 3. h* is rounded once into the dtype (like a fixed step, which is rounded once from its exact
//!    decimal) and the element's quotient is evaluated with it, its shifts o_k h and D h rounded
//!    once as for a fixed step ([`crate::method::StepConsts`]).
//!
//! FiniteDifferences.jl differs in its constants: it bounds the truncation by the p-th
//! derivative of its p-point grid with the sum of |c_k o_k^p| / p!, takes eps(|f|) (about
//! 2 u |f|) times a condition number of 10 for the rounding, and estimates the derivative with
//! its own adapted method. Here the stencil's exact leading constant and noise gain are used
//! instead, so that the model is the one `error_model` tests.

use super::{numeric_grads, NumericGrad, Setup};
use crate::error::Result;
use crate::exact::Decimal;
use crate::method::stencil::points;
use crate::method::{Difference, Scheme, Stencil};
use crate::scalar::Scalar;
use crate::watch::Watch;
use rug::Rational;

/// The stencil estimating f^(p+1) for `scheme`'s order p (its `order` field is the derivative's
/// order m = p + 1; its `trunc_const` and `noise_gain` are unused). `None` for the schemes that
/// are not stencils.
pub fn estimation_stencil(scheme: Scheme) -> Option<Stencil> {
    let (differences, offsets, denom): (&'static [Difference], &'static [i64], i64) = match scheme {
        Scheme::Forward => (&FORWARD_F2, &FORWARD_F2_POINTS, 1),
        Scheme::Backward => (&BACKWARD_F2, &BACKWARD_F2_POINTS, 1),
        Scheme::Central => (&CENTRAL_F3, &CENTRAL_F3_POINTS, 2),
        Scheme::Central5 => (&CENTRAL5_F5, &CENTRAL5_F5_POINTS, 2),
        _ => return None,
    };
    let order = scheme.stencil().order + 1;
    Some(Stencil { scheme, differences, offsets, denom, order, trunc_const: 0.0, noise_gain: 0.0 })
}

/// f'' h^2 ≈ (f(x + 2h) − f(x + h)) − (f(x + h) − f(x)).
const FORWARD_F2: [Difference; 2] = [Difference::new(2, 1, 1), Difference::new(1, 0, -1)];
/// f'' h^2 ≈ (f(x) − f(x − h)) − (f(x − h) − f(x − 2h)).
const BACKWARD_F2: [Difference; 2] = [Difference::new(0, -1, 1), Difference::new(-1, -2, -1)];
/// 2 f''' h^3 ≈ (f(x + 2h) − f(x − 2h)) − 2 (f(x + h) − f(x − h)).
const CENTRAL_F3: [Difference; 2] = [Difference::new(2, -2, 1), Difference::new(1, -1, -2)];
/// 2 f^(5) h^5 ≈ (f(x + 3h) − f(x − 3h)) − 4 (f(x + 2h) − f(x − 2h)) + 5 (f(x + h) − f(x − h)).
const CENTRAL5_F5: [Difference; 3] = [Difference::new(3, -3, 1), Difference::new(2, -2, -4), Difference::new(1, -1, 5)];
const FORWARD_F2_POINTS: [i64; 3] = points(&FORWARD_F2);
const BACKWARD_F2_POINTS: [i64; 3] = points(&BACKWARD_F2);
const CENTRAL_F3_POINTS: [i64; 4] = points(&CENTRAL_F3);
const CENTRAL5_F5_POINTS: [i64; 6] = points(&CENTRAL5_F5);

/// The estimation step H of a dtype with unit roundoff `u` for a derivative of order `m`:
/// u^(1/(m+2)) rounded to the nearest power of ten (in its exponent), times 10, at most 1, as an
/// exact decimal.
pub fn estimation_step(u: f64, m: u32) -> Decimal {
    let e = ((u.log10() / f64::from(m + 2)).round() as i32 + 1).min(0);
    let text = format!("1e{e}");
    Decimal::parse("step", &text).unwrap_or_else(|_| unreachable!("1e<int> parses"))
}

/// The step h* = (G u |L| / (p C |d|))^(1/(p+1)) of the module's error model, in f64, for a
/// stencil of order p, an estimated |f^(p+1)| `d` and a loss magnitude `loss` (see the module
/// documentation for the fallbacks).
pub(crate) fn model_step(stencil: &Stencil, u: f64, loss: f64, d: f64) -> f64 {
    let loss = if loss.is_finite() && loss > 0.0 { loss } else { 1.0 };
    let d = if d.is_finite() && d > 0.0 { d } else { loss };
    let p = f64::from(stencil.order);
    (stencil.noise_gain * u * loss / (p * stencil.trunc_const * d)).powf(1.0 / (p + 1.0))
}

/// The numeric gradient of `setup` (a stencil) with a step per element chosen by the error
/// model, and the chosen steps (in the dtype, row-major). One pass of the engine estimates
/// f^(p+1), a second evaluates the stencil with each element's step; both by the fast path or
/// (with `naive`) from scratch, with identical results.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn auto_grad<T: Scalar>(setup: &Setup<T>, naive: bool, watch: &Watch) -> Result<(NumericGrad<T>, Vec<T>)> {
    let tr = setup.trained;
    let ctx = tr.ctx;
    let stencil = setup.stencil;
    let est_stencil = estimation_stencil(stencil.scheme)
        .unwrap_or_else(|| unreachable!("--eps auto is validated to go with a stencil"));
    let u = T::dtype(ctx).unit_roundoff();
    let big_h = estimation_step(u, est_stencil.order);
    let est_setup = Setup { stencil: est_stencil, ..setup.clone() };
    let est = numeric_grads(&est_setup, std::slice::from_ref(&big_h), naive, watch)?
        .pop()
        .unwrap_or_else(|| unreachable!("one step"));
    let scale = setup.reduction.scale::<T>(tr.n(), ctx);
    let loss = setup.wrt.loss_with(tr, setup.wrt.tensor(tr), scale.as_ref()).to_f64().abs();
    let h_pow = big_h.to_f64().powi(est_stencil.order as i32 - 1);
    let steps: Vec<T> =
        est.grad.iter().map(|q| T::from_f64(model_step(&stencil, u, loss, q.to_f64().abs() / h_pow), ctx)).collect();
    let grad = super::per_element_grad(setup, &steps, naive, watch)?;
    Ok((grad, steps))
}

/// The lower median of `steps` (an element's actual step) as an exact decimal, its text the
/// shortest decimal that rounds to it in f64. Steps of MPFR dtypes wider than f64 are rounded to
/// f64 first.
pub(crate) fn median_step<T: Scalar>(steps: &[T]) -> Decimal {
    let mut v: Vec<f64> = steps.iter().map(Scalar::to_f64).collect();
    v.sort_by(f64::total_cmp);
    let m = v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(1.0);
    let value = Rational::from_f64(m).unwrap_or_else(|| Rational::from(1));
    Decimal::from_rational(format!("{m:e}"), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each estimation stencil has derivative order m = p + 1: sum c_k o_k^j / D is 0 for j < m
    /// and m! for j = m; the weights per point are the textbook ones (1, -2, 1 for f'').
    #[test]
    fn estimation_stencils_take_the_next_derivative() {
        for s in Scheme::ALL {
            let st = estimation_stencil(s).unwrap();
            assert_eq!(st.order, s.stencil().order + 1);
            let coeffs = st.coefficients();
            let moment = |j: u32| -> Rational {
                let num: i64 = st.offsets.iter().zip(&coeffs).map(|(o, c)| c * o.pow(j)).sum();
                Rational::from((num, st.denom))
            };
            for j in 0..st.order {
                assert_eq!(moment(j), 0, "{s} j={j}");
            }
            let fact: i64 = (1..=i64::from(st.order)).product();
            assert_eq!(moment(st.order), fact, "{s}");
            let before: &[i64] = match s {
                Scheme::Forward | Scheme::Backward => &[1, -2, 1],
                Scheme::Central => &[-1, 2, -2, 1],
                _ => &[-1, 4, -5, 5, -4, 1],
            };
            assert_eq!(coeffs, before, "{s}");
        }
        assert!(estimation_stencil(Scheme::Complex).is_none());
    }

    /// The model's step balances the two terms: at h*, truncation = (G u L / h) / p.
    #[test]
    fn model_step_balances_truncation_and_rounding() {
        let st = Scheme::Central.stencil();
        let (u, l, d) = (1.1e-16, 0.7, 0.3);
        let h = model_step(&st, u, l, d);
        let trunc = st.trunc_const * d * h * h;
        let round = st.noise_gain * u * l / h;
        assert!((trunc * 2.0 / round - 1.0).abs() < 1e-12, "{trunc} {round}");
        assert_eq!(estimation_step(1.1e-16, 3).text(), "1e-2");
        assert_eq!(estimation_step(5.96e-8, 3).text(), "1e0");
        assert_eq!(estimation_step(4.9e-4, 5).text(), "1e0");
    }
}
