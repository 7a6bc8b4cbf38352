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
//! before comparing.

use gradlab::check::prepare;
use gradlab::exact::Decimal;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{Prec, Scalar};
use gradlab::train::{InputGrad, TrainConfig, Trained};
use ndarray::Array2;
use rug::Float;
use std::path::{Path, PathBuf};

/// Precision used to parse the reference and to compute the differences.
const CMP_BITS: u32 = 256;
const N: usize = 10;
const D: usize = 4;
const K: usize = 2;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

fn problem() -> Problem {
    Problem::load(&fixtures().join("ref_f64")).expect("load tests/fixtures/ref_f64")
}

/// A 60-digit reference file (one value per line, row-major) parsed at 256 bits.
fn reference(name: &str, rows: usize, cols: usize) -> Array2<Float> {
    let path = fixtures().join("ref_f64").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let vals: Vec<Float> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Float::with_val(CMP_BITS, Float::parse(l).unwrap_or_else(|e| panic!("{name}: bad number {l:?}: {e}"))))
        .collect();
    assert_eq!(vals.len(), rows * cols, "{name}: expected {rows} x {cols} values");
    assert!(vals.iter().all(|v| v.is_finite() && !v.is_zero()), "{name}: expected finite, nonzero values");
    Array2::from_shape_vec((rows, cols), vals).unwrap()
}

fn config(epochs: usize, input_grad: InputGrad) -> TrainConfig {
    TrainConfig { epochs, lr: Decimal::parse("lr", "1e-3").unwrap(), input_grad, reduction: Reduction::Mean }
}

/// Elementwise |a - r| / |r| computed at 256 bits, as (max, index of the max).
///
/// Every reference value here is nonzero and none is tiny compared with its neighbours
/// (checked by `reference`), so a purely elementwise relative error is used; no fallback to an
/// absolute tolerance is needed.
fn max_relerr<T: Scalar>(got: &Array2<T>, want: &Array2<Float>) -> (Float, (usize, usize)) {
    assert_eq!(got.dim(), want.dim(), "shape");
    let mut worst = Float::new(CMP_BITS);
    let mut at = (0, 0);
    for ((idx, a), r) in got.indexed_iter().zip(want.iter()) {
        let a = a.to_float(CMP_BITS);
        let e = Float::with_val(CMP_BITS, &a - r).abs() / r.clone().abs();
        assert!(e.is_finite(), "element {idx:?}: got {a}, reference {r}");
        if e > worst {
            worst = e;
            at = idx;
        }
    }
    (worst, at)
}

/// Asserts every element agrees within `tol` relative, and returns the max relative error.
fn assert_close<T: Scalar>(what: &str, got: &Array2<T>, want: &Array2<Float>, tol: f64) -> f64 {
    let (e, at) = max_relerr(got, want);
    let got_at = got[at].to_float(CMP_BITS);
    eprintln!("{what}: max relative error {:.3e} at {at:?}", e.to_f64());
    assert!(
        e <= tol,
        "{what}: element {at:?} = {got_at} differs from the reference {} by {:.3e} relative (tolerance {tol:e})",
        want[at],
        e.to_f64()
    );
    e.to_f64()
}

struct Refs {
    reset: Array2<Float>,
    accumulate: Array2<Float>,
    e0: Array2<Float>,
    logits: Array2<Float>,
    /// W.grad and b.grad after E = 10 epochs (the last epoch's, at the final parameters).
    weight: Array2<Float>,
    bias: Array2<Float>,
    /// The weight and bias gradients at the initial parameters (E = 0).
    weight_e0: Array2<Float>,
    bias_e0: Array2<Float>,
}

fn refs() -> Refs {
    Refs {
        reset: reference("grad_x_reset_E10.txt", N, D),
        accumulate: reference("grad_x_accumulate_E10.txt", N, D),
        e0: reference("grad_x_E0.txt", N, D),
        logits: reference("grad_logits_E10.txt", N, K),
        weight: reference("grad_weight_E10.txt", K, D),
        bias: reference("grad_bias_E10.txt", 1, K),
        weight_e0: reference("grad_weight_E0.txt", K, D),
        bias_e0: reference("grad_bias_E0.txt", 1, K),
    }
}

