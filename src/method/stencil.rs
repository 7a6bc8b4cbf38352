//! Finite-difference stencils with exact rational weights, written as differences of paired
//! points.
//!
//! A stencil of order p approximates f'(x) by (sum_j w_j (f(x + a_j h) - f(x + b_j h))) / (D h):
//! each [`Difference`] pairs two points (offsets a_j and b_j, symmetric about x for the central
//! stencils) with an integer weight w_j, and D is an integer denominator, so the weights per point
//! (c_k = sum of the w_j where o_k is a_j, minus those where it is b_j) over D are exact
//! rationals. The numerator is formed in the dtype difference by difference: each pair's
//! difference f(x + a_j h) - f(x + b_j h) rounded once, times |w_j| (a small integer: exact
//! unless it overflows), the weighted differences added in order, then one division by the
//! dtype's rounded D h ([`quotient`]). So when every point's value is the same number each
//! difference is exactly 0 and so is the derivative, in every dtype: central5 is
//! 8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h)), never f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)
//! summed in offset order (which leaves rounding residue when the four values are equal). For the
//! central stencil this is exactly the seed's `(loss(x + h) - loss(x - h)) / (2 h)`.

use crate::error::{Error, Result};
use crate::scalar::Scalar;
use std::fmt;

/// A finite-difference scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// (f(x+h) - f(x)) / h, order 1.
    Forward,
    /// (f(x) - f(x-h)) / h, order 1.
    Backward,
    /// (f(x+h) - f(x-h)) / (2h), order 2.
    Central,
    /// (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / (12h), order 4.
    Central5,
    /// The complex step Im f(x + ih) / h (Squire & Trapp 1998; Martins, Sturdza & Alonso 2003):
    /// order 2 and no subtraction, so any step far below u works.
    Complex,
    /// Forward-mode differentiation with dual numbers: no step, exact up to rounding.
    Dual,
    /// Ridders' extrapolation of central differences from the initial step h, with an error
    /// estimate (Numerical Recipes' dfridr, [`crate::method::ridders`]).
    Ridders,
}

/// One difference of a stencil: weight × (f(x + plus h) − f(x + minus h)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Difference {
    /// The offset of the point taken positively (a multiple of h).
    pub plus: i64,
    /// The offset of the point subtracted.
    pub minus: i64,
    /// The integer weight of the difference (its sign says whether it is added or subtracted).
    pub weight: i64,
}

impl Difference {
    /// weight × (f(x + plus h) − f(x + minus h)).
    pub const fn new(plus: i64, minus: i64, weight: i64) -> Self {
        Difference { plus, minus, weight }
    }
}

/// A scheme's grid and exact weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stencil {
    /// The scheme.
    pub scheme: Scheme,
    /// The differences whose weighted sum is the numerator, in the order they are added
    /// ([`quotient`]); empty for the schemes that are not stencils (their evaluation pattern).
    pub differences: &'static [Difference],
    /// The offsets o_k (multiples of h) of the points evaluated: the differences' offsets, each
    /// once, ascending ([`points`] derives them at compile time).
    pub offsets: &'static [i64],
    /// Integer denominator D.
    pub denom: i64,
    /// Order of accuracy p: the truncation error is O(h^p).
    pub order: u32,
    /// |C| in the leading truncation term C h^p f^(p+1)(x): 1/2, 1/6 or 1/30.
    pub trunc_const: f64,
    /// sum_k |c_k| / D over the points' weights ([`Stencil::coefficients`]): how much the
    /// rounding errors of the function values are amplified.
    pub noise_gain: f64,
}

