//! The experiments, one file each: a script on the lab API ([`gradlab_lab`]) that declares its
//! cells, computes its rows, draws its figures and writes its report section. Each file is also
//! its own binary (`cargo run --release --bin NAME`); [`all`] is the one registry that `gradlab
//! list`, `gradlab run NAME|all` and REPORT.md's order read.

pub mod bits_sweep;
pub mod consequences;
pub mod defaults;
pub mod error_model;
pub mod formats;
pub mod kinks;
pub mod martins;
pub mod methods;
pub mod microbatch;
pub mod normalization;
pub mod precision_sweep;
pub mod pytorch;
pub mod regimes;
pub mod regimes_n;
pub mod scaling;
pub mod seed_dtypes;
pub mod seed_repro;
pub mod sum_vs_mean;

use gradlab_lab::runner::{Registry, Runnable};

/// REPORT.md's methods section: the protocol every experiment follows, and the key findings.
pub const PROTOCOL: &str = include_str!("protocol.md");

/// REPORT.md's references.
pub const REFERENCES: &str = include_str!("references.md");

/// The registry the `gradlab` binary and each experiment's own binary pass to the lab: every
/// experiment, the protocol and the references.
pub const REGISTRY: Registry = Registry { all, protocol: PROTOCOL, references: REFERENCES };

/// Every experiment, in report order.
pub fn all() -> Vec<Box<dyn Runnable>> {
    vec![
        Box::new(seed_repro::SeedRepro),
        Box::new(seed_dtypes::SeedDtypes),
        Box::new(pytorch::Pytorch),
        Box::new(precision_sweep::PrecisionSweep),
        Box::new(error_model::ErrorModelExperiment),
        Box::new(defaults::Defaults),
        Box::new(regimes::Regimes),
        Box::new(regimes_n::RegimesN),
        Box::new(sum_vs_mean::SumVsMean),
        Box::new(microbatch::Microbatch),
        Box::new(normalization::Normalization),
        Box::new(consequences::Consequences),
        Box::new(formats::Formats),
        Box::new(bits_sweep::BitsSweep),
        Box::new(martins::MartinsExperiment),
        Box::new(methods::Methods),
        Box::new(kinks::Kinks),
        Box::new(scaling::Scaling),
    ]
}

/// Finds an experiment by name.
///
/// # Errors
/// [`gradlab::Error::UnknownExperiment`] naming the unknown name.
pub fn find(name: &str) -> gradlab::Result<Box<dyn Runnable>> {
    all().into_iter().find(|e| e.name() == name).ok_or_else(|| gradlab::Error::UnknownExperiment(name.to_string()))
}
