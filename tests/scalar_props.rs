//! Rounding properties of the scalar types, on many random operands.

mod common;

use gradlab::scalar::{DType, Prec, Scalar};
use half::{bf16, f16};
use proptest::prelude::*;
use rug::Float;

fn mp(bits: u32) -> Prec {
    Prec::new(bits).unwrap()
}

/// Finite f64 operands over a wide but overflow-safe range of magnitudes.
fn operand() -> impl Strategy<Value = f64> {
    (any::<bool>(), 1.0f64..2.0, -300i32..300)
        .prop_map(|(neg, m, e)| if neg { -m * 2f64.powi(e) } else { m * 2f64.powi(e) })
}

fn operand32() -> impl Strategy<Value = f32> {
    (any::<bool>(), 1.0f32..2.0, -60i32..60)
        .prop_map(|(neg, m, e)| if neg { -m * 2f32.powi(e) } else { m * 2f32.powi(e) })
}

/// The binary operation `op` in type T on (a, b).
fn binop<T: Scalar>(op: usize, a: &T, b: &T) -> T {
    let mut r = a.clone();
    match op {
        0 => r.set_add(a, b),
        1 => r.set_sub(a, b),
        2 => r.set_mul(a, b),
        _ => r.set_div(a, b),
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn mpfr53_is_bit_identical_to_f64(a in operand(), b in operand(), op in 0usize..4) {
        let r64 = binop(op, &a, &b);
        prop_assume!(r64.is_normal());
        let (fa, fb) = (Float::from_f64(a, mp(53)), Float::from_f64(b, mp(53)));
        prop_assert_eq!(binop(op, &fa, &fb).to_f64().to_bits(), r64.to_bits());
        let s = a.abs().sqrt();
        prop_assert_eq!(Float::from_f64(a.abs(), mp(53)).sqrt().to_f64().to_bits(), s.to_bits());
    }

    #[test]
    fn mpfr24_is_bit_identical_to_f32(a in operand32(), b in operand32(), op in 0usize..4) {
        let r32 = binop(op, &a, &b);
        prop_assume!(r32.is_normal());
        let (fa, fb) = (Float::from_f64(a as f64, mp(24)), Float::from_f64(b as f64, mp(24)));
        prop_assert_eq!((binop(op, &fa, &fb).to_f64() as f32).to_bits(), r32.to_bits());
        prop_assert_eq!((Float::from_f64(a.abs() as f64, mp(24)).sqrt().to_f64() as f32).to_bits(), a.abs().sqrt().to_bits());
    }

    /// f64 and f32 `exp` and `ln` are MPFR's correct rounding, bit for bit, over their whole
    /// ranges: results that overflow, that are subnormal or that underflow to 0 included.
    #[test]
    fn exp_and_ln_are_correctly_rounded(x in -746.0f64..710.0, y_bits in 1u64..0x7ff0_0000_0000_0000, x32 in -104.0f32..89.0, y32_bits in 1u32..0x7f80_0000) {
        let y = f64::from_bits(y_bits);
        prop_assert_eq!(Scalar::exp(&x).to_bits(), common::mpfr_reference(x, Float::exp_round, DType::F64).to_bits(), "exp({:e})", x);
        prop_assert_eq!(Scalar::ln(&y).to_bits(), common::mpfr_reference(y, Float::ln_round, DType::F64).to_bits(), "ln({:e})", y);
        let y32 = f32::from_bits(y32_bits);
        prop_assert_eq!(Scalar::exp(&x32) as f64, common::mpfr_reference(x32 as f64, Float::exp_round, DType::F32), "exp({:e})", x32);
        prop_assert_eq!(Scalar::ln(&y32) as f64, common::mpfr_reference(y32 as f64, Float::ln_round, DType::F32), "ln({:e})", y32);
    }

    /// Near 1, where f64's `ln` is computed as `log1p(x - 1)`, and at the edges of that window.
    #[test]
    fn ln_near_one_is_correctly_rounded(t in -0.04f64..0.04, ulps in -4i64..4) {
        let y = f64::from_bits(((1.0 + t).to_bits() as i64 + ulps) as u64);
        prop_assert_eq!(Scalar::ln(&y).to_bits(), common::mpfr_reference(y, Float::ln_round, DType::F64).to_bits(), "ln({:e})", y);
        for edge in [1.0f64 - 1.0 / 32.0, 1.0 + 1.0 / 32.0] {
            let e = f64::from_bits(edge.to_bits().wrapping_add(ulps as u64));
            prop_assert_eq!(Scalar::ln(&e).to_bits(), common::mpfr_reference(e, Float::ln_round, DType::F64).to_bits(), "ln({:e})", e);
        }
    }

    /// f16/bf16 arithmetic (in f32, then rounded) equals the exact result rounded once.
    #[test]
    fn half_types_are_correctly_rounded(a in any::<u16>(), b in any::<u16>(), op in 0usize..4) {
        let (x, y) = (f16::from_bits(a), f16::from_bits(b));
        if x.is_finite() && y.is_finite() {
            let exact = exact_op(op, x.to_f64(), y.to_f64());
            let want = f16::from_float(&exact, ());
            let got = binop(op, &x, &y);
            prop_assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "f16 {x} op{op} {y}: {got} vs {want}");
        }
        let (x, y) = (bf16::from_bits(a), bf16::from_bits(b));
        if x.is_finite() && y.is_finite() {
            let exact = exact_op(op, x.to_f64(), y.to_f64());
            let want = bf16::from_float(&exact, ());
            let got = binop(op, &x, &y);
            prop_assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "bf16 {x} op{op} {y}: {got} vs {want}");
        }
    }

    /// Constants are rounded once from exact rationals: 1/n in f16 equals MPFR's correctly
    /// rounded 1/n, subnormals included.
    #[test]
    fn from_ratio_rounds_once(num in 1i64..100_000, den in 1u64..100_000) {
        let exact = rug::Rational::from((num, den));
        for (dt, got) in [
            (DType::F16, f16::from_ratio(num, den, ()).to_f64()),
            (DType::BF16, bf16::from_ratio(num, den, ()).to_f64()),
            (DType::F32, f32::from_ratio(num, den, ()).to_f64()),
        ] {
            // The nearest representable value: no other value of the format is closer.
            let err = (rug::Rational::from_f64(got).unwrap() - &exact).abs();
            let bits = dt.bits();
            // The spacing at got's binade; below the smallest normal, the (fixed) subnormal one.
            let emin = dt.normal_exp_min().expect("hardware dtype");
            let ulp = 2f64.powi((got.abs().log2().floor() as i32).max(emin) - bits as i32 + 1);
            prop_assert!(err <= rug::Rational::from_f64(ulp / 2.0).unwrap(), "{dt}: {num}/{den} -> {got}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// The quick path for small rationals (one f64 division) rounds exactly like MPFR does.
    #[test]
    fn quick_rational_rounding_matches_mpfr(num in -(1i64 << 53)..(1i64 << 53), den in 1u64..(1u64 << 53), shift in 0u32..60) {
        let den = (den >> shift).max(1);
        let r = rug::Rational::from((num, den));
        let exact = Float::with_val(4000, &r);
        prop_assert_eq!(f64::from_rational(&r, ()).to_bits(), f64::from_float(&exact, ()).to_bits());
        prop_assert_eq!(f32::from_rational(&r, ()).to_bits(), f32::from_float(&exact, ()).to_bits());
    }
}

#[test]
fn quick_rational_rounding_handles_f32_ties() {
    // 1 + 2^-24 is exactly halfway between 1 and the next f32: ties go to even (1.0).
    let tie = rug::Rational::from(((1i64 << 24) + 1, 1u64 << 24));
    assert_eq!(f32::from_rational(&tie, ()), 1.0);
    // Just above the tie rounds up; the f64 quotient of this one is not a tie.
    let above = rug::Rational::from(((1i64 << 48) + (1 << 24) + 1, 1u64 << 48));
    assert_eq!(f32::from_rational(&above, ()), 1.0 + f32::EPSILON);
    // 1 + 3 * 2^-24 is a tie between 1 + 2^-23 and 1 + 2^-22: to even, up.
    let tie_up = rug::Rational::from(((1i64 << 24) + 3, 1u64 << 24));
    assert_eq!(f32::from_rational(&tie_up, ()), 1.0 + 2.0 * f32::EPSILON);
    assert_eq!(f32::from_rational(&rug::Rational::from((1, 10)), ()), 0.1f32);
}

/// `exp` and `ln` of every f16 and every bf16 value (65536 each, NaNs and infinities included)
/// against MPFR at the format's precision, bit for bit: the f64-then-16-bit method with its MPFR
/// fallback (src/scalar/half_math.rs) is correctly rounded.
#[test]
fn exp_and_ln_of_every_16_bit_value_are_correctly_rounded() {
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }
    for bits in 0..=u16::MAX {
        let (h, b) = (f16::from_bits(bits), bf16::from_bits(bits));
        for (x, dt, exp, ln) in [
            (h.to_f64(), DType::F16, Scalar::exp(&h).to_f64(), Scalar::ln(&h).to_f64()),
            (b.to_f64(), DType::BF16, Scalar::exp(&b).to_f64(), Scalar::ln(&b).to_f64()),
        ] {
            let want_exp = common::mpfr_reference(x, Float::exp_round, dt);
            let want_ln = common::mpfr_reference(x, Float::ln_round, dt);
            assert!(same(exp, want_exp), "{dt} exp({x:e}) = {exp:e}, MPFR {want_exp:e}");
            assert!(same(ln, want_ln), "{dt} ln({x:e}) = {ln:e}, MPFR {want_ln:e}");
        }
    }
}

/// The exact result of op on two f64 values, as a 2000-bit MPFR float (exact for + - *, and far
/// beyond any tie for /).
fn exact_op(op: usize, a: f64, b: f64) -> Float {
    let (x, y) = (Float::with_val(2000, a), Float::with_val(2000, b));
    match op {
        0 => x + y,
        1 => x - y,
        2 => x * y,
        _ => x / y,
    }
}

#[test]
fn dtype_facts() {
    for (name, bits, u) in [
        ("f16", 11, 2f64.powi(-11)),
        ("bf16", 8, 2f64.powi(-8)),
        ("f32", 24, 2f64.powi(-24)),
        ("f64", 53, 2f64.powi(-53)),
        ("mpfr:113", 113, 2f64.powi(-113)),
    ] {
        let d = DType::parse(name).unwrap();
        assert_eq!(d.name(), name);
        assert_eq!(d.bits(), bits);
        assert_eq!(d.unit_roundoff(), u);
    }
    for bad in ["f8", "float16", "mpfr:", "mpfr:0", "mpfr:1", "mpfr:abc", "mpfr:-5", "mpfr:99999999999", ""] {
        let e = DType::parse(bad).unwrap_err().to_string();
        assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
    }
    // Subnormal and overflow rounding of constants in f16.
    assert_eq!(f16::from_ratio(1, 1 << 24, ()).to_f64(), 2f64.powi(-24));
    assert_eq!(f16::from_ratio(1, 1 << 26, ()).to_f64(), 0.0);
    assert!(f16::from_int(65520, ()).to_f64().is_infinite());
    assert_eq!(f16::from_int(65519, ()).to_f64(), 65504.0);
}
