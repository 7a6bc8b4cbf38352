//! src/truth/: the MPFR truth of a trained state (`truth_grad`). It is the independent
//! reference's exact gradient (tests/common/reference.rs, made by mpmath), raising its precision
//! moves it by far less than any error measured against it, and the sum reduction's truth is n
//! times the mean's. (The MLP's truth: tests/mlp.rs.)

mod common;
use common::reference::{assert_close, problem, refs};
use gradlab::check::prepare;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{Prec, Scalar};
use gradlab::train::{InputGrad, TrainConfig, Trained};
use gradlab::truth::truth_grad;
use gradlab::watch::Watch;
use ndarray::Array2;
use rug::Float;

/// The truth (MPFR at 256 bits) of the weight and bias gradients at the fixture's parameters
/// is the reference's exact gradient, to the reference's 60 digits.
#[test]
fn truth_of_weight_and_bias_matches_reference() {
    let p = problem();
    let r = refs();
    let (tr, _) = prepare::<f64>(&p, (), &TrainConfig::untrained(Reduction::Mean), &Watch::unwatched()).unwrap();
    let prec = Prec::new(256).unwrap();
    for (wrt, want) in
        [(LinearTensor::Weight, &r.weight_e0), (LinearTensor::Bias, &r.bias_e0), (LinearTensor::Input, &r.e0)]
    {
        let t = truth_grad(&tr, Reduction::Mean, wrt, prec, &Watch::unwatched()).unwrap();
        assert_close(&format!("truth {wrt} E=0"), &t, want, 1e-50);
    }
}

/// The seed's training (E = 10, lr = 1e-3, mean) of `p` in `T`.
fn trained<T: Scalar>(p: &Problem, ctx: T::Ctx) -> Trained<T> {
    prepare::<T>(p, ctx, &TrainConfig::seed(InputGrad::Reset), &Watch::unwatched()).unwrap().0
}

/// Largest elementwise |a - b| / |b| (0 where both are 0), computed at a's precision plus 64 bits.
fn max_rel(a: &Array2<Float>, b: &Array2<Float>) -> Float {
    let bits = a[[0, 0]].prec() + 64;
    let mut worst = Float::new(bits);
    for (x, y) in a.iter().zip(b.iter()) {
        if x.is_zero() && y.is_zero() {
            continue;
        }
        let e = Float::with_val(bits, x - y).abs() / Float::with_val(bits, y.abs_ref());
        worst = worst.max(&e);
    }
    worst
}

/// The truth at 256 bits is within 2^-200 of the truth at 512 bits, elementwise and relative, for
/// every tensor of states trained in f32 and f64 (its own rounding is 2^-256 times the terms it
/// sums, and no element here cancels to near 0); it is not the same value (the precision is
/// the one asked for).
#[test]
fn raising_the_precision_moves_the_truth_by_less_than_2_pow_minus_200() {
    let p = gradlab::problem::Problem::generate(12, 5, 3, 7).unwrap();
    let (lo, hi) = (Prec::new(256).unwrap(), Prec::new(512).unwrap());
    let bound = Float::with_val(64, Float::i_exp(1, -200));
    let check = |name: &str, t256: Array2<Float>, t512: Array2<Float>| {
        assert!(t256.iter().all(|v| v.prec() == 256) && t512.iter().all(|v| v.prec() == 512), "{name}");
        let e = max_rel(&t256, &t512);
        eprintln!("{name}: 256 vs 512 bits, max relative difference {:.3e}", e.to_f64());
        assert!(e < bound, "{name}: the truth moved by {:.3e} relative from 256 to 512 bits", e.to_f64());
        assert!(!e.is_zero(), "{name}: the 256-bit truth is the 512-bit one: the precision was not applied");
    };
    let (t32, t64) = (trained::<f32>(&p, ()), trained::<f64>(&p, ()));
    for &wrt in LinearTensor::ALL {
        for reduction in [Reduction::Mean, Reduction::Sum] {
            check(
                &format!("f32 {wrt} {reduction}"),
                truth_grad(&t32, reduction, wrt, lo, &Watch::unwatched()).unwrap(),
                truth_grad(&t32, reduction, wrt, hi, &Watch::unwatched()).unwrap(),
            );
            check(
                &format!("f64 {wrt} {reduction}"),
                truth_grad(&t64, reduction, wrt, lo, &Watch::unwatched()).unwrap(),
                truth_grad(&t64, reduction, wrt, hi, &Watch::unwatched()).unwrap(),
            );
        }
    }
}

/// The truth of the sum reduction is n times the mean's: bit for bit when n is a power of two
/// (1/n and the products by it are exact, and scaling by a power of two commutes with every
/// rounding), to 2^-250 relative otherwise (1/n rounded once to 256 bits).
#[test]
fn the_truth_of_a_sum_is_n_times_the_means() {
    let prec = Prec::new(256).unwrap();
    for n in [16usize, 10] {
        let p = gradlab::problem::Problem::generate(n, 4, 3, 2).unwrap();
        let tr = trained::<f64>(&p, ());
        for &wrt in LinearTensor::ALL {
            let sum = truth_grad(&tr, Reduction::Sum, wrt, prec, &Watch::unwatched()).unwrap();
            let n_mean =
                truth_grad(&tr, Reduction::Mean, wrt, prec, &Watch::unwatched()).unwrap().mapv(|v| v * n as u32);
            if n.is_power_of_two() {
                assert_eq!(sum, n_mean, "n = {n} {wrt}: sum vs n x mean");
            } else {
                let e = max_rel(&n_mean, &sum);
                assert!(e < Float::with_val(64, Float::i_exp(1, -250)), "n = {n} {wrt}: {:.3e}", e.to_f64());
            }
            // Not vacuous: the two reductions' truths differ by the factor n.
            let mean = truth_grad(&tr, Reduction::Mean, wrt, prec, &Watch::unwatched()).unwrap();
            assert!(max_rel(&mean, &sum) > 0.5, "n = {n} {wrt}: the mean's truth equals the sum's");
        }
    }
}
