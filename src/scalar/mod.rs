//! Scalar types: one narrow trait implemented by f16, bf16, f32, f64 and MPFR floats.
//!
//! The trait is `Clone`, not `Copy` (rug's [`Float`] owns heap memory), and its arithmetic is
//! written as in-place methods (`set_add`, `add_assign`, `exp_mut`, ...) so that the hot loops can
//! run without allocating, MPFR included. Every operation, `exp` and `ln` included, rounds its
//! exact result once to the type's own precision, to nearest with ties to even:
//!
//! - f32 and f64 use the hardware operations; `exp` and `ln` are CORE-MATH's correctly rounded
//!   functions (the `core-math` crate), not the platform's libm, so they give the same bits on
//!   every machine.
//! - f16 and bf16 compute `+ - * /` and `sqrt` in f32 and round the f32 result to 16 bits. f32 has
//!   at least 2p + 2 significand bits for both (p = 11 and 8), so this double rounding equals a
//!   single correct rounding. `exp` and `ln` round CORE-MATH's correctly rounded f64 result once
//!   to 16 bits, except when that f64 result is exactly halfway between two 16-bit values, where
//!   MPFR evaluates the function at the 16-bit precision instead: a correct rounding too (the
//!   proof is in `half_math`; every f16 and bf16 input is tested against MPFR).
//! - MPFR ([`Float`]) rounds every operation, `exp` and `ln` included, correctly to its precision.
//!
//! `sin`, `cos`, `tanh`, `sinh`, `cosh` and `atan` (for Martins' function, the complex step and
//! the tanh MLP) are correctly rounded the same way: CORE-MATH for f32 and f64, CORE-MATH's f64
//! result rounded once (MPFR at a midpoint) for f16 and bf16, MPFR for MPFR. A new `Scalar` type
//! need not write them: the trait's defaults compute them in MPFR at the dtype's precision
//! ([`mpfr_unary`]).
//!
//! # Hardware formats and MPFR at the same precision
//!
//! Since every operation is one correct rounding in both, f32 and `mpfr:24` (and f64 and
//! `mpfr:53`) compute the same bits as long as every result lies in the hardware format's normal
//! range. They differ only in their exponent range: MPFR's is practically unbounded, while
//! f32 (f64) rounds a nonzero result below 2^-126 (2^-1022) in magnitude to its subnormal spacing
//! 2^-149 (2^-1074), or to 0, keeping fewer than 24 (53) bits, and rounds a result of magnitude
//! at least f32::MAX + ulp/2 (f64::MAX + ulp/2) to infinity. A check whose every operation stays
//! in the normal range gives byte-identical rows in f32 and `mpfr:24` (tests/hardware_vs_mpfr.rs);
//! with, say, a logit gap beyond 87.3 (e^-87.3 < 2^-126) the softmax's exponentials are subnormal
//! in f32 and the rows differ.
//!
//! Precision is data: each value carries its context ([`Scalar::Ctx`]: `()` for hardware
//! floats, a validated [`Prec`] for MPFR) and every constructor takes one. Constants enter a type
//! through [`Scalar::from_rational`], rounded exactly once from their exact value.

pub(crate) mod dd;
mod half_math;
pub mod ieee;
pub mod mixed;
mod mpfr;
mod mpfr_exp;
mod mpfr_ln;
pub mod num;
mod prim;

use crate::error::{Error, Result};
pub use ieee::{Emulated, Format};
pub use mixed::{Compute, Mixed};
use rug::float::Round;
use rug::{Float, Rational};
use std::cmp::Ordering;
use std::fmt;

/// A validated MPFR precision in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prec(u32);

impl Prec {
    /// Smallest precision accepted (MPFR's minimum is 1; 2 bits is the smallest useful format).
    pub const MIN: u32 = 2;
    /// Largest precision accepted: twice [`DType::MPFR_MAX_BITS`], so that the truth for the
    /// widest dtype can keep as many guard bits as the dtype has ([`crate::policy::truth_prec`]).
    /// MPFR allows far more.
    pub const MAX: u32 = 2 * DType::MPFR_MAX_BITS;

