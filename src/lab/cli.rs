//! The command line: `gradlab check`, `gradlab run`, `gradlab list`, and the experiment binaries.

use crate::check::{check_dtype, CheckConfig, DTypeCheck};
use crate::exact::{parse_list, Decimal};
use crate::lab::report::{format_table, write_csv, write_grads};
use crate::method::Scheme;
use crate::objective::Reduction;
use crate::objective::Wrt;
use crate::problem::Problem;
use crate::scalar::{DType, Prec};
use crate::train::{InputGrad, TrainConfig};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Numerical precision in gradient checking: finite differences across f16, bf16, f32, f64 and
/// MPFR, with an arbitrary-precision ground truth.
#[derive(Parser, Debug)]
#[command(name = "gradlab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the seed's gradient check (linear layer + softmax cross-entropy, SGD) and print a table.
    Check(CheckArgs),
    /// Run an experiment (or `all`) and write its CSV, figures, meta.json and report section.
    Run(RunArgs),
    /// List the experiments.
    List,
}

/// Options shared by `gradlab run NAME` and the experiment binaries.
#[derive(Args, Debug)]
struct RunFlags {
    /// Results folder; each experiment writes into OUT/NAME/, and OUT/REPORT.md is rebuilt.
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
    /// A small grid exercising the same code (for tests and CI).
    #[arg(long)]
    quick: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = positive("at least 1 thread"))]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Experiment name (see `gradlab list`) or `all` (every experiment except the timing one, `scaling`).
    #[arg(value_parser = experiment_name)]
    name: String,
    #[command(flatten)]
    flags: RunFlags,
}

fn experiment_name(s: &str) -> Result<String, String> {
    let names: Vec<&str> = crate::experiments::all().iter().map(|e| e.name()).collect();
    if s == "all" || names.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("unknown experiment {s:?}: expected all or one of {}", names.join(", ")))
    }
}

fn run_experiments(exps: &[&dyn crate::lab::runner::Experiment], flags: &RunFlags) -> anyhow::Result<()> {
    let opts = crate::lab::runner::RunOptions {
        out: flags.out.clone(),
        quick: flags.quick,
        threads: flags.threads,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        progress: true,
    };
    // Ctrl-C asks the runner to stop at the next cell; a second handler install (in tests) is harmless.
    let _ = ctrlc::set_handler(crate::lab::runner::request_stop);
    let start = std::time::Instant::now();
    let mut done: Vec<&str> = Vec::new();
    for (i, exp) in exps.iter().enumerate() {
        let name = exp.name();
        match crate::lab::runner::run(*exp, &opts) {
            Ok(s) => {
                eprintln!(
                    "{:>16}: {} rows, {} files in {} ({:.1} s)",
                    s.name,
                    s.rows,
                    s.files.len(),
                    opts.out.join(s.name).display(),
                    s.seconds
                );
                done.push(name);
            }
            Err(crate::Error::Interrupted(_)) => {
                let rest: Vec<&str> = exps[i + 1..].iter().map(|e| e.name()).collect();
                eprintln!(
                    "interrupted: complete results were written for [{}]; nothing of {name} was written (its earlier files, if any, are untouched){}",
                    done.join(", "),
                    if rest.is_empty() { String::new() } else { format!("; not started: [{}]", rest.join(", ")) }
                );
                std::process::exit(130);
            }
            Err(e) => return Err(e.into()),
        }
    }
    eprintln!("report: {} ({:.1} s in all)", opts.out.join("REPORT.md").display(), start.elapsed().as_secs_f64());
    Ok(())
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Load the problem from a folder with x.npy, t.npy, weight.npy and bias.npy instead of generating it.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Number of samples of the generated problem.
    #[arg(long, default_value_t = 10, value_parser = positive("at least 1 sample"))]
    n: usize,
    /// Number of input features of the generated problem.
    #[arg(long, default_value_t = 4, value_parser = positive("at least 1 feature"))]
    d: usize,
    /// Number of classes of the generated problem.
    #[arg(long, default_value_t = 2, value_parser = at_least_two)]
    k: usize,
    /// Seed of the generated problem (the default, 1, is a typical problem; see the README for seed 0).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Comma-separated dtypes: f16, bf16, f32, f64, mpfr:<bits>.
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
    /// Finite-difference scheme: forward, backward, central or central5.
    #[arg(long, default_value = "central", value_parser = |s: &str| Scheme::parse(s))]
    scheme: Scheme,
    /// Comma-separated steps h (exact decimals).
    #[arg(long, default_value = crate::check::SEED_STEPS, allow_hyphen_values = true, value_parser = parse_steps)]
    eps: std::vec::Vec<Decimal>,
    /// Differentiate with respect to the input x or the logits.
    #[arg(long, default_value = "input", value_parser = |s: &str| Wrt::parse(s))]
    wrt: Wrt,
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
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = positive("at least 1 thread"))]
    threads: Option<usize>,
}

fn positive(expected: &'static str) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("expected {expected}")),
    }
}

