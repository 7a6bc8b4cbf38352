//! `diagnose_groups`: the model-agnostic diagnosis of [`gradlab::diagnose::groups`] from numpy
//! arrays, returning what `gradlab diagnose --grad g.npy --groups G.npy` prints (its JSON and
//! its text), and `time_diagnose_groups`, the core's own time for the same call (the overhead
//! benchmark, python/bench/overhead.py).

use crate::arrays::{gradient, groups_array};
use crate::errors::value_error;
use crate::settings::settings;
use gradlab::diagnose::groups::{
    diagnose_groups as core_diagnose, text::format_groups_text, GroupDiagnosis, Precision, Structure,
};
use ndarray::ArrayView2;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::time::Instant;

/// The core's diagnosis, with the GIL released.
fn run(
    py: Python<'_>,
    g: &[f64],
    groups: ArrayView2<'_, f64>,
    s: &Structure,
    p: &Precision,
) -> PyResult<GroupDiagnosis> {
    py.detach(|| core_diagnose(g, groups, s, p)).map_err(value_error)
}

/// diagnose_groups(g, groups, counts, *, unit="samples", reduction="mean", microbatches=None,
/// accumulation=None, ranks=None, dtype="f64", tolerance=None) -> (json, text)
///
/// The model-agnostic diagnosis: the weights w with g = sum_j w_j G_j, recovered from the user's
/// gradient g and the groups' gradients G (J x P, float64), and the mistake they name. Returns
/// the JSON and the text `gradlab diagnose --grad g.npy --groups G.npy` prints for the same
/// input. Bad input raises ValueError with the command line's sentence (TypeError for an array
/// of the wrong dtype).
#[pyfunction]
#[pyo3(signature = (g, groups, counts, *, unit="samples", reduction="mean", microbatches=None, accumulation=None, ranks=None, dtype="f64", tolerance=None))]
#[allow(clippy::too_many_arguments)]
pub fn diagnose_groups<'py>(
    py: Python<'py>,
    g: &Bound<'py, PyAny>,
    groups: &Bound<'py, PyAny>,
    counts: Vec<i64>,
    unit: &str,
    reduction: &str,
    microbatches: Option<Vec<usize>>,
    accumulation: Option<usize>,
    ranks: Option<usize>,
    dtype: &str,
    tolerance: Option<f64>,
) -> PyResult<(String, String)> {
    let g = gradient(g)?;
    let groups = groups_array(groups)?;
    let (s, p) = settings(counts, unit, reduction, microbatches, accumulation, ranks, dtype, tolerance)?;
    let d = run(py, &g, groups.as_array(), &s, &p)?;
    let json = serde_json::to_string_pretty(&d).map_err(|e| PyValueError::new_err(e.to_string()))? + "\n";
    Ok((json, format_groups_text(&s, &p, &d)))
}

/// time_diagnose_groups(g, groups, counts, repeats, **same keywords as diagnose_groups) -> float
///
/// The core's own time for one diagnosis, in seconds: the median over `repeats` runs of the
/// core's diagnosis and the formatting of its JSON and text, timed inside Rust (no Python in
/// the timed part). python/bench/overhead.py compares it with the time of a Python call.
#[pyfunction]
#[pyo3(signature = (g, groups, counts, repeats, *, unit="samples", reduction="mean", microbatches=None, accumulation=None, ranks=None, dtype="f64", tolerance=None))]
#[allow(clippy::too_many_arguments)]
pub fn time_diagnose_groups<'py>(
    py: Python<'py>,
    g: &Bound<'py, PyAny>,
    groups: &Bound<'py, PyAny>,
    counts: Vec<i64>,
    repeats: usize,
    unit: &str,
    reduction: &str,
    microbatches: Option<Vec<usize>>,
    accumulation: Option<usize>,
    ranks: Option<usize>,
    dtype: &str,
    tolerance: Option<f64>,
) -> PyResult<f64> {
    let g = gradient(g)?;
    let groups = groups_array(groups)?;
    let (s, p) = settings(counts, unit, reduction, microbatches, accumulation, ranks, dtype, tolerance)?;
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let d = run(py, &g, groups.as_array(), &s, &p)?;
        let json = serde_json::to_string_pretty(&d).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let text = format_groups_text(&s, &p, &d);
        std::hint::black_box((json, text));
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
