//! `check`: `gradlab check` from Python, on the built-in models (the linear layer, the MLP) and
//! a problem from numpy arrays (or generated), its rows as `gradlab check --format csv` writes
//! them, each a dict of the CSV's columns. The choices are validated by the core's
//! [`gradlab::plan::plan`] (the command line's sentences), the memory by
//! [`gradlab::budget::check_fits`], and the checks run with the GIL released.

use crate::arrays::{float1, float2, int1};
use crate::errors::value_error;
use gradlab::budget;
use gradlab::check::{write_csv, CheckConfig, CheckRow};
use gradlab::cost::Shape;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::objective::Reduction;
use gradlab::plan::{model_named, plan, Choices};
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The CSV's text columns; every other non-empty field is a number.
const TEXT_COLUMNS: [&str; 5] = ["dtype", "scheme", "wrt", "input_grad", "status"];

/// The problem of the arrays, or the generated one when `x` is None.
#[allow(clippy::too_many_arguments)]
fn problem_of(
    x: Option<&Bound<'_, PyAny>>,
    t: Option<&Bound<'_, PyAny>>,
    weight: Option<&Bound<'_, PyAny>>,
    bias: Option<&Bound<'_, PyAny>>,
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
) -> PyResult<Problem> {
    match (x, t, weight, bias) {
        (None, None, None, None) => Problem::generate(n, d, k, seed).map_err(value_error),
        (Some(x), Some(t), Some(w), Some(b)) => {
            Problem::from_arrays(float2("x", x)?, &int1("t", t)?, float2("weight", w)?, float1("bias", b)?)
                .map_err(value_error)
        }
        _ => Err(PyValueError::new_err(
            "give all four arrays x, t, weight and bias (the problem, as gradlab check --data reads it), or none \
             (a generated problem of n, d, k and seed)",
        )),
    }
}

/// One CSV field as a Python value: text for the text columns, None for an empty field, else
/// an int or a float.
fn field(py: Python<'_>, column: &str, text: &str) -> PyResult<Py<PyAny>> {
    if TEXT_COLUMNS.contains(&column) {
        return Ok(text.into_pyobject(py)?.into_any().unbind());
    }
    if text.is_empty() {
        return Ok(py.None());
    }
    if let Ok(i) = text.parse::<i64>() {
        return Ok(i.into_pyobject(py)?.into_any().unbind());
    }
    match text.parse::<f64>() {
        Ok(f) => Ok(f.into_pyobject(py)?.into_any().unbind()),
        Err(_) => Ok(text.into_pyobject(py)?.into_any().unbind()),
    }
}

/// The rows as dicts with the CSV's columns, in its order.
fn rows_as_dicts<'py>(py: Python<'py>, rows: &[CheckRow]) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let mut bytes = Vec::new();
    write_csv(&mut bytes, rows).map_err(value_error)?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| PyValueError::new_err(e.to_string()))?.clone();
    let mut out = Vec::with_capacity(rows.len());
    for record in reader.records() {
        let record = record.map_err(|e| PyValueError::new_err(e.to_string()))?;
        let dict = PyDict::new(py);
        for (column, text) in headers.iter().zip(record.iter()) {
            dict.set_item(column, field(py, column, text)?)?;
        }
        out.push(dict);
    }
    Ok(out)
}

