//! src/check.rs, the seed's protocol for one dtype (`check_dtype`): rows carry the configured
//! steps in order; the accumulated input gradient shows its factor (the plateau at 1 - 1/E, the
//! ratio E) while the weight's does not; the truth tells which side is wrong; the correct
//! gradient's accuracy; the configuration refuses a truth no more precise than a dtype; the
//! analytic gradient and truth it keeps agree with the independent reference
//! (tests/common/reference.rs). Whole checks compared across dtypes: tests/hardware_vs_mpfr.rs,
//! tests/format_identity.rs, tests/mixed.rs.

mod common;
use common::reference::{assert_close, problem, refs};
use common::*;
use gradlab::check::{check_dtype, CheckConfig, Checked};
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::scalar::{DType, Prec};
use gradlab::train::InputGrad;
use gradlab::watch::Watch;

#[test]
fn accumulated_input_gradient_plateaus_at_one_minus_one_over_e() {
    let p = default_problem();
    for (epochs, dtypes) in
        [(10, &["f32", "f64", "mpfr:128"][..]), (2, &["f32", "f64"][..]), (5, &["f64"][..]), (20, &["f32", "f64"][..])]
    {
        let cfg = config(epochs, InputGrad::Accumulate, Scheme::Central, "1e0,1e-1,1e-2,1e-3", None);
        let plateau = 1.0 - 1.0 / epochs as f64;
        for dt in dtypes {
            for r in rows(&p, dt, &cfg) {
                assert!(
                    (r.relerr_mean - plateau).abs() < 0.01,
                    "{dt} E={epochs} eps={}: {} not within 0.01 of {plateau}",
                    r.eps,
                    r.relerr_mean
                );
                // The ratio analytic/numeric names the factor.
                assert!(
                    (r.ratio_median - epochs as f64).abs() < 0.05 * epochs as f64,
                    "{dt} E={epochs}: ratio {}",
                    r.ratio_median
                );
            }
        }
    }
}

#[test]
fn truth_tells_which_gradient_is_wrong() {
    let p = default_problem();
    let cfg = config(10, InputGrad::Accumulate, Scheme::Central, "1e-2", Some(256));
    let r = &rows(&p, "f64", &cfg)[0];
    // About 10 times the truth: |10 t - t| / |t| = 9 (the ordinary relative error, no cap).
    assert!((r.anal_vs_truth - 9.0).abs() < 0.1, "analytic vs truth {}", r.anal_vs_truth);
    assert!(r.num_vs_truth < 1e-5, "numeric vs truth {}", r.num_vs_truth);
}

#[test]
fn correct_gradient_is_accurate_in_f64_and_mpfr() {
    let p = default_problem();
    let r = &rows(&p, "f64", &config(10, InputGrad::Reset, Scheme::Central, "1e-5", Some(256)))[0];
    assert!(r.relerr_median < 1e-9, "f64 median {}", r.relerr_median);
    assert!(r.relerr_mean < 1e-7, "f64 mean {}", r.relerr_mean);
    assert!(r.anal_vs_truth < 1e-14, "f64 analytic vs truth {}", r.anal_vs_truth);
    let r = &rows(&p, "mpfr:256", &config(10, InputGrad::Reset, Scheme::Central, "1e-20", Some(512)))[0];
    assert!(r.relerr_mean < 1e-30, "mpfr:256 mean {}", r.relerr_mean);
    assert!(r.anal_vs_truth < 1e-70, "mpfr:256 analytic vs truth {}", r.anal_vs_truth);
}

#[test]
fn five_point_stencil_beats_central_in_f64() {
    let p = default_problem();
    let best = |s| {
        rows(&p, "f64", &config(10, InputGrad::Reset, s, SEED_EPS, None))
            .iter()
            .map(|r| r.relerr_mean)
            .fold(f64::INFINITY, f64::min)
    };
    let (c, c5) = (best(Scheme::Central), best(Scheme::Central5));
    assert!(c5 < c, "five-point best {c5} should beat central best {c}");
}

#[test]
fn epochs_zero_checks_the_given_parameters() {
    let p = default_problem();
    for mode in [InputGrad::Reset, InputGrad::Accumulate] {
        let r = &rows(&p, "f64", &config(0, mode, Scheme::Central, "1e-5", None))[0];
        assert!(r.relerr_mean < 1e-7, "{mode}: {}", r.relerr_mean);
    }
}

