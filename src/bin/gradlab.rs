//! The `gradlab` command line: `check` runs the seed's protocol.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gradlab::check::{check_dtype, CheckConfig, DTypeCheck};
use gradlab::exact::{parse_list, Decimal};
use gradlab::loss::Reduction;
use gradlab::numeric::Wrt;
use gradlab::problem::Problem;
use gradlab::report::{format_table, write_csv, write_grads};
use gradlab::scalar::{DType, Prec};
use gradlab::stencil::Scheme;
use gradlab::train::{InputGrad, TrainConfig};
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
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Load the problem from a folder with x.npy, t.npy, weight.npy and bias.npy instead of generating it.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Number of samples of the generated problem.
    #[arg(long, default_value_t = 10, value_parser = positive("--n", "at least 1 sample"))]
    n: usize,
    /// Number of input features of the generated problem.
    #[arg(long, default_value_t = 4, value_parser = positive("--d", "at least 1 feature"))]
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
    #[arg(long, default_value = "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8", allow_hyphen_values = true, value_parser = parse_steps)]
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
    #[arg(long, value_parser = positive("--threads", "at least 1 thread"))]
    threads: Option<usize>,
}

fn positive(name: &'static str, expected: &'static str) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("invalid {name} {s:?}: expected {expected}")),
    }
}

fn at_least_two(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= 2 => Ok(v),
        _ => Err(format!("invalid --k {s:?}: expected at least 2 classes")),
    }
}

fn epochs(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| format!("invalid --epochs {s:?}: expected a whole number of epochs, 0 or more"))
}

fn truth_bits(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(b) => Prec::new(b)
            .map(|p| p.bits())
            .map_err(|_| format!("invalid --truth-bits {s:?}: expected {} to {} bits", Prec::MIN, Prec::MAX)),
        Err(_) => Err(format!("invalid --truth-bits {s:?}: expected a whole number of bits")),
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
    let v = Decimal::parse("--lr", s).map_err(|e| e.to_string())?;
    if v.value().cmp0() == std::cmp::Ordering::Less {
        return Err(format!("invalid --lr {s:?}: expected a learning rate of 0 or more"));
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
        gradlab::report::ensure_dir(dir)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .context("cannot start the thread pool")?;
    let results: Vec<(DType, DTypeCheck)> = pool.install(|| {
        a.dtype.iter().map(|&dt| check_dtype(&problem, dt, &cfg).map(|r| (dt, r))).collect::<gradlab::Result<_>>()
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(a) => run_check(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
