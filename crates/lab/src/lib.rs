//! The lab: what turns the core's checks ([`gradlab`]) into experiments, figures and a report,
//! and the `gradlab` command line. A crate of its own, so that a library user of the core does
//! not build plotters, clap, indicatif, ctrlc or png; the figures are the plotting crate's
//! ([`gradlab_plot`], re-exported as [`plot`]).
//!
//! # Layers
//!
//! Bottom to top, each module using only those before it (the workspace's tests/layers.rs
//! checks it); [`plot`] is the plotting crate, below them all:
//!
//! 1. `template`, `grid`, `spread`, `claims`, `progress`: named templates, step grids, the
//!    spread over seeds, the sentences a rule writes from the data, progress bars.
//! 2. `series`, `blocks`, `report`: figure series from rows, the README's generated blocks,
//!    tables and REPORT.md.
//! 3. `runner`, `peers`: experiments, their cells, shards, provenance and output; the published
//!    and PyTorch rows.
//! 4. `cli`, `prelude`: the command line, and what an experiment script uses.
//! 5. `experiments`: the experiments (experiments/, one file each, also each its own binary).
#![warn(missing_docs)]
// Lets the experiment scripts say `gradlab_lab::...` both as modules of this library and as
// binaries.
extern crate self as gradlab_lab;

pub mod blocks;
pub mod claims;
pub mod cli;
pub mod grid;
pub mod peers;
pub mod prelude;
pub mod progress;
pub mod report;
pub mod runner;
pub mod series;
pub mod spread;
pub mod template;

pub use gradlab_plot as plot;

#[path = "../../../experiments/mod.rs"]
pub mod experiments;
