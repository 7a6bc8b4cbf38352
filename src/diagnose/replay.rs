//! An exact replay of plain SGD backwards from the saved parameters: the seed's loop (x.grad, or
//! a parameter's .grad, summed over E epochs while SGD stepped the parameters with each epoch's
//! own gradient) at any learning rate, where the first-order drift law is out of its range.
//!
//! The saved parameters are theta_{E-1}, those of the last backward pass. Each step back solves
//! theta_{e-1} = theta_e + lr grad L(theta_{e-1}) by fixed-point iteration in f64; the model of
//! every given gradient is then sum_{e=0}^{E-1} grad L(theta_e). The count E is searched over
//! whole numbers around the least-squares factor, the learning rate by Gauss-Newton steps on the
//! weighted residual from the law's first-order estimate, and the best pair is named only when
//! it matches the gradient within rounding.

use super::exact::{Exact, ParamGradients, F64_PASS_MAX_BITS};
use super::power::Fit;
use super::Analysis;
use crate::objective::LinearTensor;
use crate::policy::{
    REPLAY_FIXED_POINT_ITERATIONS, REPLAY_LR_ITERATIONS, REPLAY_MAX_STEPS, REPLAY_MAX_WORK, REPLAY_REFINED,
    REPLAY_STEPS_AROUND,
};
use ndarray::Array2;

/// One set of the linear model's parameters (W, b).
type Params = (Array2<f64>, Vec<f64>);

/// A fixed-point step back has converged when it moves no parameter by more than this fraction
/// of the largest parameter: a few f64 units, where the iteration's own rounding stops it.
const FIXED_POINT_TOLERANCE: f64 = 1e-15;
/// The relative learning-rate step of the finite difference that gives the model's derivative
/// along lr: far above the fixed point's 1e-15 and small enough for a derivative good to 1e-6.
const LR_DIFFERENCE: f64 = 1e-6;
/// The exact pass's cost in f64 passes (its softmax in MPFR at 128 bits), charged to the budget.
const EXACT_PASS_COST: usize = 30;
/// Gauss-Newton stops when the learning rate moves by less than this fraction of itself.
const LR_CONVERGED: f64 = 1e-10;

/// What the replay found: the count, the learning rate, the fit of the exact replay within the
/// rounding of a sum of `steps` gradients, the fraction of the departure from `steps` times the
/// truth it leaves, and the best other count tried with its learning rate and fit.
pub(super) struct Replay {
    pub steps: usize,
    pub lr: f64,
    pub fit: Fit,
    pub unexplained: f64,
    pub runner_up: Option<(usize, f64, Fit)>,
}

/// The standard deviations of a sum of `e` gradients: `e` times each element's sigma, as
/// `fit_scaled` allows a whole factor e.
fn sigmas(a: &Analysis, e: usize) -> Vec<Array2<f64>> {
    a.parts.iter().map(|p| p.sigma.mapv(|s| s * e as f64)).collect()
}

/// sum a b / sigma^2 over every element of the parts.
fn wdot(a: &[Array2<f64>], b: &[Array2<f64>], sigma: &[Array2<f64>]) -> f64 {
    let mut s = 0.0;
    for ((a, b), w) in a.iter().zip(b).zip(sigma) {
        ndarray::Zip::from(a).and(b).and(w).for_each(|x, y, sd| {
            if *sd > 0.0 {
                s += x * y / (sd * sd);
            }
        });
    }
    s
}

/// The replay's arithmetic: the problem's data and the meant loss's per-sample factor.
struct Loop<'a> {
    a: &'a Analysis<'a>,
    weights: &'a [f64],
    /// The parameter gradients' buffers, kept between passes.
    grads: std::cell::RefCell<ParamGradients<'a>>,
    /// The forward passes left of [`REPLAY_MAX_WORK`].
    passes_left: std::cell::Cell<usize>,
}

