//! Correctly rounded unary functions (`exp`, `ln`, and any other with a correctly rounded f64
//! version) for the 16-bit formats f16 and bf16, written once: a function is one [`Unary`]
//! constant, e.g. `Unary { f64: core_math::sin, mpfr: Float::sin_round }`.
//!
//! # Method
//!
//! For a 16-bit input x (exact in f64), take y = RN64(f(x)), the correctly rounded f64 result
//! (CORE-MATH), and round y once to the 16-bit format. That equals RN16(f(x)), the correct
//! rounding of the exact value, unless y is exactly a *midpoint*: a value halfway between two
//! neighbouring 16-bit values, or the overflow threshold (the largest finite value plus half an
//! ulp). In that case the function is evaluated again by MPFR directly at the format's
//! precision, and the result is brought into the format's exponent range with MPFR's ternary
//! value (subnormalisation without a second rounding, see `round_to_hardware`).
//!
//! Proof. Every 16-bit value and every midpoint is an f64 number: f16's and bf16's significands
//! (11 and 8 bits) are narrower than f64's 53, their smallest subnormal midpoints (2^-25 and
//! 2^-134) are far above f64's smallest normal number 2^-1022, and their overflow thresholds
//! (65520 and about 3.4e38) are far below f64's largest. RN16 of a real number depends only on
//! which open interval between consecutive midpoints holds it (a midpoint itself is the only
//! place where the tie rule decides). Let m be a midpoint with f(x) < m. Rounding to nearest is
//! monotone and m is an f64 number, so y = RN64(f(x)) <= RN64(m) = m; likewise y >= m' for every
//! midpoint m' < f(x). So y lies in the closed interval between the two midpoints around f(x),
//! and unless y is one of its ends it lies in the same open interval as f(x) and rounds the same
//! way. If y is an end, we do not use it (the MPFR fallback). The fallback is therefore correct
//! whatever f is; it is also rare: f(x) itself is never a midpoint for `exp` and `ln` of a
//! representable x other than 0 and 1 (e^x and ln x are transcendental for algebraic x != 0, 1
//! by Lindemann's theorem, and at 0 and 1 the results, 1 and 0, are representable), so y lands
//! on a midpoint only when f(x) lies within half an f64 ulp of one: for `exp` and `ln` no f16 or
//! bf16 input does (tested), so the fallback is never taken for them. The exhaustive tests
//! (tests/scalar_props.rs) check all 65536 inputs of each format against MPFR bit for bit.
//!
//! Inputs outside the functions' domains follow the f64 function: NaN for ln of a negative
//! number, -inf for ln(0), +inf and 0 for exp's overflow and underflow, which the 16-bit
//! rounding keeps.

use super::{finish_hardware, DType};
use rug::float::Round;
use rug::Float;
use std::cmp::Ordering;

/// A real function of one variable with a correctly rounded f64 implementation and an MPFR one,
/// made correctly rounded for the 16-bit formats by [`apply`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unary {
    /// The function on f64, correctly rounded to nearest (ties to even).
    pub f64: fn(f64) -> f64,
    /// MPFR's function, in place at the value's precision with the given rounding, returning
    /// the ternary value (the sign of rounded - exact).
    pub mpfr: fn(&mut Float, Round) -> Ordering,
}

/// The exponential: CORE-MATH's `exp` and MPFR's `mpfr_exp`.
pub(crate) const EXP: Unary = Unary { f64: core_math::exp, mpfr: Float::exp_round };

/// The natural logarithm: CORE-MATH's `log` (as `log1p(x - 1)` near 1, where that is faster:
/// `prim::log_f64`) and MPFR's `mpfr_log`.
pub(crate) const LN: Unary = Unary { f64: log_f64, mpfr: Float::ln_round };

/// The sine: CORE-MATH's `sin` and MPFR's `mpfr_sin`.
pub(crate) const SIN: Unary = Unary { f64: core_math::sin, mpfr: Float::sin_round };
/// The cosine: CORE-MATH's `cos` and MPFR's `mpfr_cos`.
pub(crate) const COS: Unary = Unary { f64: core_math::cos, mpfr: Float::cos_round };
/// The hyperbolic tangent: CORE-MATH's `tanh` and MPFR's `mpfr_tanh`.
pub(crate) const TANH: Unary = Unary { f64: core_math::tanh, mpfr: Float::tanh_round };
/// The hyperbolic sine: CORE-MATH's `sinh` and MPFR's `mpfr_sinh`.
pub(crate) const SINH: Unary = Unary { f64: core_math::sinh, mpfr: Float::sinh_round };
/// The hyperbolic cosine: CORE-MATH's `cosh` and MPFR's `mpfr_cosh`.
pub(crate) const COSH: Unary = Unary { f64: core_math::cosh, mpfr: Float::cosh_round };
/// The arc tangent: CORE-MATH's `atan` and MPFR's `mpfr_atan`.
pub(crate) const ATAN: Unary = Unary { f64: core_math::atan, mpfr: Float::atan_round };

