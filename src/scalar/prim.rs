//! [`Scalar`] for the hardware formats: f16 and bf16 (from the half crate), f32 and f64.
//!
//! f16 and bf16 compute in f32 and round back (see the parent module for why that is a correct
//! rounding for + - * / sqrt, and only a faithful one for exp and ln).

use super::{round_to_hardware, DType, Scalar};
use half::{bf16, f16};
use rug::{Float, Rational};
use std::cmp::Ordering;

macro_rules! native_scalar {
    ($t:ty, $dtype:expr) => {
        impl Scalar for $t {
            type Ctx = ();

            fn dtype(_: ()) -> DType {
                $dtype
            }
            fn ctx(&self) {}
            fn from_rational(r: &Rational, _: ()) -> Self {
                match quick_quotient(r) {
                    Some(q) => match <$t as Narrow>::narrow(q) {
                        Some(v) => v,
                        None => round_to_hardware(r, $dtype) as $t,
                    },
                    None => round_to_hardware(r, $dtype) as $t,
                }
            }
            fn from_float(x: &Float, _: ()) -> Self {
                round_to_hardware(x, $dtype) as $t
            }
            fn from_f64(x: f64, _: ()) -> Self {
                // `as` rounds to nearest-even (f64 -> f32) or is the identity (f64 -> f64).
                x as $t
            }
            fn from_int(n: i64, ctx: ()) -> Self {
                // Integers up to 2^p in magnitude are exact: no rounding to do.
                if n.unsigned_abs() <= 1u64 << $dtype.bits() {
                    n as $t
                } else {
                    Self::from_rational(&Rational::from(n), ctx)
                }
            }
            fn zero(_: ()) -> Self {
                0.0
            }
            fn to_f64(&self) -> f64 {
                *self as f64
            }
            fn to_float(&self, prec: u32) -> Float {
                Float::with_val(prec, *self)
            }
            #[inline(always)]
            fn set(&mut self, src: &Self) {
                *self = *src;
            }
            #[inline(always)]
            fn set_add(&mut self, a: &Self, b: &Self) {
                *self = *a + *b;
            }
            #[inline(always)]
            fn set_sub(&mut self, a: &Self, b: &Self) {
                *self = *a - *b;
            }
            #[inline(always)]
            fn set_mul(&mut self, a: &Self, b: &Self) {
                *self = *a * *b;
            }
            #[inline(always)]
            fn set_div(&mut self, a: &Self, b: &Self) {
                *self = *a / *b;
            }
            #[inline(always)]
            fn add_assign(&mut self, a: &Self) {
                *self += *a;
            }
            #[inline(always)]
            fn sub_assign(&mut self, a: &Self) {
                *self -= *a;
            }
            #[inline(always)]
            fn mul_assign(&mut self, a: &Self) {
                *self *= *a;
            }
            #[inline(always)]
            fn div_assign(&mut self, a: &Self) {
                *self /= *a;
            }
            #[inline(always)]
            fn exp_mut(&mut self) {
                *self = self.exp();
            }
            #[inline(always)]
            fn ln_mut(&mut self) {
                *self = self.ln();
            }
            #[inline(always)]
            fn sqrt_mut(&mut self) {
                *self = self.sqrt();
            }
            #[inline(always)]
            fn neg_mut(&mut self) {
                *self = -*self;
            }
            fn is_finite(&self) -> bool {
                <$t>::is_finite(*self)
            }
            fn is_zero(&self) -> bool {
                *self == 0.0
            }
            #[inline(always)]
            fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
                self.partial_cmp(other)
            }
            #[inline(always)]
            fn exp(&self) -> Self {
                <$t>::exp(*self)
            }
            #[inline(always)]
            fn ln(&self) -> Self {
                <$t>::ln(*self)
            }
            #[inline(always)]
            fn sqrt(&self) -> Self {
                <$t>::sqrt(*self)
            }
        }
    };
}

/// num / den correctly rounded to f64, when both are integers of at most 53 bits (IEEE division
/// of two exact operands rounds once).
fn quick_quotient(r: &Rational) -> Option<f64> {
    const LIMIT: u64 = 1 << 53;
    let num = r.numer().to_i64().filter(|n| n.unsigned_abs() <= LIMIT)?;
    let den = r.denom().to_u64().filter(|d| *d <= LIMIT)?;
    Some(num as f64 / den as f64)
}

