//! `gradlab diagnose --tokens` at the size of issue #21's bar: B = 256 sequences x T = 512
//! positions x d = 64 features, k = 32 classes, uniform lengths (about 66k counted tokens), a
//! float32 step of the per-micro-batch token mean over 8 micro-batches of 32 sequences. Times what
//! the command does after parsing its flags: reading the problem's .npy files, the sequences'
//! gradients and the diagnosis. Run in release:
//! `cargo run --release --example tokens_speed` (the numbers are in docs/tokens.md).

use gradlab::diagnose::groups::Precision;
use gradlab::diagnose::tokens::{diagnose_tokens, TokenLoop, TOKEN_TENSORS};
use gradlab::scalar::DType;
use gradlab::tokens::weights::{Structure, Variant};
use gradlab::tokens::{LengthDist, TokenProblem};
use gradlab::train::tokens::loop_grads;
use gradlab::watch::Watch;
use std::time::Instant;

fn main() {
    let (b, t, d, k) = (256, 512, 64, 32);
    let problem = TokenProblem::generate(b, t, d, k, LengthDist::Uniform, 21).expect("valid sizes");
    let dir = std::env::temp_dir().join(format!("gradlab-tokens-speed-{}", std::process::id()));
    problem.save(&dir).expect("a writable temporary folder");
    let s = Structure { microbatches: vec![32; 8], accumulation: 8, ranks: 1 };
    let step = loop_grads::<f32>(&problem, &s, Variant::PerMicrobatchTokenMean, (), &Watch::unwatched())
        .expect("a valid structure");
    let g: Vec<f64> = step.weight.iter().chain(step.bias.iter()).map(|&v| v as f64).collect();
    let loop_ = TokenLoop { microbatches: Some(vec![32; 8]), ..TokenLoop::default() };
    for run in 1..=3 {
        let start = Instant::now();
        let loaded = TokenProblem::load(&dir).expect("the files just written");
        let read = start.elapsed().as_secs_f64();
        let (_, diag) = diagnose_tokens(&loaded, &TOKEN_TENSORS, &g, &loop_, &Precision::new(DType::F32))
            .expect("a valid diagnosis");
        let total = start.elapsed().as_secs_f64();
        println!(
            "run {run}: B = {b} x T = {t} x d = {d}, k = {k} ({} tokens): read {read:.2} s, total {total:.2} s; verdict \
             {} {:?}",
            loaded.n_tokens(),
            diag.verdict,
            diag.causes
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
