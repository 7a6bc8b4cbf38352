//! The test along one mistake's direction, for a model that knows how its items round.
//!
//! The tolerance tau of [`super::tolerance`] bounds a correct gradient's rounding in *every*
//! direction, with a storage term calibrated on the worst model-agnostic case (a scalar residual
//! with cancellation, whose error lies along the group's own gradient). A mistake q moves the
//! gradient along one direction only, Delta_q = G^T (w^q - w^correct); what tells q from
//! rounding is the rounding *along that direction*. A model that knows its items (the token
//! head: [`crate::diagnose::tokens`]) gives it through [`Rounding`]: each rounding of each item,
//! with its own sign, projected on the unit direction, the projections added in quadrature. To
//! it this module adds what every computation shares: the stored gradient's own rounding (u_S
//! |g_i| per value) and the rounding of each partial sum of `.grad` in the accumulation dtype
//! (u_A |S_k,i| per value), both projected the same way, all times [`ALONG_Z`]; and, summed
//! without cancelling, the rounding that is *not* independent: each block of `.grad` (a
//! micro-batch, or a group when none is given) is scaled as a whole by a rounded loss factor
//! (fl(1/N), fl(1/N_b), a rank's division), off by up to [`COHERENT_ULPS`] u_S, so its
//! contribution c_b moves by up to that much along the direction: COHERENT_ULPS u_S sum_b
//! |<c_b, direction>|. A mistake whose weights differ from the correct ones by less than that
//! relatively, in every block, is therefore never visible along its direction.
//!
//! With the rounding r_q along the direction and the shift t_q = <g - g_correct, Delta_q /
//! ||Delta_q||>, a mistake hidden by tau is *visible along its direction* when ||Delta_q|| >
//! 2 r_q; then |t_q| <= r_q rules it out, |t_q - ||Delta_q||| <= r_q names it, and anything
//! else leaves it hidden.

use super::Precision;
use ndarray::ArrayView2;

/// The spread of the independent roundings' sum along a direction, in standard deviations of a
/// sum of independent signs: 2 (crates/lab/tests/diagnose_tokens.rs and
/// tests/diagnose_tokens_along.rs hold every correct step of PyTorch's and gradlab's loops to
/// `correct` with it).
pub const ALONG_Z: f64 = 2.0;

/// The rounding of each block's loss factor, in units of the storage dtype's u: the factor
/// itself (1/N, 1/N_b) and a rank's division, each rounded once (transformers' and DDP's loops
/// scale the loss or the gradient by them in the model's dtype).
pub const COHERENT_ULPS: f64 = 2.0;

/// A model's own rounding along a direction, for the groups it computed.
pub trait Rounding: Sync {
    /// The size of the rounding error a gradient with per-group weights `weights` (the weight of
    /// each group's summed loss) carries along the unit vector `direction` (P values, flattened
    /// as the gradient), from the model's computation of its items in `p`'s dtypes, in the
    /// gradient's units: sqrt(sum over roundings of (their bound times their projection)^2),
    /// without [`ALONG_Z`] (the caller multiplies). The stored gradient and the accumulation of
    /// `.grad` are the caller's (this module's).
    fn along(&self, direction: &[f64], weights: &[f64], p: &Precision) -> f64;

    /// The size of the same rounding in every direction at once (its norm, the roundings added
    /// in quadrature), without [`ALONG_Z`]: where it exceeds the tolerance tau (a head whose
    /// confident predictions leave p - 1 to rounding), tau is widened to it.
    fn total(&self, weights: &[f64], p: &Precision) -> f64;
}

/// A mistake's test along its direction (relative to ||g||).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Along {
    /// t_q / ||g||: how far the gradient moved from the correct one along the mistake's
    /// direction.
    pub shift: f64,
    /// r_q / ||g||: the rounding along the direction.
    pub rounding: f64,
    /// What the test found.
    pub outcome: Outcome,
}

/// What the test along a direction found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The mistake is within 2 r_q of the correct gradient along its direction: no test.
    Hidden,
    /// The gradient lies within r_q of the correct one along the direction.
    RuledOut,
    /// The gradient lies within r_q of the mistake's along the direction.
    Named,
    /// Neither alone: more than r_q from both, or also fitting another mistake along that
    /// mistake's direction.
    Between,
}

/// The unit direction of a mistake tested along it, with its size (for the other mistakes'
/// consistency check).
pub(super) struct Tested {
    /// Delta_q / ||Delta_q||.
    pub(super) direction: Vec<f64>,
    /// ||Delta_q||.
    pub(super) size: f64,
}

