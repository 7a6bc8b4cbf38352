//! numpy arrays in: the user's gradient and the groups' gradients as the core takes them, with a
//! `TypeError` for an array of another dtype and a `ValueError` for another shape.

use numpy::{PyArrayDescrMethods, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// The user's gradient g as P float64 values (C order; a float32 array is widened exactly).
pub fn gradient(g: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    if let Ok(a) = g.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        return Ok(a.as_array().iter().copied().collect());
    }
    if let Ok(a) = g.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return Ok(a.as_array().iter().map(|&v| f64::from(v)).collect());
    }
    Err(PyTypeError::new_err(format!(
        "g is {}; expected a float64 or float32 numpy array (the gradient, any shape)",
        describe(g)
    )))
}

/// What a Python value is, for an error sentence: a numpy array's dtype, else its type.
pub fn describe(v: &Bound<'_, PyAny>) -> String {
    match v.cast::<PyUntypedArray>() {
        Ok(a) => format!("a numpy array of dtype {}", a.dtype()),
        Err(_) => format!("a {}", v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "value".into())),
    }
}

/// The groups' gradients as a (J, P) float64 array: a float64 array of another layout is
/// copied, anything else is refused with a `TypeError` (float32 included: the groups' gradients
/// must be float64, whose rounding the diagnosis neglects).
pub fn groups_array<'py>(groups: &'py Bound<'py, PyAny>) -> PyResult<PyReadonlyArray2<'py, f64>> {
    if let Ok(a) = groups.extract::<PyReadonlyArray2<'py, f64>>() {
        return Ok(a);
    }
    if let Ok(a) = groups.cast::<PyUntypedArray>() {
        if a.dtype().is_equiv_to(&numpy::dtype::<f64>(groups.py())) {
            return Err(PyValueError::new_err(format!(
                "groups has shape {:?}; expected (J, P), the J groups' gradients each flattened to the gradient's P \
                 values",
                a.shape()
            )));
        }
    }
    Err(PyTypeError::new_err(format!(
        "groups is {}; expected a float64 numpy array of shape (J, P) (the groups' gradients computed in float64, \
         whose rounding the diagnosis neglects)",
        describe(groups)
    )))
}
