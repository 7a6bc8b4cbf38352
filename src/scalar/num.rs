//! Numbers an objective can be evaluated in: a real [`Scalar`], a [`Complex`] number over it
//! (the complex step) or a [`Dual`] number over it (forward mode). An objective written once
//! over [`Num`] gives, from the same code, its value, Im f(x + i h) / h and f'(x) in every dtype.
//!
//! # Rounding
//!
//! Every real operation inside is one correctly rounded operation of the underlying Scalar type
//! (MPFR included), in the order written here; nothing is fused. Complex numbers:
//! (a + ib)(c + id) = (ac - bd) + i(ad + bc); a quotient of finite parts with a nonzero divisor
//! and an imaginary part on either side has each part exact and rounded once (as MPC does; the
//! others, real operands, infinities or a zero divisor, by Smith's algorithm, which keeps IEEE's
//! signed zeros);
//! exp(a + ib) = e^a cos b + i e^a sin b; ln z = ln|z| + i arg z with |z| = |a| sqrt(1 + (b/a)^2)
//! for |a| >= |b|; sqrt by the stable half-angle formula; sin, cos from sin, cos, sinh, cosh of
//! the parts; tanh z = (tanh a + i tan b) / (1 + i tanh a tan b). With an imaginary part of
//! order h far below the real part (the complex step), every formula keeps the real part bit for
//! bit what the real computation gives whenever the O(h^2) terms vanish below half an ulp, and the
//! imaginary part to a few ulps relative: no subtraction of nearly equal numbers, so steps of
//! 1e-20, 1e-100 or 1e-300 work. Dual numbers carry (v, d) with d the derivative along a seed
//! direction: (v1 v2, v1 d2 + d1 v2), (v1 / v2, (d1 - q d2) / v2) with q = v1 / v2, and
//! (f(v), f'(v) d) for the elementary functions, f'(v) from the correctly rounded f(v) or its
//! companion (cos for sin, 1 - t^2 for tanh, ...).

use crate::scalar::Scalar;
use rug::Float;
use std::cmp::Ordering;
use std::fmt::Debug;

/// A number an objective can be evaluated in: the real Scalar type itself, or an extension of
/// it whose real part is that type.
pub trait Num: Clone + Debug + Send + Sync {
    /// The real type underneath.
    type Real: Scalar;
    /// The real value `x` as a number of this kind (imaginary or dual part 0).
    fn real(x: Self::Real) -> Self;
    /// The real part.
    fn re(&self) -> &Self::Real;
    /// `self + o`.
    fn add(&self, o: &Self) -> Self;
    /// `self - o`.
    fn sub(&self, o: &Self) -> Self;
    /// `self * o`.
    fn mul(&self, o: &Self) -> Self;
    /// `self / o`.
    fn div(&self, o: &Self) -> Self;
    /// `self * r` for a real `r`.
    fn scale(&self, r: &Self::Real) -> Self;
    /// `-self`.
    fn neg(&self) -> Self;
    /// e^self.
    fn exp(&self) -> Self;
    /// ln(self) (principal branch).
    fn ln(&self) -> Self;
    /// sqrt(self) (principal branch).
    fn sqrt(&self) -> Self;
    /// sin(self).
    fn sin(&self) -> Self;
    /// cos(self).
    fn cos(&self) -> Self;
    /// tanh(self).
    fn tanh(&self) -> Self;
    /// Compares real parts (how a max is taken, e.g. in the softmax's shift); `None` for NaN.
    fn cmp_re(&self, o: &Self) -> Option<Ordering> {
        self.re().partial_cmp_val(o.re())
    }
}

/// A real value, by its Scalar operations.
fn un<T: Scalar>(x: &T, f: fn(&mut T)) -> T {
    let mut r = x.clone();
    f(&mut r);
    r
}

