//! Problems: inputs x (n x d), targets t, and the initial weight (k x d) and bias (k) of the
//! linear layer, either generated from a seed or loaded from .npy files saved by numpy/PyTorch.
//!
//! A [`Problem`] holds its numbers as f64. [`Problem::cast`] rounds them once into a dtype.

use crate::error::{Error, Result};
use crate::scalar::{DType, Scalar};
use ndarray::{Array1, Array2};
use std::path::Path;

/// A classification problem for a linear layer with softmax cross-entropy.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Inputs, n x d.
    pub x: Array2<f64>,
    /// Targets, n classes in 0..k.
    pub t: Vec<usize>,
    /// Initial weight, k x d (PyTorch's nn.Linear layout).
    pub weight: Array2<f64>,
    /// Initial bias, k.
    pub bias: Array1<f64>,
}

/// The problem's numbers rounded into a dtype `T`.
#[derive(Clone, Debug)]
pub struct Cast<T> {
    /// Inputs, n x d.
    pub x: Array2<T>,
    /// Weight, k x d.
    pub weight: Array2<T>,
    /// Bias, k.
    pub bias: Array1<T>,
    /// How many values were changed by rounding into `T`.
    pub rounded: usize,
}

/// The SplitMix64 generator: tiny, fully specified, and identical on every platform, so a seed
/// means the same problem forever (no dependence on a crate's version).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A uniform f64 in [0, 1) with 53 random bits (exact).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// A uniform integer in 0..k (k > 0), by a widening multiply.
    pub fn below(&mut self, k: usize) -> usize {
        ((self.next_u64() as u128 * k as u128) >> 64) as usize
    }
    /// An approximately standard normal number: the Irwin-Hall sum of 12 uniforms minus 6
    /// (mean 0, variance 1, tails cut at +-6).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// Rounds `v` to the nearest value that f16, bf16 and every wider format represent exactly
/// (8 significand bits, magnitude 2^-14 to 65504); smaller magnitudes become 0.
pub fn representable_everywhere(v: f64) -> f64 {
    let r = half::bf16::from_float(&rug::Float::with_val(53, v), ()).to_f64();
    if r.abs() < 2f64.powi(-14) {
        0.0
    } else {
        r.clamp(-65504.0, 65504.0)
    }
}

impl Problem {
    /// Generates a problem from a seed: x roughly standard normal, t uniform over the k classes,
    /// weight and bias uniform in +-1/sqrt(d) as PyTorch's nn.Linear initialises them. Every
    /// value is exactly representable in f16 and bf16, so every dtype starts from identical data.
    ///
    /// # Errors
    /// [`Error::Value`] when n or d is 0 or k < 2.
    pub fn generate(n: usize, d: usize, k: usize, seed: u64) -> Result<Self> {
        check_sizes(n, d, k)?;
        let mut rng = SplitMix64::new(seed);
        let x = Array2::from_shape_fn((n, d), |_| representable_everywhere(rng.normal()));
        let t = (0..n).map(|_| rng.below(k)).collect();
        let bound = 1.0 / (d as f64).sqrt();
        let uni = |rng: &mut SplitMix64| representable_everywhere((2.0 * rng.uniform() - 1.0) * bound);
        let weight = Array2::from_shape_fn((k, d), |_| uni(&mut rng));
        let bias = Array1::from_shape_fn(k, |_| uni(&mut rng));
        Ok(Problem { x, t, weight, bias })
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }
    /// Number of input features.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }
    /// Number of classes.
    pub fn k(&self) -> usize {
        self.weight.nrows()
    }

    /// Checks shapes, target range and finiteness.
    ///
    /// # Errors
    /// [`Error::Problem`] with one sentence naming the first inconsistency.
    pub fn validate(&self) -> Result<()> {
        let (n, d, k) = (self.n(), self.d(), self.k());
        if n == 0 || d == 0 {
            return Err(Error::Problem(format!("x has shape {n} x {d}; expected at least one sample and one feature")));
        }
        if k < 2 {
            return Err(Error::Problem(format!("weight has {k} rows (classes); expected at least 2")));
        }
        if self.weight.ncols() != d {
            return Err(Error::Problem(format!(
                "weight has {} columns but x has {d}; expected weight of shape k x {d}",
                self.weight.ncols()
            )));
        }
        if self.bias.len() != k {
            return Err(Error::Problem(format!(
                "bias has length {} but weight has {k} rows; expected length {k}",
                self.bias.len()
            )));
        }
        if self.t.len() != n {
            return Err(Error::Problem(format!(
                "t has length {} but x has {n} rows; expected length {n}",
                self.t.len()
            )));
        }
        if let Some((j, &c)) = self.t.iter().enumerate().find(|(_, &c)| c >= k) {
            return Err(Error::Problem(format!("t[{j}] = {c} is not a class; expected 0 to {}", k - 1)));
        }
        let all = [("x", self.x.as_slice()), ("weight", self.weight.as_slice()), ("bias", self.bias.as_slice())];
        for (name, arr) in all {
            if let Some(v) = arr.into_iter().flatten().find(|v| !v.is_finite()) {
                return Err(Error::Problem(format!("{name} contains {v}; expected finite numbers only")));
            }
        }
        Ok(())
    }

