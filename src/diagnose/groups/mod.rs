//! The model-agnostic diagnosis: whatever the model, the gradient of the loss meant is a weighted
//! sum of its groups' gradients (samples, sequences, micro-batches, ranks) with known weights; a
//! wrong training loop uses other weights. Recover the weights the user's gradient used, and the
//! pattern they follow names the mistake.
//!
//! **Convention.** G_j is the gradient of group j's *summed* loss (over its c_j samples or
//! counted tokens), all at the same parameters, flattened to P values and computed in f64 by the
//! caller; N = sum_j c_j. The correct gradient is sum_j G_j / N (reduction mean), sum_j G_j
//! (sum), or sum_j G_j / (m c_j) (sequence-mean: the groups are the m sequences).
//!
//! **Fit** ([`solve`]): the least-squares weights w with g ~ G^T w (corrected semi-normal
//! equations with compensated residuals), the relative residual rho = ||g - G^T w|| / ||g||,
//! and the conditioning of the groups.
//!
//! **Tolerance** ([`tolerance`]): a correct gradient computed and stored in the dtype S and
//! accumulated over the groups in the dtype A lies within tau ||g|| of sum_j w_j G_j, with
//! tau = (F_S u_S + F_C u_C) a + Z u_A sqrt(sum_{k>=2} ||S_k||^2) / ||g|| + tau_0, with C the
//! dtype the model computed in, a = max(1, sqrt(sum_j ||w_j G_j||^2) / ||g||) the cancellation
//! of the groups' contributions and S_k their partial sums in order: after every group, or, when
//! micro-batches are given, after each micro-batch, where a loop adds to `.grad`
//! ([`tolerance_at`]) (F_S = [`STORAGE_ULPS`], F_C = [`COMPUTE_ULPS`], Z = [`ACCUMULATION_Z`],
//! tau_0 = [`TOLERANCE_FLOOR`]).
//!
//! **Patterns.** Each named mistake predicts weights w^p (all of the form 1/integer, compared
//! exactly). A pattern fits when ||g - G^T w^p|| <= tau ||g||, computed as
//! sqrt(rho^2 + ||G^T (w - w^p)||^2 / ||g||^2) (out of the span and in it). A
//! mistake q is *visible* when ||G^T (w^q - w^correct)|| > 2 tau ||g|| (a gradient within
//! tolerance of one lies outside the other's), *harmless* when its weights equal the correct ones
//! exactly (equal micro-batch sizes), and *hidden* otherwise: a gradient that fits the correct
//! weights is `correct` only when no mistake is hidden, else `inconclusive` with why (the
//! conditioning of the groups, or the dtype).
//!
//! The verdict, tried in order: a named pattern fits (correct, or the mistakes closest first);
//! else one factor s fits (`wrong_sign`, `accumulated_over_steps` for s near a whole E >= 2,
//! `scaled`); else, with rho above tau (or with weights that are not identifiable, or groups
//! spanning every direction of the gradient, where being in the span says nothing), one factor
//! within [`crate::policy::FACTOR_TOLERANCE`] near a whole E >= 2 is `accumulated_over_steps`
//! (parameters moved between the steps);
//! else `unexplained` with the best fit's residual.

pub mod along;
pub mod solve;
pub mod step_back;
pub mod text;

use super::Verdict;
use crate::error::{Error, Result};
use crate::scalar::DType;
pub use crate::tokens::weights::TokenReduction;
use along::{Outcome, Rounding};
use ndarray::ArrayView2;
use serde::Serialize;
use solve::{combine, norm, Solution};

/// tau's storage term, in units of the storage dtype's u: the stored gradient itself carries up
/// to 1 u_S of rounding per element, and a correct computation stores intermediates
/// (activations and their gradients) in S too, each storage adding about u_S relative in
/// quadrature; PyTorch's correct bfloat16 and float16 gradients of the linear model
/// (tests/fixtures/diagnose/calibration, n = 10 to 512) lie up to 17 u_S from the correct
/// weighted sum (at n = 10; tests/diagnose_groups.rs prints them), and 32 leaves a margin of 2. A model whose rounding is larger passes
/// [`Precision::tolerance`] explicitly (a tolerance below a model's own rounding would call a
/// correct gradient `unexplained`).
pub const STORAGE_ULPS: f64 = 32.0;

/// tau's computation term, in units of the compute dtype's u (where the model's arithmetic and
/// sums run: f32 for bf16 and f16 in PyTorch's kernels): inside each group's gradient, rounding
/// errors are amplified by cancellation (a softmax residual p - 1 near 0 keeps the absolute
/// error of p), which no model-agnostic bound sees; PyTorch's correct float32 gradients of the
/// linear model reach 14 u_32 (n = 10), and 64 leaves a margin of 4.
pub const COMPUTE_ULPS: f64 = 64.0;

/// tau's accumulation term: each addition of a group's contribution to the running sum (a
/// `.grad` accumulated over micro-batches, an all-reduce) rounds the partial sum S_k with
/// relative error up to u_A; their signs vary, so the errors add in quadrature
/// (u_A sqrt(sum ||S_k||^2), Higham and Mary's probabilistic bound), and 2 covers their spread.
pub const ACCUMULATION_Z: f64 = 2.0;

/// tau's floor: G is itself a float64 computation of the model's code, off the exact gradient
/// by its own rounding (sums of L terms at about sqrt(L) u_64: below 2^-40 for L up to 1e7).
pub const TOLERANCE_FLOOR: f64 = 9.094947017729282e-13; // 2^-40

/// Conditioning above which a hidden mistake is blamed on the groups' collinearity rather than
/// on the dtype.
const COLLINEAR: f64 = 1e3;

/// Groups listed one by one in the text (the JSON has them all).
pub const LISTED_GROUPS: usize = 16;

crate::named_enum! {
    /// What the counts c_j count.
    pub enum Unit("--unit") {
        /// Samples (rows): a group is one sample or a set of samples.
        Samples = "samples",
        /// Counted (non-ignored) tokens: a group is a sequence, or a micro-batch when
        /// `microbatches` gives each group its own.
        Tokens = "tokens",
    }
}

crate::named_enum! {
    /// A recognised mistake of the weights (see the module docs and docs/diagnose.md).
    pub enum GroupCause("cause") {
        /// Weights 1: the summed loss where the mean was meant.
        SumInsteadOfMean = "sum_instead_of_mean",
        /// Each micro-batch's sample mean, averaged over the K micro-batches: 1/(K c_b).
        MeanOfMicrobatchMeans = "mean_of_microbatch_means",
        /// Each micro-batch's token mean, averaged over the K micro-batches: 1/(K c_b)
        /// (transformers #34191).
        PerMicrobatchTokenMean = "per_microbatch_token_mean",
        /// Micro-batch means summed, not divided by K: 1/c_b.
        SumOfMicrobatchMeans = "sum_of_microbatch_means",
        /// The global mean divided by K again: 1/(K N) (transformers #35438).
        DoubleNormalization = "double_normalization",
        /// A last window of B < K micro-batches, each mean divided by the configured K:
        /// 1/(K c_b) (ms-swift #10084).
        PartialWindow = "partial_window",
        /// The mean over R ranks of per-rank means: 1/(R N_r).
        RankMeanOfMeans = "rank_mean_of_means",
        /// The mean of sequence means where the token mean was meant: 1/(m c_j).
        SequenceMeanInsteadOfTokenMean = "sequence_mean_instead_of_token_mean",
        /// The token mean where the mean of sequence means was meant: 1/N.
        TokenMeanInsteadOfSequenceMean = "token_mean_instead_of_sequence_mean",
        /// -1 times the correct weights.
        WrongSign = "wrong_sign",
        /// About E >= 2 times the correct weights: gradients summed over E steps.
        AccumulatedOverSteps = "accumulated_over_steps",
        /// s times the correct weights for another factor s.
        Scaled = "scaled",
        /// Every value is a number of a narrower dtype (bf16, f16), within whose rounding the
        /// gradient fits: computed in it, judged by a wider one.
        DtypeMismatch = "dtype_mismatch",
        /// The gradient of the parameters one SGD step back: the model was stepped after the
        /// backward pass (needs a caller that can evaluate the loss elsewhere: [`step_back`]).
        ParamsAfterStep = "params_after_step",
        /// No pattern fits: the weights vary with no structure, or the gradient is not in the
        /// groups' span.
        Unexplained = "unexplained",
    }
}

