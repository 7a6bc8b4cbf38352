//! The command line: `gradlab check`, `gradlab diagnose`, `gradlab run`, `gradlab merge`,
//! `gradlab list`, and the experiment binaries. Usage errors exit with 2, every other error with
//! 1, each with one sentence on stderr; `gradlab diagnose` exits with 3 for a wrong gradient.

mod check;
mod diagnose;
mod notes;
mod run;

use crate::runner::Registry;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use gradlab::exact::Decimal;
use gradlab::method::Steps;
use gradlab::scalar::{DType, Prec};
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
    Check(Box<check::CheckArgs>),
    /// Tell whether your own gradient (x.grad, W.grad or b.grad saved with numpy) is right, and if not, which mistake made it.
    Diagnose(diagnose::DiagnoseArgs),
    /// Run an experiment (or `all`), or one shard of it, and write its CSV, figures, meta.json and report section.
    Run(run::RunArgs),
    /// Combine the shards of one experiment (from `run NAME --shard K/N`) into its results.
    Merge(run::MergeArgs),
    /// List the experiments.
    List,
}

/// A whole-number option: the words for one and several of what it counts, and its range.
/// Values are typed as digits or as an exact decimal whose value is whole (`1e4`, `2.5e3`);
/// `1.5`, `abc` and negative numbers are not whole numbers.
struct Whole {
    /// What one unit is called ("sample"; empty when the option counts nothing, as a seed).
    one: &'static str,
    /// What several are called ("samples").
    many: &'static str,
    /// The smallest value accepted.
    min: u128,
    /// The largest value accepted.
    max: u128,
    /// Why nothing above `max` is accepted (a clause, said when a value exceeds it).
    why_max: String,
    /// Whether a value that is not a whole number is told the whole range ("from 1 to 8"), or
    /// only its lower end, for a maximum no one reaches by accident ("1 or more").
    range_told: bool,
}

/// The value of a whole number typed as digits or as an exact decimal whose value is whole
/// (`1e4`, `2.5e3`): `None` when `s` is not a whole number (`1.5`, `abc`, `-1`), `Some(None)`
/// when it is one beyond `u128`.
fn whole_number(s: &str) -> Option<Option<u128>> {
    let value = Decimal::parse("number", s).ok()?;
    let v = value.value();
    (*v.denom() == 1 && v.cmp0() != std::cmp::Ordering::Less).then(|| v.numer().to_u128())
}

impl Whole {
    /// The value of `s`, or one sentence: "expected a whole number ..." for `1.5` or `abc`,
    /// "expected at least ..." below the range, "expected at most ...: why" above it.
    fn parse(&self, s: &str) -> Result<u128, String> {
        // " 1 sample", " 8 threads", or the bare number when the option counts nothing.
        let count = |v: u128| match (v, self.many) {
            (_, "") => format!(" {v}"),
            (1, _) => format!(" 1 {}", self.one),
            _ => format!(" {v} {}", self.many),
        };
        let of = if self.many.is_empty() { String::new() } else { format!(" of {}", self.many) };
        let not_whole = || match self.range_told {
            true => format!("expected a whole number{of} from {} to {}", self.min, self.max),
            false => format!("expected a whole number{of}, {} or more", self.min),
        };
        match whole_number(s).ok_or_else(not_whole)? {
            Some(v) if v < self.min => Err(format!("expected at least{}", count(self.min))),
            Some(v) if v <= self.max => Ok(v),
            _ => Err(format!("expected at most{}: {}", count(self.max), self.why_max)),
        }
    }

    /// [`Whole::parse`] as a `usize` (every `max` given here fits one).
    fn usize(&self, s: &str) -> Result<usize, String> {
        self.parse(s).map(|v| usize::try_from(v).unwrap_or(usize::MAX))
    }
}

/// The most samples, features or classes: the largest n for which an n x 1 array of f64 is
/// addressable (isize::MAX bytes, [`gradlab::problem::Problem::generate`] refuses more). Whether a
/// size fits in memory is the memory budget's question ([`gradlab::budget::check_fits`]), asked
/// once the whole problem is known.
const MAX_DIM: u128 = (isize::MAX as u128) / 8;

/// Why [`MAX_DIM`] is the largest size accepted.
const WHY_MAX_DIM: &str = "an array of more f64 values cannot be addressed (memory is checked separately)";

/// A size of the generated problem: at least `min` `many`.
fn dim(one: &'static str, many: &'static str, min: u128) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| Whole { one, many, min, max: MAX_DIM, why_max: WHY_MAX_DIM.into(), range_told: false }.usize(s)
}

/// A thread count from 1 to [`gradlab::policy::max_threads`] of this machine's cores.
fn threads(s: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max = gradlab::policy::max_threads(cores);
    let why_max = format!(
        "at most {} per core, and this machine has {cores} {}",
        gradlab::policy::MAX_THREADS_PER_CORE,
        if cores == 1 { "core" } else { "cores" }
    );
    Whole { one: "thread", many: "threads", min: 1, max: max as u128, why_max, range_told: true }.usize(s)
}

