//! A token problem's parameter gradient, diagnosed against its sequences' gradients: the groups
//! of [`super::groups`] are the B sequences, each counting its non-ignored tokens, so every
//! normalization variant of [`crate::tokens::weights`] (a per-micro-batch token mean, a sum of
//! micro-batch means, a double division, a partial window, a mean over ranks of rank means, a
//! sequence mean) is a pattern of per-sequence weights the diagnosis recovers and names.
//!
//! The sequences' gradients are the linear head's: row j is the sum over sequence j's counted
//! tokens of (softmax(W x + b) - onehot(t)) x^T (and of the bracket alone for the bias), at the
//! problem's parameters. They are computed in f64 (the softmax with its maximum subtracted, each
//! sequence's tokens summed in order): their relative rounding, about 1e-16 times the square root
//! of a sequence's length, is far below the tolerance of an f32 or 16-bit gradient, and of the
//! order of an f64 gradient's own, which the f64 tolerance covers.

use super::groups::along::Rounding;
use super::groups::{diagnose_groups_with, GroupDiagnosis, Precision, Structure, Unit};
use crate::error::{Error, Result};
use crate::objective::LinearTensor;
use crate::tokens::weights::TokenReduction;
use crate::tokens::TokenProblem;
use ndarray::{Array2, ArrayView1};
use rayon::prelude::*;

/// The tensors a token gradient can be taken with respect to: the head's weight and bias (the
/// input's gradient of a sequence touches only that sequence, so its groups would be B x (B T d)).
pub const TOKEN_TENSORS: [LinearTensor; 2] = [LinearTensor::Weight, LinearTensor::Bias];

/// How the token loop was organized: the sequences per micro-batch in order, the configured
/// accumulation steps and the data-parallel ranks (as `gradlab diagnose --microbatches
/// --accumulation --ranks`), and the loss meant.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLoop {
    /// The loss meant: the token mean (default), the sum, or the mean of sequence means.
    pub reduction: TokenReduction,
    /// Sequences per micro-batch, in order (adding up to B); `None`: one batch.
    pub microbatches: Option<Vec<usize>>,
    /// K, the configured accumulation steps.
    pub accumulation: Option<usize>,
    /// R, the data-parallel ranks (micro-batch i on rank i mod R).
    pub ranks: Option<usize>,
}

impl Default for TokenLoop {
    /// One batch, the token mean meant.
    fn default() -> Self {
        TokenLoop { reduction: TokenReduction::Mean, microbatches: None, accumulation: None, ranks: None }
    }
}

/// The gradients of each sequence's summed token loss with respect to `wrts` (in that order,
/// each flattened row-major and concatenated: W's k x d values, then b's k), at the problem's
/// parameters: B rows. Sequences run in parallel; each row is summed in token order, so the
/// result is the same whatever the thread count.
///
/// # Errors
/// [`Error::Usage`] for the input tensor or an empty list; [`Error::Problem`] for an invalid
/// problem.
pub fn sequence_grads(problem: &TokenProblem, wrts: &[LinearTensor]) -> Result<Array2<f64>> {
    problem.validate()?;
    if wrts.is_empty() {
        return Err(Error::Usage("no tensor was given; expected weight, bias or both".into()));
    }
    if wrts.contains(&LinearTensor::Input) {
        return Err(Error::Usage(
            "a token problem's gradient is diagnosed with respect to weight and bias; expected --wrt weight, bias or \
             weight,bias (an input gradient touches only its own sequence)"
                .into(),
        ));
    }
    let (b, t_len, d, k) = (problem.b(), problem.t_len(), problem.d(), problem.k());
    let width: usize = wrts.iter().map(|w| if *w == LinearTensor::Weight { k * d } else { k }).sum();
    let rows: Vec<Vec<f64>> = (0..b)
        .into_par_iter()
        .map(|s| {
            let mut row = vec![0.0; width];
            let mut z = vec![0.0; k];
            for pos in 0..t_len {
                let Ok(class) = usize::try_from(problem.t[[s, pos]]) else { continue };
                let x = logits(problem, s, pos, &mut z);
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for zc in z.iter_mut() {
                    *zc = (*zc - max).exp();
                    sum += *zc;
                }
                let mut at = 0;
                for wrt in wrts {
                    for c in 0..k {
                        let r = z[c] / sum - if c == class { 1.0 } else { 0.0 };
                        if *wrt == LinearTensor::Weight {
                            for (o, xv) in row[at + c * d..at + (c + 1) * d].iter_mut().zip(x.iter()) {
                                *o += r * xv;
                            }
                        } else {
                            row[at + c] += r;
                        }
                    }
                    at += if *wrt == LinearTensor::Weight { k * d } else { k };
                }
            }
            row
        })
        .collect();
    Ok(Array2::from_shape_vec((b, width), rows.concat()).unwrap_or_else(|_| unreachable!("B rows of the width")))
}