/// What the groups are: their item counts and how the loop combined them.
#[derive(Clone, Debug, PartialEq)]
pub struct Structure {
    /// c_j, the samples or counted tokens of each group, in order (each at least 1).
    pub counts: Vec<usize>,
    /// What the counts count.
    pub unit: Unit,
    /// The loss meant.
    pub reduction: TokenReduction,
    /// The number of consecutive groups in each micro-batch of the optimizer step, in order
    /// (adding up to m); `None`: one micro-batch per group when `accumulation` is given, else
    /// no micro-batches.
    pub microbatches: Option<Vec<usize>>,
    /// K, the configured accumulation steps of a rank's window (default: the micro-batches of
    /// the fullest window; more than a window holds: a partial window).
    pub accumulation: Option<usize>,
    /// R data-parallel ranks, their gradients averaged: with micro-batches, micro-batch i runs on
    /// rank i mod R (as `tokens::weights::Structure`); without, each rank holds m / R
    /// consecutive groups.
    pub ranks: Option<usize>,
}

impl Structure {
    /// m groups of `counts` with the mean meant and no micro-batches or ranks.
    pub fn of_counts(counts: Vec<usize>) -> Self {
        Structure {
            counts,
            unit: Unit::Samples,
            reduction: TokenReduction::Mean,
            microbatches: None,
            accumulation: None,
            ranks: None,
        }
    }
}

/// The dtypes the user's gradient was computed in, and an optional tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Precision {
    /// The storage dtype S of the gradient and of the computation (a mixed S+C: S).
    pub dtype: DType,
    /// The dtype the model's arithmetic and sums ran in (f32 for 16- and 8-bit dtypes, as
    /// PyTorch's kernels; C for S+C).
    pub compute: DType,
    /// The dtype the groups' contributions were summed in (`.grad` over micro-batches).
    pub accumulate: DType,
    /// A relative tolerance tau replacing [`tolerance`]'s (for a model whose own rounding is
    /// larger).
    pub tolerance: Option<f64>,
}

impl Precision {
    /// A gradient in `dtype`, computed as frameworks do ([`super::default_accumulation`]), its
    /// groups summed where it is kept: C for a mixed S+C (a float32 master gradient), the dtype
    /// itself otherwise (a bf16 `.grad` accumulates in bf16).
    pub fn new(dtype: DType) -> Self {
        Precision {
            dtype,
            compute: super::default_accumulation(dtype),
            accumulate: dtype.loss_dtype(),
            tolerance: None,
        }
    }
}

/// The group whose recovered weight is furthest from the correct one, relatively.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorstGroup {
    /// Its index (0-based, in order).
    pub group: usize,
    /// Its count c_j.
    pub count: usize,
    /// The recovered weight.
    pub weight: f64,
    /// The correct weight.
    pub correct: f64,
    /// weight / correct.
    pub ratio: f64,
    /// The largest change of this weight an error of tau ||g|| in the gradient can make (from
    /// the conditioning): tau ||g|| sqrt((A^-1)_jj).
    pub resolution: f64,
}

/// The weights: recovered, correct, and those of the best pattern.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Weights {
    /// The least-squares weights (0 for a group dependent on the others).
    pub recovered: Vec<f64>,
    /// The correct weights.
    pub correct: Vec<f64>,
    /// The best pattern's weights, when one fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<f64>>,
}

/// A named mistake the verdict asked about: how far its gradient lies from the correct one.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPower {
    /// The mistake.
    pub cause: GroupCause,
    /// ||G^T (w^q - w^correct)|| / ||g||.
    pub separation: f64,
    /// Its weights equal the correct ones exactly.
    pub harmless: bool,
    /// separation > 2 tau, or (with a model's [`along::Rounding`]) more than 2 roundings along
    /// its own direction.
    pub visible: bool,
    /// The test along the mistake's direction, when a model gave its rounding and tau hid it.
    pub along: Option<along::Along>,
}

/// A cause with its evidence, as sentences.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupFinding {
    /// The cause.
    pub cause: GroupCause,
    /// Why, with the numbers, and the fix.
    pub evidence: Vec<String>,
}

/// The diagnosis of a gradient against its groups. Serialized (`gradlab diagnose --groups
/// --format json`): `verdict`, `causes`, `factor`, `relerr`, `residual`, `tolerance`, then
/// `reason` (inconclusive), `microbatch_sizes` and `worst` where they apply, and `weights`.
#[derive(Clone, Debug, Serialize)]
pub struct GroupDiagnosis {
    /// Correct, wrong or inconclusive.
    pub verdict: Verdict,
    /// The causes that fit, closest first (empty unless wrong).
    pub causes: Vec<GroupCause>,
    /// s, the least-squares factor of g on the correct gradient.
    pub factor: f64,
    /// ||g - correct|| / ||correct||.
    pub relerr: f64,
    /// rho, the best fit's ||g - G^T w|| / ||g||.
    pub residual: f64,
    /// tau.
    pub tolerance: f64,
    /// Why inconclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The items per micro-batch c_b, when a micro-batch cause is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microbatch_sizes: Option<Vec<usize>>,
    /// The group furthest from its correct weight (when the weights are identifiable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst: Option<WorstGroup>,
    /// The learning rate of the step back (`params_after_step`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// The dtype the gradient fits in (`dtype_mismatch`): the dtype to pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// The weights.
    pub weights: Weights,
    /// The causes with their evidence.
    #[serde(skip)]
    pub findings: Vec<GroupFinding>,
    /// The mistakes asked about, when the gradient fits the correct weights.
    #[serde(skip)]
    pub power: Vec<GroupPower>,
    /// Sentences on the structure (harmless mistakes, dependent groups).
    #[serde(skip)]
    pub notes: Vec<String>,
    /// The condition number of the row-equilibrated groups.
    #[serde(skip)]
    pub condition: f64,
    /// The numerical rank of the groups.
    #[serde(skip)]
    pub rank: usize,
    /// m.
    #[serde(skip)]
    pub groups: usize,
    /// P.
    #[serde(skip)]
    pub parameters: usize,
    /// N = sum of the counts.
    #[serde(skip)]
    pub items: u128,
}

/// Weights 1/den (times a sign), compared exactly by their denominators.
#[derive(Clone, Debug, PartialEq)]
struct Rational {
    sign: i8,
    den: Vec<u128>,
}

impl Rational {
    fn of(den: Vec<u128>) -> Self {
        Rational { sign: 1, den }
    }

    fn values(&self) -> Vec<f64> {
        self.den.iter().map(|&d| f64::from(self.sign) / d as f64).collect()
    }
}

/// A named pattern: its cause (`None`: the correct weights) and weights.
struct Pattern {
    cause: Option<GroupCause>,
    weights: Rational,
}

/// The checked structure: counts, micro-batch item counts, and the configured K.
struct Layout {
    counts: Vec<u128>,
    n: u128,
    /// Micro-batch index of each group and the items of each micro-batch (empty when none).
    batch_of: Vec<usize>,
    batch_items: Vec<u128>,
    /// M_r, the micro-batches of the rank each micro-batch runs on (R = 1: all of them).
    batch_window: Vec<u128>,
    /// K, the configured accumulation steps of a rank's window.
    k: u128,
    /// R, the data-parallel ranks (1 when none).
    r: u128,
    /// Rank index of each group and items of each rank (empty when no ranks).
    rank_of: Vec<usize>,
    rank_items: Vec<u128>,
    /// Whether the groups are sequences (tokens, finer than micro-batches).
    sequences: bool,
}

