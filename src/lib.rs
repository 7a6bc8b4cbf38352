//! gradlab: numerical precision in gradient checking.
//!
//! gradlab runs finite-difference gradient checks of a linear layer with softmax cross-entropy
//! (or a one-hidden-layer MLP with the same loss, [`objective::mlp`]), trained by SGD, in f16, bf16, f32, f64 and MPFR at any precision, and compares both the
//! numeric and the analytic gradient with an MPFR ground truth, so a bug (an analytic gradient
//! that is wrong by a factor) is told apart from rounding noise and truncation error.
//!
//! # Quick example
//!
//! The case that started gradlab: x.grad accumulated over 10 epochs is 10 times the true
//! gradient, so the relative error sits at 1 - 1/10 = 0.9 at every usable step.
//!
//! ```
//! use gradlab::prelude::*;
//! let problem = Problem::generate(10, 4, 2, 1)?; // n, d, k, seed
//! let cfg = CheckConfig {
//!     train: TrainConfig::seed(InputGrad::Accumulate), // x.grad summed over the 10 epochs
//!     truth: Some(Prec::new(256)?),
//!     ..CheckConfig::seed(Scheme::Central, Steps::parse("1e-2,1e-8")?)
//! };
//! let rows = check_dtype(&problem, LinearTensor::Input, DType::F32, &cfg, &Watch::unwatched())?.rows;
//! assert!((rows[0].relerr_mean - 0.9).abs() < 0.01); // the plateau
//! assert!((rows[0].ratio_median - 10.0).abs() < 0.5); // analytic / numeric names the factor
//! assert!((rows[0].anal_vs_truth - 9.0).abs() < 0.1); // the analytic side is the wrong one
//! assert!(rows[1].dead_zone > rows[1].loss_flat); // at 1e-8 most inputs do not move
//! # Ok::<(), gradlab::Error>(())
//! ```
//!
//! # Dtypes
//!
//! [`scalar::DType`] names a float format at run time (`f16`, `bf16`, `f32`, `f64`,
//! `mpfr:<bits>`); [`with_dtype!`] turns it into a type for the generic code. Every operation
//! rounds to the dtype's own precision, `exp` and `ln` included (CORE-MATH for the hardware
//! types, MPFR for MPFR), so f32 computes exactly what `mpfr:24` does within f32's exponent
//! range; see [`scalar`] for how each dtype rounds.
//!
//! # Large and long checks
//!
//! [`budget`] estimates a check's memory and work before it starts ([`budget::check_fits`]
//! refuses what does not fit); [`check::check_dtype`] runs a check under a
//! [`watch::Watch`] that another thread can stop and read progress from.
//!
//! # Reproducing the figures
//!
//! `cargo run --release -- run all` regenerates results/ (CSVs, figures, results/REPORT.md);
//! `gradlab run NAME` or `cargo run --release --bin NAME` runs one experiment
//! (`gradlab list` lists them).
//!
//! # Layers
//!
//! The modules bottom to top (rustdoc's module list below is alphabetical; this is their order);
//! each uses only modules listed before it (tests/layers.rs checks every `use crate::`, and that no
//! files inside a module import each other in a cycle):
//!
//! 1. [`error`], [`exact`], `text_serde`, [`watch`], [`atomic`], [`gmp_pool`]: errors, exact
//!    decimals and rationals, the text form of enums, the watch a long check reports to, atomics, MPFR's
//!    scratch pool.
//! 2. [`scalar`]: the dtypes, each operation rounded to the dtype, and the `Num` lift (complex and
//!    dual numbers over any dtype).
//! 3. [`sum`]: the pairwise sums every reduction uses.
//! 4. [`policy`], [`npy`], [`problem`], [`tokens`], [`cost`], [`metrics`], [`method`]: defaults and limits,
//!    .npy files, the generated problems, the token problems and the per-token weights of every
//!    normalization of their loss, the per-operation cost units the kernels count, error measures, the
//!    stencils (schemes, the steps of a check and of a row, Ridders, a function of one variable).
//! 5. [`objective`]: the models (the linear layer, the MLP, Martins' function), their forward and
//!    backward passes and losses.
//! 6. [`train`], [`truth`]: training like the seed (one SGD loop for every model,
//!    [`train::sgd`](mod@train::sgd)), the objectives at a trained state, the MPFR truth.
//! 7. [`numeric`]: numeric gradients (the fast and naive paths, the engines of every method, the
//!    regime of each element).
//! 8. [`model`]: the extension point, the [`model::Model`] trait (its tensors, its state at a dtype,
//!    its loss over any `Num`, its backward over any `Scalar`, optional training and fast path),
//!    and the linear model, the MLP and Martins' function implementing it.
//! 9. [`check`], [`budget`], [`plan`], [`regimes`], [`theory`], [`summary`], [`diagnose`], [`prelude`]:
//!    a check's configuration, rows and run (one generic check over any model on a configuration
//!    checked for its dtype, [`check::check_model`]); its memory and work; the one validation of
//!    `gradlab check`'s choices and the registry of its models ([`plan::plan`]); where each regime
//!    begins; the error model; the sentences under a check's
//!    table; `gradlab diagnose` (its text too, `diagnose::text`); what a check needs in one `use`.
//!
//! Above the core, in crates of their own: `gradlab-plot` (crates/plot, the figures) and
//! `gradlab-lab` (crates/lab: the experiment runner, report, command line and experiments/),
//! so the core builds without plotters, clap, indicatif, ctrlc and png.
#![warn(missing_docs)]

// Layer 1.
pub mod atomic;
pub mod error;
pub mod exact;
pub mod gmp_pool;
#[doc(hidden)]
pub mod text_serde;
pub mod watch;

// Layer 2.
pub mod scalar;

// Layer 3.
pub mod sum;

// Layer 4.
pub mod cost;
pub mod method;
pub mod metrics;
pub mod npy;
pub mod policy;
pub mod problem;
pub mod tokens;

// Layer 5.
pub mod objective;

// Layer 6.
pub mod train;
pub mod truth;

// Layer 7.
pub mod numeric;

// Layer 8.
pub mod model;

// Layer 9.
pub mod budget;
pub mod check;
pub mod diagnose;
pub mod plan;
pub mod prelude;
pub mod regimes;
pub mod summary;
pub mod theory;

pub use error::{Error, Result};
