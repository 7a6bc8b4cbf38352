//! Mixed dtypes `S+C` (autocast-like): parsing and its errors, the storage semantics on
//! constructed cases, and the whole protocol bit for bit against an independent Python reference
//! (`tests/fixtures/mixed/make_mixed_reference.py`).

mod common;

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::exact::Decimal;
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::cross_entropy::total_loss;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Format, Mixed, Scalar};
use gradlab::train::{train, InputGrad, TrainConfig, Trained};
use gradlab::watch::Watch;
use ndarray::{array, Array1, Array2};
use std::collections::HashMap;
use std::path::Path;

#[test]
fn mixed_names_parse_and_print_back() {
    for (text, name, bits, value_bits) in [
        ("bf16+f32", "bf16+f32", 8, 24),
        ("f16+f32", "f16+f32", 11, 24),
        ("tf32+f32", "tf32+f32", 11, 24),
        ("e4m3+f32", "e4m3+f32", 4, 24),
        ("e5m2+f32", "e5m2+f32", 3, 24),
        ("f32+f64", "f32+f64", 24, 53),
        ("ieee:5:10+f32", "f16+f32", 11, 24),
        ("ieee:6:9+f64", "ieee:6:9+f64", 10, 53),
        (" bf16 + f64 ", "bf16+f64", 8, 53),
    ] {
        let dt = DType::parse(text).unwrap();
        assert_eq!(dt.name(), name);
        assert_eq!(DType::parse(&dt.name()).unwrap(), dt, "{name} parses back");
        assert_eq!((dt.bits(), dt.value_bits()), (bits, value_bits), "{name}");
    }
    assert_eq!(DType::parse("bf16+f32").unwrap().storage(), Some(Format::ieee(8, 7).unwrap()));
    assert_eq!(DType::parse("bf16+f32").unwrap().label(), "bf16+f32");
    assert_eq!(DType::parse("ieee:6:9+f64").unwrap().label(), "ieee6m9+f64");
}