/// Checks the inputs: one sentence naming the bad value ([`Error::Usage`] when two inputs
/// contradict each other, [`Error::Value`] or [`Error::Problem`] otherwise).
fn validate(g: &[f64], groups: ArrayView2<f64>, s: &Structure, p: &Precision) -> Result<Layout> {
    let (m, cols) = groups.dim();
    if g.is_empty() {
        return Err(Error::Problem("the gradient holds no values; expected at least one".into()));
    }
    if m == 0 {
        return Err(Error::Problem(
            "the groups' array holds no groups (its first axis is 0); expected at least one".into(),
        ));
    }
    if cols != g.len() {
        return Err(Error::Problem(format!(
            "each group's gradient holds {cols} values; expected {}, the gradient's size",
            g.len()
        )));
    }
    if let Some((i, v)) = g.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Problem(format!("the gradient holds {v} at flat index {i}; expected finite numbers only")));
    }
    if let Some(((j, i), v)) = groups.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Problem(format!(
            "group {j}'s gradient holds {v} at flat index {i}; expected finite numbers only"
        )));
    }
    if s.counts.len() != m {
        return Err(Error::Usage(format!(
            "{} counts were given for {m} groups (the groups' first axis); expected one count per group",
            s.counts.len()
        )));
    }
    if let Some(j) = s.counts.iter().position(|&c| c == 0) {
        return Err(Error::value("count", "0", format!("at least 1 item per group (group {j} has 0)")));
    }
    if let Some(t) = p.tolerance {
        if !(t > 0.0 && t < 1.0) {
            return Err(Error::value("tolerance", t.to_string(), "a relative tolerance above 0 and below 1"));
        }
    }
    if s.reduction == TokenReduction::SequenceMean && s.unit != Unit::Tokens {
        return Err(Error::Usage(
            "--reduction sequence-mean needs --unit tokens (the groups are sequences, the counts their tokens)".into(),
        ));
    }
    let counts: Vec<u128> = s.counts.iter().map(|&c| c as u128).collect();
    let n: u128 = counts.iter().sum();
    let mb = match (&s.microbatches, s.accumulation) {
        (Some(mb), _) => Some(mb.clone()),
        (None, Some(_)) => Some(vec![1; m]),
        (None, None) => None,
    };
    let (mut batch_of, mut batch_items, mut k) = (Vec::new(), Vec::new(), 1);
    let mut batch_window: Vec<u128> = Vec::new();
    let r = match s.ranks {
        Some(0) => return Err(Error::value("--ranks", "0", "at least 1 rank")),
        Some(r) => r,
        None => 1,
    };
    if let Some(mb) = &mb {
        if let Some(b) = mb.iter().position(|&v| v == 0) {
            return Err(Error::value(
                "--microbatches",
                "0",
                format!("at least 1 group per micro-batch (micro-batch {b})"),
            ));
        }
        let total: usize = mb.iter().sum();
        if total != m {
            return Err(Error::Usage(format!(
                "the micro-batches hold {total} groups in all; expected {m}, the groups given (--microbatches counts \
                 groups per micro-batch, in order)"
            )));
        }
        if mb.len() < r {
            return Err(Error::Usage(format!(
                "{} micro-batches were given for {r} ranks; expected at least one micro-batch per rank (micro-batch i \
                 runs on rank i mod R)",
                mb.len()
            )));
        }
        for (b, &size) in mb.iter().enumerate() {
            let start = batch_of.len();
            batch_of.extend(std::iter::repeat_n(b, size));
            batch_items.push(counts[start..start + size].iter().sum());
        }
        // Micro-batch i runs on rank i mod R: rank q's window holds M_q of them.
        let windows: Vec<usize> = (0..r).map(|q| (q..mb.len()).step_by(r).count()).collect();
        batch_window = (0..mb.len()).map(|b| windows[b % r] as u128).collect();
        let most = windows.iter().copied().max().unwrap_or(1);
        k = match s.accumulation {
            None => most as u128,
            Some(0) => return Err(Error::value("--accumulation", "0", "at least 1 accumulation step")),
            Some(kk) if kk < most => {
                return Err(Error::Usage(format!(
                    "--accumulation {kk} is fewer than the {most} micro-batches {}; expected the micro-batches of one \
                     optimizer step (at most K)",
                    if r == 1 {
                        "given".to_string()
                    } else {
                        format!("of a rank's window (micro-batch i on rank i mod {r})")
                    }
                )))
            }
            Some(kk) => kk as u128,
        };
    }
    let (mut rank_of, mut rank_items) = (Vec::new(), Vec::new());
    if let (Some(_), Some(_)) = (s.ranks, &mb) {
        rank_of = batch_of.iter().map(|&b| b % r).collect();
        rank_items = vec![0u128; r];
        for (j, &q) in rank_of.iter().enumerate() {
            rank_items[q] += counts[j];
        }
    } else if s.ranks.is_some() {
        if m % r != 0 {
            return Err(Error::Usage(format!(
                "{m} groups do not split over {r} ranks; expected a multiple of {r} groups (each rank holds m / R \
                 consecutive groups)"
            )));
        }
        let per = m / r;
        for j in 0..m {
            rank_of.push(j / per);
        }
        for q in 0..r {
            rank_items.push(counts[q * per..(q + 1) * per].iter().sum());
        }
    }
    let one_per_batch = mb.as_ref().is_some_and(|mb| mb.iter().all(|&v| v == 1));
    let sequences = s.unit == Unit::Tokens && !one_per_batch;
    if s.reduction == TokenReduction::SequenceMean && one_per_batch {
        return Err(Error::Usage(
            "--reduction sequence-mean takes groups that are sequences, but --microbatches makes each group a \
             micro-batch"
                .into(),
        ));
    }
    Ok(Layout { counts, n, batch_of, batch_items, batch_window, k, r: r as u128, rank_of, rank_items, sequences })
}

/// The correct weights and every named mistake that applies to the structure, in the order
/// they are named when several fit.
fn patterns(s: &Structure, l: &Layout) -> (Pattern, Vec<Pattern>) {
    let m = l.counts.len() as u128;
    let each = |f: &dyn Fn(usize) -> u128| Rational::of((0..l.counts.len()).map(f).collect());
    let correct = match s.reduction {
        TokenReduction::Mean => each(&|_| l.n),
        TokenReduction::Sum => each(&|_| 1),
        TokenReduction::SequenceMean => each(&|j| m * l.counts[j]),
    };
    let mut out = Vec::new();
    let mut add = |cause: GroupCause, weights: Rational| out.push(Pattern { cause: Some(cause), weights });
    if s.reduction != TokenReduction::Sum {
        add(GroupCause::SumInsteadOfMean, each(&|_| 1));
    }
    if s.reduction != TokenReduction::SequenceMean && !l.batch_items.is_empty() {
        // Micro-batch b's items c_b, and M_r, the window of the rank it runs on.
        let per_batch =
            |f: &dyn Fn(u128, u128) -> u128| each(&|j| f(l.batch_items[l.batch_of[j]], l.batch_window[l.batch_of[j]]));
        let mean_of_means = match s.unit {
            Unit::Samples => GroupCause::MeanOfMicrobatchMeans,
            Unit::Tokens => GroupCause::PerMicrobatchTokenMean,
        };
        let r = l.r;
        add(mean_of_means, per_batch(&|c, mr| r * mr * c));
        add(GroupCause::SumOfMicrobatchMeans, per_batch(&|c, _| r * c));
        if l.k >= 2 {
            add(GroupCause::DoubleNormalization, each(&|_| l.k * l.n));
        }
        if l.batch_window.iter().any(|&mr| l.k > mr) {
            add(GroupCause::PartialWindow, per_batch(&|c, _| r * l.k * c));
        }
    }
    if s.reduction != TokenReduction::SequenceMean && l.rank_items.len() >= 2 {
        let r = l.rank_items.len() as u128;
        add(GroupCause::RankMeanOfMeans, each(&|j| r * l.rank_items[l.rank_of[j]]));
    }
    if l.sequences && s.reduction == TokenReduction::Mean {
        add(GroupCause::SequenceMeanInsteadOfTokenMean, each(&|j| m * l.counts[j]));
    }
    if s.reduction == TokenReduction::SequenceMean {
        add(GroupCause::TokenMeanInsteadOfSequenceMean, each(&|_| l.n));
    }
    (Pattern { cause: None, weights: correct }, out)
}