    /// A precision of `bits`, checked against [`Prec::MIN`]..=[`Prec::MAX`].
    ///
    /// # Errors
    /// [`Error::DType`] when `bits` is out of range.
    pub fn new(bits: u32) -> Result<Self> {
        if (Self::MIN..=Self::MAX).contains(&bits) {
            Ok(Prec(bits))
        } else {
            Err(Error::DType {
                value: format!("mpfr:{bits}"),
                min: Self::MIN,
                max: Self::MAX,
                detail: format!("; {bits} bits is out of range"),
            })
        }
    }

    /// The number of significand bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// A precision written in the code: `Prec::of(113)`. Out of range it panics, which in a
    /// `const` (as [`DType::MPFR_113`]) is a compile error; for a precision from input, use
    /// [`Prec::new`].
    pub const fn of(bits: u32) -> Self {
        assert!(bits >= Self::MIN && bits <= Self::MAX, "an MPFR precision outside Prec::MIN..=Prec::MAX");
        Prec(bits)
    }
}

/// A float type chosen at run time by name: `f16`, `bf16`, `f32`, `f64`, `mpfr:<bits>`, an
/// emulated format: `ieee:E:M`, `tf32`, `e5m2`, `e4m3` ([`Format`]), or a mixed dtype `S+C`
/// ([`Mixed`]: storage in S, arithmetic in C).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DType {
    /// IEEE binary16 (half crate).
    F16,
    /// bfloat16 (half crate).
    BF16,
    /// IEEE binary32.
    F32,
    /// IEEE binary64.
    F64,
    /// MPFR with the given precision and MPFR's (practically unbounded) exponent range.
    Mpfr(Prec),
    /// An emulated binary format ([`Format`]: `ieee:E:M` and the aliases `tf32`, `e5m2`,
    /// `e4m3`), computed by [`Emulated`].
    Ieee(Format),
    /// Mixed precision like autocast, `S+C` ([`Mixed`]): values stored in `storage`, arithmetic
    /// in `compute`, which holds every product of two storage values exactly.
    Mixed {
        /// The storage format S (f16, bf16 and f32 are ieee:5:10, ieee:8:7 and ieee:8:23).
        storage: Format,
        /// The compute type C.
        compute: Compute,
    },
}

impl DType {
    /// `mpfr:113`, binary128's precision.
    pub const MPFR_113: DType = DType::Mpfr(Prec::of(113));
    /// `mpfr:128`.
    pub const MPFR_128: DType = DType::Mpfr(Prec::of(128));
    /// `mpfr:256`, the default truth's precision.
    pub const MPFR_256: DType = DType::Mpfr(Prec::of(256));
    /// `tf32`, emulated ([`Format::TF32`]).
    pub const TF32: DType = DType::Ieee(Format::TF32);
    /// `e5m2`, emulated ([`Format::E5M2`]).
    pub const E5M2: DType = DType::Ieee(Format::E5M2);
    /// `e4m3`, emulated ([`Format::E4M3`]).
    pub const E4M3: DType = DType::Ieee(Format::E4M3);
    /// `f16+f32`: stored in f16, computed in f32, like autocast.
    pub const F16_F32: DType = DType::Mixed { storage: Format::F16, compute: Compute::F32 };
    /// `bf16+f32`.
    pub const BF16_F32: DType = DType::Mixed { storage: Format::BF16, compute: Compute::F32 };
    /// `tf32+f32`.
    pub const TF32_F32: DType = DType::Mixed { storage: Format::TF32, compute: Compute::F32 };
    /// `e5m2+f32`.
    pub const E5M2_F32: DType = DType::Mixed { storage: Format::E5M2, compute: Compute::F32 };
    /// `e4m3+f32`.
    pub const E4M3_F32: DType = DType::Mixed { storage: Format::E4M3, compute: Compute::F32 };

