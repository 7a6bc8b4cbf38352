//! [`Scalar`] for the hardware formats, f16 and bf16 (from the half crate), f32 and f64: one
//! impl over the local [`Hardware`] trait, which says what differs between them: the dtype, the
//! format the arithmetic runs in ([`num_traits::Float`]: the type itself for f32 and f64, f32 for
//! f16 and bf16), an exact conversion from f64, the quick correct roundings f32 and f64 have, and
//! the correctly rounded `exp` and `ln`.
//!
//! How each type rounds (see also the parent module):
//!
//! - f32 and f64: hardware `+ - * /` and `sqrt`, correctly rounded. `exp` and `ln` are
//!   CORE-MATH's correctly rounded `expf`/`logf` and `exp`/`log` (the `core-math` crate, which
//!   compiles CORE-MATH's C sources): the same bits on every platform, whatever its libm. So
//!   are `sin`, `cos`, `tanh`, `sinh`, `cosh` and `atan` (CORE-MATH's `sinf`, `sin`, ...).
//! - f16 and bf16: `+ - * /` and `sqrt` computed in f32 and rounded once to 16 bits. f32 has at
//!   least 2p + 2 significand bits for both (p = 11 and 8), so this double rounding equals one
//!   correct rounding. `exp` and `ln` are CORE-MATH's correctly rounded f64 results rounded once
//!   to 16 bits, with an MPFR fallback on the rare f64 results that are exactly a 16-bit
//!   midpoint, which makes them correctly rounded too (proof in `half_math`). `sin`, `cos`,
//!   `tanh`, `sinh`, `cosh` and `atan` the same way.
//!
//! half's own operators and its `num_traits::Float` impl compute the same way (in half 2.7.1,
//! bf16's `Add` is `from_f32(to_f32(a) + to_f32(b))`, f16's goes through `arch::add_f16`, which is
//! `f32_to_f16(f16_to_f32(a) + f16_to_f32(b))` on x86-64, and `Float::exp` is
//! `from_f32(to_f32(x).exp())`), but going through them made f16 slower: LLVM no longer inlines
//! f16's `Add`, `Sub` and `Mul`, whose bodies each hold three conversions that test for F16C at
//! run time, and a check ran 20% more instructions. Widening and narrowing here, inlined, gives
//! the same bits at the old speed.
//!
//! Conversions into a type round exactly once: f32 and f64 from f64 by the hardware (`as`), and
//! from a ratio of integers of at most 53 bits by one IEEE division (narrowed to f32 only when
//! that cannot double-round); everything else through MPFR ([`round_to_hardware`]). f16 and bf16
//! take f64 values through MPFR too: half's own `from_f64` converts to f32 first when the CPU has
//! F16C, rounding twice.

use super::{half_math, round_to_hardware, DType, Scalar};
use half::{bf16, f16};
use num_traits::{AsPrimitive, Float as _};
use rug::{Float, Rational};
use std::cmp::Ordering;
use std::fmt::Debug;
use std::ops::Neg;

/// A hardware float format: what its [`Scalar`] impl needs to know.
pub(crate) trait Hardware: Copy + Neg<Output = Self> + Debug + Send + Sync + 'static {
    /// The runtime dtype.
    const DTYPE: DType;
    /// The format the arithmetic runs in: the type itself for f32 and f64, f32 for f16 and bf16.
    type Wide: num_traits::Float + AsPrimitive<f64>;
    /// The value in the wide format (exact).
    fn widen(self) -> Self::Wide;
    /// `w` rounded once to nearest in this format (the identity for f32 and f64).
    fn narrow(w: Self::Wide) -> Self;
    /// `v`, which must be a value of this format (held exactly in an f64): no rounding happens.
    fn from_exact(v: f64) -> Self;
    /// `r` rounded once to nearest, when a quick way is sure to get it right; else `None`.
    fn quick_from_rational(_r: &Rational) -> Option<Self> {
        None
    }
    /// `x` rounded once to nearest, when the hardware conversion does that; else `None`.
    fn quick_from_f64(_x: f64) -> Option<Self> {
        None
    }
    /// e^self, correctly rounded to nearest (ties to even) in this format.
    fn exp_cr(self) -> Self;
    /// ln(self), correctly rounded to nearest (ties to even) in this format.
    fn ln_cr(self) -> Self;
    /// f(self) for one of the [`Fun`] constants, correctly rounded to nearest (ties to even) in
    /// this format.
    fn cr(self, f: &Fun) -> Self;
}

/// A real function with a correctly rounded version for every hardware format: CORE-MATH's f32
/// function for f32, and its f64 function with MPFR's for f64 and, through [`half_math`], the
/// 16-bit formats.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fun {
    /// CORE-MATH's correctly rounded f32 function.
    f32: fn(f32) -> f32,
    /// The f64 and MPFR functions.
    wide: half_math::Unary,
}

