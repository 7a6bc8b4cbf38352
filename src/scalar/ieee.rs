//! Emulated binary floating-point formats: `ieee:E:M` (E exponent bits, M stored mantissa bits,
//! precision p = M + 1, IEEE bias 2^(E-1) - 1, subnormals, round to nearest with ties to even,
//! infinity on overflow) for E in 2..=11 and M in 1..=52, with the named aliases `tf32`
//! (ieee:8:10), `e5m2` (ieee:5:2, OCP FP8 E5M2) and `e4m3` (OCP FP8 E4M3FN: 4 exponent bits, 3
//! mantissa bits, no infinities, the all-ones exponent a normal binade, largest finite value
//! 448, NaN on overflow).
//!
//! # One implementation, values held in f64
//!
//! [`Emulated`] holds a value of the format as an f64 (exact: every such format's values are f64
//! numbers, since p <= 53 and its exponent range lies within f64's) and a reference to its
//! format's [`Spec`] (the precision context). Every operation is one correct rounding of the
//! exact result into the format:
//!
//! 1. compute y = RN64(exact), the correctly rounded f64 result (hardware `+ - * /` and `sqrt`;
//!    CORE-MATH's correctly rounded `exp` and `log`);
//! 2. round y to the format, unless y is exactly a *midpoint* of the format (halfway between two
//!    neighbouring values, or at the overflow threshold); there the sign of exact - y decides:
//!    the error-free TwoSum residual for `+` and `-`, and an exact integer comparison of a b
//!    with y, a with y b, or a with y^2 for `*`, `/` and `sqrt` (the operands' significands are
//!    at most 53-bit integers, so their products fit in 128 bits); for `exp` and `ln`, MPFR's
//!    correctly rounded result at the format's precision (ties with the exact value cannot
//!    happen there: e^x and ln x are transcendental for a representable x other than 0 and 1).
//!
//! Why step 2 is exact. Every value and every midpoint of the format is an f64 number (at most
//! p + 1 <= 53 significant bits, the smallest subnormal midpoint 2^(emin - p) >= 2^-1074, the
//! overflow threshold below 2^1024), and rounding to nearest is monotone. If m is a midpoint
//! with exact < m, then y = RN64(exact) <= RN64(m) = m, and likewise on the other side, so y lies
//! in the closed interval between the two midpoints around the exact value; unless y is one of
//! its ends, y and the exact value lie in the same open interval and round to the same format
//! value. At an end, the residual's sign says on which side the exact value lies (and a zero
//! residual means the exact value *is* the midpoint, which goes to even). This is the same
//! argument as for f16/bf16's `exp` and `ln` (`half_math`), applied to every operation.
//!
//! For p <= 25 the residual never changes the result of `+ - * /` and `sqrt`: 53 >= 2p + 2, and
//! then rounding the exact result to 53 bits and then to p bits equals rounding it once to p bits
//! (S. A. Figueroa, "When is double rounding innocuous?", ACM SIGNUM Newsletter 30(3), 1995); in
//! other words y is a midpoint only when the exact result is, so for p <= 25 the arithmetic does
//! not look for midpoints in the normal range at all (`Spec::round_arith`; below it, it still
//! asks the residual). The same theorem makes f16 and bf16 correct when computed in f32 (53 is replaced by f32's 24 >= 2p + 2 for p <= 11). For
//! 25 < p <= 52 double rounding *does* go wrong (1 + 2^-p + 2^-60 rounds to the midpoint
//! 1 + 2^-p in f64, then to 1 by ties to even, while the correct p-bit result is 1 + 2^(1-p)),
//! and the residual is what fixes it; the tests build such cases. p = 53 with E = 11 is f64
//! itself (y is already a value of the format).
//!
//! # Rounding into the format
//!
//! In the format's normal range, rounding y is integer arithmetic on its bits: add half an ulp
//! minus one plus the last kept bit, clear the dropped bits (the carry moves into the exponent
//! by itself). Below the normal range the result is rounded to the subnormal spacing
//! 2^q, q = emin + 1 - p (gradual underflow), by f64's own addition: (y + c) - c with
//! c = 2^(q + 52) of y's sign (|y| + |c| lies in [2^(q + 52), 2^(q + 53)), whose spacing is 2^q,
//! so the sum rounds y to the grid, ties to even, and the subtraction is exact); a y that is
//! itself a subnormal midpoint goes to the exact path as above. A result above the largest
//! finite value becomes +-infinity (NaN for e4m3, which has no infinity). No operation
//! allocates: the MPFR fallback of `exp` and `ln` uses a per-thread scratch value (but MPFR's
//! `exp` and `log` themselves may allocate temporaries on that rare path, see
//! `Spec::mpfr_unary`).

use super::half_math::{Unary, EXP, LN};
use super::{DType, Scalar};
use crate::error::{Error, Result};
use rug::float::Round;
use rug::{Float, Rational};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;

/// An emulated binary format: its exponent and stored mantissa widths, and whether it is OCP's
/// E4M3FN (no infinity; NaN on overflow) rather than an IEEE-like format with infinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Format {
    exp_bits: u8,
    man_bits: u8,
    finite_only: bool,
}

/// Fewest exponent bits accepted.
pub(crate) const EXP_BITS_MIN: u32 = 2;
/// Most exponent bits accepted (f64's: the values must be f64 numbers).
pub(crate) const EXP_BITS_MAX: u32 = 11;
/// Fewest stored mantissa bits accepted.
pub(crate) const MAN_BITS_MIN: u32 = 1;
/// Most stored mantissa bits accepted (f64's).
pub(crate) const MAN_BITS_MAX: u32 = 52;

