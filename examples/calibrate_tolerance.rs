//! The calibration of `gradlab diagnose`'s tolerance ([`gradlab::policy::TOLERANCE_SIGMA`]):
//! on every committed correct gradient made by PyTorch's own kernels
//! (tests/fixtures/diagnose/calibration and the correct fixtures beside it, made by
//! make_calibration.py and make_fixtures.py) and by gradlab itself in f16, bf16, f32 and f64,
//! the root mean square and the largest of |given - truth| / s over each tensor's elements, with
//! s the statistical model of src/diagnose/tolerance.rs before its constant.
//!
//! ```console
//! $ cargo run --release --example calibrate_tolerance
//! ```
//!
//! The constant is chosen so that the largest root mean square seen is at most half of it.

use gradlab::diagnose::calibration::{fixture_ratios, own_ratios, Ratios};
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnose");
    let mut all: Vec<Ratios> = fixture_ratios(&root).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    all.extend(own_ratios());
    println!("{:<34} {:>7} {:>8} {:>10} {:>10}", "fixture", "tensor", "elements", "rms", "max");
    for r in &all {
        println!("{:<34} {:>7} {:>8} {:>10.4} {:>10.4}", r.name, r.wrt.name(), r.elements, r.rms, r.max);
    }
    let worst_rms = all.iter().map(|r| r.rms).fold(0.0, f64::max);
    let worst_max = all.iter().map(|r| r.max).fold(0.0, f64::max);
    println!(
        "largest rms {worst_rms:.4}, largest max {worst_max:.4}; TOLERANCE_SIGMA = {}",
        gradlab::policy::TOLERANCE_SIGMA
    );
}
