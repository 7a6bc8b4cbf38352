//! Every normalization of a token loss as a weight per token: the gradient a training step hands
//! the optimizer is that of sum_j w_j loss_j (loss_j the cross-entropy of counted token j), and
//! each way of writing the loop, right or wrong, is a choice of the w_j.
//!
//! **The structure of a step** ([`Structure`]): the batch's B sequences are cut, in order, into
//! consecutive micro-batches of the given sizes (in sequences). Micro-batch i goes to
//! data-parallel rank i mod R, as its (i div R)-th accumulation step; each rank's micro-batches
//! form one accumulation window (one optimizer step), of M_r micro-batches, at most the
//! configured K (a window with M_r < K is a partial, last window). Each rank sums its
//! micro-batches' gradients; the ranks' gradients are then averaged (DDP: each divided by R,
//! summed over ranks in rank order).
//!
//! **The variants** ([`Variant`]), with N the global count of counted tokens of the step, N_b
//! that of micro-batch b, N_r that of rank r, L_s that of sequence s, B the sequences:
//!
//! | variant | w_j | source |
//! |---|---|---|
//! | `correct` | 1/N | the global token mean (transformers' fix: `num_items_in_batch`) |
//! | `per_microbatch_token_mean` | 1/(R M_r N_b) | transformers #34191 |
//! | `sum_of_microbatch_means` | 1/(R N_b) | no division by K |
//! | `double_normalization` | 1/(K N) | transformers #35438, #37766 |
//! | `partial_window` | 1/(R K N_b) | ms-swift #10084 (K the configured steps, M_r < K) |
//! | `rank_mean_of_means` | 1/(R N_r) | each rank's own token mean, averaged over ranks |
//! | `sequence_mean` | 1/(B L_s) | the mean over sequences of each one's token mean |
//!
//! Every w_j depends only on the sequence of token j ([`sequence_weights`]). A loop computes it
//! as a chain of factors rounded one by one in its dtype ([`Variant::factors`]), the way autograd
//! propagates `loss = ...` backward, then divides by R when the ranks are averaged; the exact
//! product of the chain over R is w_j (a test checks this for every variant).

use super::TokenProblem;
use crate::error::{Error, Result};
use rug::Rational;

crate::named_enum! {
    /// How a training step normalizes its token loss: the correct global token mean and the
    /// mistakes frameworks made (the module documentation gives each one's weight).
    pub enum Variant("variant") {
        /// Every counted token weighted by 1/N, N the step's global token count.
        Correct = "correct",
        /// Each micro-batch's own token mean, averaged over the rank's micro-batches
        /// (transformers #34191): 1/(R M_r N_b).
        PerMicrobatchTokenMean = "per_microbatch_token_mean",
        /// Each micro-batch's own token mean, summed (no division by K): 1/(R N_b).
        SumOfMicrobatchMeans = "sum_of_microbatch_means",
        /// The global token mean divided by K again (transformers #35438): 1/(K N).
        DoubleNormalization = "double_normalization",
        /// Micro-batch token means divided by the configured K in a window of M_r < K
        /// micro-batches (ms-swift #10084): 1/(R K N_b).
        PartialWindow = "partial_window",
        /// Each rank's own token mean, averaged over the ranks: 1/(R N_r).
        RankMeanOfMeans = "rank_mean_of_means",
        /// The mean over the B sequences of each sequence's token mean: 1/(B L_s).
        SequenceMean = "sequence_mean",
    }
}

crate::named_enum! {
    /// How a batch's losses are reduced: the token model's loss, and the loss a user meant in
    /// the model-agnostic diagnosis ([`crate::diagnose::groups`], `--reduction`), whose items are
    /// samples or counted tokens.
    pub enum TokenReduction("--reduction") {
        /// The mean over all items, counted tokens for tokens (PyTorch's
        /// `CrossEntropyLoss(ignore_index=-100)`): weights 1/N.
        Mean = "mean",
        /// The sum over all items: weights 1.
        Sum = "sum",
        /// The mean over sequences of each sequence's token mean: weights 1/(B L_s).
        SequenceMean = "sequence-mean",
    }
}

