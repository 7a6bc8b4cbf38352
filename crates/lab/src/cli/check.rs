//! `gradlab check`: the seed's protocol on a generated or loaded problem (samples, or token
//! sequences for `--model tokens`), printed as the seed-style table (with a plain-words diagnosis
//! under each dtype) or as CSV, with the gradients saved on request.

use super::{dim, epochs, hidden_width, parse_dtypes, parse_lr, parse_steps, parse_wrts, seed, truth_bits};
use crate::progress::WorkBar;
use crate::report::sci6;
use crate::runner::interrupt;
use anyhow::Context;
use clap::Args;
use gradlab::budget;
use gradlab::check::{write_csv, CheckConfig, DTypeCheck, Status};
use gradlab::cost::Shape;
use gradlab::error::{Error, Result};
use gradlab::exact::Decimal;
use gradlab::method::{RowStep, Scheme, Steps};
use gradlab::model::registry::Data;
use gradlab::objective::Reduction;
use gradlab::plan::{model_named, plan_with_reduction, Choices, Model, Plan};
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::tokens::weights::TokenReduction;
use gradlab::tokens::{LengthDist, TokenProblem};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// Load the problem from a folder with x.npy, t.npy, weight.npy and bias.npy instead of generating it.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Load token sequences from a folder with x.npy (B, T, d), t.npy (B, T; int64, -100 at
    /// ignored positions), weight.npy (k, d) and bias.npy (k), and check the token model on them
    /// (implies --model tokens; not with --data).
    #[arg(long, value_name = "DIR")]
    tokens: Option<PathBuf>,
    /// Number of samples of the generated problem [default: 10] (not with --model tokens).
    #[arg(long, allow_hyphen_values = true, value_parser = dim("sample", "samples", 1))]
    n: Option<usize>,
    /// Number of sequences B of the generated token problem [default: 4] (only with --model tokens).
    #[arg(long, value_name = "B", allow_hyphen_values = true, value_parser = dim("sequence", "sequences", 1))]
    sequences: Option<usize>,
    /// Number of positions T per sequence of the generated token problem [default: 8] (only with
    /// --model tokens).
    #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = dim("position", "positions", 1))]
    positions: Option<usize>,
    /// How the generated token problem's sequence lengths (counted tokens, 1 to T; the rest is
    /// padding, target -100) are drawn: equal (all T), uniform (1 to T) or long-tailed (P(L >= l)
    /// = 1/l) [default: uniform] (only with --model tokens).
    #[arg(long, value_name = "DIST", value_parser = |s: &str| LengthDist::parse(s))]
    lengths: Option<LengthDist>,
    /// Number of input features of the generated problem.
    #[arg(long, default_value_t = 4, allow_hyphen_values = true, value_parser = dim("feature", "features", 1))]
    d: usize,
    /// Number of classes of the generated problem.
    #[arg(long, default_value_t = 2, allow_hyphen_values = true, value_parser = dim("class", "classes", 2))]
    k: usize,
    /// Seed of the generated problem (the default, 1, is a typical problem; see docs/check.md for seed 0).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = seed)]
    seed: u64,
    /// Comma-separated dtypes: f16, bf16, f32, f64, tf32 (f32's range with f16's 10-bit mantissa),
    /// e5m2 and e4m3 (FP8), ieee:E:M (any IEEE-style binary format with E = 2..11 exponent and
    /// M = 1..52 mantissa bits, e.g. ieee:5:10 = f16), mpfr:<bits> (MPFR at 2..65536 bits), and
    /// mixed S+C (values stored in S, computed in C = f32 or f64, e.g. bf16+f32).
    #[arg(long, default_value = "f32", value_parser = parse_dtypes)]
    dtype: std::vec::Vec<DType>,
    /// Epochs of SGD before the check (0 checks the initial parameters) [default: 10; 0 and only
    /// 0 with --model tokens, which does not train].
    #[arg(long, allow_hyphen_values = true, value_parser = epochs)]
    epochs: Option<usize>,
    /// SGD learning rate (an exact decimal, rounded once into each dtype).
    #[arg(long, default_value = "1e-3", allow_hyphen_values = true, value_parser = parse_lr)]
    lr: Decimal,
    /// What happens to x.grad between epochs: reset (correct) or accumulate (the seed's bug; not
    /// with --model tokens).
    #[arg(long, default_value = "reset", value_parser = |s: &str| InputGrad::parse(s))]
    input_grad: InputGrad,
    /// Loss reduction: mean (PyTorch's default; over the counted tokens for --model tokens), sum,
    /// or sequence-mean (only with --model tokens: the mean over sequences of each one's token mean).
    #[arg(long, default_value = "mean", value_parser = |s: &str| TokenReduction::parse(s))]
    reduction: TokenReduction,
    /// Differentiation scheme: forward, backward, central, central5 (finite differences), complex
    /// (complex step), dual (forward mode, no step) or ridders (extrapolation from each step,
    /// with an error estimate).
    #[arg(long, default_value = "central", value_parser = |s: &str| Scheme::parse(s))]
    scheme: Scheme,
    /// Comma-separated steps h (exact decimals), or `auto`: a step per element from an error
    /// model estimated from function values (the CSV's eps is the chosen steps' median), or
    /// `none` (only with --scheme dual, which takes no step and ignores --eps).
    /// Default: the seed's 1e0,1e-1,...,1e-8, less the steps a dtype rounds to 0 or overflows
    /// (f16 leaves out 1e-8, e4m3 1e-4 to 1e-8; a note says which); a step given here that a
    /// dtype cannot hold is an error.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_steps)]
    eps: Option<Steps>,
    /// The model: linear (the seed's), mlp-tanh or mlp-relu (one hidden layer of --hidden units,
    /// drawn from --seed; trained like the seed, the same loss), or tokens (a linear head on token
    /// sequences, cross-entropy over the counted tokens; generated from --sequences,
    /// --positions, --lengths, --d, --k and --seed, or loaded with --tokens) [default: linear,
    /// tokens with --tokens].
    #[arg(long, value_parser = |s: &str| model_named(s))]
    model: Option<Model>,
    /// The MLP's hidden width H (default 8; not with --model linear).
    #[arg(long, value_name = "H", allow_hyphen_values = true, value_parser = hidden_width)]
    hidden: Option<usize>,
    /// Comma-separated tensors to differentiate with respect to: input (x), weight (W), bias (b),
    /// logits (not with --model tokens), and for the MLP hidden-weight (W1) and hidden-bias (b1)
    /// (weight and bias are then its output layer's); one block of rows each.
    #[arg(long, default_value = "input", value_parser = parse_wrts)]
    wrt: std::vec::Vec<String>,
    /// Precision of the MPFR ground truth in bits; must exceed every dtype's. Default: 256, or
    /// twice the widest dtype's precision when that is 256 bits or more.
    #[arg(long, allow_hyphen_values = true, value_parser = truth_bits)]
    truth_bits: Option<u32>,
    /// Skip the ground truth (for timing the check alone, or very large problems).
    #[arg(long)]
    no_truth: bool,
    /// Evaluate every perturbed loss from scratch (the reference path; bit-identical, slower).
    #[arg(long)]
    naive: bool,
    /// Output format: table or csv (to stdout).
    #[arg(long, default_value = "table", value_parser = ["table", "csv"])]
    format: String,
    /// Write analytic, truth and numeric gradients as .npy (and MPFR digits as .txt) into DIR.
    #[arg(long, value_name = "DIR")]
    save_grads: Option<PathBuf>,
    /// Worker threads (default: all cores; at most 4 per core). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_parser = super::threads)]
    threads: Option<usize>,
    /// Refuse checks estimated to need more memory than SIZE (e.g. 2G, 512M, 1.5GiB; powers of
    /// 1024). Default: the memory available (MemAvailable), never more than memory and swap.
    #[arg(long, value_name = "SIZE", value_parser = super::memory_size)]
    max_memory: Option<u64>,
}