impl Loop<'_> {
    /// The f64 forward pass at `p`, or `None` when the replay's work limit is spent.
    fn pass(&self, p: &Params) -> Option<Exact> {
        let left = self.passes_left.get().checked_sub(1)?;
        self.passes_left.set(left);
        let ex = &self.a.r.ex;
        Some(Exact::at_f64(ex.x.clone(), p.0.clone(), p.1.clone(), ex.t.clone()))
    }

    /// The meant loss's parameter gradients at a pass.
    fn param_grads(&self, ex: &Exact) -> Params {
        (ex.f64_grad(LinearTensor::Weight, self.weights), ex.f64_grad(LinearTensor::Bias, self.weights).row(0).to_vec())
    }

    /// The meant loss's parameter gradients at `p` (the bits of [`Loop::param_grads`] of
    /// [`Loop::pass`]), or `None` when the replay's work limit is spent.
    fn param_grads_at(&self, p: &Params) -> Option<Params> {
        let left = self.passes_left.get().checked_sub(1)?;
        self.passes_left.set(left);
        Some(self.grads.borrow_mut().at(p.0.view(), &p.1))
    }

    /// theta + lr v.
    fn ahead(p: &Params, lr: f64, v: &Params) -> Params {
        (&p.0 + &(&v.0 * lr), p.1.iter().zip(&v.1).map(|(x, y)| x + lr * y).collect())
    }

    /// The parameters one plain SGD step of `lr` before `p`: the fixed point of
    /// q = p + lr grad L(q) from `guess`; `None` when it does not converge within
    /// [`REPLAY_FIXED_POINT_ITERATIONS`] (the step back is not a contraction at this lr).
    fn step_back(&self, p: &Params, lr: f64, guess: Params) -> Option<Params> {
        let mut q = guess;
        for _ in 0..REPLAY_FIXED_POINT_ITERATIONS {
            let next = Self::ahead(p, lr, &self.param_grads_at(&q)?);
            let moved =
                next.0.iter().zip(&q.0).chain(next.1.iter().zip(&q.1)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            let size = next.0.iter().chain(&next.1).map(|x| x.abs()).fold(0.0, f64::max);
            if !moved.is_finite() {
                return None;
            }
            q = next;
            if moved <= FIXED_POINT_TOLERANCE * size {
                return Some(q);
            }
        }
        None
    }

    /// theta_{E-1} (the saved parameters), theta_{E-2}, ..., theta_0 at `lr`: each step back
    /// starts from `warm`'s point (a walk at a nearby lr) or, without one, from the last
    /// step's displacement repeated.
    fn walk(&self, lr: f64, steps: usize, warm: Option<&[Params]>) -> Option<Vec<Params>> {
        let ex = &self.a.r.ex;
        let mut out: Vec<Params> = vec![(ex.w.clone(), ex.b.clone())];
        for e in 1..steps {
            let p = &out[e - 1];
            let guess = match (warm.and_then(|w| w.get(e)), e) {
                (Some(w), _) => w.clone(),
                (None, 1) => Self::ahead(p, lr, &self.param_grads_at(p)?),
                (None, _) => {
                    let before = &out[e - 2];
                    let v = (&p.0 - &before.0, p.1.iter().zip(&before.1).map(|(x, y)| x - y).collect());
                    Self::ahead(p, 1.0, &v)
                }
            };
            let q = self.step_back(p, lr, guess)?;
            out.push(q);
        }
        Some(out)
    }

    /// Every given part's gradient summed over the walk's points, in f64.
    fn summed(&self, walk: &[Params]) -> Option<Vec<Array2<f64>>> {
        let mut sum: Vec<Array2<f64>> = self.a.parts.iter().map(|p| Array2::zeros(p.given.dim())).collect();
        for p in walk {
            let ex = self.pass(p)?;
            for (s, part) in sum.iter_mut().zip(&self.a.parts) {
                *s += &ex.f64_grad(part.wrt, self.weights);
            }
        }
        Some(sum)
    }

    /// The same sum with each point's gradients as exact as the dtype needs (as
    /// `params_after_step` computes them): f64 passes for at most [`F64_PASS_MAX_BITS`] bits,
    /// the exact pass beyond; f64 gradients for at most 40 bits, double-double ones beyond.
    fn summed_exactly(&self, walk: &[Params]) -> Option<Vec<Array2<f64>>> {
        let bits = self.a.settings().dtype.bits();
        if bits <= F64_PASS_MAX_BITS {
            return self.summed(walk);
        }
        let ex = &self.a.r.ex;
        let mut sum: Vec<Array2<f64>> = self.a.parts.iter().map(|p| Array2::zeros(p.given.dim())).collect();
        let w_dd = vec![self.a.omega_dd; self.a.n()];
        for p in walk {
            // The exact pass costs about 30 f64 passes (its MPFR softmax).
            self.passes_left.set(self.passes_left.get().checked_sub(EXACT_PASS_COST)?);
            let at =
                crate::watch::unwatched(|watch| Exact::at(ex.x.clone(), p.0.clone(), p.1.clone(), ex.t.clone(), watch));
            for (s, part) in sum.iter_mut().zip(&self.a.parts) {
                if bits <= 40 {
                    *s += &at.f64_grad(part.wrt, self.weights);
                } else {
                    *s += &at.grad(part.wrt, &w_dd).hi;
                }
            }
        }
        Some(sum)
    }

    /// sum ((given - model) / sigma)^2.
    fn misfit(&self, model: &[Array2<f64>], sigma: &[Array2<f64>]) -> f64 {
        let r: Vec<Array2<f64>> = self.a.parts.iter().zip(model).map(|(p, m)| &p.given - m).collect();
        wdot(&r, &r, sigma)
    }

    /// Gauss-Newton on lr for `steps` points from `lr`: the best lr found, its walk and misfit.
    fn refine(&self, steps: usize, mut lr: f64, sigma: &[Array2<f64>]) -> Option<(f64, Vec<Params>, f64)> {
        let mut walk = self.walk(lr, steps, None)?;
        let mut model = self.summed(&walk)?;
        let mut q = self.misfit(&model, sigma);
        for _ in 0..REPLAY_LR_ITERATIONS {
            let h = lr * LR_DIFFERENCE;
            let Some(near) = self.walk(lr + h, steps, Some(&walk)) else { break };
            let Some(near) = self.summed(&near) else { break };
            let slope: Vec<Array2<f64>> = near.iter().zip(&model).map(|(m2, m)| (m2 - m) / h).collect();
            let r: Vec<Array2<f64>> = self.a.parts.iter().zip(&model).map(|(p, m)| &p.given - m).collect();
            let ss = wdot(&slope, &slope, sigma);
            if ss.is_nan() || ss <= 0.0 {
                break;
            }
            let mut step = wdot(&r, &slope, sigma) / ss;
            // Halve the step until it lowers the misfit (and keeps lr positive).
            let mut accepted = false;
            for _ in 0..8 {
                let next = lr + step;
                if next > 0.0 {
                    if let Some(w) = self.walk(next, steps, Some(&walk)) {
                        let Some(m) = self.summed(&w) else { break };
                        let qn = self.misfit(&m, sigma);
                        if qn <= q {
                            (lr, walk, model, q, accepted) = (next, w, m, qn, true);
                            break;
                        }
                    }
                }
                step /= 2.0;
            }
            if !accepted || step.abs() <= LR_CONVERGED * lr {
                break;
            }
        }
        Some((lr, walk, q))
    }
}

