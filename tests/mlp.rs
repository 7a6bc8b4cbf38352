//! The one-hidden-layer MLP (src/objective/mlp.rs) and the objective abstraction
//! (src/objective/mod.rs, src/numeric/generic.rs):
//!
//! - its analytic gradients (tanh and relu, every tensor, x.grad reset and accumulated) against
//!   an independent numpy/mpmath reference (`tests/fixtures/make_mlp_reference.py`, 100 digits):
//!   f64 to a few ulps, MPFR at 256 bits to 1e-70;
//! - every scheme on the MLP against the MPFR truth: the complex step at tiny steps, dual
//!   numbers in every hardware dtype, central differences, Ridders, and `--eps auto` within 3x of
//!   the best step of a 4-per-decade grid;
//! - the per-element engine on the linear model's objective agrees bit for bit with the linear
//!   model's own engine, and on Martins' function with the univariate methods.

mod common;

use common::{config, default_problem};
use gradlab::check::{check_model, prepare, CheckConfig, CheckRow, Checked};
use gradlab::exact::{parse_list, Decimal};
use gradlab::method::Scheme;
use gradlab::model::{LinearTensor, MlpModel, MlpTensor};
use gradlab::numeric::Setup;
use gradlab::numeric::{exotic, generic};
use gradlab::objective::martins::{MartinsAt, X0};
use gradlab::objective::mlp::{Activation, MlpParams, MlpSpec};
use gradlab::objective::{Objective, Reduction};
use gradlab::scalar::{DType, Prec, Scalar};
use gradlab::train::mlp::{self, MlpObjective};
use gradlab::train::LinearObjective;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use ndarray::Array2;
use rug::Float;
use std::path::{Path, PathBuf};

const CMP_BITS: u32 = 320;
const N: usize = 10;
const D: usize = 4;
const K: usize = 3;
const H: usize = 5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join("mlp")
}

/// A 90-digit reference file (one value per line, row-major) parsed at 320 bits.
fn reference(name: &str, rows: usize, cols: usize) -> Array2<Float> {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let vals: Vec<Float> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Float::with_val(CMP_BITS, Float::parse(l).unwrap()))
        .collect();
    assert_eq!(vals.len(), rows * cols, "{name}");
    Array2::from_shape_vec((rows, cols), vals).unwrap()
}

/// The fixture's x, t and initial layers.
fn fixture() -> (Array2<f64>, Vec<usize>, MlpParams<f64>) {
    let f = |n: &str| fixtures().join(n);
    let x = gradlab::npy::read_float2(&f("x.npy")).unwrap();
    let t = gradlab::npy::read_int1(&f("t.npy")).unwrap().iter().map(|&v| v as usize).collect();
    let w1 = gradlab::npy::read_float2(&f("w1.npy")).unwrap();
    let w2 = gradlab::npy::read_float2(&f("w2.npy")).unwrap();
    let b1 = gradlab::npy::read_float1(&f("b1.npy")).unwrap().to_vec();
    let b2 = gradlab::npy::read_float1(&f("b2.npy")).unwrap().to_vec();
    assert_eq!((x.dim(), w1.dim(), w2.dim()), ((N, D), (H, D), (K, H)));
    (x, t, MlpParams { w1, b1, w2, b2 })
}

/// The largest elementwise |got - want| / |want|, every reference value being nonzero.
fn max_relerr<T: Scalar>(got: ndarray::ArrayView2<T>, want: &Array2<Float>) -> f64 {
    assert_eq!(got.dim(), want.dim());
    got.iter()
        .zip(want.iter())
        .map(|(a, r)| {
            assert!(!r.is_zero());
            (Float::with_val(CMP_BITS, a.to_float(CMP_BITS) - r) / r).abs().to_f64()
        })
        .fold(0.0, f64::max)
}

fn train_cfg(mode: InputGrad) -> TrainConfig {
    TrainConfig { epochs: 10, lr: Decimal::parse("lr", "1e-1").unwrap(), input_grad: mode, reduction: Reduction::Mean }
}