#[test]
fn bad_mixed_names_get_one_sentence() {
    for (text, says) in [
        ("bf16+", "both S and C must be named"),
        ("+f32", "both S and C must be named"),
        ("f32+f16", "\"f16\" is not f32 or f64"),
        ("bf16+bf16", "\"bf16\" is not f32 or f64"),
        ("e4m3+f16", "\"f16\" is not f32 or f64"),
        ("f32+f32", "f32 has 24 bits, so C needs at least 48, and f32 has 24"),
        ("ieee:8:12+f32", "has 13 bits, so C needs at least 26"),
        ("f64+f64", "f64 has 53 bits"),
        ("ieee:11:10+f32", "exponent range exceeds f32's"),
        ("mpfr:24+f64", "\"mpfr:24\" is not a binary storage format"),
        ("f8+f32", "\"f8\" is not a storage format"),
        ("bf16+f32+f64", "is not f32 or f64"),
    ] {
        let e = DType::parse(text).unwrap_err().to_string();
        assert!(e.contains(says), "{text}: {e}");
        assert!(e.starts_with(&format!("invalid dtype {text:?}")), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

/// A trained state of `dtype` on `p` (epochs, lr as given; accumulate; mean).
fn trained<T: Scalar>(p: &Problem, ctx: T::Ctx, epochs: usize, lr: &str, mode: InputGrad) -> Trained<T> {
    let cfg =
        TrainConfig { epochs, lr: Decimal::parse("lr", lr).unwrap(), input_grad: mode, reduction: Reduction::Mean };
    train(&p.cast::<T>(ctx), &p.t, &cfg, ctx, &Watch::unwatched()).unwrap()
}

fn bf16() -> &'static gradlab::scalar::ieee::Spec {
    Format::ieee(8, 7).unwrap().spec()
}

#[test]
fn a_logit_is_summed_in_c_then_stored_in_s() {
    // x = (1, 2^-8, 2^-8, 0) against w = (1, 1, 1, 1): the pairwise sum (1 + 2^-8) + (2^-8 + 0)
    // is 1 + 2^-7 in f32, a bf16 value; in bf16 the first sum rounds to 1 (ties to even), and
    // 1 + 2^-8 again to 1.
    let q = 2f64.powi(-8);
    let p = Problem {
        x: array![[1.0, q, q, 0.0]],
        t: vec![0],
        weight: array![[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]],
        bias: Array1::from(vec![0.0, 0.0]),
    };
    let mixed = trained::<Mixed<f32>>(&p, bf16(), 0, "1e-3", InputGrad::Reset);
    let pure = trained::<half::bf16>(&p, (), 0, "1e-3", InputGrad::Reset);
    assert_eq!(mixed.logits[[0, 0]].to_f64(), 1.0 + 2.0 * q);
    assert_eq!(pure.logits[[0, 0]].to_f64(), 1.0);
    // The storage format rounds the stored logit: with x = (1, 2^-9, 2^-9, 0) the f32 sum
    // 1 + 2^-8 is a midpoint of bf16 and is stored as 1.
    let mut p2 = p.clone();
    p2.x = array![[1.0, q / 2.0, q / 2.0, 0.0]];
    let mixed = trained::<Mixed<f32>>(&p2, bf16(), 0, "1e-3", InputGrad::Reset);
    assert_eq!(mixed.logits[[0, 0]].to_f64(), 1.0);
}

/// Whether `v` is a bf16 value.
fn is_bf16(v: f64) -> bool {
    f64::from(half::bf16::from_f64(v).to_f32()) == v || v.is_nan()
}

#[test]
fn every_stored_value_is_a_value_of_s() {
    let p = Problem::generate(16, 6, 3, 7).unwrap();
    let tr = trained::<Mixed<f32>>(&p, bf16(), 10, "1e-1", InputGrad::Accumulate);
    let all = [&tr.x, &tr.weight, &tr.logits, &tr.grad_logits, &tr.grad_x, &tr.grad_weight];
    for a in all {
        assert!(a.iter().all(|v| is_bf16(v.to_f64())), "{a:?}");
    }
    assert!(tr.bias.iter().chain(&tr.grad_bias).all(|v| is_bf16(v.to_f64())));
    // Those values are not f32's: the f32+f32 training would differ (it is refused as a mixed
    // dtype), and so does the pure bf16 one.
    let pure = trained::<half::bf16>(&p, (), 10, "1e-1", InputGrad::Accumulate);
    let differ = tr.grad_x.iter().zip(&pure.grad_x).filter(|(a, b)| a.to_f64() != b.to_f64()).count();
    assert!(differ > 0, "bf16+f32 and bf16 should differ somewhere");
    // Every perturbed value and the effective step are stored: a numeric gradient's effective
    // steps are bf16 values.
    let setup = Setup {
        trained: &tr,
        reduction: Reduction::Mean,
        stencil: Scheme::Central.stencil(),
        wrt: LinearTensor::Input,
    };
    let num = numeric_grad(&setup, &Decimal::parse("step", "3e-3").unwrap(), false);
    assert!(num.effective_step.iter().all(|v| is_bf16(v.to_f64())));
    assert!(num.effective_step.iter().any(|v| v.to_f64() != 3e-3f32 as f64));
}

#[test]
fn x_grad_accumulates_in_s() {
    // The accumulated x.grad is stored after every epoch: with one epoch per run, summing the
    // epochs' gradients in f32 and rounding once gives a different value for some element.
    let p = Problem::generate(16, 6, 3, 3).unwrap();
    let acc = trained::<Mixed<f32>>(&p, bf16(), 6, "1e-1", InputGrad::Accumulate);
    // The per-epoch gradients: training for e + 1 epochs with reset gives epoch e's x.grad.
    let mut once = Array2::<f32>::zeros(acc.grad_x.dim());
    let mut stepwise = Array2::<f32>::zeros(acc.grad_x.dim());
    for e in 0..6 {
        let tr = trained::<Mixed<f32>>(&p, bf16(), e + 1, "1e-1", InputGrad::Reset);
        once.zip_mut_with(&tr.grad_x, |a, g| *a += g.value());
        stepwise.zip_mut_with(&tr.grad_x, |a, g| {
            *a += g.value();
            *a = half::bf16::from_f32(*a).to_f32();
        });
    }
    for (a, s) in acc.grad_x.iter().zip(&stepwise) {
        assert_eq!(a.value(), *s);
    }
    assert!(once.iter().zip(&stepwise).any(|(o, s)| half::bf16::from_f32(*o).to_f32() != *s));
}

#[test]
fn master_weights_keep_updates_smaller_than_half_an_ulp_of_s() {
    // lr |g| is far below half an ulp of f32 for most weights (|w| ~ 0.3, ulp 3e-8; the
    // gradients are ~0.1, lr = 2e-8): pure f32 SGD loses those updates, f32+f64's master
    // weights add them up and the stored weights move.
    let p = Problem::generate(10, 4, 2, 1).unwrap();
    let initial = p.weight.clone();
    let moved = |w: Vec<f64>| w.iter().zip(&initial).filter(|(a, b)| a != b).count();
    let f32s = trained::<f32>(&p, (), 60, "2e-8", InputGrad::Reset);
    let f64_spec = Format::ieee(8, 23).unwrap().spec();
    let mixed = trained::<Mixed<f64>>(&p, f64_spec, 60, "2e-8", InputGrad::Reset);
    let (m_f32, m_mixed) = (
        moved(f32s.weight.iter().map(|v| f64::from(*v)).collect()),
        moved(mixed.weight.iter().map(|v| v.to_f64()).collect()),
    );
    assert!(m_mixed > m_f32, "f32+f64 moved {m_mixed} weights, f32 {m_f32}");
    assert!(mixed.weight.iter().all(|v| (v.to_f64() as f32) as f64 == v.to_f64()));
}

/// The fixture's expected tensors, by name.
fn expected(name: &str) -> HashMap<String, Vec<f64>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/mixed/expected_{name}.txt"));
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next().unwrap().to_string();
            (key, it.map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

fn agrees_with_python<T: Scalar>(name: &str, ctx: T::Ctx) {
    let p = Problem::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mixed")).unwrap();
    let want = expected(name);
    let tr = trained::<T>(&p, ctx, 3, "0.25", InputGrad::Accumulate);
    let flat = |a: &Array2<T>| a.iter().map(Scalar::to_f64).collect::<Vec<f64>>();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    let scale = Reduction::Mean.scale::<T>(p.t.len(), ctx);
    let loss = total_loss(tr.logits.view(), &tr.t, scale.as_ref(), ctx).to_f64();
    let got = [
        ("weight", flat(&tr.weight)),
        ("bias", tr.bias.iter().map(Scalar::to_f64).collect()),
        ("logits", flat(&tr.logits)),
        ("grad_logits", flat(&tr.grad_logits)),
        ("grad_x", flat(&tr.grad_x)),
        ("grad_weight", flat(&tr.grad_weight)),
        ("grad_bias", tr.grad_bias.iter().map(Scalar::to_f64).collect()),
        ("loss", vec![loss]),
    ];
    for (key, v) in got {
        assert_eq!(bits(&v), bits(&want[key]), "{name} {key}: {v:?} vs {:?}", want[key]);
    }
    let setup = Setup {
        trained: &tr,
        reduction: Reduction::Mean,
        stencil: Scheme::Central.stencil(),
        wrt: LinearTensor::Input,
    };
    for naive in [false, true] {
        let num = numeric_grad(&setup, &Decimal::parse("step", "0.125").unwrap(), naive);
        assert_eq!(bits(&flat(&num.grad)), bits(&want["numeric_input"]), "{name} numeric (naive: {naive})");
    }
}

#[test]
fn training_and_gradients_equal_the_python_reference_bit_for_bit() {
    agrees_with_python::<Mixed<f32>>("bf16+f32", bf16());
    agrees_with_python::<Mixed<f64>>("f32+f64", Format::ieee(8, 23).unwrap().spec());
}

#[test]
fn every_stencil_scheme_and_wrt_runs_and_fast_equals_naive() {
    let p = Problem::generate(12, 5, 3, 2).unwrap();
    for dt in ["bf16+f32", "e4m3+f32", "f16+f32", "f32+f64"] {
        let dt = DType::parse(dt).unwrap();
        for scheme in [Scheme::Forward, Scheme::Backward, Scheme::Central, Scheme::Central5, Scheme::Ridders] {
            for &wrt in LinearTensor::ALL {
                let mut cfg = CheckConfig {
                    keep_grads: true,
                    ..common::config(3, InputGrad::Accumulate, scheme, "1,1e-1,1e-2", Some(256))
                };
                let fast = check_dtype(&p, wrt, dt, &cfg, &Watch::unwatched()).unwrap();
                cfg.naive = true;
                let naive = check_dtype(&p, wrt, dt, &cfg, &Watch::unwatched()).unwrap();
                assert_eq!(common::gradient_bits(&fast), common::gradient_bits(&naive), "{dt} {scheme} {wrt}");
                assert!(fast.rows.iter().all(|r| r.anal_vs_truth.is_finite()), "{dt} {scheme} {wrt}");
            }
        }
    }
}

#[test]
fn complex_step_and_dual_numbers_are_refused_for_mixed_dtypes() {
    let p = common::default_problem();
    for scheme in [Scheme::Complex, Scheme::Dual] {
        let cfg = common::config(10, InputGrad::Reset, scheme, "1e-3", Some(256));
        let e = check_dtype(&p, LinearTensor::Input, DType::parse("bf16+f32").unwrap(), &cfg, &Watch::unwatched())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bf16+f32") && e.contains("storage format"), "{e}");
        assert!(check_dtype(&p, LinearTensor::Input, DType::BF16, &cfg, &Watch::unwatched()).is_ok());
    }
}
