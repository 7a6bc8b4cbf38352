//! `gradlab diagnose`'s verdicts at the sizes and dtypes people train in, on gradients made by
//! PyTorch's own CPU kernels (tests/fixtures/diagnose, make_calibration.py there): the tolerance
//! covers every correct gradient with the margin the policy states, a correct verdict needs the
//! power to see each named mistake, and the near misses a user makes are named.

use gradlab::diagnose::calibration::{fixture_ratios, own_ratios};
use gradlab::diagnose::power::z_elements;
use gradlab::diagnose::{diagnose, Cause, Diagnosis, Given, Settings, Verdict};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::policy::TOLERANCE_SIGMA;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Scalar};
use gradlab::watch::Watch;
use ndarray::Array2;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnose").join(name)
}

/// A fixture's `wrt` gradient (the bias as a 1 x k row).
fn grad(name: &str, wrt: LinearTensor) -> Array2<f64> {
    let file = fixture(name).join(format!("{}_grad.npy", if wrt == LinearTensor::Input { "x" } else { wrt.name() }));
    if wrt == LinearTensor::Bias {
        let g = gradlab::npy::read_float1(&file).unwrap();
        let k = g.len();
        g.into_shape_with_order((1, k)).unwrap()
    } else {
        gradlab::npy::read_float2(&file).unwrap()
    }
}

/// The diagnosis of `g` (a `wrt` gradient of `p`'s mean loss saved as float32) computed in `dtype`
/// as frameworks compute it (sums accumulated in f32 for narrower dtypes).
fn diag(p: &Problem, wrt: LinearTensor, g: &Array2<f64>, dtype: DType) -> Diagnosis {
    diag_with(p, wrt, g, Settings::new(Reduction::Mean, dtype))
}

fn diag_with(p: &Problem, wrt: LinearTensor, g: &Array2<f64>, settings: Settings) -> Diagnosis {
    let grad = if wrt == LinearTensor::Bias { g.row(0).to_owned().into_dyn() } else { g.clone().into_dyn() };
    let given = [Given { wrt, grad, file: DType::F32, name: format!("{wrt}") }];
    diagnose(p, &given, &settings, &Watch::unwatched()).unwrap()
}

/// Every committed correct gradient (PyTorch float32, bfloat16 and float16 at n from 10 to 4096,
/// MNIST-sized float32; gradlab's own in f16, bf16, f32 and f64) has a root mean square error of
/// at most 1/1.25 of the calibrated standard deviation and every element within half of the
/// element level; and the model is not vacuous: some tensor uses a fifth of it.
#[test]
fn the_tolerance_covers_every_correct_gradient_with_margin() {
    let mut all = fixture_ratios(&fixture("")).unwrap();
    assert!(all.len() >= 50, "{} tensors", all.len());
    all.extend(own_ratios());
    for r in &all {
        assert!(r.rms <= TOLERANCE_SIGMA / 1.25, "{} {}: rms {} of s", r.name, r.wrt, r.rms);
        let level = z_elements(r.elements) * TOLERANCE_SIGMA;
        assert!(r.max <= level / 2.0, "{} {}: largest {} of s, level {level}", r.name, r.wrt, r.max);
    }
    let largest = all.iter().map(|r| r.rms).fold(0.0, f64::max);
    assert!(largest >= TOLERANCE_SIGMA / 5.0, "the model is {:.1}x pessimistic everywhere", TOLERANCE_SIGMA / largest);
}

/// PyTorch's correct gradients are never called wrong, and in float32 always correct.
#[test]
fn pytorch_correct_gradients_are_never_wrong_and_correct_in_float32() {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for n in [10, 64, 512, 4096] {
        for (dtype_name, dtype) in [("float32", DType::F32), ("bfloat16", DType::BF16), ("float16", DType::F16)] {
            let name = format!("calibration/{dtype_name}_n{n}");
            let p = Problem::load(&fixture(&name)).unwrap();
            for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
                let d = diag(&p, wrt, &grad(&name, wrt), dtype);
                assert_ne!(d.verdict, Verdict::Wrong, "{name} {wrt}: {:?} {:?}", d.findings, d.worst.first());
                if dtype == DType::F32 {
                    assert_eq!(d.verdict, Verdict::Correct, "{name} {wrt}: {:?}", d.reason);
                }
                *counts.entry(format!("{dtype} {}", d.verdict)).or_default() += 1;
            }
        }
    }
    eprintln!("verdicts on PyTorch's correct gradients: {counts:?}");
}