fn reference_errors<T: Scalar>(ctx: T::Ctx) -> Vec<(String, f64)> {
    let (x, t, init) = fixture();
    let xt = x.map(|v| T::from_f64(*v, ctx));
    let mut out = Vec::new();
    for (act, name) in [(Activation::Tanh, "tanh"), (Activation::Relu, "relu")] {
        for (mode, mname) in [(InputGrad::Reset, "reset"), (InputGrad::Accumulate, "accumulate")] {
            let tr =
                mlp::train(&xt, &t, &init.cast::<T>(ctx), act, &train_cfg(mode), ctx, &Watch::unwatched()).unwrap();
            let e = max_relerr(tr.grad_x.view(), &reference(&format!("{name}_grad_x_{mname}.txt"), N, D));
            out.push((format!("{name} x.grad {mname}"), e));
            if mode == InputGrad::Accumulate {
                continue;
            }
            for (wrt, file, rows, cols) in [
                (MlpTensor::Logits, "grad_logits", N, K),
                (MlpTensor::HiddenWeight, "grad_w1", H, D),
                (MlpTensor::HiddenBias, "grad_b1", 1, H),
                (MlpTensor::Weight, "grad_w2", K, H),
                (MlpTensor::Bias, "grad_b2", 1, K),
            ] {
                let obj = MlpObjective::new(&tr, Reduction::Mean, wrt);
                let e = max_relerr(obj.analytic(), &reference(&format!("{name}_{file}.txt"), rows, cols));
                out.push((format!("{name} {wrt}"), e));
            }
        }
    }
    out
}

/// The MLP's analytic gradients against the numpy/mpmath reference: f64 within 1e-13
/// elementwise relative (a few hundred ulps at most across 10 epochs of training at lr 0.1),
/// MPFR at 256 bits within 1e-70.
#[test]
fn analytic_gradients_match_the_reference() {
    for (what, e) in reference_errors::<f64>(()) {
        eprintln!("f64 {what}: {e:.3e}");
        assert!(e <= 1e-13, "f64 {what}: {e:e}");
    }
    for (what, e) in reference_errors::<Float>(Prec::new(256).unwrap()) {
        eprintln!("mpfr:256 {what}: {e:.3e}");
        assert!(e <= 1e-70, "mpfr:256 {what}: {e:e}");
    }
}

/// The MLP's truth in MPFR ([`gradlab::model::backward_truth`]: its backward pass over MPFR, here
/// at 512 bits) equals the reference too.
#[test]
fn truth_matches_the_reference() {
    let (x, t, init) = fixture();
    let tr =
        mlp::train(&x, &t, &init, Activation::Tanh, &train_cfg(InputGrad::Reset), (), &Watch::unwatched()).unwrap();
    // The truth is of the f64 state, so it differs from the exact-arithmetic reference by about
    // the f64 analytic gradient's own error.
    // The model's problem and spec are not read by its truth, only its reduction.
    let problem = default_problem();
    let model = MlpModel { problem: &problem, spec: mlp_tanh(), reduction: Reduction::Mean };
    let g = gradlab::model::backward_truth(
        &model,
        &tr,
        MlpTensor::HiddenWeight,
        Prec::new(512).unwrap(),
        &Watch::unwatched(),
    )
    .unwrap();
    let e = max_relerr(g.view(), &reference("tanh_grad_w1.txt", H, D));
    assert!(e <= 1e-13, "{e:e}");
}

/// Whether a measured error misses its bar (NaN misses every bar).
fn fails(v: f64, bar: f64) -> bool {
    v.is_nan() || v > bar
}

/// The MLP on the default problem (n=10, d=4, k=2, seed 1), hidden width 8.
fn mlp_tanh() -> MlpSpec {
    MlpSpec { act: Activation::Tanh, hidden: 8, seed: 1 }
}

fn mlp_rows(spec: MlpSpec, dtype: &str, (wrt, cfg): &(MlpTensor, CheckConfig)) -> Vec<CheckRow> {
    let (problem, dt) = (default_problem(), DType::parse(dtype).unwrap());
    let model = MlpModel { problem: &problem, spec, reduction: cfg.train.reduction };
    check_model(&model, *wrt, &Checked::new(cfg.clone(), dt).unwrap(), &Watch::unwatched()).unwrap().rows
}

fn cfg(scheme: Scheme, eps: &str, wrt: MlpTensor) -> (MlpTensor, CheckConfig) {
    (wrt, config(10, InputGrad::Reset, scheme, eps, Some(512)))
}