impl<T: Scalar> Num for T {
    type Real = T;
    fn real(x: T) -> Self {
        x
    }
    fn re(&self) -> &T {
        self
    }
    fn add(&self, o: &Self) -> Self {
        Scalar::add(self, o)
    }
    fn sub(&self, o: &Self) -> Self {
        Scalar::sub(self, o)
    }
    fn mul(&self, o: &Self) -> Self {
        Scalar::mul(self, o)
    }
    fn div(&self, o: &Self) -> Self {
        Scalar::div(self, o)
    }
    fn scale(&self, r: &T) -> Self {
        Scalar::mul(self, r)
    }
    fn neg(&self) -> Self {
        un(self, T::neg_mut)
    }
    fn exp(&self) -> Self {
        Scalar::exp(self)
    }
    fn ln(&self) -> Self {
        Scalar::ln(self)
    }
    fn sqrt(&self) -> Self {
        Scalar::sqrt(self)
    }
    fn sin(&self) -> Self {
        un(self, T::sin_mut)
    }
    fn cos(&self) -> Self {
        un(self, T::cos_mut)
    }
    fn tanh(&self) -> Self {
        un(self, T::tanh_mut)
    }
}

/// A complex number a + ib over a Scalar type (MPFR included).
#[derive(Clone, Debug, PartialEq)]
pub struct Complex<T> {
    /// The real part a.
    pub re: T,
    /// The imaginary part b.
    pub im: T,
}

impl<T: Scalar> Complex<T> {
    /// a + ib.
    pub fn new(re: T, im: T) -> Self {
        Complex { re, im }
    }

    /// Whether |a| >= |b| (or either is NaN).
    fn real_dominates(&self) -> bool {
        self.re.abs().partial_cmp_val(&self.im.abs()) != Some(Ordering::Less)
    }

    /// The modulus |z|, without overflow or underflow of the squares: |a| sqrt(1 + (b/a)^2) for
    /// |a| >= |b| (and the same with the parts swapped).
    fn modulus(&self) -> T {
        let (big, small) = if self.real_dominates() { (&self.re, &self.im) } else { (&self.im, &self.re) };
        let big = big.abs();
        if big.is_zero() {
            return big;
        }
        let r = small.div(&big);
        let one = T::from_int(1, big.ctx());
        big.mul(&one.add(&r.mul(&r)).sqrt())
    }

    /// The argument atan2(b, a) in (-pi, pi].
    fn arg(&self) -> T {
        let ctx = self.re.ctx();
        let pi = || T::from_float(&Float::with_val(T::dtype(ctx).bits() + 64, rug::float::Constant::Pi), ctx);
        if self.re.is_zero() && self.im.is_zero() {
            return T::zero(ctx);
        }
        if self.real_dominates() {
            let t = un(&self.im.div(&self.re), T::atan_mut);
            if !is_neg(&self.re) {
                t
            } else if is_neg(&self.im) {
                t.sub(&pi())
            } else {
                t.add(&pi())
            }
        } else {
            // atan2(b, a) = sign(b) pi/2 - atan(a/b).
            let half_pi = pi().div(&T::from_int(2, ctx));
            let t = un(&self.re.div(&self.im), T::atan_mut);
            if is_neg(&self.im) {
                un(&half_pi, T::neg_mut).sub(&t)
            } else {
                half_pi.sub(&t)
            }
        }
    }
}

/// A number type that differentiates in one evaluation: the complex step and dual numbers. The
/// input is seeded with a parameter h, and the derivative is read back from the output; every
/// engine (the linear model's, the generic one, the univariate one) goes through these two.
pub trait Seeded: Num {
    /// v + ih (the complex step, h its step) or v + h epsilon (dual numbers, h = 1).
    fn seed(v: &Self::Real, h: &Self::Real) -> Self;
    /// Im(y) / h, or y's dual part.
    fn derivative(y: &Self, h: &Self::Real) -> Self::Real;
}

impl<T: Scalar> Seeded for Complex<T> {
    fn seed(v: &T, h: &T) -> Self {
        Complex::new(v.clone(), h.clone())
    }
    fn derivative(y: &Self, h: &T) -> T {
        y.im.div(h)
    }
}

impl<T: Scalar> Seeded for Dual<T> {
    fn seed(v: &T, h: &T) -> Self {
        Dual::new(v.clone(), h.clone())
    }
    fn derivative(y: &Self, _: &T) -> T {
        y.d.clone()
    }
}