/// The distinct offsets of `differences`, ascending, as an array of the length `N` the caller
/// states (checked at compile time: a wrong `N` fails to build).
pub const fn points<const N: usize>(differences: &[Difference]) -> [i64; N] {
    let mut out = [0i64; N];
    let mut len = 0;
    let mut j = 0;
    while j < differences.len() {
        let pair = [differences[j].plus, differences[j].minus];
        let mut s = 0;
        while s < 2 {
            let o = pair[s];
            let mut seen = false;
            let mut i = 0;
            while i < len {
                seen |= out[i] == o;
                i += 1;
            }
            if !seen {
                assert!(len < N, "the differences have more points than stated");
                // Insertion: the points stay ascending.
                let mut i = len;
                while i > 0 && out[i - 1] > o {
                    out[i] = out[i - 1];
                    i -= 1;
                }
                out[i] = o;
                len += 1;
            }
            s += 1;
        }
        j += 1;
    }
    assert!(len == N, "the differences have fewer points than stated");
    out
}

/// f(x + h) − f(x).
const FORWARD: [Difference; 1] = [Difference::new(1, 0, 1)];
/// f(x) − f(x − h).
const BACKWARD: [Difference; 1] = [Difference::new(0, -1, 1)];
/// f(x + h) − f(x − h).
const CENTRAL: [Difference; 1] = [Difference::new(1, -1, 1)];
/// 8 (f(x + h) − f(x − h)) − (f(x + 2h) − f(x − 2h)).
const CENTRAL5: [Difference; 2] = [Difference::new(1, -1, 8), Difference::new(2, -2, -1)];
const FORWARD_POINTS: [i64; 2] = points(&FORWARD);
const BACKWARD_POINTS: [i64; 2] = points(&BACKWARD);
const CENTRAL_POINTS: [i64; 2] = points(&CENTRAL);
const CENTRAL5_POINTS: [i64; 4] = points(&CENTRAL5);

impl Scheme {
    /// The finite-difference stencils (every scheme that is a fixed weighted sum of real function
    /// values, which the numeric engine [`crate::numeric`] evaluates).
    pub const ALL: [Scheme; 4] = [Scheme::Forward, Scheme::Backward, Scheme::Central, Scheme::Central5];

    /// Every scheme: the stencils, then the complex step, dual numbers and Ridders.
    pub const EVERY: [Scheme; 7] = [
        Scheme::Forward,
        Scheme::Backward,
        Scheme::Central,
        Scheme::Central5,
        Scheme::Complex,
        Scheme::Dual,
        Scheme::Ridders,
    ];

    /// Whether the scheme is a finite-difference stencil ([`Scheme::ALL`]).
    pub fn is_stencil(self) -> bool {
        Scheme::ALL.contains(&self)
    }

    /// Whether the scheme takes a step (all but dual numbers).
    pub fn has_step(self) -> bool {
        self != Scheme::Dual
    }

    /// Function evaluations per element and step, at most: the stencil's points, 1 for the
    /// complex step and dual numbers (each in a wider number type), 2 NTAB for Ridders.
    pub fn evaluations(self) -> usize {
        match self {
            Scheme::Complex | Scheme::Dual => 1,
            Scheme::Ridders => 2 * crate::method::ridders::NTAB,
            _ => self.stencil().offsets.len(),
        }
    }

