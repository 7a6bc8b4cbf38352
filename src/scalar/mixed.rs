//! Mixed precision like autocast: `S+C` (`bf16+f32`, `f16+f32`, `tf32+f32`, `e4m3+f32`,
//! `e5m2+f32`, `f32+f64`, ...). Values live in the compute type C (f32 or f64) and every
//! operation is C's own correctly rounded one; at the *storage points* the model's code marks
//! with [`Scalar::store`] a value is rounded once more, to nearest with ties to even, into the
//! storage format S ([`Format`]: f16, bf16 and f32 are ieee:5:10, ieee:8:7 and ieee:8:23), as a
//! tensor of dtype S holds it.
//!
//! The storage points (docs/formats.md, "Mixed precision", says the same): the problem's
//! data cast into the dtype; each logit after its C accumulation plus the bias; dL/dlogits after
//! it is computed in C; each backward sum (dL/dx, dL/dW, dL/db) after its C accumulation; x.grad
//! after each accumulation across epochs; every perturbed value v + o h and effective step of
//! the numeric gradient. The SGD update runs on C master weights, and the forward pass uses them
//! rounded to S.
//!
//! Why a product of two S values is exact in C: [`DType::parse`] accepts `S+C` only when
//! 2 p(S) <= p(C) and S's exponent range lies within C's, so the exact product (at most 2 p(S)
//! significant bits) is a C number whenever it lies in C's normal range; a product below it
//! (|x w| < 2^-126 in f32) is rounded to C's subnormal spacing, as on hardware.
//!
//! Rounding a C value into S is one correct rounding: C -> f64 is exact (C is f32 or f64), and
//! the emulated formats' rounding ([`super::Emulated::new`]) rounds an f64 correctly into any format.

use super::ieee::Spec;
use super::{DType, Format, Scalar};
use rug::{Float, Rational};
use std::cmp::Ordering;
use std::fmt;

/// The compute type C of a mixed dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Compute {
    /// IEEE binary32.
    F32,
    /// IEEE binary64.
    F64,
}

impl Compute {
    /// `f32` or `f64`.
    pub fn name(self) -> &'static str {
        match self {
            Compute::F32 => "f32",
            Compute::F64 => "f64",
        }
    }

    /// The hardware dtype C.
    pub fn dtype(self) -> DType {
        match self {
            Compute::F32 => DType::F32,
            Compute::F64 => DType::F64,
        }
    }

    /// C as an emulated format (ieee:8:23 or ieee:11:52), for comparing ranges.
    pub fn format(self) -> Format {
        match self {
            Compute::F32 => Format::ieee(8, 23),
            Compute::F64 => Format::ieee(11, 52),
        }
        .unwrap_or_else(|_| unreachable!("valid formats"))
    }
}

/// The canonical name of a storage format: `f16`, `bf16` and `f32` for ieee:5:10, ieee:8:7 and
/// ieee:8:23, else the format's own name (`tf32`, `e4m3`, `ieee:6:9`).
pub(crate) fn storage_name(f: Format) -> String {
    match (f.exp_bits(), f.man_bits(), f.has_infinity()) {
        (5, 10, true) => "f16".into(),
        (8, 7, true) => "bf16".into(),
        (8, 23, true) => "f32".into(),
        _ => f.name(),
    }
}

/// A compute type of a mixed dtype: f32 or f64.
pub trait ComputeFloat: Scalar<Ctx = ()> + Copy {
    /// Which one.
    const COMPUTE: Compute;
    /// `v`, a value of this type held in an f64, converted (exactly).
    fn from_exact(v: f64) -> Self;
    /// The value as an f64 (exact).
    fn widen(self) -> f64;
}

impl ComputeFloat for f32 {
    const COMPUTE: Compute = Compute::F32;
    #[inline(always)]
    fn from_exact(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

impl ComputeFloat for f64 {
    const COMPUTE: Compute = Compute::F64;
    #[inline(always)]
    fn from_exact(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
}

/// A value of a mixed dtype `S+C`: a C value, with S's rounding constants as context. Its
/// arithmetic is C's; [`Scalar::store`] rounds it into S.
#[derive(Clone, Copy)]
pub struct Mixed<C> {
    v: C,
    spec: &'static Spec,
}

impl<C: ComputeFloat> fmt::Debug for Mixed<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}_{}+{}", self.v, storage_name(self.spec.format()), C::COMPUTE.name())
    }
}

impl<C: ComputeFloat> Mixed<C> {
    /// The C value.
    pub fn value(self) -> C {
        self.v
    }

    #[inline(always)]
    fn of(v: C, spec: &'static Spec) -> Self {
        Mixed { v, spec }
    }
}

impl<C: ComputeFloat> Scalar for Mixed<C> {
    type Ctx = &'static Spec;