/// The sizes of a generated token problem when none are given: B sequences, T positions.
const DEFAULT_SEQUENCES: usize = 4;
/// See [`DEFAULT_SEQUENCES`].
const DEFAULT_POSITIONS: usize = 8;
/// The samples of a generated problem when `--n` is not given.
const DEFAULT_N: usize = 10;
/// The epochs of a model that trains when `--epochs` is not given.
const DEFAULT_EPOCHS: usize = 10;

/// Where a check's data come from, decided from the options typed ([`source_of`]).
#[derive(Clone, Debug)]
pub(super) enum Source {
    /// `--data DIR`: samples loaded.
    LoadSamples(PathBuf),
    /// Samples generated: n, d, k and the seed.
    Samples { n: usize },
    /// `--tokens DIR`: token sequences loaded.
    LoadTokens(PathBuf),
    /// Token sequences generated: B, T, the lengths' law (with --d, --k and the seed).
    Tokens { b: usize, t: usize, lengths: LengthDist },
}

/// The model the options name: `--model`, or tokens for `--tokens DIR`, or linear.
fn model_of(a: &CheckArgs) -> Result<Model> {
    match (a.model, &a.tokens) {
        (Some(m), _) => Ok(m),
        (None, Some(_)) => model_named("tokens"),
        (None, None) => model_named("linear"),
    }
}

