//! Checks gradlab's analytic gradients against an independent reference computed outside our
//! Rust code: `tests/fixtures/make_reference.py` (numpy + mpmath at 60 digits) builds a small
//! problem (n=10, d=4, k=2, values exact in every dtype), saves it as float32 (`ref_f32/`) and
//! float64 (`ref_f64/`) .npy files, and writes the exact-arithmetic gradients of our training
//! protocol (E=10 epochs, lr=1e-3, mean reduction, reset and accumulate modes; and E=0) as
//! 60-digit text in `ref_f64/`: the input, logits, weight and bias gradients. Rerun it with
//! `python3 tests/fixtures/make_reference.py`.
//!
//! Our code rounds every operation in the dtype, so f64 must agree with the reference to within
//! a few ulps (elementwise relative error <= 1e-14) and MPFR at 256 bits to within 1e-50.
//! All comparisons are carried out in MPFR at 256 bits, so the reference is not rounded to f64
//! before comparing (tests/common/reference.rs reads the fixture; the truth's, the check's and
//! the diagnosis's agreement with it are in tests/truth.rs, tests/check.rs and tests/diagnose.rs).

mod common;

use common::reference::{assert_close, fixtures, max_relerr, problem, refs, D, K, N};
use gradlab::check::prepare;
use gradlab::exact::Decimal;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{Prec, Scalar};
use gradlab::train::{InputGrad, TrainConfig, Trained};
use gradlab::watch::Watch;
use rug::Float;

fn config(epochs: usize, input_grad: InputGrad) -> TrainConfig {
    TrainConfig { epochs, lr: Decimal::parse("lr", "1e-3").unwrap(), input_grad, reduction: Reduction::Mean }
}

fn train<T: Scalar>(p: &Problem, ctx: T::Ctx, epochs: usize, mode: InputGrad) -> Trained<T> {
    let (tr, rounded) = prepare::<T>(p, ctx, &config(epochs, mode), &Watch::unwatched()).unwrap();
    assert_eq!(rounded, 0, "the fixture's values are exact in every dtype");
    tr
}

/// Checks all reference files for dtype `T` within `tol`; returns the largest relative error.
fn check_all<T: Scalar>(name: &str, ctx: T::Ctx, tol: f64) -> f64 {
    let p = problem();
    let r = refs();
    let reset = train::<T>(&p, ctx, 10, InputGrad::Reset);
    let acc = train::<T>(&p, ctx, 10, InputGrad::Accumulate);
    let mut worst: f64 = 0.0;
    worst = worst.max(assert_close(&format!("{name} grad_x reset E=10"), &reset.grad_x, &r.reset, tol));
    worst = worst.max(assert_close(&format!("{name} grad_x accumulate E=10"), &acc.grad_x, &r.accumulate, tol));
    worst = worst.max(assert_close(&format!("{name} grad_logits reset E=10"), &reset.grad_logits, &r.logits, tol));
    worst = worst.max(assert_close(&format!("{name} grad_logits accumulate E=10"), &acc.grad_logits, &r.logits, tol));
    // W.grad and b.grad are the last epoch's in both modes (only x.grad accumulates).
    for (mode, tr) in [("reset", &reset), ("accumulate", &acc)] {
        let (w, b) = (LinearTensor::Weight.analytic(tr).to_owned(), LinearTensor::Bias.analytic(tr).to_owned());
        worst = worst.max(assert_close(&format!("{name} grad_weight {mode} E=10"), &w, &r.weight, tol));
        worst = worst.max(assert_close(&format!("{name} grad_bias {mode} E=10"), &b, &r.bias, tol));
    }
    for mode in [InputGrad::Reset, InputGrad::Accumulate] {
        let e0 = train::<T>(&p, ctx, 0, mode);
        worst = worst.max(assert_close(&format!("{name} grad_x {mode} E=0"), &e0.grad_x, &r.e0, tol));
        let (w, b) = (LinearTensor::Weight.analytic(&e0).to_owned(), LinearTensor::Bias.analytic(&e0).to_owned());
        worst = worst.max(assert_close(&format!("{name} grad_weight {mode} E=0"), &w, &r.weight_e0, tol));
        worst = worst.max(assert_close(&format!("{name} grad_bias {mode} E=0"), &b, &r.bias_e0, tol));
    }
    let (e, _) = max_relerr(&reset.grad_weight, &r.weight_e0);
    assert!(e > 1e-6, "{name}: E=10 grad_weight should NOT match the E=0 reference (max relerr {})", e.to_f64());
    // Sensitivity: the two modes give clearly different gradients, and the comparison sees it.
    let (e, _) = max_relerr(&acc.grad_x, &r.reset);
    assert!(e > 0.5, "{name}: accumulate-mode grad_x should NOT match the reset reference (max relerr {})", e.to_f64());
    let (e, _) = max_relerr(&reset.grad_x, &r.accumulate);
    assert!(e > 0.5, "{name}: reset-mode grad_x should NOT match the accumulate reference (max relerr {})", e.to_f64());
    let (e, _) = max_relerr(&reset.grad_x, &r.e0);
    assert!(e > 1e-6, "{name}: E=10 grad_x should NOT match the E=0 reference (max relerr {})", e.to_f64());
    eprintln!("{name}: worst relative error over all checks {worst:.3e}");
    worst
}

