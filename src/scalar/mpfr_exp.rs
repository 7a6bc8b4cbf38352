//! A faster, still correctly rounded `exp` for MPFR values of at most 53 bits.
//!
//! At these precisions MPFR's own `mpfr_exp` costs about 8000 instructions per call (its series
//! works on GMP integers and its Ziv loop starts generously), and in the numeric gradient of an
//! `mpfr:53` check it was three quarters of the time ([`super::mpfr_ln`] does the same for `ln`). [`exp_mut`] returns **the same bits** as
//! `mpfr_exp` (round to nearest) at about a tenth of the cost, by Ziv's strategy with a cheap
//! first approximation:
//!
//! 1. For x with p <= 53 bits and 2^-1000 <= |x| <= 1000, x is exactly an f64. A double-double
//!    evaluation gives y = hi + lo with |y - exp(x)| < 2^-99 exp(x) (proved below; the tests
//!    assert a measured error below 2^-98, and the rounding test assumes only 2^-90).
//! 2. An integer test (as MPFR's `mpfr_can_round` would do) decides whether every number within
//!    that bound of y rounds to the same p-bit number: no p-bit number and no midpoint between
//!    two lies in the interval (exp(x) for x != 0 is never one of them, it is transcendental). If
//!    so, y rounded to p bits is the correctly rounded exp(x), hence `mpfr_exp`'s result.
//! 3. Otherwise (about one call in 2^35 at 53 bits), and for every other input (other
//!    precisions, 0, infinities, NaN, |x| outside the range), `mpfr_exp` itself is called.
//!
//! The approximation: x = N ln2/64 + r with N = round(64 x / ln2), |r| <= 0.0055, N = 64 k + j;
//! exp(x) = 2^k * 2^(j/64) * exp(r). 2^(j/64) comes from a table of double-doubles (computed once
//! by MPFR at 256 bits and rounded), exp(r) from its Taylor polynomial of degree 11 (truncation
//! below 0.0055^12 / 12! < 2^-117), the terms of degree >= 7 (below 2^-64) in plain f64 and the
//! rest by Horner's rule in double-double arithmetic. r itself is exact up to the truncation of
//! ln2/64 to 36 + 53 + 53 bits (absolute error below 2^-125). Error budget, with u = 2^-53:
//! seven double-double Horner steps (multiply <= 7u^2, add <= 3u^2 each, no cancellation since
//! every partial sum is positive and dominated by its constant), the table entry (u^2) and the
//! final product (7u^2): below 80 u^2 < 2^-99.6, plus 2^-117 for the truncation (the integer
//! image of y in the rounding test adds at most 2 units of 2^-116, accounted for there). The
//! test asserts 2^-98 over random inputs, and the rounding test uses 2^-90, a margin of 2^8 over
//! the proof.
//!
//! Allocation: none after the constants' first use.

use super::dd::{dd_add, dd_mul, set_rounded, to_dd, two_prod, two_sum, Dd};
use rug::Float;
use std::sync::OnceLock;

/// Precisions served by the fast path (x is then exactly an f64).
const MAX_PREC: u32 = 53;
/// Bits of the relative error bound used in the rounding test: |y - exp(x)| <= 2^-90 exp(x).
const ERR_BITS: u32 = 90;
/// Inputs with |x| above this go to MPFR (keeps N within 17 bits and the result far from the
/// f64 limits, although y itself lives in MPFR's exponent range).
const MAX_ABS: f64 = 1000.0;
/// Inputs with |x| below 2^MIN_ABS_EXP go to MPFR (exp(x) is then within 2^-1000 of 1 and not
/// roundable by this test anyway).
const MIN_ABS_EXP: i32 = -1000;