/// The plain-SGD replay that matches the given gradients within rounding, if any: counts within
/// [`REPLAY_STEPS_AROUND`] of the least-squares factor `c_ls` (2 to [`REPLAY_MAX_STEPS`]), each
/// screened at the first-order law's learning rate, the [`REPLAY_REFINED`] closest refined.
pub(super) fn sgd_replay(a: &Analysis, c_ls: f64) -> Option<Replay> {
    if !c_ls.is_finite() {
        return None;
    }
    let centre = c_ls.round().max(2.0).min(REPLAY_MAX_STEPS as f64) as usize;
    let (lo, hi) =
        (centre.saturating_sub(REPLAY_STEPS_AROUND).max(2), (centre + REPLAY_STEPS_AROUND).min(REPLAY_MAX_STEPS));
    let per_pass = (a.n() * a.r.ex.d().max(1) * a.r.ex.k()) as f64;
    let passes = (REPLAY_MAX_WORK / per_pass).min(usize::MAX as f64) as usize;
    let ex = &a.r.ex;
    let w = vec![a.omega; a.n()];
    let grads = std::cell::RefCell::new(ParamGradients::new(ex.x.view(), &ex.t, &w));
    let lp = Loop { a, weights: &w, grads, passes_left: std::cell::Cell::new(passes) };
    // The law: the sum over E points is E g + lr E (E - 1) / 2 J v to first order, with g the
    // truth and J v its derivative along the saved parameters' gradient v.
    let v = lp.param_grads(ex);
    let jv: Vec<Array2<f64>> = a.parts.iter().map(|p| ex.directional(p.wrt, &w, v.0.view(), &v.1)).collect();
    let mut screened: Vec<(f64, usize, f64)> = Vec::new();
    for e in lo..=hi {
        let sigma = sigmas(a, e);
        let dep: Vec<Array2<f64>> = a.parts.iter().map(|p| &p.given - &(&p.truth.hi * e as f64)).collect();
        let half = (e * (e - 1)) as f64 / 2.0;
        let lr0 = wdot(&dep, &jv, &sigma) / (half * wdot(&jv, &jv, &sigma));
        if !lr0.is_finite() || lr0 <= 0.0 {
            continue;
        }
        if let Some(walk) = lp.walk(lr0, e, None) {
            let Some(model) = lp.summed(&walk) else { break };
            let q = lp.misfit(&model, &sigma);
            if q.is_finite() {
                screened.push((q, e, lr0));
            }
        }
    }
    screened.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut refined: Vec<(usize, f64, Fit, f64)> = screened
        .into_iter()
        .take(REPLAY_REFINED)
        .filter_map(|(_, e, lr0)| {
            let sigma = sigmas(a, e);
            let (lr, walk, _) = lp.refine(e, lr0, &sigma)?;
            let model = lp.summed_exactly(&walk)?;
            let fit = a.fit_to(&model, &sigma);
            let (mut left, mut from) = (0.0, 0.0);
            for (p, m) in a.parts.iter().zip(&model) {
                ndarray::Zip::from(&p.given).and(m).and(&p.truth.hi).for_each(|g, m, t| {
                    left += (g - m).powi(2);
                    from += (g - e as f64 * t).powi(2);
                });
            }
            Some((e, lr, fit, (left / from).sqrt()))
        })
        .collect();
    refined.sort_by(|x, y| x.2.q.total_cmp(&y.2.q));
    let mut it = refined.into_iter();
    let (steps, lr, fit, unexplained) = it.next()?;
    if !fit.holds() {
        return None;
    }
    let runner_up = it.next().map(|(e, lr, f, _)| (e, lr, f));
    Some(Replay { steps, lr, fit, unexplained, runner_up })
}
