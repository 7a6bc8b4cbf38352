//! The command line: `gradlab check`, `gradlab diagnose`, `gradlab run`, `gradlab merge`,
//! `gradlab list`, and the experiment binaries. Usage errors exit with 2, every other error with
//! 1, each with one sentence on stderr; `gradlab diagnose` exits with 3 for a wrong gradient.

mod check;
mod diagnose;
mod run;

use crate::exact::{parse_list, Decimal};
use crate::scalar::{DType, Prec};
use clap::{Parser, Subcommand};
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
    Check(check::CheckArgs),
    /// Tell whether your own gradient (x.grad, W.grad or b.grad saved with numpy) is right, and if not, which mistake made it.
    Diagnose(diagnose::DiagnoseArgs),
    /// Run an experiment (or `all`), or one shard of it, and write its CSV, figures, meta.json and report section.
    Run(run::RunArgs),
    /// Combine the shards of one experiment (from `run NAME --shard K/N`) into its results.
    Merge(run::MergeArgs),
    /// List the experiments.
    List,
}

fn positive(expected: &'static str) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("expected {expected}")),
    }
}

/// A thread count from 1 to [`crate::policy::max_threads`] of this machine's cores.
fn threads(s: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max = crate::policy::max_threads(cores);
    match s.trim().parse::<usize>() {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected 1 to {max} threads: at most {} per core, and this machine has {cores} {}",
            crate::policy::MAX_THREADS_PER_CORE,
            if cores == 1 { "core" } else { "cores" }
        )),
    }
}

fn memory_size(s: &str) -> Result<u64, String> {
    crate::budget::parse_size(s).map_err(|e| e.to_string())
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
    if s.split(',').any(|h| h.trim() == crate::numeric::auto::AUTO) {
        return match s.trim() {
            crate::numeric::auto::AUTO => Ok(vec![crate::numeric::auto::auto_step()]),
            _ => Err(format!("expected either auto alone or a list of steps, not both in {s:?}")),
        };
    }
    let v = parse_list("step", s).map_err(|e| e.to_string())?;
    match v.iter().find(|h| h.value().cmp0() != std::cmp::Ordering::Greater) {
        Some(h) => Err(format!("invalid step {:?}: expected a positive number", h.text())),
        None => Ok(v),
    }
}

/// A comma-separated list of distinct wrts (input, weight, bias, logits).
fn parse_wrts(s: &str) -> Result<Vec<crate::objective::Wrt>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(
                "expected a comma-separated list such as input,weight (from input, weight, bias, logits, hidden-weight, hidden-bias)".into()
            );
        }
        let w = crate::objective::Wrt::parse(item).map_err(|e| e.to_string())?;
        if out.contains(&w) {
            return Err(format!("{w} is listed twice; expected each of input, weight, bias, logits, hidden-weight, hidden-bias at most once"));
        }
        out.push(w);
    }
    Ok(out)
}

fn parse_lr(s: &str) -> Result<Decimal, String> {
    let v = Decimal::parse("--lr", s).map_err(|_| "expected a decimal number such as 1e-3 or 0.001".to_string())?;
    if v.value().cmp0() == std::cmp::Ordering::Less {
        return Err("expected a learning rate of 0 or more".to_string());
    }
    Ok(v)
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

/// The `gradlab` binary: parses the command line and runs it.
pub fn main() -> ExitCode {
    crate::gmp_pool::install();
    let cli = Cli::parse();
    if let Command::Check(a) = &cli.command {
        if let Some(msg) = check::usage_error(a) {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    }
    if let Command::Diagnose(a) = cli.command {
        return diagnose::run_diagnose(a).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        });
    }
    finish(match cli.command {
        Command::Diagnose(_) => unreachable!("handled above"),
        Command::Check(a) => check::run_check(a),
        Command::Run(r) => run::run(r),
        Command::Merge(m) => run::merge(m),
        Command::List => {
            for e in crate::experiments::all() {
                println!("{:<16} {}", e.name(), e.description());
            }
            Ok(())
        }
    })
}

/// The `main` of an experiment binary: `gradlab::experiment_main!(Microbatch);` in
/// experiments/microbatch.rs defines `pub fn main()` running [`experiment_main`] on it.
#[macro_export]
macro_rules! experiment_main {
    ($exp:expr) => {
        /// This experiment alone, as its own binary: `cargo run --release --bin NAME -- [OPTIONS]`
        /// (`--help` lists the options: --out, --quick, --threads, --shard).
        pub fn main() -> std::process::ExitCode {
            $crate::lab::cli::experiment_main(&$exp)
        }
    };
}

/// An experiment binary (experiments/NAME.rs): `NAME [--out DIR] [--quick] [--threads N] [--shard K/N]`.
pub fn experiment_main(exp: &dyn crate::lab::runner::Runnable) -> ExitCode {
    crate::gmp_pool::install();
    finish(run::run_one(exp))
}
