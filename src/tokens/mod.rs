//! Token problems: sequences of tokens as a language model's head sees them, and the per-token
//! weights every normalization of their loss gives ([`weights`]).
//!
//! A [`TokenProblem`] holds inputs x (B sequences x T positions x d features), targets t (B x T,
//! int64, [`IGNORE_INDEX`] = -100 at padded or ignored positions, as PyTorch's
//! `CrossEntropyLoss(ignore_index=-100)`), and a linear head's weight (k x d) and bias (k), all
//! as f64 like [`crate::problem::Problem`]. It loads from and saves to a folder of .npy files
//! (x.npy, t.npy, weight.npy, bias.npy) and is generated from a seed with the sequence lengths
//! drawn from a [`LengthDist`]. [`TokenProblem::tokens`] lists the counted (non-ignored) tokens
//! in order (sequence by sequence, position by position): the flat N x d view every loss and
//! gradient of the tokens runs on.
//!
//! docs/tokens.md describes the format, the length laws and the variants.

pub mod weights;

use crate::error::{Error, Result};
use crate::problem::{representable_everywhere, SplitMix64};
use crate::scalar::Scalar;
use ndarray::{Array1, Array2, Array3};
use std::path::Path;

/// The target that marks a position as ignored (padding): PyTorch's default `ignore_index`.
pub const IGNORE_INDEX: i64 = -100;

crate::named_enum! {
    /// How generated sequence lengths (counted tokens per sequence, 1 to T) are drawn.
    pub enum LengthDist("length distribution") {
        /// Every sequence has all T positions counted (no padding).
        Equal = "equal",
        /// Each length uniform in 1..=T.
        Uniform = "uniform",
        /// A discrete Pareto law of index 1 capped at T: L = min(T, floor(1/U)) with U uniform
        /// in (0, 1], so P(L >= l) = 1/l for l <= T: half the sequences have one token, a
        /// fraction 1/T is full.
        LongTailed = "long-tailed",
    }
}

impl LengthDist {
    /// One length in 1..=t drawn from the law.
    fn draw(self, t: usize, rng: &mut SplitMix64) -> usize {
        match self {
            LengthDist::Equal => t,
            LengthDist::Uniform => 1 + rng.below(t),
            LengthDist::LongTailed => {
                // U in (0, 1]: 1 - uniform, uniform in [0, 1) with 53 bits (exact).
                let u = 1.0 - rng.uniform();
                let l = (1.0 / u).floor();
                if l >= t as f64 {
                    t
                } else {
                    (l as usize).max(1)
                }
            }
        }
    }
}

/// A token classification problem for a linear head with softmax cross-entropy over the
/// non-ignored tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenProblem {
    /// Inputs, B x T x d (padded positions hold values too; their gradient is zero).
    pub x: Array3<f64>,
    /// Targets, B x T: a class in 0..k, or [`IGNORE_INDEX`] for an ignored position.
    pub t: Array2<i64>,
    /// The head's weight, k x d (PyTorch's nn.Linear layout).
    pub weight: Array2<f64>,
    /// The head's bias, k.
    pub bias: Array1<f64>,
}

/// The counted tokens of a problem in order (sequence by sequence, position by position).
#[derive(Clone, Debug, PartialEq)]
pub struct FlatTokens {
    /// Their inputs, N x d.
    pub x: Array2<f64>,
    /// Their classes, N.
    pub t: Vec<usize>,
    /// The sequence (0..B) each belongs to, N, non-decreasing.
    pub seq: Vec<usize>,
    /// The position (0..T) of each in its sequence, N.
    pub pos: Vec<usize>,
}