    /// The widest MPFR dtype, `mpfr:65536`: beyond it a single number (8 KiB) is larger than
    /// any check here can use, and its truth needs twice as many bits ([`Prec::MAX`]).
    pub const MPFR_MAX_BITS: u32 = 65_536;

    /// Parses a dtype name.
    ///
    /// # Errors
    /// [`Error::DType`] naming the text, e.g. for `f8`, `mpfr:`, `mpfr:1` or `mpfr:abc`.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if let Some((s, c)) = t.split_once('+') {
            return Self::parse_mixed(text, s.trim(), c.trim());
        }
        let err = |detail: &str| Error::DType {
            value: text.to_string(),
            min: Prec::MIN,
            max: Self::MPFR_MAX_BITS,
            detail: detail.to_string(),
        };
        match t {
            "f16" => Ok(DType::F16),
            "bf16" => Ok(DType::BF16),
            "f32" => Ok(DType::F32),
            "f64" => Ok(DType::F64),
            "tf32" => Ok(DType::Ieee(Format::TF32)),
            "e5m2" => Ok(DType::Ieee(Format::E5M2)),
            "e4m3" => Ok(DType::Ieee(Format::E4M3)),
            _ if t.starts_with("ieee:") => {
                let parts: Vec<&str> = t["ieee:".len()..].split(':').collect();
                let whole = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
                match parts[..] {
                    [e, m] if whole(e) && whole(m) => {
                        // Too many digits for a u32 is out of range as well.
                        let (ev, mv) = (e.parse::<u32>().unwrap_or(u32::MAX), m.parse::<u32>().unwrap_or(u32::MAX));
                        if !(ieee::EXP_BITS_MIN..=ieee::EXP_BITS_MAX).contains(&ev) {
                            return Err(err(&format!("; {e} exponent bits is out of range")));
                        }
                        if !(ieee::MAN_BITS_MIN..=ieee::MAN_BITS_MAX).contains(&mv) {
                            return Err(err(&format!("; {m} mantissa bits is out of range")));
                        }
                        Format::ieee(ev, mv).map(DType::Ieee)
                    }
                    _ => Err(err("; ieee:<E>:<M> takes two whole numbers, the exponent and stored mantissa bits")),
                }
            }
            _ if t.len() >= 4 && t.starts_with('e') && t[1..].contains('m') => {
                Err(err("; the named FP8 formats are e4m3 and e5m2 (any other: ieee:<E>:<M>)"))
            }
            _ => {
                let Some(bits) = t.strip_prefix("mpfr:") else {
                    return Err(err(""));
                };
                if bits.is_empty() || !bits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(err("; the precision must be a whole number of bits"));
                }
                match bits.parse::<u32>() {
                    Ok(b) if (Prec::MIN..=Self::MPFR_MAX_BITS).contains(&b) => Ok(DType::Mpfr(Prec(b))),
                    _ => Err(err(&format!("; {bits} bits is out of range"))),
                }
            }
        }
    }

    /// Parses the mixed dtype `s+c` (`text` as the user gave it): S a binary format, C f32 or
    /// f64 holding every product of two S values exactly (2 p(S) <= p(C), S's exponent range
    /// within C's).
    fn parse_mixed(text: &str, s: &str, c: &str) -> Result<Self> {
        let bad = |detail: String| {
            Error::value(
                "dtype",
                text,
                format!(
                    "S+C with S a storage format (f16, bf16, f32, tf32, e5m2, e4m3 or ieee:<E>:<M>) and C \
                     f32 or f64 holding every product of two S values exactly (2 p(S) <= p(C), S's exponent \
                     range within C's), such as bf16+f32; {detail}"
                ),
            )
        };
        if s.is_empty() || c.is_empty() {
            return Err(bad("both S and C must be named".into()));
        }
        let compute = match c {
            "f32" => Compute::F32,
            "f64" => Compute::F64,
            _ => return Err(bad(format!("{c:?} is not f32 or f64"))),
        };
        let storage = match DType::parse(s) {
            Ok(DType::F16) => Format::ieee(5, 10)?,
            Ok(DType::BF16) => Format::ieee(8, 7)?,
            Ok(DType::F32) => Format::ieee(8, 23)?,
            Ok(DType::F64) => Format::ieee(11, 52)?,
            Ok(DType::Ieee(f)) => f,
            Ok(_) => return Err(bad(format!("{s:?} is not a binary storage format"))),
            Err(_) => return Err(bad(format!("{s:?} is not a storage format"))),
        };
        let cf = compute.format();
        if 2 * storage.precision() > cf.precision() {
            return Err(bad(format!(
                "{s} has {} bits, so C needs at least {}, and {c} has {}",
                storage.precision(),
                2 * storage.precision(),
                cf.precision()
            )));
        }
        if storage.emin() < cf.emin() || storage.emax() > cf.emax() {
            return Err(bad(format!("{s}'s exponent range exceeds {c}'s")));
        }
        Ok(DType::Mixed { storage, compute })
    }

    /// Parses a comma-separated list of dtypes; an empty list is an error.
    ///
    /// # Errors
    /// [`Error::DType`] for the first bad entry; [`Error::Value`] for an empty list.
    pub fn parse_list(text: &str) -> Result<Vec<Self>> {
        let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if items.is_empty() {
            return Err(Error::value("dtype list", text, "a comma-separated list such as f32,f64,mpfr:113"));
        }
        items.into_iter().map(DType::parse).collect()
    }

    /// The canonical name, which parses back to the same dtype: `f16`, `bf16`, `f32`, `f64`,
    /// `mpfr:113`, `tf32`, `e5m2`, `e4m3`, `ieee:6:9` (ieee:8:10 is named `tf32`, ieee:5:2 `e5m2`).
    pub fn name(self) -> String {
        match self {
            DType::Ieee(f) => f.name(),
            DType::Mixed { storage, compute } => format!("{}+{}", mixed::storage_name(storage), compute.name()),
            DType::F16 => "f16".into(),
            DType::BF16 => "bf16".into(),
            DType::F32 => "f32".into(),
            DType::F64 => "f64".into(),
            DType::Mpfr(p) => format!("mpfr:{}", p.bits()),
        }
    }

    /// A label safe in file names: `f16`, ..., `mpfr113`, `tf32`, `e4m3`, `ieee6m9`, `bf16+f32`.
    pub fn label(self) -> String {
        match self {
            DType::Ieee(f) => f.label(),
            DType::Mixed { storage, compute } => {
                let s = match storage {
                    f if mixed::storage_name(f) != f.name() => mixed::storage_name(f),
                    f => f.label(),
                };
                format!("{s}+{}", compute.name())
            }
            _ => self.name().replace(':', ""),
        }
    }

    /// Significand bits p, counting the implicit bit (11, 8, 24, 53, or the MPFR precision); for
    /// a mixed dtype, its storage format's: the precision of the values it stores (inputs,
    /// parameters, perturbed values, logits, gradients), which decides dead inputs and the
    /// accuracy of the analytic gradient. Its values in flight have [`DType::value_bits`].
    pub fn bits(self) -> u32 {
        match self {
            DType::Mixed { storage, .. } => storage.precision(),
            DType::F16 => 11,
            DType::BF16 => 8,
            DType::F32 => 24,
            DType::F64 => 53,
            DType::Mpfr(p) => p.bits(),
            DType::Ieee(f) => f.precision(),
        }
    }

    /// The bits an MPFR float needs to hold any value of this dtype exactly: [`DType::bits`], but
    /// the compute type's for a mixed dtype (its losses and difference quotients are C values).
    pub fn value_bits(self) -> u32 {
        match self {
            DType::Mixed { compute, .. } => compute.dtype().bits(),
            _ => self.bits(),
        }
    }

    /// The dtype the loss is evaluated in: the compute type C of a mixed dtype, else the dtype.
    pub fn loss_dtype(self) -> DType {
        match self {
            DType::Mixed { compute, .. } => compute.dtype(),
            _ => self,
        }
    }

    /// The storage format of a mixed dtype, `None` for the others.
    pub fn storage(self) -> Option<Format> {
        match self {
            DType::Mixed { storage, .. } => Some(storage),
            _ => None,
        }
    }

    /// Unit roundoff u = 2^-p for rounding to nearest (of the storage format for a mixed dtype).
    pub fn unit_roundoff(self) -> f64 {
        2f64.powi(-(self.bits() as i32))
    }

    /// The smallest exponent e such that 2^e is a normal number, or `None` for MPFR
    /// (MPFR's exponent range is far beyond anything computed here); the storage format's for a
    /// mixed dtype.
    pub fn normal_exp_min(self) -> Option<i32> {
        match self {
            DType::Mixed { storage, .. } => Some(storage.emin()),
            DType::F16 => Some(-14),
            DType::BF16 | DType::F32 => Some(-126),
            DType::F64 => Some(-1022),
            DType::Mpfr(_) => None,
            DType::Ieee(f) => Some(f.emin()),
        }
    }

    /// The largest finite value, or `None` for MPFR; the storage format's for a mixed dtype.
    pub fn max_finite(self) -> Option<f64> {
        match self {
            DType::Mixed { storage, .. } => Some(storage.max_finite()),
            DType::F16 => Some(65504.0),
            DType::BF16 => Some(f32::from_bits(0x7f7f_0000) as f64),
            DType::F32 => Some(f32::MAX as f64),
            DType::F64 => Some(f64::MAX),
            DType::Mpfr(_) => None,
            DType::Ieee(f) => Some(f.max_finite()),
        }
    }

    /// Whether overflow gives infinity: every dtype but `e4m3`, whose overflow gives NaN.
    pub fn has_infinity(self) -> bool {
        match self {
            DType::Ieee(f) | DType::Mixed { storage: f, .. } => f.has_infinity(),
            _ => true,
        }
    }

    /// Whether this is an emulated format ([`DType::Ieee`]).
    pub fn is_emulated(self) -> bool {
        matches!(self, DType::Ieee(_))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

crate::text_serde!(DType);

impl std::str::FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DType::parse(s)
    }
}