/// Whether |b| < 2^-ceil(p/2) in a dtype of precision p, where the correctly rounded cos b is 1
/// and sin b is b: 1 - cos b < b^2 / 2 <= 2^-(p+1), half the spacing below 1, and
/// |b - sin b| < |b|^3 / 6 < 2^-p |b| / 6, less than half the spacing below |b| even when |b|
/// is a power of two (2^-(p+1) |b|; subnormal b are further still from their neighbours'
/// midpoints). The complex step's imaginary parts are of this size, and skipping the two calls
/// changes no bit (tested against the calls).
fn below_half_precision<T: Scalar>(b: &T) -> bool {
    let ctx = b.ctx();
    let half = T::dtype(ctx).bits().div_ceil(2);
    let bound = if half < 1000 {
        T::from_f64(2f64.powi(-(half as i32)), ctx)
    } else {
        T::from_rational(&(rug::Rational::from(1) >> half), ctx)
    };
    b.abs().partial_cmp_val(&bound) == Some(Ordering::Less)
}

/// (a + ib) / (c + id) with each part the exact quotient rounded once into `T`:
/// ((ac + bd) + i(bc - ad)) / (c^2 + d^2) in exact rational arithmetic, as MPC rounds each part
/// of a complex quotient correctly. For finite parts and a nonzero divisor; an exact zero part
/// is +0. Smith's algorithm rounds five or six times on the way to the imaginary part; on
/// Martins' function that cost the complex step up to 3.15 u in f64 at six of the 293 steps from
/// 1e-8 to 1e-300, against at most 1.18 u with one rounding (results/martins; tests/martins.rs
/// checks 2 u at every step).
fn exact_quotient<T: Scalar>(a: &T, b: &T, c: &T, d: &T) -> Complex<T> {
    let ctx = a.ctx();
    let bits = T::dtype(ctx).value_bits();
    let q = |v: &T| v.to_float(bits).to_rational().unwrap_or_else(|| unreachable!("finite parts"));
    let (a, b, c, d) = (q(a), q(b), q(c), q(d));
    let den = rug::Rational::from(&c * &c) + rug::Rational::from(&d * &d);
    let re = (rug::Rational::from(&a * &c) + rug::Rational::from(&b * &d)) / &den;
    let im = (rug::Rational::from(&b * &c) - rug::Rational::from(&a * &d)) / den;
    Complex { re: T::from_rational(&re, ctx), im: T::from_rational(&im, ctx) }
}

/// Whether `v` is negative or -0 (MPFR and IEEE keep the sign of zero).
fn is_neg<T: Scalar>(v: &T) -> bool {
    match v.partial_cmp_val(&T::zero(v.ctx())) {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => v.to_float(T::dtype(v.ctx()).bits()).is_sign_negative(),
        _ => false,
    }
}