impl TokenProblem {
    /// Generates a problem from a seed: each sequence's length from `lengths`, its first `length`
    /// positions counted with targets uniform over the k classes, the rest padding (target
    /// [`IGNORE_INDEX`]); x roughly standard normal at every position, weight and bias uniform
    /// in +-1/sqrt(d) as nn.Linear initialises them, every value exactly representable in f16
    /// and bf16 (as [`crate::problem::Problem::generate`]). The lengths are drawn first (one per
    /// sequence), then x, t, weight and bias, from one SplitMix64 stream.
    ///
    /// # Errors
    /// [`Error::Value`] when B, T or d is 0 or k < 2, or the arrays are too large to address.
    pub fn generate(b: usize, t: usize, d: usize, k: usize, lengths: LengthDist, seed: u64) -> Result<Self> {
        for (what, v) in [("B", b), ("T", t), ("d", d)] {
            if v == 0 {
                return Err(Error::value(what, "0", "at least 1"));
            }
        }
        if k < 2 {
            return Err(Error::value("k", k.to_string(), "at least 2 classes"));
        }
        let fits = b
            .checked_mul(t)
            .and_then(|bt| bt.checked_mul(d.max(k)))
            .and_then(|v| v.checked_mul(8))
            .is_some_and(|v| v <= isize::MAX as usize);
        if !fits {
            return Err(Error::value(
                "problem size",
                format!("B={b} T={t} d={d} k={k}"),
                "arrays of B x T x d numbers that a computer can address",
            ));
        }
        let mut rng = SplitMix64::new(seed);
        let lens: Vec<usize> = (0..b).map(|_| lengths.draw(t, &mut rng)).collect();
        let x = Array3::from_shape_fn((b, t, d), |_| representable_everywhere(rng.normal()));
        let mut targets = Array2::from_elem((b, t), IGNORE_INDEX);
        for (s, &len) in lens.iter().enumerate() {
            for p in 0..len {
                targets[[s, p]] = rng.below(k) as i64;
            }
        }
        let bound = 1.0 / (d as f64).sqrt();
        let uni = |rng: &mut SplitMix64| representable_everywhere((2.0 * rng.uniform() - 1.0) * bound);
        let weight = Array2::from_shape_fn((k, d), |_| uni(&mut rng));
        let bias = Array1::from_shape_fn(k, |_| uni(&mut rng));
        Ok(TokenProblem { x, t: targets, weight, bias })
    }

    /// Number of sequences B.
    pub fn b(&self) -> usize {
        self.x.dim().0
    }
    /// Number of positions per sequence T.
    pub fn t_len(&self) -> usize {
        self.x.dim().1
    }
    /// Number of input features d.
    pub fn d(&self) -> usize {
        self.x.dim().2
    }
    /// Number of classes k.
    pub fn k(&self) -> usize {
        self.weight.nrows()
    }

    /// The number of counted (non-ignored) tokens of each sequence, B.
    pub fn lengths(&self) -> Vec<usize> {
        self.t.rows().into_iter().map(|r| r.iter().filter(|&&c| c != IGNORE_INDEX).count()).collect()
    }

    /// The number of counted tokens N.
    pub fn n_tokens(&self) -> usize {
        self.t.iter().filter(|&&c| c != IGNORE_INDEX).count()
    }

    /// The counted tokens as a flat N x d matrix with their classes, sequences and positions.
    pub fn tokens(&self) -> FlatTokens {
        let (b, t, d) = self.x.dim();
        let n = self.n_tokens();
        let mut x = Array2::zeros((n, d));
        let (mut cls, mut seq, mut pos) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for s in 0..b {
            for p in 0..t {
                let c = self.t[[s, p]];
                if c == IGNORE_INDEX {
                    continue;
                }
                x.row_mut(cls.len()).assign(&self.x.slice(ndarray::s![s, p, ..]));
                cls.push(c as usize);
                seq.push(s);
                pos.push(p);
            }
        }
        FlatTokens { x, t: cls, seq, pos }
    }

    /// The targets of every position in row-major (B x T) order, `None` where ignored.
    pub fn targets(&self) -> Vec<Option<usize>> {
        self.t.iter().map(|&c| if c == IGNORE_INDEX { None } else { Some(c as usize) }).collect()
    }

    /// x as a (B T) x d matrix, the positions in row-major order.
    pub fn x_rows(&self) -> Array2<f64> {
        let (b, t, d) = self.x.dim();
        self.x.to_shape((b * t, d)).map(|v| v.to_owned()).unwrap_or_else(|_| unreachable!("B x T x d holds B T rows"))
    }

