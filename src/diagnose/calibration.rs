//! The data behind the tolerance's constant ([`crate::policy::TOLERANCE_SIGMA`]): how far real
//! kernels' correct gradients lie from the truth in units of the statistical model's scale
//! ([`super::tolerance`]). `cargo run --release --example calibrate_tolerance` prints it; the
//! tests assert that the constant covers it with the margin the policy states.

use super::exact::Exact;
use super::tolerance::Rounding;
use crate::error::Result;
use crate::objective::{LinearTensor, Reduction};
use crate::problem::Problem;
use crate::scalar::DType;
use ndarray::Array2;
use std::path::Path;

/// How one correct tensor sits against the model: |given - truth| / s over its elements.
#[derive(Clone, Debug)]
pub struct Ratios {
    /// Where the gradient came from.
    pub name: String,
    /// The tensor.
    pub wrt: LinearTensor,
    /// How many elements.
    pub elements: usize,
    /// The root mean square of |given - truth| / s.
    pub rms: f64,
    /// The largest |given - truth| / s.
    pub max: f64,
}

/// The PyTorch-made correct fixtures under `root` (tests/fixtures/diagnose) and the dtype each
/// was computed in (its sums accumulated as frameworks do, [`super::default_accumulation`]): every folder of calibration/ (named `<dtype>_n<n>`), and the correct
/// fixtures beside it.
pub fn fixtures(root: &Path) -> Result<Vec<(String, std::path::PathBuf, DType)>> {
    let mut out = Vec::new();
    let cal = root.join("calibration");
    let mut names: Vec<String> = std::fs::read_dir(&cal)
        .map_err(|e| crate::Error::Read { path: cal.clone(), reason: e.to_string() })?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let dtype = match name.split('_').next() {
            Some("float32") => DType::F32,
            Some("bfloat16") => DType::BF16,
            Some("float16") => DType::F16,
            _ => continue,
        };
        out.push((format!("calibration/{name}"), cal.join(&name), dtype));
    }
    for (name, dtype) in [
        ("correct_f32", DType::F32),
        ("correct_f64", DType::F64),
        ("mnist_f32", DType::F32),
        ("bf16_n512", DType::BF16),
        ("dtype_mismatch", DType::BF16),
    ] {
        out.push((name.to_string(), root.join(name), dtype));
    }
    Ok(out)
}

/// The ratios of `given` (a `wrt` gradient of the mean loss of `problem`, stored in `dtype` with
/// sums accumulated in `accumulate`).
pub fn ratios(
    name: &str,
    problem: &Problem,
    wrt: LinearTensor,
    given: &Array2<f64>,
    (dtype, accumulate): (DType, DType),
    file: DType,
) -> Ratios {
    let ex = crate::watch::unwatched(|watch| Exact::new(problem, watch));
    let n = problem.n();
    let w = vec![super::exact::ratio_dd(1, n as i64); n];
    let truth = ex.grad(wrt, &w);
    let rounding = Rounding::new(&ex);
    let s = rounding.scale(&ex, wrt, &vec![1.0 / n as f64; n], dtype, accumulate, file, &truth.hi);
    let (mut sum2, mut max) = (0.0, 0.0f64);
    ndarray::Zip::from(given).and(&truth.hi).and(&truth.lo).and(&s).for_each(|&g, &h, &l, &s| {
        let d = ((g - h) - l).abs();
        let r = if d == 0.0 { 0.0 } else { d / s };
        sum2 += r * r;
        max = max.max(r);
    });
    Ratios { name: name.to_string(), wrt, elements: given.len(), rms: (sum2 / given.len() as f64).sqrt(), max }
}

/// The ratios of every tensor of every PyTorch-made fixture under `root`.
///
/// # Errors
/// A fixture folder that cannot be read.
pub fn fixture_ratios(root: &Path) -> Result<Vec<Ratios>> {
    let mut out = Vec::new();
    for (name, dir, dtype) in fixtures(root)? {
        let problem = Problem::load(&dir)?;
        for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
            let file = dir.join(format!("{}_grad.npy", if wrt == LinearTensor::Input { "x" } else { wrt.name() }));
            if !file.exists() {
                continue;
            }
            let (g, file_dtype) = crate::npy::read_float_typed(&file)?;
            let g = if wrt == LinearTensor::Bias {
                g.into_shape_with_order((1, problem.k()))
            } else {
                g.into_dimensionality()
            };
            let g = g.map_err(|e| crate::Error::Problem(format!("{}: {e}", file.display())))?;
            let accumulate = super::default_accumulation(dtype);
            out.push(ratios(&name, &problem, wrt, &g, (dtype, accumulate), file_dtype));
        }
    }
    Ok(out)
}

/// The ratios of gradlab's own correct gradients (every operation rounded in the dtype, sums
/// pairwise) in f16, bf16, f32 and f64, over 12 seeds of three problem shapes and both
/// reductions, the largest per dtype and tensor.
pub fn own_ratios() -> Vec<Ratios> {
    let mut out: Vec<Ratios> = Vec::new();
    for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
        for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
            let mut worst = Ratios { name: format!("gradlab {dtype}"), wrt, elements: 0, rms: 0.0, max: 0.0 };
            for seed in 0..12u64 {
                for (n, d, k) in [(10, 4, 2), (37, 9, 5), (128, 3, 10)] {
                    let p = Problem::generate(n, d, k, seed).unwrap_or_else(|_| unreachable!("valid sizes"));
                    let g = crate::with_dtype!(dtype, |T, ctx| {
                        let cfg = crate::train::TrainConfig::untrained(Reduction::Mean);
                        let (tr, _) = crate::watch::unwatched(|watch| crate::check::prepare::<T>(&p, ctx, &cfg, watch));
                        wrt.analytic(&tr).map(crate::scalar::Scalar::to_f64)
                    });
                    let r = ratios("", &p, wrt, &g, (dtype, dtype), DType::F64);
                    worst.elements += r.elements;
                    worst.rms = worst.rms.max(r.rms);
                    worst.max = worst.max.max(r.max);
                }
            }
            out.push(worst);
        }
    }
    out
}