const SIN: Fun = Fun { f32: core_math::sinf, wide: half_math::SIN };
const COS: Fun = Fun { f32: core_math::cosf, wide: half_math::COS };
const TANH: Fun = Fun { f32: core_math::tanhf, wide: half_math::TANH };
const SINH: Fun = Fun { f32: core_math::sinhf, wide: half_math::SINH };
const COSH: Fun = Fun { f32: core_math::coshf, wide: half_math::COSH };
const ATAN: Fun = Fun { f32: core_math::atanf, wide: half_math::ATAN };

impl Hardware for f64 {
    const DTYPE: DType = DType::F64;
    type Wide = f64;
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
    #[inline(always)]
    fn narrow(w: f64) -> Self {
        w
    }
    fn from_exact(v: f64) -> Self {
        v
    }
    fn quick_from_rational(r: &Rational) -> Option<Self> {
        quick_quotient(r)
    }
    fn quick_from_f64(x: f64) -> Option<Self> {
        Some(x)
    }
    #[inline(always)]
    fn exp_cr(self) -> Self {
        core_math::exp(self)
    }
    #[inline(always)]
    fn ln_cr(self) -> Self {
        half_math::log_f64(self)
    }
    #[inline(always)]
    fn cr(self, f: &Fun) -> Self {
        (f.wide.f64)(self)
    }
}

impl Hardware for f32 {
    const DTYPE: DType = DType::F32;
    type Wide = f32;
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
    #[inline(always)]
    fn narrow(w: f32) -> Self {
        w
    }
    fn from_exact(v: f64) -> Self {
        v as f32
    }
    fn quick_from_rational(r: &Rational) -> Option<Self> {
        quick_quotient(r).and_then(narrow_to_f32)
    }
    fn quick_from_f64(x: f64) -> Option<Self> {
        // `as` rounds f64 -> f32 to nearest-even, with f32's subnormals and overflow.
        Some(x as f32)
    }
    #[inline(always)]
    fn exp_cr(self) -> Self {
        core_math::expf(self)
    }
    #[inline(always)]
    fn ln_cr(self) -> Self {
        core_math::logf(self)
    }
    #[inline(always)]
    fn cr(self, f: &Fun) -> Self {
        (f.f32)(self)
    }
}

/// The 16-bit formats: arithmetic in f32 rounded once (exact for + - * / sqrt, f32 holding
/// more than twice their precision plus two bits), exp, ln and the [`Fun`] functions correctly
/// rounded by [`half_math`].
macro_rules! half_hardware {
    ($t:ty, $dtype:expr) => {
        impl Hardware for $t {
            const DTYPE: DType = $dtype;
            type Wide = f32;
            #[inline(always)]
            fn widen(self) -> f32 {
                self.to_f32()
            }
            #[inline(always)]
            fn narrow(w: f32) -> Self {
                <$t>::from_f32(w)
            }
            fn from_exact(v: f64) -> Self {
                // Exact: a value of the format is an f32 value.
                <$t>::from_f32(v as f32)
            }
            fn quick_from_f64(x: f64) -> Option<Self> {
                // A value of the format comes back as it is (no rounding to do: generated data
                // and scaled counts); any other takes the correctly rounded path.
                let h = <$t>::from_f32(x as f32);
                (h.to_f64() == x).then_some(h)
            }
            #[inline(always)]
            fn exp_cr(self) -> Self {
                Self::from_exact(half_math::apply(&half_math::EXP, self.to_f64(), Self::DTYPE))
            }
            #[inline(always)]
            fn ln_cr(self) -> Self {
                Self::from_exact(half_math::apply(&half_math::LN, self.to_f64(), Self::DTYPE))
            }
            #[inline(always)]
            fn cr(self, f: &Fun) -> Self {
                Self::from_exact(half_math::apply(&f.wide, self.to_f64(), Self::DTYPE))
            }
        }
    };
}

half_hardware!(f16, DType::F16);
half_hardware!(bf16, DType::BF16);

/// num / den correctly rounded to f64, when both are integers of at most 53 bits (IEEE division
/// of two exact operands rounds once).
fn quick_quotient(r: &Rational) -> Option<f64> {
    const LIMIT: u64 = 1 << 53;
    let num = r.numer().to_i64().filter(|n| n.unsigned_abs() <= LIMIT)?;
    let den = r.denom().to_u64().filter(|d| *d <= LIMIT)?;
    Some(num as f64 / den as f64)
}