    /// Parses `forward`, `backward`, `central` or `central5`.
    ///
    /// # Errors
    /// [`Error::Value`] for anything else.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "forward" => Ok(Scheme::Forward),
            "backward" => Ok(Scheme::Backward),
            "central" => Ok(Scheme::Central),
            "central5" | "five-point" => Ok(Scheme::Central5),
            "complex" => Ok(Scheme::Complex),
            "dual" => Ok(Scheme::Dual),
            "ridders" => Ok(Scheme::Ridders),
            _ => Err(Error::value("scheme", s, "forward, backward, central, central5, complex, dual or ridders")),
        }
    }

    /// The scheme's name as parsed.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Forward => "forward",
            Scheme::Backward => "backward",
            Scheme::Central => "central",
            Scheme::Central5 => "central5",
            Scheme::Complex => "complex",
            Scheme::Dual => "dual",
            Scheme::Ridders => "ridders",
        }
    }

    /// The scheme's stencil. For the schemes that are not stencils it is their evaluation
    /// pattern, used only for cost and memory estimates: the complex step's one point
    /// Im f(x + ih) / h (order 2, truncation h^2 f'''/6), dual numbers' one evaluation at x
    /// (order 0: no truncation), Ridders' building block, the central stencil. The numeric
    /// engine ([`crate::numeric`]) evaluates stencils only; `check` sends the other schemes to
    /// [`crate::numeric::exotic`].
    pub fn stencil(self) -> Stencil {
        match self {
            Scheme::Complex => Stencil {
                scheme: self,
                differences: &[],
                offsets: &[1],
                denom: 1,
                order: 2,
                trunc_const: 1.0 / 6.0,
                noise_gain: 1.0,
            },
            Scheme::Dual => Stencil {
                scheme: self,
                differences: &[],
                offsets: &[0],
                denom: 1,
                order: 0,
                trunc_const: 0.0,
                noise_gain: 1.0,
            },
            Scheme::Ridders => Stencil { scheme: self, ..Scheme::Central.stencil() },
            Scheme::Forward => Stencil {
                scheme: self,
                differences: &FORWARD,
                offsets: &FORWARD_POINTS,
                denom: 1,
                order: 1,
                trunc_const: 0.5,
                noise_gain: 2.0,
            },
            Scheme::Backward => Stencil {
                scheme: self,
                differences: &BACKWARD,
                offsets: &BACKWARD_POINTS,
                denom: 1,
                order: 1,
                trunc_const: 0.5,
                noise_gain: 2.0,
            },
            Scheme::Central => Stencil {
                scheme: self,
                differences: &CENTRAL,
                offsets: &CENTRAL_POINTS,
                denom: 2,
                order: 2,
                trunc_const: 1.0 / 6.0,
                noise_gain: 1.0,
            },
            Scheme::Central5 => Stencil {
                scheme: self,
                differences: &CENTRAL5,
                offsets: &CENTRAL5_POINTS,
                denom: 12,
                order: 4,
                trunc_const: 1.0 / 30.0,
                noise_gain: 1.5,
            },
        }
    }
}

impl Stencil {
    /// The numerator over (D h) evaluated in `T` for a step `h` already in `T`, with the
    /// roundings the numeric gradient uses ([`StepConsts`], [`quotient`]).
    pub fn apply<T: Scalar>(&self, x: &T, h: &T, mut f: impl FnMut(&T) -> T) -> T {
        let ctx = x.ctx();
        let consts = StepConsts::new(self, h.clone());
        let combination = self.combination::<T>(ctx);
        let mut xk = T::zero(ctx);
        let values: Vec<T> = self
            .offsets
            .iter()
            .zip(&consts.shifts)
            .map(|(&o, shift)| {
                if o == 0 {
                    f(x)
                } else {
                    xk.set_add(x, shift);
                    f(&xk)
                }
            })
            .collect();
        let (mut tmp, mut out) = (T::zero(ctx), T::zero(ctx));
        quotient(&combination, &values, &consts.denom_h, &mut tmp, &mut out);
        out
    }

    /// The weight c_k of each point (in the order of [`Stencil::offsets`]): the sum of the
    /// weights of the differences that add it minus those that subtract it. The numerator equals
    /// sum_k c_k f(x + o_k h) in exact arithmetic; the exactness of the stencil is stated on
    /// these (tests: its moments).
    pub fn coefficients(&self) -> Vec<i64> {
        self.offsets
            .iter()
            .map(|&o| {
                self.differences.iter().map(|d| d.weight * (i64::from(d.plus == o) - i64::from(d.minus == o))).sum()
            })
            .collect()
    }

