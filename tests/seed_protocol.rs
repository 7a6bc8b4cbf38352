//! The seed's protocol: the accumulation plateau, the correct gradient's accuracy, the dead zone.

mod common;
use common::*;
use gradlab::check::prepare;
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::scalar::Scalar;
use gradlab::train::InputGrad;

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
fn f32_dead_zone_at_1e_minus_8() {
    let p = default_problem();
    let cfg = config(10, InputGrad::Reset, Scheme::Central, "1e-8", None);
    let (tr, _) = prepare::<f32>(&p, (), &cfg.train);
    let setup = Setup {
        trained: &tr,
        reduction: cfg.train.reduction,
        stencil: Scheme::Central.stencil(),
        wrt: LinearTensor::Input,
    };
    let num = numeric_grad(&setup, &cfg.steps[0], false);
    let mut big = 0;
    for ((x, g), e) in tr.x.iter().zip(num.grad.iter()).zip(num.effective_step.iter()) {
        if x.abs() >= 1.0 {
            big += 1;
            assert_eq!(*e, 0.0, "x = {x}: effective step should be 0");
            assert_eq!(*g, 0.0, "x = {x}: numeric gradient should be 0");
        }
    }
    assert!(big >= 5, "the default problem should have several |x| >= 1, found {big}");
    assert!(num.dead_zone >= big);
    let row = &rows(&p, "f32", &cfg)[0];
    assert_eq!(row.dead_zone, num.dead_zone);
}

#[test]
fn epochs_zero_checks_the_given_parameters() {
    let p = default_problem();
    for mode in [InputGrad::Reset, InputGrad::Accumulate] {
        let r = &rows(&p, "f64", &config(0, mode, Scheme::Central, "1e-5", None))[0];
        assert!(r.relerr_mean < 1e-7, "{mode}: {}", r.relerr_mean);
    }
}

#[test]
fn fast_and_naive_paths_are_bit_identical() {
    let p = gradlab::problem::Problem::generate(7, 3, 3, 5).unwrap();
    for scheme in Scheme::ALL {
        for &wrt in LinearTensor::ALL {
            for dt in ["f16", "bf16", "f32", "f64", "mpfr:53", "mpfr:200"] {
                let mut cfg = config(3, InputGrad::Reset, scheme, "1e-1,1e-3,1e-7", None);
                cfg.keep_grads = true;
                let dtype = gradlab::scalar::DType::parse(dt).unwrap();
                let fast = gradlab::check::check_dtype(&p, wrt, dtype, &cfg).unwrap();
                cfg.naive = true;
                let naive = gradlab::check::check_dtype(&p, wrt, dtype, &cfg).unwrap();
                let (f, n) = (fast.grads.unwrap(), naive.grads.unwrap());
                for (a, b) in f.numeric.iter().zip(&n.numeric) {
                    let same = a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{dt} {scheme} {wrt}: fast and naive differ");
                }
                // Debug text compares NaN summaries (no truth here) as equal, unlike PartialEq.
                assert_eq!(format!("{:?}", fast.rows), format!("{:?}", naive.rows), "{dt} {scheme} {wrt}");
            }
        }
    }
}

#[test]
fn parallel_rows_match_one_thread_and_the_naive_path() {
    use gradlab::numeric::SEQUENTIAL_BELOW;
    let p = gradlab::problem::Problem::generate(64, 20, 3, 9).unwrap();
    const { assert!(64 * 20 >= SEQUENTIAL_BELOW, "this test must exercise the parallel path") };
    let cfg = config(2, InputGrad::Reset, Scheme::Central5, "1e-3", None);
    // The weight's 60 elements each evaluate all 64 samples: the parallel path too.
    for (dt, wrt) in [
        ("f32", LinearTensor::Input),
        ("mpfr:80", LinearTensor::Input),
        ("f32", LinearTensor::Weight),
        ("f64", LinearTensor::Bias),
    ] {
        let dtype = gradlab::scalar::DType::parse(dt).unwrap();
        let grads = |threads: usize, naive: bool| {
            let mut c = cfg.clone();
            c.keep_grads = true;
            c.naive = naive;
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| gradlab::check::check_dtype(&p, wrt, dtype, &c).unwrap().grads.unwrap().numeric[0].clone())
        };
        let (one, two, naive) = (grads(1, false), grads(2, false), grads(2, true));
        let bits = |a: &ndarray::Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two), "{dt} {wrt}: 1 vs 2 threads");
        assert_eq!(bits(&one), bits(&naive), "{dt} {wrt}: fast vs naive");
    }
}
