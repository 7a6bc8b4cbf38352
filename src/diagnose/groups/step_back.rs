//! A model's tensors diagnosed together ([`diagnose_model`]): `params_after_step`, a gradient
//! taken one SGD step before the parameters it is diagnosed at, and `dtype_mismatch` for a
//! tensor too small to show its dtype alone when the model's other tensors showed one.
//!
//! The groups say nothing about other parameters, so this cause needs a caller that has the
//! model and can evaluate the loss meant elsewhere ([`StepBack`]: `gradlab.torch` is one). An
//! optimizer step moves every parameter at once, so the step back is one learning rate for all
//! the model's tensors: with v the step SGD took (each parameter's own gradient, as given),
//! the gradient g of every tensor must be the loss meant's gradient at theta + lr v within that
//! tensor's rounding tolerance.
//!
//! **Search.** The departure d = g - G^T w^correct of each tensor, in units of its tolerance
//! tau ||g||, is fitted to first order by lr J (J = H v, the derivative the caller gives); an
//! lr <= 0 is not a step. From that lr, secant steps, then a bracket (regula falsi and
//! bisection), on the exact gradient at theta + lr v ([`STEP_BACK_ITERATIONS`] evaluations at
//! most) until every tensor fits within its tolerance;
//! only then is the cause named. The first-order fit is not a screen: a piecewise-linear model
//! (ReLU, max-pooling) bends where a unit switches, and PyTorch's CNN step at lr 0.05 leaves 70 %
//! of its departure to first order while the exact step matches within 0.05 of a tolerance. A
//! step of Adam, or several steps, does not match exactly and is not named.

use super::solve::{combine, norm};
use super::{diagnose_groups, fix, GroupCause, GroupDiagnosis, GroupFinding, Precision, Structure};
use crate::diagnose::Verdict;
use crate::error::{Error, Result};
use crate::exact::sci3;
use ndarray::ArrayView2;

/// The most evaluations of the gradient the step back takes after its first-order estimate. A
/// smooth model matches within a few secant steps; a piecewise-linear one (PyTorch's CNN of
/// python/tests/test_torch_causes.py at lr 0.5) needs its bracket narrowed to about 1e-6 of
/// lr, some 20 bisections beyond the secant steps. Each is one forward and backward pass of the
/// whole batch, a small part of the groups' gradients' cost.
pub const STEP_BACK_ITERATIONS: usize = 64;

/// One tensor of a model (a parameter or an input) and the gradients of its groups.
#[derive(Clone, Debug)]
pub struct Block<'a> {
    /// The tensor's name, for the evidence.
    pub name: String,
    /// The user's gradient (P values).
    pub g: &'a [f64],
    /// The groups' gradients (m x P, f64).
    pub groups: ArrayView2<'a, f64>,
    /// The dtypes the gradient was computed in.
    pub precision: Precision,
}

/// What a caller that has the model evaluates for the step back, block by block in the order
/// of [`diagnose_model`]'s blocks, each flattened as the block's gradient.
pub trait StepBack {
    /// The gradient of the loss meant, sum_j w_j (group j's summed loss) with `weights` the
    /// correct weights of the groups, at the parameters theta + lr v: v is each parameter's
    /// given gradient (0 for a parameter not given), as plain SGD would have stepped.
    ///
    /// # Errors
    /// Whatever the evaluation meets (it is passed on).
    fn gradient_at(&mut self, lr: f64, weights: &[f64]) -> Result<Vec<Vec<f64>>>;

    /// The derivative of [`StepBack::gradient_at`] in lr at lr = 0 (the Hessian of the loss
    /// meant times v, and for an input the mixed derivative times v).
    ///
    /// # Errors
    /// Whatever the evaluation meets (it is passed on).
    fn derivative(&mut self, weights: &[f64]) -> Result<Vec<Vec<f64>>>;
}

/// What the step back found: its learning rate and how well it fits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The learning rate lr of the step theta + lr v.
    pub lr: f64,
    /// The part of the departure (in units of the tolerances) the first-order fit leaves.
    pub first_order_left: f64,
    /// The largest ||g - gradient at theta + lr v|| / (tau ||g||) over the tensors.
    pub largest: f64,
}

