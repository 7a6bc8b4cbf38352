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

/// A 2-D float array (float64, or float32 widened exactly) named `name` in the error.
pub fn float2(name: &str, v: &Bound<'_, PyAny>) -> PyResult<ndarray::Array2<f64>> {
    if let Ok(a) = v.extract::<numpy::PyReadonlyArray2<'_, f64>>() {
        return Ok(a.as_array().to_owned());
    }
    if let Ok(a) = v.extract::<numpy::PyReadonlyArray2<'_, f32>>() {
        return Ok(a.as_array().mapv(f64::from));
    }
    Err(wrong(name, "a 2-D float64 or float32 numpy array", 2, v))
}

/// A 1-D float array (float64, or float32 widened exactly) named `name` in the error.
pub fn float1(name: &str, v: &Bound<'_, PyAny>) -> PyResult<ndarray::Array1<f64>> {
    if let Ok(a) = v.extract::<numpy::PyReadonlyArray1<'_, f64>>() {
        return Ok(a.as_array().to_owned());
    }
    if let Ok(a) = v.extract::<numpy::PyReadonlyArray1<'_, f32>>() {
        return Ok(a.as_array().mapv(f64::from));
    }
    Err(wrong(name, "a 1-D float64 or float32 numpy array", 1, v))
}

/// A 1-D integer array (int64 or int32) named `name` in the error.
pub fn int1(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(a) = v.extract::<numpy::PyReadonlyArray1<'_, i64>>() {
        return Ok(a.as_array().to_vec());
    }
    if let Ok(a) = v.extract::<numpy::PyReadonlyArray1<'_, i32>>() {
        return Ok(a.as_array().iter().map(|&c| i64::from(c)).collect());
    }
    Err(wrong(name, "a 1-D int64 or int32 numpy array of class indices", 1, v))
}

/// The error for `v` given as `name` where `expected` (an array of `dims` dimensions) was: a
/// `ValueError` for an array of another number of dimensions, else a `TypeError` (the dtype).
fn wrong(name: &str, expected: &str, dims: usize, v: &Bound<'_, PyAny>) -> PyErr {
    match v.cast::<PyUntypedArray>() {
        Ok(a) if a.ndim() == dims => {
            PyTypeError::new_err(format!("{name} is a numpy array of dtype {}; expected {expected}", a.dtype()))
        }
        Ok(a) => PyValueError::new_err(format!(
            "{name} is a numpy array of dtype {} and shape {:?}; expected {expected}",
            a.dtype(),
            a.shape()
        )),
        Err(_) => PyTypeError::new_err(format!("{name} is {}; expected {expected}", describe(v))),
    }
}
