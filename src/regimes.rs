//! The two ways a numeric gradient dies, per element, and where each begins.
//!
//! - **input dead**: x + o_k h == x in the dtype at every stencil point, so every perturbed input
//!   equals the unperturbed one. For one point x + h it happens exactly when h is below half the
//!   spacing from x to the next value above it ([`predicts_input_dead`]; h ≈ ulp(x)/2); the
//!   stencil's points all stay when each does ([`predicts_stencil_dead`]: x - h can move while
//!   x + h does not, at a power of two, and x ± 2h while x ± h do not). The numeric gradient is
//!   exactly 0.
//! - **loss flat**: some point moved x, but every stencil point's loss rounded to the same value,
//!   so the numeric gradient is exactly 0 (every stencil subtracts paired points before weighting
//!   them, [`crate::method::quotient`]). The perturbed losses are about
//!   L + o_k h g (g = dL/dx); they all round to one value when their spread s h |g| (s = the
//!   stencil's span, max o_k - min o_k: 2 for central) fits inside one rounding interval of L, which
//!   for L at a uniformly random place in its interval happens with probability
//!   max(0, 1 - s h |g| / ulp(L)) ([`flat_probability`]). Half the elements are flat at
//!   h = ulp(L) / (2 s |g|) ([`flat_boundary`]; ulp(L) / (4 |g|) for central differences).
//!
//! The loss flattens long before the input dies: L sums many terms, so ulp(L) / |g| is much
//! larger than ulp(x). A mean over n samples divides g by n but not L, which moves the flat-loss
//! boundary up by a factor n.

use crate::check::{check_dtype, prepare, CheckConfig};
use crate::exact::Decimal;
use crate::method::{Scheme, Stencil};
use crate::objective::{LinearTensor, Reduction};
use crate::policy::truth_prec;
use crate::problem::Problem;
use crate::scalar::{DType, Scalar};
use crate::train::TrainConfig;
use crate::truth::truth_grad;
use crate::watch::Watch;

/// The spacing of the binade of |v| in `dtype` (2^(e - p + 1) for 2^e <= |v| < 2^(e+1)),
/// floored at the subnormal spacing of hardware formats; for v = 0 the smallest positive value.
/// Exact in f64 for every format of at most 53 bits whose values fit in f64.
pub fn ulp(dtype: DType, v: f64) -> f64 {
    let p = dtype.bits() as i32;
    let floor = dtype.normal_exp_min().map(|e| e - p + 1);
    if v == 0.0 || !v.is_finite() {
        return floor.map_or(f64::MIN_POSITIVE, |f| 2f64.powi(f));
    }
    let e = exponent(v);
    2f64.powi(floor.map_or(e - p + 1, |f| (e - p + 1).max(f)))
}

/// floor(log2 |v|) of a finite nonzero f64, exactly (subnormals included).
fn exponent(v: f64) -> i32 {
    let bits = v.abs().to_bits();
    let biased = (bits >> 52) as i32;
    if biased == 0 {
        // Subnormal: the leading one's position in the 52-bit fraction.
        -1074 + 63 - (bits.leading_zeros() as i32)
    } else {
        biased - 1023
    }
}

/// The distance from x to the next value of `dtype` above it (toward +infinity).
pub(crate) fn gap_up(dtype: DType, x: f64) -> f64 {
    let u = ulp(dtype, x);
    // Going up from a negative power of two enters the binade below, whose spacing is half
    // (unless that binade is subnormal, where the spacing stays the floor).
    let power_of_two = x != 0.0 && x.abs() == 2f64.powi(exponent(x));
    if x < 0.0 && power_of_two && ulp(dtype, x / 2.0) < u {
        u / 2.0
    } else {
        u
    }
}

/// Whether x + h rounds back to x in `dtype` (round to nearest, ties to even), for the step h
/// already rounded into the dtype. Exact: x + h == x when h is below half the gap above x, or
/// equal to it with x's last significand bit even.
pub fn predicts_input_dead(dtype: DType, x: f64, h: f64) -> bool {
    let half = gap_up(dtype, x) / 2.0;
    if h != half {
        return h < half;
    }
    // A tie: x stays if its significand is even, that is, x is a multiple of twice its spacing.
    let u = ulp(dtype, x);
    (x / (2.0 * u)).fract() == 0.0
}

