//! f32 is mpfr:24 and f64 is mpfr:53: with every operation one correct rounding (exp and ln
//! included, through CORE-MATH), a whole check gives the same rows in the hardware type and in
//! MPFR at its precision, field by field (the dtype aside), for every scheme, wrt, input-grad
//! mode and reduction, on several seeds and sizes. Where the exponent ranges differ (f32's and
//! f64's subnormals and overflow; MPFR's range is practically unbounded) the rows must differ,
//! and do.

mod common;

use gradlab::check::{check_dtype, CheckConfig, CheckRow, DTypeCheck};
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::InputGrad;
use gradlab::watch::Watch;

fn config(scheme: Scheme, input_grad: InputGrad, reduction: Reduction, steps: &str) -> CheckConfig {
    common::identity_config(scheme, input_grad, reduction, steps, 256)
}

/// Whether two f64 fields are the same number: equal bits, or both NaN.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The fields of two rows that differ, the dtype aside. Every field is named, so a new
/// column must be added here.
fn differences(a: &CheckRow, b: &CheckRow) -> Vec<&'static str> {
    let CheckRow {
        dtype: _,
        scheme,
        wrt,
        input_grad,
        eps,
        relerr_mean,
        relerr_median,
        relerr_max,
        zero_over_zero,
        dead_zone,
        num_vs_truth,
        anal_vs_truth,
        ratio_median,
        nonfinite,
        anal_underflow,
        status,
        loss_flat,
        est_error,
        est_bounds,
        truth_zero,
    } = a;
    let mut diff = Vec::new();
    let mut exact = |name, equal: bool| {
        if !equal {
            diff.push(name);
        }
    };
    exact("scheme", *scheme == b.scheme);
    exact("wrt", *wrt == b.wrt);
    exact("input_grad", *input_grad == b.input_grad);
    exact("eps", *eps == b.eps);
    exact("est_error", est_error.map(f64::to_bits) == b.est_error.map(f64::to_bits));
    exact("est_bounds", *est_bounds == b.est_bounds);
    exact("relerr_mean", same(*relerr_mean, b.relerr_mean));
    exact("relerr_median", same(*relerr_median, b.relerr_median));
    exact("relerr_max", same(*relerr_max, b.relerr_max));
    exact("zero_over_zero", *zero_over_zero == b.zero_over_zero);
    exact("dead_zone", *dead_zone == b.dead_zone);
    exact("num_vs_truth", same(*num_vs_truth, b.num_vs_truth));
    exact("anal_vs_truth", same(*anal_vs_truth, b.anal_vs_truth));
    exact("truth_zero", *truth_zero == b.truth_zero);
    exact("ratio_median", same(*ratio_median, b.ratio_median));
    exact("nonfinite", *nonfinite == b.nonfinite);
    exact("anal_underflow", *anal_underflow == b.anal_underflow);
    exact("status", *status == b.status);
    exact("loss_flat", *loss_flat == b.loss_flat);
    diff
}

#[test]
fn f32_is_mpfr24_and_f64_is_mpfr53_for_every_scheme_wrt_mode_and_reduction() {
    let problems: Vec<Problem> = [(10, 4, 2, 1), (10, 4, 2, 2), (7, 5, 3, 3), (12, 9, 4, 4)]
        .into_iter()
        .map(|(n, d, k, seed)| Problem::generate(n, d, k, seed).unwrap())
        .collect();
    let pairs = [(DType::F32, DType::parse("mpfr:24").unwrap()), (DType::F64, DType::parse("mpfr:53").unwrap())];
    let mut compared = 0;
    for scheme in Scheme::ALL {
        for &wrt in LinearTensor::ALL {
            for &input_grad in InputGrad::ALL {
                for &reduction in Reduction::ALL {
                    let cfg = config(scheme, input_grad, reduction, gradlab::policy::SEED_STEPS);
                    for (p, problem) in problems.iter().enumerate() {
                        for (hw, mp) in pairs {
                            let a = check_dtype(problem, wrt, hw, &cfg, &Watch::unwatched()).unwrap();
                            let b = check_dtype(problem, wrt, mp, &cfg, &Watch::unwatched()).unwrap();
                            let case = format!("{hw} vs {mp}, {scheme:?} {wrt} {input_grad} {reduction}, problem {p}");
                            assert_eq!(a.rows.len(), b.rows.len(), "{case}");
                            for (ra, rb) in a.rows.iter().zip(&b.rows) {
                                assert!(
                                    differences(ra, rb).is_empty(),
                                    "{case} at {}: {:?}",
                                    ra.eps,
                                    differences(ra, rb)
                                );
                                compared += 1;
                            }
                            assert!(common::gradient_bits(&a) == common::gradient_bits(&b), "{case}: gradients differ");
                        }
                    }
                }
            }
        }
    }
    assert_eq!(compared, Scheme::ALL.len() * LinearTensor::ALL.len() * 2 * 2 * 4 * 2 * 9);
}