/// The complex step on mlp-tanh at tiny steps reaches f64's own accuracy against the truth for
/// every tensor; dual numbers are within a few u in every hardware dtype; central differences
/// at a sensible step and Ridders behave as on the linear model; relu works with every scheme.
#[test]
fn every_scheme_on_the_mlp_against_the_truth() {
    let mut bad = Vec::new();
    for &wrt in MlpTensor::ALL {
        for r in mlp_rows(mlp_tanh(), "f64", &cfg(Scheme::Complex, "1e-20,1e-100", wrt)) {
            eprintln!("mlp-tanh f64 complex {wrt} h={}: {:.3e}", r.eps, r.num_vs_truth);
            if fails(r.num_vs_truth, 2e-15) {
                bad.push(format!("complex {wrt} {}: {:e}", r.eps, r.num_vs_truth));
            }
        }
        for dt in ["f16", "bf16", "f32", "f64"] {
            let u = DType::parse(dt).unwrap().unit_roundoff();
            let r = &mlp_rows(mlp_tanh(), dt, &cfg(Scheme::Dual, "1", wrt))[0];
            eprintln!(
                "mlp-tanh {dt} dual {wrt}: {:.3e} = {:.2} u (analytic {:.2} u)",
                r.num_vs_truth,
                r.num_vs_truth / u,
                r.anal_vs_truth / u
            );
            if fails(r.num_vs_truth, 8.0 * u) {
                bad.push(format!("dual {dt} {wrt}: {} u", r.num_vs_truth / u));
            }
        }
        let r = &mlp_rows(mlp_tanh(), "f64", &cfg(Scheme::Central, "1e-5", wrt))[0];
        eprintln!("mlp-tanh f64 central 1e-5 {wrt}: {:.3e}", r.num_vs_truth);
        if fails(r.num_vs_truth, 1e-8) {
            bad.push(format!("central {wrt}: {:e}", r.num_vs_truth));
        }
        let r = &mlp_rows(mlp_tanh(), "f64", &cfg(Scheme::Ridders, "1e-1", wrt))[0];
        eprintln!("mlp-tanh f64 ridders 1e-1 {wrt}: {:.3e} (bounds {:?})", r.num_vs_truth, r.est_bounds);
        if fails(r.num_vs_truth, 1e-11) {
            bad.push(format!("ridders {wrt}: {:e}", r.num_vs_truth));
        }
    }
    let relu = MlpSpec { act: Activation::Relu, hidden: 8, seed: 1 };
    for scheme in Scheme::EVERY {
        for &wrt in MlpTensor::ALL {
            let eps = if scheme == Scheme::Complex { "1e-20" } else { "1e-6" };
            for r in mlp_rows(relu, "f64", &cfg(scheme, eps, wrt)) {
                // First-order stencils at h = 1e-6 keep about h of truncation error.
                let tol = match scheme {
                    Scheme::Complex | Scheme::Dual => 1e-14,
                    Scheme::Forward | Scheme::Backward => 1e-6,
                    // Rounding noise u L / h on the smallest elements of the relu gradients.
                    _ => 1e-7,
                };
                eprintln!("mlp-relu f64 {scheme} {wrt} h={}: {:.3e}", r.eps, r.num_vs_truth);
                if fails(r.num_vs_truth, tol) {
                    bad.push(format!("relu {scheme} {wrt}: {:e}", r.num_vs_truth));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Issue #12's target for `--eps auto` on mlp-tanh: within 3x of the best error on a
/// 4-per-decade grid, for central and central5 in f32 and f64 (the input gradient).
#[test]
fn auto_is_within_3x_of_the_best_grid_step_on_mlp_tanh() {
    let grid: String =
        (0..=40).map(|j| format!("{:.4e}", 10f64.powf(-f64::from(j) / 4.0))).collect::<Vec<_>>().join(",");
    let mut bad = Vec::new();
    for scheme in [Scheme::Central, Scheme::Central5] {
        for dt in ["f32", "f64"] {
            let fixed = mlp_rows(mlp_tanh(), dt, &cfg(scheme, &grid, MlpTensor::Input));
            let best = fixed.iter().min_by(|a, b| a.num_vs_truth.total_cmp(&b.num_vs_truth)).unwrap();
            let auto = mlp_rows(
                mlp_tanh(),
                dt,
                &(
                    MlpTensor::Input,
                    CheckConfig { steps: gradlab::method::Steps::Auto, ..cfg(scheme, "1", MlpTensor::Input).1 },
                ),
            );
            let a = &auto[0];
            let ratio = a.num_vs_truth / best.num_vs_truth;
            eprintln!(
                "mlp-tanh {dt} {scheme}: auto {:e} (median step {}) vs best {:e} at {} -> ratio {ratio:.3}",
                a.num_vs_truth, a.eps, best.num_vs_truth, best.eps
            );
            if fails(ratio, 3.0) {
                bad.push(format!("{dt} {scheme}: ratio {ratio}"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The per-element engine over [`LinearObjective`] gives the linear model's own results bit for
/// bit (fast path, complex step, dual numbers, Ridders, `--eps auto`) for every tensor, in f32 and
/// MPFR: the objective abstraction computes the same function with the same roundings.
#[test]
fn generic_engine_equals_the_linear_engine() {
    fn run<T: Scalar + PartialEq>(ctx: T::Ctx) {
        let p = default_problem();
        let c = config(10, InputGrad::Reset, Scheme::Central, "1", None);
        let (tr, _) = prepare::<T>(&p, ctx, &c.train, &Watch::unwatched()).unwrap();
        let w = Watch::unwatched();
        for &wrt in LinearTensor::ALL {
            let obj = LinearObjective::new(&tr, Reduction::Mean, wrt);
            assert_eq!(obj.analytic(), wrt.analytic(&tr));
            for scheme in Scheme::EVERY {
                let steps =
                    parse_list("step", if scheme == Scheme::Complex { "1e-20,1e-3" } else { "1e-1,1e-3" }).unwrap();
                let setup = Setup { trained: &tr, reduction: Reduction::Mean, stencil: scheme.stencil(), wrt };
                let want = exotic::method_grads(&setup, scheme, &steps, false, &w).unwrap();
                let got = generic::method_grads(&obj, scheme, &steps, &w).unwrap();
                assert_eq!(want.len(), got.len());
                for (a, b) in want.iter().zip(&got) {
                    assert_eq!(a.numeric.grad, b.numeric.grad, "{scheme} {wrt}");
                    assert_eq!(a.numeric.effective_step, b.numeric.effective_step, "{scheme} {wrt}");
                    assert_eq!(a.numeric.regime, b.numeric.regime, "{scheme} {wrt}");
                    assert_eq!(a.est_error, b.est_error, "{scheme} {wrt}");
                }
                if scheme.is_stencil() {
                    let (want, ws) = gradlab::numeric::auto::auto_grad(&setup, false, &w).unwrap();
                    let (got, gs) = generic::auto_grad(&obj, scheme.stencil(), &w).unwrap();
                    assert_eq!((want.grad, ws), (got.grad, gs), "auto {scheme} {wrt}");
                }
            }
        }
    }
    run::<f32>(());
    run::<Float>(Prec::new(80).unwrap());
}

/// Martins' function as a 1 x 1 objective: the engine's dual number and complex step equal the
/// univariate methods, and its analytic gradient is the closed form.
#[test]
fn martins_is_an_objective() {
    let x = 1.5f64;
    let obj = MartinsAt::new(x);
    let w = Watch::unwatched();
    for (scheme, h) in
        [(Scheme::Dual, "1"), (Scheme::Complex, "1e-20"), (Scheme::Central, "1e-5"), (Scheme::Ridders, "1e-1")]
    {
        let d = Decimal::parse("step", h).unwrap();
        let g = generic::method_grads(&obj, scheme, std::slice::from_ref(&d), &w).unwrap();
        let want = gradlab::method::derivative(&gradlab::objective::martins::Martins, scheme, &x, &d).value;
        assert_eq!(g[0].numeric.grad[[0, 0]], want, "{scheme}");
    }
    let exact = gradlab::objective::martins::true_derivative_at_x0(Prec::new(53).unwrap()).to_f64();
    assert_eq!(obj.analytic()[[0, 0]], exact);
    assert_eq!(X0, (3, 2));
}

/// The MLP objective's real value is the loss of the training's own forward pass, bit for bit.
#[test]
fn mlp_value_is_the_forward_pass_loss() {
    let (x, t, init) = fixture();
    for act in [Activation::Tanh, Activation::Relu] {
        let tr = mlp::train(&x, &t, &init, act, &train_cfg(InputGrad::Reset), (), &Watch::unwatched()).unwrap();
        let z = gradlab::objective::cross_entropy::total_loss(tr.logits.view(), &t, Some(&0.1), ());
        for &wrt in MlpTensor::ALL {
            let obj = MlpObjective::new(&tr, Reduction::Mean, wrt);
            assert_eq!(obj.value::<f64>(obj.tensor()), z, "{act} {wrt}");
        }
    }
}

/// Every scheme (and `--eps auto`) runs on both MLPs in every kind of dtype, with finite rows,
/// and gives the same rows on one thread as on four.
#[test]
fn every_scheme_in_every_dtype_and_independent_of_threads() {
    let pool = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let (one, four) = (pool(1), pool(4));
    for act in [Activation::Tanh, Activation::Relu] {
        let model = MlpSpec { act, hidden: 3, seed: 2 };
        for dt in ["f16", "bf16", "f32", "f64", "mpfr:100", "tf32", "e5m2"] {
            for scheme in Scheme::EVERY {
                let eps = match scheme {
                    Scheme::Complex => "1e-2",
                    _ => "1e-1",
                };
                let mut cfgs = vec![cfg(scheme, eps, MlpTensor::HiddenWeight)];
                if scheme.is_stencil() {
                    cfgs.push((
                        MlpTensor::Input,
                        CheckConfig { steps: gradlab::method::Steps::Auto, ..cfg(scheme, "1", MlpTensor::Input).1 },
                    ));
                }
                for c in cfgs {
                    let a = one.install(|| mlp_rows(model, dt, &c));
                    let b = four.install(|| mlp_rows(model, dt, &c));
                    assert_eq!(a, b, "{act} {dt} {scheme}");
                    assert!(a.iter().all(|r| r.num_vs_truth.is_finite()), "{act} {dt} {scheme}: {a:?}");
                }
            }
        }
    }
}
