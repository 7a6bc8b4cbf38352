//! Double-double arithmetic (Dekker, Knuth; bounds from Joldes, Muller and Popescu 2017) and the
//! rounding test shared by the fast MPFR `exp` and `ln` ([`super::mpfr_exp`],
//! [`super::mpfr_ln`]). u = 2^-53 below.

use gmp_mpfr_sys::mpfr;
use rug::Float;

/// A double-double: the unevaluated sum hi + lo with |lo| <= ulp(hi) / 2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dd {
    pub(crate) hi: f64,
    pub(crate) lo: f64,
}

/// s + e = a + b exactly (Knuth's TwoSum).
#[inline(always)]
pub(crate) fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    Dd { hi: s, lo: e }
}

/// s + e = a + b exactly, given |a| >= |b| or a = 0 (Dekker's FastTwoSum).
#[inline(always)]
pub(crate) fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd { hi: s, lo: b - (s - a) }
}

/// Veltkamp's split of a into hi + lo, each with at most 26 significant bits.
#[inline(always)]
pub(crate) fn split(a: f64) -> (f64, f64) {
    const SPLITTER: f64 = 134_217_729.0; // 2^27 + 1
    let t = SPLITTER * a;
    let hi = t - (t - a);
    (hi, a - hi)
}

/// p + e = a * b exactly (Dekker's TwoProduct; no FMA needed, no overflow for |a|, |b| < 2^995).
#[inline(always)]
pub(crate) fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    Dd { hi: p, lo: e }
}

/// a + b, relative error <= 3u^2 (the accurate double-double sum, Joldes-Muller-Popescu 2017).
#[inline(always)]
pub(crate) fn dd_add(a: Dd, b: Dd) -> Dd {
    let s = two_sum(a.hi, b.hi);
    let t = two_sum(a.lo, b.lo);
    let c = fast_two_sum(s.hi, s.lo + t.hi);
    fast_two_sum(c.hi, c.lo + t.lo)
}

/// a * b, relative error <= 7u^2 (double-double times double-double, the a.lo * b.lo term
/// dropped).
#[inline(always)]
pub(crate) fn dd_mul(a: Dd, b: Dd) -> Dd {
    let p = two_prod(a.hi, b.hi);
    let e = p.lo + (a.hi * b.lo + a.lo * b.hi);
    fast_two_sum(p.hi, e)
}

/// Splits an MPFR value into a double-double (hi = nearest f64, lo = nearest f64 to the rest).
pub(crate) fn to_dd(v: &Float) -> Dd {
    let hi = v.to_f64();
    let lo = Float::with_val(v.prec(), v - hi).to_f64();
    Dd { hi, lo }
}

/// Rounds the exact value approximated by `y` (relative error at most 2^-`err_bits`, y > 0 with
/// 2^-900 < y < 2^900) to nearest with `p` <= 53 bits: `Some((m, e))` with value m 2^e when every number
/// within the error bound rounds the same way, `None` when the bound straddles a p-bit number or
/// a midpoint between two (the rounding cannot be decided).
pub(super) fn round_dd(y: Dd, p: u32, err_bits: u32) -> Option<(u64, i32)> {
    // hi = mh 2^eh with mh a 53-bit integer; y 2^(64 - eh) = mh 2^64 + lo 2^(64 - eh), the second
    // term at most 2^63 in magnitude (|lo| <= ulp(hi) / 2). Truncating it to an integer costs
    // less than one unit.
    let bits = y.hi.to_bits();
    let mh = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let eh = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let scale = f64::from_bits(((1023 + 64 - eh) as u64) << 52); // 2^(64 - eh), exact
    let big = ((mh as i128) << 64) + (y.lo * scale) as i128;
    // |big - exact 2^(64 - eh)| <= 1 + 2^-err_bits exact 2^(64 - eh) <= 2 + 2 * 2^-err_bits big.
    let err = (big >> (err_bits - 1)) + 2;
    let len = 128 - big.leading_zeros(); // 116 or 117
    let s = len - p; // bits below the p-bit rounding position (>= 63)
    let half = 1i128 << (s - 1);
    // Multiples of `half` are the p-bit numbers and the midpoints (and the binade's ends).
    let pos = big & (half - 1);
    if pos <= err || half - pos <= err {
        return None;
    }
    let mut mant = (big >> s) as u64;
    if big & half != 0 {
        mant += 1; // above the midpoint (never on it: checked above)
    }
    Some((mant, eh - 64 + s as i32))
}

/// Sets `x` to y 2^k rounded to nearest at x's precision (at most 53 bits), where y (either
/// sign, |y| within the range [`round_dd`] takes) approximates the exact value with relative
/// error at most 2^-`err_bits`: true when the rounding is decided and x is set, false (x
/// untouched) when the caller must fall back to MPFR.
pub(super) fn set_rounded(x: &mut Float, y: Dd, k: i32, err_bits: u32) -> bool {
    let negative = y.hi < 0.0;
    let abs = if negative { Dd { hi: -y.hi, lo: -y.lo } } else { y };
    let Some((mant, e)) = round_dd(abs, x.prec(), err_bits) else { return false };
    // mant <= 2^53, so it fits an i64 with its sign.
    let signed = if negative { -(mant as i64) } else { mant as i64 };
    // SAFETY: `x` is a valid MPFR value; signed has at most p bits (or is +-2^p), so the
    // assignment is exact, and the exponent is far inside MPFR's range.
    unsafe { mpfr::set_si_2exp(x.as_raw_mut(), signed, (e + k).into(), mpfr::rnd_t::RNDN) };
    true
}

/// Reproducible inputs and the bit-for-bit comparison for the tests of the fast MPFR functions.
#[cfg(test)]
pub(super) mod test_support {
    use rug::Float;

    /// SplitMix64, for reproducible test inputs.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// Uniform in [lo, hi).
        pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
        }
    }

    /// Runs `fast` (a fast path with the given error bound) on x, or `mpfr` when it declines, and
    /// asserts the same bits (sign of zero included, NaN as NaN) as `mpfr` alone; returns whether
    /// the fast path was taken.
    pub(crate) fn assert_same(
        name: &str,
        x: &Float,
        err_bits: u32,
        fast: fn(&mut Float, u32) -> bool,
        mpfr: fn(&mut Float),
    ) -> bool {
        let mut got = x.clone();
        let took = fast(&mut got, err_bits);
        if !took {
            mpfr(&mut got);
        }
        let mut want = x.clone();
        mpfr(&mut want);
        let same = got.prec() == want.prec()
            && ((got == want && got.is_sign_negative() == want.is_sign_negative()) || (got.is_nan() && want.is_nan()));
        assert!(same, "{name}({x}) at {} bits: fast {got}, mpfr {want}", x.prec());
        took
    }
}