/// tau for the fit (module docs): the storage term F u_S max(1, sqrt(sum_j ||w_j G_j||^2) /
/// ||g||) (each group's contribution carries its own rounding, of its own size, and where the
/// contributions cancel those errors stay while the sum shrinks), the accumulation of the
/// contributions w_j G_j in their order (partial sums S_k, one after each group) in the dtype A,
/// and the floor. `p.tolerance` replaces it.
pub fn tolerance(groups: ArrayView2<f64>, weights: &[f64], norm_g: f64, p: &Precision) -> f64 {
    tolerance_at(groups, weights, norm_g, p, None)
}

/// [`tolerance`] with the contributions rounded to S and accumulated in A only at the groups
/// `ends` (exclusive ends in group order, the last m): a training loop adds a micro-batch's
/// gradient to `.grad` once, its groups summed inside the micro-batch's backward pass in the
/// compute dtype, so the storage term's contributions and the partial sums are the
/// micro-batches'. `None`: every group's.
pub fn tolerance_at(
    groups: ArrayView2<f64>,
    weights: &[f64],
    norm_g: f64,
    p: &Precision,
    ends: Option<&[usize]>,
) -> f64 {
    if let Some(t) = p.tolerance {
        return t;
    }
    if norm_g == 0.0 {
        return TOLERANCE_FLOOR;
    }
    let (mut squares, mut parts) = (0.0, 0.0);
    additions(groups, weights, ends, |added, partial, block| {
        parts += norm(block).powi(2);
        if added >= 1 {
            squares += norm(partial).powi(2);
        }
    });
    let cancellation = (parts.sqrt() / norm_g).max(1.0);
    (STORAGE_ULPS * p.dtype.unit_roundoff() + COMPUTE_ULPS * p.compute.unit_roundoff()) * cancellation
        + ACCUMULATION_Z * p.accumulate.unit_roundoff() * squares.sqrt() / norm_g
        + TOLERANCE_FLOOR
}

/// Walks the additions to `.grad`: the contributions w_j G_j summed in group order, added after
/// every group or, with `ends` (exclusive ends in group order, the last m), after each
/// micro-batch's; `at(added, partial, block)` sees each addition's index (0 for the first), the
/// partial sum after it and the contribution it added.
pub(crate) fn additions(
    groups: ArrayView2<f64>,
    weights: &[f64],
    ends: Option<&[usize]>,
    mut at: impl FnMut(usize, &[f64], &[f64]),
) {
    let mut partial = vec![0.0; groups.ncols()];
    // The contribution since the last addition: a group's, or a micro-batch's.
    let mut block = vec![0.0; groups.ncols()];
    let mut added = 0usize;
    let mut next_end = ends.map(|e| e.iter().copied().peekable());
    for (k, (row, &w)) in groups.rows().into_iter().zip(weights).enumerate() {
        partial.iter_mut().zip(block.iter_mut()).zip(row).for_each(|((s, b), g)| {
            *s += w * g;
            *b += w * g;
        });
        let at_end = match next_end.as_mut() {
            None => true,
            Some(it) => it.next_if_eq(&(k + 1)).is_some(),
        };
        if at_end {
            at(added, &partial, &block);
            block.iter_mut().for_each(|b| *b = 0.0);
            added += 1;
        }
    }
}

/// ||G^T v|| for a weight difference v.
fn spread(groups: ArrayView2<f64>, v: &[f64]) -> f64 {
    norm(&combine(groups, v))
}

/// Diagnoses `g` (P values) against the groups' gradients `groups` (m x P, f64, standard
/// layout, else copied once) of the structure `s`, for a gradient computed in `p`'s dtypes.
///
/// # Errors
/// [`Error::Problem`] for sizes that do not match or non-finite values, [`Error::Usage`] for a
/// structure that contradicts the groups (counts, micro-batches or ranks that do not add up to
/// them, fewer accumulation steps than micro-batches), [`Error::Value`] for a zero count or
/// step, or a tolerance outside (0, 1).
pub fn diagnose_groups(g: &[f64], groups: ArrayView2<f64>, s: &Structure, p: &Precision) -> Result<GroupDiagnosis> {
    diagnose_groups_with(g, groups, s, p, None)
}

/// [`diagnose_groups`] for a model that knows how its items round: a mistake tau cannot tell
/// from rounding is tested along its own direction against `rounding` ([`along`]), and named or
/// ruled out there when the rounding along it is small enough.
///
/// # Errors
/// As [`diagnose_groups`].
pub fn diagnose_groups_with(
    g: &[f64],
    groups: ArrayView2<f64>,
    s: &Structure,
    p: &Precision,
    rounding: Option<&dyn Rounding>,
) -> Result<GroupDiagnosis> {
    let layout = validate(g, groups, s, p)?;
    // Rows must be contiguous; a view in another layout is copied once.
    let groups = groups.as_standard_layout();
    let sol = solve::solve(g, groups.view());
    let d = analyse(g, groups.view(), s, p, &layout, &sol, rounding);
    let mismatch = narrower_dtype(
        g,
        groups.view(),
        s,
        p,
        (&layout, &sol, &d),
        &[DType::BF16, DType::F16],
        (crate::policy::DTYPE_MISMATCH_MIN_VALUES, rounding),
    );
    Ok(mismatch.unwrap_or(d))
}

/// `dtype_mismatch` in the dtype `narrow` for a gradient whose diagnosis in `p` was `first`,
/// however few its values: a model's other tensors showed the dtype
/// ([`step_back::diagnose_model`]). `None` when `narrow` does not explain it.
///
/// # Errors
/// As [`diagnose_groups`].
pub(crate) fn mismatch_in(
    g: &[f64],
    groups: ArrayView2<f64>,
    s: &Structure,
    p: &Precision,
    narrow: DType,
    first: &GroupDiagnosis,
) -> Result<Option<GroupDiagnosis>> {
    let layout = validate(g, groups, s, p)?;
    let groups = groups.as_standard_layout();
    let sol = solve::solve(g, groups.view());
    Ok(narrower_dtype(g, groups.view(), s, p, (&layout, &sol, first), &[narrow], (1, None)))
}

/// An accumulation over steps named from one inexact factor (the parameters moved between the
/// steps), not from weights that fit within rounding.
fn drifted(d: &GroupDiagnosis) -> bool {
    d.causes == [GroupCause::AccumulatedOverSteps] && d.weights.expected.is_none()
}

/// `dtype_mismatch`: a gradient that is unexplained, or [`drifted`], in the dtype it is
/// judged by, every value of which is a number of a narrower dtype (bf16, then f16) and which that dtype's rounding
/// explains: the diagnosis in the narrower dtype, with the mismatch named first. `None` when
/// `first` (the diagnosis in `p`) explained the gradient, a tolerance was given, or no narrower dtype holds every value
/// and explains it (neither unexplained nor drifted there). At least `min_values` nonzero values
/// are needed ([`crate::policy::DTYPE_MISMATCH_MIN_VALUES`] alone): a few values of a wide dtype
/// can be narrow numbers by chance.
fn narrower_dtype(
    g: &[f64],
    groups: ArrayView2<f64>,
    s: &Structure,
    p: &Precision,
    (l, sol, first): (&Layout, &Solution, &GroupDiagnosis),
    candidates: &[DType],
    (min_values, rounding): (usize, Option<&dyn Rounding>),
) -> Option<GroupDiagnosis> {
    let nonzero = g.iter().filter(|v| **v != 0.0).count();
    if p.tolerance.is_some() || nonzero < min_values {
        return None;
    }
    // Only a gradient the told dtype cannot place exactly: unexplained, or an accumulation named
    // from a drift (what a narrower dtype's rounding of a whole factor also looks like).
    if !(first.causes == [GroupCause::Unexplained] || drifted(first)) {
        return None;
    }
    for &narrow in candidates {
        if narrow.bits() >= p.dtype.bits() || !g.iter().all(|&v| super::representable(v, narrow)) {
            continue;
        }
        let q = Precision::new(narrow);
        let mut d = analyse(g, groups, s, &q, l, sol, rounding);
        if d.causes.contains(&GroupCause::Unexplained) || drifted(&d) {
            continue;
        }
        let judged = match d.verdict {
            Verdict::Correct => "it is the correct gradient".to_string(),
            Verdict::Inconclusive => "it fits the correct weights (inconclusive there: see below)".to_string(),
            Verdict::Wrong => {
                format!("it is explained by {}", d.causes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))
            }
        };
        let mut evidence = vec![
            format!(
                "every one of the {} values is a {narrow} number: the gradient was computed in {narrow} and saved in a \
                 wider type, but judged by {}'s rounding, which it does not meet (residual {}, tolerance {}).",
                g.len(),
                p.dtype,
                crate::exact::sci3(first.residual),
                crate::exact::sci3(first.tolerance)
            ),
            format!("within {narrow}'s rounding (tolerance {}) {judged}.", crate::exact::sci3(d.tolerance)),
        ];
        evidence.push(format!("fix: {}.", fix(GroupCause::DtypeMismatch)));
        d.findings.insert(0, GroupFinding { cause: GroupCause::DtypeMismatch, evidence });
        if let Some(reason) = d.reason.take() {
            d.notes.push(format!("in {narrow}: {reason}"));
        }
        d.causes.insert(0, GroupCause::DtypeMismatch);
        d.verdict = Verdict::Wrong;
        d.dtype = Some(narrow);
        return Some(d);
    }
    None
}