/// The test of the mistake moving the gradient by `delta` (= G^T (w^q - w^c), P values) for the
/// gradient `g`, whose correct value is `correct`: the weights `weights` (each group's largest
/// of its correct and its mistaken weight), the contributions added to `.grad` at `ends` (as
/// [`super::tolerance_at`]), `extra` (absolute) added to the rounding.
#[allow(clippy::too_many_arguments)]
pub(super) fn test(
    g: &[f64],
    correct: &[f64],
    delta: &[f64],
    groups: ArrayView2<f64>,
    weights: &[f64],
    ends: Option<&[usize]>,
    p: &Precision,
    model: &dyn Rounding,
    extra: f64,
) -> Option<(Along, Tested)> {
    let ng = super::solve::norm(g);
    let nd = super::solve::norm(delta);
    if ng == 0.0 || nd == 0.0 {
        return None;
    }
    let dir: Vec<f64> = delta.iter().map(|v| v / nd).collect();
    let shift: f64 = g.iter().zip(correct).zip(&dir).map(|((a, b), d)| (a - b) * d).sum();
    let stored = p.dtype.unit_roundoff() * projected(g, &dir);
    // The partial sums of .grad after each addition but the first, in the accumulation dtype,
    // and each block's contribution along the direction.
    let (mut squares, mut blocks) = (0.0, 0.0);
    super::additions(groups, weights, ends, |added, partial, block| {
        if added >= 1 {
            squares += projected(partial, &dir).powi(2);
        }
        blocks += block.iter().zip(&dir).map(|(a, b)| a * b).sum::<f64>().abs();
    });
    let accumulated = p.accumulate.unit_roundoff() * squares.sqrt();
    let own = model.along(&dir, weights, p);
    let coherent = COHERENT_ULPS * p.dtype.unit_roundoff() * blocks;
    let r = ALONG_Z * (stored.hypot(accumulated).hypot(own)) + coherent + extra;
    let outcome = if nd <= 2.0 * r {
        Outcome::Hidden
    } else if shift.abs() <= r {
        Outcome::RuledOut
    } else if (shift - nd).abs() <= r {
        Outcome::Named
    } else {
        Outcome::Between
    };
    Some((Along { shift: shift / ng, rounding: r / ng, outcome }, Tested { direction: dir, size: nd }))
}

/// sqrt(sum_i (v_i d_i)^2): independent roundings of each value, bounded by |v_i| times a unit,
/// projected on d.
fn projected(v: &[f64], d: &[f64]) -> f64 {
    v.iter().zip(d).map(|(a, b)| (a * b) * (a * b)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::DType;
    use ndarray::array;

    struct Quiet;
    impl Rounding for Quiet {
        fn along(&self, _: &[f64], _: &[f64], _: &Precision) -> f64 {
            0.0
        }
        fn total(&self, _: &[f64], _: &Precision) -> f64 {
            0.0
        }
    }

    #[test]
    fn a_shift_is_ruled_out_named_or_between() {
        // Two orthogonal groups; the mistake doubles the second group's weight.
        let groups = array![[1.0, 0.0], [0.0, 1.0]];
        let p = Precision::new(DType::F32);
        let correct = [1.0, 1.0];
        let delta = [0.0, 1.0];
        let w = [1.0, 2.0];
        let at = |g: [f64; 2]| test(&g, &correct, &delta, groups.view(), &w, None, &p, &Quiet, 0.0).unwrap().0.outcome;
        assert_eq!(at([1.0, 1.0 + 1e-8]), Outcome::RuledOut);
        assert_eq!(at([1.0, 2.0 - 1e-8]), Outcome::Named);
        assert_eq!(at([1.0, 1.5]), Outcome::Between);
        // A mistake that changes every block's weight by less than the loss factor's rounding
        // (2 u_S relative) is never visible along its direction, however quiet the model.
        let small = [0.0, 1.5 * 2.0 * p.dtype.unit_roundoff()];
        let tiny = test(&[1.0, 1.0], &correct, &small, groups.view(), &[1.0, 1.0], None, &p, &Quiet, 0.0).unwrap().0;
        assert_eq!(tiny.outcome, Outcome::Hidden);
        // A rounding as large as the mistake hides it.
        let hidden = test(&[1.0, 1.0], &correct, &delta, groups.view(), &w, None, &p, &Quiet, 0.6).unwrap().0;
        assert_eq!(hidden.outcome, Outcome::Hidden);
    }
}
