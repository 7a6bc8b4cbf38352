//! `sin`, `cos`, `tanh`, `sinh`, `cosh` and `atan` of every scalar type against MPFR, bit for
//! bit: every f16 and bf16 value, many f32 and f64 values, MPFR at several precisions, and the
//! trait's default implementation (used by a `Scalar` type that does not write its own).

mod common;

use gradlab::scalar::{DType, Prec, Scalar};
use half::{bf16, f16};
use proptest::prelude::*;
use rug::float::Round;
use rug::{Float, Rational};
use std::cmp::Ordering;

type MpfrFn = common::MpfrFn;

/// A function's name, its MPFR version and the trait method under test.
type Case<T> = (&'static str, MpfrFn, fn(&mut T));

/// The functions, each as its MPFR version and the trait method under test.
fn functions<T: Scalar>() -> [Case<T>; 6] {
    [
        ("sin", Float::sin_round, T::sin_mut),
        ("cos", Float::cos_round, T::cos_mut),
        ("tanh", Float::tanh_round, T::tanh_mut),
        ("sinh", Float::sinh_round, T::sinh_mut),
        ("cosh", Float::cosh_round, T::cosh_mut),
        ("atan", Float::atan_round, T::atan_mut),
    ]
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check_hardware<T: Scalar<Ctx = ()>>(x: T) {
    let dt = T::dtype(());
    for (name, mpfr, mine) in functions::<T>() {
        let mut got = x.clone();
        mine(&mut got);
        let want = common::mpfr_reference(x.to_f64(), mpfr, dt);
        assert!(same(got.to_f64(), want), "{dt} {name}({:e}) = {:e}, MPFR {want:e}", x.to_f64(), got.to_f64());
    }
}

/// Every f16 and bf16 value (NaNs, infinities and subnormals included).
#[test]
fn every_16_bit_value_is_correctly_rounded() {
    for bits in 0..=u16::MAX {
        check_hardware(f16::from_bits(bits));
        check_hardware(bf16::from_bits(bits));
    }
}

/// A wrapper of f32 that implements only what `Scalar` requires: its `sin`, `cos`, ... are the
/// trait's defaults, computed by MPFR at 24 bits and brought into f32's range.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Plain(f32);

impl Scalar for Plain {
    type Ctx = ();
    fn dtype(_: ()) -> DType {
        DType::F32
    }
    fn ctx(&self) {}
    fn from_rational(r: &Rational, ctx: ()) -> Self {
        Plain(f32::from_rational(r, ctx))
    }
    fn from_float(x: &Float, ctx: ()) -> Self {
        Plain(f32::from_float(x, ctx))
    }
    fn zero(_: ()) -> Self {
        Plain(0.0)
    }
    fn to_f64(&self) -> f64 {
        self.0 as f64
    }
    fn to_float(&self, prec: u32) -> Float {
        Float::with_val(prec, self.0)
    }
    fn set(&mut self, src: &Self) {
        *self = *src;
    }
    fn set_add(&mut self, a: &Self, b: &Self) {
        self.0 = a.0 + b.0;
    }
    fn set_sub(&mut self, a: &Self, b: &Self) {
        self.0 = a.0 - b.0;
    }
    fn set_mul(&mut self, a: &Self, b: &Self) {
        self.0 = a.0 * b.0;
    }
    fn set_div(&mut self, a: &Self, b: &Self) {
        self.0 = a.0 / b.0;
    }
    fn add_assign(&mut self, a: &Self) {
        self.0 += a.0;
    }
    fn sub_assign(&mut self, a: &Self) {
        self.0 -= a.0;
    }
    fn mul_assign(&mut self, a: &Self) {
        self.0 *= a.0;
    }
    fn div_assign(&mut self, a: &Self) {
        self.0 /= a.0;
    }
    fn exp_mut(&mut self) {
        self.0.exp_mut();
    }
    fn ln_mut(&mut self) {
        self.0.ln_mut();
    }
    fn sqrt_mut(&mut self) {
        self.0 = self.0.sqrt();
    }
    fn neg_mut(&mut self) {
        self.0 = -self.0;
    }
    fn is_finite(&self) -> bool {
        self.0.is_finite()
    }
    fn is_zero(&self) -> bool {
        self.0 == 0.0
    }
    fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

fn f32_operand() -> impl Strategy<Value = f32> {
    prop_oneof![
        // Anywhere in f32's range, subnormals included.
        (0u32..0x7f80_0000, any::<bool>()).prop_map(|(b, neg)| if neg {
            -f32::from_bits(b)
        } else {
            f32::from_bits(b)
        }),
        // Where the functions are not trivial.
        -20.0f32..20.0,
    ]
}

fn f64_operand() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u64..0x7ff0_0000_0000_0000, any::<bool>()).prop_map(|(b, neg)| if neg {
            -f64::from_bits(b)
        } else {
            f64::from_bits(b)
        }),
        -40.0f64..40.0,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// f32 (CORE-MATH) and the trait's default on an f32 wrapper both equal MPFR's rounding.
    #[test]
    fn f32_and_the_default_are_correctly_rounded(x in f32_operand()) {
        check_hardware(x);
        let dt = DType::F32;
        for (name, mpfr, mine) in functions::<Plain>() {
            let mut got = Plain(x);
            mine(&mut got);
            let want = common::mpfr_reference(x as f64, mpfr, dt);
            prop_assert!(same(got.0 as f64, want), "default {name}({x:e}) = {:e}, MPFR {want:e}", got.0);
        }
    }

    /// f64 (CORE-MATH) equals MPFR's rounding at 53 bits, and so does MPFR at 53 bits.
    #[test]
    fn f64_and_mpfr53_are_correctly_rounded(x in f64_operand()) {
        check_hardware(x);
        let p53 = Prec::new(53).unwrap();
        for (name, mpfr, mine) in functions::<Float>() {
            let mut got = Float::with_val(53, x);
            mine(&mut got);
            let want = common::mpfr_reference(x, mpfr, DType::F64);
            // Inside f64's normal range MPFR at 53 bits and f64 agree.
            if want.is_finite() && (want == 0.0 || want.abs() >= f64::MIN_POSITIVE) {
                prop_assert!(same(got.to_f64(), want), "mpfr:53 {name}({x:e})");
            }
            prop_assert_eq!(got.ctx(), p53);
        }
    }
}

/// MPFR at 113 and 256 bits: each function's result is the correct rounding of a value computed
/// at four times the precision.
#[test]
fn mpfr_is_correctly_rounded_at_high_precision() {
    for bits in [113u32, 256] {
        for x in [-7.25, -1.0, 1e-30, 0.5, 1.5, 3.0, 100.0] {
            for (name, mpfr, mine) in functions::<Float>() {
                let mut got = Float::with_val(bits, x);
                mine(&mut got);
                let mut wide = Float::with_val(4 * bits, x);
                mpfr(&mut wide, Round::Nearest);
                let want = Float::with_val(bits, &wide);
                assert_eq!(got, want, "mpfr:{bits} {name}({x})");
            }
        }
    }
}
