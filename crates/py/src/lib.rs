//! `gradlab._core`: the Python extension module of gradlab, a thin binding of the core crate
//! (numpy arrays in, strings and dicts out). The Python package `gradlab` (python/gradlab)
//! wraps it; docs/python.md documents the API. Every computation is the core's, run with the
//! GIL released; a core error ([`gradlab::Error`]) becomes a `ValueError` with its sentence.
//!
//! # Layers
//!
//! 1. `errors`: the core's errors as Python exceptions.
//! 2. `arrays`: numpy arrays in (the dtype and shape checked).
//! 3. `settings`: the keyword arguments parsed by the core's parsers.
//! 4. `groups`, `model`, `check`: `diagnose_groups`, the model-agnostic diagnosis;
//!    `diagnose_model`, a model's tensors together with the step back; `check`, the
//!    finite-difference check of the built-in models.

mod arrays;
mod check;
mod errors;
mod groups;
mod model;
mod settings;

use pyo3::prelude::*;

/// The module `gradlab._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(groups::diagnose_groups, m)?)?;
    m.add_function(wrap_pyfunction!(groups::time_diagnose_groups, m)?)?;
    m.add_function(wrap_pyfunction!(model::diagnose_model, m)?)?;
    m.add_function(wrap_pyfunction!(check::check, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
