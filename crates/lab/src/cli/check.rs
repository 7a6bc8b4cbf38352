//! `gradlab check`: the seed's protocol on a generated or loaded problem, printed as the
//! seed-style table (with a plain-words diagnosis under each dtype) or as CSV, with the
//! gradients saved on request.

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
use gradlab::objective::Reduction;
use gradlab::plan::{model_named, plan, Choices, Model, Plan};
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// Load the problem from a folder with x.npy, t.npy, weight.npy and bias.npy instead of generating it.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Number of samples of the generated problem.
    #[arg(long, default_value_t = 10, allow_hyphen_values = true, value_parser = dim("sample", "samples", 1))]
    n: usize,
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
    /// Epochs of SGD before the check (0 checks the initial parameters).
    #[arg(long, default_value_t = 10, allow_hyphen_values = true, value_parser = epochs)]
    epochs: usize,
    /// SGD learning rate (an exact decimal, rounded once into each dtype).
    #[arg(long, default_value = "1e-3", allow_hyphen_values = true, value_parser = parse_lr)]
    lr: Decimal,
    /// What happens to x.grad between epochs: reset (correct) or accumulate (the seed's bug).
    #[arg(long, default_value = "reset", value_parser = |s: &str| InputGrad::parse(s))]
    input_grad: InputGrad,
    /// Loss reduction: mean (PyTorch's default) or sum.
    #[arg(long, default_value = "mean", value_parser = |s: &str| Reduction::parse(s))]
    reduction: Reduction,
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
    /// drawn from --seed; trained like the seed, the same loss).
    #[arg(long, default_value = "linear", value_parser = |s: &str| model_named(s))]
    model: Model,
    /// The MLP's hidden width H (default 8; not with --model linear).
    #[arg(long, value_name = "H", allow_hyphen_values = true, value_parser = hidden_width)]
    hidden: Option<usize>,
    /// Comma-separated tensors to differentiate with respect to: input (x), weight (W), bias (b),
    /// logits, and for the MLP hidden-weight (W1) and hidden-bias (b1) (weight and bias are then
    /// its output layer's); one block of rows each.
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

/// The command line's choices validated once, by the core ([`gradlab::plan::plan`]): a command
/// line that contradicts itself is an [`Error::Usage`] (exit status 2: `--hidden` with `--model
/// linear` or out of range, a `--wrt` the model does not have, a mixed dtype with the complex
/// step, dual numbers or a model other than the linear one, `--eps auto` with a scheme that is not
/// a finite-difference stencil, `--eps none` with a scheme that takes a step), a step or truth
/// precision a dtype refuses an [`Error::Value`] (exit status 1).
pub(super) fn plan_of(a: &CheckArgs) -> Result<Plan> {
    let truth = match (a.no_truth, a.truth_bits) {
        (true, _) => None,
        (false, Some(bits)) => Some(Prec::new(bits)?),
        (false, None) => Some(gradlab::policy::truth_prec(&a.dtype)),
    };
    let cfg = CheckConfig {
        train: TrainConfig { epochs: a.epochs, lr: a.lr.clone(), input_grad: a.input_grad, reduction: a.reduction },
        scheme: a.scheme,
        steps: Steps::None,
        truth,
        naive: a.naive,
        keep_grads: a.save_grads.is_some(),
    };
    let choices = Choices {
        model: a.model,
        hidden: a.hidden,
        seed: a.seed,
        wrts: &a.wrt,
        dtypes: &a.dtype,
        steps: a.eps.as_ref(),
        cfg: &cfg,
    };
    plan(&choices)
}

/// Runs `gradlab check` on its validated `plan` ([`plan_of`]): memory is checked before anything
/// large is allocated, a progress bar follows long checks, and Ctrl-C stops the check within a
/// second with exit status 130 and nothing written.
pub(super) fn run_check(a: CheckArgs, plan: Plan) -> anyhow::Result<()> {
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
    // (which already fits, being loaded) before the check allocates anything.
    let problem = match &a.data {
        Some(dir) => {
            let p = Problem::load(dir)?;
            fits(Shape::of(&p))?;
            p
        }
        None => {
            fits(Shape { n: a.n, d: a.d, k: a.k })?;
            Problem::generate(a.n, a.d, a.k, a.seed)?
        }
    };
    if let Some(dir) = &a.save_grads {
        gradlab::atomic::ensure_dir(dir)?;
    }
    let watch = interrupt::watch();
    // One block per wrt (its index in the plan), each with every dtype (its index too).
    let jobs: Vec<(usize, usize)> = (0..plan.len()).flat_map(|i| (0..checked.len()).map(move |j| (i, j))).collect();
    let stages = jobs
        .iter()
        .flat_map(|&(i, j)| {
            let (shape, like) = plan.budget(i, Shape::of(&problem));
            budget::check_work(shape, like, checked[j].dtype(), checked[j].cfg())
        })
        .collect();
    let bar = WorkBar::start(&watch, stages);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the thread pool")?;
    let results: gradlab::Result<Vec<(&str, DType, DTypeCheck)>> = pool.install(|| {
        jobs.iter()
            .map(|&(i, j)| {
                let r = plan.run(&problem, i, &checked[j], &watch)?;
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
            match write_grads(dir, &label, plan.is_vector(i), r, &watch, &mut written) {
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
    let size = (problem.n(), problem.d(), problem.k());
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
        let setup = format!(
            "n={} d={} k={}{} E={} lr={} reduction={} input-grad={} scheme={} wrt={} truth={}",
            problem.n(),
            problem.d(),
            problem.k(),
            model.header(),
            a.epochs,
            a.lr,
            a.reduction,
            a.input_grad,
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
/// by the wrt when several are checked (`analytic_weight_f64.npy`). Each array has the tensor's
/// shape (1-D when `vector`: a bias). Adds the name of each file written to `written`.
///
/// # Errors
/// [`Error::Write`] when a file cannot be written; [`Error::Interrupted`] when the watch was
/// stopped before a file (the files written before it are complete).
pub fn write_grads(
    dir: &Path,
    label: &str,
    vector: bool,
    r: &DTypeCheck,
    watch: &Watch,
    written: &mut Vec<String>,
) -> Result<()> {
    let Some(g) = &r.grads else { return Ok(()) };
    let save = move |p: &Path, a: &ndarray::Array2<f64>| match vector {
        true => gradlab::npy::write(p, &a.row(0)),
        false => gradlab::npy::write(p, a),
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
