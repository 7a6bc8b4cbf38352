//! The library's error type: every failure a user can cause, each with a one-sentence message
//! that names the bad value and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong in gradlab's library code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dtype name that is not one of f16, bf16, f32, f64, tf32, e5m2, e4m3, `ieee:<E>:<M>` or
    /// `mpfr:<bits>`.
    #[error("invalid dtype {value:?}: expected one of f16, bf16, f32, f64, tf32, e5m2, e4m3, ieee:<E>:<M> (E from 2 to 11 exponent bits, M from 1 to 52 mantissa bits) or mpfr:<bits> with bits from {min} to {max}{detail}")]
    DType {
        /// The text the user gave.
        value: String,
        /// Smallest MPFR precision accepted.
        min: u32,
        /// Largest MPFR precision accepted.
        max: u32,
        /// Extra detail, starting with "; " or empty.
        detail: String,
    },
    /// A number (step, learning rate, ...) that failed to parse or is out of range.
    #[error("invalid {what} {value:?}: expected {expected}")]
    Value {
        /// Which quantity, e.g. "step".
        what: &'static str,
        /// The text or value the user gave.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Choices that contradict each other (a model without the tensor asked for, a scheme a dtype
    /// cannot run, ...), in one sentence: a usage error (`gradlab check` exits with status 2).
    #[error("{0}")]
    Usage(String),
    /// A problem (data folder or generated) whose shapes or contents are inconsistent.
    #[error("invalid problem data: {0}")]
    Problem(String),
    /// A file that could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why, as one clause.
        reason: String,
    },
    /// A file or folder that could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why, as one clause.
        reason: String,
    },
    /// Shards that cannot be merged: missing, duplicated, or from different runs.
    #[error("invalid shards: {0}")]
    Shard(String),
    /// An experiment name that is not known.
    #[error("unknown experiment {0:?}: run `gradlab list` to see the experiments")]
    UnknownExperiment(String),
    /// A check too large for the memory it may use, refused before anything was allocated.
    #[error("{what} would need about {need} of memory, more than the limit of {limit}")]
    Memory {
        /// The check, e.g. "a check of n=100000000 d=100000 k=2 in f32".
        what: String,
        /// The estimated need, e.g. "72.8 TiB".
        need: String,
        /// The limit and where it came from, e.g. "22.1 GiB (--max-memory)".
        limit: String,
    },
    /// The run was interrupted (Ctrl-C) before it finished.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

/// gradlab's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Value`] with the given parts.
    pub fn value(what: &'static str, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::Value { what, value: value.into(), expected: expected.into() }
    }
}
