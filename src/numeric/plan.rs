//! The step plan of a check: for every step, the stencil's constants rounded once into the dtype.

use crate::exact::Decimal;
use crate::method::{quotient, Combination, Stencil, StepConsts};
use crate::scalar::Scalar;

/// A stencil's differences ([`Combination`]) and, for each step of a check, its
/// [`StepConsts`], all rounded once into the dtype. Built once per check and shared by every
/// worker; reading it allocates nothing.
#[derive(Clone, Debug)]
pub struct StepPlan<T> {
    stencil: Stencil,
    combination: Combination<T>,
    steps: Vec<StepConsts<T>>,
}

impl<T: Scalar> StepPlan<T> {
    /// The plan of `stencil` for `steps` (exact decimals, each rounded once into the dtype).
    pub fn new(stencil: Stencil, steps: &[Decimal], ctx: T::Ctx) -> Self {
        let steps = steps.iter().map(|h| StepConsts::new(&stencil, T::from_rational(h.value(), ctx))).collect();
        StepPlan { stencil, combination: stencil.combination(ctx), steps }
    }

    /// The plan of `stencil` for steps already in the dtype (`--eps auto`: one step per element,
    /// each rounded once into the dtype by its maker).
    pub fn from_values(stencil: Stencil, steps: Vec<T>, ctx: T::Ctx) -> Self {
        let steps = steps.into_iter().map(|h| StepConsts::new(&stencil, h)).collect();
        StepPlan { stencil, combination: stencil.combination(ctx), steps }
    }

    /// The stencil.
    pub fn stencil(&self) -> &Stencil {
        &self.stencil
    }

    /// How many steps the plan holds.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the plan holds no step.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The constants of step `s` (in the order the steps were given).
    pub fn step(&self, s: usize) -> &StepConsts<T> {
        &self.steps[s]
    }

    /// The derivative from the function values at the stencil's points for step `s`, into `out`:
    /// the stencil's differences weighted and summed, over the rounded D h ([`quotient`]; `tmp`
    /// is scratch).
    #[inline]
    pub fn quotient(&self, s: usize, values: &[T], tmp: &mut T, out: &mut T) {
        quotient(&self.combination, values, &self.steps[s].denom_h, tmp, out);
    }
}
