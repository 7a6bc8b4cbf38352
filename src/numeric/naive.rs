//! The naive path: every perturbed loss evaluated from scratch, all n samples, exactly as a
//! user's code would. It is the reference the fast path ([`super::fast`]) must match bit for bit,
//! and it allocates (a copy of the perturbed tensor and its logits per evaluation).

use super::effective_step;
use super::fast::Evaluator;
use super::fast::{all_equal, same};
use super::Regime;
use crate::scalar::Scalar;

/// Element (j, i) at step `s` of the plan: the numeric gradient into `grad`, the effective step
/// into `eff` and its regime into `regime` (as [`super::LoadedRow::element`]), every stencil
/// point's loss evaluated from scratch.
pub fn element<T: Scalar>(
    ev: &Evaluator<T>,
    j: usize,
    i: usize,
    s: usize,
    grad: &mut T,
    eff: &mut T,
    regime: &mut Regime,
) {
    let setup = ev.setup;
    let tr = setup.trained;
    let base = setup.wrt.tensor(tr);
    let consts = ev.plan.step(s);
    let mut tmp = T::zero(tr.ctx);
    effective_step(&base[[j, i]], &consts.h, &mut tmp, eff);
    let scale = setup.reduction.scale::<T>(tr.n(), tr.ctx);
    let mut perturbed = base.to_owned();
    let mut moved = false;
    let values: Vec<T> = setup
        .stencil
        .offsets
        .iter()
        .zip(&consts.shifts)
        .map(|(&o, shift)| {
            if o == 0 {
                perturbed[[j, i]].set(&base[[j, i]]);
            } else {
                perturbed[[j, i]].set_add(&base[[j, i]], shift);
                perturbed[[j, i]].store();
                moved |= !same(&perturbed[[j, i]], &base[[j, i]]);
            }
            setup.wrt.loss_with(tr, perturbed.view(), scale.as_ref())
        })
        .collect();
    *regime = Regime::of(!moved, all_equal(&values));
    ev.plan.quotient(s, &values, &mut tmp, grad);
}
