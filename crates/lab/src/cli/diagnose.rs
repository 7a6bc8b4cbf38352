//! `gradlab diagnose`: a user's own gradient against the exact one ([`gradlab::diagnose`]), or,
//! with `--groups`, against its groups' gradients whatever the model
//! ([`gradlab::diagnose::groups`]); printed as text or as one JSON object. Exit 0 when it is
//! correct, 3 when it is wrong, 4 when inconclusive, 1 or 2 for bad input.

use super::check::interrupted;
use super::parse_dtypes;
use crate::progress::WorkBar;
use crate::runner::interrupt;
use clap::Args;
use gradlab::budget::{self, Stage};
use gradlab::cost::Shape;
use gradlab::diagnose::groups::{
    diagnose_groups, text::format_groups_text, GroupDiagnosis, Precision, Structure, TokenReduction, Unit,
};
use gradlab::diagnose::text::format_text;
use gradlab::diagnose::tokens::{diagnose_tokens, TokenLoop, TOKEN_TENSORS};
use gradlab::diagnose::{diagnose, Given, Settings, Verdict};
use gradlab::error::Error;
use gradlab::objective::{LinearTensor, Reduction};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::tokens::TokenProblem;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit code of a gradient found wrong.
pub const EXIT_WRONG: u8 = 3;

/// The exit code of a gradient within rounding whose dtype could hide a named mistake.
pub const EXIT_INCONCLUSIVE: u8 = 4;