    /// The differences in `T`, as indices into the points with each weight rounded once (small
    /// integers: exact): what [`quotient`] reads. Built once per check.
    ///
    /// # Panics
    /// When a difference names an offset that is not one of the points (never for the stencils
    /// defined here, whose points are derived from their differences).
    pub fn combination<T: Scalar>(&self, ctx: T::Ctx) -> Combination<T> {
        let at = |o: i64| {
            self.offsets.iter().position(|&p| p == o).unwrap_or_else(|| unreachable!("a difference's point is a point"))
        };
        let terms = self
            .differences
            .iter()
            .map(|d| Term {
                plus: at(d.plus),
                minus: at(d.minus),
                scale: (d.weight.abs() != 1).then(|| T::from_int(d.weight.abs(), ctx)),
                negative: d.weight < 0,
            })
            .collect();
        Combination { terms }
    }
}

/// A stencil's differences ready to combine function values of `T` ([`Stencil::combination`]).
#[derive(Clone, Debug)]
pub struct Combination<T> {
    terms: Vec<Term<T>>,
}

/// One difference: the indices of its two points, |weight| in `T` when it is not 1, its sign.
#[derive(Clone, Debug)]
struct Term<T> {
    plus: usize,
    minus: usize,
    scale: Option<T>,
    negative: bool,
}

/// The constants of one step h in a dtype, each rounded once: h itself, the shifts o_k h of the
/// stencil's points, and the denominator D h.
#[derive(Clone, Debug)]
pub struct StepConsts<T> {
    /// h, rounded into the dtype.
    pub h: T,
    /// o_k * h for each point, rounded (0 for the centre point o_k = 0, which is not perturbed).
    pub shifts: Vec<T>,
    /// D * h, rounded.
    pub denom_h: T,
}

impl<T: Scalar> StepConsts<T> {
    /// The constants of `stencil` for the step `h` (already rounded into the dtype).
    pub fn new(stencil: &Stencil, h: T) -> Self {
        let ctx = h.ctx();
        let shifts = stencil.offsets.iter().map(|&o| h.mul(&T::from_int(o, ctx))).collect();
        let denom_h = h.mul(&T::from_int(stencil.denom, ctx));
        StepConsts { h, shifts, denom_h }
    }
}