impl Format {
    /// ieee:5:10, the format of f16 (the storage of the mixed dtype `f16+C`).
    pub const F16: Format = Format { exp_bits: 5, man_bits: 10, finite_only: false };
    /// ieee:8:7, the format of bf16.
    pub const BF16: Format = Format { exp_bits: 8, man_bits: 7, finite_only: false };
    /// ieee:8:23, the format of f32.
    pub const F32: Format = Format { exp_bits: 8, man_bits: 23, finite_only: false };
    /// NVIDIA's TensorFloat-32, ieee:8:10: f32's range with f16's precision.
    pub const TF32: Format = Format { exp_bits: 8, man_bits: 10, finite_only: false };
    /// OCP FP8 E5M2, ieee:5:2 (with infinities).
    pub const E5M2: Format = Format { exp_bits: 5, man_bits: 2, finite_only: false };
    /// OCP FP8 E4M3FN: 4 exponent bits (bias 7), 3 mantissa bits, no infinities, largest finite
    /// value 448, NaN on overflow.
    pub const E4M3: Format = Format { exp_bits: 4, man_bits: 3, finite_only: true };

    /// The IEEE-like format with `exp_bits` exponent and `man_bits` stored mantissa bits.
    ///
    /// # Errors
    /// [`Error::DType`] naming `ieee:E:M` when E is outside 2..=11 or M outside 1..=52.
    pub fn ieee(exp_bits: u32, man_bits: u32) -> Result<Format> {
        let bad = |detail: String| Error::DType {
            value: format!("ieee:{exp_bits}:{man_bits}"),
            min: super::Prec::MIN,
            max: DType::MPFR_MAX_BITS,
            detail,
        };
        if !(EXP_BITS_MIN..=EXP_BITS_MAX).contains(&exp_bits) {
            return Err(bad(format!("; {exp_bits} exponent bits is out of range")));
        }
        if !(MAN_BITS_MIN..=MAN_BITS_MAX).contains(&man_bits) {
            return Err(bad(format!("; {man_bits} mantissa bits is out of range")));
        }
        Ok(Format { exp_bits: exp_bits as u8, man_bits: man_bits as u8, finite_only: false })
    }

    /// Exponent bits E.
    pub fn exp_bits(self) -> u32 {
        u32::from(self.exp_bits)
    }

    /// Stored mantissa bits M.
    pub fn man_bits(self) -> u32 {
        u32::from(self.man_bits)
    }

    /// Precision p = M + 1 (the implicit bit counted).
    pub fn precision(self) -> u32 {
        self.man_bits() + 1
    }

    /// Whether overflow gives infinity (every format but e4m3, whose overflow gives NaN).
    pub fn has_infinity(self) -> bool {
        !self.finite_only
    }

    /// The exponent of the smallest normal number, 2 - 2^(E-1).
    pub fn emin(self) -> i32 {
        2 - (1 << (self.exp_bits - 1))
    }

    /// The exponent of the largest binade: 2^(E-1) - 1, plus one for e4m3 (whose all-ones
    /// exponent holds normal numbers).
    pub fn emax(self) -> i32 {
        (1 << (self.exp_bits - 1)) - 1 + i32::from(self.finite_only)
    }

    /// The largest finite value: (2 - 2^-M) 2^emax, and 448 = 1.75 x 2^8 for e4m3 (whose
    /// all-ones significand in the top binade is NaN).
    pub fn max_finite(self) -> f64 {
        self.spec().max
    }

    /// The canonical name: `tf32`, `e5m2`, `e4m3`, or `ieee:E:M`.
    pub fn name(self) -> String {
        match self {
            Format::TF32 => "tf32".into(),
            Format::E5M2 => "e5m2".into(),
            Format::E4M3 => "e4m3".into(),
            f => format!("ieee:{}:{}", f.exp_bits, f.man_bits),
        }
    }

    /// A name safe in file names: `tf32`, `e5m2`, `e4m3`, or `ieeeEmM` (`ieee5m10`).
    pub fn label(self) -> String {
        match self {
            Format::TF32 | Format::E5M2 | Format::E4M3 => self.name(),
            f => format!("ieee{}m{}", f.exp_bits, f.man_bits),
        }
    }

    /// The format's precomputed constants: the context of [`Emulated`] values.
    pub fn spec(self) -> &'static Spec {
        let i = if self.finite_only {
            SPEC_COUNT - 1
        } else {
            (usize::from(self.exp_bits) - 2) * 52 + usize::from(self.man_bits) - 1
        };
        &SPECS[i]
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A format's constants for rounding f64 values into it: the context ([`Scalar::Ctx`]) of
/// [`Emulated`] values. One static instance per format ([`Format::spec`]).
#[derive(Debug)]
pub struct Spec {
    format: Format,
    /// Precision p.
    p: u32,
    /// Exponent of the smallest normal number.
    emin: i32,
    /// The largest finite value.
    max: f64,
    /// +infinity, or NaN for e4m3.
    overflow: f64,
    /// 53 - p: the f64 significand bits the format drops.
    shift: u32,
    /// The dropped bits, 2^shift - 1.
    mask: u64,
    /// The dropped bits of a midpoint, 2^(shift-1); `u64::MAX` (never matched) when p = 53.
    half: u64,
    /// [`Spec::half`] where + - * / and sqrt must look for midpoints (p > 25); `u64::MAX` (never
    /// matched) for p <= 25, where an f64 result on a midpoint is the exact result (Figueroa),
    /// so the plain ties-to-even rounding is right.
    arith_half: u64,
    /// The bits of the largest finite value.
    max_bits: u64,
    /// The bits of 2^emin, the smallest normal number.
    lo_bits: u64,
    /// The bits of the midpoint between the largest finite value and 2^(emax + 1) (+infinity's
    /// when p = 53): |y| from 2^emin up to below it rounds to a finite value of the normal range.
    tie_bits: u64,
    /// tie_bits - lo_bits: |y| is in the rounding's normal range when |y| - 2^emin (as bits,
    /// wrapping) is below it.
    normal_span: u64,
    /// half - 1; 0 when p = 53.
    half_minus_one: u64,
    /// 1; 0 when p = 53 (the last kept bit's weight in ties to even).
    one: u64,
    /// The bits of 2^(q + 52), q = emin + 1 - p the subnormal spacing: (y + c) - c with c of y's
    /// sign rounds |y| < 2^emin to a multiple of 2^q (ties to even) in f64's own addition.
    sub_magic: u64,
    /// Half the subnormal spacing, 2^(q - 1): the distance of a subnormal midpoint from the
    /// grid; NaN (never equal) when q = -1074, where every f64 below 2^emin is in the format.
    sub_half: f64,
    /// [`Spec::sub_half`] where + - * / and sqrt must look for subnormal midpoints; NaN (never)
    /// for p <= 25 and q >= -511, where such a result on a midpoint is exact: a sum below 2^emin
    /// is exact (a multiple of 2^q below 2^emin is in the format), a product (at least
    /// 2^(2q) >= 2^-1022, at most 2p <= 50 bits) is exact in f64, and a quotient or root whose
    /// f64 rounding is a midpoint m = M 2^(q-1) (M odd, below 2^(p+1)) equals it, because
    /// |a - m b| and |a - m^2|, nonzero multiples of 2^(q-1+e_b) and 2^(2q-2), put a/b and
    /// sqrt(a) further from m than half an f64 ulp of m for 2p < 53.
    arith_sub_half: f64,
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format
    }
}

