//! src/numeric/: the numeric gradient of a trained state (`numeric_grad` on a `Setup`): its
//! truncation error follows the stencil's order, the effective step of an input that does not
//! move is 0, the fast path equals the naive one bit for bit, and the rows spread over threads
//! give the same bits as one thread. (`--eps auto`: tests/auto_step.rs; the regimes of dying
//! differences: tests/regimes.rs; no allocation per element: tests/no_alloc.rs; fast == naive on
//! random problems: tests/properties.rs.)

mod common;
use common::*;
use gradlab::check::prepare;
use gradlab::exact::Decimal;
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::Reduction;
use gradlab::scalar::{Prec, Scalar};
use gradlab::train::InputGrad;
use gradlab::truth::truth_grad;
use gradlab::watch::Watch;
use ndarray::Array2;
use rug::Float;

/// Sum over elements of |numeric - truth| (the truth at 256 bits, the difference at 256 bits).
fn error_norm(num: &Array2<f64>, truth: &Array2<Float>) -> f64 {
    num.iter().zip(truth.iter()).map(|(a, t)| Float::with_val(256, a - t).abs().to_f64()).sum()
}

/// At large steps the truncation error dominates, and halving the step divides it by 2^p for a
/// stencil of order p: about 2 for forward differences, 4 for central differences (the h^2 law),
/// 16 for the five-point stencil. Measured against the MPFR truth in f64, on every input element.
#[test]
fn truncation_error_follows_the_stencils_order_at_large_steps() {
    let p = default_problem();
    let cfg = config(10, InputGrad::Reset, Scheme::Central, "1e-1", None);
    let (tr, _) = prepare::<f64>(&p, (), &cfg.train, &Watch::unwatched()).unwrap();
    let truth =
        truth_grad(&tr, Reduction::Mean, LinearTensor::Input, Prec::new(256).unwrap(), &Watch::unwatched()).unwrap();
    for (scheme, order, steps) in [
        (Scheme::Forward, 1, ["1e-1", "5e-2", "2.5e-2"]),
        (Scheme::Central, 2, ["2e-1", "1e-1", "5e-2"]),
        (Scheme::Central5, 4, ["4e-1", "2e-1", "1e-1"]),
    ] {
        let setup =
            Setup { trained: &tr, reduction: Reduction::Mean, stencil: scheme.stencil(), wrt: LinearTensor::Input };
        let err: Vec<f64> = steps
            .iter()
            .map(|h| error_norm(&numeric_grad(&setup, &Decimal::parse("step", h).unwrap(), false).grad, &truth))
            .collect();
        let want = f64::from(1u32 << order);
        for (pair, w) in err.windows(2).zip(steps.windows(2)) {
            let ratio = pair[0] / pair[1];
            eprintln!(
                "{scheme}: error {:.3e} at h = {}, {:.3e} at h = {}: ratio {ratio:.3}",
                pair[0], w[0], pair[1], w[1]
            );
            assert!(
                (ratio / want - 1.0).abs() < 0.05,
                "{scheme}: halving h from {} divided the error by {ratio}, not about {want} (order {order})",
                w[0]
            );
        }
    }
}

#[test]
fn f32_dead_zone_at_1e_minus_8() {
    let p = default_problem();
    let cfg = config(10, InputGrad::Reset, Scheme::Central, "1e-8", None);
    let (tr, _) = prepare::<f32>(&p, (), &cfg.train, &Watch::unwatched()).unwrap();
    let setup = Setup {
        trained: &tr,
        reduction: cfg.train.reduction,
        stencil: Scheme::Central.stencil(),
        wrt: LinearTensor::Input,
    };
    let num = numeric_grad(&setup, &cfg.steps.fixed()[0], false);
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
fn fast_and_naive_paths_are_bit_identical() {
    let p = gradlab::problem::Problem::generate(7, 3, 3, 5).unwrap();
    for scheme in Scheme::ALL {
        for &wrt in LinearTensor::ALL {
            for dt in ["f16", "bf16", "f32", "f64", "mpfr:53", "mpfr:200"] {
                let mut cfg = config(3, InputGrad::Reset, scheme, "1e-1,1e-3,1e-7", None);
                cfg.keep_grads = true;
                let dtype = gradlab::scalar::DType::parse(dt).unwrap();
                let fast = gradlab::check::check_dtype(&p, wrt, dtype, &cfg, &Watch::unwatched()).unwrap();
                cfg.naive = true;
                let naive = gradlab::check::check_dtype(&p, wrt, dtype, &cfg, &Watch::unwatched()).unwrap();
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
            pool.install(|| {
                gradlab::check::check_dtype(&p, wrt, dtype, &c, &Watch::unwatched()).unwrap().grads.unwrap().numeric[0]
                    .clone()
            })
        };
        let (one, two, naive) = (grads(1, false), grads(2, false), grads(2, true));
        let bits = |a: &ndarray::Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two), "{dt} {wrt}: 1 vs 2 threads");
        assert_eq!(bits(&one), bits(&naive), "{dt} {wrt}: fast vs naive");
    }
}