/// f(x) correctly rounded to nearest (ties to even) in `dtype`, a 16-bit hardware format, for a
/// value x of that format, returned as an f64 (which holds it exactly). See the module docs.
#[inline]
pub(crate) fn apply(f: &Unary, x: f64, dtype: DType) -> f64 {
    match round_unless_midpoint((f.f64)(x), dtype) {
        Some(r) => r,
        None => mpfr_at_format(f, x, dtype),
    }
}

/// `y` rounded to nearest (ties to even) in `dtype`'s format, with its subnormals and overflow
/// to infinity; `None` when `y` is exactly a midpoint of the format (halfway between two
/// neighbouring values, or at the overflow threshold), where rounding `y` cannot tell which
/// side of the midpoint the exact value was on.
#[inline]
pub(crate) fn round_unless_midpoint(y: f64, dtype: DType) -> Option<f64> {
    let (Some(emin), Some(max)) = (dtype.normal_exp_min(), dtype.max_finite()) else {
        unreachable!("round_unless_midpoint is only called for hardware dtypes");
    };
    if !y.is_finite() || y == 0.0 {
        return Some(y);
    }
    let p = dtype.bits() as i32;
    // The binade of y (floor(log2 |y|)); below the smallest normal number the spacing is fixed.
    let biased = ((y.to_bits() >> 52) & 0x7ff) as i32;
    let e = (biased - 1023).max(emin);
    let emax = ((max.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    if e > emax {
        // |y| >= 2^(emax + 1), beyond the overflow threshold max + ulp/2.
        return Some(f64::INFINITY.copysign(y));
    }
    // y in units of the format's spacing at y, 2^(e + 1 - p): |s| < 2^p. Multiplying by a power
    // of two that keeps the result in f64's normal range is exact (e + 1 - p >= -133).
    let power_of_two = |k: i32| f64::from_bits(((k + 1023) as u64) << 52);
    let s = y * power_of_two(p - 1 - e);
    // s rounded to the nearest integer, ties to even: adding and subtracting 1.5 * 2^52 leaves
    // no fraction bits, and both operations are exact apart from that one rounding (|s| < 2^51).
    const SHIFT: f64 = 6755399441055744.0; // 1.5 * 2^52
    let r = (s + SHIFT) - SHIFT;
    if (s - r).abs() == 0.5 {
        return None;
    }
    // copysign keeps the sign of a result that rounds to zero.
    let v = (r * power_of_two(e + 1 - p)).copysign(y);
    Some(if v.abs() > max { f64::INFINITY.copysign(y) } else { v })
}

/// f(x) evaluated by MPFR at the format's precision and rounded into its exponent range: the
/// correct rounding, used when the f64 result is a midpoint.
#[cold]
fn mpfr_at_format(f: &Unary, x: f64, dtype: DType) -> f64 {
    // x is a value of the format: exact at its precision.
    let mut v = Float::with_val(dtype.bits(), x);
    let ord = (f.mpfr)(&mut v, Round::Nearest);
    finish_hardware(v, ord, dtype)
}

/// ln x correctly rounded to f64 (CORE-MATH). Near 1, CORE-MATH's `log` takes its slow
/// accurate path (about 150 ns instead of 5 for |x - 1| below 1e-4, as for a softmax whose sum
/// is 1 plus tiny terms), so there ln x is computed as log1p(x - 1): x - 1 is exact for x in
/// [1/2, 2] (Sterbenz), so this is the same real number, correctly rounded by CORE-MATH's
/// `log1p`, hence the same bits, in 3 to 4 ns.
#[inline]
pub(super) fn log_f64(x: f64) -> f64 {
    const NEAR_ONE: f64 = 1.0 / 32.0;
    let t = x - 1.0;
    if t.abs() < NEAR_ONE {
        core_math::log1p(t)
    } else {
        core_math::log(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    /// Whether y is halfway between two neighbouring values of the format, or at its overflow
    /// threshold, by exact MPFR arithmetic: the value mirrored through y across its correct
    /// rounding r is a value of the format too.
    fn is_midpoint(y: f64, dt: DType) -> bool {
        let max = dt.max_finite().unwrap();
        let threshold = max + 2f64.powi(max.log2().floor() as i32 + 1 - dt.bits() as i32) / 2.0;
        let r = super::super::round_to_hardware(&Float::with_val(53, y), dt);
        if r.is_infinite() {
            return y.abs() == threshold;
        }
        let mirror = Float::with_val(200, 2 * Float::with_val(200, y) - r);
        r != y && super::super::round_to_hardware(&mirror, dt) == mirror && mirror != r
    }

    #[test]
    fn rounding_f64_values_matches_mpfr_on_every_spacing() {
        for dt in [DType::F16, DType::BF16] {
            let p = dt.bits();
            let emin = dt.normal_exp_min().unwrap();
            // Values around each binade from below the smallest subnormal to beyond overflow,
            // at offsets that land on, near and between the format's values and midpoints.
            for e in (emin - p as i32 - 2)..=(dt.max_finite().unwrap().log2() as i32 + 2) {
                for num in 0..(1u64 << (p + 2)) {
                    let y = (1.0 + num as f64 / (1u64 << (p + 2)) as f64) * 2f64.powi(e);
                    for y in [y, -y, y * (1.0 + f64::EPSILON), y * (1.0 - f64::EPSILON / 2.0)] {
                        let want = super::super::round_to_hardware(&Float::with_val(53, y), dt);
                        let mid = is_midpoint(y, dt);
                        match round_unless_midpoint(y, dt) {
                            Some(r) => {
                                assert!(!mid, "{dt}: {y:e} is a midpoint");
                                assert_eq!(r.to_bits(), want.to_bits(), "{dt}: {y:e}");
                            }
                            None => assert!(mid, "{dt}: {y:e} is not a midpoint"),
                        }
                    }
                }
            }
        }
    }

    /// For `exp` and `ln`, no f16 or bf16 input has an f64 result on a midpoint: the MPFR
    /// fallback is never taken, so its cost does not matter.
    #[test]
    fn exp_and_ln_never_need_the_fallback() {
        for (dt, value) in [
            (DType::F16, (|b| f16::from_bits(b).to_f64()) as fn(u16) -> f64),
            (DType::BF16, |b| bf16::from_bits(b).to_f64()),
        ] {
            for f in [EXP, LN] {
                let on_midpoint = (0..=u16::MAX).filter(|&b| round_unless_midpoint((f.f64)(value(b)), dt).is_none());
                assert_eq!(on_midpoint.count(), 0, "{dt}");
            }
        }
    }

    /// The fallback is correct even when the f64 result is a midpoint: a deliberately poor f64
    /// function that returns the midpoint nearest to the exact value still gives MPFR's result.
    #[test]
    fn midpoints_fall_back_to_mpfr_at_the_format() {
        fn to_midpoint(x: f64) -> f64 {
            // The f16 midpoint just above exp(x)'s f16 rounding.
            let r = f16::from_f64(core_math::exp(x)).to_f64();
            (r + f16::from_bits(f16::from_f64(r).to_bits() + 1).to_f64()) / 2.0
        }
        let f = Unary { f64: to_midpoint, mpfr: Float::exp_round };
        let mut fallbacks = 0;
        for bits in (0..0x4980u16).chain(0x8000..0xfc00) {
            // Finite inputs whose exponential stays below f16's largest value (exp(11) < 65504).
            let x = f16::from_bits(bits).to_f64();
            let y = to_midpoint(x);
            if round_unless_midpoint(y, DType::F16).is_none() {
                fallbacks += 1;
            }
            let want = super::super::round_to_hardware(&Float::with_val(256, x).exp(), DType::F16);
            let got = apply(&f, x, DType::F16);
            assert!(got.to_bits() == want.to_bits(), "exp({x:e}): {got:e} vs {want:e}");
        }
        assert!(fallbacks > 10_000, "only {fallbacks} inputs took the fallback");
        // And bf16's overflow threshold: exactly there, the tie goes to infinity.
        let threshold = bf16::MAX.to_f64() + 2f64.powi(127 + 1 - 8) / 2.0;
        assert_eq!(round_unless_midpoint(threshold, DType::BF16), None);
        assert_eq!(round_unless_midpoint(threshold.next_down(), DType::BF16), Some(bf16::MAX.to_f64()));
        assert_eq!(round_unless_midpoint(threshold.next_up(), DType::BF16), Some(f64::INFINITY));
    }
}