/// One row per configured step, in the order given (not sorted), each carrying the step's text
/// and the configuration; dual numbers, which take no step, give one row.
#[test]
fn rows_carry_the_configured_steps_in_order() {
    let p = default_problem();
    let steps = ["1e-1", "3e-4", "1e-2", "0.005"];
    for dt in ["f32", "mpfr:64", "bf16+f32"] {
        for (scheme, mode) in [(Scheme::Central, InputGrad::Reset), (Scheme::Forward, InputGrad::Accumulate)] {
            let cfg = config(3, mode, scheme, &steps.join(","), None);
            let r = check_dtype(&p, LinearTensor::Weight, DType::parse(dt).unwrap(), &cfg, &Watch::unwatched())
                .unwrap()
                .rows;
            let got: Vec<&str> = r.iter().map(|r| r.eps.decimal().expect("a fixed step").text()).collect();
            assert_eq!(got, steps, "{dt} {scheme}");
            for row in &r {
                assert_eq!(
                    (row.dtype, row.scheme, row.wrt.as_str(), row.input_grad),
                    (DType::parse(dt).unwrap(), scheme, "weight", mode),
                    "{dt} {scheme}"
                );
            }
        }
    }
    let r = rows(&p, "f64", &config(3, InputGrad::Reset, Scheme::Dual, "1e-1,1e-2", None));
    assert_eq!(r.len(), 1, "dual numbers take no step: one row");
    assert!(r[0].eps == gradlab::method::RowStep::None && r[0].relerr_mean < 1e-13, "{:?}", r[0]);
}

/// Only x.grad accumulates across epochs: in accumulate mode the weight and bias gradients are
/// the last epoch's, so their ratio to the numeric gradient stays 1 where the input's is E.
#[test]
fn only_the_input_gradient_accumulates() {
    let p = default_problem();
    for (wrt, factor) in [
        (LinearTensor::Input, 10.0),
        (LinearTensor::Weight, 1.0),
        (LinearTensor::Bias, 1.0),
        (LinearTensor::Logits, 1.0),
    ] {
        let cfg = config(10, InputGrad::Accumulate, Scheme::Central, "1e-3", None);
        let r = &check_dtype(&p, wrt, DType::F64, &cfg, &Watch::unwatched()).unwrap().rows[0];
        assert!((r.ratio_median - factor).abs() < 0.05 * factor, "{wrt}: ratio {} not about {factor}", r.ratio_median);
    }
}

/// `Checked::new` refuses a truth that is not more precise than the dtype checked (for several
/// dtypes: the widest), in one sentence naming the precision and the dtype, and accepts one bit
/// more.
#[test]
fn checked_refuses_a_truth_not_more_precise_than_the_dtype() {
    let cfg = |bits: u32| CheckConfig {
        truth: Some(Prec::new(bits).unwrap()),
        ..config(10, InputGrad::Reset, Scheme::Central, "1e-3", None)
    };
    let dt = |names: &[&str]| names.iter().map(|n| DType::parse(n).unwrap()).collect::<Vec<_>>();
    for (dtypes, widest, bits) in [
        (dt(&["f64"]), "f64", 53),
        (dt(&["f16", "f32"]), "f32", 24),
        (dt(&["bf16", "mpfr:200"]), "mpfr:200", 200),
        (dt(&["bf16+f32"]), "bf16+f32", 24),
    ] {
        for b in [bits, bits / 2] {
            let e = dtypes
                .iter()
                .find_map(|&d| Checked::new(cfg(b), d).err())
                .expect("a truth no more precise than the dtype");
            let text = e.to_string();
            assert!(text.contains("--truth-bits") && text.contains(&format!("\"{b}\"")), "{text}");
            assert!(text.contains(&format!("({widest}, {bits} bits)")), "{text}");
            assert_eq!(text.lines().count(), 1, "one sentence: {text}");
        }
        assert!(dtypes.iter().all(|&d| Checked::new(cfg(bits + 1), d).is_ok()), "{widest}: {} bits", bits + 1);
    }
}

/// `check_dtype` with `--wrt weight` and `bias`: its analytic gradient (f64, after E = 10
/// epochs) and its truth (at the given parameters, E = 0) agree with the reference.
#[test]
fn check_of_weight_and_bias_agrees_with_reference() {
    let p = problem();
    let r = refs();
    for (epochs, wrt, want, truth) in [
        (10, LinearTensor::Weight, &r.weight, None),
        (10, LinearTensor::Bias, &r.bias, None),
        (0, LinearTensor::Weight, &r.weight_e0, Some(&r.weight_e0)),
        (0, LinearTensor::Bias, &r.bias_e0, Some(&r.bias_e0)),
    ] {
        let cfg = CheckConfig {
            keep_grads: true,
            ..config(epochs, InputGrad::Accumulate, Scheme::Central, "1e-5", Some(256))
        };
        let res = check_dtype(&p, wrt, DType::F64, &cfg, &Watch::unwatched()).unwrap();
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