/// A float type gradlab computes in. See the module docs for the rounding of each type.
///
/// Methods named `set_*` overwrite `self` with the rounded result of an operation on their
/// arguments; `*_assign` and `*_mut` update `self` in place. None of them allocates for MPFR when
/// `self` already has the context's precision.
pub trait Scalar: Clone + fmt::Debug + Send + Sync + 'static {
    /// The precision context: `()` for hardware floats, [`Prec`] for MPFR.
    type Ctx: Copy + fmt::Debug + Send + Sync + PartialEq + 'static;

    /// The runtime dtype of this type in context `ctx`.
    fn dtype(ctx: Self::Ctx) -> DType;
    /// The context this value was made with.
    fn ctx(&self) -> Self::Ctx;

    /// The exact rational `r` rounded once to nearest (ties to even) in this type, with the
    /// type's overflow and subnormal behaviour.
    fn from_rational(r: &Rational, ctx: Self::Ctx) -> Self;
    /// The finite or infinite MPFR value `x` rounded once to nearest in this type.
    fn from_float(x: &Float, ctx: Self::Ctx) -> Self;
    /// The f64 value `x` rounded once to nearest in this type.
    fn from_f64(x: f64, ctx: Self::Ctx) -> Self {
        Self::from_float(&Float::with_val(53, x), ctx)
    }
    /// The f64 value `x` rounded once to nearest into the storage format: [`Scalar::from_f64`]
    /// but for mixed dtypes, whose data are rounded once into S (not into C and then S).
    fn stored_from_f64(x: f64, ctx: Self::Ctx) -> Self {
        Self::from_f64(x, ctx)
    }
    /// Zero.
    fn zero(ctx: Self::Ctx) -> Self;
    /// `num / den` rounded once into the type.
    fn from_ratio(num: i64, den: u64, ctx: Self::Ctx) -> Self {
        Self::from_rational(&Rational::from((num, den)), ctx)
    }
    /// |self| as a new value (exact).
    fn abs(&self) -> Self {
        let mut r = self.clone();
        if r.partial_cmp_val(&Self::zero(self.ctx())) == Some(Ordering::Less) {
            r.neg_mut();
        }
        r
    }
    /// The integer `n` rounded once into this type.
    fn from_int(n: i64, ctx: Self::Ctx) -> Self {
        Self::from_rational(&Rational::from(n), ctx)
    }

    /// The value rounded to the nearest f64 (exact for every type with at most 53 bits).
    fn to_f64(&self) -> f64;
    /// The exact value as an MPFR float of `prec` bits (exact whenever `prec` is at least the
    /// type's precision).
    fn to_float(&self, prec: u32) -> Float;

    /// Rounds `self` into the storage format: a no-op but for mixed dtypes ([`Mixed`]), whose
    /// values are computed in C and rounded to S at the storage points the model marks with it.
    #[inline(always)]
    fn store(&mut self) {}

    /// `self = src`.
    fn set(&mut self, src: &Self);
    /// `self = round(a + b)`.
    fn set_add(&mut self, a: &Self, b: &Self);
    /// `self = round(a - b)`.
    fn set_sub(&mut self, a: &Self, b: &Self);
    /// `self = round(a * b)`.
    fn set_mul(&mut self, a: &Self, b: &Self);
    /// `self = round(a / b)`.
    fn set_div(&mut self, a: &Self, b: &Self);
    /// `self = round(self + a)`.
    fn add_assign(&mut self, a: &Self);
    /// `self = round(self - a)`.
    fn sub_assign(&mut self, a: &Self);
    /// `self = round(self * a)`.
    fn mul_assign(&mut self, a: &Self);
    /// `self = round(self / a)`.
    fn div_assign(&mut self, a: &Self);
    /// `self = round(exp(self))`.
    fn exp_mut(&mut self);
    /// `self = round(ln(self))`.
    fn ln_mut(&mut self);
    /// `self = round(sqrt(self))`.
    fn sqrt_mut(&mut self);
    /// `self = -self` (exact).
    fn neg_mut(&mut self);
    /// `self = round(sin(self))`. The default computes in MPFR at the dtype's precision and
    /// brings the result into the dtype's exponent range without a second rounding
    /// ([`mpfr_unary`]); the built-in types override it with faster correctly rounded versions.
    fn sin_mut(&mut self) {
        mpfr_unary(self, Float::sin_round);
    }
    /// `self = round(cos(self))` (default as for [`Scalar::sin_mut`]).
    fn cos_mut(&mut self) {
        mpfr_unary(self, Float::cos_round);
    }
    /// `self = round(tanh(self))` (default as for [`Scalar::sin_mut`]).
    fn tanh_mut(&mut self) {
        mpfr_unary(self, Float::tanh_round);
    }
    /// `self = round(sinh(self))` (default as for [`Scalar::sin_mut`]).
    fn sinh_mut(&mut self) {
        mpfr_unary(self, Float::sinh_round);
    }
    /// `self = round(cosh(self))` (default as for [`Scalar::sin_mut`]).
    fn cosh_mut(&mut self) {
        mpfr_unary(self, Float::cosh_round);
    }
    /// `self = round(atan(self))` (default as for [`Scalar::sin_mut`]).
    fn atan_mut(&mut self) {
        mpfr_unary(self, Float::atan_round);
    }

    /// Whether the value is neither infinite nor NaN.
    fn is_finite(&self) -> bool;
    /// Whether the value is +0 or -0.
    fn is_zero(&self) -> bool;
    /// Numeric comparison; `None` when either side is NaN.
    fn partial_cmp_val(&self, other: &Self) -> Option<Ordering>;

    /// `round(a + b)` as a new value.
    fn add(&self, b: &Self) -> Self {
        let mut r = self.clone();
        r.add_assign(b);
        r
    }
    /// `round(a - b)` as a new value.
    fn sub(&self, b: &Self) -> Self {
        let mut r = self.clone();
        r.sub_assign(b);
        r
    }
    /// `round(a * b)` as a new value.
    fn mul(&self, b: &Self) -> Self {
        let mut r = self.clone();
        r.mul_assign(b);
        r
    }
    /// `round(a / b)` as a new value.
    fn div(&self, b: &Self) -> Self {
        let mut r = self.clone();
        r.div_assign(b);
        r
    }
    /// `round(exp(a))` as a new value.
    fn exp(&self) -> Self {
        let mut r = self.clone();
        r.exp_mut();
        r
    }
    /// `round(ln(a))` as a new value.
    fn ln(&self) -> Self {
        let mut r = self.clone();
        r.ln_mut();
        r
    }
    /// `round(sqrt(a))` as a new value.
    fn sqrt(&self) -> Self {
        let mut r = self.clone();
        r.sqrt_mut();
        r
    }
}