/// A cause's fix, in the framework's terms.
fn fix(cause: GroupCause) -> &'static str {
    match cause {
        GroupCause::SumInsteadOfMean => "divide the summed loss by the item count N (reduction='mean'), or the gradient by N",
        GroupCause::MeanOfMicrobatchMeans | GroupCause::PerMicrobatchTokenMean | GroupCause::SumOfMicrobatchMeans => {
            "sum each micro-batch's loss (reduction='sum') and divide by the step's total item count N (transformers: \
             pass num_items_in_batch), not by each micro-batch's own count"
        }
        GroupCause::DoubleNormalization => {
            "divide by the global item count only, not again by the accumulation steps K (transformers #35438)"
        }
        GroupCause::PartialWindow => {
            "divide by the items of the window actually run (or the micro-batches in it), not by the configured K \
             (ms-swift #10084)"
        }
        GroupCause::RankMeanOfMeans => {
            "all-reduce the summed loss's gradients and the item counts and divide by the global count N (or scale each \
             rank's mean by R N_r / N)"
        }
        GroupCause::SequenceMeanInsteadOfTokenMean => {
            "flatten the logits and take CrossEntropyLoss(ignore_index=-100) over all tokens at once"
        }
        GroupCause::TokenMeanInsteadOfSequenceMean => "average each sequence's token mean over the sequences",
        GroupCause::WrongSign => "the loss, the gradient or the update has the wrong sign",
        GroupCause::AccumulatedOverSteps => "zero the gradients before every step (optimizer.zero_grad(), or x.grad = None)",
        GroupCause::Scaled => "look for the factor in the loss (a scale, a divisor) or in the gradient's post-processing",
        GroupCause::DtypeMismatch => {
            "pass the dtype the gradient was computed in (its values say which) and diagnose again, or compute the \
             gradient in the dtype it is judged by"
        }
        GroupCause::ParamsAfterStep => {
            "diagnose after the step's last backward pass and before optimizer.step() (the groups must be computed at \
             the parameters the backward pass saw)"
        }
        GroupCause::Unexplained => "",
    }
}

/// g's factor on the correct gradient u and what is left: (s, ||g - s u|| / ||g||, ||g - u|| / ||u||).
fn factor_fit(g: &[f64], u: &[f64]) -> (f64, f64, f64) {
    let (gu, uu): (f64, f64) = g.iter().zip(u).fold((0.0, 0.0), |(a, b), (x, y)| (a + x * y, b + y * y));
    let s = if uu > 0.0 { gu / uu } else { 0.0 };
    let left: Vec<f64> = g.iter().zip(u).map(|(x, y)| x - s * y).collect();
    let off: Vec<f64> = g.iter().zip(u).map(|(x, y)| x - y).collect();
    let (ng, nu) = (norm(g), norm(u));
    (s, if ng > 0.0 { norm(&left) / ng } else { 0.0 }, if nu > 0.0 { norm(&off) / nu } else { f64::INFINITY })
}

