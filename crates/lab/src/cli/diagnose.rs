//! `gradlab diagnose`: a user's own gradient against the exact one ([`gradlab::diagnose`]),
//! printed as text or as one JSON object. Exit 0 when it is correct, 3 when it is wrong, 1 or 2
//! for bad input.

use super::check::interrupted;
use super::parse_dtypes;
use crate::progress::WorkBar;
use crate::runner::interrupt;
use clap::Args;
use gradlab::budget::{self, Stage};
use gradlab::cost::Shape;
use gradlab::diagnose::text::format_text;
use gradlab::diagnose::{diagnose, Given, Settings, Verdict};
use gradlab::error::Error;
use gradlab::objective::{LinearTensor, Reduction};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit code of a gradient found wrong.
pub const EXIT_WRONG: u8 = 3;

/// The exit code of a gradient within rounding whose dtype could hide a named mistake.
pub const EXIT_INCONCLUSIVE: u8 = 4;

#[derive(Args, Debug)]
pub(super) struct DiagnoseArgs {
    /// Folder with x.npy, t.npy, weight.npy and bias.npy: the inputs, targets and the parameters at
    /// which the gradient was taken.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The gradient as a float32 or float64 .npy of the tensor's shape (x.grad.numpy() saved with
    /// numpy); comma-separated, one per --wrt.
    #[arg(long, value_name = "FILE", value_delimiter = ',', required = true)]
    grad: Vec<PathBuf>,
    /// What the gradient is taken with respect to: input, weight or bias (comma-separated, one per
    /// --grad file).
    #[arg(long, default_value = "input", value_parser = parse_diagnose_wrts)]
    wrt: std::vec::Vec<LinearTensor>,
    /// The loss meant: mean (PyTorch's default) or sum over all samples.
    #[arg(long, default_value = "mean", value_parser = |s: &str| Reduction::parse(s))]
    reduction: Reduction,
    /// The dtype the gradient was computed in (default: the gradient file's type, the narrowest
    /// when several files are given): f16, bf16, f32, f64, tf32, e5m2 and e4m3 (FP8), ieee:E:M
    /// (E = 2..11 exponent and M = 1..52 mantissa bits), mpfr:<bits> (2..65536), or mixed S+C
    /// (stored in S, computed in C = f32 or f64, e.g. bf16+f32).
    #[arg(long, value_parser = parse_one_dtype)]
    dtype: Option<DType>,
    /// The dtype the gradient's sums (matrix products, reductions) were accumulated in (default:
    /// f32 for 16-bit and 8-bit dtypes, as PyTorch, oneDNN and cuBLAS do; C for S+C; else the
    /// dtype itself). Code that sums in the narrow dtype itself: --accumulate bf16.
    #[arg(long, value_parser = parse_one_dtype)]
    accumulate: Option<DType>,
    /// Output format: text or json (one object).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Refuse diagnoses estimated to need more memory than SIZE (e.g. 2G, 512M; powers of 1024).
    /// Default: the memory available (MemAvailable), never more than memory and swap.
    #[arg(long, value_name = "SIZE", value_parser = super::memory_size)]
    max_memory: Option<u64>,
}

fn parse_one_dtype(s: &str) -> Result<DType, String> {
    match parse_dtypes(s)?.as_slice() {
        [one] => Ok(*one),
        _ => Err("expected one dtype such as f32".into()),
    }
}

fn parse_diagnose_wrts(s: &str) -> Result<Vec<LinearTensor>, String> {
    let mut out = Vec::new();
    for w in super::parse_wrts(s)? {
        match LinearTensor::parse(&w) {
            Ok(LinearTensor::Logits) => {
                return Err("logits is not a tensor a user's code has .grad for; expected input, weight or bias".into())
            }
            Ok(t) => out.push(t),
            Err(_) => {
                return Err(format!(
                    "diagnose takes the linear model, which has no {w}; expected input, weight or bias"
                ))
            }
        }
    }
    Ok(out)
}

/// Runs `gradlab diagnose`: the exit code says correct (0), wrong (3) or inconclusive (4). The memory is checked
/// before the exact model is built, a progress bar follows a long exact pass, and Ctrl-C stops
/// it within a second with exit status 130.
pub(super) fn run_diagnose(a: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    interrupt::install_handler_with_deadline("gradlab diagnose");
    if a.grad.len() != a.wrt.len() {
        // A usage error: the command line contradicts itself.
        eprintln!(
            "error: {} gradient files were given for {} --wrt tensors ({}); expected one file per tensor, in the same \
             order",
            a.grad.len(),
            a.wrt.len(),
            a.wrt.iter().map(|w| w.name()).collect::<Vec<_>>().join(",")
        );
        return Ok(ExitCode::from(2));
    }
    let problem = Problem::load(&a.data)?;
    let mut given = Vec::with_capacity(a.grad.len());
    for (path, &wrt) in a.grad.iter().zip(&a.wrt) {
        let (grad, file) = gradlab::npy::read_float_typed(path)?;
        given.push(Given { wrt, grad, file, name: path.display().to_string() });
    }
    let dtype = a.dtype.unwrap_or_else(|| {
        given.iter().map(|g| g.file).min_by_key(|d| d.bits()).unwrap_or_else(|| unreachable!("one file at least"))
    });
    let accumulate = a.accumulate.unwrap_or_else(|| gradlab::diagnose::default_accumulation(dtype));
    let settings = Settings { reduction: a.reduction, dtype, accumulate };
    let limit = budget::memory_limit(a.max_memory, budget::MemInfo::read());
    let shape = Shape::of(&problem);
    budget::diagnose_fits(shape, &a.wrt, &limit)?;
    let watch = interrupt::watch();
    let stages = vec![Stage { label: "the exact model".into(), units: 1 }];
    let bar = WorkBar::start(&watch, stages);
    let d = diagnose(&problem, &given, &settings, &watch);
    bar.finish();
    let d = match d {
        Err(Error::Interrupted(at)) => interrupted(&format!("{at}; gradlab diagnose printed nothing")),
        other => other?,
    };
    let text = if a.format == "json" {
        serde_json::to_string_pretty(&d)? + "\n"
    } else {
        format_text(&problem, &a.wrt, &settings, &d)
    };
    print!("{text}");
    Ok(match d.verdict {
        Verdict::Correct => ExitCode::SUCCESS,
        Verdict::Wrong => ExitCode::from(EXIT_WRONG),
        Verdict::Inconclusive => ExitCode::from(EXIT_INCONCLUSIVE),
    })
}