/// One factor of a loop's chain: the gradient multiplied or divided by a whole number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// Multiplied by the number.
    Mul(u64),
    /// Divided by the number.
    Div(u64),
}

/// The structure of one training step: micro-batch sizes (sequences, in order), the configured
/// accumulation steps K and the data-parallel ranks R; the module documentation says how
/// micro-batches go to ranks and windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Structure {
    /// The micro-batch sizes in sequences, in order (they add up to B).
    pub microbatches: Vec<usize>,
    /// The configured accumulation steps K.
    pub accumulation: usize,
    /// The data-parallel ranks R.
    pub ranks: usize,
}

/// One micro-batch of a step: where its sequences are and where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Microbatch {
    /// Its index in the step's list.
    pub index: usize,
    /// Its sequences, `first..end`.
    pub seqs: std::ops::Range<usize>,
    /// The rank it runs on (index mod R).
    pub rank: usize,
}

impl Structure {
    /// One micro-batch holding all `b` sequences, K = 1, R = 1: a plain full-batch step.
    pub fn full_batch(b: usize) -> Self {
        Structure { microbatches: vec![b], accumulation: 1, ranks: 1 }
    }

    /// The micro-batches in order, with their sequences and rank.
    pub fn microbatch_list(&self) -> Vec<Microbatch> {
        let mut start = 0;
        let r = self.ranks.max(1);
        self.microbatches
            .iter()
            .enumerate()
            .map(|(index, &size)| {
                let m = Microbatch { index, seqs: start..start + size, rank: index % r };
                start += size;
                m
            })
            .collect()
    }

    /// The number of micro-batches M_r rank `r` accumulates.
    pub fn window(&self, rank: usize) -> usize {
        let r = self.ranks.max(1);
        (0..self.microbatches.len()).filter(|i| i % r == rank).count()
    }

    /// Checks the structure against a batch of `b` sequences.
    ///
    /// # Errors
    /// [`Error::Value`] in one sentence: no micro-batch, an empty one, sizes that do not add up
    /// to B, K or R of 0, fewer micro-batches than ranks, or a rank with more micro-batches than
    /// K.
    pub fn validate(&self, b: usize) -> Result<()> {
        let list = || self.microbatches.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        if self.microbatches.is_empty() {
            return Err(Error::value("micro-batch sizes", "", "at least one size"));
        }
        if self.microbatches.contains(&0) {
            return Err(Error::value("micro-batch sizes", list(), "sizes of at least one sequence"));
        }
        let total: usize = self.microbatches.iter().sum();
        if total != b {
            return Err(Error::value("micro-batch sizes", list(), format!("sizes adding up to the {b} sequences")));
        }
        if self.accumulation == 0 {
            return Err(Error::value("accumulation steps", "0", "at least 1"));
        }
        if self.ranks == 0 {
            return Err(Error::value("ranks", "0", "at least 1"));
        }
        if self.microbatches.len() < self.ranks {
            return Err(Error::value(
                "ranks",
                self.ranks.to_string(),
                format!("at most the {} micro-batches, so that every rank gets one", self.microbatches.len()),
            ));
        }
        let most = self.window(0);
        if most > self.accumulation {
            return Err(Error::value(
                "accumulation steps",
                self.accumulation.to_string(),
                format!(
                    "at least the {most} micro-batches rank 0 accumulates ({} micro-batches over {} ranks)",
                    self.microbatches.len(),
                    self.ranks
                ),
            ));
        }
        Ok(())
    }
}

/// The token counts a variant's weights are made of.
#[derive(Clone, Debug)]
struct Counts {
    /// Per sequence, L_s.
    seq: Vec<u64>,
    /// Per micro-batch, N_b.
    mb: Vec<u64>,
    /// Per rank, N_r.
    rank: Vec<u64>,
    /// Globally, N.
    total: u64,
}

fn counts(lengths: &[usize], s: &Structure) -> Counts {
    let seq: Vec<u64> = lengths.iter().map(|&l| l as u64).collect();
    let list = s.microbatch_list();
    let mb: Vec<u64> = list.iter().map(|m| seq[m.seqs.clone()].iter().sum()).collect();
    let mut rank = vec![0u64; s.ranks];
    for (m, n) in list.iter().zip(&mb) {
        rank[m.rank] += n;
    }
    Counts { total: seq.iter().sum(), seq, mb, rank }
}