    /// Checks shapes, targets and finiteness.
    ///
    /// # Errors
    /// [`Error::Problem`] with one sentence naming the first inconsistency: a target that is
    /// neither a class in 0..k nor -100, a shape that does not match, a value that is not
    /// finite, or no counted token at all.
    pub fn validate(&self) -> Result<()> {
        let (b, t, d) = self.x.dim();
        let k = self.k();
        if b == 0 || t == 0 || d == 0 {
            return Err(Error::Problem(format!(
                "x has shape {b} x {t} x {d}; expected at least one sequence, one position and one feature"
            )));
        }
        if k < 2 {
            return Err(Error::Problem(format!("weight has {k} rows (classes); expected at least 2")));
        }
        if self.weight.ncols() != d {
            return Err(Error::Problem(format!(
                "weight has {} columns but x has {d} features; expected weight of shape k x {d}",
                self.weight.ncols()
            )));
        }
        if self.bias.len() != k {
            return Err(Error::Problem(format!(
                "bias has length {} but weight has {k} rows; expected length {k}",
                self.bias.len()
            )));
        }
        if self.t.dim() != (b, t) {
            let (tb, tt) = self.t.dim();
            return Err(Error::Problem(format!(
                "t has shape {tb} x {tt} but x has {b} x {t} positions; expected {b} x {t}"
            )));
        }
        if let Some(((s, p), &c)) = self.t.indexed_iter().find(|(_, &c)| c != IGNORE_INDEX && (c < 0 || c >= k as i64))
        {
            return Err(Error::Problem(format!(
                "t[{s}, {p}] = {c} is neither a class (0 to {}) nor the ignored index {IGNORE_INDEX}",
                k - 1
            )));
        }
        if self.n_tokens() == 0 {
            return Err(Error::Problem(format!("every target is {IGNORE_INDEX}; expected at least one counted token")));
        }
        let all = [
            ("x", self.x.as_slice_memory_order()),
            ("weight", self.weight.as_slice_memory_order()),
            ("bias", self.bias.as_slice_memory_order()),
        ];
        for (name, arr) in all {
            if let Some(v) = arr.into_iter().flatten().find(|v| !v.is_finite()) {
                return Err(Error::Problem(format!("{name} contains {v}; expected finite numbers only")));
            }
        }
        Ok(())
    }

    /// Loads a problem from a folder holding x.npy (B x T x d, float32 or float64), t.npy
    /// (B x T, int64 or int32, -100 at ignored positions), weight.npy (k x d) and bias.npy (k).
    ///
    /// # Errors
    /// [`Error::Read`] for a missing folder or file, a wrong dtype, number of dimensions or a
    /// corrupt file; [`Error::Problem`] for inconsistent shapes, bad targets or non-finite
    /// values ([`TokenProblem::validate`]).
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Read { path: dir.to_path_buf(), reason: "no such folder".into() });
        }
        let x = crate::npy::read_float3(&dir.join("x.npy"))?;
        let t = crate::npy::read_int2(&dir.join("t.npy"))?;
        let weight = crate::npy::read_float2(&dir.join("weight.npy"))?;
        let bias = crate::npy::read_float1(&dir.join("bias.npy"))?;
        let p = TokenProblem { x, t, weight, bias };
        p.validate()?;
        Ok(p)
    }

    /// Saves the problem as x.npy, t.npy, weight.npy, bias.npy (float64, int64) in `dir`.
    ///
    /// # Errors
    /// [`Error::Write`] when a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), reason: e.to_string() })?;
        crate::npy::write(&dir.join("x.npy"), &self.x)?;
        crate::npy::write(&dir.join("t.npy"), &self.t)?;
        crate::npy::write(&dir.join("weight.npy"), &self.weight)?;
        crate::npy::write(&dir.join("bias.npy"), &self.bias)?;
        Ok(())
    }

    /// Rounds x (as (B T) x d rows), weight and bias once into `T` (into S for a mixed dtype),
    /// and counts how many values changed.
    pub fn cast<T: Scalar>(&self, ctx: T::Ctx) -> crate::problem::Cast<T> {
        let mut rounded = 0;
        let mut conv = |v: &f64| {
            let r = T::stored_from_f64(*v, ctx);
            if r.to_f64() != *v {
                rounded += 1;
            }
            r
        };
        let x = self.x_rows().map(&mut conv);
        let weight = self.weight.map(&mut conv);
        let bias = self.bias.map(&mut conv);
        crate::problem::Cast { x, weight, bias, rounded }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tailed_lengths_follow_the_capped_pareto_law() {
        let p = TokenProblem::generate(4000, 8, 1, 2, LengthDist::LongTailed, 3).unwrap();
        let lens = p.lengths();
        let frac = |f: &dyn Fn(usize) -> bool| lens.iter().filter(|&&l| f(l)).count() as f64 / lens.len() as f64;
        // P(L = 1) = 1/2, P(L >= 4) = 1/4, P(L = 8) = 1/8.
        assert!((frac(&|l| l == 1) - 0.5).abs() < 0.03);
        assert!((frac(&|l| l >= 4) - 0.25).abs() < 0.03);
        assert!((frac(&|l| l == 8) - 0.125).abs() < 0.02);
        assert!(lens.iter().all(|&l| (1..=8).contains(&l)));
    }
}