/// `x = f(x)` correctly rounded to nearest in `S`, for any [`Scalar`] type: `f` (an MPFR
/// function such as `Float::sin_round`, returning its ternary value) is evaluated at the dtype's
/// precision from the exact value of `x`; for a dtype with a bounded exponent range the result is
/// then brought into that range from the ternary value (subnormals without a second rounding,
/// overflow to infinity, as `finish_hardware`) before [`Scalar::from_float`] takes it, exactly.
/// The default of the trait's transcendental functions, so that a new `Scalar` type has them
/// correctly rounded without writing any.
pub fn mpfr_unary<S: Scalar>(x: &mut S, f: fn(&mut Float, Round) -> Ordering) {
    let ctx = x.ctx();
    let dtype = S::dtype(ctx);
    let mut v = x.to_float(dtype.bits());
    let ord = f(&mut v, Round::Nearest);
    if dtype.normal_exp_min().is_some() && dtype.max_finite().is_some() {
        let r = finish_hardware(v, ord, dtype);
        *x = S::from_float(&Float::with_val(dtype.bits().max(53), r), ctx);
    } else {
        *x = S::from_float(&v, ctx);
    }
}

/// Rounds `x` (an exact rational or an MPFR float) once, to nearest with ties to even, into the
/// hardware format of `dtype`, with its subnormals and overflow to infinity. Returns the result
/// as an f64, which holds every value of these formats exactly.
pub(crate) fn round_to_hardware<V>(x: V, dtype: DType) -> f64
where
    Float: rug::ops::AssignRound<V, Round = Round, Ordering = Ordering>,
{
    let (r, ord) = Float::with_val_round(dtype.bits(), x, Round::Nearest);
    finish_hardware(r, ord, dtype)
}