/// One sentence for a count of zero a variant divides by.
fn zero_count(what: String, variant: Variant) -> Error {
    Error::Usage(format!(
        "{what} has no counted token, so {variant} divides by a token count of 0 (PyTorch gives NaN); \
         remove it or choose another structure"
    ))
}

impl Variant {
    /// The chain of factors a loop of this variant multiplies a token's loss gradient by, in the
    /// order autograd applies them (outermost first), for a token of sequence `seq` in
    /// micro-batch `mb`; the ranks' average (a division by R) comes after the accumulation.
    ///
    /// # Errors
    /// [`Error::Usage`] when the chain would divide by a token count of 0; the structure must
    /// have been validated for the lengths' B ([`Structure::validate`]).
    pub fn factors(self, lengths: &[usize], s: &Structure, mb: &Microbatch, seq: usize) -> Result<Vec<Factor>> {
        let c = counts(lengths, s);
        let r = s.ranks as u64;
        let k = s.accumulation as u64;
        let nonzero = |n: u64, what: &dyn Fn() -> String| if n == 0 { Err(zero_count(what(), self)) } else { Ok(n) };
        let n_b = || {
            let first = mb.seqs.start;
            let last = mb.seqs.end.saturating_sub(1);
            nonzero(c.mb[mb.index], &|| format!("micro-batch {} (sequences {first} to {last})", mb.index))
        };
        let n = || nonzero(c.total, &|| "the step".to_string());
        use Factor::{Div, Mul};
        Ok(match self {
            Variant::Correct => vec![Mul(r), Div(n()?)],
            Variant::PerMicrobatchTokenMean => vec![Div(s.window(mb.rank) as u64), Div(n_b()?)],
            Variant::SumOfMicrobatchMeans => vec![Div(n_b()?)],
            Variant::DoubleNormalization => vec![Div(k), Mul(r), Div(n()?)],
            Variant::PartialWindow => vec![Div(k), Div(n_b()?)],
            Variant::RankMeanOfMeans => {
                vec![Div(nonzero(c.rank[mb.rank], &|| format!("rank {}", mb.rank))?)]
            }
            Variant::SequenceMean => {
                vec![Mul(r), Div(lengths.len() as u64), Div(nonzero(c.seq[seq], &|| format!("sequence {seq}"))?)]
            }
        })
    }
}

/// The exact weight of every sequence's tokens under `variant` (B values; a sequence's tokens
/// all get its weight): the product of the loop's chain ([`Variant::factors`]) divided by R.
///
/// # Errors
/// [`Error::Value`] for a structure that does not fit the B = `lengths.len()` sequences;
/// [`Error::Usage`] when the variant divides by a token count of 0.
pub fn sequence_weights(lengths: &[usize], s: &Structure, variant: Variant) -> Result<Vec<Rational>> {
    s.validate(lengths.len())?;
    let mut out = vec![Rational::new(); lengths.len()];
    for mb in s.microbatch_list() {
        for seq in mb.seqs.clone() {
            let mut w = Rational::from(1);
            for f in variant.factors(lengths, s, &mb, seq)? {
                match f {
                    Factor::Mul(v) => w *= Rational::from(v),
                    Factor::Div(v) => w /= Rational::from(v),
                }
            }
            out[seq] = w / Rational::from(s.ranks as u64);
        }
    }
    Ok(out)
}

/// The exact weight of every counted token of `problem` under `variant` (N values, in the order
/// of [`TokenProblem::tokens`]); a token's weight is its sequence's ([`sequence_weights`]).
///
/// # Errors
/// As [`sequence_weights`].
pub fn token_weights(problem: &TokenProblem, s: &Structure, variant: Variant) -> Result<Vec<Rational>> {
    let lengths = problem.lengths();
    let per_seq = sequence_weights(&lengths, s, variant)?;
    Ok(lengths.iter().zip(&per_seq).flat_map(|(&l, w)| std::iter::repeat_n(w.clone(), l)).collect())
}

