//! Tokens (src/tokens/, src/objective/tokens.rs, src/train/tokens.rs, src/model/tokens.rs):
//! gradlab's loops and token model against plain PyTorch (tests/fixtures/tokens/make.py, float64),
//! the loops against their exact counterpart in f64, f32 and bf16, the equal-length case where
//! the per-micro-batch token mean is exactly the correct one, the token model on the generic
//! check in every dtype, and bad input.

use gradlab::check::{check_model, CheckConfig, Checked};
use gradlab::method::{Scheme, Steps};
use gradlab::model::{Model, TokenModel, TokenTensor};
use gradlab::scalar::{DType, Prec, Scalar};
use gradlab::tokens::weights::{sequence_weights, token_weights, Structure, TokenReduction, Variant};
use gradlab::tokens::{LengthDist, TokenProblem, IGNORE_INDEX};
use gradlab::train::tokens::{exact_grads, loop_grads, StepGrads};
use gradlab::watch::Watch;
use ndarray::{Array2, ArrayD};
use rug::Float;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens")
}

/// A fixture array as a 2-D matrix: x's B x T x d as (B T) x d, a bias as 1 x k.
fn read2(path: &Path) -> Array2<f64> {
    let (a, _): (ArrayD<f64>, _) = gradlab::npy::read_float_typed(path).unwrap();
    let shape = a.shape().to_vec();
    let cols = *shape.last().unwrap();
    a.into_shape_with_order((shape.iter().product::<usize>() / cols, cols)).unwrap()
}

/// max |a - b| / max |b|.
fn rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn f64s<T: Scalar>(g: &StepGrads<T>) -> [Array2<f64>; 3] {
    [g.x.map(|v| v.to_f64()), g.weight.map(|v| v.to_f64()), g.bias.map(|v| v.to_f64())]
}

fn structure(dir: &Path) -> Structure {
    let mb = gradlab::npy::read_int1(&dir.join("microbatches.npy")).unwrap();
    let cfg = gradlab::npy::read_int1(&dir.join("config.npy")).unwrap();
    Structure {
        microbatches: mb.iter().map(|&v| v as usize).collect(),
        accumulation: cfg[0] as usize,
        ranks: cfg[1] as usize,
    }
}

const PARTS: [&str; 3] = ["x", "weight", "bias"];

/// Every variant's loop in f64, and its exact counterpart, agree with PyTorch's to 1e-12; and
/// every other variant's loop is at least 1 % away from PyTorch's gradient of that variant, so
/// the comparison tells the variants apart.
#[test]
fn loops_agree_with_pytorch() {
    let p = TokenProblem::load(&fixture()).unwrap();
    assert_eq!(p.lengths(), vec![6, 2, 5, 1, 4, 3], "one ignored position inside sequence 0");
    let w = &Watch::unwatched();
    let prec = Prec::new(256).unwrap();
    for name in ["s1", "s2"] {
        let dir = fixture().join(name);
        let s = structure(&dir);
        let ours: Vec<[Array2<f64>; 3]> =
            Variant::ALL.iter().map(|&v| f64s(&loop_grads::<f64>(&p, &s, v, (), w).unwrap())).collect();
        for (vi, &v) in Variant::ALL.iter().enumerate() {
            let exact = f64s(&exact_grads::<f64>(&p, &s, v, (), prec, w).unwrap());
            for (i, part) in PARTS.iter().enumerate() {
                let torch = read2(&dir.join(format!("{v}_{part}.npy")));
                let e = rel(&ours[vi][i], &torch);
                assert!(e < 1e-12, "{name} {v} {part}: loop vs PyTorch {e:e}");
                let e = rel(&exact[i], &torch);
                assert!(e < 1e-12, "{name} {v} {part}: exact vs PyTorch {e:e}");
                for (oi, &other) in Variant::ALL.iter().enumerate() {
                    let same = sequence_weights(&p.lengths(), &s, v).unwrap()
                        == sequence_weights(&p.lengths(), &s, other).unwrap();
                    if oi != vi && !same && *part == "weight" {
                        let gap = rel(&ours[oi][i], &torch);
                        assert!(gap > 1e-2, "{name}: {other} is only {gap:e} from PyTorch's {v}");
                    }
                }
            }
        }
    }
}