/// Diagnoses each of a model's tensors against its groups ([`diagnose_groups`]) and, when
/// `step_back` is given and a tensor's gradient is `unexplained`, tries the step back: when the
/// gradients of all the tensors are the loss meant's gradient one SGD step back, every tensor
/// that was not `correct` is named `params_after_step` with the learning rate.
///
/// # Errors
/// [`diagnose_groups`]'s, for any block; [`Error::Usage`] for a step back that returns
/// other sizes than the blocks', or non-finite values; the evaluations' own.
pub fn diagnose_model(
    blocks: &[Block],
    s: &Structure,
    step_back: Option<&mut dyn StepBack>,
) -> Result<Vec<GroupDiagnosis>> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        out.push(diagnose_groups(b.g, b.groups, s, &b.precision)?);
    }
    pool_dtype(blocks, s, &mut out)?;
    let Some(step_back) = step_back else { return Ok(out) };
    if !out.iter().any(|d| d.causes.contains(&GroupCause::Unexplained)) {
        return Ok(out);
    }
    if let Some(step) = find_step(blocks, &out, step_back)? {
        for (b, d) in blocks.iter().zip(out.iter_mut()) {
            if d.verdict != Verdict::Correct {
                name_step(b, d, &step, blocks.len());
            }
        }
    }
    Ok(out)
}

/// A tensor too small to show its dtype alone (fewer than
/// [`crate::policy::DTYPE_MISMATCH_MIN_VALUES`] nonzero values: a bias) is judged in the dtype
/// the model's other tensors showed, when one did: `dtype_mismatch` there too if that explains it.
fn pool_dtype(blocks: &[Block], s: &Structure, out: &mut [GroupDiagnosis]) -> Result<()> {
    let shown: Vec<(usize, crate::scalar::DType)> =
        out.iter().enumerate().filter_map(|(i, d)| d.dtype.map(|t| (i, t))).collect();
    let Some(&(_, narrow)) = shown.first() else { return Ok(()) };
    if shown.iter().any(|&(_, t)| t != narrow) {
        return Ok(());
    }
    for (b, d) in blocks.iter().zip(out.iter_mut()) {
        if d.dtype.is_some() {
            continue;
        }
        if let Some(mut e) = super::mismatch_in(b.g, b.groups, s, &b.precision, narrow, d)? {
            e.notes.push(format!(
                "{} alone has too few values to show its dtype; {} of the model's tensors are {narrow} numbers, and so \
                 are all of its values.",
                b.name,
                shown.len()
            ));
            *d = e;
        }
    }
    Ok(())
}