/// Whether no point of `stencil` moves x in `dtype` ([`crate::numeric::Regime::InputDead`]): x + o_k h rounds
/// back to x for every offset o_k, h already rounded into the dtype. Round to nearest, ties to
/// even, is symmetric, so x + o h for o < 0 stays where (-x) + |o| h does; |o| h is exact (|o| is
/// 1 or 2 for the stencils, barring overflow).
pub fn predicts_stencil_dead(dtype: DType, stencil: &Stencil, x: f64, h: f64) -> bool {
    stencil.offsets.iter().all(|&o| o == 0 || predicts_input_dead(dtype, x * o.signum() as f64, o.abs() as f64 * h))
}

/// The span s = max o_k - min o_k of a stencil's points (in steps).
fn span(stencil: &Stencil) -> f64 {
    let (lo, hi) = stencil.offsets.iter().fold((0, 0), |(a, b), &o| (a.min(o), b.max(o)));
    (hi - lo) as f64
}

/// The probability that every stencil point's loss rounds to the same value in `dtype`, for a
/// loss `loss` with derivative `grad` along the element and step h, when L sits at a uniformly
/// random place in its rounding interval: max(0, 1 - s h |g| / ulp(L)).
pub fn flat_probability(dtype: DType, stencil: &Stencil, loss: f64, grad: f64, h: f64) -> f64 {
    (1.0 - span(stencil) * h * grad.abs() / ulp(dtype, loss)).max(0.0)
}

/// [`flat_probability`] of a reduced loss, judged on the total S before the reduction's factor:
/// the perturbed sample's change reaches L only through S, so the change is lost where S's
/// rounding absorbs it. For the mean (`mean_of` = Some(n), `loss` = S / n and `grad` its
/// gradient) that is the probability for S = n L with gradient n g; for the sum (`None`) L is S.
/// (The final product S * (1/n) can absorb a change too, but S's ulp is the larger relative
/// spacing at least as often: the measured boundaries of the mean and the sum coincide.)
pub fn flat_probability_reduced(
    dtype: DType,
    stencil: &Stencil,
    loss: f64,
    grad: f64,
    h: f64,
    mean_of: Option<usize>,
) -> f64 {
    let n = mean_of.map_or(1.0, |n| n as f64);
    flat_probability(dtype, stencil, loss * n, grad * n, h)
}

/// The step at which half the elements like this one are expected to be flat:
/// ulp(L) / (2 s |g|) (ulp(L) / (4 |g|) for central differences); infinite for g = 0.
pub fn flat_boundary(dtype: DType, stencil: &Stencil, loss: f64, grad: f64) -> f64 {
    ulp(dtype, loss) / (2.0 * span(stencil) * grad.abs())
}

/// The regimes of one step of a check: measured counts and their predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct Counts {
    /// The step.
    pub eps: Decimal,
    /// Elements checked.
    pub elements: usize,
    /// Elements whose input did not move.
    pub input_dead: usize,
    /// Elements [`predicts_stencil_dead`] says no stencil point moves.
    pub predicted_dead: usize,
    /// Elements whose input moved but whose loss was flat.
    pub loss_flat: usize,
    /// The expected number of flat losses among the inputs that move ([`flat_probability_reduced`]).
    pub predicted_flat: f64,
    /// The median relative error of numeric against analytic.
    pub relerr_median: f64,
}