/// The finite-difference quotient into `out` from the function values at the stencil's points
/// (`values`, in the order of [`Stencil::offsets`]): for each difference in order,
/// f(x + a h) - f(x + b h) rounded once and multiplied by |w| (exact for these small integers),
/// added to or subtracted from the running numerator (the first one starts it, negated if its
/// weight is negative); then one division by the rounded D h (`tmp` is scratch). Equal values
/// give differences of exactly 0, so a flat loss gives a derivative of exactly 0. The one place
/// function values become a derivative.
#[inline]
pub fn quotient<T: Scalar>(c: &Combination<T>, values: &[T], denom_h: &T, tmp: &mut T, out: &mut T) {
    let (first, rest) = c.terms.split_first().unwrap_or_else(|| unreachable!("a stencil has a difference"));
    out.set_sub(&values[first.plus], &values[first.minus]);
    if let Some(s) = &first.scale {
        out.mul_assign(s);
    }
    if first.negative {
        out.neg_mut();
    }
    for t in rest {
        tmp.set_sub(&values[t.plus], &values[t.minus]);
        if let Some(s) = &t.scale {
            tmp.mul_assign(s);
        }
        if t.negative {
            out.sub_assign(tmp);
        } else {
            out.add_assign(tmp);
        }
    }
    out.div_assign(denom_h);
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

crate::text_serde!(Scheme);

impl fmt::Display for Stencil {
    /// `central5 (order 4): (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / (12h)`: the
    /// differences as they are summed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let point = |o: i64| match o {
            0 => "x".to_string(),
            1 => "x+h".to_string(),
            -1 => "x-h".to_string(),
            _ => format!("x{o:+}h"),
        };
        write!(f, "{} (order {}): ", self.scheme, self.order)?;
        let single = matches!(self.differences, [d] if d.weight == 1);
        if !single {
            f.write_str("(")?;
        }
        for (k, d) in self.differences.iter().enumerate() {
            let sign = match (k, d.weight < 0) {
                (0, false) => "",
                (0, true) => "-",
                (_, false) => " + ",
                (_, true) => " - ",
            };
            let weight = if d.weight.abs() != 1 { format!("{} ", d.weight.abs()) } else { String::new() };
            write!(f, "{sign}{weight}(f({}) - f({}))", point(d.plus), point(d.minus))?;
        }
        if !single {
            f.write_str(")")?;
        }
        write!(f, " / ({}h)", self.denom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rug::Rational;

    /// The weights per point reproduce the derivative of x^m exactly for every m < number of
    /// points (sum c_k o_k^m / D = [m == 1]) and the order is the first m where that fails, minus
    /// one; the noise gain is sum |c_k| / D.
    #[test]
    fn weights_are_exact_and_orders_right() {
        for s in Scheme::ALL {
            let st = s.stencil();
            let coeffs = st.coefficients();
            let moment = |m: u32| -> Rational {
                let num: i64 = st.offsets.iter().zip(&coeffs).map(|(o, c)| c * o.pow(m)).sum();
                Rational::from((num, st.denom))
            };
            assert_eq!(moment(0), 0, "{s}");
            assert_eq!(moment(1), 1, "{s}");
            for m in 2..=st.order {
                assert_eq!(moment(m), 0, "{s} m={m}");
            }
            let lead = moment(st.order + 1);
            assert_ne!(lead, 0, "{s} has order {}", st.order);
            // Leading truncation constant: moment(p+1) / (p+1)!.
            let fact: i64 = (1..=(st.order as i64 + 1)).product();
            let c = (lead / fact).abs();
            assert_eq!(c.to_f64(), st.trunc_const, "{s}");
            let gain: i64 = coeffs.iter().map(|c| c.abs()).sum();
            assert_eq!(gain as f64 / st.denom as f64, st.noise_gain, "{s}");
            // Every point is used, and none twice in one difference.
            assert!(coeffs.iter().all(|&c| c != 0), "{s}: {coeffs:?}");
            assert!(st.differences.iter().all(|d| d.plus != d.minus), "{s}");
        }
        assert_eq!(Scheme::Central5.stencil().coefficients(), [1, -8, 8, -1]);
    }

    /// The central stencils pair points symmetric about x; forward and backward pair x with its
    /// neighbour.
    #[test]
    fn differences_pair_the_points() {
        for s in [Scheme::Central, Scheme::Central5] {
            assert!(s.stencil().differences.iter().all(|d| d.plus == -d.minus && d.plus > 0), "{s}");
        }
        assert_eq!(Scheme::Forward.stencil().differences, [Difference::new(1, 0, 1)]);
        assert_eq!(Scheme::Backward.stencil().differences, [Difference::new(0, -1, 1)]);
        assert_eq!(
            Scheme::Central5.stencil().to_string(),
            "central5 (order 4): (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / (12h)"
        );
        assert_eq!(Scheme::Forward.stencil().to_string(), "forward (order 1): (f(x+h) - f(x)) / (1h)");
    }

    /// A function with the same value at every point has derivative exactly 0, for every stencil
    /// and value, in f32 and f64.
    #[test]
    fn equal_values_give_exactly_zero() {
        for s in Scheme::ALL {
            let st = s.stencil();
            for v in [0.75, 1.0 / 3.0, -2.5e7, 1e-30, 6.02e23] {
                for h in [1e-2, 1e-5, 1e-12, 0.3] {
                    let g = st.apply(&1.5f64, &h, |_| v);
                    assert_eq!(g, 0.0, "{s} f64 {v} {h}");
                    let g = st.apply(&1.5f32, &(h as f32), |_| v as f32);
                    assert_eq!(g, 0.0, "{s} f32 {v} {h}");
                }
            }
        }
    }
}