#[test]
fn float32_and_float64_files_load_identically() {
    let p64 = problem();
    let p32 = Problem::load(&fixtures().join("ref_f32")).expect("load tests/fixtures/ref_f32");
    assert_eq!((p64.n(), p64.d(), p64.k()), (N, D, K));
    assert_eq!(p32.t, p64.t);
    let bits = |a: &mut dyn Iterator<Item = &f64>| a.map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&mut p32.x.iter()), bits(&mut p64.x.iter()), "x");
    assert_eq!(bits(&mut p32.weight.iter()), bits(&mut p64.weight.iter()), "weight");
    assert_eq!(bits(&mut p32.bias.iter()), bits(&mut p64.bias.iter()), "bias");
    assert_eq!(p32, p64);
    // The values were made exact in float16 and bfloat16 too (and not all zero).
    assert_eq!(p64.rounded_count(gradlab::scalar::DType::F16), 0);
    assert_eq!(p64.rounded_count(gradlab::scalar::DType::BF16), 0);
    assert!(p64.x.iter().any(|&v| v != 0.0) && p64.weight.iter().any(|&v| v != 0.0));
}

#[test]
fn f64_matches_reference() {
    check_all::<f64>("f64", (), 1e-14);
}

#[test]
fn mpfr256_matches_reference() {
    check_all::<Float>("mpfr:256", Prec::new(256).unwrap(), 1e-50);
}

/// The comparison resolves precision: f32 is close (about 1e-6) but must fail the f64 tolerance.
#[test]
fn f32_is_close_but_not_f64_accurate() {
    let p = problem();
    let r = refs();
    let tr = train::<f32>(&p, (), 10, InputGrad::Reset);
    let (e, at) = max_relerr(&tr.grad_x, &r.reset);
    let e = e.to_f64();
    eprintln!("f32 grad_x reset E=10: max relative error {e:.3e} at {at:?}");
    assert!(e < 1e-4, "f32 should still be roughly right, got {e:e}");
    assert!(
        e > 1e-14,
        "f32 cannot meet the f64 tolerance; a max relative error of {e:e} means the comparison is blind"
    );
    // And f64 must not be as accurate as MPFR: the f64 tolerance is meaningful but not vacuous.
    let tr64 = train::<f64>(&p, (), 10, InputGrad::Reset);
    let (e64, _) = max_relerr(&tr64.grad_x, &r.reset);
    assert!(e64.to_f64() > 1e-50, "f64 cannot be exact to 1e-50; got {}", e64.to_f64());
}
