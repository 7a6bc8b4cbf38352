//! The complex step, dual numbers and Ridders on the linear model (`gradlab check --scheme
//! complex|dual|ridders`) against the MPFR truth, on the default problem (n = 10, d = 4, k = 2,
//! seed 1, E = 10, lr = 1e-3, mean).

use gradlab::check::{check_dtype, prepare, CheckConfig, CheckRow};
use gradlab::exact::{parse_list, Decimal};
use gradlab::method::{RowStep, Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::numeric::exotic::method_grads;
use gradlab::numeric::Setup;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::truth::truth_grad;
use gradlab::watch::Watch;
use gradlab_lab::grid::{decades, log_grid_from};
use gradlab_lab::runner::output::{from_csv, to_csv};
use rug::Float;

fn problem() -> Problem {
    Problem::generate(10, 4, 2, 1).unwrap()
}

fn check(dt: DType, scheme: Scheme, steps: Vec<Decimal>, wrt: LinearTensor) -> Vec<CheckRow> {
    let cfg =
        CheckConfig { truth: Some(Prec::new(512).unwrap()), ..CheckConfig::seed(scheme, Steps::grid(steps).unwrap()) };
    check_dtype(&problem(), wrt, dt, &cfg, &Watch::unwatched()).unwrap().rows
}

/// Complex step, f64: num_vs_truth <= 1e-15 at every decade from 1e-8 down to 1e-300, for every
/// tensor; mpfr:256 within 1e-70 from 1e-40 down.
#[test]
fn complex_step_is_exact_to_machine_precision_at_tiny_steps() {
    for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias, LinearTensor::Logits] {
        let rows = check(DType::F64, Scheme::Complex, decades(8, 300), wrt);
        assert_eq!(rows.len(), 293);
        for r in &rows {
            assert!(r.num_vs_truth <= 1e-15, "{wrt} at {}: {:e}", r.eps, r.num_vs_truth);
            assert_eq!(r.dead_zone, 0);
        }
    }
    for r in check(
        DType::parse("mpfr:256").unwrap(),
        Scheme::Complex,
        parse_list("step", "1e-40,1e-100,1e-300").unwrap(),
        LinearTensor::Input,
    ) {
        assert!(r.num_vs_truth <= 1e-70, "mpfr:256 at {}: {:e}", r.eps, r.num_vs_truth);
    }
    // At a large step the complex step has a truncation error: the check can fail.
    let big = check(DType::F64, Scheme::Complex, parse_list("step", "1e-1").unwrap(), LinearTensor::Input);
    assert!(big[0].num_vs_truth > 1e-8);
}

/// Dual numbers: one row without a step, within 4 u of the truth in every hardware dtype (and
/// in MPFR), for every tensor.
#[test]
fn dual_numbers_are_within_4u() {
    for dt in DType::parse_list("f16,bf16,f32,f64,mpfr:113").unwrap() {
        for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias, LinearTensor::Logits] {
            let rows = check(dt, Scheme::Dual, decades(1, 3), wrt);
            assert_eq!(rows.len(), 1, "dual numbers take no step");
            assert_eq!(rows[0].eps, RowStep::None);
            let u = dt.unit_roundoff();
            assert!(
                rows[0].num_vs_truth <= 4.0 * u,
                "{dt} {wrt}: {:e} = {:.2} u",
                rows[0].num_vs_truth,
                rows[0].num_vs_truth / u
            );
        }
    }
}

/// Ridders, f64: the best error on a 4-per-decade grid from 4 down to 1e-3 is below 1e-13; its
/// error estimate is reported (est_error, est_bounds) only for Ridders.
#[test]
fn ridders_reaches_1e_13_in_f64() {
    let rows = check(DType::F64, Scheme::Ridders, log_grid_from(0, 3, 4), LinearTensor::Input);
    let best = rows.iter().map(|r| r.num_vs_truth).fold(f64::INFINITY, f64::min);
    assert!(best <= 1e-13, "best {best:e}");
    for r in &rows {
        assert!(r.est_error.is_some_and(|e| e > 0.0 && e < 1e-6), "{r:?}");
        assert!(r.est_bounds.is_some_and(|b| (0.0..=1.0).contains(&b)));
    }
    let central = check(DType::F64, Scheme::Central, log_grid_from(0, 3, 4), LinearTensor::Input);
    assert!(central.iter().all(|r| r.est_error.is_none() && r.est_bounds.is_none()));
    assert!(central.iter().map(|r| r.num_vs_truth).fold(f64::INFINITY, f64::min) > 1e2 * best);
}

