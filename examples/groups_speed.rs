//! The model-agnostic diagnosis's speed (`gradlab::diagnose::groups`): m = 256 groups x P = 100k
//! parameters and m = 8 x P = 1e6, a float32 gradient of a mean of micro-batch means, timed
//! end to end (the fit, the tolerance, every pattern). Run in release:
//! `cargo run --release --example groups_speed` (the numbers are in docs/diagnose.md).

use gradlab::diagnose::groups::{diagnose_groups, Precision, Structure};
use gradlab::scalar::DType;
use ndarray::Array2;
use std::time::Instant;

fn main() {
    for (m, p, per_batch) in [(256usize, 100_000usize, 32usize), (8, 1_000_000, 1)] {
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let counts: Vec<usize> = (0..m).map(|j| 1 + (j * 7) % 5).collect();
        let groups = Array2::from_shape_fn((m, p), |(j, _)| counts[j] as f64 * 0.1 + next());
        let batches = m / per_batch;
        let items: Vec<usize> = (0..batches).map(|b| counts[b * per_batch..(b + 1) * per_batch].iter().sum()).collect();
        let w: Vec<f64> = (0..m).map(|j| 1.0 / (batches * items[j / per_batch]) as f64).collect();
        let mut g = vec![0.0; p];
        for (row, wj) in groups.rows().into_iter().zip(&w) {
            g.iter_mut().zip(row).for_each(|(o, x)| *o += wj * x);
        }
        let g: Vec<f64> = g.iter().map(|&v| v as f32 as f64).collect();
        let s = Structure { microbatches: Some(vec![per_batch; batches]), ..Structure::of_counts(counts) };
        let start = Instant::now();
        let d = diagnose_groups(&g, groups.view(), &s, &Precision::new(DType::F32)).expect("valid input");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "m = {m:>3} groups x P = {p:>7}: {secs:.3} s, verdict {} {:?} (residual {:.2e}, tolerance {:.2e})",
            d.verdict, d.causes, d.residual, d.tolerance
        );
    }
}