/// bf16 at n = 512 (48 weight-gradient elements): PyTorch's W.grad is correct, its negation and
/// three times it are wrong, each named; its 3-element b.grad is inconclusive.
#[test]
fn bf16_at_n512_tells_a_negated_or_tripled_weight_gradient() {
    let p = Problem::load(&fixture("bf16_n512")).unwrap();
    let g = grad("bf16_n512", LinearTensor::Weight);
    assert_eq!(g.len(), 48);
    let d = diag(&p, LinearTensor::Weight, &g, DType::BF16);
    assert_eq!(d.verdict, Verdict::Correct, "{:?}", d.reason);
    let d = diag(&p, LinearTensor::Weight, &g.mapv(|v| -v), DType::BF16);
    assert_eq!((d.verdict, d.causes.first()), (Verdict::Wrong, Some(&Cause::WrongSign)), "{:?}", d.findings);
    let d = diag(&p, LinearTensor::Weight, &g.mapv(|v| 3.0 * v), DType::BF16);
    assert_eq!((d.verdict, d.causes.first()), (Verdict::Wrong, Some(&Cause::Scaled)), "{:?}", d.findings);
    assert!((d.factor - 3.0).abs() < 0.05, "factor {}", d.factor);
    // x.grad of the same run (1536 elements): correct too.
    let d = diag(&p, LinearTensor::Input, &grad("bf16_n512", LinearTensor::Input), DType::BF16);
    assert_eq!(d.verdict, Verdict::Correct, "input: {:?}", d.reason);
    // b.grad has 3 elements: bf16's rounding at n = 512 cannot tell it from twice it, so the
    // verdict has no power to say correct; it is inconclusive, says why and what to do.
    let d = diag(&p, LinearTensor::Bias, &grad("bf16_n512", LinearTensor::Bias), DType::BF16);
    assert_eq!(d.verdict, Verdict::Inconclusive, "bias: {:?}", d.reason);
    let reason = d.reason.unwrap_or_default();
    assert!(reason.contains("twice") && reason.contains("recompute this gradient in f32"), "{reason}");
}

/// MNIST-sized float32 (n = 4096, d = 784, k = 10): PyTorch's W.grad is correct, a uniform scale
/// of 1 + 1e-4 is `scaled` with its factor, and one element 1 % off is wrong with that element
/// named first.
#[test]
fn mnist_sized_float32_weight_gradients_are_told_apart() {
    let p = Problem::load(&fixture("mnist_f32")).unwrap();
    let g = grad("mnist_f32", LinearTensor::Weight);
    let d = diag(&p, LinearTensor::Weight, &g, DType::F32);
    assert_eq!(d.verdict, Verdict::Correct, "{:?}", d.reason);
    assert!(d.scale_resolution < 1e-5, "resolution {}", d.scale_resolution);
    let scaled = g.mapv(|v| (v * (1.0 + 1e-4)) as f32 as f64);
    let d = diag(&p, LinearTensor::Weight, &scaled, DType::F32);
    assert_eq!((d.verdict, d.causes.first()), (Verdict::Wrong, Some(&Cause::Scaled)), "{:?}", d.findings);
    assert!((d.factor - (1.0 + 1e-4)).abs() < 2e-6, "factor {}", d.factor);
    let mut one = g.clone();
    one[[3, 400]] = (one[[3, 400]] * 1.01) as f32 as f64;
    let d = diag(&p, LinearTensor::Weight, &one, DType::F32);
    assert_eq!((d.verdict, d.outside), (Verdict::Wrong, 1), "{:?}", d.findings);
    assert_eq!(d.worst[0].index, [3, 400]);
    // The bias gradient of the same run.
    assert_eq!(
        diag(&p, LinearTensor::Bias, &grad("mnist_f32", LinearTensor::Bias), DType::F32).verdict,
        Verdict::Correct
    );
}

/// In FP8 at n = 48 the rounding can swallow a sign: an all-zero, negated or 100 times W.grad is
/// never `correct`, and gradlab's own correct e4m3 and e5m2 gradients are never `wrong`.
#[test]
fn fp8_weight_gradients_are_never_correct_when_they_are_wrong() {
    let p = Problem::generate(48, 8, 3, 3).unwrap();
    for dtype in [DType::parse("e4m3").unwrap(), DType::parse("e5m2").unwrap()] {
        let own = gradlab::with_dtype!(dtype, |T, ctx| {
            let cfg = gradlab::train::TrainConfig::untrained(Reduction::Mean);
            let (tr, _) = gradlab::check::prepare::<T>(&p, ctx, &cfg, &Watch::unwatched()).unwrap();
            LinearTensor::Weight.analytic(&tr).map(|v| v.to_f64())
        });
        // gradlab's own gradient rounds every operation, sums included, to the dtype.
        let pure = Settings { reduction: Reduction::Mean, dtype, accumulate: dtype };
        let d = diag_with(&p, LinearTensor::Weight, &own, pure);
        assert_ne!(d.verdict, Verdict::Wrong, "{dtype} own: {:?}", d.findings);
        for (what, g) in [("zero", own.mapv(|_| 0.0)), ("negated", -&own), ("100x", &own * 100.0)] {
            let d = diag_with(&p, LinearTensor::Weight, &g, pure);
            assert_ne!(d.verdict, Verdict::Correct, "{dtype} {what}");
            let d = diag(&p, LinearTensor::Weight, &g, dtype);
            assert_ne!(d.verdict, Verdict::Correct, "{dtype} {what}");
            eprintln!("{dtype} {what}: {} {:?}", d.verdict, d.reason.as_deref().or(d.causes.first().map(|c| c.name())));
        }
    }
}