/// The verdict, causes and evidence of a fit.
fn analyse(
    g: &[f64],
    groups: ArrayView2<f64>,
    s: &Structure,
    p: &Precision,
    l: &Layout,
    sol: &Solution,
    rounding: Option<&dyn Rounding>,
) -> GroupDiagnosis {
    let m = l.counts.len();
    let w = &sol.weights;
    let ng = sol.norm;
    // A rank-deficient fit cannot resolve directions below sol.resolution of the groups' sizes.
    let unresolved: f64 = w.iter().zip(&sol.group_norms).map(|(w, n)| w.abs() * n).sum::<f64>() * sol.resolution;
    // .grad is added to once per micro-batch when the groups are finer than micro-batches.
    let ends: Option<Vec<usize>> =
        (!l.batch_of.is_empty()).then(|| (1..=m).filter(|&e| e == m || l.batch_of[e] != l.batch_of[e - 1]).collect());
    let (correct, mistakes) = patterns(s, l);
    let wc = correct.weights.values();
    let mut tau = tolerance_at(groups, w, ng, p, ends.as_deref()) + if ng > 0.0 { unresolved / ng } else { 0.0 };
    // A model that knows its rounding widens tau to it where it is larger (a token head whose
    // confident predictions leave p - 1 to rounding), with the correct weights.
    if let (Some(model), true, None) = (rounding, ng > 0.0, p.tolerance) {
        tau = tau.max(along::ALONG_Z * model.total(&wc, p) / ng);
    }
    let rho = if ng > 0.0 { sol.residual / ng } else { 0.0 };
    let in_span = rho <= tau;
    // A pattern fits when the gradient lies within tau of its gradient: the residual out of the
    // groups' span and the in-span departure d together.
    let within = |d: f64| rho.hypot(d) <= tau;
    let u = combine(groups, &wc);
    let (factor, factor_left, relerr) = factor_fit(g, &u);
    let rel = |x: f64| if ng > 0.0 { x / ng } else { 0.0 };
    // In-span departures of the fit from each pattern, and each mistake's separation.
    let departure = |v: &[f64]| rel(spread(groups, &w.iter().zip(v).map(|(a, b)| a - b).collect::<Vec<_>>()));
    let mut notes = Vec::new();
    let mut power = Vec::new();
    let mut fitting: Vec<(f64, &Pattern)> = Vec::new();
    let mut seen: Vec<&Rational> = vec![&correct.weights];
    // The mistakes tested along their directions, for the consistency of a name.
    let mut tested: Vec<(GroupCause, along::Tested, along::Along)> = Vec::new();
    let correct_departure = departure(&wc);
    for q in &mistakes {
        let cause = q.cause.unwrap_or_else(|| unreachable!("mistakes are named"));
        if q.weights == correct.weights {
            notes.push(format!(
                "{cause} would give exactly the correct weights here ({}): harmless at this structure.",
                harmless_why(cause)
            ));
            power.push(GroupPower { cause, separation: 0.0, harmless: true, visible: false, along: None });
            continue;
        }
        if let Some(same) = seen.iter().position(|r| **r == q.weights) {
            if same > 0 {
                notes.push(format!("{cause} gives the same weights as a mistake named before it here."));
            }
            continue;
        }
        seen.push(&q.weights);
        let wq = q.weights.values();
        let delta = combine(groups, &wq.iter().zip(&wc).map(|(a, b)| a - b).collect::<Vec<_>>());
        let separation = rel(norm(&delta));
        let mut visible = separation > 2.0 * tau;
        // Hidden by tau: a model that knows its rounding tests the mistake along its direction.
        let along = match rounding {
            Some(model) if !visible => {
                let most: Vec<f64> = wq.iter().zip(&wc).map(|(a, b)| a.abs().max(b.abs())).collect();
                along::test(g, &u, &delta, groups, &most, ends.as_deref(), p, model, TOLERANCE_FLOOR * ng).map(
                    |(a, t)| {
                        visible = matches!(a.outcome, Outcome::RuledOut | Outcome::Named);
                        tested.push((cause, t, a));
                        a
                    },
                )
            }
            _ => None,
        };
        power.push(GroupPower { cause, separation, harmless: false, visible, along });
        let d = departure(&wq);
        if within(d) {
            fitting.push((d, q));
        }
    }
    // A mistake named along its direction must also explain the shifts along every other tested
    // direction (the pattern's own shift there, within that direction's rounding); one that does
    // not, or that shares this with another, stays hidden.
    let consistent: Vec<GroupCause> = tested
        .iter()
        .filter(|(_, _, a)| a.outcome == Outcome::Named)
        .filter(|(cause, t, _)| {
            tested.iter().all(|(other, o, oa)| {
                other == cause || {
                    let own: f64 = t.direction.iter().zip(&o.direction).map(|(a, b)| a * b).sum::<f64>() * t.size;
                    (oa.shift - rel(own)).abs() <= oa.rounding
                }
            })
        })
        .map(|(cause, _, _)| *cause)
        .collect();
    for q in power.iter_mut() {
        if let Some(a) = q.along.as_mut() {
            if a.outcome == Outcome::Named && !(consistent.len() == 1 && consistent[0] == q.cause) {
                a.outcome = Outcome::Between;
                q.visible = false;
            }
        }
    }
    // The scale mistakes asked about besides: the negation and twice the gradient.
    for (cause, c) in [(GroupCause::WrongSign, -1.0), (GroupCause::AccumulatedOverSteps, 2.0)] {
        let separation = (c - 1.0f64).abs() * rel(norm(&u));
        power.push(GroupPower { cause, separation, harmless: false, visible: separation > 2.0 * tau, along: None });
    }
    fitting.sort_by(|a, b| a.0.total_cmp(&b.0));
    let correct_fits = within(correct_departure);
    // Several mistakes fit and the correct weights do not: a model that knows its rounding tells
    // them apart along the direction between each two.
    if let (Some(model), false, true) = (rounding, correct_fits, fitting.len() > 1) {
        let ends = ends.as_deref();
        let pairs = apart(&fitting, |wb, diff, most| {
            let (u, delta) = (combine(groups, wb), combine(groups, diff));
            let (a, t) = along::test(g, &u, &delta, groups, most, ends, p, model, TOLERANCE_FLOOR * ng)?;
            Some((a, rel(t.size)))
        });
        let name = |i: usize| fitting[i].1.cause.map_or_else(String::new, |c| c.to_string());
        for a in &pairs {
            notes.push(apart_sentence(&name(a.dropped), &name(a.kept), a));
        }
        let dropped: Vec<usize> = pairs.iter().map(|a| a.dropped).collect();
        fitting = fitting.into_iter().enumerate().filter(|(i, _)| !dropped.contains(i)).map(|(_, f)| f).collect();
    }

    let identifiable = sol.rank == m;
    let worst = identifiable
        .then(|| {
            (0..m)
                .filter(|&j| wc[j] != 0.0)
                .max_by(|&a, &b| (w[a] / wc[a] - 1.0).abs().total_cmp(&(w[b] / wc[b] - 1.0).abs()))
                .map(|j| WorstGroup {
                    group: j,
                    count: s.counts[j],
                    weight: w[j],
                    correct: wc[j],
                    ratio: w[j] / wc[j],
                    resolution: tau * ng * sol.sensitivity[j],
                })
        })
        .flatten();
    if !identifiable {
        notes.push(format!(
            "the groups' gradients span {} dimensions for {m} groups: {} weights cannot be recovered (reported as 0); \
             the patterns are tested on the gradient itself.",
            sol.rank,
            m - sol.rank
        ));
    }

    let mut findings = Vec::new();
    let mut reason = None;
    let mut expected = None;
    let mut microbatch_sizes = None;
    let ctx = Context { s, l, p, tau, rho, wc: &wc, w, sol };
    // Mistakes tau could not tell from the correct gradient but the test along their own
    // direction names (each must still fit within tau).
    let named_along: Vec<(f64, &Pattern, along::Along)> = fitting
        .iter()
        .filter_map(|(d, q)| {
            let a = power.iter().find(|x| Some(x.cause) == q.cause)?.along?;
            (a.outcome == Outcome::Named).then_some((*d, *q, a))
        })
        .collect();
    let verdict = if correct_fits && named_along.is_empty() {
        let hidden: Vec<&GroupPower> = power.iter().filter(|q| !q.harmless && !q.visible).collect();
        expected = Some(wc.clone());
        if hidden.is_empty() {
            Verdict::Correct
        } else {
            reason = Some(inconclusive_reason(&ctx, &hidden));
            Verdict::Inconclusive
        }
    } else if correct_fits {
        expected = Some(named_along[0].1.weights.values());
        for (d, q, a) in &named_along {
            let cause = q.cause.unwrap_or_else(|| unreachable!("mistakes are named"));
            if microbatch_sizes.is_none() && is_microbatch(cause) {
                microbatch_sizes = Some(l.batch_items.iter().map(|&c| c as usize).collect());
            }
            let mut evidence = pattern_evidence(&ctx, cause, &q.weights, *d);
            let separation = power.iter().find(|x| x.cause == cause).map_or(0.0, |x| x.separation);
            evidence.insert(1, along_sentence(&ctx, separation, a));
            findings.push(GroupFinding { cause, evidence });
        }
        Verdict::Wrong
    } else if !fitting.is_empty() {
        expected = Some(fitting[0].1.weights.values());
        for (d, q) in &fitting {
            let cause = q.cause.unwrap_or_else(|| unreachable!("mistakes are named"));
            if microbatch_sizes.is_none() && is_microbatch(cause) {
                microbatch_sizes = Some(l.batch_items.iter().map(|&c| c as usize).collect());
            }
            findings.push(GroupFinding { cause, evidence: pattern_evidence(&ctx, cause, &q.weights, *d) });
        }
        Verdict::Wrong
    } else {
        let scale_departure = departure(&wc.iter().map(|v| v * factor).collect::<Vec<f64>>());
        let whole = crate::policy::whole_factor(factor);
        if within(scale_departure) {
            expected = Some(wc.iter().map(|v| v * factor).collect());
            findings.push(scale_finding(&ctx, factor, whole, true));
        } else if (!in_span || sol.rank < m || sol.rank >= g.len())
            && factor_left <= crate::policy::FACTOR_TOLERANCE
            && whole.is_some()
        {
            // Out of the span, or in a span that says nothing (the weights are not identifiable,
            // or the groups span every direction of the gradient): one whole factor that leaves
            // a few percent is an accumulation over steps whose parameters moved.
            findings.push(scale_finding(&ctx, factor, whole, false));
        } else {
            findings.push(unexplained(&ctx, factor, factor_left, worst.as_ref()));
        }
        Verdict::Wrong
    };
    GroupDiagnosis {
        verdict,
        causes: findings.iter().map(|f| f.cause).collect(),
        factor,
        relerr,
        residual: rho,
        tolerance: tau,
        reason,
        microbatch_sizes,
        worst,
        learning_rate: None,
        dtype: None,
        weights: Weights { recovered: w.clone(), correct: wc.clone(), expected },
        findings,
        power,
        notes,
        condition: sol.condition,
        rank: sol.rank,
        groups: m,
        parameters: g.len(),
        items: l.n,
    }
}

/// What the evidence sentences need.
struct Context<'a> {
    s: &'a Structure,
    l: &'a Layout,
    p: &'a Precision,
    tau: f64,
    rho: f64,
    wc: &'a [f64],
    w: &'a [f64],
    sol: &'a Solution,
}

/// Two fitting mistakes told apart along the direction between them: the one the gradient is
/// at, the one dropped, and the test (relative to ||g||; `size` is how far apart they are).
struct Apart {
    kept: usize,
    dropped: usize,
    shift: f64,
    rounding: f64,
    size: f64,
}