/// `r`, already rounded to nearest at the precision of `dtype` (a hardware format) with ternary
/// value `ord` (the sign of r - exact) and MPFR's unbounded exponent range, brought into the
/// format's exponent range: subnormal results are rounded again *from the exact value* (MPFR's
/// subnormalize uses `ord`, so there is no double rounding), and results beyond the largest
/// finite value become infinite. Returns the value as an f64, which holds it exactly.
pub(crate) fn finish_hardware(mut r: Float, ord: Ordering, dtype: DType) -> f64 {
    let (Some(normal_exp_min), Some(max)) = (dtype.normal_exp_min(), dtype.max_finite()) else {
        unreachable!("finish_hardware is only called for hardware dtypes");
    };
    if r.is_nan() || r.is_infinite() || r.is_zero() {
        return r.to_f64();
    }
    // MPFR writes x = m * 2^e with 0.5 <= |m| < 1, so the smallest normal 2^k has MPFR exponent
    // k + 1. subnormalize_round uses the first rounding's direction, so there is no double rounding.
    r.subnormalize_round(normal_exp_min + 1, ord, Round::Nearest);
    let v = r.to_f64();
    if v.abs() > max {
        // After rounding to p bits, anything above the largest finite value came from an exact
        // value of at least max + ulp/2, which rounds to infinity (NaN in e4m3).
        let overflow = if dtype.has_infinity() { f64::INFINITY } else { f64::NAN };
        return overflow.copysign(v);
    }
    v
}

