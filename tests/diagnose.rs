//! src/diagnose/: a user's own gradient against the exact one (`diagnose`, `Reference`,
//! `diagnose_trained`). Its exact truth is the independent reference's and the MPFR truth's,
//! rounded to f64; a correct gradient is correct and a negated or summed one is named; a gradient
//! of the wrong shape or holding a NaN is refused in one sentence; the tolerance holds for
//! gradlab's own correct gradients in every dtype and is not vacuous; an accumulated x.grad is
//! named with its epochs and learning rate. (Its power and tolerance on
//! PyTorch's gradients: tests/diagnose_power.rs; the command line: crates/lab/tests/diagnose.rs.)

mod common;
use common::default_problem;
use common::reference::{problem, refs};
use gradlab::check::prepare;
use gradlab::diagnose::{diagnose, diagnose_trained, Cause, Given, Reference, Settings, Verdict};
use gradlab::exact::Decimal;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::Scalar;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::truth::truth_grad;
use gradlab::watch::Watch;
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// A folder of tests/fixtures/diagnose (gradients made by PyTorch, make_fixtures.py there).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnose").join(name)
}

/// `diagnose` agrees with the reference: its exact truth is the reference's (to f64's
/// rounding), the reference's own gradients rounded to f64 are correct, and ten times them is a
/// sum where the mean was meant (n = 10).
#[test]
fn diagnose_agrees_with_reference() {
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
        let d = diagnose(&p, &as_given(1.0), &s, &Watch::unwatched()).unwrap();
        assert_eq!(d.verdict, Verdict::Correct, "{wrt}: {:?}", d.findings);
        assert!(d.relerr < 1e-16, "{wrt}: relerr {}", d.relerr);
        for e in &d.worst {
            let ix = if wrt.is_vector() { (0, e.index[0]) } else { (e.index[0], e.index[1]) };
            let reference = want[ix].to_f64();
            assert_eq!(e.truth, reference, "{wrt} {ix:?}: diagnose's truth vs the reference rounded to f64");
            assert_eq!(e.given, reference);
        }
        let d = diagnose(&p, &as_given(10.0), &s, &Watch::unwatched()).unwrap();
        assert_eq!(d.verdict, Verdict::Wrong);
        assert_eq!(d.causes[0], Cause::SumInsteadOfMean, "{wrt}: {:?}", d.findings);
        assert!((d.factor - 10.0).abs() < 1e-14, "{wrt}: factor {}", d.factor);
    }
}

/// The diagnosis's exact truth (double-double arithmetic) is the MPFR truth at 256 bits rounded
/// to f64, element for element, for both reductions and every tensor it diagnoses.
#[test]
fn the_exact_truth_is_the_mpfr_truth_rounded_to_f64() {
    let p = Problem::generate(9, 5, 3, 8).unwrap();
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let (tr, _) = prepare::<f64>(&p, (), &TrainConfig::untrained(reduction), &Watch::unwatched()).unwrap();
        let r = Reference::new(&p, Settings::new(reduction, DType::F64), &Watch::unwatched()).unwrap();
        for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
            let want = truth_grad(&tr, reduction, wrt, Prec::new(256).unwrap(), &Watch::unwatched())
                .unwrap()
                .mapv(|v| v.to_f64());
            assert_eq!(r.truth(wrt), want, "{reduction} {wrt}");
        }
    }
}

/// The seed's trained state: its own weight gradient (f32) is correct, the same negated is a
/// wrong sign, and its accumulated x.grad is wrong by about E = 10.
#[test]
fn a_trained_states_gradients_are_told_correct_or_named() {
    let p = default_problem();
    let (tr, _) = prepare::<f32>(&p, (), &TrainConfig::seed(InputGrad::Reset), &Watch::unwatched()).unwrap();
    let g = tr.grad_weight.mapv(f64::from);
    let d = diagnose_trained(&tr, LinearTensor::Weight, &g, Reduction::Mean).unwrap();
    assert_eq!(d.verdict, Verdict::Correct, "{:?}", d.findings);
    let d = diagnose_trained(&tr, LinearTensor::Weight, &g.mapv(|v| -v), Reduction::Mean).unwrap();
    assert_eq!((d.verdict, d.causes.first()), (Verdict::Wrong, Some(&Cause::WrongSign)), "{:?}", d.findings);
    let (acc, _) = prepare::<f32>(&p, (), &TrainConfig::seed(InputGrad::Accumulate), &Watch::unwatched()).unwrap();
    let d = diagnose_trained(&acc, LinearTensor::Input, &acc.grad_x.mapv(f64::from), Reduction::Mean).unwrap();
    assert_eq!(d.verdict, Verdict::Wrong, "{:?}", d.findings);
    assert!((d.factor - 10.0).abs() < 0.5, "factor {}", d.factor);
}