/// The constants, computed once by MPFR and rounded to double-doubles.
struct Tables {
    /// ln2 / 64 = C1 + C2 + C3 (C1 has 36 significant bits, so N * C1 is exact for |N| < 2^17).
    c1: f64,
    c2: f64,
    c3: f64,
    /// 64 / ln2 rounded to f64 (only used to choose N).
    inv_c: f64,
    /// 2^(j/64) for j in 0..64.
    pow2: [Dd; 64],
    /// 1/k! for k in 0..=6.
    inv_fact_dd: [Dd; 7],
    /// 1/k! for k in 7..=11 (index k - 7).
    inv_fact_f64: [f64; 5],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        const P: u32 = 256;
        let c = Float::with_val(P, rug::float::Constant::Log2) / 64u32;
        let c1 = Float::with_val(36, &c).to_f64();
        let rest = Float::with_val(P, &c - c1);
        let c2 = rest.to_f64();
        let c3 = Float::with_val(P, &rest - c2).to_f64();
        let inv_c = Float::with_val(P, 64u32 / Float::with_val(P, rug::float::Constant::Log2)).to_f64();
        let pow2 = std::array::from_fn(|j| {
            let e = Float::with_val(P, j as u32) / 64u32;
            to_dd(&Float::with_val(P, Float::exp2_ref(&e)))
        });
        let mut fact = Float::with_val(P, 1u32);
        let mut inv_fact = Vec::with_capacity(12);
        for k in 0..12u32 {
            if k > 0 {
                fact *= k;
            }
            inv_fact.push(Float::with_val(P, 1u32 / &fact));
        }
        let inv_fact_dd = std::array::from_fn(|k| to_dd(&inv_fact[k]));
        let inv_fact_f64 = std::array::from_fn(|k| inv_fact[k + 7].to_f64());
        Tables { c1, c2, c3, inv_c, pow2, inv_fact_dd, inv_fact_f64 }
    })
}

/// exp(x) / 2^k as a double-double and k, for |x| <= 1000, relative error below 2^-99.
fn exp_dd(x: f64) -> (Dd, i32) {
    let t = tables();
    let n = (x * t.inv_c).round();
    // r = x - n (C1 + C2 + C3): x - n C1 is exact as a double-double (n C1 is exact), n C2 is
    // exact as a double-double, n C3 is below 2^-70 and rounded once.
    let a = two_sum(x, -(n * t.c1));
    let b = two_prod(n, t.c2);
    let r = dd_add(dd_add(a, Dd { hi: -b.hi, lo: -b.lo }), Dd { hi: -(n * t.c3), lo: 0.0 });
    // Degrees 11 ... 7 in f64, then 6 ... 0 in double-double.
    let f = &t.inv_fact_f64;
    let q = (((f[4] * r.hi + f[3]) * r.hi + f[2]) * r.hi + f[1]) * r.hi + f[0];
    let mut acc = Dd { hi: q, lo: 0.0 };
    for c in t.inv_fact_dd.iter().rev() {
        acc = dd_add(dd_mul(acc, r), *c);
    }
    let ni = n as i64;
    let (k, j) = (ni.div_euclid(64), ni.rem_euclid(64));
    (dd_mul(t.pow2[j as usize], acc), k as i32)
}

/// `x = exp(x)` rounded to nearest at x's precision: the same bits as [`Float::exp_mut`].
#[inline]
pub fn exp_mut(x: &mut Float) {
    if !exp_fast(x, ERR_BITS) {
        x.exp_mut();
    }
}

/// The fast path with a relative error bound of 2^-`err_bits`: true when it has set x, false
/// when the caller must fall back to MPFR (x untouched).
fn exp_fast(x: &mut Float, err_bits: u32) -> bool {
    let p = x.prec();
    if p > MAX_PREC || !x.is_normal() {
        return false;
    }
    let v = x.to_f64(); // exact: at most 53 bits, exponent checked next
    let a = v.abs();
    if !(a <= MAX_ABS && a >= f64::from_bits(((MIN_ABS_EXP + 1023) as u64) << 52)) {
        return false;
    }
    let (y, k) = exp_dd(v);
    set_rounded(x, y, k, err_bits)
}