/// The sign bit of an f64.
const SIGN: u64 = 1 << 63;

impl Spec {
    /// The format these constants describe.
    pub fn format(&self) -> Format {
        self.format
    }

    const fn new(format: Format) -> Spec {
        let e = format.exp_bits as i32;
        let m = format.man_bits as u32;
        let p = m + 1;
        let bias = (1 << (e - 1)) - 1;
        let emin = 1 - bias;
        let emax = bias + format.finite_only as i32;
        // All-ones stored mantissa (but for its last bit in e4m3, whose all-ones pattern is NaN).
        let top = if format.finite_only { (1u64 << m) - 2 } else { (1u64 << m) - 1 };
        let max = f64::from_bits((((emax + 1023) as u64) << 52) | (top << (52 - m)));
        let shift = 53 - p;
        let lo_bits = ((emin + 1023) as u64) << 52;
        // The subnormal spacing 2^q, and half of it (NaN, never matched, when q = -1074).
        let q = emin + 1 - p as i32;
        let sub_half = if q > -1074 { pow2(q - 1) } else { f64::NAN };
        let tie_bits = if shift == 0 { f64::INFINITY.to_bits() } else { max.to_bits() + (1u64 << (shift - 1)) };
        let (mask, half, half_minus_one, one) = if shift == 0 {
            (0, u64::MAX, 0, 0)
        } else {
            ((1u64 << shift) - 1, 1u64 << (shift - 1), (1u64 << (shift - 1)) - 1, 1)
        };
        Spec {
            format,
            p,
            emin,
            max,
            max_bits: max.to_bits(),
            arith_half: if p <= 25 { u64::MAX } else { half },
            overflow: if format.finite_only { f64::NAN } else { f64::INFINITY },
            shift,
            mask,
            half,
            half_minus_one,
            one,
            lo_bits,
            tie_bits,
            normal_span: tie_bits - lo_bits,
            sub_magic: ((q + 52 + 1023) as u64) << 52,
            sub_half,
            arith_sub_half: if p <= 25 && q >= -511 { f64::NAN } else { sub_half },
        }
    }

    /// The exact value y (any f64) rounded once to nearest (ties to even) into the format: the
    /// storage rounding of mixed dtypes ([`super::Mixed`]).
    #[inline(always)]
    pub(crate) fn round_exact(&self, y: f64) -> f64 {
        self.round(y, || Ordering::Equal)
    }

    /// y (any f64) rounded to nearest into the format. When y is exactly a midpoint of the
    /// format, `side()` must give |exact| compared with |y| for the exact value y was rounded
    /// from (`Equal`: y is exact, and the tie goes to even).
    #[inline(always)]
    fn round(&self, y: f64, side: impl FnOnce() -> Ordering) -> f64 {
        self.round_checking(y, self.half, self.sub_half, side)
    }

    /// [`Spec::round`] for the result of `+ - * /` or `sqrt`: for p <= 25 a midpoint in the
    /// normal range is the exact result (53 >= 2p + 2, Figueroa 1995), and so is one below it
    /// when q >= -511 ([`Spec::arith_sub_half`]), so `side` is not asked there. The operations'
    /// closures recompute their f64 result (the same bits) rather than capture it: two captured
    /// values instead of three keep the hot path's operands out of the stack.
    #[inline(always)]
    fn round_arith(&self, y: f64, side: impl FnOnce() -> Ordering) -> f64 {
        self.round_checking(y, self.arith_half, self.arith_sub_half, side)
    }

    /// [`Spec::round`], looking for midpoints in the normal range only where the dropped bits
    /// equal `half` (`u64::MAX`: never, ties to even), and below it only at the distance
    /// `sub_half` from the subnormal grid (NaN: never).
    #[inline(always)]
    fn round_checking(&self, y: f64, half: u64, sub_half: f64, side: impl FnOnce() -> Ordering) -> f64 {
        let bits = y.to_bits();
        let magnitude = bits & !SIGN;
        // One comparison for "not in [2^emin, the overflow midpoint)": below it wraps around.
        if magnitude.wrapping_sub(self.lo_bits) >= self.normal_span {
            if magnitude < self.lo_bits {
                // Zero or below 2^emin: rounded to a multiple of 2^q by f64's own addition (exact:
                // |y| + 2^(q + 52) lies in [2^(q + 52), 2^(q + 53)), whose spacing is 2^q, and the
                // subtraction is exact). A y off the midpoints rounds as the exact value it came
                // from would (a midpoint between them would be an f64 nearer to it than y); a y on
                // a midpoint goes to the exact path, which asks `side`.
                let c = f64::from_bits(self.sub_magic | (bits & SIGN));
                let r = (y + c) - c;
                if (y - r).abs() != sub_half {
                    return r.copysign(y);
                }
            } else if magnitude > self.tie_bits {
                // NaN (above infinity's bits) stays NaN; beyond the overflow midpoint overflows.
                return if y.is_nan() { y } else { self.overflow.copysign(y) };
            }
            return self.round_midpoint(y, half, side);
        }
        // Below the overflow midpoint, the rounded value is at most the largest finite one.
        let r = if bits & self.mask != half {
            (bits + self.half_minus_one + ((bits >> self.shift) & self.one)) & !self.mask
        } else {
            self.tie(bits, side())
        };
        f64::from_bits(r)
    }

