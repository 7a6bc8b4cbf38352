//! Property tests: metric bounds, stencil exactness, fast == naive on random problems, and
//! parsers that never panic.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::exact::{parse_list, Decimal};
use gradlab::method::{Scheme, Steps};
use gradlab::metrics::relerr;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec, Scalar};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use proptest::prelude::*;
use rug::{Float, Rational};

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>().prop_filter("finite", |x| x.is_finite()), -10.0f64..10.0, Just(0.0), Just(-0.0)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Symmetric, in [0, 2], in [0, 1] for equal signs, 2 for opposite values.
    #[test]
    fn relerr_is_symmetric_and_bounded(a in finite(), b in finite()) {
        let (r, z) = relerr(&a, &b, 53, 53);
        let (r2, z2) = relerr(&b, &a, 53, 53);
        prop_assert_eq!(r.to_bits(), r2.to_bits());
        prop_assert_eq!(z, z2);
        prop_assert!((0.0..=2.0).contains(&r), "{a} {b}: {r}");
        // Compare signs directly: a * b can underflow to -0.0 for tiny values.
        if (a >= 0.0) == (b >= 0.0) || a == 0.0 || b == 0.0 {
            prop_assert!(r <= 1.0, "{a} {b}: {r}");
        }
        if a != 0.0 {
            prop_assert_eq!(relerr(&a, &-a, 53, 53).0, 2.0);
        }
        // The MPFR path agrees with the f64 path.
        let (fa, fb) = (Float::with_val(113, a), Float::with_val(113, b));
        let rm = relerr(&fa, &fb, 113, 113).0;
        prop_assert!((rm - r).abs() <= 4.0 * f64::EPSILON * r.max(f64::MIN_POSITIVE), "{a} {b}: {rm} vs {r}");
    }

    /// A stencil with p points differentiates every polynomial of degree < p exactly (integer
    /// coefficients, dyadic x and h: every value is exact at 256 bits).
    #[test]
    fn stencils_differentiate_low_degree_polynomials_exactly(
        coeffs in prop::collection::vec(-50i64..50, 5),
        xn in -512i64..512,
        hk in 1u32..20,
        scheme in 0usize..4,
    ) {
        let st = Scheme::ALL[scheme].stencil();
        let degree = st.offsets.len() - 1; // degree < number of points
        let ctx = Prec::new(256).unwrap();
        let x = Float::from_rational(&Rational::from((xn, 64)), ctx);
        let h = Float::from_rational(&Rational::from((1, 1u64 << hk)), ctx);
        let poly = |v: &Float| {
            let mut acc = Float::zero(ctx);
            for &c in coeffs[..=degree].iter().rev() {
                acc.mul_assign(v);
                acc.add_assign(&Float::from_int(c, ctx));
            }
            acc
        };
        let got = st.apply(&x, &h, poly);
        // p'(x) exactly, in rationals.
        let xr = Rational::from((xn, 64));
        let mut want = Rational::new();
        let mut power = Rational::from(1); // x^(i-1)
        for (i, &c) in coeffs[..=degree].iter().enumerate().skip(1) {
            want += Rational::from(c * i as i64) * &power;
            power *= &xr;
        }
        prop_assert_eq!(got.to_rational().unwrap(), want, "{} degree {}", st.scheme, degree);
    }

    /// Any string given as a dtype or a step list parses or is an error, never a panic; errors
    /// quote the text.
    #[test]
    fn parsers_never_panic(s in ".{0,40}") {
        if let Err(e) = DType::parse(&s) {
            prop_assert!(e.to_string().contains("invalid dtype"));
        }
        let _ = DType::parse_list(&s);
        if let Ok(list) = parse_list("step", &s) {
            prop_assert!(!list.is_empty());
        }
        let _ = Decimal::parse("lr", &s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The fast path (one row recomputed, loss tree updated; for the weight and bias, one tree
    /// path per sample and every sample's loss) is bit-identical to evaluating the whole loss from
    /// scratch, on random problems, dtypes, schemes, steps (`--eps auto` too) and every wrt.
    #[test]
    fn fast_and_naive_perturbed_losses_are_bit_identical(
        n in 1usize..9, d in 1usize..5, k in 2usize..5, seed in any::<u64>(),
        dtype in 0usize..9, scheme in 0usize..4, wrt in 0usize..4,
        step in prop::sample::select(vec!["1", "1e-1", "3e-3", "1e-5", "1e-9", "auto"]),
        epochs in 0usize..4, accumulate in any::<bool>(), sum in any::<bool>(),
    ) {
        let dt = DType::parse(
            ["f16", "bf16", "f32", "f64", "mpfr:24", "mpfr:160", "bf16+f32", "e4m3+f32", "f32+f64"][dtype],
        )
        .unwrap();
        let p = Problem::generate(n, d, k, seed).unwrap();
        let mut cfg = CheckConfig {
            train: TrainConfig {
                epochs,
                lr: Decimal::parse("lr", "1e-1").unwrap(),
                input_grad: if accumulate { InputGrad::Accumulate } else { InputGrad::Reset },
                reduction: if sum { Reduction::Sum } else { Reduction::Mean },
            },
            scheme: Scheme::ALL[scheme],
            // `auto`: a step per element from the error model (an extra pass of the engine).
            steps: Steps::parse(step).unwrap(),
            truth: None,
            naive: false,
            keep_grads: true,
        };
        prop_assume!(gradlab::check::Checked::new(cfg.clone(), dt).is_ok());
        let wrt = LinearTensor::ALL[wrt];
        let fast = check_dtype(&p, wrt, dt, &cfg, &Watch::unwatched()).unwrap();
        cfg.naive = true;
        let naive = check_dtype(&p, wrt, dt, &cfg, &Watch::unwatched()).unwrap();
        let (fast_rows, naive_rows) = (&fast.rows, &naive.rows);
        for (a, b) in fast.grads.unwrap().numeric[0].iter().zip(naive.grads.unwrap().numeric[0].iter()) {
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{a} vs {b}");
        }
        // The same regimes: inputs that did not move, losses that did not move.
        prop_assert_eq!(fast_rows[0].dead_zone, naive_rows[0].dead_zone);
        prop_assert_eq!(fast_rows[0].loss_flat, naive_rows[0].loss_flat);
        // The same step (for auto, the same median of the per-element steps).
        prop_assert_eq!(&fast_rows[0].eps, &naive_rows[0].eps);
    }
}