/// Ridders' estimate (the tableau's difference plus the rounding bound carried through the
/// tableau) bounds the true error for at least 95 % of the elements of every check row, in f32
/// and f64, for every tensor, from initial steps 0.5 down to 1e-3, on the default problem and a
/// larger one (n = 32, d = 8, k = 3, seed 2); and it is a useful bound: its median ratio to the
/// true error is at most 30. Without the rounding term (Numerical Recipes' estimate alone) it
/// bounded 30 % to 53 % of the elements on the default problem in f64 (docs/numbers.md).
#[test]
fn ridders_estimate_bounds_the_error() {
    let steps = Steps::parse("5e-1,1e-1,1e-2,1e-3").unwrap();
    for p in [problem(), Problem::generate(32, 8, 3, 2).unwrap()] {
        for dt in [DType::F32, DType::F64] {
            for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias, LinearTensor::Logits] {
                let cfg = CheckConfig {
                    truth: Some(Prec::new(256).unwrap()),
                    ..CheckConfig::seed(Scheme::Ridders, steps.clone())
                };
                for r in check_dtype(&p, wrt, dt, &cfg, &Watch::unwatched()).unwrap().rows {
                    let b = r.est_bounds.unwrap();
                    assert!(b >= 0.95, "{dt} {wrt} h0 = {}: the estimate bounds {b}", r.eps);
                }
            }
        }
    }
    let (tr, _) =
        prepare::<f64>(&problem(), (), &CheckConfig::seed(Scheme::Ridders, Steps::None).train, &Watch::unwatched())
            .unwrap();
    let setup = Setup {
        trained: &tr,
        reduction: gradlab::objective::Reduction::Mean,
        stencil: Scheme::Central.stencil(),
        wrt: LinearTensor::Input,
    };
    let truth =
        truth_grad(&tr, setup.reduction, LinearTensor::Input, Prec::new(256).unwrap(), &Watch::unwatched()).unwrap();
    for g in method_grads(&setup, Scheme::Ridders, steps.fixed(), false, &Watch::unwatched()).unwrap() {
        let est = g.est_error.as_ref().unwrap();
        let mut ratios: Vec<f64> = g
            .numeric
            .grad
            .iter()
            .zip(est.iter())
            .zip(truth.iter())
            .map(|((v, e), t)| e / Float::with_val(256, Float::with_val(256, *v) - t).abs().to_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        assert!((1.0..=30.0).contains(&median), "median estimate / error {median}");
    }
}

/// The complex step's and dual numbers' fast path (the trained logits plus what the seeded
/// element reaches) gives the same bits as evaluating every sample from scratch (`--naive`), for
/// every tensor, in hardware, emulated and MPFR dtypes, down to steps of 1e-300.
#[test]
fn fast_path_equals_from_scratch() {
    let big = Problem::generate(32, 8, 3, 2).unwrap();
    for (p, dt, steps) in [
        (problem(), DType::F32, "1e-3,1e-30"),
        (big.clone(), DType::F64, "1e-3,1e-30,1e-300"),
        (big, DType::BF16, "1e-2,1e-30"),
        (problem(), DType::parse("e5m2").unwrap(), "1e-1"),
        (problem(), DType::parse("mpfr:80").unwrap(), "1e-3,1e-30"),
    ] {
        for scheme in [Scheme::Complex, Scheme::Dual] {
            for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias, LinearTensor::Logits] {
                let steps = Steps::parse(steps).unwrap();
                let cfg = CheckConfig::seed(scheme, steps);
                let fast =
                    check_dtype(&p, wrt, dt, &CheckConfig { keep_grads: true, ..cfg.clone() }, &Watch::unwatched())
                        .unwrap();
                let naive = check_dtype(
                    &p,
                    wrt,
                    dt,
                    &CheckConfig { keep_grads: true, naive: true, ..cfg },
                    &Watch::unwatched(),
                )
                .unwrap();
                let (a, b) = (fast.grads.unwrap().numeric, naive.grads.unwrap().numeric);
                assert!(
                    a.iter().zip(&b).all(|(x, y)| x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits())),
                    "{dt} {scheme} {wrt}"
                );
                for (r, q) in fast.rows.iter().zip(&naive.rows) {
                    assert_eq!(r.num_vs_truth.to_bits(), q.num_vs_truth.to_bits(), "{dt} {scheme} {wrt}");
                }
            }
        }
    }
}

/// Rows of every new scheme survive the CSV: dual's eps is an empty field, Ridders' estimate
/// columns are filled, the others' empty.
#[test]
fn csv_round_trip() {
    let mut rows = check(DType::F64, Scheme::Dual, decades(1, 2), LinearTensor::Input);
    rows.extend(check(DType::F64, Scheme::Ridders, decades(1, 2), LinearTensor::Input));
    rows.extend(check(DType::F64, Scheme::Complex, decades(1, 2), LinearTensor::Input));
    let bytes = to_csv(&rows).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.ends_with("loss_flat,est_error,est_bounds,truth_zero"), "{header}");
    assert!(text.lines().nth(1).unwrap().starts_with("f64,dual,input,reset,,"), "{text}");
    let back: Vec<CheckRow> = from_csv(&bytes).unwrap();
    assert_eq!(back.len(), rows.len());
    for (a, b) in rows.iter().zip(&back) {
        assert_eq!(a.eps, b.eps);
        assert_eq!(a.scheme, b.scheme);
        assert_eq!(a.est_error.map(f64::to_bits), b.est_error.map(f64::to_bits));
        assert_eq!(a.est_bounds, b.est_bounds);
    }
}

/// The numeric engine evaluates stencils only: given the cost pattern of the complex step it
/// refuses (a programming error) instead of returning central-looking numbers labelled complex.
#[test]
#[should_panic(expected = "complex is not a finite-difference stencil")]
fn the_stencil_engine_refuses_a_scheme_that_is_not_a_stencil() {
    let cfg = CheckConfig::seed(Scheme::Central, Steps::parse("1e-3").unwrap());
    let (tr, _) = prepare::<f64>(&problem(), (), &cfg.train, &Watch::unwatched()).unwrap();
    let setup = Setup {
        trained: &tr,
        reduction: cfg.train.reduction,
        stencil: Scheme::Complex.stencil(),
        wrt: LinearTensor::Input,
    };
    let _ = gradlab::numeric::numeric_grads(&setup, cfg.steps.fixed(), false, &Watch::unwatched());
}