    /// The bits of a midpoint y rounded by the side the exact value lies on.
    #[cold]
    fn tie(&self, bits: u64, side: Ordering) -> u64 {
        let down = bits & !self.mask;
        let up = match side {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => (bits >> self.shift) & 1 == 1,
        };
        if up {
            down + self.mask + 1
        } else {
            down
        }
    }

    /// The rest of [`Spec::round_checking`]: y exactly on the midpoint above the largest finite
    /// value (or +-infinity when p = 53, where that midpoint is infinity itself), or exactly on a
    /// midpoint (2k + 1) 2^(q - 1) of the subnormal grid. The exact value's side decides (for the
    /// overflow midpoint, ties to even where `half` says y on a midpoint is exact; a subnormal
    /// midpoint only comes here when `side` must be asked).
    #[inline(never)]
    fn round_midpoint(&self, y: f64, half: u64, side: impl FnOnce() -> Ordering) -> f64 {
        let bits = y.to_bits();
        if bits & !SIGN >= self.tie_bits {
            if self.shift == 0 {
                return self.overflow.copysign(y);
            }
            let r = self.tie(bits, if half == self.half { side() } else { Ordering::Equal });
            return if r & !SIGN > self.max_bits { self.overflow.copysign(y) } else { f64::from_bits(r) };
        }
        // |y| = 2^q k + 2^(q - 1): k or k + 1 spacings, each exact in f64.
        let down = y.abs() - self.sub_half;
        let up = match side() {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => (down / (2.0 * self.sub_half)) as u64 & 1 == 1,
        };
        (if up { down + 2.0 * self.sub_half } else { down }).copysign(y)
    }

    /// x, a value of the format, through `f` correctly rounded into the format, by MPFR at the
    /// format's precision, in a per-thread scratch value. Taken only when the f64 result is
    /// exactly a midpoint of the format (about 2^(p - 53) of the calls for p > 25, never seen for
    /// p <= 25); MPFR's `exp` and `log` may allocate temporaries inside (recycled by
    /// `crate::gmp_pool` once installed, but a size not seen before reaches the allocator).
    #[cold]
    fn mpfr_unary(&self, f: &Unary, x: f64) -> f64 {
        SCRATCH.with(|s| {
            let mut v = s.borrow_mut();
            v.set_prec(self.p);
            // x is a value of the format: exact at its precision.
            rug::Assign::assign(&mut *v, x);
            let ord = (f.mpfr)(&mut v, Round::Nearest);
            finish(&mut v, ord, self)
        })
    }
}

thread_local! {
    /// The MPFR value `exp` and `ln` fall back to (64 bits: one limb, enough for every format, so
    /// `set_prec` never reallocates it), made on a thread's first fallback.
    static SCRATCH: RefCell<Float> = RefCell::new(Float::new(64));
}

/// `r`, rounded to nearest at the format's precision with ternary value `ord` and MPFR's
/// unbounded exponent range, brought into the format's exponent range without a second rounding
/// (MPFR's subnormalize uses `ord`), with overflow to the format's overflow value.
fn finish(r: &mut Float, ord: Ordering, spec: &Spec) -> f64 {
    if r.is_nan() || r.is_zero() {
        return r.to_f64();
    }
    if r.is_infinite() {
        return spec.overflow.copysign(r.to_f64());
    }
    r.subnormalize_round(spec.emin + 1, ord, Round::Nearest);
    let v = r.to_f64();
    if v.abs() > spec.max {
        spec.overflow.copysign(v)
    } else {
        v
    }
}

/// `x` (an exact rational or MPFR float) rounded once to nearest into `format`, with its
/// subnormals and overflow; the result as an f64 (exact).
pub(crate) fn round_to_format<V>(x: V, format: Format) -> f64
where
    Float: rug::ops::AssignRound<V, Round = Round, Ordering = Ordering>,
{
    let spec = format.spec();
    let (mut r, ord) = Float::with_val_round(spec.p, x, Round::Nearest);
    finish(&mut r, ord, spec)
}

const SPEC_COUNT: usize = 10 * 52 + 1;

/// Every format's constants: ieee:E:M at (E - 2) 52 + M - 1, then e4m3.
static SPECS: [Spec; SPEC_COUNT] = {
    let mut out = [const { Spec::new(Format::E5M2) }; SPEC_COUNT];
    let mut e = 2u8;
    while e <= 11 {
        let mut m = 1u8;
        while m <= 52 {
            out[(e as usize - 2) * 52 + m as usize - 1] =
                Spec::new(Format { exp_bits: e, man_bits: m, finite_only: false });
            m += 1;
        }
        e += 1;
    }
    out[SPEC_COUNT - 1] = Spec::new(Format::E4M3);
    out
};

/// 2^k for k in -1074..=1023, subnormal powers included (const: [`Spec::new`] uses it).
#[inline]
const fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// |x| = m 2^e with m an integer below 2^53 (x finite).
#[inline]
fn dyadic(x: f64) -> (u128, i32) {
    let bits = x.to_bits();
    let bexp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if bexp == 0 {
        (u128::from(frac), -1074)
    } else {
        (u128::from(frac | (1u64 << 52)), bexp - 1075)
    }
}