/// The regimes of a central-difference check of the input gradient of `problem` in `dtype`
/// (trained by `train`) at every step of `steps`, measured and predicted.
///
/// # Errors
/// What [`check_dtype`] returns for a step the dtype cannot take.
pub fn measure(problem: &Problem, dtype: DType, train: &TrainConfig, steps: &[Decimal]) -> crate::Result<Vec<Counts>> {
    let cfg = CheckConfig {
        train: train.clone(),
        scheme: Scheme::Central,
        steps: crate::method::Steps::grid(steps.to_vec())?,
        truth: None,
        naive: false,
        keep_grads: false,
    };
    let watch = Watch::unwatched();
    let measured = check_dtype(problem, LinearTensor::Input, dtype, &cfg, &watch)?.rows;
    let stencil = Scheme::Central.stencil();
    Ok(crate::with_dtype!(dtype, |T, ctx| {
        let (tr, _) = prepare::<T>(problem, ctx, train, &watch)?;
        let g = truth_grad(&tr, train.reduction, LinearTensor::Input, truth_prec(&[dtype]), &watch)?;
        let scale = train.reduction.scale::<T>(tr.n(), ctx);
        let loss = LinearTensor::Input.loss_with(&tr, tr.x.view(), scale.as_ref()).to_f64();
        let mean_of = (train.reduction == Reduction::Mean).then_some(tr.n());
        measured
            .into_iter()
            .zip(steps)
            .map(|(r, eps)| {
                let h = T::from_rational(eps.value(), ctx).to_f64();
                let moving = || {
                    tr.x.iter().zip(g.iter()).filter(|(x, _)| !predicts_stencil_dead(dtype, &stencil, x.to_f64(), h))
                };
                Counts {
                    elements: tr.x.len(),
                    input_dead: r.dead_zone,
                    predicted_dead: tr.x.len() - moving().count(),
                    loss_flat: r.loss_flat,
                    predicted_flat: moving()
                        .map(|(_, g)| flat_probability_reduced(dtype, &stencil, loss, g.to_f64(), h, mean_of))
                        .sum(),
                    relerr_median: r.relerr_median,
                    eps: eps.clone(),
                }
            })
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Scheme;

    #[test]
    fn ulps_and_gaps_are_the_formats_spacings() {
        assert_eq!(ulp(DType::F32, 1.0), f32::EPSILON as f64);
        assert_eq!(ulp(DType::F32, 1.5), f32::EPSILON as f64);
        assert_eq!(ulp(DType::F64, 1.0), f64::EPSILON);
        assert_eq!(ulp(DType::F16, 1e-7), 2f64.powi(-24)); // subnormal spacing of f16
        assert_eq!(gap_up(DType::F32, 1.0), f32::EPSILON as f64);
        assert_eq!(gap_up(DType::F32, -1.0), f32::EPSILON as f64 / 2.0);
        let x = 1.0f32;
        assert_eq!((x.next_up() - x) as f64, gap_up(DType::F32, 1.0));
        assert_eq!(((-x).next_up() + x) as f64, gap_up(DType::F32, -1.0));
    }

    /// The prediction of x + h == x is exact: checked against f32 arithmetic on many values and
    /// steps around the boundary, ties included.
    #[test]
    fn input_dead_prediction_is_exact_in_f32() {
        let mut seen = [0usize; 2];
        for i in 0..2000 {
            let x = ((i as f32) * 0.37 - 300.0) * if i % 3 == 0 { 1e-3 } else { 1.0 };
            let g = gap_up(DType::F32, x as f64) as f32;
            for h in [g / 4.0, g / 2.0, (g / 2.0).next_up(), (g / 2.0).next_down(), g] {
                let dead = x + h == x;
                assert_eq!(predicts_input_dead(DType::F32, x as f64, h as f64), dead, "x = {x}, h = {h}");
                seen[dead as usize] += 1;
            }
        }
        assert!(seen[0] > 1000 && seen[1] > 1000, "{seen:?}");
    }

    /// The stencil's prediction is exact too: every point x + o h of central and five-point
    /// stencils against f32 arithmetic, at powers of two (where x - h moves before x + h) and
    /// between them.
    #[test]
    fn stencil_dead_prediction_is_exact_in_f32() {
        let mut seen = [0usize; 2];
        let mut one_sided = 0;
        for i in 0..2000 {
            let x = if i % 5 == 0 { 2f32.powi(i / 5 % 40 - 20) } else { (i as f32) * 0.37 - 300.0 };
            let x = if i % 2 == 0 { x } else { -x };
            let g = gap_up(DType::F32, x as f64) as f32;
            for h in [g / 8.0, g / 4.0, g / 3.0, g / 2.0, (g / 2.0).next_up(), g] {
                for s in [Scheme::Central, Scheme::Central5, Scheme::Backward] {
                    let st = s.stencil();
                    let dead = st.offsets.iter().all(|&o| x + o as f32 * h == x);
                    assert_eq!(
                        predicts_stencil_dead(DType::F32, &st, x as f64, h as f64),
                        dead,
                        "{s} x = {x}, h = {h}"
                    );
                    seen[dead as usize] += 1;
                    one_sided += usize::from(!dead && x + h == x);
                }
            }
        }
        assert!(seen[0] > 1000 && seen[1] > 1000 && one_sided > 100, "{seen:?} {one_sided}");
    }

    #[test]
    fn flat_boundary_is_where_half_are_flat() {
        let st = Scheme::Central.stencil();
        let (l, g) = (0.7, 0.03);
        let b = flat_boundary(DType::F32, &st, l, g);
        assert_eq!(b, ulp(DType::F32, l) / (4.0 * g));
        assert!((flat_probability(DType::F32, &st, l, g, b) - 0.5).abs() < 1e-12);
        assert_eq!(flat_probability(DType::F32, &st, l, g, 3.0 * b), 0.0);
    }
}