/// A gradient whose shape is not its tensor's, or that holds a NaN, is refused in one sentence
/// naming what is wrong (never a panic, never a verdict).
#[test]
fn a_wrong_shape_or_a_nan_is_refused_in_one_sentence() {
    let p = default_problem();
    let r = Reference::new(&p, Settings::new(Reduction::Mean, DType::F32), &Watch::unwatched()).unwrap();
    let e = r.diagnose_one(LinearTensor::Weight, &Array2::zeros((4, 2))).expect_err("a transposed weight gradient");
    let text = e.to_string();
    assert!(text.contains("has shape [4, 2]") && text.contains("expected [2, 4]"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    let mut g = r.truth(LinearTensor::Input);
    g[[3, 1]] = f64::NAN;
    let text = r.diagnose_one(LinearTensor::Input, &g).expect_err("a NaN").to_string();
    assert!(text.contains("contains NaN at [3, 1]"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// The largest excess (|given - truth| / tolerance) of gradlab's own gradients of `p` in dtype
/// `T` at the given parameters, for every wrt at once; the verdict must never be `wrong`, and in
/// f32 and f64 it must be `correct`.
fn own_excess<T: Scalar>(p: &Problem, ctx: T::Ctx, reduction: Reduction) -> f64 {
    let cfg =
        TrainConfig { epochs: 0, lr: Decimal::parse("lr", "0").unwrap(), input_grad: InputGrad::Reset, reduction };
    let (tr, _) = prepare::<T>(p, ctx, &cfg, &Watch::unwatched()).unwrap();
    let dtype = T::dtype(ctx);
    let given: Vec<Given> = [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias]
        .iter()
        .map(|&wrt| {
            let a = wrt.analytic(&tr).map(|v| v.to_f64());
            let grad = if wrt.is_vector() { a.row(0).to_owned().into_dyn() } else { a.into_dyn() };
            Given { wrt, grad, file: DType::F64, name: format!("{wrt}") }
        })
        .collect();
    let d = diagnose(p, &given, &Settings { reduction, dtype, accumulate: dtype }, &Watch::unwatched()).unwrap();
    assert_ne!(d.verdict, Verdict::Wrong, "{dtype} {reduction}: {:?} {:?}", d.causes, d.worst.first());
    if dtype.bits() >= 24 {
        assert_eq!(d.verdict, Verdict::Correct, "{dtype} {reduction}: {:?}", d.reason);
    }
    d.largest_excess
}

/// The tolerance holds for gradlab's own correct gradients (a different summation order from
/// PyTorch's) in every dtype, over many problems, and it is not vacuous: the worst element uses a
/// visible part of it, and one element off by a relative 1e-4 in f32 (or 1e-12 in f64) fails.
#[test]
fn the_tolerance_holds_and_is_not_vacuous() {
    let mut worst = [0.0f64; 4];
    for seed in 0..12u64 {
        for (n, d, k) in [(10, 4, 2), (37, 9, 5), (128, 3, 10)] {
            let p = Problem::generate(n, d, k, seed).unwrap();
            for reduction in [Reduction::Mean, Reduction::Sum] {
                worst[0] = worst[0].max(own_excess::<half::f16>(&p, (), reduction));
                worst[1] = worst[1].max(own_excess::<half::bf16>(&p, (), reduction));
                worst[2] = worst[2].max(own_excess::<f32>(&p, (), reduction));
                worst[3] = worst[3].max(own_excess::<f64>(&p, (), reduction));
            }
        }
    }
    eprintln!(
        "largest excess over 72 problems: f16 {:.3}, bf16 {:.3}, f32 {:.3}, f64 {:.3}",
        worst[0], worst[1], worst[2], worst[3]
    );
    for (w, dt) in worst.iter().zip(["f16", "bf16", "f32", "f64"]) {
        assert!(*w <= 0.5 && *w > 1e-2, "{dt}: the worst correct element uses {w} of its tolerance");
    }
    // Sensitivity: a small relative error on one element is wrong, and named first.
    for (file, dtype, rel) in [("correct_f32", DType::F32, 1e-4), ("correct_f64", DType::F64, 1e-12)] {
        let p = Problem::load(&fixture(file)).unwrap();
        let g = gradlab::npy::read_float2(&fixture(file).join("weight_grad.npy")).unwrap();
        let mut bumped = g.clone();
        bumped[[1, 3]] *= 1.0 + rel;
        let s = Settings::new(Reduction::Mean, dtype);
        let given = |a: ndarray::Array2<f64>| {
            vec![Given { wrt: LinearTensor::Weight, grad: a.into_dyn(), file: dtype, name: "g".into() }]
        };
        assert_eq!(diagnose(&p, &given(g), &s, &Watch::unwatched()).unwrap().verdict, Verdict::Correct, "{file}");
        let d = diagnose(&p, &given(bumped), &s, &Watch::unwatched()).unwrap();
        assert_eq!((d.verdict, d.outside), (Verdict::Wrong, 1), "{file}: a relative {rel} on one element");
        assert_eq!(d.worst[0].index, [1, 3]);
        assert_eq!(d.causes, [Cause::Unexplained]);
        assert!(
            d.findings[0].evidence.iter().any(|e| e.contains("the departure sits in 1 element")),
            "{:?}",
            d.findings
        );
    }
}

/// The seed's loop with x.grad accumulated over `epochs` epochs of SGD at `lr`, the mean loss.
fn accumulating(epochs: usize, lr: &str) -> TrainConfig {
    TrainConfig {
        epochs,
        lr: Decimal::parse("lr", lr).unwrap(),
        input_grad: InputGrad::Accumulate,
        reduction: Reduction::Mean,
    }
}

/// gradlab's own accumulated x.grad (f32, the seed's protocol) over several seeds, numbers of
/// epochs and learning rates: named `accumulated_over_steps`, with the number of epochs and the
/// learning rate recovered (and, when E = n, `sum_instead_of_mean` second).
#[test]
fn accumulation_is_named_with_its_steps_across_problems() {
    for seed in 1..6u64 {
        for (epochs, lr) in [(10, "1e-3"), (4, "1e-2"), (25, "1e-3")] {
            let p = Problem::generate(10, 4, 2, seed).unwrap();
            let cfg = accumulating(epochs, lr);
            let (tr, _) = prepare::<f32>(&p, (), &cfg, &Watch::unwatched()).unwrap();
            // The data folder holds the final parameters; the gradient is x.grad.
            let fin = Problem {
                x: p.x.clone(),
                t: p.t.clone(),
                weight: tr.weight.mapv(|v| v as f64),
                bias: tr.bias.iter().map(|&v| v as f64).collect(),
            };
            let given = vec![Given {
                wrt: LinearTensor::Input,
                grad: tr.grad_x.mapv(|v| v as f64).into_dyn(),
                file: DType::F32,
                name: "x.grad".into(),
            }];
            let s = Settings::new(Reduction::Mean, DType::F32);
            let d = diagnose(&fin, &given, &s, &Watch::unwatched()).unwrap();
            let label = format!("seed {seed} E={epochs} lr={lr}");
            assert_eq!(d.causes[0], Cause::AccumulatedOverSteps, "{label}: {:?}", d.findings);
            assert_eq!(d.causes.len(), if epochs == 10 { 2 } else { 1 }, "{label}: {:?}", d.causes);
            let text = d.findings[0].evidence.join(" ");
            assert!(text.contains(&format!("whole number {epochs}")), "{label}: {text}");
            let est: f64 =
                text.split("estimated learning rate: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
            let want: f64 = lr.parse().unwrap();
            assert!((est / want - 1.0).abs() < 0.1, "{label}: estimated lr {est}");
        }
    }
}

/// gradlab's own accumulated x.grad at lr 0.3 over 3 epochs (f32 and f64: the f64 replay sums
/// double-double gradients): `accumulated_over_steps` with 3 steps; where the drift law does not
/// fit, the exact SGD replay names it with the learning rate to 2 % (in at least one seed per
/// dtype). Where the law fits first its first-order estimate stands (seed 2 in f32: 0.36).
#[test]
fn plain_sgd_beyond_the_law_is_replayed_with_its_steps_and_rate() {
    fn case<T: gradlab::scalar::Scalar<Ctx = ()>>(dtype: DType, seed: u64) -> bool {
        let p = Problem::generate(10, 4, 2, seed).unwrap();
        let cfg = accumulating(3, "0.3");
        let (tr, _) = prepare::<T>(&p, (), &cfg, &Watch::unwatched()).unwrap();
        let d = diagnose_trained(&tr, LinearTensor::Input, &tr.grad_x.mapv(|v| v.to_f64()), Reduction::Mean).unwrap();
        let label = format!("{dtype} seed {seed}");
        assert_eq!(d.causes, [Cause::AccumulatedOverSteps], "{label}: {:?}", d.findings);
        let acc = d.accumulation.unwrap();
        assert_eq!(acc.steps, 3, "{label}: {:?}", d.findings);
        let lr = acc.learning_rate.unwrap();
        assert_eq!(d.learning_rate, Some(lr), "{label}");
        let replayed = d.findings[0].evidence[0].contains("an exact replay of plain SGD fits");
        if replayed {
            assert!((lr / 0.3 - 1.0).abs() < 0.02, "{label}: lr {lr}");
        } else {
            assert!(d.findings[0].evidence.join(" ").contains("estimated learning rate"), "{label}: {:?}", d.findings);
        }
        replayed
    }
    let f32s: Vec<bool> = (1..5u64).map(|seed| case::<f32>(DType::F32, seed)).collect();
    let f64s: Vec<bool> = (1..5u64).map(|seed| case::<f64>(DType::F64, seed)).collect();
    assert!(f32s.contains(&true) && f64s.contains(&true), "replayed: f32 {f32s:?}, f64 {f64s:?}");
}

/// Far beyond the drift law's range (gradlab's f64 x.grad, seed 1: lr 3 over 20 epochs, lr 1
/// over 50), where the law leaves a fifth of the departure and no exact replay matches, the law's
/// count was 13 and 35 steps: the cause is named without a count or a learning rate, saying why.
/// Within the law's first order the count is named (`accumulation_is_named_with_its_steps_across_problems`).
#[test]
fn an_unresolved_count_is_not_reported() {
    for (epochs, lr) in [(20, "3"), (50, "1")] {
        let cfg = accumulating(epochs, lr);
        let (tr, _) = prepare::<f64>(&Problem::generate(10, 4, 2, 1).unwrap(), (), &cfg, &Watch::unwatched()).unwrap();
        let d = diagnose_trained(&tr, LinearTensor::Input, &tr.grad_x, Reduction::Mean).unwrap();
        let label = format!("E {epochs} lr {lr}");
        assert_eq!(d.causes, [Cause::AccumulatedOverSteps], "{label}: {:?}", d.findings);
        assert_eq!((d.steps, d.learning_rate, d.accumulation), (None, None, None), "{label}");
        let text = d.findings[0].evidence.join(" ");
        assert!(text.contains("neither the count nor the learning rate is resolved"), "{label}: {text}");
        assert!(!text.contains("estimated learning rate"), "{label}: {text}");
    }
}

/// A loop that steps after its last backward pass too (saved after that step): the law's count
/// stands, its first learning rate is (E + 1) / (E - 1) times the true one, and the second
/// reading the evidence gives (a = lr c (c + 1) / 2) recovers it (f64, lr 1e-3, seeds 1 to 3).
#[test]
fn a_step_after_the_last_backward_pass_is_the_second_learning_rate() {
    for seed in 1..4u64 {
        let (epochs, lr) = (10usize, 1e-3);
        let p = Problem::generate(10, 4, 2, seed).unwrap();
        let cfg = accumulating(epochs, "1e-3");
        let (tr, _) = prepare::<f64>(&p, (), &cfg, &Watch::unwatched()).unwrap();
        // One more SGD step with the last backward pass's parameter gradients.
        let stepped = Problem {
            x: p.x.clone(),
            t: p.t.clone(),
            weight: &tr.weight - &(&tr.grad_weight * lr),
            bias: tr.bias.iter().zip(&tr.grad_bias).map(|(b, g)| b - lr * g).collect(),
        };
        let given = vec![Given {
            wrt: LinearTensor::Input,
            grad: tr.grad_x.clone().into_dyn(),
            file: DType::F64,
            name: "x.grad".into(),
        }];
        let d = diagnose(&stepped, &given, &Settings::new(Reduction::Mean, DType::F64), &Watch::unwatched()).unwrap();
        let text = d.findings[0].evidence.join(" ");
        assert_eq!((d.causes[0], d.steps), (Cause::AccumulatedOverSteps, Some(epochs)), "seed {seed}: {text}");
        let number =
            |after: &str| -> f64 { text.split(after).nth(1).unwrap().split(' ').next().unwrap().parse().unwrap() };
        let (first, second) = (number("estimated learning rate: "), number("gradients), or "));
        let e = epochs as f64;
        assert!((first / lr / ((e + 1.0) / (e - 1.0)) - 1.0).abs() < 0.03, "seed {seed}: first {first}");
        assert!((second / lr - 1.0).abs() < 0.03, "seed {seed}: second {second}");
    }
}