/// Which of the `fitting` patterns the gradient is not at, along the direction between each two:
/// `test(w_b, w_a - w_b, largest weights)` is [`along::test`] from pattern b's gradient toward
/// a's, with the distance between them; `Named` drops b, `RuledOut` drops a, anything else keeps
/// both. Nothing is dropped when every pattern would be (the tests contradict each other); each
/// pattern dropped comes once, with the first test that dropped it.
fn apart<T>(fitting: &[(f64, &Pattern)], test: T) -> Vec<Apart>
where
    T: Fn(&[f64], &[f64], &[f64]) -> Option<(along::Along, f64)>,
{
    let mut found: Vec<Apart> = Vec::new();
    for a in 0..fitting.len() {
        for b in a + 1..fitting.len() {
            let (wa, wb) = (fitting[a].1.weights.values(), fitting[b].1.weights.values());
            let most: Vec<f64> = wa.iter().zip(&wb).map(|(x, y)| x.abs().max(y.abs())).collect();
            let diff: Vec<f64> = wa.iter().zip(&wb).map(|(x, y)| x - y).collect();
            let Some((t, size)) = test(&wb, &diff, &most) else { continue };
            let (kept, dropped) = match t.outcome {
                Outcome::Named => (a, b),
                Outcome::RuledOut => (b, a),
                _ => continue,
            };
            found.push(Apart { kept, dropped, shift: t.shift, rounding: t.rounding, size });
        }
    }
    if (0..fitting.len()).all(|i| found.iter().any(|f| f.dropped == i)) {
        return Vec::new();
    }
    // One reason per pattern dropped: the first test that dropped it.
    let mut once: Vec<Apart> = Vec::new();
    for f in found {
        if !once.iter().any(|o| o.dropped == f.dropped) {
            once.push(f);
        }
    }
    once
}

/// Why a mistake that fits within tau is not named: the gradient is at another's along the
/// direction between them.
fn apart_sentence(dropped: &str, kept: &str, a: &Apart) -> String {
    use crate::exact::sci3;
    format!(
        "{dropped} fits within the tolerance too, but along the direction between it and {kept} the gradient is at \
         {kept}'s: it moved {} from {dropped}'s toward {kept}'s ({} away), within the rounding along that direction \
         ({}).",
        sci3(a.shift),
        sci3(a.size),
        sci3(a.rounding)
    )
}

fn is_microbatch(c: GroupCause) -> bool {
    matches!(
        c,
        GroupCause::MeanOfMicrobatchMeans
            | GroupCause::PerMicrobatchTokenMean
            | GroupCause::SumOfMicrobatchMeans
            | GroupCause::DoubleNormalization
            | GroupCause::PartialWindow
    )
}

/// M_r of each rank, in rank order (micro-batch i on rank i mod R).
fn windows(l: &Layout) -> Vec<u128> {
    let r = l.r as usize;
    (0..r).map(|q| l.batch_window.get(q).copied().unwrap_or(0)).collect()
}

fn harmless_why(c: GroupCause) -> &'static str {
    match c {
        GroupCause::MeanOfMicrobatchMeans | GroupCause::PerMicrobatchTokenMean => {
            "every micro-batch holds the same number of items, so 1/(K c_b) = 1/N"
        }
        GroupCause::SumOfMicrobatchMeans => "one micro-batch holds every item, so 1/c_b = 1/N",
        GroupCause::RankMeanOfMeans => "every rank holds the same number of items, so 1/(R N_r) = 1/N",
        GroupCause::SequenceMeanInsteadOfTokenMean | GroupCause::TokenMeanInsteadOfSequenceMean => {
            "every sequence has the same number of tokens, so 1/(m c_j) = 1/N"
        }
        GroupCause::SumInsteadOfMean => "one item in all, N = 1",
        _ => "the same weights",
    }
}

/// Up to [`LISTED_GROUPS`] values of `v`, formatted, with "..." after.
pub(crate) fn listed(v: &[f64]) -> String {
    let mut parts: Vec<String> = v.iter().take(LISTED_GROUPS).map(|x| format!("{x:.4}")).collect();
    if v.len() > LISTED_GROUPS {
        parts.push(format!("... ({} in all)", v.len()));
    }
    format!("[{}]", parts.join(", "))
}

/// The recovered weights relative to the correct ones, per group.
fn relative(w: &[f64], wc: &[f64]) -> Vec<f64> {
    w.iter().zip(wc).map(|(a, b)| a / b).collect()
}

fn pattern_evidence(c: &Context, cause: GroupCause, weights: &Rational, d: f64) -> Vec<String> {
    use crate::exact::sci3;
    let mut ev = Vec::new();
    let wq = weights.values();
    ev.push(format!(
        "the gradient is a weighted sum of the {} groups' gradients within rounding (residual {} of its norm, \
         tolerance {}), and the weights are this pattern's within {} of the gradient's norm.",
        c.l.counts.len(),
        sci3(c.rho),
        sci3(c.tau),
        sci3(d)
    ));
    let b = c.l.batch_items.len();
    match cause {
        GroupCause::MeanOfMicrobatchMeans | GroupCause::PerMicrobatchTokenMean | GroupCause::PartialWindow => {
            let partial = cause == GroupCause::PartialWindow;
            // The divisor of c_b: R K (partial) or R M_r.
            let div = |i: usize| c.l.r * if partial { c.l.k } else { c.l.batch_window[i] };
            let each: Vec<String> = c
                .l
                .batch_items
                .iter()
                .enumerate()
                .map(|(i, &cb)| format!("{:.4} (c_b = {cb})", c.l.n as f64 / (div(i) * cb) as f64))
                .collect();
            let (weight, k) = match (c.l.r, partial) {
                (1, true) => ("1/(K c_b)".to_string(), format!("K = {} configured, {b} micro-batches run", c.l.k)),
                (1, false) => ("1/(K c_b)".to_string(), format!("K = {b}")),
                (r, true) => (
                    "1/(R K c_b)".to_string(),
                    format!("R = {r} ranks, K = {} configured, windows of {:?} micro-batches", c.l.k, windows(c.l)),
                ),
                (r, false) => (
                    "1/(R M_r c_b)".to_string(),
                    format!("R = {r} ranks, each averaging its M_r = {:?} micro-batches", windows(c.l)),
                ),
            };
            ev.push(format!(
                "micro-batch sizes {:?} ({} in all, {k}): each item is weighted {weight} instead of 1/N, so the items \
                 of each micro-batch count this many times their correct weight: {}.",
                c.l.batch_items,
                c.l.n,
                each.join(", ")
            ));
        }
        GroupCause::SumOfMicrobatchMeans => ev.push(format!(
            "micro-batch sizes {:?} ({} in all, {b} micro-batches): each micro-batch's mean is added without \
             dividing by K, so an item of a micro-batch of c_b counts {} times.",
            c.l.batch_items,
            c.l.n,
            if c.l.r == 1 { "N/c_b".to_string() } else { format!("N/(R c_b) (the R = {} ranks averaged)", c.l.r) }
        )),
        GroupCause::DoubleNormalization => ev.push(format!(
            "every weight is 1/(K N) with K = {}: the global mean divided by the accumulation steps again, 1/{} of the \
             gradient.",
            c.l.k, c.l.k
        )),
        GroupCause::RankMeanOfMeans => ev.push(format!(
            "rank item counts {:?}: each rank's mean averaged over the {} ranks weights an item 1/(R N_r) instead of 1/N.",
            c.l.rank_items,
            c.l.rank_items.len()
        )),
        GroupCause::SumInsteadOfMean => {
            ev.push(format!("every weight is 1: the sum over the N = {} items, N times the mean's gradient.", c.l.n))
        }
        GroupCause::SequenceMeanInsteadOfTokenMean => ev.push(format!(
            "every sequence is weighted 1/(m c_j) (m = {}): its token mean averaged over the sequences, so the tokens \
             of short sequences count more.",
            c.l.counts.len()
        )),
        GroupCause::TokenMeanInsteadOfSequenceMean => ev.push(format!(
            "every token is weighted 1/N (N = {} tokens) where the mean of sequence means was meant.",
            c.l.n
        )),
        _ => {}
    }
    if c.sol.rank == c.l.counts.len() {
        ev.push(format!(
            "recovered weights relative to the correct ones (N w_j for the mean): {}; this pattern's: {}.",
            listed(&relative(c.w, c.wc)),
            listed(&relative(&wq, c.wc))
        ));
    }
    let _ = c.s;
    ev.push(format!("fix: {}.", fix(cause)));
    ev
}

