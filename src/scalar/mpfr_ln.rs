//! A faster, still correctly rounded `ln` for MPFR values of at most 53 bits.
//!
//! Like [`super::mpfr_exp`], and for the same reason (at these precisions `mpfr_log` costs about
//! 8500 instructions per call, a quarter of an `mpfr:53` check once `exp` was fast), [`ln_mut`]
//! returns **the same bits** as `mpfr_log` (round to nearest) by Ziv's strategy: a double-double
//! approximation with a proved relative error below 2^-96, the rounding test of
//! [`super::dd::round_dd`] at 2^-90, and `mpfr_log` itself whenever that test cannot decide (about
//! one call in 2^35 at 53 bits) or the input is outside the fast path (precision above 53 bits;
//! 0, 1, negative, infinite or NaN; below 2^-1000 or above 2^1000). ln(y) for y != 1 is never a
//! p-bit number or a midpoint (it is transcendental), so a decided rounding is the correct one.
//!
//! The approximation, for y = m 2^e exactly an f64 with m in [sqrt(1/2), sqrt(2)):
//! ln(y) = e ln2 + L_j + log1p(u), where j = round(128 m), r_j = 128 / j rounded to f64,
//! L_j = -ln(r_j) (a table of double-doubles, computed once by MPFR at 256 bits and rounded) and
//! u = m r_j - 1, exact as a double-double (m r_j by TwoProduct, then t.hi - 1 is exact by
//! Sterbenz's lemma), |u| <= 2^-7.4. r_128 = 1, so for m within 2^-8 of 1, u = m - 1 and
//! L = 0. log1p(u) = u S(u), S(u) = sum_n (-1)^(n+1) u^(n-1) / n: truncated after n = 17 (below
//! 2^-125 relative), terms n >= 9 in f64 (their rounding is below 2^-100 relative), terms 1 ... 8
//! by Horner's rule in double-double; every partial sum is dominated by its constant (|u| is
//! small), so 8 steps of multiply (<= 7u^2) and add (<= 3u^2) plus the final product give
//! |log1p error| < 90 u^2 < 2^-99.5 relative. e ln2 = e A1 + e A2 + e A3 with A1 of 42 bits
//! (e A1 exact for |e| <= 1000), e A2 exact by TwoProduct, e A3 below 2^-86 and rounded once.
//! Sums: L_j + log1p(u), then + e ln2, each double-double addition within 3u^2 of its result.
//! Cases: e = 0, j = 128: only log1p, < 2^-99.5. e = 0, j != 128: |m - 1| >= 2^-8, so
//! |ln m| > 2^-8.1 while the absolute errors are below 2^-105.4, < 2^-97.3 relative.
//! |e| >= 1: |ln y| >= ln2 - ln(sqrt 2) > 0.346 and the errors are dominated by e ln2's
//! (|e| ln2 2^-103), < 2^-101 relative. Hence below 2^-97 in every case; the test measures it.
//!
//! Allocation: none after the constants' first use.

use super::dd::{dd_add, dd_mul, set_rounded, to_dd, two_prod, two_sum, Dd};
use rug::Float;
use std::sync::OnceLock;

/// Precisions served by the fast path (y is then exactly an f64).
const MAX_PREC: u32 = 53;
/// Bits of the relative error bound used in the rounding test (proved: 97).
const ERR_BITS: u32 = 90;
/// Inputs with binary exponent beyond +-1000 go to MPFR (keeps e A1 exact).
const MAX_EXP: i32 = 1000;

/// The constants, computed once by MPFR and rounded to double-doubles.
struct Tables {
    /// ln2 = A1 + A2 + A3 (A1 has 42 significant bits).
    a1: f64,
    a2: f64,
    a3: f64,
    /// r_j = 128 / j rounded to f64, for j in 90 ..= 182 (index j - 90).
    r: [f64; 93],
    /// -ln(r_j), same index.
    l: [Dd; 93],
    /// (-1)^(n+1) / n for n in 1 ..= 8 (index n - 1).
    c_dd: [Dd; 8],
    /// (-1)^(n+1) / n for n in 9 ..= 17 (index n - 9).
    c_f64: [f64; 9],
}

