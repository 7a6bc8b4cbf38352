//! `gradlab run NAME|all [--shard K/N]` and `gradlab merge DIR... --out DIR`.

use crate::runner::{self, Registry, RunOptions, Runnable, Shard};
use clap::{Args, Parser};
use std::path::PathBuf;

/// Options shared by `gradlab run NAME` and the experiment binaries.
#[derive(Args, Debug)]
pub(super) struct RunFlags {
    /// Results folder; each experiment writes into OUT/NAME/, and OUT/REPORT.md is rebuilt (and,
    /// for a folder named results with a README.md beside it, the generated blocks of that
    /// README.md and of docs/*.md, unless --quick).
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
    /// A small grid exercising the same code (for tests and CI).
    #[arg(long)]
    quick: bool,
    /// Worker threads (default: all cores; at most 4 per core). Results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_parser = super::threads)]
    threads: Option<usize>,
    /// Run only the K-th of N slices of the experiment's cells and write only its rows
    /// (OUT/NAME/shard-K-of-N.csv and .json); combine the shards with `gradlab merge`.
    #[arg(long, value_name = "K/N", allow_hyphen_values = true, value_parser = shard)]
    shard: Option<Shard>,
}

impl RunFlags {
    fn options(&self, registry: Registry) -> RunOptions {
        RunOptions {
            out: self.out.clone(),
            quick: self.quick,
            threads: self.threads,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            progress: true,
            shard: self.shard,
            registry,
        }
    }
}

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    /// Experiment name (see `gradlab list`) or `all` (every experiment except the timing one, `scaling`).
    name: String,
    #[command(flatten)]
    flags: RunFlags,
}

#[derive(Args, Debug)]
pub(super) struct MergeArgs {
    /// Folders holding the shards (the --out folders of `gradlab run NAME --shard K/N`; one folder
    /// may hold several shards).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Results folder for the merged run (OUT/NAME/ and OUT/REPORT.md).
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
}

/// `--shard K/N`: K and N whole numbers ([`super::whole_number`]), then 1 <= K <= N as
/// [`Shard::parse`] checks it (N is checked against the experiment's number of cells when it
/// runs).
fn shard(s: &str) -> Result<Shard, String> {
    let expected = "expected K/N, two whole numbers with 1 <= K <= N";
    let Some((k, n)) = s.split_once('/') else {
        return Err(format!("{expected}, not {s:?}"));
    };
    let whole = |what: &str, v: &str| match super::whole_number(v) {
        None => Err(format!("{expected}; {what} = {:?} is not a whole number", v.trim())),
        Some(big) => big.and_then(|v| usize::try_from(v).ok()).ok_or_else(|| {
            format!(
                "{expected}; {what} = {} is above {}, the largest count this machine's integers hold",
                v.trim(),
                usize::MAX
            )
        }),
    };
    let (k, n) = (whole("K", k)?, whole("N", n)?);
    Shard::parse(&format!("{k}/{n}")).map_err(|e| e.to_string())
}

/// `gradlab run NAME`'s check of NAME against the registry's experiments (clap's value parser
/// of the run subcommand's name, set at run time by [`super::main`]).
pub(super) fn experiment_name(registry: Registry, s: &str) -> Result<String, String> {
    let names: Vec<&str> = (registry.all)().iter().map(|e| e.name()).collect();
    if s == "all" || names.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("unknown experiment {s:?}: expected all or one of {}", names.join(", ")))
    }
}

/// Runs `gradlab run`.
pub(super) fn run(r: RunArgs, registry: Registry) -> anyhow::Result<()> {
    let all = (registry.all)();
    let chosen: Vec<&dyn Runnable> = all
        .iter()
        .map(|e| e.as_ref())
        .filter(|e| if r.name == "all" { !e.is_timing() } else { e.name() == r.name })
        .collect();
    if r.flags.shard.is_some() && chosen.len() != 1 {
        anyhow::bail!("invalid experiment \"all\" with --shard: expected one experiment name, since shards are merged per experiment");
    }
    run_experiments(&chosen, &r.flags, registry)
}

/// An experiment binary's command line, run.
pub(super) fn run_one(exp: &dyn Runnable, registry: Registry) -> anyhow::Result<()> {
    #[derive(Parser, Debug)]
    struct One {
        #[command(flatten)]
        flags: RunFlags,
    }
    let one = One::parse_from(std::iter::once(exp.name().to_string()).chain(std::env::args().skip(1)));
    run_experiments(&[exp], &one.flags, registry)
}

fn run_experiments(exps: &[&dyn Runnable], flags: &RunFlags, registry: Registry) -> anyhow::Result<()> {
    let opts = flags.options(registry);
    // Ctrl-C asks the runner to stop at the next cell.
    runner::interrupt::install_handler();
    let start = std::time::Instant::now();
    let mut done: Vec<&str> = Vec::new();
    for (i, exp) in exps.iter().enumerate() {
        let name = exp.name();
        match exp.run(&opts) {
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
            Err(gradlab::Error::Interrupted(_)) => {
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
    match opts.shard {
        Some(s) => eprintln!("shard {s} written; combine all {} with `gradlab merge`", s.count),
        None => eprintln!(
            "report: {} ({:.1} s in all)",
            opts.out.join("REPORT.md").display(),
            start.elapsed().as_secs_f64()
        ),
    }
    Ok(())
}

/// Runs `gradlab merge`.
pub(super) fn merge(m: MergeArgs, registry: Registry) -> anyhow::Result<()> {
    let opts = RunOptions {
        out: m.out.clone(),
        quick: false,
        threads: None,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        progress: false,
        shard: None,
        registry,
    };
    let s = runner::shard::merge(&m.dirs, &opts, &(registry.all)())?;
    eprintln!("{:>16}: {} rows merged, {} files in {}", s.name, s.rows, s.files.len(), opts.out.join(s.name).display());
    Ok(())
}
