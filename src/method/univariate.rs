//! Every method on a real function of one variable written once over [`Num`]: the stencils,
//! the complex step, dual numbers and Ridders, in any Scalar type.

use super::ridders;
use super::Scheme;
use crate::exact::Decimal;
use crate::scalar::num::{Complex, Dual, Num, Seeded};
use crate::scalar::Scalar;

/// A real function of one variable that can be evaluated in any [`Num`] type (real, complex,
/// dual) over any Scalar type.
pub trait Univariate: Sync {
    /// f(x).
    fn eval<N: Num>(&self, x: &N) -> N;
}

/// A derivative estimate, with Ridders' error estimate when the method gives one.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate<T> {
    /// The derivative.
    pub value: T,
    /// The method's own (absolute) error estimate: Ridders' only.
    pub error: Option<T>,
    /// Function evaluations made (each in the method's number type).
    pub evaluations: usize,
}

/// f'(x) by dual numbers, which take no step: the dual part of f(x + epsilon), every operation
/// rounded in `T`.
pub fn dual_derivative<T: Scalar, F: Univariate>(f: &F, x: &T) -> Estimate<T> {
    let one = T::from_int(1, x.ctx());
    let y = f.eval(&Dual::seed(x, &one));
    Estimate { value: Dual::derivative(&y, &one), error: None, evaluations: 1 }
}

/// f'(x) by `scheme` with step `h` (ignored by dual numbers; Ridders' initial step), `h` rounded
/// once into `T` and every operation rounded in `T`: a stencil's quotient
/// ([`super::Stencil::apply`]), Im f(x + ih) / h (one division by the same h), the dual part of
/// f(x + epsilon), or Ridders' extrapolation ([`ridders::extrapolate`]) of central differences at
/// h / 1.4^i, each step rounded once.
pub fn derivative<T: Scalar, F: Univariate>(f: &F, scheme: Scheme, x: &T, h: &Decimal) -> Estimate<T> {
    let ctx = x.ctx();
    let h_t = T::from_rational(h.value(), ctx);
    match scheme {
        Scheme::Complex => {
            let y = f.eval(&Complex::seed(x, &h_t));
            Estimate { value: Complex::derivative(&y, &h_t), error: None, evaluations: 1 }
        }
        Scheme::Dual => dual_derivative(f, x),
        Scheme::Ridders => {
            let central = Scheme::Central.stencil();
            let steps = ridders::steps(h);
            let noise0 = ridders::rounding_bound(&f.eval(x), &T::from_rational(steps[0].value(), ctx));
            let r = ridders::extrapolate(&ridders::Consts::new(ctx), &noise0, |i| {
                central.apply(x, &T::from_rational(steps[i].value(), ctx), |v: &T| f.eval(v))
            });
            Estimate { value: r.value, error: Some(r.error), evaluations: r.evaluations }
        }
        _ => {
            let st = scheme.stencil();
            Estimate { value: st.apply(x, &h_t, |v: &T| f.eval(v)), error: None, evaluations: st.offsets.len() }
        }
    }
}