/// Why tau was not enough and the direction was: the shift along the mistake's direction
/// against the rounding along it.
fn along_sentence(c: &Context, separation: f64, a: &along::Along) -> String {
    use crate::exact::sci3;
    format!(
        "tau ({}) cannot tell this mistake from the correct gradient (it moves the gradient by {} of its norm), but \
         along the direction it moves it the gradient moved {}, within the rounding along that direction ({}) of \
         the mistake's and not of the correct gradient's 0.",
        sci3(c.tau),
        sci3(separation),
        sci3(a.shift),
        sci3(a.rounding)
    )
}

fn scale_finding(c: &Context, factor: f64, whole: Option<f64>, exact: bool) -> GroupFinding {
    use crate::exact::sci3;
    let how = if exact {
        format!(
            "one factor s = {factor:.6} times the correct weights explains the gradient within rounding (residual {} \
             of its norm, tolerance {}).",
            sci3(c.rho),
            sci3(c.tau)
        )
    } else {
        format!(
            "the gradient is not a weighted sum of the groups' gradients within rounding (residual {}, tolerance {}), \
             but one factor s = {factor:.6} times the correct gradient explains it to within {} %.",
            sci3(c.rho),
            sci3(c.tau),
            crate::policy::FACTOR_TOLERANCE * 100.0
        )
    };
    let sign_tol = 2.0 * c.tau;
    if exact && (factor + 1.0).abs() <= sign_tol {
        return GroupFinding {
            cause: GroupCause::WrongSign,
            evidence: vec![how, format!("fix: {}.", fix(GroupCause::WrongSign))],
        };
    }
    if let Some(e) = whole {
        let mut ev = vec![
            how,
            format!(
                "s is near the whole number {e}: the gradients of {e} steps summed (.grad never zeroed); {}",
                if exact {
                    "exactly, so the parameters did not move between them (or the loss was multiplied by that number)."
                } else {
                    "not exactly, as when the parameters moved between the steps."
                }
            ),
            "the accumulation law (c g + a g', from which gradlab estimates a learning rate for the linear model) \
             covers plain SGD only; under momentum or Adam, or beyond its range, no learning rate is estimated."
                .to_string(),
        ];
        ev.push(format!("fix: {}.", fix(GroupCause::AccumulatedOverSteps)));
        return GroupFinding { cause: GroupCause::AccumulatedOverSteps, evidence: ev };
    }
    let mut ev = vec![how];
    if c.s.reduction == TokenReduction::Sum && c.l.n >= 2 && (factor * c.l.n as f64 - 1.0).abs() <= sign_tol {
        ev.push(format!("s = 1/N (N = {}): the mean where the sum was meant.", c.l.n));
    }
    let _ = c.p;
    ev.push(format!("fix: {}.", fix(GroupCause::Scaled)));
    GroupFinding { cause: GroupCause::Scaled, evidence: ev }
}

fn unexplained(c: &Context, factor: f64, left: f64, worst: Option<&WorstGroup>) -> GroupFinding {
    use crate::exact::sci3;
    let mut ev = Vec::new();
    if c.rho > c.tau {
        ev.push(format!(
            "the gradient is not a weighted sum of the groups' gradients: the best fit leaves {} of its norm, beyond \
             the tolerance {} of a correct {} computation. A gradient taken at other parameters (saved after \
             optimizer.step(): params_after_step), a broken backward, a loss other than the groups', or a --dtype \
             narrower than said.",
            sci3(c.rho),
            sci3(c.tau),
            c.p.dtype
        ));
    } else {
        ev.push(format!(
            "the gradient is a weighted sum of the groups' gradients within rounding (residual {}, tolerance {}), but \
             its weights follow no named pattern: {}.",
            sci3(c.rho),
            sci3(c.tau),
            listed(&relative(c.w, c.wc))
        ));
    }
    ev.push(format!("the best single factor on the correct gradient, {factor:.6}, leaves {} of it.", sci3(left)));
    if let Some(wg) = worst {
        ev.push(format!(
            "the group furthest from its correct weight: group {} (c = {}), weighted {:.4} times the correct weight \
             (resolution {}).",
            wg.group,
            wg.count,
            wg.ratio,
            sci3(wg.resolution / wg.correct.abs())
        ));
    }
    GroupFinding { cause: GroupCause::Unexplained, evidence: ev }
}

fn inconclusive_reason(c: &Context, hidden: &[&GroupPower]) -> String {
    use crate::exact::sci3;
    let what: Vec<String> = hidden
        .iter()
        .map(|q| match q.along {
            Some(a) if a.outcome == Outcome::Between => format!(
                "{} (it would move the gradient by {} of its norm; along that direction the gradient moved {}, which \
                 neither the correct gradient nor this mistake alone explains within the rounding there, {})",
                q.cause,
                sci3(q.separation),
                sci3(a.shift),
                sci3(a.rounding)
            ),
            _ => format!("{} (it would move the gradient by {} of its norm)", q.cause, sci3(q.separation)),
        })
        .collect();
    let why = if c.sol.condition > COLLINEAR {
        format!(
            "the groups' gradients are nearly collinear (condition number {} of the equilibrated groups, rank {} of \
             {}), so their weights cannot be recovered; diagnose with groups whose gradients differ (samples or \
             sequences rather than whole micro-batches) or on another tensor",
            sci3(c.sol.condition),
            c.sol.rank,
            c.l.counts.len()
        )
    } else if c.p.dtype.bits() < 53 {
        "the dtype's rounding hides them; recompute this gradient in a wider dtype (f32 or f64) and diagnose that"
            .to_string()
    } else {
        "diagnose with more groups or another tensor".to_string()
    };
    format!(
        "the gradient fits the correct weights within the tolerance {}, but so would {}: fewer than 2 tolerances; {why}.",
        sci3(c.tau),
        what.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(cause: GroupCause, den: Vec<u128>) -> Pattern {
        Pattern { cause: Some(cause), weights: Rational::of(den) }
    }

    /// The direction between two fitting mistakes drops the one the gradient is not at, keeps
    /// both when it cannot tell (the other sentence), and drops none when the tests contradict.
    #[test]
    fn apart_drops_only_the_mistake_the_gradient_is_not_at() {
        let (a, b, c) = (
            pattern(GroupCause::PartialWindow, vec![2, 2]),
            pattern(GroupCause::DoubleNormalization, vec![4, 4]),
            pattern(GroupCause::PerMicrobatchTokenMean, vec![2, 4]),
        );
        let fitting = [(0.1, &a), (0.2, &b), (0.3, &c)];
        let along = |outcome| along::Along { shift: 0.5, rounding: 0.01, outcome };
        // Every test at its first pattern: the others go, each once, with the first test.
        let named = apart(&fitting, |_, _, _| Some((along(Outcome::Named), 0.5)));
        assert_eq!(named.iter().map(|x| (x.kept, x.dropped)).collect::<Vec<_>>(), [(0, 1), (0, 2)]);
        // The tests cannot tell: both stay.
        for outcome in [Outcome::Between, Outcome::Hidden] {
            assert!(apart(&fitting, |_, _, _| Some((along(outcome), 0.5))).is_empty());
        }
        assert!(apart(&fitting, |_, _, _| None).is_empty());
        // a against b: at b; b against c: at c; a against c: at a. Every pattern would go.
        let contradict = apart(&fitting, |wb, diff, _| {
            let at_b_or_c = wb == [0.25, 0.25] || diff[0] < 0.0;
            Some((along(if at_b_or_c { Outcome::RuledOut } else { Outcome::Named }), 0.5))
        });
        assert!(contradict.is_empty(), "{:?}", contradict.iter().map(|x| (x.kept, x.dropped)).collect::<Vec<_>>());
    }
}
