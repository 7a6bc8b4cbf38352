//! The core's errors as Python exceptions: every [`gradlab::Error`] is a `ValueError` carrying
//! the core's one sentence (the text the command line prints after `error: `).

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

/// `e` as a Python `ValueError` with its sentence.
pub fn value_error(e: gradlab::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}
