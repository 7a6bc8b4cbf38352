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

use super::groups::{diagnose_groups, GroupDiagnosis, Precision, Structure, Unit};
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
                let x: ArrayView1<f64> = problem.x.slice(ndarray::s![s, pos, ..]);
                for (c, zc) in z.iter_mut().enumerate() {
                    *zc = problem.bias[c] + problem.weight.row(c).dot(&x);
                }
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
    let d = diagnose_groups(g, groups.view(), &structure, precision)?;
    Ok((structure, d))
}
