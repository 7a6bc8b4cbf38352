//! `diagnose_model`: a model's tensors diagnosed together by
//! [`gradlab::diagnose::groups::step_back::diagnose_model`], with an optional Python object that
//! evaluates the loss meant at other parameters (the step back of `params_after_step`;
//! `gradlab.torch` passes one).

use crate::arrays::{gradient, groups_array};
use crate::errors::value_error;
use crate::settings::settings;
use gradlab::diagnose::groups::step_back::{diagnose_model as core_diagnose_model, Block, StepBack};
use gradlab::diagnose::groups::text::format_groups_text;
use gradlab::scalar::DType;
use numpy::PyReadonlyArray2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A Python object with `gradient_at(lr, weights)` and `derivative(weights)`, each returning a
/// list of arrays (one per tensor). A Python exception is kept and raised again as it was.
struct PyStepBack {
    obj: Py<PyAny>,
    error: Option<PyErr>,
}

impl PyStepBack {
    fn call(
        &mut self,
        method: &str,
        args: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>,
    ) -> gradlab::Result<Vec<Vec<f64>>> {
        let out = Python::attach(|py| -> PyResult<Vec<Vec<f64>>> {
            let list = args(py).and_then(|a| {
                let a = a.cast_into::<pyo3::types::PyTuple>().map_err(PyErr::from)?;
                self.obj.bind(py).call_method1(method, a)
            })?;
            let mut values = Vec::new();
            for item in list.try_iter()? {
                values.push(gradient(&item?)?.values().to_vec());
            }
            Ok(values)
        });
        out.map_err(|e| {
            let sentence = format!("the step back's {method} raised {e}");
            self.error = Some(e);
            gradlab::Error::Usage(sentence)
        })
    }
}

impl StepBack for PyStepBack {
    fn gradient_at(&mut self, lr: f64, weights: &[f64]) -> gradlab::Result<Vec<Vec<f64>>> {
        let w = weights.to_vec();
        self.call("gradient_at", move |py| (lr, w).into_pyobject(py).map(|t| t.into_any()))
    }

    fn derivative(&mut self, weights: &[f64]) -> gradlab::Result<Vec<Vec<f64>>> {
        let w = weights.to_vec();
        self.call("derivative", move |py| (w,).into_pyobject(py).map(|t| t.into_any()))
    }
}

/// diagnose_model(blocks, counts, *, unit="samples", reduction="mean", microbatches=None,
/// accumulation=None, ranks=None, tolerance=None, step_back=None) -> [(json, text)]
///
/// Each tensor of a model diagnosed against its groups, as `diagnose_groups` does, `blocks` a
/// list of (name, g, groups, dtype). With `step_back` (an object with `gradient_at(lr,
/// weights)` and `derivative(weights)`, each returning one array per block: the gradient of
/// sum_j weights[j] (group j's summed loss) at the parameters theta + lr v, v each parameter's
/// given gradient, and its derivative in lr at 0), a gradient taken one SGD step before the
/// parameters is named `params_after_step` with its learning rate.
#[pyfunction]
#[pyo3(signature = (blocks, counts, *, unit="samples", reduction="mean", microbatches=None, accumulation=None, ranks=None, tolerance=None, step_back=None))]
#[allow(clippy::too_many_arguments)]
pub fn diagnose_model<'py>(
    py: Python<'py>,
    blocks: Vec<(String, Bound<'py, PyAny>, Bound<'py, PyAny>, String)>,
    counts: Vec<i64>,
    unit: &str,
    reduction: &str,
    microbatches: Option<Vec<usize>>,
    accumulation: Option<usize>,
    ranks: Option<usize>,
    tolerance: Option<f64>,
    step_back: Option<Py<PyAny>>,
) -> PyResult<Vec<(String, String)>> {
    let (s, _) = settings(counts, unit, reduction, microbatches, accumulation, ranks, "f64", tolerance)?;
    let mut gs = Vec::with_capacity(blocks.len());
    let mut arrays: Vec<PyReadonlyArray2<'_, f64>> = Vec::with_capacity(blocks.len());
    let mut precisions = Vec::with_capacity(blocks.len());
    for (_, g, groups, dtype) in &blocks {
        gs.push(gradient(g)?);
        arrays.push(groups_array(groups)?);
        let mut p = gradlab::diagnose::groups::Precision::new(DType::parse(dtype).map_err(value_error)?);
        p.tolerance = tolerance;
        precisions.push(p);
    }
    let core_blocks: Vec<Block<'_>> = blocks
        .iter()
        .zip(&gs)
        .zip(&arrays)
        .zip(&precisions)
        .map(|(((b, g), a), p)| Block { name: b.0.clone(), g: g.values(), groups: a.as_array(), precision: *p })
        .collect();
    let mut oracle = step_back.map(|obj| PyStepBack { obj, error: None });
    let result = py.detach(|| core_diagnose_model(&core_blocks, &s, oracle.as_mut().map(|o| o as &mut dyn StepBack)));
    let ds = match result {
        Ok(ds) => ds,
        Err(e) => {
            return Err(oracle.and_then(|o| o.error).unwrap_or_else(|| value_error(e)));
        }
    };
    ds.iter()
        .zip(&precisions)
        .map(|(d, p)| {
            let json = serde_json::to_string_pretty(d).map_err(|e| PyValueError::new_err(e.to_string()))? + "\n";
            Ok((json, format_groups_text(&s, p, d)))
        })
        .collect()
}