/// The token model's backward in f64 and its MPFR truth agree with PyTorch's single-batch
/// reductions (mean over tokens, sum, sequence mean) to 1e-12.
#[test]
fn token_model_agrees_with_pytorch() {
    let p = TokenProblem::load(&fixture()).unwrap();
    let w = &Watch::unwatched();
    let prec = Prec::new(256).unwrap();
    for red in TokenReduction::ALL.iter().copied() {
        let m = TokenModel::new(&p, red).unwrap();
        let (state, rounded) = m.state::<f64>(());
        assert_eq!(rounded, 0);
        for (which, part) in [(TokenTensor::Input, "x"), (TokenTensor::Weight, "weight"), (TokenTensor::Bias, "bias")] {
            let torch = read2(&fixture().join(format!("reduction_{red}_{part}.npy")));
            let ours = m.backward(&state, which, w).unwrap();
            let e = rel(&ours, &torch);
            assert!(e < 1e-12, "{red} {part}: backward vs PyTorch {e:e}");
            let truth = gradlab::model::truth(&m, &state, which, prec, w).unwrap().map(|v| v.to_f64());
            let e = rel(&truth, &torch);
            assert!(e < 1e-12, "{red} {part}: truth vs PyTorch {e:e}");
        }
    }
}

/// Rounding error bound of a loop's gradient element against the exact one, from the dtype's
/// unit roundoff u (the standard model: each operation's result is the exact one times 1 + e,
/// |e| <= u; gamma_m = m u / (1 - m u) bounds m of them). Each token's term w_j g_jc x_ji of an
/// element carries a relative error of at most gamma_m, m the rounded operations on its path:
/// the chain of factors and the loss gradient's scaling (5), the softmax (exp, the k-term sum,
/// the division, the subtraction: k + 3), the product with x or W (1), the sequential sums over
/// the micro-batch's tokens (N_b, the largest) and over the rank's micro-batches (M), the ranks'
/// division and sum (R + 1); plus the logits' own rounding (pairwise, ceil(log2 d) + 1
/// operations, an absolute error of at most gamma times sum_i |x_i w_ci| + |b_c|, <= Z), which
/// moves softmax(z)_c by at most 2 gamma Z relative. The bound is the sum over tokens of the
/// exact terms' magnitudes, |w_j| (p_jc + y_jc) |x_ji|, times gamma_m + 2 gamma_l Z.
#[allow(clippy::needless_range_loop)] // j indexes the tokens, their weights and x
fn bound(p: &TokenProblem, s: &Structure, v: Variant, u: f64) -> [Array2<f64>; 3] {
    let tok = p.tokens();
    let ws: Vec<f64> = token_weights(p, s, v).unwrap().iter().map(|r| r.to_f64()).collect();
    let (d, k) = (p.d(), p.k());
    let counts: Vec<usize> =
        s.microbatch_list().iter().map(|mb| mb.seqs.clone().map(|q| p.lengths()[q]).sum()).collect();
    let n_b = *counts.iter().max().unwrap();
    let m_max = (0..s.ranks).map(|r| s.window(r)).max().unwrap();
    let gamma = |m: f64| m * u / (1.0 - m * u);
    let g_path = gamma((5 + k + 3 + 1 + n_b + m_max + s.ranks + 1) as f64);
    let g_logit = gamma((d as f64).log2().ceil() + 1.0);
    let mut zabs = 0f64;
    let mut bx = Array2::zeros((p.b() * p.t_len(), d));
    let (mut bw, mut bb) = (Array2::zeros((k, d)), Array2::zeros((1, k)));
    for j in 0..tok.t.len() {
        let z: Vec<f64> =
            (0..k).map(|c| (0..d).map(|i| tok.x[[j, i]] * p.weight[[c, i]]).sum::<f64>() + p.bias[c]).collect();
        for c in 0..k {
            zabs = zabs.max((0..d).map(|i| (tok.x[[j, i]] * p.weight[[c, i]]).abs()).sum::<f64>() + p.bias[c].abs());
        }
        let mx = z.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - mx).exp()).collect();
        let sum: f64 = e.iter().sum();
        let row = tok.seq[j] * p.t_len() + tok.pos[j];
        for c in 0..k {
            let g = ws[j].abs() * ((e[c] / sum) + if c == tok.t[j] { 1.0 } else { 0.0 });
            bb[[0, c]] += g;
            for i in 0..d {
                bw[[c, i]] += g * tok.x[[j, i]].abs();
                bx[[row, i]] += g * p.weight[[c, i]].abs();
            }
        }
    }
    let f = g_path + 2.0 * g_logit * zabs;
    [bx * f, bw * f, bb * f]
}

