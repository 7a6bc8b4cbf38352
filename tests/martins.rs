//! Martins' function f(x) = e^x / sqrt(sin^3 x + cos^3 x) at x = 1.5: the exact derivative
//! against mpmath (tests/fixtures/make_martins.py), and every method against it in every dtype.

use gradlab::exact::Decimal;
use gradlab::method::{derivative, Scheme};
use gradlab::objective::martins::{true_derivative_at_x0, Martins, X0};
use gradlab::scalar::{DType, Prec, Scalar};
use rug::{Float, Rational};

fn step(text: &str) -> Decimal {
    Decimal::parse("step", text).unwrap()
}

/// The relative error of `scheme` at step `h` in `dt` against the exact f'(1.5).
fn relerr(dt: DType, scheme: Scheme, h: &str) -> f64 {
    let truth = true_derivative_at_x0(Prec::new(dt.bits() + 128).unwrap());
    let v = gradlab::with_dtype!(dt, |T, ctx| {
        let x = T::from_rational(&Rational::from(X0), ctx);
        derivative(&Martins, scheme, &x, &step(h)).value.to_float(dt.bits())
    });
    let p = truth.prec();
    Float::with_val(53, Float::with_val(p, &v.to_float(p) - &truth).abs() / &truth).to_f64()
}

/// gradlab's closed form at 256 bits agrees with mpmath's numerical derivative to 75 digits.
#[test]
fn truth_matches_mpmath() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/martins/truth.txt")).unwrap();
    let mpmath = Float::with_val(300, Float::parse(text.trim()).unwrap());
    let mine = true_derivative_at_x0(Prec::new(256).unwrap());
    let rel = Float::with_val(64, (Float::with_val(300, &mine) - &mpmath).abs() / &mpmath).to_f64();
    assert!(rel < 1e-75, "relative difference {rel:e}");
    assert!(text.starts_with("4.0534278938986206577"));
}

/// The complex step in f64 at every decade from 1e-8 (about sqrt(u)) down to 1e-300: within 2 u
/// (issue #12's bar; Smith's division gave up to 3.15 u at six of these steps); in mpfr:256
/// within 1e-70; at h = 1e-1 its error is the truncation h^2 f'''/(6 f'), far above u.
#[test]
fn complex_step_is_flat_below_sqrt_u() {
    let u = DType::F64.unit_roundoff();
    for k in 8..=300 {
        let h = format!("1e-{k}");
        let e = relerr(DType::F64, Scheme::Complex, &h);
        assert!(e <= 2.0 * u, "f64 complex at {h}: {:.3} u", e / u);
    }
    let mp256 = DType::parse("mpfr:256").unwrap();
    for h in ["1e-40", "1e-100", "1e-300"] {
        let e = relerr(mp256, Scheme::Complex, h);
        assert!(e <= 1e-70, "mpfr:256 complex at {h}: {e:e}");
    }
    assert!(relerr(DType::F64, Scheme::Complex, "1e-1") > 1e-3);
    // Central differences at 1e-20 see x + h == x: a zero derivative, relative error 1.
    assert_eq!(relerr(DType::F64, Scheme::Central, "1e-20"), 1.0);
}

/// Dual numbers in every dtype: within 4 u.
#[test]
fn dual_numbers_within_4u() {
    for dt in DType::parse_list("f16,bf16,f32,f64,mpfr:113,mpfr:256").unwrap() {
        let e = relerr(dt, Scheme::Dual, "1");
        assert!(e <= 4.0 * dt.unit_roundoff(), "{dt}: {e:e}");
    }
}

/// The stencils' classic optima in f64 (Martins et al. 2003, Fig. 1): forward about 1e-8 at
/// h = 1e-8, central about 1e-10 at 1e-5, both far worse at 1e-12; Ridders from 0.1 beats all.
#[test]
fn differences_follow_the_papers_curve() {
    let f = |s, h| relerr(DType::F64, s, h);
    assert!(f(Scheme::Forward, "1e-8") < 1e-7);
    assert!(f(Scheme::Forward, "1e-12") > 1e-6);
    assert!(f(Scheme::Central, "1e-5") < 1e-9);
    assert!(f(Scheme::Central, "1e-12") > 1e-6);
    assert!(f(Scheme::Central5, "1e-3") < 1e-10);
    assert!(f(Scheme::Ridders, "1e-1") < 1e-13);
}

/// Ridders' estimate bounds its error on Martins' function in f64 and mpfr:113 from h = 0.1.
#[test]
fn ridders_estimate_bounds_its_error() {
    for dt in [DType::F64, DType::parse("mpfr:113").unwrap()] {
        let truth = true_derivative_at_x0(Prec::new(dt.bits() + 128).unwrap());
        let (v, e) = gradlab::with_dtype!(dt, |T, ctx| {
            let x = T::from_rational(&Rational::from(X0), ctx);
            let r = derivative(&Martins, Scheme::Ridders, &x, &step("1e-1"));
            (r.value.to_float(dt.bits()), r.error.unwrap().to_float(dt.bits()))
        });
        let err = Float::with_val(400, &v - &truth).abs();
        assert!(err <= e, "{dt}: error {err} > estimate {e}");
    }
}
