//! The token diagnosis with the head's own rounding (src/diagnose/groups/along.rs,
//! `TokenRounding` in src/diagnose/tokens.rs), on gradlab's own training loops
//! (`train::tokens::loop_grads`) at the sizes people train in: 256 sequences of 64 and 512
//! positions with long-tailed lengths and of 512 with uniform lengths (65k tokens), a head of
//! d = 64 features and k = 32 classes, and the
//! fixture's small head (d = 8, k = 4), in f32 and bf16 (bf16 storage with float32 arithmetic,
//! as PyTorch's kernels): every variant is named and the correct
//! step is `correct`, where the tolerance tau alone left the per-micro-batch token mean and the
//! mean over ranks inconclusive in bf16. And the other sentence: a mistake smaller than the
//! rounding along its direction (ranks one token apart) leaves the correct bf16 step
//! `inconclusive`, never `correct`, while f64 tells it; ranks 30 tokens apart in 16k (below the
//! rounding of bf16's loss factors) and a confident head (p - 1 rounded away) are never judged with
//! confidence (a referee's cases). Where two mistakes both fit within the tolerance (a trained
//! head's partial window and double normalization), the direction between them names one.

use gradlab::diagnose::groups::{GroupCause, Precision};
use gradlab::diagnose::tokens::{diagnose_tokens, TokenLoop, TOKEN_TENSORS};
use gradlab::diagnose::Verdict;
use gradlab::scalar::{DType, Scalar};
use gradlab::tokens::weights::{Structure, TokenReduction, Variant};
use gradlab::tokens::{LengthDist, TokenProblem, IGNORE_INDEX};
use gradlab::train::tokens::loop_grads;
use gradlab::watch::Watch;

/// The problem with every input and parameter rounded to a bf16 number, so that both dtypes'
/// loops see the values the groups are computed from (as the PyTorch fixtures do).
fn bf16_valued(mut p: TokenProblem) -> TokenProblem {
    let round = |v: &mut f64| *v = f64::from(half::bf16::from_f64(*v));
    p.x.iter_mut().for_each(round);
    p.weight.iter_mut().for_each(round);
    p.bias.iter_mut().for_each(round);
    p
}

/// The weight and bias gradient of one step in `dtype`, flattened as the diagnosis takes them.
fn step(p: &TokenProblem, s: &Structure, v: Variant, dtype: DType) -> Vec<f64> {
    gradlab::with_dtype!(dtype, |X, ctx| {
        let g = loop_grads::<X>(p, s, v, ctx, &Watch::unwatched()).unwrap();
        g.weight.iter().chain(g.bias.iter()).map(|x| x.to_f64()).collect()
    })
}

/// bf16 storage with float32 arithmetic, as PyTorch's bf16 kernels compute (the gradient is
/// judged as bf16: the told dtype's compute is float32).
fn bf16() -> DType {
    "bf16+f32".parse().unwrap()
}

/// What the diagnosis is told of the loop `s` ran: its micro-batches, K and R, the token mean meant.
fn token_loop(s: &Structure) -> TokenLoop {
    TokenLoop {
        reduction: TokenReduction::Mean,
        microbatches: Some(s.microbatches.clone()),
        accumulation: Some(s.accumulation),
        ranks: Some(s.ranks),
    }
}

fn expected(v: Variant) -> Option<GroupCause> {
    Some(match v {
        Variant::Correct => return None,
        Variant::PerMicrobatchTokenMean => GroupCause::PerMicrobatchTokenMean,
        Variant::SumOfMicrobatchMeans => GroupCause::SumOfMicrobatchMeans,
        Variant::DoubleNormalization => GroupCause::DoubleNormalization,
        Variant::PartialWindow => GroupCause::PartialWindow,
        Variant::RankMeanOfMeans => GroupCause::RankMeanOfMeans,
        Variant::SequenceMean => GroupCause::SequenceMeanInsteadOfTokenMean,
    })
}

