//! src/objective/: the models' forward and backward passes. Each backward pass (the analytic
//! gradient an objective gives) is the derivative of its forward pass (the objective's value),
//! element by element, as dual numbers carry it through the same forward pass: for every tensor
//! of the linear model and of the MLP (its hidden layer included), in f64 and in MPFR. (The MLP
//! against an mpmath reference: tests/mlp.rs; Martins' function: tests/martins.rs; the engines
//! that evaluate objectives: tests/numeric.rs.)

mod common;
use common::default_problem;
use gradlab::check::prepare;
use gradlab::model::{LinearTensor, MlpTensor};
use gradlab::objective::mlp::{Activation, MlpParams};
use gradlab::objective::{Objective, Reduction};
use gradlab::scalar::num::Dual;
use gradlab::scalar::{Prec, Scalar};
use gradlab::train::mlp::{self, MlpObjective};
use gradlab::train::{InputGrad, LinearObjective, TrainConfig};
use gradlab::watch::Watch;
use rug::Float;

/// The largest |dual - analytic| over the tensor's elements, relative to the largest |analytic|:
/// each element's derivative is the value's dual part with that element seeded (d = 1) and every
/// other at d = 0.
fn dual_vs_analytic<T: Scalar, O: Objective<T>>(obj: &O) -> f64 {
    let ctx = obj.ctx();
    let (zero, one) = (T::zero(ctx), T::from_int(1, ctx));
    let base = obj.tensor().map(|v| Dual::new(v.clone(), zero.clone()));
    let analytic = obj.analytic();
    let scale = analytic.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
    assert!(scale > 0.0, "an all-zero gradient would make this comparison blind");
    let mut worst: f64 = 0.0;
    for (ix, a) in analytic.indexed_iter() {
        let mut v = base.clone();
        v[ix].d = one.clone();
        let d = obj.value(v.view()).d;
        worst = worst.max(Float::with_val(1024, d.to_float(1024) - a.to_float(1024)).abs().to_f64() / scale);
    }
    worst
}

/// The linear model: every tensor's analytic gradient is the dual-number derivative of the loss,
/// to a few ulps in f64 and to 2^-240 in MPFR at 256 bits, with x.grad reset; accumulated over
/// 10 epochs it is about 10 times that derivative, and the comparison sees it.
#[test]
fn the_linear_models_backward_pass_is_its_forward_passs_derivative() {
    let p = default_problem();
    for reduction in [Reduction::Mean, Reduction::Sum] {
        // The analytic gradients are the trained state's, of the loss it was trained on.
        let reset = TrainConfig { reduction, ..TrainConfig::seed(InputGrad::Reset) };
        let (t64, _) = prepare::<f64>(&p, (), &reset, &Watch::unwatched()).unwrap();
        let (t256, _) = prepare::<Float>(&p, Prec::new(256).unwrap(), &reset, &Watch::unwatched()).unwrap();
        for &wrt in LinearTensor::ALL {
            let e = dual_vs_analytic(&LinearObjective::new(&t64, reduction, wrt));
            assert!(e < 1e-14, "f64 {wrt} {reduction}: {e:e}");
            let e = dual_vs_analytic(&LinearObjective::new(&t256, reduction, wrt));
            assert!(e < 1e-72, "mpfr:256 {wrt} {reduction}: {e:e}");
        }
    }
    let (acc, _) = prepare::<f64>(&p, (), &TrainConfig::seed(InputGrad::Accumulate), &Watch::unwatched()).unwrap();
    let e = dual_vs_analytic(&LinearObjective::new(&acc, Reduction::Mean, LinearTensor::Input));
    // Relative to the largest accumulated element: |10 g - g| / |10 g| = 0.9.
    assert!(e > 0.5, "the accumulated x.grad is about 10 times the derivative, yet the comparison gave {e:e}");
}

/// The MLP (tanh and relu): every tensor's analytic gradient, the hidden layer's weight and bias
/// included, is the dual-number derivative of its loss, in f64 and in MPFR at 200 bits.
#[test]
fn the_mlps_backward_pass_is_its_forward_passs_derivative_hidden_layer_included() {
    let p = gradlab::problem::Problem::generate(12, 5, 3, 6).unwrap();
    let init = MlpParams::generate(5, 3, 4, 6);
    let cfg = TrainConfig::seed(InputGrad::Reset);
    let w = Watch::unwatched();
    for act in [Activation::Tanh, Activation::Relu] {
        let t64 = mlp::train(&p.x, &p.t, &init, act, &cfg, (), &w).unwrap();
        let prec = Prec::new(200).unwrap();
        let x = p.x.mapv(|v| Float::with_val(200, v));
        let t200 = mlp::train(&x, &p.t, &init.cast::<Float>(prec), act, &cfg, prec, &w).unwrap();
        for &wrt in MlpTensor::ALL {
            let e = dual_vs_analytic(&MlpObjective::new(&t64, Reduction::Mean, wrt));
            assert!(e < 1e-14, "f64 {act} {wrt}: {e:e}");
            let e = dual_vs_analytic(&MlpObjective::new(&t200, Reduction::Mean, wrt));
            assert!(e < 1e-56, "mpfr:200 {act} {wrt}: {e:e}");
        }
    }
}
