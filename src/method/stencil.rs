//! Finite-difference stencils with exact rational weights.
//!
//! A stencil of order p approximates f'(x) by (sum_k c_k f(x + o_k h)) / (D h) with integer
//! offsets o_k, integer coefficients c_k and an integer denominator D, so the weights c_k / D are
//! exact rationals. The numerator is accumulated in the dtype in offset order and divided once by
//! the dtype's rounded D*h; for the central stencil this is exactly the seed's
//! `(loss(x + h) - loss(x - h)) / (2 h)`.

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
    /// (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / (12h), order 4.
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

/// A scheme's grid and exact weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stencil {
    /// The scheme.
    pub scheme: Scheme,
    /// Offsets o_k (multiples of h).
    pub offsets: &'static [i64],
    /// Integer coefficients c_k.
    pub coeffs: &'static [i64],
    /// Integer denominator D.
    pub denom: i64,
    /// Order of accuracy p: the truncation error is O(h^p).
    pub order: u32,
    /// |C| in the leading truncation term C h^p f^(p+1)(x): 1/2, 1/6 or 1/30.
    pub trunc_const: f64,
    /// sum_k |c_k| / D: how much the rounding errors of the function values are amplified.
    pub noise_gain: f64,
}

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
    /// [`crate::method::exotic`].
    pub fn stencil(self) -> Stencil {
        match self {
            Scheme::Complex => Stencil {
                scheme: self,
                offsets: &[1],
                coeffs: &[1],
                denom: 1,
                order: 2,
                trunc_const: 1.0 / 6.0,
                noise_gain: 1.0,
            },
            Scheme::Dual => Stencil {
                scheme: self,
                offsets: &[0],
                coeffs: &[1],
                denom: 1,
                order: 0,
                trunc_const: 0.0,
                noise_gain: 1.0,
            },
            Scheme::Ridders => Stencil { scheme: self, ..Scheme::Central.stencil() },
            Scheme::Forward => Stencil {
                scheme: self,
                offsets: &[0, 1],
                coeffs: &[-1, 1],
                denom: 1,
                order: 1,
                trunc_const: 0.5,
                noise_gain: 2.0,
            },
            Scheme::Backward => Stencil {
                scheme: self,
                offsets: &[-1, 0],
                coeffs: &[-1, 1],
                denom: 1,
                order: 1,
                trunc_const: 0.5,
                noise_gain: 2.0,
            },
            Scheme::Central => Stencil {
                scheme: self,
                offsets: &[-1, 1],
                coeffs: &[-1, 1],
                denom: 2,
                order: 2,
                trunc_const: 1.0 / 6.0,
                noise_gain: 1.0,
            },
            Scheme::Central5 => Stencil {
                scheme: self,
                offsets: &[-2, -1, 1, 2],
                coeffs: &[1, -8, 8, -1],
                denom: 12,
                order: 4,
                trunc_const: 1.0 / 30.0,
                noise_gain: 1.5,
            },
        }
    }
}

impl Stencil {
    /// (sum_k c_k f(x + o_k h)) / (D h) evaluated in `T` for a step `h` already in `T`, with the
    /// roundings the numeric gradient uses ([`StepConsts`], [`quotient`]).
    pub fn apply<T: Scalar>(&self, x: &T, h: &T, mut f: impl FnMut(&T) -> T) -> T {
        let ctx = x.ctx();
        let consts = StepConsts::new(self, h.clone());
        let coeffs = self.coeff_values::<T>(ctx);
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
        quotient(&coeffs, &values, &consts.denom_h, &mut tmp, &mut out);
        out
    }

    /// The coefficients c_k as values of `T` (small integers: exact).
    pub fn coeff_values<T: Scalar>(&self, ctx: T::Ctx) -> Vec<T> {
        self.coeffs.iter().map(|&c| T::from_int(c, ctx)).collect()
    }
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

/// The finite-difference quotient (sum_k c_k L_k) / (D h) into `out`: the products c_k L_k
/// summed in point order, then one division by the rounded D h (`tmp` is scratch). The one
/// place function values become a derivative.
#[inline]
pub fn quotient<T: Scalar>(coeffs: &[T], values: &[T], denom_h: &T, tmp: &mut T, out: &mut T) {
    out.set_mul(&coeffs[0], &values[0]);
    for (c, v) in coeffs[1..].iter().zip(&values[1..]) {
        tmp.set_mul(c, v);
        out.add_assign(tmp);
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (order {}): (", self.scheme, self.order)?;
        for (k, (o, c)) in self.offsets.iter().zip(self.coeffs).enumerate() {
            let sign = if *c < 0 {
                "-"
            } else if k > 0 {
                "+"
            } else {
                ""
            };
            let sep = if k > 0 { " " } else { "" };
            write!(
                f,
                "{sep}{sign}{}{}f(x{:+}h)",
                if k > 0 { " " } else { "" },
                if c.abs() != 1 { format!("{} ", c.abs()) } else { String::new() },
                o
            )?;
        }
        write!(f, ") / ({}h)", self.denom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rug::Rational;

    /// The weights reproduce the derivative of x^m exactly for every m < number of points
    /// (sum c_k o_k^m / D = [m == 1]) and the order is the first m where that fails, minus one.
    #[test]
    fn weights_are_exact_and_orders_right() {
        for s in Scheme::ALL {
            let st = s.stencil();
            let moment = |m: u32| -> Rational {
                let num: i64 = st.offsets.iter().zip(st.coeffs).map(|(o, c)| c * o.pow(m)).sum();
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
            let gain: i64 = st.coeffs.iter().map(|c| c.abs()).sum();
            assert_eq!(gain as f64 / st.denom as f64, st.noise_gain, "{s}");
        }
    }
}
