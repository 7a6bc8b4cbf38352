//! `gradlab diagnose --tokens` at the size of issue #21's bar: B = 256 sequences x T = 512
//! positions x d = 64 features, k = 32 classes, uniform lengths (about 63k counted tokens; the
//! values rounded to bf16 numbers), a float32 step of the per-micro-batch token mean over 8
//! micro-batches of 32 sequences, and a correct bfloat16 step (where tau hides mistakes and each
//! is tested along its direction against the head's rounding). Times what the command does after
//! parsing its flags: reading the problem's .npy files, the sequences' gradients and the
//! diagnosis. Run in release:
//! `cargo run --release --example tokens_speed` (the numbers are in docs/tokens.md).

use gradlab::diagnose::groups::Precision;
use gradlab::diagnose::tokens::{diagnose_tokens, TokenLoop, TOKEN_TENSORS};
use gradlab::scalar::{DType, Scalar};
use gradlab::tokens::weights::{Structure, Variant};
use gradlab::tokens::{LengthDist, TokenProblem};
use gradlab::train::tokens::loop_grads;
use gradlab::watch::Watch;
use std::time::Instant;

fn main() {
    let (b, t, d, k) = (256, 512, 64, 32);
    let mut problem = TokenProblem::generate(b, t, d, k, LengthDist::Uniform, 21).expect("valid sizes");
    let round = |v: &mut f64| *v = f64::from(half::bf16::from_f64(*v));
    problem.x.iter_mut().for_each(round);
    problem.weight.iter_mut().for_each(round);
    problem.bias.iter_mut().for_each(round);
    let dir = std::env::temp_dir().join(format!("gradlab-tokens-speed-{}", std::process::id()));
    problem.save(&dir).expect("a writable temporary folder");
    let s = Structure { microbatches: vec![32; 8], accumulation: 8, ranks: 1 };
    let flat =
        |w: &ndarray::Array2<f64>, b: &ndarray::Array2<f64>| w.iter().chain(b.iter()).copied().collect::<Vec<f64>>();
    let f32_step = loop_grads::<f32>(&problem, &s, Variant::PerMicrobatchTokenMean, (), &Watch::unwatched())
        .expect("a valid structure");
    // bf16 storage with float32 arithmetic, as PyTorch's bf16 kernels.
    let mixed: DType = "bf16+f32".parse().expect("a dtype");
    let bf16_step =
        gradlab::with_dtype!(mixed, |X, ctx| loop_grads::<X>(&problem, &s, Variant::Correct, ctx, &Watch::unwatched())
            .map(|g| (g.weight.mapv(|v| v.to_f64()), g.bias.mapv(|v| v.to_f64()))))
        .expect("a valid structure");
    let steps = [
        (
            DType::F32,
            "per_microbatch_token_mean",
            flat(&f32_step.weight.mapv(f64::from), &f32_step.bias.mapv(f64::from)),
        ),
        (DType::BF16, "correct", flat(&bf16_step.0, &bf16_step.1)),
    ];
    let loop_ = TokenLoop { microbatches: Some(vec![32; 8]), ..TokenLoop::default() };
    for (dtype, variant, g) in &steps {
        for run in 1..=3 {
            let start = Instant::now();
            let loaded = TokenProblem::load(&dir).expect("the files just written");
            let read = start.elapsed().as_secs_f64();
            let (_, diag) = diagnose_tokens(&loaded, &TOKEN_TENSORS, g, &loop_, &Precision::new(*dtype))
                .expect("a valid diagnosis");
            let total = start.elapsed().as_secs_f64();
            println!(
                "{dtype} {variant} step, run {run}: B = {b} x T = {t} x d = {d}, k = {k} ({} tokens): read {read:.2} s, \
                 total {total:.2} s; verdict {} {:?}",
                loaded.n_tokens(),
                diag.verdict,
                diag.causes
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