/// check(x=None, t=None, weight=None, bias=None, *, n=10, d=4, k=2, seed=1, model="linear",
/// hidden=None, dtype="f32", epochs=10, lr="1e-3", input_grad="reset", reduction="mean",
/// scheme="central", eps=None, wrt="input", truth_bits=None, no_truth=False, naive=False,
/// threads=None, max_memory=None) -> list[dict]
///
/// `gradlab check --format csv` on the problem x (n x d), t (n class indices), weight (k x d),
/// bias (k), or on the generated problem of n, d, k and seed: one dict per row (a dtype at a
/// step, for each wrt), with the CSV's columns. The strings are the command line's: dtype and
/// wrt comma-separated lists, eps a comma-separated list of steps, `auto` or `none`. Bad input
/// raises ValueError with the command line's sentence.
#[pyfunction]
#[pyo3(signature = (x=None, t=None, weight=None, bias=None, *, n=10, d=4, k=2, seed=1, model="linear", hidden=None, dtype="f32", epochs=10, lr="1e-3", input_grad="reset", reduction="mean", scheme="central", eps=None, wrt="input", truth_bits=None, no_truth=false, naive=false, threads=None, max_memory=None))]
#[allow(clippy::too_many_arguments)]
pub fn check<'py>(
    py: Python<'py>,
    x: Option<&Bound<'py, PyAny>>,
    t: Option<&Bound<'py, PyAny>>,
    weight: Option<&Bound<'py, PyAny>>,
    bias: Option<&Bound<'py, PyAny>>,
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
    model: &str,
    hidden: Option<usize>,
    dtype: &str,
    epochs: usize,
    lr: &str,
    input_grad: &str,
    reduction: &str,
    scheme: &str,
    eps: Option<&str>,
    wrt: &str,
    truth_bits: Option<u32>,
    no_truth: bool,
    naive: bool,
    threads: Option<usize>,
    max_memory: Option<&str>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    // The command line's parsers, in its order of options.
    let dtypes = DType::parse_list(dtype).map_err(value_error)?;
    let lr = Decimal::parse("--lr", lr).map_err(value_error)?;
    if lr.value().cmp0() == std::cmp::Ordering::Less {
        return Err(PyValueError::new_err(format!("invalid --lr {lr}: expected a learning rate of 0 or more")));
    }
    let input_grad = InputGrad::parse(input_grad).map_err(value_error)?;
    let reduction = Reduction::parse(reduction).map_err(value_error)?;
    let scheme = Scheme::parse(scheme).map_err(value_error)?;
    let steps = eps.map(Steps::parse).transpose().map_err(value_error)?;
    let model = model_named(model).map_err(value_error)?;
    let wrts: Vec<String> = wrt.split(',').map(|w| w.trim().to_string()).collect();
    for w in &wrts {
        gradlab::plan::tensor_name(w).map_err(value_error)?;
    }
    let truth = match (no_truth, truth_bits) {
        (true, _) => None,
        (false, Some(bits)) => Some(Prec::new(bits).map_err(value_error)?),
        (false, None) => Some(gradlab::policy::truth_prec(&dtypes)),
    };
    let cfg = CheckConfig {
        train: TrainConfig { epochs, lr, input_grad, reduction },
        scheme,
        steps: Steps::None,
        truth,
        naive,
        keep_grads: false,
    };
    let choices = Choices { model, hidden, seed, wrts: &wrts, dtypes: &dtypes, steps: steps.as_ref(), cfg: &cfg };
    let plan = plan(&choices).map_err(value_error)?;
    let problem = problem_of(x, t, weight, bias, n, d, k, seed)?;
    // The memory budget with the whole grid of steps, as the command line reckons it.
    let all_steps = steps
        .clone()
        .unwrap_or_else(|| Steps::parse(gradlab::policy::SEED_STEPS).unwrap_or_else(|_| unreachable!("a valid list")));
    let budget_cfg = CheckConfig { steps: all_steps, ..plan.checked()[0].cfg().clone() };
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let max_memory = max_memory.map(budget::parse_size).transpose().map_err(value_error)?;
    let limit = budget::memory_limit(max_memory, budget::MemInfo::read());
    for i in 0..plan.len() {
        let (shape, like) = plan.budget(i, Shape::of(&problem));
        budget::check_fits(shape, like, &dtypes, &budget_cfg, threads, &limit).map_err(value_error)?;
    }
    let checked = plan.checked();
    let jobs: Vec<(usize, usize)> = (0..plan.len()).flat_map(|i| (0..checked.len()).map(move |j| (i, j))).collect();
    let rows: Vec<CheckRow> = py.detach(|| -> PyResult<Vec<CheckRow>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PyValueError::new_err(format!("cannot start the thread pool: {e}")))?;
        let watch = Watch::unwatched();
        pool.install(|| {
            let mut rows = Vec::new();
            for &(i, j) in &jobs {
                rows.extend(plan.run(&problem, i, &checked[j], &watch).map_err(value_error)?.rows);
            }
            Ok(rows)
        })
    })?;
    rows_as_dicts(py, &rows)
}