/// The structures of the PyTorch fixtures: M micro-batches (K = M; 8, or 4 of 2 sequences for
/// B = 8: with one sequence per micro-batch the per-micro-batch token mean is the sequence
/// mean), the same with K = 2M (a partial window), and 2 ranks of M/2.
fn structures(b: usize) -> [(Structure, &'static [Variant]); 3] {
    let m = (b / 2).min(8);
    let mbs = vec![b / m; m];
    [
        (
            Structure { microbatches: mbs.clone(), accumulation: m, ranks: 1 },
            &[
                Variant::Correct,
                Variant::PerMicrobatchTokenMean,
                Variant::SumOfMicrobatchMeans,
                Variant::DoubleNormalization,
                Variant::SequenceMean,
            ],
        ),
        (
            Structure { microbatches: mbs.clone(), accumulation: 2 * m, ranks: 1 },
            &[Variant::Correct, Variant::PartialWindow],
        ),
        (Structure { microbatches: mbs, accumulation: m / 2, ranks: 2 }, &[Variant::Correct, Variant::RankMeanOfMeans]),
    ]
}

fn named(p: &TokenProblem, dtype: DType) -> Vec<String> {
    let mut failures = Vec::new();
    for (s, variants) in structures(p.b()) {
        let loop_ = token_loop(&s);
        for &v in variants {
            let g = step(p, &s, v, if dtype == DType::BF16 { bf16() } else { dtype });
            let (_, d) = diagnose_tokens(p, &TOKEN_TENSORS, &g, &loop_, &Precision::new(dtype)).unwrap();
            let ok = match expected(v) {
                None => d.verdict == Verdict::Correct,
                Some(c) => d.verdict == Verdict::Wrong && d.causes == [c],
            };
            if !ok {
                failures.push(format!(
                    "B {} T {} d {} k {} {dtype} K {} R {} {v}: {:?} {:?} {:?}",
                    p.b(),
                    p.t_len(),
                    p.d(),
                    p.k(),
                    s.accumulation,
                    s.ranks,
                    d.verdict,
                    d.causes,
                    d.reason
                ));
            }
        }
    }
    failures
}

#[test]
fn every_variant_is_named_at_training_sizes_in_f32_and_bf16() {
    let mut failures = Vec::new();
    let long = LengthDist::LongTailed;
    for (b, t, d, k, lengths, seed) in [
        (256, 64, 64, 32, long, 1),
        (256, 512, 64, 32, long, 2),
        (256, 64, 8, 4, long, 3),
        (8, 512, 64, 32, long, 4),
        (256, 512, 64, 32, LengthDist::Uniform, 6),
    ] {
        let p = bf16_valued(TokenProblem::generate(b, t, d, k, lengths, seed).unwrap());
        for dtype in [DType::F32, DType::BF16] {
            failures.extend(named(&p, dtype));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_mistake_below_the_rounding_along_it_leaves_bf16_inconclusive() {
    // 8 sequences of 64 tokens, one token of the first ignored: the two ranks (micro-batches of
    // one sequence, i on rank i mod 2) hold 255 and 256 tokens, so the mean over ranks moves the
    // gradient by about 2e-3 of its norm, below bf16's rounding along that direction.
    let mut p = bf16_valued(TokenProblem::generate(8, 64, 16, 8, LengthDist::Equal, 5).unwrap());
    p.t[[0, 63]] = IGNORE_INDEX;
    let s = Structure { microbatches: vec![1; 8], accumulation: 4, ranks: 2 };
    let loop_ = token_loop(&s);
    let at =
        |dtype: DType, g: &[f64]| diagnose_tokens(&p, &TOKEN_TENSORS, g, &loop_, &Precision::new(dtype)).unwrap().1;
    let narrow = at(DType::BF16, &step(&p, &s, Variant::Correct, bf16()));
    assert_eq!(narrow.verdict, Verdict::Inconclusive, "{narrow:#?}");
    assert!(narrow.reason.as_deref().unwrap_or("").contains("rank_mean_of_means"), "{:?}", narrow.reason);
    let mistaken = at(DType::BF16, &step(&p, &s, Variant::RankMeanOfMeans, bf16()));
    assert_ne!(mistaken.verdict, Verdict::Correct, "{mistaken:#?}");
    assert!(!mistaken.causes.iter().any(|c| *c != GroupCause::RankMeanOfMeans), "{mistaken:#?}");
    // f64's rounding is far below the mistake: correct, and the mistake named.
    let f64_correct = at(DType::F64, &step(&p, &s, Variant::Correct, DType::F64));
    assert_eq!(f64_correct.verdict, Verdict::Correct, "{f64_correct:#?}");
    let f64_mistaken = at(DType::F64, &step(&p, &s, Variant::RankMeanOfMeans, DType::F64));
    assert_eq!(f64_mistaken.causes.first(), Some(&GroupCause::RankMeanOfMeans), "{f64_mistaken:#?}");
}

#[test]
fn near_equal_ranks_and_confident_heads_are_never_judged_with_confidence() {
    // The referee's cases: 64 sequences of 256 tokens, one 30 tokens short, so the two ranks hold
    // 8162 and 8192 tokens: the mean over ranks changes each rank's weight by 0.2 %, below the
    // rounding of bf16's loss factors (the mistaken step's bits equal the correct step's).
    let mut p = bf16_valued(TokenProblem::generate(64, 256, 64, 32, LengthDist::Equal, 7).unwrap());
    for pos in 226..256 {
        p.t[[0, pos]] = IGNORE_INDEX;
    }
    let s = Structure { microbatches: vec![8; 8], accumulation: 4, ranks: 2 };
    let loop_ = token_loop(&s);
    let at = |p: &TokenProblem, v: Variant| {
        diagnose_tokens(p, &TOKEN_TENSORS, &step(p, &s, v, bf16()), &loop_, &Precision::new(DType::BF16)).unwrap().1
    };
    let correct = at(&p, Variant::Correct);
    assert_eq!(correct.verdict, Verdict::Inconclusive, "{correct:#?}");
    let mistaken = at(&p, Variant::RankMeanOfMeans);
    assert!(
        mistaken.verdict == Verdict::Inconclusive || mistaken.causes == [GroupCause::RankMeanOfMeans],
        "{mistaken:#?}"
    );
    // A confident head (logits 10 times larger): p - 1 rounds away in bf16, and the correct step
    // must not be called wrong; each mistake is named or inconclusive.
    let mut confident = bf16_valued(TokenProblem::generate(64, 64, 64, 32, LengthDist::LongTailed, 8).unwrap());
    confident.weight.mapv_inplace(|w| w * 10.0);
    let s = Structure { microbatches: vec![8; 8], accumulation: 8, ranks: 1 };
    let loop_ = token_loop(&s);
    for v in [Variant::Correct, Variant::PerMicrobatchTokenMean, Variant::SequenceMean, Variant::DoubleNormalization] {
        let g = step(&confident, &s, v, bf16());
        let d = diagnose_tokens(&confident, &TOKEN_TENSORS, &g, &loop_, &Precision::new(DType::BF16)).unwrap().1;
        let fine = match expected(v) {
            None => d.verdict != Verdict::Wrong,
            Some(c) => d.verdict == Verdict::Inconclusive || d.causes == [c],
        };
        assert!(fine, "{v}: {:?} {:?} {:?}", d.verdict, d.causes, d.reason);
    }
}

/// A trained head, as the referee made one: the weight and bias `scale` times larger, rounded to
/// bf16, and the head's own predictions as targets (confident and mostly right), every 50th
/// position's target moved to the next class; ignored positions stay ignored.
fn trained(mut p: TokenProblem, scale: f64) -> TokenProblem {
    p.weight.mapv_inplace(|w| w * scale);
    p.bias.mapv_inplace(|w| w * scale);
    let mut p = bf16_valued(p);
    let (b, t, k) = (p.b(), p.t_len(), p.k());
    for s in 0..b {
        for pos in 0..t {
            if p.t[[s, pos]] == IGNORE_INDEX {
                continue;
            }
            let logit = |c: usize| p.bias[c] + (0..p.d()).map(|i| p.x[[s, pos, i]] * p.weight[[c, i]]).sum::<f64>();
            let best = (0..k).max_by(|&a, &c| logit(a).total_cmp(&logit(c))).unwrap();
            let noisy = (s * t + pos) % 50 == 0;
            p.t[[s, pos]] = (if noisy { (best + 1) % k } else { best }) as i64;
        }
    }
    p
}

/// A referee's case: a trained head (confident and right) in bf16 with a partial last window.
/// Its tolerance is so wide that double_normalization (every token's weight divided by K) fits
/// within it as well as partial_window; along the direction between the two the gradient is at
/// partial_window's, so that alone is named, with a note saying why the other is not.
#[test]
fn two_mistakes_that_both_fit_are_told_apart_along_the_direction_between_them() {
    for (seed, b, t, d, k) in [(1u64, 8usize, 512usize, 64usize, 32usize), (5, 64, 64, 8, 4)] {
        let p = trained(TokenProblem::generate(b, t, d, k, LengthDist::Uniform, seed).unwrap(), 10.0);
        let m = (b / 2).min(8);
        let s = Structure { microbatches: vec![b / m; m], accumulation: 2 * m, ranks: 1 };
        let at = |v: Variant| {
            let g = step(&p, &s, v, bf16());
            diagnose_tokens(&p, &TOKEN_TENSORS, &g, &token_loop(&s), &Precision::new(DType::BF16)).unwrap().1
        };
        let d = at(Variant::PartialWindow);
        assert_eq!(d.causes, [GroupCause::PartialWindow], "B {b}: {d:#?}");
        assert!(
            d.notes.iter().any(|n| n.starts_with("double_normalization fits within the tolerance too")),
            "B {b}: {:?}",
            d.notes
        );
        assert_ne!(at(Variant::Correct).verdict, Verdict::Wrong, "B {b}");
    }
}