/// The smallest j = round(128 m) for m >= sqrt(1/2).
const J0: usize = 90;

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        const P: u32 = 256;
        let ln2 = Float::with_val(P, rug::float::Constant::Log2);
        let a1 = Float::with_val(42, &ln2).to_f64();
        let rest = Float::with_val(P, &ln2 - a1);
        let a2 = rest.to_f64();
        let a3 = Float::with_val(P, &rest - a2).to_f64();
        let r: [f64; 93] = std::array::from_fn(|i| 128.0 / (i + J0) as f64);
        let l = std::array::from_fn(|i| to_dd(&Float::with_val(P, -Float::with_val(P, r[i]).ln())));
        let coeff = |n: u32| {
            let c = Float::with_val(P, 1u32) / n;
            if n % 2 == 0 {
                -c
            } else {
                c
            }
        };
        let c_dd = std::array::from_fn(|i| to_dd(&coeff(i as u32 + 1)));
        let c_f64 = std::array::from_fn(|i| coeff(i as u32 + 9).to_f64());
        Tables { a1, a2, a3, r, l, c_dd, c_f64 }
    })
}

/// ln(y) as a double-double for a positive normal f64 y with binary exponent within +-1000 and
/// y != 1; relative error below 2^-97.
fn ln_dd(y: f64) -> Dd {
    let t = tables();
    let bits = y.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52)); // in [1, 2)
    if m >= std::f64::consts::SQRT_2 {
        m *= 0.5; // exact
        e += 1;
    }
    let j = (m * 128.0).round() as usize; // 90 ..= 182
    let idx = j - J0;
    let prod = two_prod(m, t.r[idx]);
    let u = two_sum(prod.hi - 1.0, prod.lo);
    // S(u): terms 17 ... 9 in f64, then 8 ... 1 in double-double.
    let c = &t.c_f64;
    let mut q = c[8];
    for &ck in c[..8].iter().rev() {
        q = q * u.hi + ck;
    }
    let mut s = Dd { hi: q, lo: 0.0 };
    for &ck in t.c_dd.iter().rev() {
        s = dd_add(dd_mul(s, u), ck);
    }
    let log1p = dd_mul(s, u);
    let frac = dd_add(t.l[idx], log1p);
    if e == 0 {
        return frac;
    }
    let ef = e as f64;
    let e_ln2 = dd_add(dd_add(Dd { hi: ef * t.a1, lo: 0.0 }, two_prod(ef, t.a2)), Dd { hi: ef * t.a3, lo: 0.0 });
    dd_add(e_ln2, frac)
}

/// `x = ln(x)` rounded to nearest at x's precision: the same bits as [`Float::ln_mut`].
#[inline]
pub fn ln_mut(x: &mut Float) {
    if !ln_fast(x, ERR_BITS) {
        x.ln_mut();
    }
}

/// The fast path with a relative error bound of 2^-`err_bits`: true when it has set x, false
/// when the caller must fall back to MPFR (x untouched).
fn ln_fast(x: &mut Float, err_bits: u32) -> bool {
    let p = x.prec();
    if p > MAX_PREC || !x.is_normal() || x.is_sign_negative() {
        return false;
    }
    let v = x.to_f64(); // exact: at most 53 bits, exponent checked next
    let exp = ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    if v == 1.0 || !(-MAX_EXP..=MAX_EXP).contains(&exp) {
        return false;
    }
    set_rounded(x, ln_dd(v), 0, err_bits)
}

#[cfg(test)]
mod tests {
    use super::super::dd::test_support::{self, Rng};
    use super::*;

    fn mpfr_ln(x: &Float) -> Float {
        let mut y = x.clone();
        y.ln_mut();
        y
    }

    /// A positive f64 with uniformly random significand bits and binary exponent in [lo, hi].
    fn random_positive(rng: &mut Rng, lo: i32, hi: i32) -> f64 {
        let e = lo + (rng.next() % (hi - lo + 1) as u64) as i32;
        let m = 1.0 + (rng.next() >> 12) as f64 / (1u64 << 52) as f64;
        m * 2f64.powi(e)
    }