impl<T: Scalar> Num for Complex<T> {
    type Real = T;
    fn real(x: T) -> Self {
        let z = T::zero(x.ctx());
        Complex { re: x, im: z }
    }
    fn re(&self) -> &T {
        &self.re
    }
    fn add(&self, o: &Self) -> Self {
        Complex { re: self.re.add(&o.re), im: self.im.add(&o.im) }
    }
    fn sub(&self, o: &Self) -> Self {
        Complex { re: self.re.sub(&o.re), im: self.im.sub(&o.im) }
    }
    fn mul(&self, o: &Self) -> Self {
        let re = self.re.mul(&o.re).sub(&self.im.mul(&o.im));
        let im = self.re.mul(&o.im).add(&self.im.mul(&o.re));
        Complex { re, im }
    }
    fn div(&self, o: &Self) -> Self {
        let (a, b, c, d) = (&self.re, &self.im, &o.re, &o.im);
        let parts_finite = [a, b, c, d].into_iter().all(T::is_finite);
        if parts_finite && !(b.is_zero() && d.is_zero()) && !(c.is_zero() && d.is_zero()) {
            return exact_quotient(a, b, c, d);
        }
        // Real operands, infinities, NaN or a zero divisor: Smith's algorithm (exact for real
        // operands, and IEEE's signed zeros, infinities and NaN).
        if o.real_dominates() {
            let r = d.div(c);
            let den = c.add(&d.mul(&r));
            Complex { re: a.add(&b.mul(&r)).div(&den), im: b.sub(&a.mul(&r)).div(&den) }
        } else {
            let r = c.div(d);
            let den = c.mul(&r).add(d);
            Complex { re: a.mul(&r).add(b).div(&den), im: b.mul(&r).sub(a).div(&den) }
        }
    }
    fn scale(&self, r: &T) -> Self {
        Complex { re: self.re.mul(r), im: self.im.mul(r) }
    }
    fn neg(&self) -> Self {
        Complex { re: un(&self.re, T::neg_mut), im: un(&self.im, T::neg_mut) }
    }
    fn exp(&self) -> Self {
        let e = Scalar::exp(&self.re);
        if self.im.is_zero() {
            // e^a exactly as the real computation, and an imaginary 0 of b's sign.
            return Complex { im: self.im.clone(), re: e };
        }
        if below_half_precision(&self.im) {
            // cos b and sin b round to 1 and b ([`below_half_precision`]): skip the calls.
            return Complex { im: e.mul(&self.im), re: e };
        }
        Complex { re: e.mul(&un(&self.im, T::cos_mut)), im: e.mul(&un(&self.im, T::sin_mut)) }
    }
    fn ln(&self) -> Self {
        let ctx = self.re.ctx();
        let re = if self.im.is_zero() { self.re.abs() } else { self.modulus() };
        let im = if self.im.is_zero() && self.re.partial_cmp_val(&T::zero(ctx)) != Some(Ordering::Less) {
            self.im.clone()
        } else {
            self.arg()
        };
        Complex { re: Scalar::ln(&re), im }
    }
    fn sqrt(&self) -> Self {
        let ctx = self.re.ctx();
        if self.im.is_zero() && self.re.partial_cmp_val(&T::zero(ctx)) != Some(Ordering::Less) {
            return Complex { re: Scalar::sqrt(&self.re), im: self.im.clone() };
        }
        let two = T::from_int(2, ctx);
        let m = self.modulus();
        if self.re.partial_cmp_val(&T::zero(ctx)) != Some(Ordering::Less) {
            // s = sqrt((|z| + a) / 2), then b / (2 s): no cancellation.
            let s = Scalar::sqrt(&m.add(&self.re).div(&two));
            let im = self.im.div(&two.mul(&s));
            Complex { re: s, im }
        } else {
            let t = Scalar::sqrt(&m.sub(&self.re).div(&two));
            let re = self.im.abs().div(&two.mul(&t));
            let im = if is_neg(&self.im) { un(&t, T::neg_mut) } else { t };
            Complex { re, im }
        }
    }
    fn sin(&self) -> Self {
        // sin(a + ib) = sin a cosh b + i cos a sinh b.
        let (s, c) = (un(&self.re, T::sin_mut), un(&self.re, T::cos_mut));
        Complex { re: s.mul(&un(&self.im, T::cosh_mut)), im: c.mul(&un(&self.im, T::sinh_mut)) }
    }
    fn cos(&self) -> Self {
        // cos(a + ib) = cos a cosh b - i sin a sinh b.
        let (s, c) = (un(&self.re, T::sin_mut), un(&self.re, T::cos_mut));
        Complex { re: c.mul(&un(&self.im, T::cosh_mut)), im: un(&s.mul(&un(&self.im, T::sinh_mut)), T::neg_mut) }
    }
    fn tanh(&self) -> Self {
        // tanh(a + ib) = (tanh a + i tan b) / (1 + i tanh a tan b).
        let t = un(&self.re, T::tanh_mut);
        let tan_b = un(&self.im, T::sin_mut).div(&un(&self.im, T::cos_mut));
        let num = Complex { re: t.clone(), im: tan_b.clone() };
        let den = Complex { re: T::from_int(1, t.ctx()), im: t.mul(&tan_b) };
        num.div(&den)
    }
}

/// A dual number v + d epsilon (epsilon^2 = 0) over a Scalar type: d is the derivative of v
/// along the seed direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Dual<T> {
    /// The value.
    pub v: T,
    /// The derivative.
    pub d: T,
}

impl<T: Scalar> Dual<T> {
    /// v + d epsilon.
    pub fn new(v: T, d: T) -> Self {
        Dual { v, d }
    }
    /// (f(v), f'(v) d) from f(v) and f'(v).
    fn chain(&self, fv: T, dfv: T) -> Self {
        Dual { d: dfv.mul(&self.d), v: fv }
    }
}