/// The head's logits z_c = b_c + W_c . x of sequence `s`'s token at `pos`, into `z`; returns x.
fn logits<'p>(problem: &'p TokenProblem, s: usize, pos: usize, z: &mut [f64]) -> ArrayView1<'p, f64> {
    let x = problem.x.slice(ndarray::s![s, pos, ..]);
    for (c, zc) in z.iter_mut().enumerate() {
        *zc = problem.bias[c] + problem.weight.row(c).dot(&x);
    }
    x
}

/// Diagnoses `g`, the gradient a token training step left for `wrts` (flattened and concatenated
/// as [`sequence_grads`]), against the problem's sequences: the weight each sequence actually got,
/// against what the correct loss and each normalization mistake give for `loop_`'s structure.
///
/// # Errors
/// [`Error::Usage`] for a gradient of the wrong length, a structure that does not fit the B
/// sequences, or a sequence-mean with an empty sequence; [`Error::Problem`] for an invalid
/// problem.
pub fn diagnose_tokens(
    problem: &TokenProblem,
    wrts: &[LinearTensor],
    g: &[f64],
    loop_: &TokenLoop,
    precision: &Precision,
) -> Result<(Structure, GroupDiagnosis)> {
    let groups = sequence_grads(problem, wrts)?;
    if g.len() != groups.ncols() {
        return Err(Error::Usage(format!(
            "the gradient has {} values; expected {} (the head's {} with k = {} classes and d = {} features)",
            g.len(),
            groups.ncols(),
            wrts.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" and "),
            problem.k(),
            problem.d()
        )));
    }
    let lengths = problem.lengths();
    if let Some(s) = lengths.iter().position(|&l| l == 0) {
        return Err(Error::Usage(format!(
            "sequence {s} has no counted token (every target is -100); expected at least one in every sequence: \
             leave empty sequences out of the files and of --microbatches"
        )));
    }
    let structure = Structure {
        counts: lengths,
        unit: Unit::Tokens,
        reduction: loop_.reduction,
        microbatches: loop_.microbatches.clone(),
        accumulation: loop_.accumulation,
        ranks: loop_.ranks,
    };
    let rounding = TokenRounding::new(problem, wrts);
    let d = diagnose_groups_with(g, groups.view(), &structure, precision, Some(&rounding))?;
    Ok((structure, d))
}

/// The token head's own rounding along a direction ([`Rounding`]), as a framework computes a
/// token's gradient in the storage dtype S with sums in the compute dtype C: the logits z stored
/// in S (each off by up to u_S |z_c|, which moves p_c by up to p_c u_S (|z_c| + max_c |z_c|)),
/// the log-probabilities stored in S (p_c off by up to p_c u_S |ln p_c|), the residual
/// dz_c = p_c - [c = t] stored in S (u_S |dz_c|), and the products dz_c x_i summed over the
/// tokens in C (up to u_C sqrt(N) of each token's part, N the counted tokens, for sums whose
/// errors add in quadrature). Each token and class rounds on its own; projected on the
/// direction, token j's class c contributes w_s e_c y_c, with e_c = |dz_c| + p_c (|z_c| + max_c
/// |z_c| + |ln p_c|) and y_c the direction's part that multiplies dz_c (the weight row's dot
/// product with x, plus the bias entry). The inputs and parameters are taken as exact (the
/// problem's values, as loaded).
pub struct TokenRounding<'a> {
    problem: &'a TokenProblem,
    wrts: &'a [LinearTensor],
    /// Per sequence, its counted tokens' e_c (tokens x k, row-major), computed at first use.
    bounds: std::sync::OnceLock<Vec<Vec<f64>>>,
}