    /// Rounds every value once into `T` and counts how many changed.
    pub fn cast<T: Scalar>(&self, ctx: T::Ctx) -> Cast<T> {
        let mut rounded = 0;
        let mut conv = |v: &f64| {
            // Rounded once into the dtype (into its storage format, for a mixed dtype).
            let r = T::stored_from_f64(*v, ctx);
            if r.to_f64() != *v {
                rounded += 1;
            }
            r
        };
        let x = self.x.map(&mut conv);
        let weight = self.weight.map(&mut conv);
        let bias = self.bias.map(&mut conv);
        Cast { x, weight, bias, rounded }
    }

    /// How many values a dtype cannot represent exactly (they are rounded once on [`Problem::cast`]).
    pub fn rounded_count(&self, dtype: DType) -> usize {
        crate::with_dtype!(dtype, |T, ctx| self.cast::<T>(ctx).rounded)
    }

    /// Loads a problem from a folder holding x.npy (n x d, float32 or float64), t.npy (n, int64),
    /// weight.npy (k x d) and bias.npy (k), as saved by `numpy.save` or from PyTorch tensors.
    ///
    /// # Errors
    /// [`Error::Read`] for a missing folder or file, a wrong dtype or a corrupt file;
    /// [`Error::Problem`] for inconsistent shapes, bad targets or non-finite values.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Read { path: dir.to_path_buf(), reason: "no such folder".into() });
        }
        let x = crate::npy::read_float2(&dir.join("x.npy"))?;
        let weight = crate::npy::read_float2(&dir.join("weight.npy"))?;
        let bias = crate::npy::read_float1(&dir.join("bias.npy"))?;
        let t = crate::npy::read_int1(&dir.join("t.npy"))?;
        Problem::from_arrays(x, &t.to_vec(), weight, bias)
    }

    /// The problem of the arrays x (n x d), t (n class indices), weight (k x d) and bias (k),
    /// validated as [`Problem::load`] validates its files (each target a class, finite values,
    /// matching sizes): the Python `gradlab.check`'s problem.
    ///
    /// # Errors
    /// [`Error::Problem`] naming the first target that is not a class, or what
    /// [`Problem::validate`] finds.
    pub fn from_arrays(x: Array2<f64>, t_raw: &[i64], weight: Array2<f64>, bias: Array1<f64>) -> Result<Self> {
        let k = weight.nrows();
        let mut t = Vec::with_capacity(t_raw.len());
        for (j, &c) in t_raw.iter().enumerate() {
            if c < 0 || c as u64 >= k as u64 {
                return Err(Error::Problem(format!(
                    "t[{j}] = {c} is not a class; expected 0 to {}",
                    k.saturating_sub(1)
                )));
            }
            t.push(c as usize);
        }
        let p = Problem { x, t, weight, bias };
        p.validate()?;
        Ok(p)
    }

    /// Saves the problem as x.npy, t.npy, weight.npy, bias.npy (float64, int64) in `dir`.
    ///
    /// # Errors
    /// [`Error::Write`] when a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), reason: e.to_string() })?;
        let t: Array1<i64> = self.t.iter().map(|&c| c as i64).collect();
        crate::npy::write(&dir.join("x.npy"), &self.x)?;
        crate::npy::write(&dir.join("t.npy"), &t)?;
        crate::npy::write(&dir.join("weight.npy"), &self.weight)?;
        crate::npy::write(&dir.join("bias.npy"), &self.bias)?;
        Ok(())
    }
}

fn check_sizes(n: usize, d: usize, k: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::value("n", "0", "at least 1 sample"));
    }
    if d == 0 {
        return Err(Error::value("d", "0", "at least 1 feature"));
    }
    if k < 2 {
        return Err(Error::value("k", k.to_string(), "at least 2 classes"));
    }
    // An array of f64 holds at most isize::MAX bytes; larger sizes are refused, not a panic.
    let fits = |rows: usize, cols: usize| {
        rows.checked_mul(cols).and_then(|v| v.checked_mul(8)).is_some_and(|b| b <= isize::MAX as usize)
    };
    if !fits(n, d) || !fits(k, d) {
        return Err(Error::value(
            "problem size",
            format!("n={n} d={d} k={k}"),
            "arrays of n x d and k x d numbers that a computer can address",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_seeded_and_exact_in_half_types() {
        let a = Problem::generate(10, 4, 2, 0).unwrap();
        let b = Problem::generate(10, 4, 2, 0).unwrap();
        let c = Problem::generate(10, 4, 2, 1).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.rounded_count(DType::F16), 0);
        assert_eq!(a.rounded_count(DType::BF16), 0);
        let bound = 0.5;
        assert!(a.weight.iter().chain(a.bias.iter()).all(|v| v.abs() <= bound));
        let big = Problem::generate(2000, 8, 3, 7).unwrap();
        let mean = big.x.mean().unwrap();
        let var = big.x.mapv(|v| v * v).mean().unwrap();
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.03, "mean {mean} var {var}");
        assert!(big.t.iter().all(|&c| c < 3));
    }
}
