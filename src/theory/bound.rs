//! The bound: truncation ~ T h^p plus worst-case rounding ~ R u / h.
//!
//! For a stencil of order p, the mean relative error over elements is bounded (to first order) by
//! E(h) = T h^p + R u / h, with
//! - T = mean_e |num_e(h0) - g_e| / (|g_e| h0^p): the truncation constant, measured once in
//!   MPFR at 256 bits and a moderate step h0 where rounding is negligible (truncation is a
//!   property of the function, not of the dtype);
//! - R = mean_e (gain |L| / |g_e| + |v_e|): each loss value carries a rounding error of about
//!   u |L|, amplified by the stencil's gain sum |c_k| / D, and the perturbed value v + h is itself
//!   rounded (relative step error u |v| / h).
//!
//! Minimising E gives the step h* = (R u / (p T))^(1/(p+1)) and the bound's minimum
//! E* = (1 + 1/p) R u / h*. R takes every rounding at its worst (u, all of one sign), so E* is an
//! upper estimate: round-to-nearest errors average u/2 and partly cancel. [`super::expected`]
//! predicts the error itself.

use crate::check::prepare;
use crate::exact::Decimal;
use crate::method::Scheme;
use crate::numeric::{numeric_grad, Setup};
use crate::objective::cross_entropy::total_loss;
use crate::objective::LinearTensor;
use crate::problem::Problem;
use crate::scalar::Prec;
use crate::train::TrainConfig;
use rug::Float;

/// The bound of one problem and scheme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundModel {
    /// Order p.
    pub order: u32,
    /// Truncation constant T.
    pub trunc: f64,
    /// Rounding constant R.
    pub round: f64,
}

impl BoundModel {
    /// Predicted mean relative error at step h for unit roundoff u.
    pub fn predict(&self, h: f64, u: f64) -> f64 {
        self.truncation(h) + self.rounding(h, u)
    }
    /// The truncation part T h^p.
    pub fn truncation(&self, h: f64) -> f64 {
        self.trunc * h.powi(self.order as i32)
    }
    /// The rounding part R u / h.
    pub fn rounding(&self, h: f64, u: f64) -> f64 {
        self.round * u / h
    }
    /// The step minimising the predicted error.
    pub fn optimal_step(&self, u: f64) -> f64 {
        let p = self.order as f64;
        (self.round * u / (p * self.trunc)).powf(1.0 / (p + 1.0))
    }
    /// The median of several problems' models (the same order): the median of each constant.
    pub fn median(order: u32, models: &[BoundModel]) -> BoundModel {
        let constants = |f: fn(&BoundModel) -> f64| crate::metrics::median(&models.iter().map(f).collect::<Vec<_>>());
        BoundModel { order, trunc: constants(|m| m.trunc), round: constants(|m| m.round) }
    }
    /// The predicted minimal error.
    pub fn min_error(&self, u: f64) -> f64 {
        self.predict(self.optimal_step(u), u)
    }
}

/// The step h0 at which the truncation constant is measured.
pub const TRUNCATION_PROBE_STEP: &str = "1e-2";

/// Builds the bound of `problem` trained with `cfg`, for `scheme` and `wrt`.
pub fn bound_model(problem: &Problem, cfg: &TrainConfig, scheme: Scheme, wrt: LinearTensor) -> BoundModel {
    // Truncation is a property of the function: measure it where rounding is negligible.
    let prec = Prec::new(crate::policy::TRUTH_BITS).unwrap_or_else(|_| unreachable!("the truth's bits are in range"));
    let (tr, _) = crate::watch::unwatched(|watch| prepare::<Float>(problem, prec, cfg, watch));
    let h0 = Decimal::parse("step", TRUNCATION_PROBE_STEP).unwrap_or_else(|_| unreachable!("literal"));
    let stencil = scheme.stencil();
    let setup = Setup { trained: &tr, reduction: cfg.reduction, stencil, wrt };
    let num = numeric_grad(&setup, &h0, false);
    let g = wrt.analytic(&tr);
    let h = h0.to_f64();
    let scale = cfg.reduction.scale::<Float>(tr.n(), prec);
    let loss = total_loss(tr.logits.view(), &tr.t, scale.as_ref(), prec).to_f64().abs();
    let values = wrt.tensor(&tr);
    let (mut t_sum, mut r_sum, mut count) = (0.0, 0.0, 0usize);
    for ((n, a), v) in num.grad.iter().zip(g.iter()).zip(values.iter()) {
        let gv = a.to_f64().abs();
        if gv == 0.0 {
            continue;
        }
        let err = Float::with_val(prec.bits(), n - a).to_f64().abs();
        t_sum += err / (gv * h.powi(stencil.order as i32));
        r_sum += stencil.noise_gain * loss / gv + v.to_f64().abs();
        count += 1;
    }
    let c = count.max(1) as f64;
    BoundModel { order: stencil.order, trunc: t_sum / c, round: r_sum / c }
}