impl<'a> TokenRounding<'a> {
    /// The rounding model of `problem`'s head, for a gradient with respect to `wrts` (flattened
    /// as [`sequence_grads`]).
    pub fn new(problem: &'a TokenProblem, wrts: &'a [LinearTensor]) -> Self {
        TokenRounding { problem, wrts, bounds: std::sync::OnceLock::new() }
    }

    /// Each sequence's counted tokens' e_c, in token order.
    fn bounds(&self) -> &Vec<Vec<f64>> {
        self.bounds.get_or_init(|| {
            let pr = self.problem;
            let k = pr.k();
            (0..pr.b())
                .into_par_iter()
                .map(|s| {
                    let mut out = Vec::new();
                    let mut z = vec![0.0; k];
                    for pos in 0..pr.t_len() {
                        let Ok(class) = usize::try_from(pr.t[[s, pos]]) else { continue };
                        logits(pr, s, pos, &mut z);
                        let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let biggest = z.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                        let sum: f64 = z.iter().map(|v| (v - top).exp()).sum();
                        for (c, &zc) in z.iter().enumerate() {
                            let ln_p = zc - top - sum.ln();
                            let p = ln_p.exp();
                            let dz = p - if c == class { 1.0 } else { 0.0 };
                            out.push(dz.abs() + p * (zc.abs() + biggest + ln_p.abs()));
                        }
                    }
                    out
                })
                .collect()
        })
    }
}

impl Rounding for TokenRounding<'_> {
    fn along(&self, direction: &[f64], weights: &[f64], p: &Precision) -> f64 {
        let (k, d) = (self.problem.k(), self.problem.d());
        // Where each tensor's part of the direction starts.
        let (mut weight_at, mut bias_at, mut at) = (None, None, 0);
        for wrt in self.wrts {
            if *wrt == LinearTensor::Weight {
                weight_at = Some(at);
                at += k * d;
            } else {
                bias_at = Some(at);
                at += k;
            }
        }
        // Token j's class c moves the gradient along the direction by e_c y_c.
        self.weighted(weights, p, |e, x| {
            (0..k)
                .map(|c| {
                    let mut y = bias_at.map_or(0.0, |b| direction[b + c]);
                    if let Some(w) = weight_at {
                        y +=
                            direction[w + c * d..w + (c + 1) * d].iter().zip(x.iter()).map(|(a, b)| a * b).sum::<f64>();
                    }
                    (e[c] * y).powi(2)
                })
                .sum()
        })
    }

    fn total(&self, weights: &[f64], p: &Precision) -> f64 {
        let (with_weight, with_bias) =
            (self.wrts.contains(&LinearTensor::Weight), self.wrts.contains(&LinearTensor::Bias));
        // Token j's class c moves the weight's row c by e_c x (norm e_c ||x||) and the bias's
        // entry c by e_c.
        self.weighted(weights, p, |e, x| {
            let reach = if with_weight { x.dot(&x) } else { 0.0 } + if with_bias { 1.0 } else { 0.0 };
            e.iter().map(|v| v * v).sum::<f64>() * reach
        })
    }
}

impl TokenRounding<'_> {
    /// (u_S + u_C sqrt(N)) sqrt(sum_s w_s^2 sum over sequence s's counted tokens of
    /// `per_token(e, x)`), with e the token's k bounds e_c and x its features: u_S for each
    /// stored value, u_C sqrt(N) for the sums over the N counted tokens. Sequences run in
    /// parallel, each summed in token order.
    fn weighted(
        &self,
        weights: &[f64],
        p: &Precision,
        per_token: impl Fn(&[f64], ArrayView1<f64>) -> f64 + Sync,
    ) -> f64 {
        let pr = self.problem;
        let k = pr.k();
        let bounds = self.bounds();
        let tokens: usize = bounds.iter().map(|b| b.len() / k.max(1)).sum();
        let per_sequence: Vec<f64> = (0..pr.b())
            .into_par_iter()
            .map(|s| {
                let counted = (0..pr.t_len()).filter(|&pos| pr.t[[s, pos]] >= 0);
                let total: f64 = counted
                    .zip(bounds[s].chunks_exact(k))
                    .map(|(pos, e)| per_token(e, pr.x.slice(ndarray::s![s, pos, ..])))
                    .sum();
                weights[s] * weights[s] * total
            })
            .collect();
        let unit = p.dtype.unit_roundoff() + p.compute.unit_roundoff() * (tokens as f64).sqrt();
        unit * per_sequence.iter().sum::<f64>().sqrt()
    }
}