#[cfg(test)]
mod tests {
    use super::super::dd::test_support::{self, Rng};
    use super::*;

    fn mpfr_exp(x: &Float) -> Float {
        let mut y = x.clone();
        y.exp_mut();
        y
    }

    #[test]
    fn double_double_error_is_below_2_pow_minus_98() {
        let mut rng = Rng(7);
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = match i % 4 {
                0 => rng.uniform(-1000.0, 1000.0),
                1 => rng.uniform(-40.0, 2.0),
                2 => rng.uniform(-0.01, 0.01),
                _ => (rng.uniform(-1000.0, 1000.0) / 0.010830424696249145).round() * 0.010830424696249145,
            };
            let (y, k) = exp_dd(x);
            let mut approx = Float::with_val(300, y.hi) + y.lo;
            approx <<= k;
            let exact = mpfr_exp(&Float::with_val(300, x));
            let rel = Float::with_val(64, (approx - &exact) / &exact).abs().to_f64();
            worst = worst.max(rel);
        }
        assert!(worst < 2f64.powi(-98), "worst relative error {worst:e} = 2^{}", worst.log2());
    }

    /// Fast path (or its fallback) against mpfr_exp, bit for bit.
    fn assert_same(x: &Float, err_bits: u32) -> bool {
        test_support::assert_same("exp", x, err_bits, exp_fast, Float::exp_mut)
    }

    #[test]
    fn same_bits_as_mpfr_exp_on_random_inputs() {
        let mut rng = Rng(11);
        for p in [53u32, 52, 47, 33, 24, 11, 8, 2] {
            let mut fast = 0;
            for i in 0..20_000 {
                let v = match i % 3 {
                    0 => rng.uniform(-1000.0, 1000.0),
                    1 => rng.uniform(-30.0, 1.0),
                    _ => rng.uniform(-1e-6, 1e-6),
                };
                fast += assert_same(&Float::with_val(p, v), ERR_BITS) as usize;
            }
            // Essentially every input takes the fast path (at 2 bits many round beyond 1000).
            assert!(p < 8 || fast >= 19_990, "{fast} of 20000 at {p} bits took the fast path");
        }
    }

    #[test]
    fn same_bits_when_the_rounding_test_often_fails() {
        // With a pessimistic bound of 2^-60 the test cannot decide about one input in 16 at 53
        // bits: both branches are exercised and must agree with MPFR.
        let mut rng = Rng(13);
        let (mut fast, total) = (0, 40_000);
        for _ in 0..total {
            fast += assert_same(&Float::with_val(53, rng.uniform(-50.0, 50.0)), 60) as usize;
        }
        assert!(fast > total / 2 && fast < total, "{fast} of {total} took the fast path");
    }

    #[test]
    fn exhaustive_at_8_bits() {
        // Every 8-bit value of either sign with exponent -20 ..= 10.
        for e in -20..=10 {
            for m in 128u32..256 {
                for s in [1i32, -1] {
                    let x = Float::with_val(8, s * m as i32) << (e - 8);
                    assert_same(&x, ERR_BITS);
                }
            }
        }
    }

    #[test]
    fn special_and_edge_inputs_fall_back_or_agree() {
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1000.0,
            -1000.0,
            1000.0000000000001,
            2f64.powi(-1000),
            -(2f64.powi(-1001)),
            1e-300,
            709.782712893384,
            -745.1332191019411,
            0.5,
            1.0,
            -1.0,
            std::f64::consts::LN_2,
        ];
        for &v in &specials {
            for p in [53u32, 24, 2] {
                assert_same(&Float::with_val(p, v), ERR_BITS);
            }
        }
        // Wider precisions always go to MPFR.
        let mut x = Float::with_val(54, 0.5);
        assert!(!exp_fast(&mut x, ERR_BITS));
        assert_eq!(x, 0.5);
    }
}
