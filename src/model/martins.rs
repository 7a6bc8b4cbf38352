//! Martins' function ([`crate::objective::martins`]) as a [`Model`] of its one input x: no
//! training, its loss f(x) (written once over [`Num`]), its backward the closed-form derivative
//! f'(x) = f(x) (1 - 3 s c (s - c) / (2 (s^3 + c^3))) with every operation rounded in the dtype
//! (over MPFR at the truth's precision, the truth).

use super::{Model, TensorKind};
use crate::error::Result;
use crate::method::Univariate;
use crate::objective::martins::{Martins, X0};
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rug::{Float, Rational};

crate::named_enum! {
    /// Martins' function's one tensor.
    pub enum MartinsTensor("--wrt") {
        /// The input x (1 x 1).
        X = "x",
    }
}

impl TensorKind for MartinsTensor {
    fn name(self) -> &'static str {
        MartinsTensor::name(self)
    }
}

/// Martins' function at a point x (exact; rounded once into the dtype).
#[derive(Clone, Debug)]
pub struct MartinsModel {
    /// The point.
    pub x: Rational,
}

impl Default for MartinsModel {
    /// At the published point x = 3/2.
    fn default() -> Self {
        MartinsModel { x: Rational::from(X0) }
    }
}

impl Model for MartinsModel {
    type Tensor = MartinsTensor;
    /// x as a 1 x 1 tensor.
    type State<T: Scalar> = Array2<T>;

    fn tensors(&self) -> &[MartinsTensor] {
        MartinsTensor::ALL
    }

    fn state<T: Scalar>(&self, ctx: T::Ctx) -> (Array2<T>, usize) {
        let mut x = T::from_rational(&self.x, ctx);
        x.store();
        let rounded = usize::from(x.to_float(T::dtype(ctx).value_bits()) != self.x);
        (Array2::from_elem((1, 1), x), rounded)
    }

    fn tensor<'s, T: Scalar>(&self, state: &'s Array2<T>, _: MartinsTensor) -> ArrayView2<'s, T> {
        state.view()
    }

    fn loss<T: Scalar, N: Num<Real = T>>(&self, _: &Array2<T>, _: MartinsTensor, v: ArrayView2<N>) -> N {
        Martins.eval(&v[[0, 0]])
    }

    /// f(x) (1 - (s c) (s - c) 3 / (2 (s^3 + c^3))), the cubes as (s s) s.
    fn backward<T: Scalar>(&self, state: &Array2<T>, _: MartinsTensor, _: &Watch) -> Result<Array2<T>> {
        let x = &state[[0, 0]];
        let ctx = x.ctx();
        let int = |n| T::from_int(n, ctx);
        let (s, c) = (Num::sin(x), Num::cos(x));
        let cubes = Num::add(&Num::mul(&Num::mul(&s, &s), &s), &Num::mul(&Num::mul(&c, &c), &c));
        let f = Num::div(&Num::exp(x), &Num::sqrt(&cubes));
        let inner =
            Num::div(&Num::mul(&Num::mul(&Num::mul(&s, &c), &Num::sub(&s, &c)), &int(3)), &Num::mul(&cubes, &int(2)));
        Ok(Array2::from_elem((1, 1), Num::mul(&f, &Num::sub(&int(1), &inner))))
    }

    /// The backward over MPFR (checked against an independent mpmath reference in tests/), one
    /// pass for the whole tensor.
    fn truth<T: Scalar>(
        &self,
        state: &Array2<T>,
        which: MartinsTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Array2<Float>> {
        super::backward_truth(self, state, which, prec, watch)
    }

    fn to_mpfr<T: Scalar>(&self, state: &Array2<T>, _: MartinsTensor, prec: Prec, _: &Watch) -> Result<Array2<Float>> {
        Ok(state.map(|v| v.to_float(prec.bits())))
    }
}
