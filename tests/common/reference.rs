//! The independent reference of `tests/fixtures/make_reference.py` (numpy + mpmath at 60
//! digits): its problem (n = 10, d = 4, k = 2, values exact in every dtype, in `ref_f64/` and
//! `ref_f32/`) and its exact gradients of the seed's protocol, read at 256 bits, with the
//! elementwise comparison tests/reference.rs, tests/truth.rs and tests/diagnose.rs make.

use gradlab::problem::Problem;
use gradlab::scalar::Scalar;
use ndarray::Array2;
use rug::Float;
use std::path::{Path, PathBuf};

/// Precision used to parse the reference and to compute the differences.
pub const CMP_BITS: u32 = 256;
/// The reference problem's samples, features and classes.
pub const N: usize = 10;
/// Features.
pub const D: usize = 4;
/// Classes.
pub const K: usize = 2;

/// tests/fixtures of the core (found from any crate of the workspace).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("tests").join("fixtures"))
        .find(|p| p.join("ref_f64").is_dir())
        .expect("tests/fixtures/ref_f64 in the workspace")
}

/// The reference problem, from its float64 files.
pub fn problem() -> Problem {
    Problem::load(&fixtures().join("ref_f64")).expect("load tests/fixtures/ref_f64")
}

/// A 60-digit reference file (one value per line, row-major) parsed at 256 bits.
pub fn reference(name: &str, rows: usize, cols: usize) -> Array2<Float> {
    let path = fixtures().join("ref_f64").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let vals: Vec<Float> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Float::with_val(CMP_BITS, Float::parse(l).unwrap_or_else(|e| panic!("{name}: bad number {l:?}: {e}"))))
        .collect();
    assert_eq!(vals.len(), rows * cols, "{name}: expected {rows} x {cols} values");
    assert!(vals.iter().all(|v| v.is_finite() && !v.is_zero()), "{name}: expected finite, nonzero values");
    Array2::from_shape_vec((rows, cols), vals).unwrap()
}

/// Elementwise |a - r| / |r| computed at 256 bits, as (max, index of the max).
///
/// Every reference value here is nonzero and none is tiny compared with its neighbours
/// (checked by `reference`), so a purely elementwise relative error is used; no fallback to an
/// absolute tolerance is needed.
pub fn max_relerr<T: Scalar>(got: &Array2<T>, want: &Array2<Float>) -> (Float, (usize, usize)) {
    assert_eq!(got.dim(), want.dim(), "shape");
    let mut worst = Float::new(CMP_BITS);
    let mut at = (0, 0);
    for ((idx, a), r) in got.indexed_iter().zip(want.iter()) {
        let a = a.to_float(CMP_BITS);
        let e = Float::with_val(CMP_BITS, &a - r).abs() / r.clone().abs();
        assert!(e.is_finite(), "element {idx:?}: got {a}, reference {r}");
        if e > worst {
            worst = e;
            at = idx;
        }
    }
    (worst, at)
}

/// Asserts every element agrees within `tol` relative, and returns the max relative error.
pub fn assert_close<T: Scalar>(what: &str, got: &Array2<T>, want: &Array2<Float>, tol: f64) -> f64 {
    let (e, at) = max_relerr(got, want);
    let got_at = got[at].to_float(CMP_BITS);
    eprintln!("{what}: max relative error {:.3e} at {at:?}", e.to_f64());
    assert!(
        e <= tol,
        "{what}: element {at:?} = {got_at} differs from the reference {} by {:.3e} relative (tolerance {tol:e})",
        want[at],
        e.to_f64()
    );
    e.to_f64()
}

/// The reference's gradients.
pub struct Refs {
    /// x.grad after E = 10 epochs, reset each epoch.
    pub reset: Array2<Float>,
    /// x.grad after E = 10 epochs, accumulated.
    pub accumulate: Array2<Float>,
    /// x.grad at the given parameters (E = 0).
    pub e0: Array2<Float>,
    /// The logits gradient of the last epoch (E = 10).
    pub logits: Array2<Float>,
    /// W.grad and b.grad after E = 10 epochs (the last epoch's, at the final parameters).
    pub weight: Array2<Float>,
    /// b.grad after E = 10 epochs (a 1 x k row).
    pub bias: Array2<Float>,
    /// The weight gradient at the initial parameters (E = 0).
    pub weight_e0: Array2<Float>,
    /// The bias gradient at the initial parameters (E = 0, a 1 x k row).
    pub bias_e0: Array2<Float>,
}

/// Every reference gradient.
pub fn refs() -> Refs {
    Refs {
        reset: reference("grad_x_reset_E10.txt", N, D),
        accumulate: reference("grad_x_accumulate_E10.txt", N, D),
        e0: reference("grad_x_E0.txt", N, D),
        logits: reference("grad_logits_E10.txt", N, K),
        weight: reference("grad_weight_E10.txt", K, D),
        bias: reference("grad_bias_E10.txt", 1, K),
        weight_e0: reference("grad_weight_E0.txt", K, D),
        bias_e0: reference("grad_bias_E0.txt", 1, K),
    }
}