/// Compares m1 2^e1 with m2 2^e2 (nonnegative integers m, exactly).
fn cmp_dyadic(m1: u128, e1: i32, m2: u128, e2: i32) -> Ordering {
    match (m1 == 0, m2 == 0) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let (z1, z2) = (m1.leading_zeros() as i32, m2.leading_zeros() as i32);
    // The weight of each leading bit, then the significands aligned on bit 127.
    (e1 - z1).cmp(&(e2 - z2)).then((m1 << z1).cmp(&(m2 << z2)))
}

/// |a + b| compared with |s| for s = RN64(a + b), from TwoSum's exact residual.
#[inline(never)]
fn side_of_sum(a: f64, b: f64, s: f64) -> Ordering {
    let a2 = s - b;
    let b2 = s - a2;
    let e = (a - a2) + (b - b2);
    if e == 0.0 {
        Ordering::Equal
    } else if (e > 0.0) == (s > 0.0) {
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

/// |a b| compared with |y| (exact, from the significands).
#[inline(never)]
fn side_of_product(a: f64, b: f64, y: f64) -> Ordering {
    let ((ma, ea), (mb, eb), (my, ey)) = (dyadic(a), dyadic(b), dyadic(y));
    cmp_dyadic(ma * mb, ea + eb, my, ey)
}

/// |a / b| compared with |y|: |a| against |y b| (exact).
#[inline(never)]
fn side_of_quotient(a: f64, b: f64, y: f64) -> Ordering {
    let ((ma, ea), (mb, eb), (my, ey)) = (dyadic(a), dyadic(b), dyadic(y));
    cmp_dyadic(ma, ea, my * mb, ey + eb)
}

/// sqrt(a) compared with y: a against y^2 (exact).
#[inline(never)]
fn side_of_sqrt(a: f64, y: f64) -> Ordering {
    let ((ma, ea), (my, ey)) = (dyadic(a), dyadic(y));
    cmp_dyadic(ma, ea, my * my, 2 * ey)
}

/// A value of an emulated format ([`Format`]), held exactly in an f64, with its format's
/// constants as context. See the module docs for how every operation rounds.
#[derive(Clone, Copy)]
pub struct Emulated {
    v: f64,
    spec: &'static Spec,
}

impl fmt::Debug for Emulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}_{}", self.v, self.spec.format.name())
    }
}

impl Emulated {
    /// `x` rounded once to nearest (ties to even) into the format of `spec`.
    pub fn new(x: f64, spec: &'static Spec) -> Self {
        Emulated { v: spec.round(x, || Ordering::Equal), spec }
    }

    /// The value (an f64 holds it exactly).
    pub fn value(self) -> f64 {
        self.v
    }

    #[inline(always)]
    fn unary(&mut self, f: &Unary) {
        let x = self.v;
        let spec = self.spec;
        let y = (f.f64)(x);
        self.v = spec.round(y, move || {
            // The correct rounding lies on the exact value's side of the midpoint y.
            let r = spec.mpfr_unary(f, x);
            r.abs().partial_cmp(&y.abs()).unwrap_or(Ordering::Greater)
        });
    }
}

impl Scalar for Emulated {
    type Ctx = &'static Spec;