impl<T: Scalar> Num for Dual<T> {
    type Real = T;
    fn real(x: T) -> Self {
        let z = T::zero(x.ctx());
        Dual { v: x, d: z }
    }
    fn re(&self) -> &T {
        &self.v
    }
    fn add(&self, o: &Self) -> Self {
        Dual { v: self.v.add(&o.v), d: self.d.add(&o.d) }
    }
    fn sub(&self, o: &Self) -> Self {
        Dual { v: self.v.sub(&o.v), d: self.d.sub(&o.d) }
    }
    fn mul(&self, o: &Self) -> Self {
        Dual { v: self.v.mul(&o.v), d: self.v.mul(&o.d).add(&self.d.mul(&o.v)) }
    }
    fn div(&self, o: &Self) -> Self {
        let q = self.v.div(&o.v);
        Dual { d: self.d.sub(&q.mul(&o.d)).div(&o.v), v: q }
    }
    fn scale(&self, r: &T) -> Self {
        Dual { v: self.v.mul(r), d: self.d.mul(r) }
    }
    fn neg(&self) -> Self {
        Dual { v: un(&self.v, T::neg_mut), d: un(&self.d, T::neg_mut) }
    }
    fn exp(&self) -> Self {
        let e = Scalar::exp(&self.v);
        self.chain(e.clone(), e)
    }
    fn ln(&self) -> Self {
        Dual { v: Scalar::ln(&self.v), d: self.d.div(&self.v) }
    }
    fn sqrt(&self) -> Self {
        let s = Scalar::sqrt(&self.v);
        let two_s = s.add(&s);
        Dual { d: self.d.div(&two_s), v: s }
    }
    fn sin(&self) -> Self {
        self.chain(un(&self.v, T::sin_mut), un(&self.v, T::cos_mut))
    }
    fn cos(&self) -> Self {
        self.chain(un(&self.v, T::cos_mut), un(&un(&self.v, T::sin_mut), T::neg_mut))
    }
    fn tanh(&self) -> Self {
        let t = un(&self.v, T::tanh_mut);
        let one = T::from_int(1, t.ctx());
        let dt = one.sub(&t.mul(&t));
        self.chain(t, dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{DType, Prec};

    /// Below 2^-ceil(p/2) the correctly rounded cos and sin give 1 and b: checked at the bound's
    /// largest values and a spread below, in f16, bf16, f32, f64 and MPFR.
    #[test]
    fn tiny_angles_need_no_calls() {
        fn check<T: Scalar>(ctx: T::Ctx) {
            let p = T::dtype(ctx).bits();
            let bound = 2f64.powi(-(p.div_ceil(2) as i32));
            let mut n = 0;
            for k in 0..2000u32 {
                // From just below the bound down over twenty binades, both signs.
                let b = bound * (1.0 - f64::from(k % 100) / 1000.0) * 2f64.powi(-((k / 100) as i32));
                for v in [b, -b] {
                    let b = T::from_f64(v, ctx);
                    if !below_half_precision(&b) {
                        continue;
                    }
                    n += 1;
                    assert!(un(&b, T::cos_mut).partial_cmp_val(&T::from_int(1, ctx)) == Some(Ordering::Equal), "{v}");
                    assert!(un(&b, T::sin_mut).partial_cmp_val(&b) == Some(Ordering::Equal), "{v}");
                }
            }
            assert!(n > 3000, "{n}");
            assert!(!below_half_precision(&T::from_f64(bound, ctx)));
        }
        check::<half::f16>(());
        check::<half::bf16>(());
        check::<f32>(());
        check::<f64>(());
        check::<Float>(Prec::new(100).unwrap());
        assert_eq!(DType::F64.bits().div_ceil(2), 27);
    }

    /// Complex functions at a point with a large imaginary part, computed at 512 bits, against
    /// Python's cmath (correct to about an ulp of f64).
    #[test]
    fn complex_functions_match_wide_formulas() {
        let c = |a: f64, b: f64| Complex::new(Float::with_val(512, a), Float::with_val(512, b));
        let close = |z: &Complex<Float>, re: f64, im: f64| {
            (z.re.to_f64() - re).abs() <= 1e-15 * re.abs().max(1.0)
                && (z.im.to_f64() - im).abs() <= 1e-15 * im.abs().max(1.0)
        };
        let z = c(0.3, -1.2);
        // Values from the closed forms (computed with Python's cmath).
        let cases: [(&str, Complex<Float>, f64, f64); 6] = [
            ("exp", z.exp(), 0.48913180637380077, -1.258121169197948),
            ("ln", z.ln(), 0.21263386770217202, -1.3258176636680326),
            ("sqrt", z.sqrt(), 0.8766218362798459, -0.6844456471062177),
            ("sin", z.sin(), 0.5350853074482043, -1.4420435117502435),
            ("cos", z.cos(), 1.7297853327034005, 0.4460763316987109),
            ("tanh", z.tanh(), 1.4208749681924122, -1.5074897119754052),
        ];
        for (name, got, re, im) in cases {
            assert!(close(&got, re, im), "{name}: {got:?} vs {re} {im}");
        }
        let q = c(1.0, 2.0).div(&c(3.0, -4.0));
        assert!(close(&q, -0.2, 0.4), "{q:?}");
    }

    /// A complex quotient with imaginary parts rounds each part once: 3000 random quotients per
    /// dtype (parts of random sign and exponent, imaginary parts down to 1e-300 of the real ones
    /// in f64), each part equal to the quotient computed in MPFR at 4p + 200 bits and rounded
    /// into the type; and Smith's algorithm, kept for real operands, would miss some of them.
    #[test]
    fn quotients_round_each_part_once() {
        fn check<T: Scalar<Ctx = ()> + PartialEq>(max_exp: i32) -> usize {
            let p = T::dtype(()).bits();
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut part = |scale: i32| {
                let m = (next() >> 11) as f64 / (1u64 << 53) as f64 + 0.5;
                let e = (next() % (2 * scale as u64 + 1)) as i32 - scale;
                let sign = if next() & 1 == 0 { 1.0 } else { -1.0 };
                T::from_f64(sign * m * 2f64.powi(e), ())
            };
            let mut smith_misses = 0;
            for _ in 0..3000 {
                let (a, c) = (part(4), part(4));
                let tiny = part(1).to_float(p).to_f64() > 0.0;
                let (b, d) = if tiny { (part(max_exp), part(max_exp)) } else { (part(4), part(4)) };
                let got = Complex::new(a.clone(), b.clone()).div(&Complex::new(c.clone(), d.clone()));
                let w = 4 * p + 200;
                let f = |v: &T| Float::with_val(w, v.to_float(p));
                let (fa, fb, fc, fd) = (f(&a), f(&b), f(&c), f(&d));
                let den = Float::with_val(w, &fc * &fc) + Float::with_val(w, &fd * &fd);
                let re = (Float::with_val(w, &fa * &fc) + Float::with_val(w, &fb * &fd)) / &den;
                let im = (Float::with_val(w, &fb * &fc) - Float::with_val(w, &fa * &fd)) / &den;
                let want = Complex::new(T::from_float(&re, ()), T::from_float(&im, ()));
                assert_eq!(got, want, "({a:?} + i {b:?}) / ({c:?} + i {d:?})");
                let r = d.div(&c);
                let smith_im = b.sub(&a.mul(&r)).div(&c.add(&d.mul(&r)));
                smith_misses += usize::from(smith_im != want.im && Complex::new(c, d).real_dominates());
            }
            smith_misses
        }
        assert!(check::<f64>(990) > 0);
        assert!(check::<f32>(120) > 0);
        assert!(check::<half::f16>(10) > 0);
    }

    /// Dual numbers: d/dx of each function at 0.7, against the closed-form derivative.
    #[test]
    fn dual_derivatives() {
        let x = Dual::new(0.7f64, 1.0);
        let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs();
        assert!(close(x.exp().d, 0.7f64.exp()));
        assert!(close(x.ln().d, 1.0 / 0.7));
        assert!(close(x.sqrt().d, 0.5 / 0.7f64.sqrt()));
        assert!(close(x.sin().d, 0.7f64.cos()));
        assert!(close(x.cos().d, -0.7f64.sin()));
        assert!(close(x.tanh().d, 1.0 - 0.7f64.tanh().powi(2)));
        assert!(close(x.mul(&x).div(&x.exp()).d, (2.0 * 0.7 - 0.49) / 0.7f64.exp()));
    }
}