fn at_least_two(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= 2 => Ok(v),
        _ => Err("expected at least 2 classes".to_string()),
    }
}

fn epochs(s: &str) -> Result<usize, String> {
    s.trim().parse::<usize>().map_err(|_| "expected a whole number of epochs, 0 or more".to_string())
}

fn truth_bits(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(b) => Prec::new(b).map(|p| p.bits()).map_err(|_| format!("expected {} to {} bits", Prec::MIN, Prec::MAX)),
        Err(_) => Err("expected a whole number of bits".to_string()),
    }
}

fn parse_dtypes(s: &str) -> Result<Vec<DType>, String> {
    DType::parse_list(s).map_err(|e| e.to_string())
}

fn parse_steps(s: &str) -> Result<Vec<Decimal>, String> {
    let v = parse_list("step", s).map_err(|e| e.to_string())?;
    match v.iter().find(|h| h.value().cmp0() != std::cmp::Ordering::Greater) {
        Some(h) => Err(format!("invalid step {:?}: expected a positive number", h.text())),
        None => Ok(v),
    }
}

fn parse_lr(s: &str) -> Result<Decimal, String> {
    let v = Decimal::parse("--lr", s).map_err(|_| "expected a decimal number such as 1e-3 or 0.001".to_string())?;
    if v.value().cmp0() == std::cmp::Ordering::Less {
        return Err("expected a learning rate of 0 or more".to_string());
    }
    Ok(v)
}

fn run_check(a: CheckArgs) -> anyhow::Result<()> {
    let problem = match &a.data {
        Some(dir) => Problem::load(dir)?,
        None => Problem::generate(a.n, a.d, a.k, a.seed)?,
    };
    let widest = a.dtype.iter().map(|d| d.bits()).max().unwrap_or(53);
    let bits = a.truth_bits.unwrap_or(if widest >= 256 { (2 * widest).min(Prec::MAX) } else { 256 });
    let truth = if a.no_truth { None } else { Some(Prec::new(bits)?) };
    let cfg = CheckConfig {
        train: TrainConfig { epochs: a.epochs, lr: a.lr.clone(), input_grad: a.input_grad, reduction: a.reduction },
        scheme: a.scheme,
        steps: a.eps.clone(),
        wrt: a.wrt,
        truth,
        naive: a.naive,
        keep_grads: a.save_grads.is_some(),
    };
    cfg.validate_for(&a.dtype)?;
    if let Some(dir) = &a.save_grads {
        crate::lab::report::ensure_dir(dir)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .context("cannot start the thread pool")?;
    let results: Vec<(DType, DTypeCheck)> = pool.install(|| {
        a.dtype.iter().map(|&dt| check_dtype(&problem, dt, &cfg).map(|r| (dt, r))).collect::<crate::Result<_>>()
    })?;
    if let Some(dir) = &a.save_grads {
        for (dt, r) in &results {
            write_grads(dir, *dt, &cfg.steps, r)?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.format == "csv" {
        write_csv(&mut out, results.iter().flat_map(|(_, r)| r.rows.iter()))?;
    } else {
        let setup = format!(
            "n={} d={} k={} E={} lr={} reduction={} input-grad={} scheme={} wrt={} truth={}",
            problem.n(),
            problem.d(),
            problem.k(),
            a.epochs,
            a.lr,
            a.reduction,
            a.input_grad,
            a.scheme,
            a.wrt,
            truth.map_or("none".to_string(), |p| format!("mpfr:{}", p.bits()))
        );
        use std::io::Write;
        write!(out, "{}", format_table(&setup, &results))?;
    }
    Ok(())
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The `gradlab` binary: parses the command line and runs it. Usage errors exit with 2, every
/// other error with 1, each with one sentence on stderr.
pub fn main() -> ExitCode {
    crate::gmp_pool::install();
    let cli = Cli::parse();
    finish(match cli.command {
        Command::Check(a) => run_check(a),
        Command::Run(r) => {
            let all = crate::experiments::all();
            let chosen: Vec<&dyn crate::lab::runner::Experiment> = all
                .iter()
                .map(|e| e.as_ref())
                .filter(|e| if r.name == "all" { !e.is_timing() } else { e.name() == r.name })
                .collect();
            run_experiments(&chosen, &r.flags)
        }
        Command::List => {
            for e in crate::experiments::all() {
                println!("{:<16} {}", e.name(), e.description());
            }
            Ok(())
        }
    })
}

/// An experiment binary (experiments/NAME.rs): `NAME [--out DIR] [--quick] [--threads N]`.
pub fn experiment_main(exp: &dyn crate::lab::runner::Experiment) -> ExitCode {
    #[derive(Parser, Debug)]
    struct One {
        #[command(flatten)]
        flags: RunFlags,
    }
    crate::gmp_pool::install();
    let one = One::parse_from(std::iter::once(exp.name().to_string()).chain(std::env::args().skip(1)));
    finish(run_experiments(&[exp], &one.flags))
}