    fn dtype(ctx: &'static Spec) -> DType {
        DType::Ieee(ctx.format)
    }
    fn ctx(&self) -> &'static Spec {
        self.spec
    }
    fn from_rational(r: &Rational, ctx: &'static Spec) -> Self {
        Emulated { v: round_to_format(r, ctx.format), spec: ctx }
    }
    fn from_float(x: &Float, ctx: &'static Spec) -> Self {
        Emulated { v: round_to_format(x, ctx.format), spec: ctx }
    }
    fn from_f64(x: f64, ctx: &'static Spec) -> Self {
        Emulated::new(x, ctx)
    }
    fn from_int(n: i64, ctx: &'static Spec) -> Self {
        if n.unsigned_abs() <= 1u64 << 53 {
            Emulated::new(n as f64, ctx)
        } else {
            Self::from_rational(&Rational::from(n), ctx)
        }
    }
    fn zero(ctx: &'static Spec) -> Self {
        Emulated { v: 0.0, spec: ctx }
    }
    fn to_f64(&self) -> f64 {
        self.v
    }
    fn to_float(&self, prec: u32) -> Float {
        Float::with_val(prec, self.v)
    }
    #[inline(always)]
    fn set(&mut self, src: &Self) {
        *self = *src;
    }
    #[inline(always)]
    fn set_add(&mut self, a: &Self, b: &Self) {
        debug_assert!(a.spec == b.spec, "mixed formats");
        let (x, y) = (a.v, b.v);
        *self = Emulated { v: a.spec.round_arith(x + y, move || side_of_sum(x, y, x + y)), spec: a.spec };
    }
    #[inline(always)]
    fn set_sub(&mut self, a: &Self, b: &Self) {
        debug_assert!(a.spec == b.spec, "mixed formats");
        let (x, y) = (a.v, -b.v);
        *self = Emulated { v: a.spec.round_arith(x + y, move || side_of_sum(x, y, x + y)), spec: a.spec };
    }
    #[inline(always)]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        debug_assert!(a.spec == b.spec, "mixed formats");
        let (x, y) = (a.v, b.v);
        *self = Emulated { v: a.spec.round_arith(x * y, move || side_of_product(x, y, x * y)), spec: a.spec };
    }
    #[inline(always)]
    fn set_div(&mut self, a: &Self, b: &Self) {
        debug_assert!(a.spec == b.spec, "mixed formats");
        let (x, y) = (a.v, b.v);
        *self = Emulated { v: a.spec.round_arith(x / y, move || side_of_quotient(x, y, x / y)), spec: a.spec };
    }
    #[inline(always)]
    fn add_assign(&mut self, a: &Self) {
        let l = *self;
        self.set_add(&l, a);
    }
    #[inline(always)]
    fn sub_assign(&mut self, a: &Self) {
        let l = *self;
        self.set_sub(&l, a);
    }
    #[inline(always)]
    fn mul_assign(&mut self, a: &Self) {
        let l = *self;
        self.set_mul(&l, a);
    }
    #[inline(always)]
    fn div_assign(&mut self, a: &Self) {
        let l = *self;
        self.set_div(&l, a);
    }
    #[inline(always)]
    fn exp_mut(&mut self) {
        self.unary(&EXP);
    }
    #[inline(always)]
    fn ln_mut(&mut self) {
        self.unary(&LN);
    }
    #[inline(always)]
    fn sqrt_mut(&mut self) {
        let x = self.v;
        let s = x.sqrt();
        self.v = self.spec.round_arith(s, move || side_of_sqrt(x, s));
    }
    #[inline(always)]
    fn neg_mut(&mut self) {
        self.v = -self.v;
    }
    fn is_finite(&self) -> bool {
        self.v.is_finite()
    }
    fn is_zero(&self) -> bool {
        self.v == 0.0
    }
    #[inline(always)]
    fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
        self.v.partial_cmp(&other.v)
    }
    #[inline(always)]
    fn exp(&self) -> Self {
        let mut r = *self;
        r.exp_mut();
        r
    }
    #[inline(always)]
    fn ln(&self) -> Self {
        let mut r = *self;
        r.ln_mut();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact result of an MPFR operation at high precision, rounded into the format.
    fn reference(exact: &Float, f: Format) -> f64 {
        round_to_format(exact, f)
    }

    /// Every value of a small format, from its bit patterns (sign, exponent, mantissa).
    fn all_values(f: Format) -> Vec<f64> {
        let (e, m) = (f.exp_bits(), f.man_bits());
        let mut out = Vec::new();
        for bits in 0u64..(1 << (1 + e + m)) {
            let sign = if bits >> (e + m) == 1 { -1.0 } else { 1.0 };
            let be = ((bits >> m) & ((1 << e) - 1)) as i32;
            let mant = (bits & ((1 << m) - 1)) as f64 / (1u64 << m) as f64;
            let all_ones = be == (1 << e) - 1;
            if all_ones && (!f.finite_only || mant == 1.0 - 1.0 / (1u64 << m) as f64) {
                continue; // infinities and NaNs
            }
            let v = if be == 0 { mant * pow2(f.emin()) } else { (1.0 + mant) * pow2(be - (1 << (e - 1)) + 1) };
            out.push(sign * v);
        }
        out
    }

    #[test]
    fn constants_of_the_named_formats() {
        assert_eq!(Format::E4M3.max_finite(), 448.0);
        assert_eq!(Format::E5M2.max_finite(), 57344.0);
        assert_eq!(Format::TF32.max_finite(), f32::MAX as f64 * (1.0 - 2f64.powi(-11)) / (1.0 - 2f64.powi(-24)));
        assert_eq!(Format::ieee(5, 10).unwrap().max_finite(), 65504.0);
        assert_eq!(Format::ieee(11, 52).unwrap().max_finite(), f64::MAX);
        assert_eq!(Format::ieee(8, 23).unwrap().max_finite(), f32::MAX as f64);
        assert_eq!(Format::E4M3.emin(), -6);
        assert_eq!(all_values(Format::E4M3).len(), 254);
        assert_eq!(all_values(Format::E5M2).len(), 256 - 8);
        for (e, m) in [(0, 3), (1, 3), (12, 60), (12, 5), (5, 0), (5, 53)] {
            assert!(Format::ieee(e, m).is_err(), "ieee:{e}:{m}");
        }
        for f in [Format::E4M3, Format::E5M2, Format::TF32, Format::ieee(3, 40).unwrap()] {
            assert_eq!(f.spec().format(), f);
        }
    }

    /// Every pair of values of small formats (e4m3, e5m2, and IEEE-like ones with 2 to 5
    /// exponent bits) through + - * /, and every value through sqrt, exp and ln, against MPFR's
    /// exact result rounded once.
    #[test]
    fn small_formats_exhaustively_match_mpfr() {
        let formats = [
            Format::E4M3,
            Format::E5M2,
            Format::ieee(2, 1).unwrap(),
            Format::ieee(3, 2).unwrap(),
            Format::ieee(4, 3).unwrap(),
        ];
        for f in formats {
            let spec = f.spec();
            let vals = all_values(f);
            for &a in &vals {
                let ea = Emulated::new(a, spec);
                assert_eq!(ea.v.to_bits(), a.to_bits(), "{f}: {a} is not kept exactly");
                let fa = Float::with_val(200, a);
                let check = |got: f64, want: f64, what: &str| {
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "{f}: {what}: {got} vs {want}"
                    );
                };
                check(ea.sqrt().v, reference(&fa.clone().sqrt(), f), &format!("sqrt {a}"));
                check(ea.exp().v, reference(&fa.clone().exp(), f), &format!("exp {a}"));
                check(ea.ln().v, reference(&fa.clone().ln(), f), &format!("ln {a}"));
                for &b in &vals {
                    let eb = Emulated::new(b, spec);
                    let fb = Float::with_val(200, b);
                    check(ea.add(&eb).v, reference(&Float::with_val(400, &fa + &fb), f), &format!("{a} + {b}"));
                    check(ea.sub(&eb).v, reference(&Float::with_val(400, &fa - &fb), f), &format!("{a} - {b}"));
                    check(ea.mul(&eb).v, reference(&Float::with_val(400, &fa * &fb), f), &format!("{a} * {b}"));
                    if b != 0.0 {
                        // A quotient of two such values is not exact at any precision: compare
                        // against 400 bits, far beyond any midpoint's distance.
                        check(ea.div(&eb).v, reference(&Float::with_val(400, &fa / &fb), f), &format!("{a} / {b}"));
                    }
                }
            }
        }
    }

    /// A deterministic stream of values of a format: random significands and exponents over
    /// the whole range, subnormals and values near the overflow threshold included.
    fn random_values(f: Format, count: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        let mut next = move || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let spec = f.spec();
        let (emin, emax) = (f.emin(), f.emax());
        (0..count)
            .map(|i| {
                let r = next();
                let mant = 1.0 + (r >> 12) as f64 / (1u64 << 52) as f64;
                // Half the values within a few binades of 1, the rest anywhere in the range.
                let e = if i % 2 == 0 {
                    (next() % 9) as i32 - 4
                } else {
                    emin - f.precision() as i32 + (next() % (emax - emin + f.precision() as i32 + 2) as u64) as i32
                };
                let sign = if r & 1 == 1 { -1.0 } else { 1.0 };
                Emulated::new(sign * mant * pow2(e.clamp(-1074, 1023)), spec).v
            })
            .filter(|v| v.is_finite())
            .collect()
    }

    /// Random operands of wider formats, p from 12 to 53 (where rounding twice through f64 can
    /// go wrong for p > 25), against MPFR's exact result rounded once, with operand pairs built
    /// so that the f64 result lands on a midpoint.
    #[test]
    fn wide_formats_match_mpfr_on_random_operands() {
        for (e, m) in [(5, 10), (8, 7), (8, 23), (6, 30), (8, 40), (10, 51), (11, 52), (11, 40), (3, 45)] {
            let f = Format::ieee(e, m).unwrap();
            let spec = f.spec();
            let vals = random_values(f, 600, u64::from(e * 100 + m));
            for (i, &a) in vals.iter().enumerate() {
                let ea = Emulated::new(a, spec);
                let fa = Float::with_val(200, a);
                for &b in vals.iter().skip(i % 7).step_by(7) {
                    let eb = Emulated::new(b, spec);
                    let fb = Float::with_val(200, b);
                    let cases = [
                        (ea.add(&eb).v, reference(&Float::with_val(3000, &fa + &fb), f), "+"),
                        (ea.sub(&eb).v, reference(&Float::with_val(3000, &fa - &fb), f), "-"),
                        (ea.mul(&eb).v, reference(&Float::with_val(400, &fa * &fb), f), "*"),
                        (ea.div(&eb).v, reference(&Float::with_val(400, &fa / &fb), f), "/"),
                    ];
                    for (got, want, op) in cases {
                        assert!(
                            got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                            "{f}: {a:e} {op} {b:e}: {got:e} vs {want:e}"
                        );
                    }
                }
                let want = reference(&fa.clone().abs().sqrt(), f);
                assert_eq!(Emulated::new(a.abs(), spec).sqrt().v, want, "{f}: sqrt {a:e}");
                let want = reference(&fa.clone().exp(), f);
                assert_eq!(ea.exp().v.to_bits(), want.to_bits(), "{f}: exp {a:e}");
                let want = reference(&fa.abs().ln(), f);
                assert_eq!(Emulated::new(a.abs(), spec).ln().v, want, "{f}: ln {a:e}");
            }
        }
    }

    /// Double rounding through f64 is wrong for p > 25, and the residual fixes it: 1 + (2^-p +
    /// 2^-60) rounds to the midpoint 1 + 2^-p in f64, then to 1 by ties to even, while the
    /// correct result is 1 + 2^(1-p); likewise a product and a quotient whose f64 results are
    /// midpoints.
    #[test]
    fn midpoints_of_f64_results_are_resolved_exactly() {
        for m in [30u32, 39, 45, 51] {
            let f = Format::ieee(11, m).unwrap();
            let spec = f.spec();
            let p = m as i32 + 1;
            let one = Emulated::new(1.0, spec);
            let tiny = Emulated::new(pow2(-p) + pow2(-60), spec);
            assert_eq!(tiny.v, pow2(-p) + pow2(-60), "{f}: the operand is a value of the format");
            let naive = 1.0 + tiny.v; // the midpoint 1 + 2^-p
            assert_eq!(naive, 1.0 + pow2(-p));
            assert_eq!(one.add(&tiny).v, 1.0 + pow2(1 - p), "{f}: sum");
            assert_eq!(one.sub(&tiny.mul(&Emulated::new(-1.0, spec))).v, 1.0 + pow2(1 - p), "{f}: difference");
        }
    }

    /// Products, quotients and square roots whose f64 result is exactly a midpoint of the
    /// format (found by search among random operands near 1), against MPFR: the exact
    /// comparisons decide them.
    #[test]
    fn products_quotients_and_roots_on_midpoints() {
        for m in [39u32, 45, 51] {
            let f = Format::ieee(8, m).unwrap();
            let spec = f.spec();
            let mut s = u64::from(m);
            let mut next = move || {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s >> 11
            };
            let mut hits = [0usize; 3];
            for _ in 0..200_000 {
                let a = Emulated::new(1.0 + (next() as f64) * pow2(-53), spec);
                let b = Emulated::new(1.0 + (next() as f64) * pow2(-53), spec);
                let on_midpoint = |y: f64| y.to_bits() & spec.mask == spec.half;
                let (fa, fb) = (Float::with_val(300, a.v), Float::with_val(300, b.v));
                if on_midpoint(a.v * b.v) {
                    hits[0] += 1;
                    assert_eq!(a.mul(&b).v, reference(&Float::with_val(300, &fa * &fb), f), "{f}: {a:?} * {b:?}");
                }
                if on_midpoint(a.v / b.v) {
                    hits[1] += 1;
                    assert_eq!(a.div(&b).v, reference(&Float::with_val(300, &fa / &fb), f), "{f}: {a:?} / {b:?}");
                }
                if on_midpoint(a.v.sqrt()) {
                    hits[2] += 1;
                    assert_eq!(a.sqrt().v, reference(&fa.sqrt(), f), "{f}: sqrt {a:?}");
                }
            }
            assert!(hits.iter().all(|&h| h >= 5), "{f}: too few midpoints found: {hits:?}");
        }
    }

    #[test]
    fn overflow_and_underflow() {
        let e4 = Format::E4M3.spec();
        assert_eq!(Emulated::new(464.0, e4).v, 448.0, "a tie at 464 goes to even (448)");
        assert!(Emulated::new(464.0001, e4).v.is_nan(), "beyond the tie: NaN");
        assert!(Emulated::new(f64::INFINITY, e4).v.is_nan(), "no infinity");
        let big = Emulated::new(448.0, e4);
        assert!(big.add(&big).v.is_nan());
        let e5 = Format::E5M2.spec();
        assert_eq!(Emulated::new(61440.0, e5).v, f64::INFINITY, "E5M2's tie at 61440 goes to infinity");
        assert_eq!(Emulated::new(61439.0, e5).v, 57344.0);
        assert_eq!(Emulated::new(-1e6, e5).v, f64::NEG_INFINITY);
        // Subnormals: e5m2's smallest is 2^-16; half of it ties to 0, a little more rounds up.
        assert_eq!(Emulated::new(pow2(-17), e5).v, 0.0);
        assert_eq!(Emulated::new(pow2(-17) * 1.0001, e5).v, pow2(-16));
        assert_eq!(Emulated::new(-pow2(-18), e5).v.to_bits(), (-0.0f64).to_bits());
        assert_eq!(Emulated::new(3.0 * pow2(-17), e5).v, pow2(-15), "1.5 spacings ties to 2");
    }

    /// A sum whose f64 result is the midpoint between the largest finite value and the overflow
    /// threshold (p > 25, where double rounding can go wrong): just below it the result is the
    /// largest finite value, just above it infinity, and exactly on it ties to even (infinity).
    #[test]
    fn sums_at_the_overflow_midpoint_follow_the_exact_value() {
        for (e, m) in [(5, 30), (8, 40), (6, 45)] {
            let f = Format::ieee(e, m).unwrap();
            let spec = f.spec();
            let (max, half_ulp) = (f.max_finite(), pow2(f.emax() - f.precision() as i32));
            let big = Emulated::new(max, spec);
            for (scale, want) in [(1.0 - pow2(-25), max), (1.0 + pow2(-25), f64::INFINITY), (1.0, f64::INFINITY)] {
                let b = Emulated::new(half_ulp * scale, spec);
                assert_eq!(b.v, half_ulp * scale, "{f}: the operand is a value of the format");
                assert_eq!(max + b.v, max + half_ulp, "{f}: f64 rounds the sum to the midpoint");
                assert_eq!(big.add(&b).v, want, "{f}: max + {:e}", b.v);
                assert_eq!(Emulated::new(-max, spec).sub(&b).v, -want, "{f}: -max - {:e}", b.v);
            }
        }
    }

    /// An f64 exactly on a midpoint rounds by the exact value's side, below the normal range and
    /// at the overflow threshold: `side` Greater, Less or Equal against MPFR's rounding of the
    /// midpoint nudged up, down or not at all, for formats from e4m3 to p = 41 and p = 53.
    #[test]
    fn midpoints_round_by_the_side_of_the_exact_value() {
        for f in [
            Format::E4M3,
            Format::E5M2,
            Format::ieee(8, 7).unwrap(),
            Format::ieee(11, 40).unwrap(),
            Format::ieee(5, 30).unwrap(),
        ] {
            let spec = f.spec();
            let q = f.emin() + 1 - f.precision() as i32;
            let subnormal = [1u64, 2, 5, (1 << (f.precision() - 1)) - 1].map(|k| (k as f64 + 0.5) * pow2(q));
            let overflow = f.max_finite() + pow2(f.emax() - f.precision() as i32);
            for m in subnormal.into_iter().chain([overflow]).flat_map(|m| [m, -m]) {
                for (side, nudge) in [(Ordering::Greater, 1i32), (Ordering::Less, -1), (Ordering::Equal, 0)] {
                    // m (1 + nudge 2^-100): on m's side of the midpoint, far closer than any f64.
                    let exact =
                        Float::with_val(200, m) * (Float::with_val(200, 1) + Float::with_val(200, pow2(-100)) * nudge);
                    let want = reference(&exact, f);
                    let got = spec.round(m, || side);
                    assert!(
                        got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                        "{f}: {m:e} {side:?}: {got:e} vs {want:e}"
                    );
                }
            }
        }
    }

    /// Below 2^emin the rounding adds and subtracts 2^(q + 52) in f64: every f64 at, next to and
    /// between the subnormal grid's points and midpoints, of both signs, rounds as MPFR rounds
    /// it (an f64 on a midpoint goes to the exact path; ties to even; zeros keep their sign),
    /// down to formats whose subnormal spacing is f64's own.
    #[test]
    fn values_below_the_normal_range_round_as_mpfr() {
        let formats = [(4, 3), (5, 2), (8, 7), (5, 10), (8, 23), (11, 40), (11, 52), (3, 45), (10, 51)];
        let formats = formats.map(|(e, m)| Format::ieee(e, m).unwrap()).into_iter().chain([Format::E4M3]);
        let mut checked = 0;
        for f in formats {
            let spec = f.spec();
            let q = f.emin() + 1 - f.precision() as i32;
            let top = 1u64 << (f.precision() - 1); // 2^emin in units of 2^q
            for m in (0..top).step_by(((top / 64) as usize).max(1)).chain([top - 1]) {
                let point = m as f64 * pow2(q);
                let mid = (m as f64 + 0.5) * pow2(q);
                let mut ys = vec![point, point.next_up(), point.next_down().max(0.0), (m as f64 + 0.3) * pow2(q)];
                if q > -1074 {
                    ys.extend([mid, mid.next_up(), mid.next_down()]);
                }
                for y in ys.into_iter().flat_map(|y| [y, -y]) {
                    let want = reference(&Float::with_val(53, y), f);
                    let got = spec.round_exact(y);
                    assert_eq!(got.to_bits(), want.to_bits(), "{f}: {y:e} rounds to {got:e}, MPFR {want:e}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "{checked} values");
    }
}
