//! The model trait (src/model/): Martins' function on the generic check against its closed-form
//! derivative, and the linear model's fast path giving the generic engine's bits.

use gradlab::check::{check_model, objective_grads, CheckConfig, Checked};
use gradlab::method::{Scheme, Steps};
use gradlab::model::{At, LinearModel, LinearTensor, MartinsModel, MartinsTensor, Model};
use gradlab::objective::martins::true_derivative_at_x0;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;

/// Martins' truth (its backward over MPFR at 256 bits) is the closed form of
/// objective::martins to 2^-200; dual numbers in f64 match the f64 backward to a few ulps, and a
/// central difference at 1e-5 sits at truncation and rounding (1e-11 .. 1e-8).
#[test]
fn martins_on_the_generic_check() {
    let m = MartinsModel::default();
    let p = Prec::new(256).unwrap();
    let (state, rounded) = m.state::<f64>(());
    assert_eq!(rounded, 0, "3/2 is exact");
    let t = gradlab::model::truth(&m, &state, MartinsTensor::X, p, &Watch::unwatched()).unwrap();
    let want = true_derivative_at_x0(p);
    let err = rug::Float::with_val(256, &t[[0, 0]] - &want).abs() / &want;
    assert!(err.to_f64() < 2f64.powi(-200), "{err}");
    let cfg =
        |scheme, steps: &str| CheckConfig { truth: Some(p), ..CheckConfig::seed(scheme, Steps::parse(steps).unwrap()) };
    let dual = check_model(
        &m,
        MartinsTensor::X,
        &Checked::new(cfg(Scheme::Dual, "1"), DType::F64).unwrap(),
        &Watch::unwatched(),
    )
    .unwrap();
    let r = &dual.rows[0];
    assert!(r.relerr_mean < 1e-15 && r.num_vs_truth < 1e-15 && r.anal_vs_truth < 1e-15, "{r:?}");
    assert_eq!(r.wrt, "x");
    let c = check_model(
        &m,
        MartinsTensor::X,
        &Checked::new(cfg(Scheme::Central, "1e-5"), DType::F64).unwrap(),
        &Watch::unwatched(),
    )
    .unwrap();
    assert!(c.rows[0].num_vs_truth > 1e-13 && c.rows[0].num_vs_truth < 1e-8, "{:?}", c.rows[0]);
}

/// The linear model's fast path (its hook) gives the bits of the per-element engine on the same
/// trained state, for the stencils, Ridders, the complex step and dual numbers.
#[test]
fn linear_fast_path_is_the_generic_engines_bits() {
    let problem = Problem::generate(6, 3, 3, 2).unwrap();
    let model = LinearModel { problem: &problem, reduction: Reduction::Mean };
    let (state, _) = model.state::<f32>(());
    let state = model.train(state, &TrainConfig::seed(InputGrad::Reset), &Watch::unwatched()).unwrap();
    for which in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias, LinearTensor::Logits] {
        for scheme in [Scheme::Central, Scheme::Central5, Scheme::Ridders, Scheme::Complex, Scheme::Dual] {
            let cfg = CheckConfig { ..CheckConfig::seed(scheme, Steps::parse("1e-2,1e-3").unwrap()) };
            let req = gradlab::model::Request { scheme, steps: &cfg.steps, naive: false };
            let anal = model.analytic(&state, which, &Watch::unwatched()).unwrap();
            let Some(Ok(gradlab::model::Numeric::Fixed(fast))) =
                model.fast_grads(&state, which, &req, &Watch::unwatched())
            else {
                panic!("the linear model has a fast path")
            };
            let at = At { model: &model, state: &state, which, analytic: anal.view() };
            let (generic, _) = objective_grads(&at, &cfg, &Watch::unwatched()).unwrap();
            assert_eq!(fast.len(), generic.len());
            for (f, g) in fast.iter().zip(&generic) {
                let bits = |a: &ndarray::Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&f.numeric.grad), bits(&g.numeric.grad), "{which} {scheme}");
            }
        }
    }
}