impl TokenReduction {
    /// The exact weight of each sequence's tokens under the reduction of a single batch: 1/N for
    /// the mean, 1 for the sum, 1/(B L_s) for the sequence mean (0 for a sequence without
    /// counted tokens, which the sequence mean then leaves out; [`crate::model::tokens`] refuses
    /// such a batch).
    pub fn sequence_weights(self, lengths: &[usize]) -> Vec<Rational> {
        let n: u64 = lengths.iter().map(|&l| l as u64).sum();
        let b = lengths.len() as u64;
        lengths
            .iter()
            .map(|&l| match self {
                TokenReduction::Mean if n > 0 => Rational::from((1u64, n)),
                TokenReduction::Sum => Rational::from(1),
                TokenReduction::SequenceMean if l > 0 => Rational::from((1u64, b * l as u64)),
                _ => Rational::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u64, d: u64) -> Rational {
        Rational::from((n, d))
    }

    /// Lengths 3,1,4,1,5,9 in micro-batches 2,1,3 (N_b = 4, 4, 15; N = 23), two ranks: rank 0
    /// gets micro-batches 0 and 2 (N_0 = 19), rank 1 micro-batch 1 (N_1 = 4); K = 2.
    #[test]
    fn weights_of_every_variant_are_the_table() {
        let lengths = [3, 1, 4, 1, 5, 9];
        let s = Structure { microbatches: vec![2, 1, 3], accumulation: 2, ranks: 2 };
        let w = |v| sequence_weights(&lengths, &s, v).unwrap();
        assert_eq!(w(Variant::Correct), vec![r(1, 23); 6]);
        let pm = w(Variant::PerMicrobatchTokenMean);
        assert_eq!(pm, vec![r(1, 16), r(1, 16), r(1, 8), r(1, 60), r(1, 60), r(1, 60)]);
        assert_eq!(w(Variant::SumOfMicrobatchMeans)[2], r(1, 8));
        assert_eq!(w(Variant::SumOfMicrobatchMeans)[0], r(1, 8));
        assert_eq!(w(Variant::DoubleNormalization), vec![r(1, 46); 6]);
        // Rank 1's window holds one micro-batch of the configured two: 1/(2 * 2 * 4).
        assert_eq!(w(Variant::PartialWindow)[2], r(1, 16));
        assert_eq!(w(Variant::RankMeanOfMeans), vec![r(1, 38), r(1, 38), r(1, 8), r(1, 38), r(1, 38), r(1, 38)]);
        assert_eq!(w(Variant::SequenceMean), vec![r(1, 18), r(1, 6), r(1, 24), r(1, 6), r(1, 30), r(1, 54)]);
        // The sum over tokens of the correct weights is 1; of the sequence mean's too.
        let total = |ws: Vec<Rational>| ws.iter().zip(&lengths).map(|(w, &l)| w.clone() * l as u64).sum::<Rational>();
        assert_eq!(total(w(Variant::Correct)), 1);
        assert_eq!(total(w(Variant::SequenceMean)), 1);
        assert_eq!(TokenReduction::SequenceMean.sequence_weights(&lengths), w(Variant::SequenceMean));
        assert_eq!(TokenReduction::Mean.sequence_weights(&lengths), w(Variant::Correct));
    }

    #[test]
    fn bad_structures_are_one_sentence() {
        let lengths = [2, 0, 3];
        let bad = |s: Structure| sequence_weights(&lengths, &s, Variant::Correct).unwrap_err().to_string();
        let s = |mb: Vec<usize>, k, r| Structure { microbatches: mb, accumulation: k, ranks: r };
        assert!(bad(s(vec![1, 1], 2, 1)).contains("adding up to the 3 sequences"));
        assert!(bad(s(vec![1, 1, 1], 2, 1)).contains("at least the 3 micro-batches"));
        assert!(bad(s(vec![3], 1, 2)).contains("every rank gets one"));
        let e = sequence_weights(&lengths, &s(vec![1, 1, 1], 3, 1), Variant::SumOfMicrobatchMeans).unwrap_err();
        assert!(e.to_string().starts_with("micro-batch 1 (sequences 1 to 1) has no counted token"), "{e}");
        let e = sequence_weights(&lengths, &s(vec![3], 1, 1), Variant::SequenceMean).unwrap_err();
        assert!(e.to_string().starts_with("sequence 1 has no counted token"), "{e}");
    }
}