#[derive(Args, Debug)]
pub(super) struct DiagnoseArgs {
    /// Folder with x.npy, t.npy, weight.npy and bias.npy: the inputs, targets and the parameters at
    /// which the gradient was taken (the linear model; or --groups for any model).
    #[arg(long, value_name = "DIR", required_unless_present_any = ["groups", "tokens"], conflicts_with_all = ["groups", "tokens"])]
    data: Option<PathBuf>,
    /// A token problem: a folder with x.npy (B x T x d), t.npy (B x T, int64, -100 ignored),
    /// weight.npy (k x d) and bias.npy (k) of the linear head at which the gradient was taken;
    /// the sequences are the groups, each counting its non-ignored tokens (--microbatches in
    /// sequences).
    #[arg(long, value_name = "DIR", conflicts_with = "groups")]
    tokens: Option<PathBuf>,
    /// Any model: the gradients of the loss's groups (samples, sequences, micro-batches or ranks),
    /// each of its summed loss at the same parameters, stacked on a first axis (m, ...) with the
    /// rest of the shape --grad's, float64 .npy; the diagnosis recovers the weight each group got.
    #[arg(long, value_name = "FILE")]
    groups: Option<PathBuf>,
    /// With --groups: the items (samples or counted tokens) of each group, comma-separated in
    /// order (3,5,8) or an integer .npy of m values (default: 1 each).
    #[arg(long, value_name = "LIST|FILE", requires = "groups")]
    counts: Option<String>,
    /// With --groups or --tokens: how many consecutive groups (sequences) each micro-batch of the
    /// optimizer step holds, in order (2,3,3; adding up to the groups).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    microbatches: Option<Vec<usize>>,
    /// With --groups or --tokens: the configured gradient accumulation steps K (default: the
    /// micro-batches given; more: the last, partial window). Without --microbatches each group is
    /// a micro-batch.
    #[arg(long, value_name = "K")]
    accumulation: Option<usize>,
    /// With --groups or --tokens: R data-parallel ranks (micro-batch i on rank i mod R).
    #[arg(long, value_name = "R")]
    ranks: Option<usize>,
    /// With --groups: what the counts count, samples or tokens (then the groups are sequences,
    /// unless --microbatches gives each group its own micro-batch).
    #[arg(long, value_parser = |s: &str| Unit::parse(s), requires = "groups")]
    unit: Option<Unit>,
    /// With --groups or --tokens: the relative tolerance tau in place of the dtype's (for a model
    /// whose own rounding is larger).
    #[arg(long, value_name = "REL")]
    tolerance: Option<f64>,
    /// The gradient as a float32 or float64 .npy of the tensor's shape (x.grad.numpy() saved with
    /// numpy); comma-separated, one per --wrt.
    #[arg(long, value_name = "FILE", value_delimiter = ',', required = true)]
    grad: Vec<PathBuf>,
    /// What the gradient is taken with respect to: input, weight or bias (comma-separated, one per
    /// --grad file; default input, with --tokens weight,bias).
    #[arg(long, value_parser = parse_diagnose_wrts, conflicts_with = "groups")]
    wrt: Option<std::vec::Vec<LinearTensor>>,
    /// The loss meant: mean (PyTorch's default: over samples, or over counted tokens with
    /// --tokens) or sum; with --groups or --tokens also sequence-mean (the mean over sequences of
    /// each one's token mean).
    #[arg(long, default_value = "mean", value_parser = |s: &str| TokenReduction::parse(s))]
    reduction: TokenReduction,
    /// The dtype the gradient was computed in (default: the gradient file's type, the narrowest
    /// when several files are given): f16, bf16, f32, f64, tf32, e5m2 and e4m3 (FP8), ieee:E:M
    /// (E = 2..11 exponent and M = 1..52 mantissa bits), mpfr:<bits> (2..65536), or mixed S+C
    /// (stored in S, computed in C = f32 or f64, e.g. bf16+f32).
    #[arg(long, value_parser = parse_one_dtype)]
    dtype: Option<DType>,
    /// The dtype the gradient's sums (matrix products, reductions) were accumulated in (default:
    /// f32 for 16-bit and 8-bit dtypes, as PyTorch, oneDNN and cuBLAS do; C for S+C; else the
    /// dtype itself). Code that sums in the narrow dtype itself: --accumulate bf16. With
    /// --groups: the dtype the groups' gradients were summed in (default: C for S+C, else the
    /// dtype: a bf16 .grad accumulates in bf16).
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
    if a.groups.is_some() {
        return run_groups(a);
    }
    if a.tokens.is_some() {
        return run_tokens(a);
    }
    for (flag, given) in [
        ("--microbatches", a.microbatches.is_some()),
        ("--accumulation", a.accumulation.is_some()),
        ("--ranks", a.ranks.is_some()),
        ("--tolerance", a.tolerance.is_some()),
    ] {
        if given {
            return usage(&format!(
                "{flag} describes the groups of --groups or --tokens; with --data the micro-batches are found from \
                 the gradient itself"
            ));
        }
    }
    let wrts = a.wrt.clone().unwrap_or_else(|| vec![LinearTensor::Input]);
    let reduction = match a.reduction {
        TokenReduction::Mean => Reduction::Mean,
        TokenReduction::Sum => Reduction::Sum,
        TokenReduction::SequenceMean => {
            eprintln!(
                "error: --reduction sequence-mean needs --groups or --tokens (the linear model's loss is a mean or a \
                 sum over samples); expected mean or sum with --data"
            );
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(sentence) = files_against_wrts(&a.grad, &wrts) {
        // A usage error: the command line contradicts itself.
        return usage(&sentence);
    }
    let data = a.data.as_deref().unwrap_or_else(|| unreachable!("clap requires --data without --groups or --tokens"));
    let problem = Problem::load(data)?;
    let mut given = Vec::with_capacity(a.grad.len());
    for (path, &wrt) in a.grad.iter().zip(&wrts) {
        let (grad, file) = gradlab::npy::read_float_typed(path)?;
        given.push(Given { wrt, grad, file, name: path.display().to_string() });
    }
    let dtype = a.dtype.unwrap_or_else(|| {
        given.iter().map(|g| g.file).min_by_key(|d| d.bits()).unwrap_or_else(|| unreachable!("one file at least"))
    });
    let accumulate = a.accumulate.unwrap_or_else(|| gradlab::diagnose::default_accumulation(dtype));
    let settings = Settings { reduction, dtype, accumulate };
    let limit = budget::memory_limit(a.max_memory, budget::MemInfo::read());
    let shape = Shape::of(&problem);
    budget::diagnose_fits(shape, &wrts, &limit)?;
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
        format_text(&problem, &wrts, &settings, &d)
    };
    print!("{text}");
    Ok(exit_of(d.verdict))
}

/// The exit code of a verdict: correct 0, wrong 3, inconclusive 4.
fn exit_of(v: Verdict) -> ExitCode {
    match v {
        Verdict::Correct => ExitCode::SUCCESS,
        Verdict::Wrong => ExitCode::from(EXIT_WRONG),
        Verdict::Inconclusive => ExitCode::from(EXIT_INCONCLUSIVE),
    }
}

/// The sentence for gradient files that do not pair one to one with the --wrt tensors.
fn files_against_wrts(files: &[PathBuf], wrts: &[LinearTensor]) -> Option<String> {
    (files.len() != wrts.len()).then(|| {
        format!(
            "{} gradient files were given for {} --wrt tensors ({}); expected one file per tensor, in the same order",
            files.len(),
            wrts.len(),
            wrts.iter().map(|w| w.name()).collect::<Vec<_>>().join(",")
        )
    })
}

/// The precision of a --groups or --tokens diagnosis: `dtype` with --accumulate and --tolerance.
fn groups_precision(a: &DiagnoseArgs, dtype: DType) -> Precision {
    let mut precision = Precision::new(dtype);
    if let Some(acc) = a.accumulate {
        precision.accumulate = acc;
    }
    precision.tolerance = a.tolerance;
    precision
}

/// Prints a --groups or --tokens diagnosis as text or JSON; the exit code of its verdict.
fn print_groups(format: &str, s: &Structure, p: &Precision, d: &GroupDiagnosis) -> anyhow::Result<ExitCode> {
    let text = if format == "json" { serde_json::to_string_pretty(d)? + "\n" } else { format_groups_text(s, p, d) };
    print!("{text}");
    Ok(exit_of(d.verdict))
}

/// A usage error: one sentence on stderr, exit 2.
fn usage(sentence: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {sentence}");
    Ok(ExitCode::from(2))
}

/// The counts of `--counts`: a comma-separated list, or an integer .npy of one value per group.
fn read_counts(text: &str) -> anyhow::Result<Vec<usize>> {
    if text.ends_with(".npy") {
        let v = gradlab::npy::read_int1(std::path::Path::new(text))?;
        return v
            .iter()
            .map(|&c| {
                usize::try_from(c).map_err(|_| {
                    anyhow::anyhow!("{text} holds the count {c}; expected whole numbers of items, 1 or more")
                })
            })
            .collect();
    }
    text.split(',')
        .map(|c| {
            c.trim().parse::<usize>().map_err(|_| {
                anyhow::anyhow!(
                    "invalid --counts {text:?}: {c:?} is not a whole number; expected item counts such as 3,5,8 or a \
                     counts .npy file"
                )
            })
        })
        .collect()
}

/// `gradlab diagnose --grad g.npy --groups G.npy ...`: the model-agnostic diagnosis. Every file is
/// read and checked before anything is printed.
fn run_groups(a: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    let groups_path = a.groups.as_deref().unwrap_or_else(|| unreachable!("called with --groups"));
    let [grad_path] = a.grad.as_slice() else {
        return usage(&format!(
            "{} gradient files were given with --groups; expected one (the gradient the groups make up)",
            a.grad.len()
        ));
    };
    let (grad, file) = gradlab::npy::read_float_typed(grad_path)?;
    let limit = budget::memory_limit(a.max_memory, budget::MemInfo::read());
    let bytes = std::fs::metadata(groups_path).map(|m| m.len()).unwrap_or(0);
    // The file's bytes and the array, with the diagnosis's P-vectors beside them.
    let need = 2 * bytes + 8 * 8 * grad.len() as u64;
    if need > limit.bytes {
        return Err(Error::Memory {
            what: format!("a diagnosis against {} ({} bytes)", groups_path.display(), bytes),
            need: format!("{need} bytes"),
            limit: format!("{} bytes ({})", limit.bytes, limit.source),
        }
        .into());
    }
    let (groups, groups_file) = gradlab::npy::read_float_typed(groups_path)?;
    if groups_file != DType::F64 {
        anyhow::bail!(
            "{} is float32; expected float64 (the groups' gradients computed in float64, whose rounding the diagnosis \
             neglects)",
            groups_path.display()
        );
    }
    let shape = groups.shape().to_vec();
    if shape.len() != grad.ndim() + 1 || shape[1..] != *grad.shape() {
        return usage(&format!(
            "{} has shape {shape:?}; expected (m, {}), the groups stacked on a first axis with the rest of {}'s shape \
             {:?}",
            groups_path.display(),
            grad.shape().iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            grad_path.display(),
            grad.shape()
        ));
    }
    let m = shape[0];
    let counts = match &a.counts {
        Some(text) => read_counts(text)?,
        None => vec![1; m],
    };
    let structure = Structure {
        counts,
        unit: a.unit.unwrap_or(Unit::Samples),
        reduction: a.reduction,
        microbatches: a.microbatches.clone(),
        accumulation: a.accumulation,
        ranks: a.ranks,
    };
    let precision = groups_precision(&a, a.dtype.unwrap_or(file));
    let p = grad.len();
    let g: Vec<f64> = grad.iter().copied().collect();
    drop(grad);
    let groups = groups.into_shape_with_order((m, p)).map_err(|e| anyhow::anyhow!("{}: {e}", groups_path.display()))?;
    let d = match diagnose_groups(&g, groups.view(), &structure, &precision) {
        Err(Error::Usage(sentence)) => return usage(&sentence),
        other => other?,
    };
    print_groups(&a.format, &structure, &precision, &d)
}

/// `gradlab diagnose --tokens DIR --grad ...`: a token problem's head gradient against its
/// sequences' gradients ([`gradlab::diagnose::tokens`]). Every file is read and checked before
/// anything is printed.
fn run_tokens(a: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    let dir = a.tokens.as_deref().unwrap_or_else(|| unreachable!("called with --tokens"));
    let wrts = a.wrt.clone().unwrap_or_else(|| TOKEN_TENSORS.to_vec());
    if let Some(sentence) = files_against_wrts(&a.grad, &wrts) {
        return usage(&sentence);
    }
    let problem = TokenProblem::load(dir)?;
    let limit = budget::memory_limit(a.max_memory, budget::MemInfo::read());
    // The problem in f64 and the B sequences' gradients of the head's (k d + k) values.
    let (k, d) = (problem.k(), problem.d());
    let need = 8 * (problem.x.len() + problem.b() * (k * d + k) * 2) as u64;
    if need > limit.bytes {
        return Err(Error::Memory {
            what: format!("a diagnosis of the token problem in {}", dir.display()),
            need: format!("{need} bytes"),
            limit: format!("{} bytes ({})", limit.bytes, limit.source),
        }
        .into());
    }
    let mut g = Vec::new();
    let mut files = Vec::new();
    for (path, &wrt) in a.grad.iter().zip(&wrts) {
        let (grad, file) = gradlab::npy::read_float_typed(path)?;
        let want: Vec<usize> = if wrt == LinearTensor::Bias { vec![k] } else { vec![k, d] };
        if wrt != LinearTensor::Input && grad.shape() != want.as_slice() {
            return usage(&format!(
                "{} has shape {:?}; expected {want:?}, the head's {wrt} for k = {k} classes and d = {d} features",
                path.display(),
                grad.shape()
            ));
        }
        g.extend(grad.iter().copied());
        files.push(file);
    }
    let dtype = a.dtype.unwrap_or_else(|| {
        files.iter().copied().min_by_key(|d| d.bits()).unwrap_or_else(|| unreachable!("one file at least"))
    });
    let precision = groups_precision(&a, dtype);
    let loop_ = TokenLoop {
        reduction: a.reduction,
        microbatches: a.microbatches.clone(),
        accumulation: a.accumulation,
        ranks: a.ranks,
    };
    let (structure, d) = match diagnose_tokens(&problem, &wrts, &g, &loop_, &precision) {
        Err(Error::Usage(sentence)) => return usage(&sentence),
        other => other?,
    };
    print_groups(&a.format, &structure, &precision, &d)
}