/// The once-rounded f64 quotient narrowed to the target without double rounding: `None` when
/// that cannot be guaranteed.
trait Narrow: Sized {
    fn narrow(q: f64) -> Option<Self>;
}

impl Narrow for f64 {
    fn narrow(q: f64) -> Option<Self> {
        Some(q)
    }
}

impl Narrow for f32 {
    /// Rounding the f64 quotient to f32 equals rounding the exact quotient, unless the f64
    /// quotient is exactly an f32 midpoint (f32 values and midpoints are all f64 numbers, and
    /// rounding is monotone); midpoints and overflow go the slow, exact way.
    fn narrow(q: f64) -> Option<Self> {
        let f = q as f32;
        if !f.is_finite() {
            return None;
        }
        if f as f64 == q {
            return Some(f);
        }
        let other = if q > f as f64 { f.next_up() } else { f.next_down() };
        let mid = (f as f64 + other as f64) / 2.0;
        (mid != q).then_some(f)
    }
}

native_scalar!(f32, DType::F32);
native_scalar!(f64, DType::F64);

macro_rules! half_scalar {
    ($t:ident, $dtype:expr) => {
        impl Scalar for $t {
            type Ctx = ();

            fn dtype(_: ()) -> DType {
                $dtype
            }
            fn ctx(&self) {}
            fn from_rational(r: &Rational, _: ()) -> Self {
                // round_to_hardware returns a value exactly representable in the format, so
                // this conversion is exact.
                $t::from_f64(round_to_hardware(r, $dtype))
            }
            fn from_float(x: &Float, _: ()) -> Self {
                $t::from_f64(round_to_hardware(x, $dtype))
            }
            fn zero(_: ()) -> Self {
                $t::ZERO
            }
            fn from_int(n: i64, ctx: ()) -> Self {
                // Integers up to 2^p in magnitude are exact in the format (and in f32).
                if n.unsigned_abs() <= 1u64 << $dtype.bits() {
                    $t::from_f32(n as f32)
                } else {
                    Self::from_rational(&Rational::from(n), ctx)
                }
            }
            fn to_f64(&self) -> f64 {
                $t::to_f64(*self)
            }
            fn to_float(&self, prec: u32) -> Float {
                Float::with_val(prec, $t::to_f32(*self))
            }
            #[inline(always)]
            fn set(&mut self, src: &Self) {
                *self = *src;
            }
            #[inline(always)]
            fn set_add(&mut self, a: &Self, b: &Self) {
                *self = $t::from_f32(a.to_f32() + b.to_f32());
            }
            #[inline(always)]
            fn set_sub(&mut self, a: &Self, b: &Self) {
                *self = $t::from_f32(a.to_f32() - b.to_f32());
            }
            #[inline(always)]
            fn set_mul(&mut self, a: &Self, b: &Self) {
                *self = $t::from_f32(a.to_f32() * b.to_f32());
            }
            #[inline(always)]
            fn set_div(&mut self, a: &Self, b: &Self) {
                *self = $t::from_f32(a.to_f32() / b.to_f32());
            }
            #[inline(always)]
            fn add_assign(&mut self, a: &Self) {
                *self = $t::from_f32(self.to_f32() + a.to_f32());
            }
            #[inline(always)]
            fn sub_assign(&mut self, a: &Self) {
                *self = $t::from_f32(self.to_f32() - a.to_f32());
            }
            #[inline(always)]
            fn mul_assign(&mut self, a: &Self) {
                *self = $t::from_f32(self.to_f32() * a.to_f32());
            }
            #[inline(always)]
            fn div_assign(&mut self, a: &Self) {
                *self = $t::from_f32(self.to_f32() / a.to_f32());
            }
            #[inline(always)]
            fn exp_mut(&mut self) {
                *self = $t::from_f32(self.to_f32().exp());
            }
            #[inline(always)]
            fn ln_mut(&mut self) {
                *self = $t::from_f32(self.to_f32().ln());
            }
            #[inline(always)]
            fn sqrt_mut(&mut self) {
                *self = $t::from_f32(self.to_f32().sqrt());
            }
            #[inline(always)]
            fn neg_mut(&mut self) {
                *self = -*self;
            }
            fn is_finite(&self) -> bool {
                $t::is_finite(*self)
            }
            fn is_zero(&self) -> bool {
                self.to_f32() == 0.0
            }
            #[inline(always)]
            fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
                self.to_f32().partial_cmp(&other.to_f32())
            }
        }
    };
}

half_scalar!(f16, DType::F16);
half_scalar!(bf16, DType::BF16);