fn train<T: Scalar>(p: &Problem, ctx: T::Ctx, epochs: usize, mode: InputGrad) -> Trained<T> {
    let (tr, rounded) = prepare::<T>(p, ctx, &config(epochs, mode));
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

/// The truth (MPFR at 256 bits) of the weight and bias gradients at the fixture's parameters
/// is the reference's exact gradient, to the reference's 60 digits.
#[test]
fn truth_of_weight_and_bias_matches_reference() {
    let p = problem();
    let r = refs();
    let tr = train::<f64>(&p, (), 0, InputGrad::Reset);
    let prec = Prec::new(256).unwrap();
    for (wrt, want) in
        [(LinearTensor::Weight, &r.weight_e0), (LinearTensor::Bias, &r.bias_e0), (LinearTensor::Input, &r.e0)]
    {
        let t = gradlab::truth::truth_grad(&tr, Reduction::Mean, wrt, prec);
        assert_close(&format!("truth {wrt} E=0"), &t, want, 1e-50);
    }
}

/// `check_dtype` with `--wrt weight` and `bias`: its analytic gradient (f64, after E = 10
/// epochs) and its truth (at the given parameters, E = 0) agree with the reference.
#[test]
fn check_of_weight_and_bias_agrees_with_reference() {
    use gradlab::check::{check_dtype, CheckConfig};
    use gradlab::method::Scheme;
    let p = problem();
    let r = refs();
    for (epochs, wrt, want, truth) in [
        (10, LinearTensor::Weight, &r.weight, None),
        (10, LinearTensor::Bias, &r.bias, None),
        (0, LinearTensor::Weight, &r.weight_e0, Some(&r.weight_e0)),
        (0, LinearTensor::Bias, &r.bias_e0, Some(&r.bias_e0)),
    ] {
        let cfg = CheckConfig {
            train: config(epochs, InputGrad::Accumulate),
            scheme: Scheme::Central,
            steps: gradlab::exact::parse_list("step", "1e-5").unwrap(),
            truth: Some(Prec::new(256).unwrap()),
            naive: false,
            keep_grads: true,
        };
        let res = check_dtype(&p, wrt, gradlab::scalar::DType::F64, &cfg).unwrap();
        let g = res.grads.unwrap();
        assert_close(&format!("check {wrt} E={epochs} analytic"), &g.analytic, want, 1e-14);
        if let Some(t) = truth {
            // The saved truth is rounded to f64: within half an ulp of the reference.
            assert_close(&format!("check {wrt} E={epochs} truth"), &g.truth.unwrap(), t, 1.2e-16);
        }
        // The numeric gradient of the weight and bias agrees with the analytic one at 1e-5.
        assert!(res.rows[0].relerr_mean < 1e-8, "{wrt} E={epochs}: relerr {}", res.rows[0].relerr_mean);
    }
}

/// `diagnose` agrees with the reference: its exact truth is the reference's (to f64's
/// rounding), the reference's own gradients rounded to f64 are correct, and ten times them is a
/// sum where the mean was meant (n = 10).
#[test]
fn diagnose_agrees_with_reference() {
    use gradlab::diagnose::{diagnose, Cause, Given, Settings, Verdict};
    use gradlab::scalar::DType;
    let p = problem();
    let r = refs();
    let s = Settings::new(Reduction::Mean, DType::F64);
    for (wrt, want) in
        [(LinearTensor::Input, &r.e0), (LinearTensor::Weight, &r.weight_e0), (LinearTensor::Bias, &r.bias_e0)]
    {
        let as_given = |scale: f64| {
            let a = want.map(|v| v.to_f64() * scale);
            let grad = if wrt.is_vector() { a.row(0).to_owned().into_dyn() } else { a.into_dyn() };
            vec![Given { wrt, grad, file: DType::F64, name: format!("reference {wrt}") }]
        };
        let d = diagnose(&p, &as_given(1.0), &s).unwrap();
        assert_eq!(d.verdict, Verdict::Correct, "{wrt}: {:?}", d.findings);
        assert!(d.relerr < 1e-16, "{wrt}: relerr {}", d.relerr);
        for e in &d.worst {
            let ix = if wrt.is_vector() { (0, e.index[0]) } else { (e.index[0], e.index[1]) };
            let reference = want[ix].to_f64();
            assert_eq!(e.truth, reference, "{wrt} {ix:?}: diagnose's truth vs the reference rounded to f64");
            assert_eq!(e.given, reference);
        }
        let d = diagnose(&p, &as_given(10.0), &s).unwrap();
        assert_eq!(d.verdict, Verdict::Wrong);
        assert_eq!(d.causes[0], Cause::SumInsteadOfMean, "{wrt}: {:?}", d.findings);
        assert!((d.factor - 10.0).abs() < 1e-14, "{wrt}: factor {}", d.factor);
    }
}
