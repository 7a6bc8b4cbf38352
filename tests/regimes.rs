//! The two ways a numeric gradient dies, on constructed problems: an element whose input does not
//! move (x + h == x), and one whose input moves while every perturbed loss is the same value.

use gradlab::check::prepare;
use gradlab::exact::Decimal;
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::numeric::Regime;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::regimes::predicts_input_dead;
use gradlab::scalar::Scalar;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use ndarray::{array, Array1};

/// The numeric gradient of a problem's loss at its given parameters (no training), in f32.
fn regimes_of(
    p: &Problem,
    h: &str,
    scheme: Scheme,
) -> (ndarray::Array2<Regime>, ndarray::Array2<f32>, ndarray::Array2<f32>) {
    let cfg = TrainConfig { epochs: 0, ..TrainConfig::seed(InputGrad::Reset) };
    let (tr, _) = prepare::<f32>(p, (), &cfg, &Watch::unwatched()).unwrap();
    let setup = Setup { trained: &tr, reduction: Reduction::Mean, stencil: scheme.stencil(), wrt: LinearTensor::Input };
    let num = numeric_grad(&setup, &Decimal::parse("step", h).unwrap(), false);
    (num.regime, num.grad, num.effective_step)
}

#[test]
fn an_input_that_does_not_move_is_dead() {
    // x[0, 0] = 1024: its f32 spacing is 2^-13, so 1e-5 is below half of it; x[0, 1] = 0.5 moves.
    let p = Problem {
        x: array![[1024.0, 0.5]],
        t: vec![0],
        weight: array![[0.5, -0.25], [-0.5, 0.75]],
        bias: Array1::from(vec![0.0, 0.0]),
    };
    for scheme in [Scheme::Central, Scheme::Forward, Scheme::Central5] {
        let (regime, grad, eff) = regimes_of(&p, "1e-5", scheme);
        assert_eq!(regime[[0, 0]], Regime::InputDead, "{scheme}");
        assert_eq!((grad[[0, 0]], eff[[0, 0]]), (0.0, 0.0), "{scheme}");
        assert!(predicts_input_dead(gradlab::scalar::DType::F32, 1024.0, f32::from_f64(1e-5, ()) as f64));
        assert_ne!(regime[[0, 1]], Regime::InputDead, "{scheme}");
        assert!(!predicts_input_dead(gradlab::scalar::DType::F32, 0.5, f32::from_f64(1e-5, ()) as f64));
    }
}

#[test]
fn a_loss_that_does_not_move_is_flat_though_the_input_moves() {
    // x[0, 0] = 0 and b = 0, and feature 1 has the same weight for both classes: perturbing x[0, 1]
    // moves both logits by the same rounded product, so they stay equal, the softmax stays
    // (1/2, 1/2) and the loss stays ln 2 exactly, for every step, while x[0, 1] itself moves.
    let p = Problem {
        x: array![[0.0, 0.25]],
        t: vec![0],
        weight: array![[0.5, 0.375], [-0.5, 0.375]],
        bias: Array1::from(vec![0.0, 0.0]),
    };
    for h in ["1e-1", "1e-3", "1e-6"] {
        for scheme in [Scheme::Central, Scheme::Forward, Scheme::Central5] {
            let (regime, grad, eff) = regimes_of(&p, h, scheme);
            assert_eq!(regime[[0, 1]], Regime::LossFlat, "h = {h}, {scheme}");
            assert_eq!(grad[[0, 1]], 0.0, "h = {h}, {scheme}");
            assert!(eff[[0, 1]] > 0.0, "h = {h}, {scheme}: the input moved");
            // Feature 0 moves the two logits apart: its loss moves.
            assert_eq!(regime[[0, 0]], Regime::Finite, "h = {h}, {scheme}");
        }
    }
}

/// The flat-loss model: at a step far above ulp(L) / (4 |g|) no element is flat, far below it
/// nearly all are (the default problem in f32, central differences, seeds 1 to 5).
#[test]
fn the_flat_loss_boundary_is_where_the_model_puts_it() {
    use gradlab::regimes::flat_boundary;
    use gradlab::scalar::{DType, Prec};
    for seed in 1..=5 {
        let p = Problem::generate(10, 4, 2, seed).unwrap();
        let cfg = TrainConfig::seed(InputGrad::Reset);
        let (tr, _) = prepare::<f32>(&p, (), &cfg, &Watch::unwatched()).unwrap();
        let st = Scheme::Central.stencil();
        let g = gradlab::truth::truth_grad(
            &tr,
            Reduction::Mean,
            LinearTensor::Input,
            Prec::new(256).unwrap(),
            &Watch::unwatched(),
        )
        .unwrap();
        let scale = Reduction::Mean.scale::<f32>(10, ());
        let loss = LinearTensor::Input.loss_with(&tr, tr.x.view(), scale.as_ref()) as f64;
        // The model judges the total before the mean's 1/n: S = n L, dS/dx = n g.
        let bounds: Vec<f64> =
            g.iter().map(|g| flat_boundary(DType::F32, &st, 10.0 * loss, 10.0 * g.to_f64())).collect();
        let setup = Setup { trained: &tr, reduction: Reduction::Mean, stencil: st, wrt: LinearTensor::Input };
        for (factor, want_flat) in [(8.0, false), (1.0 / 8.0, true)] {
            let mut agree = 0;
            for (e, &b) in bounds.iter().enumerate() {
                let h = format!("{:.3e}", b * factor);
                let num = numeric_grad(&setup, &Decimal::parse("step", &h).unwrap(), false);
                let regime = num.regime.iter().nth(e).copied().unwrap();
                let flat = regime != Regime::Finite;
                agree += (flat == want_flat) as usize;
            }
            // At 8x the boundary the model says no element can be flat; at 1/8 each is flat with
            // probability 3/4 or more.
            let need = if want_flat { 24 } else { 40 };
            assert!(agree >= need, "seed {seed}, {factor} x boundary: {agree} of 40 as predicted");
        }
    }
}