/// The once-rounded f64 quotient `q` narrowed to f32 without double rounding: `None` when that
/// cannot be guaranteed. Rounding the f64 quotient to f32 equals rounding the exact quotient,
/// unless the f64 quotient is exactly an f32 midpoint (f32 values and midpoints are all f64
/// numbers, and rounding is monotone); midpoints and overflow go the slow, exact way.
fn narrow_to_f32(q: f64) -> Option<f32> {
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

impl<T: Hardware> Scalar for T {
    type Ctx = ();

    fn dtype(_: ()) -> DType {
        T::DTYPE
    }
    fn ctx(&self) {}
    fn from_rational(r: &Rational, _: ()) -> Self {
        // round_to_hardware returns a value of the format, so from_exact does not round again.
        T::quick_from_rational(r).unwrap_or_else(|| T::from_exact(round_to_hardware(r, T::DTYPE)))
    }
    fn from_float(x: &Float, _: ()) -> Self {
        T::from_exact(round_to_hardware(x, T::DTYPE))
    }
    fn from_f64(x: f64, ctx: ()) -> Self {
        T::quick_from_f64(x).unwrap_or_else(|| Self::from_float(&Float::with_val(53, x), ctx))
    }
    fn from_int(n: i64, ctx: ()) -> Self {
        // Integers up to 2^p in magnitude are exact in the format (and in f64): no rounding to do.
        if n.unsigned_abs() <= 1u64 << T::DTYPE.bits() {
            T::from_exact(n as f64)
        } else {
            Self::from_rational(&Rational::from(n), ctx)
        }
    }
    fn zero(_: ()) -> Self {
        T::from_exact(0.0)
    }
    fn to_f64(&self) -> f64 {
        self.widen().as_()
    }
    fn to_float(&self, prec: u32) -> Float {
        Float::with_val(prec, self.to_f64())
    }
    #[inline(always)]
    fn set(&mut self, src: &Self) {
        *self = *src;
    }
    #[inline(always)]
    fn set_add(&mut self, a: &Self, b: &Self) {
        *self = T::narrow(a.widen() + b.widen());
    }
    #[inline(always)]
    fn set_sub(&mut self, a: &Self, b: &Self) {
        *self = T::narrow(a.widen() - b.widen());
    }
    #[inline(always)]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        *self = T::narrow(a.widen() * b.widen());
    }
    #[inline(always)]
    fn set_div(&mut self, a: &Self, b: &Self) {
        *self = T::narrow(a.widen() / b.widen());
    }
    #[inline(always)]
    fn add_assign(&mut self, a: &Self) {
        let rhs = a.widen();
        *self = T::narrow(self.widen() + rhs);
    }
    #[inline(always)]
    fn sub_assign(&mut self, a: &Self) {
        let rhs = a.widen();
        *self = T::narrow(self.widen() - rhs);
    }
    #[inline(always)]
    fn mul_assign(&mut self, a: &Self) {
        let rhs = a.widen();
        *self = T::narrow(self.widen() * rhs);
    }
    #[inline(always)]
    fn div_assign(&mut self, a: &Self) {
        let rhs = a.widen();
        *self = T::narrow(self.widen() / rhs);
    }
    #[inline(always)]
    fn exp_mut(&mut self) {
        *self = self.exp_cr();
    }
    #[inline(always)]
    fn ln_mut(&mut self) {
        *self = self.ln_cr();
    }
    #[inline(always)]
    fn sqrt_mut(&mut self) {
        *self = T::narrow(self.widen().sqrt());
    }
    #[inline(always)]
    fn neg_mut(&mut self) {
        *self = -*self;
    }
    #[inline(always)]
    fn sin_mut(&mut self) {
        *self = self.cr(&SIN);
    }
    #[inline(always)]
    fn cos_mut(&mut self) {
        *self = self.cr(&COS);
    }
    #[inline(always)]
    fn tanh_mut(&mut self) {
        *self = self.cr(&TANH);
    }
    #[inline(always)]
    fn sinh_mut(&mut self) {
        *self = self.cr(&SINH);
    }
    #[inline(always)]
    fn cosh_mut(&mut self) {
        *self = self.cr(&COSH);
    }
    #[inline(always)]
    fn atan_mut(&mut self) {
        *self = self.cr(&ATAN);
    }
    fn is_finite(&self) -> bool {
        self.widen().is_finite()
    }
    fn is_zero(&self) -> bool {
        num_traits::Zero::is_zero(&self.widen())
    }
    #[inline(always)]
    fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
        self.widen().partial_cmp(&other.widen())
    }
    #[inline(always)]
    fn exp(&self) -> Self {
        self.exp_cr()
    }
    #[inline(always)]
    fn ln(&self) -> Self {
        self.ln_cr()
    }
    #[inline(always)]
    fn sqrt(&self) -> Self {
        T::narrow(self.widen().sqrt())
    }
}