/// A seed: any 64-bit number.
fn seed(s: &str) -> Result<u64, String> {
    let w = Whole {
        one: "",
        many: "",
        min: 0,
        max: u128::from(u64::MAX),
        why_max: "seeds are 64-bit numbers".into(),
        range_told: true,
    };
    w.parse(s).map(|v| u64::try_from(v).unwrap_or(u64::MAX))
}

/// The number of epochs: any count a machine word holds.
fn epochs(s: &str) -> Result<usize, String> {
    let why_max = "the largest count this machine's integers hold".into();
    Whole { one: "epoch", many: "epochs", min: 0, max: usize::MAX as u128, why_max, range_told: false }.usize(s)
}

/// The MLP's hidden width, from 1 to [`gradlab::objective::mlp::MAX_HIDDEN`].
fn hidden_width(s: &str) -> Result<usize, String> {
    let max = gradlab::objective::mlp::MAX_HIDDEN;
    let why_max = format!("the widest hidden layer gradlab checks is {max} units");
    Whole { one: "hidden unit", many: "hidden units", min: 1, max: max as u128, why_max, range_told: true }.usize(s)
}

/// The truth's precision, from [`Prec::MIN`] to [`Prec::MAX`] bits.
fn truth_bits(s: &str) -> Result<u32, String> {
    let why_max = format!("twice the widest MPFR dtype ({} bits)", DType::MPFR_MAX_BITS);
    let w = Whole {
        one: "bit",
        many: "bits",
        min: u128::from(Prec::MIN),
        max: u128::from(Prec::MAX),
        why_max,
        range_told: true,
    };
    w.parse(s).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

fn memory_size(s: &str) -> Result<u64, String> {
    gradlab::budget::parse_size(s).map_err(|e| e.to_string())
}

fn parse_dtypes(s: &str) -> Result<Vec<DType>, String> {
    DType::parse_list(s).map_err(|e| e.to_string())
}

/// `--eps`: a grid of positive decimals, `auto` or `none` ([`Steps::parse`]).
fn parse_steps(s: &str) -> Result<Steps, String> {
    Steps::parse(s).map_err(|e| e.to_string())
}

/// A comma-separated list of distinct tensor names, each one some model of the registry has
/// ([`gradlab::plan::tensor_name`]; whether the model chosen has it is for the core's validation).
fn parse_wrts(s: &str) -> Result<Vec<String>, String> {
    let names = gradlab::plan::tensor_names().join(", ");
    let mut out: Vec<String> = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("expected a comma-separated list such as input,weight (from {names})"));
        }
        let w = gradlab::plan::tensor_name(item).map_err(|e| e.to_string())?;
        if out.iter().any(|o| o == w) {
            return Err(format!("{w} is listed twice; expected each of {names} at most once"));
        }
        out.push(w.to_string());
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
pub fn main(registry: Registry) -> ExitCode {
    gradlab::gmp_pool::install();
    let command = Cli::command().mut_subcommand("run", |c| {
        c.mut_arg("name", |a| a.value_parser(move |s: &str| run::experiment_name(registry, s)))
    });
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    if let Command::Check(a) = cli.command {
        // One validation of the command line's choices, in the core: a usage error exits with
        // status 2, a value a dtype refuses with 1.
        return match check::plan_of(&a) {
            Ok((plan, source)) => finish(check::run_check(*a, plan, source)),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(if matches!(e, gradlab::Error::Usage(_)) { 2 } else { 1 })
            }
        };
    }
    if let Command::Diagnose(a) = cli.command {
        return diagnose::run_diagnose(a).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        });
    }
    finish(match cli.command {
        Command::Diagnose(_) => unreachable!("handled above"),
        Command::Check(_) => unreachable!("handled above"),
        Command::Run(r) => run::run(r, registry),
        Command::Merge(m) => run::merge(m, registry),
        Command::List => {
            for e in (registry.all)() {
                println!("{:<16} {}", e.name(), e.description());
            }
            Ok(())
        }
    })
}

/// The `main` of an experiment binary: `gradlab_lab::experiment_main!(Microbatch);` in
/// experiments/microbatch.rs defines `pub fn main()` running [`experiment_main`] on it.
#[macro_export]
macro_rules! experiment_main {
    ($exp:expr) => {
        /// This experiment alone, as its own binary: `cargo run --release --bin NAME -- [OPTIONS]`
        /// (`--help` lists the options: --out, --quick, --threads, --shard).
        pub fn main() -> std::process::ExitCode {
            $crate::cli::experiment_main(&$exp, $crate::experiments::REGISTRY)
        }
    };
}

/// An experiment binary (experiments/NAME.rs): `NAME [--out DIR] [--quick] [--threads N] [--shard K/N]`.
pub fn experiment_main(exp: &dyn crate::runner::Runnable, registry: Registry) -> ExitCode {
    gradlab::gmp_pool::install();
    finish(run::run_one(exp, registry))
}