/// Parameters saved after `optimizer.step()` (the usual loop order): named `params_after_step`
/// with the learning rate (0.1), from x.grad alone, from W.grad and b.grad, from W.grad alone.
#[test]
fn parameters_saved_after_the_step_are_named_with_the_learning_rate() {
    let p = Problem::load(&fixture("params_after_step")).unwrap();
    for wrts in [
        &[LinearTensor::Input][..],
        &[LinearTensor::Weight, LinearTensor::Bias],
        &[LinearTensor::Weight],
        &[LinearTensor::Bias],
    ] {
        let given: Vec<Given> = wrts
            .iter()
            .map(|&wrt| {
                let g = grad("params_after_step", wrt);
                let g = if wrt == LinearTensor::Bias { g.row(0).to_owned().into_dyn() } else { g.into_dyn() };
                Given { wrt, grad: g, file: DType::F32, name: format!("{wrt}") }
            })
            .collect();
        let d = diagnose(&p, &given, &Settings::new(Reduction::Mean, DType::F32), &Watch::unwatched()).unwrap();
        assert_eq!(
            (d.verdict, d.causes.first()),
            (Verdict::Wrong, Some(&Cause::ParamsAfterStep)),
            "{wrts:?}: {:?}",
            d.findings
        );
        let lr = d.learning_rate.unwrap();
        assert!((lr / 0.1 - 1.0).abs() < 0.01, "{wrts:?}: lr {lr}");
        let text = d.findings[0].evidence.join(" ");
        assert!(text.contains("matches within rounding"), "{wrts:?}: {text}");
    }
}

/// A bf16 gradient saved as float32, diagnosed without `--dtype`: `dtype_mismatch`, naming bf16;
/// with `--dtype bf16` it is correct.
#[test]
fn a_bf16_gradient_saved_as_float32_is_named_dtype_mismatch() {
    let p = Problem::load(&fixture("dtype_mismatch")).unwrap();
    for wrt in [LinearTensor::Input, LinearTensor::Weight] {
        let g = grad("dtype_mismatch", wrt);
        let d = diag(&p, wrt, &g, DType::F32);
        assert_eq!(
            (d.verdict, d.causes.first()),
            (Verdict::Wrong, Some(&Cause::DtypeMismatch)),
            "{wrt}: {:?}",
            d.findings
        );
        assert_eq!(d.dtype, Some(DType::BF16));
        assert!(d.findings[0].evidence.iter().any(|e| e.contains("--dtype bf16")));
        assert_ne!(diag(&p, wrt, &g, DType::BF16).verdict, Verdict::Wrong);
    }
    // A float32 gradient is not a bf16 one: the correct fixture is correct as float32.
    let p = Problem::load(&fixture("correct_f32")).unwrap();
    assert_eq!(
        diag(&p, LinearTensor::Input, &grad("correct_f32", LinearTensor::Input), DType::F32).verdict,
        Verdict::Correct
    );
}

/// A 4-class b.grad (3 independent numbers) of a mean of micro-batch means: the exact partition
/// fits within rounding, so it is named, not an SGD step back that a one-parameter fit of three
/// numbers matches to first order by chance (the microbatch experiment's seeds that once did).
#[test]
fn a_few_bias_elements_name_the_microbatch_partition_not_a_step_back() {
    use gradlab::diagnose::microbatch::{combined_grad, Combine};
    for (sizes, seed) in [([17, 17, 17, 13], 3), ([21, 21, 21, 1], 11), ([21, 21, 21, 1], 16)] {
        let p = Problem::generate(64, 24, 4, seed).unwrap();
        let g = combined_grad(&p, &sizes, Combine::MeanOfMeans, LinearTensor::Bias);
        let d = diag(&p, LinearTensor::Bias, &g, DType::F64);
        assert_eq!(d.verdict, Verdict::Wrong);
        assert_eq!(d.causes.first(), Some(&Cause::MeanOfMicrobatchMeans), "seed {seed}: {:?}", d.findings);
        assert_eq!(d.microbatch_sizes.as_deref(), Some(&sizes[..]), "seed {seed}");
    }
}

/// bf16's summed-loss gradients at n = 512 (PyTorch, reduction='sum'): the factor n is named
/// `sum_instead_of_mean` alone, not a nearby whole number (486 and 516 fit within bf16's rounding
/// too) with `accumulated_over_steps`.
#[test]
fn a_bf16_sum_reduction_is_the_sum_not_a_nearby_whole_factor() {
    let p = Problem::load(&fixture("bf16_n512_sum")).unwrap();
    for wrt in [LinearTensor::Weight, LinearTensor::Bias] {
        let d = diag(&p, wrt, &grad("bf16_n512_sum", wrt), DType::BF16);
        assert_eq!(d.verdict, Verdict::Wrong, "{wrt}");
        assert_eq!(d.causes, [Cause::SumInsteadOfMean], "{wrt}: {:?}", d.findings);
    }
}
