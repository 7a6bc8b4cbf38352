//! Martins' test function f(x) = e^x / sqrt(sin^3 x + cos^3 x) (Squire & Trapp 1998; Martins,
//! Sturdza & Alonso 2003, Fig. 1), whose derivative at x = 1.5 the complex-step literature
//! compares every method on. Written once over [`Num`], so the same code gives f, its complex
//! step and its dual-number derivative in every dtype.

use crate::method::Univariate;
use crate::objective::Objective;
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use ndarray::{Array2, ArrayView2};
use rug::Float;

/// Martins' function.
#[derive(Clone, Copy, Debug, Default)]
pub struct Martins;

/// The point of the published comparison, x = 3/2 (exact in every dtype).
pub const X0: (i64, u64) = (3, 2);

impl Univariate for Martins {
    /// e^x / sqrt(s^3 + c^3) with s = sin x, c = cos x; the cubes as (s s) s, each operation
    /// rounded in the number type.
    fn eval<N: Num>(&self, x: &N) -> N {
        let (s, c) = (x.sin(), x.cos());
        let s3 = s.mul(&s).mul(&s);
        let c3 = c.mul(&c).mul(&c);
        x.exp().div(&s3.add(&c3).sqrt())
    }
}

/// Martins' function as an [`Objective`] of a 1 x 1 tensor at a point x of a dtype, its analytic
/// gradient the closed-form derivative ([`true_derivative`]) rounded once into the dtype.
#[derive(Clone, Debug)]
pub struct MartinsAt<T> {
    x: Array2<T>,
    grad: Array2<T>,
}

impl<T: Scalar> MartinsAt<T> {
    /// The objective at `x`.
    pub fn new(x: T) -> Self {
        let ctx = x.ctx();
        let bits = T::dtype(ctx).bits();
        // Rounded once to the dtype's precision (true_derivative keeps 64 guard bits).
        let prec = Prec::new(bits.max(Prec::MIN)).unwrap_or_else(|_| unreachable!("a dtype's precision is valid"));
        let d = true_derivative(&x.to_float(bits), prec);
        MartinsAt { grad: Array2::from_elem((1, 1), T::from_float(&d, ctx)), x: Array2::from_elem((1, 1), x) }
    }
}

impl<T: Scalar> Objective<T> for MartinsAt<T> {
    fn tensor(&self) -> ArrayView2<'_, T> {
        self.x.view()
    }
    fn value<N: Num<Real = T>>(&self, v: ArrayView2<N>) -> N {
        Martins.eval(&v[[0, 0]])
    }
    fn analytic(&self) -> ArrayView2<'_, T> {
        self.grad.view()
    }
}

/// The exact derivative f'(x) = f(x) (1 - 3 s c (s - c) / (2 (s^3 + c^3))) at `x`, from the
/// closed form evaluated in MPFR with 64 guard bits and rounded once to `prec` (independent of
/// the dual numbers and of [`Martins::eval`]; tests/martins.rs checks it against mpmath).
pub fn true_derivative(x: &Float, prec: Prec) -> Float {
    let w = prec.bits() + 64;
    let x = Float::with_val(w, x);
    let (s, c) = (Float::with_val(w, x.sin_ref()), Float::with_val(w, x.cos_ref()));
    let cubes = Float::with_val(w, s.clone().square() * &s) + Float::with_val(w, c.clone().square() * &c);
    let f = Float::with_val(w, x.exp_ref()) / Float::with_val(w, cubes.sqrt_ref());
    let inner = Float::with_val(w, &s * &c) * Float::with_val(w, &s - &c) * 3u32 / (Float::with_val(w, &cubes * 2u32));
    let d = f * (Float::with_val(w, 1u32) - inner);
    Float::with_val(prec.bits(), &d)
}

/// f'(3/2) at `prec` bits.
pub fn true_derivative_at_x0(prec: Prec) -> Float {
    true_derivative(&Float::with_val(prec.bits() + 64, rug::Rational::from(X0)), prec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_at_x0_is_the_published_one() {
        let d = true_derivative_at_x0(Prec::new(200).unwrap());
        let text = d.to_string_radix(10, Some(20));
        assert!(text.starts_with("4.053427893898620657"), "{text}");
        // f itself at 1.5 (4.4978... in the paper's setting: e^1.5 / sqrt(sin^3 + cos^3)).
        let f = Martins.eval(&1.5f64);
        let want = 1.5f64.exp() / (1.5f64.sin().powi(3) + 1.5f64.cos().powi(3)).sqrt();
        assert!((f - want).abs() < 1e-14 * want, "{f} vs {want}");
    }
}
