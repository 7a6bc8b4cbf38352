//! Ridders' extrapolation of central differences (Numerical Recipes' `dfridr`, the method
//! numdifftools' `Derivative` builds on), with its own error estimate.
//!
//! From the initial step h, the central difference is taken at the steps h_i = h / c^i
//! (c = 1.4, i = 0, 1, ...) and each new one is extrapolated towards step 0 by Neville's
//! tableau, `a[j][i] = (a[j-1][i] c^(2j) - a[j-1][i-1]) / (c^(2j) - 1)`. The answer is the tableau
//! entry whose larger difference from its two parents is smallest; that difference is the error
//! estimate. The iteration stops after [`NTAB`] columns, or when the diagonal moves by at least
//! [`SAFE`] times the best error (rounding has taken over).
//!
//! Rounding: each step h_i = h (5/7)^i is an exact rational rounded once into the dtype
//! ([`steps`]; Numerical Recipes divides the rounded step by 1.4 again at every column, which
//! accumulates a rounding per column), each central difference is the stencil's quotient in the
//! dtype, and the tableau runs in the dtype with c^2 = 49/25 rounded once and each c^(2j) the
//! rounded product of the previous one and c^2, as in `dfridr`.

use crate::exact::Decimal;
use crate::scalar::Scalar;
use rug::Rational;
use std::cmp::Ordering;

/// The largest tableau (Numerical Recipes' NTAB): at most this many central differences, 2 NTAB
/// function evaluations.
pub const NTAB: usize = 10;
/// The step's shrink factor c, as an exact fraction (Numerical Recipes' CON = 1.4).
pub const CON: (i64, u64) = (7, 5);
/// The stopping factor (Numerical Recipes' SAFE = 2).
pub const SAFE: i64 = 2;

/// The steps h / c^i, i = 0 .. NTAB, exactly (each is rounded once by whoever uses it).
pub fn steps(h: &Decimal) -> Vec<Decimal> {
    let mut v = h.value().clone();
    let shrink = Rational::from((CON.1 as i64, CON.0 as u64));
    (0..NTAB)
        .map(|i| {
            let d = Decimal::from_rational(format!("{}/1.4^{i}", h.text()), v.clone());
            v *= &shrink;
            d
        })
        .collect()
}

/// Ridders' derivative with its error estimate, and how many function evaluations it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Ridders<T> {
    /// The extrapolated derivative.
    pub value: T,
    /// The error estimate (absolute, in the dtype).
    pub error: T,
    /// Function evaluations made (2 per central difference used).
    pub evaluations: usize,
}

/// The tableau's constants in a dtype: c^2, 1 and SAFE, rounded once.
#[derive(Clone, Debug)]
pub struct Consts<T> {
    con: T,
    con2: T,
    one: T,
    safe: T,
}

impl<T: Scalar> Consts<T> {
    /// The constants in context `ctx`.
    pub fn new(ctx: T::Ctx) -> Self {
        let c = Rational::from(CON);
        Consts {
            con: T::from_rational(&c, ctx),
            con2: T::from_rational(&(c.clone() * &c), ctx),
            one: T::from_int(1, ctx),
            safe: T::from_int(SAFE, ctx),
        }
    }
}

/// The rounding bound of a central difference at step `h` of a function whose value is `f`:
/// u |f| / h in f's dtype (u = 2^-p its unit roundoff), each of the two values rounded with
/// an error of about u |f| and their difference divided by 2h. This is the rounding term of the
/// error model `--eps auto` uses ([`crate::numeric::auto`]), with the central stencil's noise
/// gain 1.
pub fn rounding_bound<T: Scalar>(f: &T, h: &T) -> T {
    let ctx = f.ctx();
    let u = T::from_rational(&(Rational::from(1) >> T::dtype(ctx).bits()), ctx);
    u.mul(&f.abs()).div(&h.abs())
}

/// Ridders' extrapolation from the central differences `central(i)` at the steps h / c^i
/// ([`steps`]), asked for in order and only as far as needed. A NaN or infinite tableau entry or
/// error is never chosen; if nothing is, the value is the first central difference and the
/// error estimate infinite.
pub fn extrapolate<T: Scalar>(k: &Consts<T>, noise0: &T, mut central: impl FnMut(usize) -> T) -> Ridders<T> {
    let first = central(0);
    let mut prev = vec![first.clone()];
    // The rounding bound of each tableau entry, beside it: column 0's grows by c per row.
    let mut prev_noise = vec![noise0.abs()];
    let mut best: Option<(T, T, T)> = None;
    let mut used = 1;
    for i in 1..NTAB {
        used += 1;
        let mut cur = Vec::with_capacity(i + 1);
        let mut cur_noise = Vec::with_capacity(i + 1);
        cur.push(central(i));
        cur_noise.push(prev_noise[0].mul(&k.con));
        let mut fac = k.con2.clone();
        for j in 1..=i {
            // a[j][i] = (a[j-1][i] fac - a[j-1][i-1]) / (fac - 1).
            let den = fac.sub(&k.one);
            let a = cur[j - 1].mul(&fac).sub(&prev[j - 1]).div(&den);
            // The same weights on the parents' rounding bounds, in absolute value.
            let noise = cur_noise[j - 1].mul(&fac).add(&prev_noise[j - 1]).div(&den);
            fac.mul_assign(&k.con2);
            let (d1, d2) = (a.sub(&cur[j - 1]).abs(), a.sub(&prev[j - 1]).abs());
            let errt = if d1.partial_cmp_val(&d2) == Some(Ordering::Less) { d2 } else { d1 };
            let better = best.as_ref().is_none_or(|(_, e, _)| errt.partial_cmp_val(e) != Some(Ordering::Greater));
            if better && errt.is_finite() && a.is_finite() {
                best = Some((a.clone(), errt, noise.clone()));
            }
            cur.push(a);
            cur_noise.push(noise);
        }
        let drift = cur[i].sub(&prev[i - 1]).abs();
        prev = cur;
        prev_noise = cur_noise;
        if let Some((_, err, _)) = &best {
            if drift.partial_cmp_val(&k.safe.mul(err)) != Some(Ordering::Less) {
                break;
            }
        }
    }
    let evaluations = 2 * used;
    match best {
        Some((value, errt, noise)) => Ridders { value, error: errt.add(&noise), evaluations },
        None => {
            let ctx = first.ctx();
            let mut inf = T::from_int(1, ctx);
            inf.div_assign(&T::zero(ctx));
            Ridders { value: first, error: inf, evaluations }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Scheme;

    /// On exp at 1 from h = 0.1, f64: close to e, the estimate bounds the true error, and the
    /// tableau stops before its end.
    #[test]
    fn exp_at_one() {
        let h = Decimal::parse("step", "0.1").unwrap();
        let hs: Vec<f64> = steps(&h).iter().map(|d| f64::from_rational(d.value(), ())).collect();
        let central = Scheme::Central.stencil();
        let r = extrapolate(&Consts::new(()), &rounding_bound(&1f64.exp(), &hs[0]), |i| {
            central.apply(&1.0f64, &hs[i], |x| x.exp())
        });
        let err = (r.value - std::f64::consts::E).abs();
        assert!(err < 1e-13, "{r:?}");
        assert!(err <= r.error, "{r:?}");
        assert!(r.evaluations < 2 * NTAB, "{r:?}");
        // h / 1.4 is the exact 1/14 rounded once; 0.1 / 1.4 in f64 (three roundings) is not.
        assert_eq!(hs[1], 1.0 / 14.0);
        assert_ne!(hs[1], 0.1 / 1.4);
    }
}