/// The loop in f64, f32 and bf16 against its exact counterpart, within [`bound`] at each dtype's
/// unit roundoff (2^-53, 2^-24, 2^-8), element by element; in bf16 the actual error stays below a
/// quarter of the gap to the correct variant, so bf16 rounding cannot pass for a wrong variant.
#[test]
fn loops_agree_with_their_exact_counterpart_to_rounding() {
    let p = TokenProblem::generate(8, 12, 6, 5, LengthDist::LongTailed, 4).unwrap();
    let w = &Watch::unwatched();
    let prec = Prec::new(200).unwrap();
    let structures = [
        Structure { microbatches: vec![2, 3, 1, 2], accumulation: 2, ranks: 2 },
        Structure { microbatches: vec![3, 3, 2], accumulation: 4, ranks: 1 },
    ];
    for s in &structures {
        for &v in Variant::ALL {
            let exact = exact_grads::<f64>(&p, s, v, (), prec, w).unwrap();
            let exact = [exact.x.map(Float::to_f64), exact.weight.map(Float::to_f64), exact.bias.map(Float::to_f64)];
            let got = [
                (DType::F64, f64s(&loop_grads::<f64>(&p, s, v, (), w).unwrap())),
                (DType::F32, f64s(&loop_grads::<f32>(&p, s, v, (), w).unwrap())),
                (DType::BF16, f64s(&loop_grads::<half::bf16>(&p, s, v, (), w).unwrap())),
            ];
            for (dtype, g) in &got {
                let b = bound(&p, s, v, dtype.unit_roundoff());
                for i in 0..3 {
                    for ((a, e), bd) in g[i].iter().zip(&exact[i]).zip(&b[i]) {
                        assert!((a - e).abs() <= *bd, "{v} {dtype} {}: {a} vs {e}, bound {bd:e}", PARTS[i]);
                    }
                }
            }
            // bf16's actual rounding error stays well below the gap to the correct variant's
            // gradient, for every variant whose weights differ from correct's.
            let lens = p.lengths();
            if sequence_weights(&lens, s, v).unwrap() != sequence_weights(&lens, s, Variant::Correct).unwrap() {
                let correct = exact_grads::<f64>(&p, s, Variant::Correct, (), prec, w).unwrap();
                let gap = exact[1]
                    .iter()
                    .zip(correct.weight.iter())
                    .map(|(a, c)| (a - c.to_f64()).abs())
                    .fold(0f64, f64::max);
                let err = got[2].1[1].iter().zip(&exact[1]).map(|(a, e)| (a - e).abs()).fold(0f64, f64::max);
                assert!(gap > 4.0 * err, "{v} {:?}: bf16 error {err:e} against a gap of {gap:e}", s.microbatches);
            }
        }
    }
}

/// Equal lengths and equal micro-batches: the per-micro-batch token mean is the correct weight
/// exactly (1/(M N_b) = 1/N), and with M a power of two the loops give the same bits in f32 and
/// bf16; with unequal micro-batch sizes it is not (short micro-batches weigh more).
#[test]
fn equal_lengths_make_the_microbatch_mean_exact() {
    let p = TokenProblem::generate(8, 5, 4, 3, LengthDist::Equal, 9).unwrap();
    let w = &Watch::unwatched();
    let s = Structure { microbatches: vec![2, 2, 2, 2], accumulation: 4, ranks: 1 };
    let lens = p.lengths();
    assert_eq!(
        sequence_weights(&lens, &s, Variant::PerMicrobatchTokenMean).unwrap(),
        sequence_weights(&lens, &s, Variant::Correct).unwrap()
    );
    fn bits<T: Scalar>(p: &TokenProblem, s: &Structure, v: Variant, ctx: T::Ctx) -> Vec<u64> {
        let g = loop_grads::<T>(p, s, v, ctx, &Watch::unwatched()).unwrap();
        g.x.iter().chain(&g.weight).chain(&g.bias).map(|v| v.to_f64().to_bits()).collect()
    }
    for v in [Variant::PerMicrobatchTokenMean, Variant::SequenceMean] {
        assert_eq!(bits::<f32>(&p, &s, v, ()), bits::<f32>(&p, &s, Variant::Correct, ()), "{v}");
        assert_eq!(bits::<half::bf16>(&p, &s, v, ()), bits::<half::bf16>(&p, &s, Variant::Correct, ()), "{v}");
    }
    let uneven = Structure { microbatches: vec![1, 3, 4], accumulation: 3, ranks: 1 };
    let pm = sequence_weights(&lens, &uneven, Variant::PerMicrobatchTokenMean).unwrap();
    assert_eq!(pm[0], rug::Rational::from((1, 15)), "1/(3 * 5)");
    assert_eq!(pm[7], rug::Rational::from((1, 60)), "1/(3 * 20)");
    let a = f64s(&loop_grads::<f64>(&p, &uneven, Variant::PerMicrobatchTokenMean, (), w).unwrap());
    let c = f64s(&loop_grads::<f64>(&p, &uneven, Variant::Correct, (), w).unwrap());
    assert!(rel(&a[1], &c[1]) > 0.05, "{}", rel(&a[1], &c[1]));
    // A partial window of 3 micro-batches out of 4 with equal counts: exactly 3/4 of correct.
    let s3 = Structure { microbatches: vec![2, 2, 4], accumulation: 4, ranks: 1 };
    let lens3 = p.lengths();
    let pw = sequence_weights(&lens3, &s3, Variant::PartialWindow).unwrap();
    assert_eq!(pw[0], rug::Rational::from((1, 40)), "1/(4 * 10)");
}