/// The data source the options give `model`, or the one sentence saying which options contradict
/// each other ([`Error::Usage`]): `--tokens` with `--data`; `--tokens` or a generated token
/// problem's sizes with a model of samples; `--data` or `--n` with the token model; the sizes of
/// a generated token problem with a loaded one.
fn source_of(a: &CheckArgs, model: &Model) -> Result<Source> {
    let usage = |s: String| Err(Error::Usage(s));
    let token_sizes: Vec<&str> = [
        ("--sequences", a.sequences.is_some()),
        ("--positions", a.positions.is_some()),
        ("--lengths", a.lengths.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect();
    if a.tokens.is_some() && a.data.is_some() {
        return usage(
            "--tokens loads token sequences and --data loads samples; give one of them, not both".to_string(),
        );
    }
    if !model.on_tokens() {
        if a.tokens.is_some() {
            return usage(format!(
                "invalid --model {} with --tokens: token sequences are checked by --model tokens",
                model.name
            ));
        }
        if let Some(flag) = token_sizes.first() {
            return usage(format!(
                "{flag} describes generated token sequences, which only --model tokens checks (not --model {})",
                model.name
            ));
        }
        return Ok(match &a.data {
            Some(dir) => Source::LoadSamples(dir.clone()),
            None => Source::Samples { n: a.n.unwrap_or(DEFAULT_N) },
        });
    }
    if a.data.is_some() {
        return usage(
            "--model tokens is built on token sequences: load them with --tokens DIR, not --data (which loads samples)"
                .to_string(),
        );
    }
    if a.n.is_some() {
        return usage(
            "--n counts samples; the token sequences of --model tokens are sized by --sequences and --positions"
                .to_string(),
        );
    }
    match &a.tokens {
        Some(dir) => match token_sizes.first() {
            Some(flag) => usage(format!(
                "{flag} describes generated token sequences, and the ones loaded with --tokens have their own size"
            )),
            None => Ok(Source::LoadTokens(dir.clone())),
        },
        None => Ok(Source::Tokens {
            b: a.sequences.unwrap_or(DEFAULT_SEQUENCES),
            t: a.positions.unwrap_or(DEFAULT_POSITIONS),
            lengths: a.lengths.unwrap_or(LengthDist::Uniform),
        }),
    }
}

/// The command line's choices validated once: the data's options here ([`source_of`]), the rest
/// by the core ([`gradlab::plan::plan_with_reduction`]). A command line that contradicts itself
/// is an [`Error::Usage`] (exit status 2: `--tokens` with `--data`, a model of samples with
/// `--tokens` or a token problem's sizes, the token model with `--data` or `--n`, `--hidden` with
/// `--model linear` or tokens or out of range, `--reduction sequence-mean` without the token model,
/// `--epochs` above 0 or `--input-grad accumulate` with the token model, a `--wrt` the model does
/// not have, a mixed dtype with the complex step, dual numbers or the MLP, `--eps auto` with a
/// scheme that is not a finite-difference stencil, `--eps none` with a scheme that takes a step),
/// a step or truth precision a dtype refuses an [`Error::Value`] (exit status 1).
pub(super) fn plan_of(a: &CheckArgs) -> Result<(Plan, Source)> {
    let model = model_of(a)?;
    let source = source_of(a, &model)?;
    let truth = match (a.no_truth, a.truth_bits) {
        (true, _) => None,
        (false, Some(bits)) => Some(Prec::new(bits)?),
        (false, None) => Some(gradlab::policy::truth_prec(&a.dtype)),
    };
    let epochs = a.epochs.unwrap_or(if model.trains() { DEFAULT_EPOCHS } else { 0 });
    let cfg = CheckConfig {
        // The reduction is the plan's (plan_with_reduction sets the training's).
        train: TrainConfig { epochs, lr: a.lr.clone(), input_grad: a.input_grad, reduction: Reduction::Mean },
        scheme: a.scheme,
        steps: Steps::None,
        truth,
        naive: a.naive,
        keep_grads: a.save_grads.is_some(),
    };
    let choices = Choices {
        model,
        hidden: a.hidden,
        seed: a.seed,
        wrts: &a.wrt,
        dtypes: &a.dtype,
        steps: a.eps.as_ref(),
        cfg: &cfg,
    };
    Ok((plan_with_reduction(&choices, a.reduction)?, source))
}

/// A check's data, loaded or generated.
enum Loaded {
    /// Samples.
    Samples(Problem),
    /// Token sequences.
    Tokens(TokenProblem),
}

impl Loaded {
    /// The data as the plan runs on them.
    fn data(&self) -> Data<'_> {
        match self {
            Loaded::Samples(p) => Data::Samples(p),
            Loaded::Tokens(p) => Data::Tokens(p),
        }
    }
}

/// Runs `gradlab check` on its validated `plan` ([`plan_of`]): memory is checked before anything
/// large is allocated, a progress bar follows long checks, and Ctrl-C stops the check within a
/// second with exit status 130 and nothing written.
pub(super) fn run_check(a: CheckArgs, plan: Plan, source: Source) -> anyhow::Result<()> {
    // First, so that Ctrl-C during loading or generating a large problem stops too.
    interrupt::install_handler_with_deadline("gradlab check");
    let model = plan.model();
    let checked = plan.checked();
    let truth = checked[0].cfg().truth;
    // The memory budget is reckoned with the whole grid of steps (an upper bound).
    let all_steps = a
        .eps
        .clone()
        .unwrap_or_else(|| Steps::parse(gradlab::policy::SEED_STEPS).unwrap_or_else(|_| unreachable!("a valid list")));
    let cfg = CheckConfig { steps: all_steps, ..checked[0].cfg().clone() };
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let limit = budget::memory_limit(a.max_memory, budget::MemInfo::read());
    let fits = |shape: Shape| -> Result<()> {
        (0..plan.len()).try_for_each(|i| {
            let (shape, like) = plan.budget(i, shape);
            budget::check_fits(shape, like, &a.dtype, &cfg, threads, &limit).map(drop)
        })
    };
    // A generated problem is checked against the memory limit before it exists; a loaded one
    // (which already fits, being loaded) before the check allocates anything. Token sequences are
    // reckoned as B T samples ([`Shape::of_tokens`]).
    let loaded = match &source {
        Source::LoadSamples(dir) => Loaded::Samples(Problem::load(dir)?),
        Source::Samples { n } => {
            fits(Shape { n: *n, d: a.d, k: a.k })?;
            Loaded::Samples(Problem::generate(*n, a.d, a.k, a.seed)?)
        }
        Source::LoadTokens(dir) => Loaded::Tokens(TokenProblem::load(dir)?),
        Source::Tokens { b, t, lengths } => {
            fits(Shape { n: b.saturating_mul(*t), d: a.d, k: a.k })?;
            Loaded::Tokens(TokenProblem::generate(*b, *t, a.d, a.k, *lengths, a.seed)?)
        }
    };
    let data = loaded.data();
    let shape = data.shape();
    if matches!(source, Source::LoadSamples(_) | Source::LoadTokens(_)) {
        fits(shape)?;
    }
    // The model built on the data (sequence-mean refuses a sequence without counted tokens).
    plan.accepts(data)?;
    if let Some(dir) = &a.save_grads {
        gradlab::atomic::ensure_dir(dir)?;
    }
    let watch = interrupt::watch();
    // One block per wrt (its index in the plan), each with every dtype (its index too).
    let jobs: Vec<(usize, usize)> = (0..plan.len()).flat_map(|i| (0..checked.len()).map(move |j| (i, j))).collect();
    let stages = jobs
        .iter()
        .flat_map(|&(i, j)| {
            let (shape, like) = plan.budget(i, shape);
            budget::check_work(shape, like, checked[j].dtype(), checked[j].cfg())
        })
        .collect();
    let bar = WorkBar::start(&watch, stages);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")?;
    let results: gradlab::Result<Vec<(&str, DType, DTypeCheck)>> = pool.install(|| {
        jobs.iter()
            .map(|&(i, j)| {
                let r = plan.run(data, i, &checked[j], &watch)?;
                Ok((plan.name(i), checked[j].dtype(), r))
            })
            .collect()
    });
    bar.finish();
    let results = match results {
        Err(Error::Interrupted(at)) => interrupted(&format!("{at}; nothing was written")),
        other => other?,
    };
    if let Some(dir) = &a.save_grads {
        // File names carry the wrt only when several are checked (one wrt keeps the short names).
        let several = a.wrt.len() > 1;
        let mut written = Vec::new();
        for (&(i, _), (wrt, dt, r)) in jobs.iter().zip(&results) {
            let label = match several {
                true => format!("{wrt}_{}", dt.label()),
                false => dt.label(),
            };
            let dim = r.grads.as_ref().map_or((0, 0), |g| g.analytic.dim());
            match write_grads(dir, &label, &plan.torch_shape(i, data, dim), r, &watch, &mut written) {
                Err(Error::Interrupted(_)) => interrupted(&format!(
                    "stopped while saving gradients; the files written before are complete: [{}]",
                    written.join(", ")
                )),
                other => other?,
            }
        }
    }
    // Notes and warnings: each once per dtype (left-out steps, training) or per block (auto), on
    // stderr and in the table under the dtype's heading.
    let size = (shape.n, shape.d, shape.k);
    let mut notes = Vec::with_capacity(results.len());
    let mut said = std::collections::HashSet::new();
    for (&(i, j), (_, dt, r)) in jobs.iter().zip(&results) {
        let mut lines = Vec::new();
        if said.insert(*dt) {
            lines.extend(super::notes::left_out_steps(*dt, plan.left_out(j)));
            let rows_nonfinite = r.rows.iter().any(|row| row.status != Status::Ok);
            lines.extend(r.training.map(|at| super::notes::nonfinite_training(*dt, at, rows_nonfinite)));
        }
        lines.extend(super::notes::auto_flat(*dt, r, plan.elements(i, size)));
        for line in &lines {
            eprintln!("{line}");
        }
        notes.push(lines);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.format == "csv" {
        write_csv(&mut out, results.iter().flat_map(|(_, _, r)| r.rows.iter()))?;
    } else {
        let wrts: Vec<&str> = (0..plan.len()).map(|i| plan.name(i)).collect();
        let training = checked[0].cfg().train.clone();
        let data_setup = match &loaded {
            Loaded::Samples(p) => format!(
                "n={} d={} k={}{} E={} lr={}",
                p.n(),
                p.d(),
                p.k(),
                model.header(),
                training.epochs,
                training.lr
            ),
            Loaded::Tokens(p) => format!(
                "B={} T={} d={} k={} tokens={}{}{}",
                p.b(),
                p.t_len(),
                p.d(),
                p.k(),
                p.n_tokens(),
                match &source {
                    Source::Tokens { lengths, .. } => format!(" lengths={lengths}"),
                    _ => String::new(),
                },
                model.header()
            ),
        };
        let input_grad = match model.trains() {
            true => format!(" input-grad={}", a.input_grad),
            false => String::new(),
        };
        let setup = format!(
            "{data_setup} reduction={}{input_grad} scheme={} wrt={} truth={}",
            a.reduction,
            a.scheme,
            wrts.join(","),
            truth.map_or("none".to_string(), |p| format!("mpfr:{}", p.bits()))
        );
        use std::io::Write;
        write!(out, "{}", format_table(&setup, &results, &notes))?;
    }
    Ok(())
}

/// Says where the check stopped after Ctrl-C and exits with status 130.
pub(super) fn interrupted(what: &str) -> ! {
    eprintln!("interrupted: {what}");
    std::process::exit(i32::from(interrupt::EXIT_INTERRUPTED))
}

/// The seed-style table for every dtype, with a diagnosis under each; when several wrts are
/// checked, each block of dtypes is headed by its wrt. `notes` holds each result's note lines
/// ([`super::notes`]), printed under its heading.
pub fn format_table(setup: &str, results: &[(&str, DType, DTypeCheck)], notes: &[Vec<String>]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "gradlab check: {setup}");
    let several = results.iter().any(|(w, _, _)| *w != results[0].0);
    let mut last = None;
    for ((wrt, dt, r), lines) in results.iter().zip(notes) {
        if several && last != Some(*wrt) {
            let _ = writeln!(s, "\n== wrt = {wrt} ==");
            last = Some(*wrt);
        }
        let _ = writeln!(
            s,
            "\n{dt} (p = {} bits, u = {}){}",
            dt.bits(),
            sci6(dt.unit_roundoff()),
            if r.rounded > 0 { format!(", {} problem values rounded into {dt}", r.rounded) } else { String::new() }
        );
        for line in lines {
            let _ = writeln!(s, "{line}");
        }
        // Ridders' rows add its mean relative error estimate and how often it bounds the error.
        let est = r.rows.iter().any(|row| row.est_error.is_some());
        let _ = writeln!(
            s,
            "{:<8} {:>13} {:>13} {:>13} {:>13} {:>13} {:>11} {:>5} {:>5}{}",
            "eps",
            "relerr_mean",
            "relerr_med",
            "relerr_max",
            "num_vs_truth",
            "anal_vs_truth",
            "ratio_med",
            "dead",
            "flat",
            if est { format!(" {:>13} {:>7}", "est_error", "bounds") } else { String::new() }
        );
        for row in &r.rows {
            let _ = writeln!(
                s,
                "{:<8} {:>13} {:>13} {:>13} {:>13} {:>13} {:>11} {:>5} {:>5}{}{}",
                row.eps.label(),
                sci6(row.relerr_mean),
                sci6(row.relerr_median),
                sci6(row.relerr_max),
                sci6(row.num_vs_truth),
                sci6(row.anal_vs_truth),
                format!("{:.4}", row.ratio_median),
                row.dead_zone,
                row.loss_flat,
                match (est, row.est_error) {
                    (false, _) => String::new(),
                    (true, e) => format!(
                        " {:>13} {:>7}",
                        e.map_or("-".to_string(), sci6),
                        row.est_bounds.map_or("-".to_string(), |b| format!("{:.1}%", 100.0 * b))
                    ),
                },
                if row.status != Status::Ok {
                    format!("  {} ({} non-finite)", row.status, row.nonfinite)
                } else {
                    String::new()
                }
            );
        }
        s.push_str(&gradlab::summary::paragraph(*dt, &r.rows));
    }
    s
}

/// Writes one file at the given path.
type FileWriter<'a> = Box<dyn Fn(&Path) -> Result<()> + 'a>;

/// Writes `analytic_<label>.npy`, `truth_<label>.npy`, `numeric_<label>_<eps>.npy` (float64, `<eps>`
/// spelled as in the CSV's `eps` column) and,
/// for MPFR dtypes, `analytic_<label>.txt` and `truth_<label>.txt` with every significant digit,
/// each file atomically, none once `watch` is stopped. `<label>` is the dtype's label, prefixed
/// by the wrt when several are checked (`analytic_weight_f64.npy`). Each array has `shape`, the
/// tensor's shape in PyTorch ([`Plan::torch_shape`]: 1-D for a bias, B x T x d for the token
/// model's x). Adds the name of each file written to `written`.
///
/// # Errors
/// [`Error::Write`] when a file cannot be written; [`Error::Interrupted`] when the watch was
/// stopped before a file (the files written before it are complete).
pub fn write_grads(
    dir: &Path,
    label: &str,
    shape: &[usize],
    r: &DTypeCheck,
    watch: &Watch,
    written: &mut Vec<String>,
) -> Result<()> {
    let Some(g) = &r.grads else { return Ok(()) };
    let save = move |p: &Path, a: &ndarray::Array2<f64>| {
        let shaped = a.to_shape(ndarray::IxDyn(shape)).map_err(|e| Error::Write {
            path: p.to_path_buf(),
            reason: format!("a gradient of shape {:?} is not of shape {shape:?}: {e}", a.dim()),
        })?;
        gradlab::npy::write(p, &shaped)
    };
    let mut files: Vec<(String, FileWriter<'_>)> = Vec::new();
    files.push((format!("analytic_{label}.npy"), Box::new(move |p| save(p, &g.analytic))));
    if let Some(t) = &g.truth {
        files.push((format!("truth_{label}.npy"), Box::new(move |p| save(p, t))));
    }
    for (row, num) in r.rows.iter().zip(&g.numeric) {
        // Dual numbers' one file keeps the name it has always had, `_0`.
        let eps = match &row.eps {
            RowStep::Fixed(h) => h.text(),
            RowStep::AutoMedian(_) => gradlab::method::steps::AUTO,
            RowStep::None => "0",
        };
        files.push((format!("numeric_{label}_{eps}.npy"), Box::new(move |p| save(p, num))));
    }
    for (name, text) in [("analytic", &g.analytic_text), ("truth", &g.truth_text)] {
        if let Some(lines) = text {
            files.push((
                format!("{name}_{label}.txt"),
                Box::new(move |p| {
                    let mut body = lines.join("\n");
                    body.push('\n');
                    gradlab::atomic::write(p, body.as_bytes())
                }),
            ));
        }
    }
    for (name, write) in files {
        watch.checkpoint(|| format!("saving {name}"))?;
        write(&dir.join(&name))?;
        written.push(name);
    }
    Ok(())
}