    #[test]
    fn double_double_error_is_below_2_pow_minus_96() {
        let mut rng = Rng(17);
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let y = match i % 4 {
                0 => random_positive(&mut rng, -1000, 1000),
                1 => rng.uniform(1.0, 10.0),
                2 => 1.0 + rng.uniform(-0.01, 0.01),
                _ => 1.0 + rng.uniform(-1e-9, 1e-9),
            };
            if y == 1.0 {
                continue;
            }
            let dd = ln_dd(y);
            let approx = Float::with_val(300, dd.hi) + dd.lo;
            let exact = mpfr_ln(&Float::with_val(300, y));
            let rel = Float::with_val(64, (approx - &exact) / &exact).abs().to_f64();
            worst = worst.max(rel);
        }
        assert!(worst < 2f64.powi(-96), "worst relative error {worst:e} = 2^{}", worst.log2());
    }

    /// Fast path (or its fallback) against mpfr_log, bit for bit.
    fn assert_same(x: &Float, err_bits: u32) -> bool {
        test_support::assert_same("ln", x, err_bits, ln_fast, Float::ln_mut)
    }

    #[test]
    fn same_bits_as_mpfr_log_on_random_inputs() {
        let mut rng = Rng(19);
        for p in [53u32, 52, 47, 33, 24, 11, 8, 2] {
            let mut fast = 0;
            let total = 30_000;
            for i in 0..total {
                let v = match i % 3 {
                    0 => random_positive(&mut rng, -1000, 1000),
                    1 => rng.uniform(1.0, 10.0),
                    _ => 1.0 + rng.uniform(-0.01, 0.01),
                };
                fast += assert_same(&Float::with_val(p, v), ERR_BITS) as usize;
            }
            // Essentially every input takes the fast path (at low precision many round to 1).
            assert!(p < 24 || fast >= total - 10, "{fast} of {total} at {p} bits took the fast path");
        }
    }

    #[test]
    fn same_bits_when_the_rounding_test_often_fails() {
        // A pessimistic bound of 2^-60 leaves about one input in 8 undecided at 53 bits.
        let mut rng = Rng(23);
        let (mut fast, total) = (0, 40_000);
        for _ in 0..total {
            fast += assert_same(&Float::with_val(53, random_positive(&mut rng, -60, 60)), 60) as usize;
        }
        assert!(fast > total / 2 && fast < total, "{fast} of {total} took the fast path");
    }

    #[test]
    fn exhaustive_at_8_bits() {
        // Every positive 8-bit value with exponent -40 ..= 40 (1 itself included).
        for e in -40..=40 {
            for m in 128u32..256 {
                assert_same(&(Float::with_val(8, m) << (e - 8)), ERR_BITS);
            }
        }
    }

    #[test]
    fn next_to_one_and_special_inputs() {
        // The values next to 1 at 53 bits, where ln is tiny and cancellation is worst.
        for k in 1..2000u32 {
            let d = k as f64 * 2f64.powi(-53);
            assert_same(&Float::with_val(53, 1.0 + 2.0 * d), ERR_BITS);
            assert_same(&Float::with_val(53, 1.0 - d), ERR_BITS);
        }
        // Table boundaries (m near (j +- 1/2) / 128) and the sqrt(2) switch.
        for j in 90..=182u32 {
            for delta in [-1e-12, 0.0, 1e-12] {
                let m = (j as f64 - 0.5) / 128.0 + delta;
                for e in [-3, 0, 1, 7] {
                    assert_same(&Float::with_val(53, m * 2f64.powi(e)), ERR_BITS);
                }
            }
        }
        for v in [std::f64::consts::SQRT_2, std::f64::consts::FRAC_1_SQRT_2, 0.5, 2.0, 1.0, 1e300, 1e-300] {
            assert_same(&Float::with_val(53, v), ERR_BITS);
        }
        for v in [0.0, -0.0, -1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 2f64.powi(1001), 2f64.powi(-1001)] {
            assert_same(&Float::with_val(53, v), ERR_BITS);
        }
        // Wider precisions always go to MPFR.
        let mut x = Float::with_val(54, 3.0);
        assert!(!ln_fast(&mut x, ERR_BITS));
        assert_eq!(x, 3.0);
    }
}
