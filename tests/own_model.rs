//! examples/own_model.rs, a user's model (logistic regression with an L2 term) on the generic
//! check: its backward against an independent reference (mpmath, tests/fixtures/own_model), its
//! check near 0 in f64, and a planted bug (the L2 term's factor 2 dropped) caught.

#[allow(dead_code)]
#[path = "../examples/own_model.rs"]
mod own_model;

use gradlab::check::{check_model, CheckConfig, CheckRow, Checked};
use gradlab::method::{Scheme, Steps};
use gradlab::model::{backward_truth, truth, Model};
use gradlab::scalar::{DType, Prec};
use gradlab::watch::Watch;
use own_model::{LogReg, Weight};
use rug::Float;

/// dL/dw from tests/fixtures/own_model/gradient.txt (50 digits, by reference.py).
fn reference() -> Vec<Float> {
    let text = include_str!("fixtures/own_model/gradient.txt");
    text.lines().map(|l| Float::with_val(256, Float::parse(l.trim()).unwrap())).collect()
}

fn rows(model: &LogReg, dtype: &str, steps: &str) -> Vec<CheckRow> {
    let cfg = CheckConfig {
        truth: Some(Prec::new(256).unwrap()),
        ..CheckConfig::seed(Scheme::Central, Steps::parse(steps).unwrap())
    };
    check_model(model, Weight, &Checked::new(cfg, DType::parse(dtype).unwrap()).unwrap(), &Watch::unwatched())
        .unwrap()
        .rows
}

/// The backward in f64 is the reference to a few ulps, and the truth (the loss differentiated by
/// dual numbers over MPFR at 256 bits, the f64 data taken exactly: a user's model gives no truth of
/// its own) to 1e-45 (the reference's own 50 digits), as is the backward over MPFR.
#[test]
fn backward_and_truth_match_an_independent_reference() {
    let (model, want) = (LogReg(2), reference());
    assert_eq!(want.len(), own_model::D);
    let (state, rounded) = model.state::<f64>(());
    assert_eq!(rounded, 0, "the f64 data are the data");
    let got = model.backward(&state, Weight, &Watch::unwatched()).unwrap();
    let exact = truth(&model, &state, Weight, Prec::new(256).unwrap(), &Watch::unwatched()).unwrap();
    let by_backward = backward_truth(&model, &state, Weight, Prec::new(256).unwrap(), &Watch::unwatched()).unwrap();
    for i in 0..own_model::D {
        let rel = |v: &Float| Float::with_val(256, v - &want[i]).abs().to_f64() / want[i].to_f64().abs();
        assert!(rel(&Float::with_val(53, got[[0, i]])) < 1e-14, "f64 element {i}: {} vs {}", got[[0, i]], want[i]);
        assert!(rel(&exact[[0, i]]) < 1e-45, "truth element {i}: {} vs {}", exact[[0, i]], want[i]);
        assert!(rel(&by_backward[[0, i]]) < 1e-45, "backward over MPFR, element {i}");
    }
}

/// In f64 at h = 1e-4 central differences agree with the analytic gradient to about h^2 and the
/// analytic gradient with the truth to rounding; at h = 1e-1 truncation shows (relerr > 1e-5).
#[test]
fn f64_check_is_near_zero_at_a_sensible_step() {
    let r = rows(&LogReg(2), "f64", "1e-1,1e-4");
    assert!(r[1].relerr_mean < 1e-7 && r[1].num_vs_truth < 1e-7, "{:?}", r[1]);
    assert!(r[1].anal_vs_truth < 1e-14, "{:?}", r[1]);
    assert!(r[0].relerr_mean > 1e-5, "truncation at 1e-1: {:?}", r[0]);
    assert_eq!(r[0].wrt, "weight");
}

/// The L2 term's factor 2 dropped from the backward: the numeric gradient (which differentiates
/// the loss) disagrees with the analytic one by far more than any step's error, in every dtype,
/// and the truth (dual numbers over the forward pass, which reads no backward) names the analytic
/// gradient as the wrong one: anal-vs-truth large, num-vs-truth at the step's error.
#[test]
fn a_dropped_factor_two_is_caught() {
    for dt in ["f32", "f64", "mpfr:128"] {
        let (good, bad) = (rows(&LogReg(2), dt, "1e-3"), rows(&LogReg(1), dt, "1e-3"));
        assert!(good[0].relerr_mean < 1e-2 && good[0].anal_vs_truth < 1e-4, "{dt}: {:?}", good[0]);
        assert!(bad[0].relerr_mean > 0.1 && bad[0].anal_vs_truth > 0.1, "{dt}: {:?}", bad[0]);
        assert!(bad[0].num_vs_truth < 1e-2, "{dt}: the numeric gradient is right: {:?}", bad[0]);
    }
    let (state, _) = LogReg(1).state::<f64>(());
    let got = LogReg(1).backward(&state, Weight, &Watch::unwatched()).unwrap();
    let want = reference();
    assert!((0..own_model::D).any(|i| (got[[0, i]] - want[i].to_f64()).abs() > 1e-3 * want[i].to_f64().abs()));
}
