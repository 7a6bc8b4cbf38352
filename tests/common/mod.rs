//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod heap;
pub mod npy;
pub mod reference;

use gradlab::check::{check_dtype, CheckConfig, CheckRow, DTypeCheck};
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;

/// The seed's decade grid 1e0 ... 1e-8.
pub const SEED_EPS: &str = "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8";

/// The default problem of `gradlab check` (n=10, d=4, k=2, seed 1).
pub fn default_problem() -> Problem {
    Problem::generate(10, 4, 2, 1).unwrap()
}

/// A check configuration like the CLI's defaults.
pub fn config(epochs: usize, mode: InputGrad, scheme: Scheme, eps: &str, truth: Option<u32>) -> CheckConfig {
    CheckConfig {
        train: TrainConfig {
            epochs,
            lr: Decimal::parse("lr", "1e-3").unwrap(),
            input_grad: mode,
            reduction: Reduction::Mean,
        },
        scheme,
        steps: Steps::parse(eps).unwrap(),
        truth: truth.map(|b| Prec::new(b).unwrap()),
        naive: false,
        keep_grads: false,
    }
}

/// Rows of one dtype's check.
pub fn rows(problem: &Problem, dtype: &str, cfg: &CheckConfig) -> Vec<CheckRow> {
    check_dtype(problem, LinearTensor::Input, DType::parse(dtype).unwrap(), cfg, &Watch::unwatched()).unwrap().rows
}

/// A check of every element at `steps` after 10 epochs at lr = 1e-2, with the truth at
/// `truth_bits` and the gradients kept (for comparing two dtypes' checks bit for bit).
pub fn identity_config(
    scheme: Scheme,
    input_grad: InputGrad,
    reduction: Reduction,
    steps: &str,
    truth_bits: u32,
) -> CheckConfig {
    CheckConfig {
        train: TrainConfig { epochs: 10, lr: Decimal::parse("lr", "1e-2").unwrap(), input_grad, reduction },
        scheme,
        steps: Steps::parse(steps).unwrap(),
        truth: Some(Prec::new(truth_bits).unwrap()),
        naive: false,
        keep_grads: true,
    }
}

/// A check's gradients as bits (analytic, then every step's numeric gradient).
pub fn gradient_bits(r: &DTypeCheck) -> Vec<u64> {
    let g = r.grads.as_ref().expect("kept gradients");
    g.analytic.iter().chain(g.numeric.iter().flatten()).map(|v| v.to_bits()).collect()
}

/// An MPFR function with rounding (`Float::exp_round`, `Float::sin_round`, ...).
pub type MpfrFn = fn(&mut rug::Float, rug::float::Round) -> std::cmp::Ordering;

/// `f(x)` for a value x of the hardware format `dt` as MPFR rounds it: computed at the format's
/// precision with MPFR's ternary value, then brought into the format's exponent range by
/// `mpfr_subnormalize` (no second rounding) and overflowed to infinity beyond the largest value.
pub fn mpfr_reference(x: f64, f: MpfrFn, dt: DType) -> f64 {
    use rug::float::Round;
    let (emin, max) = (dt.normal_exp_min().unwrap(), dt.max_finite().unwrap());
    let mut r = rug::Float::with_val(dt.bits(), x);
    assert!(r == x || x.is_nan(), "{x} is not a value of {dt}");
    let ord = f(&mut r, Round::Nearest);
    if r.is_finite() && !r.is_zero() {
        r.subnormalize_round(emin + 1, ord, Round::Nearest);
    }
    let v = r.to_f64();
    if v.abs() > max {
        v.signum() * f64::INFINITY
    } else {
        v
    }
}

/// SplitMix64 uniforms in [0, 1) and normals (Box-Muller), reproducible from a seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next standard normal.
    pub fn normal(&mut self) -> f64 {
        let (a, b) = (self.next().max(1e-300), self.next());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}
