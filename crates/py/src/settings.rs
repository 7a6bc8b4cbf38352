//! The keyword arguments of `diagnose_groups` as the core's [`Structure`] and [`Precision`],
//! parsed by the core's own parsers (the command line's `--unit`, `--reduction`, `--dtype`), so
//! a bad value gets the command line's sentence.

use crate::errors::value_error;
use gradlab::diagnose::groups::{Precision, Structure, TokenReduction, Unit};
use gradlab::scalar::DType;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The counts as whole numbers of items (a negative one gets the command line's sentence).
fn counts_of(counts: Vec<i64>) -> PyResult<Vec<usize>> {
    counts
        .into_iter()
        .map(|c| {
            usize::try_from(c).map_err(|_| {
                PyValueError::new_err(format!("counts holds the count {c}; expected whole numbers of items, 1 or more"))
            })
        })
        .collect()
}

/// The structure and precision of a call, parsed by the core's parsers (the command line's
/// `--unit`, `--reduction`, `--dtype`).
#[allow(clippy::too_many_arguments)]
pub fn settings(
    counts: Vec<i64>,
    unit: &str,
    reduction: &str,
    microbatches: Option<Vec<usize>>,
    accumulation: Option<usize>,
    ranks: Option<usize>,
    dtype: &str,
    tolerance: Option<f64>,
) -> PyResult<(Structure, Precision)> {
    let structure = Structure {
        counts: counts_of(counts)?,
        unit: Unit::parse(unit).map_err(value_error)?,
        reduction: TokenReduction::parse(reduction).map_err(value_error)?,
        microbatches,
        accumulation,
        ranks,
    };
    let mut precision = Precision::new(DType::parse(dtype).map_err(value_error)?);
    precision.tolerance = tolerance;
    Ok((structure, precision))
}