    fn dtype(ctx: &'static Spec) -> DType {
        DType::Mixed { storage: ctx.format(), compute: C::COMPUTE }
    }
    fn ctx(&self) -> &'static Spec {
        self.spec
    }
    fn from_rational(r: &Rational, ctx: &'static Spec) -> Self {
        Mixed::of(C::from_rational(r, ()), ctx)
    }
    fn from_float(x: &Float, ctx: &'static Spec) -> Self {
        Mixed::of(C::from_float(x, ()), ctx)
    }
    fn from_f64(x: f64, ctx: &'static Spec) -> Self {
        Mixed::of(C::from_f64(x, ()), ctx)
    }
    fn stored_from_f64(x: f64, ctx: &'static Spec) -> Self {
        // One rounding into S, whose values C holds exactly.
        Mixed::of(C::from_exact(ctx.round_exact(x)), ctx)
    }
    fn zero(ctx: &'static Spec) -> Self {
        Mixed::of(C::zero(()), ctx)
    }
    fn from_ratio(num: i64, den: u64, ctx: &'static Spec) -> Self {
        Mixed::of(C::from_ratio(num, den, ()), ctx)
    }
    fn from_int(n: i64, ctx: &'static Spec) -> Self {
        Mixed::of(C::from_int(n, ()), ctx)
    }
    fn to_f64(&self) -> f64 {
        self.v.widen()
    }
    fn to_float(&self, prec: u32) -> Float {
        self.v.to_float(prec)
    }
    #[inline(always)]
    fn store(&mut self) {
        self.v = C::from_exact(self.spec.round_exact(self.v.widen()));
    }
    #[inline(always)]
    fn set(&mut self, src: &Self) {
        *self = *src;
    }
    #[inline(always)]
    fn set_add(&mut self, a: &Self, b: &Self) {
        self.v.set_add(&a.v, &b.v);
    }
    #[inline(always)]
    fn set_sub(&mut self, a: &Self, b: &Self) {
        self.v.set_sub(&a.v, &b.v);
    }
    #[inline(always)]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        self.v.set_mul(&a.v, &b.v);
    }
    #[inline(always)]
    fn set_div(&mut self, a: &Self, b: &Self) {
        self.v.set_div(&a.v, &b.v);
    }
    #[inline(always)]
    fn add_assign(&mut self, a: &Self) {
        self.v.add_assign(&a.v);
    }
    #[inline(always)]
    fn sub_assign(&mut self, a: &Self) {
        self.v.sub_assign(&a.v);
    }
    #[inline(always)]
    fn mul_assign(&mut self, a: &Self) {
        self.v.mul_assign(&a.v);
    }
    #[inline(always)]
    fn div_assign(&mut self, a: &Self) {
        self.v.div_assign(&a.v);
    }
    #[inline(always)]
    fn exp_mut(&mut self) {
        self.v.exp_mut();
    }
    #[inline(always)]
    fn ln_mut(&mut self) {
        self.v.ln_mut();
    }
    #[inline(always)]
    fn sqrt_mut(&mut self) {
        self.v.sqrt_mut();
    }
    #[inline(always)]
    fn neg_mut(&mut self) {
        self.v.neg_mut();
    }
    fn sin_mut(&mut self) {
        self.v.sin_mut();
    }
    fn cos_mut(&mut self) {
        self.v.cos_mut();
    }
    fn tanh_mut(&mut self) {
        self.v.tanh_mut();
    }
    fn sinh_mut(&mut self) {
        self.v.sinh_mut();
    }
    fn cosh_mut(&mut self) {
        self.v.cosh_mut();
    }
    fn atan_mut(&mut self) {
        self.v.atan_mut();
    }
    #[inline(always)]
    fn is_finite(&self) -> bool {
        self.v.is_finite()
    }
    #[inline(always)]
    fn is_zero(&self) -> bool {
        self.v.is_zero()
    }
    #[inline(always)]
    fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
        self.v.partial_cmp_val(&other.v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bf16_f32() -> &'static Spec {
        Format::ieee(8, 7).unwrap().spec()
    }

    #[test]
    fn arithmetic_is_c_and_store_rounds_to_s() {
        let ctx = bf16_f32();
        let one = Mixed::<f32>::from_int(1, ctx);
        let tiny = Mixed::<f32>::from_ratio(1, 1 << 12, ctx);
        let mut s = one.add(&tiny);
        // 1 + 2^-12 is an f32 number but not a bf16 one (8 bits).
        assert_eq!(s.to_f64(), 1.0 + 2f64.powi(-12));
        s.store();
        assert_eq!(s.to_f64(), 1.0);
        // Ties to even: 1 + 2^-8 is the midpoint of 1 and 1 + 2^-7; 1 + 3 2^-8 goes up.
        let mut t = Mixed::<f32>::from_f64(1.0 + 2f64.powi(-8), ctx);
        t.store();
        assert_eq!(t.to_f64(), 1.0);
        let mut t = Mixed::<f32>::from_f64(1.0 + 3.0 * 2f64.powi(-8), ctx);
        t.store();
        assert_eq!(t.to_f64(), 1.0 + 2f64.powi(-6));
    }

    #[test]
    fn e4m3_storage_overflows_to_nan() {
        let ctx = Format::E4M3.spec();
        let mut v = Mixed::<f32>::from_int(500, ctx);
        v.store();
        assert!(v.to_f64().is_nan());
        assert_eq!(Mixed::<f32>::dtype(ctx).name(), "e4m3+f32");
    }
}