/// A problem whose logits spread over about +-`scale` (x scaled by `scale`; weights within
/// +-1/sqrt(d)).
fn scaled(scale: f64) -> Problem {
    let mut p = Problem::generate(8, 4, 3, 5).unwrap();
    p.x.mapv_inplace(|v| v * scale);
    p
}

/// Where the exponent ranges differ, so do the rows: softmax exponentials below 2^-126 are
/// subnormal (or 0) in f32 but keep 24 bits in mpfr:24 (likewise 2^-1022 for f64), and sums
/// beyond f32::MAX overflow to infinity in f32 but stay finite in mpfr:24.
#[test]
fn subnormal_and_overflowing_results_are_where_hardware_and_mpfr_differ() {
    let cfg = config(Scheme::Central, InputGrad::Reset, Reduction::Mean, "1e-2");
    for (scale, hw, mp) in [(300.0, DType::F32, "mpfr:24"), (3000.0, DType::F64, "mpfr:53")] {
        let problem = scaled(scale);
        let (a, b) = (
            check_dtype(&problem, LinearTensor::Input, hw, &cfg, &Watch::unwatched()).unwrap(),
            check_dtype(&problem, LinearTensor::Input, DType::parse(mp).unwrap(), &cfg, &Watch::unwatched()).unwrap(),
        );
        // The analytic gradient underflows to exact zeros in the hardware type only (counted in
        // anal_underflow, which is 0 for MPFR), and its error against the truth differs.
        assert!(a.rows[0].anal_underflow > 0 && b.rows[0].anal_underflow == 0, "{hw} vs {mp}");
        let diff = differences(&a.rows[0], &b.rows[0]);
        assert!(diff.contains(&"anal_vs_truth") && diff.contains(&"relerr_mean"), "{hw} vs {mp}: {diff:?}");
        if hw == DType::F32 {
            // mpfr:24's tiny values (about e^-300) survive the kept gradients' f64.
            let zeros = |r: &DTypeCheck| r.grads.as_ref().unwrap().analytic.iter().filter(|v| **v == 0.0).count();
            assert!(zeros(&a) > zeros(&b), "{hw}: {} zeros vs {mp}: {}", zeros(&a), zeros(&b));
        }
        // The same problem scaled down to ordinary logits gives identical rows again.
        let small = scaled(1.0);
        let (a, b) = (
            check_dtype(&small, LinearTensor::Input, hw, &cfg, &Watch::unwatched()).unwrap(),
            check_dtype(&small, LinearTensor::Input, DType::parse(mp).unwrap(), &cfg, &Watch::unwatched()).unwrap(),
        );
        assert!(differences(&a.rows[0], &b.rows[0]).is_empty(), "{hw} vs {mp}");
    }
    // Overflow: inputs near 1e38 make f32's logit sums infinite; mpfr:24 keeps them finite.
    let problem = scaled(1e38);
    let (a, b) = (
        check_dtype(&problem, LinearTensor::Input, DType::F32, &cfg, &Watch::unwatched()).unwrap(),
        check_dtype(&problem, LinearTensor::Input, DType::parse("mpfr:24").unwrap(), &cfg, &Watch::unwatched())
            .unwrap(),
    );
    assert!(a.rows[0].nonfinite > 0, "{:?}", a.rows[0]);
    assert_eq!(b.rows[0].nonfinite, 0, "{:?}", b.rows[0]);
}