/// `v`'s values, checked against the blocks' sizes.
fn checked(v: Vec<Vec<f64>>, blocks: &[Block], what: &str) -> Result<Vec<Vec<f64>>> {
    if v.len() != blocks.len() {
        return Err(Error::Usage(format!(
            "the step back's {what} returned {} tensors; expected {}, one per tensor diagnosed",
            v.len(),
            blocks.len()
        )));
    }
    for (x, b) in v.iter().zip(blocks) {
        if x.len() != b.g.len() {
            return Err(Error::Usage(format!(
                "the step back's {what} returned {} values for {}; expected {}, its gradient's size",
                x.len(),
                b.name,
                b.g.len()
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Usage(format!(
                "the step back's {what} returned a non-finite value for {}; expected finite numbers",
                b.name
            )));
        }
    }
    Ok(v)
}

/// sum_b s_b^2 <x_b, y_b>.
fn wdot(x: &[Vec<f64>], y: &[Vec<f64>], scale: &[f64]) -> f64 {
    x.iter().zip(y).zip(scale).map(|((a, b), s)| s * s * a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>()).sum()
}

/// The step back's learning rate, when every tensor fits at it within rounding.
fn find_step(blocks: &[Block], ds: &[GroupDiagnosis], step_back: &mut dyn StepBack) -> Result<Option<Step>> {
    let weights = &ds[0].weights.correct;
    // Each tensor's residuals in units of its tolerance tau ||g||; a zero gradient has no say.
    let scale: Vec<f64> = blocks
        .iter()
        .zip(ds)
        .map(|(b, d)| {
            let t = d.tolerance * norm(b.g);
            if t > 0.0 {
                1.0 / t
            } else {
                0.0
            }
        })
        .collect();
    let departure: Vec<Vec<f64>> = blocks
        .iter()
        .zip(ds)
        .map(|(b, d)| {
            let u = combine(b.groups, &d.weights.correct);
            b.g.iter().zip(&u).map(|(g, u)| g - u).collect()
        })
        .collect();
    let j = checked(step_back.derivative(weights)?, blocks, "derivative")?;
    let (jj, dj, dd) = (wdot(&j, &j, &scale), wdot(&departure, &j, &scale), wdot(&departure, &departure, &scale));
    if jj <= 0.0 || dd <= 0.0 {
        return Ok(None);
    }
    let lr0 = dj / jj;
    let first_order_left = ((dd - lr0 * dj).max(0.0) / dd).sqrt();
    if lr0.is_nan() || lr0 <= 0.0 {
        return Ok(None);
    }
    // phi(lr) = <g - gradient at lr, J> is positive short of the step and negative beyond it.
    // Secant steps (the first the chord along J) until it changes sign, then regula falsi with
    // the Illinois halving, every third step a bisection: the gradient of a piecewise-linear
    // model (ReLU, max-pooling) jumps where a unit switches, so phi is no smooth function of lr
    // and only a bracket converges on it.
    let (mut lr, mut previous): (f64, Option<(f64, f64)>) = (lr0, None);
    // (lr, phi) of the last point short of the step and beyond it.
    let mut short: Option<(f64, f64)> = None;
    let mut beyond: Option<(f64, f64)> = None;
    let mut stale = 0i32;
    for it in 0..STEP_BACK_ITERATIONS {
        let at = checked(step_back.gradient_at(lr, weights)?, blocks, "gradient")?;
        let r: Vec<Vec<f64>> =
            blocks.iter().zip(&at).map(|(b, a)| b.g.iter().zip(a).map(|(g, a)| g - a).collect()).collect();
        let largest = r.iter().zip(&scale).map(|(r, s)| norm(r) * s).fold(0.0, f64::max);
        if largest <= 1.0 {
            return Ok(Some(Step { lr, first_order_left, largest }));
        }
        let phi = wdot(&r, &j, &scale);
        // Which side moved (+1 short, -1 beyond): the side that stays twice has its phi halved.
        let side = if phi > 0.0 { 1 } else { -1 };
        if phi > 0.0 {
            short = Some((lr, phi));
        } else {
            beyond = Some((lr, phi));
        }
        stale = if stale.signum() == side { stale + side } else { side };
        let next = match (short, beyond) {
            (Some((a, mut fa)), Some((b, mut fb))) => {
                if stale >= 2 {
                    fb /= 2.0;
                    beyond = Some((b, fb));
                } else if stale <= -2 {
                    fa /= 2.0;
                    short = Some((a, fa));
                }
                let falsi = a - fa * (b - a) / (fb - fa);
                if it % 3 == 2 || !(falsi > a.min(b) && falsi < a.max(b)) {
                    0.5 * (a + b)
                } else {
                    falsi
                }
            }
            _ => match previous {
                Some((lp, pp)) if pp != phi => lr - phi * (lr - lp) / (phi - pp),
                _ => lr + phi / jj,
            },
        };
        previous = Some((lr, phi));
        lr = next;
        if !(lr > 0.0 && lr.is_finite()) {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Names the step back in `d`, the diagnosis of `b`.
fn name_step(b: &Block, d: &mut GroupDiagnosis, step: &Step, tensors: usize) {
    let evidence = vec![
        format!(
            "{} is not the loss's gradient at the model's parameters (residual {} of its norm, tolerance {}), but it is \
             at the parameters one SGD step back, theta + lr g with lr = {:.4e} (g: each parameter's gradient given, \
             as plain SGD applied it).",
            b.name,
            sci3(d.residual),
            sci3(d.tolerance),
            step.lr
        ),
        format!(
            "there all {tensors} tensors diagnosed match within rounding (largest deviation {:.2} of a tolerance); the \
             first-order step alone explains all but {:.2} % of the departure.",
            step.largest,
            100.0 * step.first_order_left
        ),
        format!("fix: {}.", fix(GroupCause::ParamsAfterStep)),
    ];
    d.verdict = Verdict::Wrong;
    d.causes = vec![GroupCause::ParamsAfterStep];
    d.findings = vec![GroupFinding { cause: GroupCause::ParamsAfterStep, evidence }];
    d.learning_rate = Some(step.lr);
    d.reason = None;
    d.dtype = None;
    d.weights.expected = None;
}