/// The token model on the generic check, with its MPFR truth: dual numbers in f64 (the forward
/// pass against the backward), central differences in f32, bf16, bf16+f32 and mpfr:113.
#[test]
fn token_model_on_the_generic_check() {
    let p = TokenProblem::generate(3, 4, 3, 3, LengthDist::Uniform, 5).unwrap();
    let w = &Watch::unwatched();
    let truth = Some(Prec::new(256).unwrap());
    let cfg = |scheme, steps: &str| CheckConfig { truth, ..CheckConfig::seed(scheme, Steps::parse(steps).unwrap()) };
    for red in TokenReduction::ALL.iter().copied() {
        let m = TokenModel::new(&p, red).unwrap();
        for which in TokenTensor::ALL.iter().copied() {
            let run = |scheme, steps: &str, dtype: &str| {
                let checked = Checked::new(cfg(scheme, steps), DType::parse(dtype).unwrap()).unwrap();
                check_model(&m, which, &checked, w).unwrap().rows[0].clone()
            };
            let r = run(Scheme::Dual, "1", "f64");
            assert!(r.anal_vs_truth < 1e-14 && r.num_vs_truth < 1e-14, "{red} {which} f64: {r:?}");
            assert_eq!(r.wrt, which.name());
            for (dtype, steps, anal, num) in [
                ("f32", "1e-2", 1e-5, 1e-2),
                // bf16's numeric gradient at one step is mostly loss-flat (its 8 bits); what is
                // checked there is the analytic side against the truth (a mean relative error of
                // a few percent: the sum's gradient elements cancel).
                ("bf16", "1e-1", 0.15, f64::INFINITY),
                ("bf16+f32", "1e-1", 0.15, f64::INFINITY),
                ("mpfr:113", "1e-10", 1e-30, 1e-15),
            ] {
                let r = run(Scheme::Central, steps, dtype);
                assert!(r.anal_vs_truth < anal, "{red} {which} {dtype}: {r:?}");
                assert!(r.num_vs_truth < num || num.is_infinite(), "{red} {which} {dtype}: {r:?}");
            }
        }
    }
}

/// Save and load give the same problem; bad targets, shapes and structures are one sentence.
#[test]
fn bad_input_is_one_sentence() {
    let p = TokenProblem::generate(4, 6, 3, 2, LengthDist::Uniform, 1).unwrap();
    assert!(p.t.iter().any(|&c| c == IGNORE_INDEX));
    let dir = std::env::temp_dir().join(format!("gradlab-tokens-{}", std::process::id()));
    p.save(&dir).unwrap();
    assert_eq!(TokenProblem::load(&dir).unwrap(), p);
    let mut bad = p.t.clone();
    bad[[1, 0]] = -5;
    gradlab::npy::write(&dir.join("t.npy"), &bad).unwrap();
    let e = TokenProblem::load(&dir).unwrap_err().to_string();
    assert_eq!(e, "invalid problem data: t[1, 0] = -5 is neither a class (0 to 1) nor the ignored index -100");
    bad[[1, 0]] = 2;
    gradlab::npy::write(&dir.join("t.npy"), &bad).unwrap();
    assert!(TokenProblem::load(&dir).unwrap_err().to_string().contains("t[1, 0] = 2 is neither a class"));
    gradlab::npy::write(&dir.join("t.npy"), &ndarray::Array1::<i64>::zeros(4)).unwrap();
    assert!(TokenProblem::load(&dir).unwrap_err().to_string().contains("expected a 2-D array"));
    std::fs::remove_dir_all(&dir).unwrap();
    let e = loop_grads::<f32>(
        &p,
        &Structure { microbatches: vec![2, 1], accumulation: 2, ranks: 1 },
        Variant::Correct,
        (),
        &Watch::unwatched(),
    );
    assert!(e.unwrap_err().to_string().contains("adding up to the 4 sequences"));
    let mut empty = p.clone();
    empty.t.row_mut(2).fill(IGNORE_INDEX);
    let e = TokenModel::new(&empty, TokenReduction::SequenceMean).unwrap_err().to_string();
    assert!(e.starts_with("sequence 2 has no counted token"), "{e}");
    assert!(TokenModel::new(&empty, TokenReduction::Mean).is_ok());
}