/// A local type alias `$T` and context `$ctx` for a runtime [`DType`], then `$body`.
///
/// ```
/// use gradlab::{with_dtype, scalar::{DType, Scalar}};
/// let dt = DType::parse("mpfr:113").unwrap();
/// let third = with_dtype!(dt, |T, ctx| T::from_ratio(1, 3, ctx).to_f64());
/// assert_eq!(third, 1.0 / 3.0);
/// ```
#[macro_export]
macro_rules! with_dtype {
    ($dt:expr, |$T:ident, $ctx:ident| $body:expr) => {
        match $dt {
            $crate::scalar::DType::F16 => {
                type $T = ::half::f16;
                let $ctx = ();
                $body
            }
            $crate::scalar::DType::BF16 => {
                type $T = ::half::bf16;
                let $ctx = ();
                $body
            }
            $crate::scalar::DType::F32 => {
                type $T = f32;
                let $ctx = ();
                $body
            }
            $crate::scalar::DType::F64 => {
                type $T = f64;
                let $ctx = ();
                $body
            }
            $crate::scalar::DType::Mpfr(p) => {
                type $T = ::rug::Float;
                let $ctx = p;
                $body
            }
            $crate::scalar::DType::Ieee(f) => {
                type $T = $crate::scalar::Emulated;
                let $ctx = f.spec();
                $body
            }
            $crate::scalar::DType::Mixed { storage, compute: $crate::scalar::Compute::F32 } => {
                type $T = $crate::scalar::Mixed<f32>;
                let $ctx = storage.spec();
                $body
            }
            $crate::scalar::DType::Mixed { storage, compute: $crate::scalar::Compute::F64 } => {
                type $T = $crate::scalar::Mixed<f64>;
                let $ctx = storage.spec();
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each named dtype is the one its name parses to, and prints back as that name.
    #[test]
    fn named_dtypes_are_their_names() {
        let named = [
            (DType::MPFR_113, "mpfr:113"),
            (DType::MPFR_128, "mpfr:128"),
            (DType::MPFR_256, "mpfr:256"),
            (DType::TF32, "tf32"),
            (DType::E5M2, "e5m2"),
            (DType::E4M3, "e4m3"),
            (DType::F16_F32, "f16+f32"),
            (DType::BF16_F32, "bf16+f32"),
            (DType::TF32_F32, "tf32+f32"),
            (DType::E5M2_F32, "e5m2+f32"),
            (DType::E4M3_F32, "e4m3+f32"),
        ];
        for (dt, name) in named {
            assert_eq!(DType::parse(name).unwrap(), dt, "{name}");
            assert_eq!(dt.to_string(), name);
        }
        assert_eq!(DType::Ieee(Format::F16).to_string(), DType::parse("ieee:5:10").unwrap().to_string());
        assert_eq!(Prec::of(53), Prec::new(53).unwrap());
    }
}
