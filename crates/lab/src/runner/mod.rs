//! One runner for every experiment.
//!
//! An [`Experiment`] declares its cells, computes typed rows for one cell, and turns all rows
//! into figures and a report section; the runner does the rest: cells in parallel on a rayon
//! pool (rows kept in cell order, so the output does not depend on the thread count), a progress
//! bar, the tidy CSV, meta.json, the figures, the section, the blocks (Markdown files the README
//! and docs pages show, [`crate::blocks`]) and results/REPORT.md, every file written
//! atomically; a run into a folder named `results` (not `--quick`) also rewrites the generated
//! blocks of the README.md and docs/*.md beside it. The rows reach [`Experiment::finish`] read
//! back from the CSV, so a figure shows exactly what the CSV holds, and a run merged from shards
//! ([`shard`]) is byte-identical to one run.

pub mod interrupt;
pub mod output;
pub mod provenance;
pub mod shard;
pub mod source_digest;

pub use interrupt::{request_stop, stop_requested};
pub use output::Output;
pub use shard::Shard;

use gradlab::error::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// An experiment: cells to run independently, typed rows from each, then figures and a report
/// section from all the rows.
pub trait Experiment: Sync {
    /// One independent unit of work (a dtype, a scheme, a seed, ...).
    type Cell: Sync;
    /// One CSV row.
    type Row: Serialize + DeserializeOwned + Send;

    /// The name used by `gradlab run NAME` and the results folder.
    const NAME: &'static str;
    /// One line for `gradlab list`.
    const DESCRIPTION: &'static str;

    /// A timing experiment: its cells run one at a time on one thread, its CSV holds wall times
    /// (so it is not byte-reproducible), and `run all` leaves it out.
    fn is_timing(&self) -> bool {
        false
    }
    /// The cells, in order (quick: a small grid exercising the same code).
    fn cells(&self, quick: bool) -> Vec<Self::Cell>;
    /// Runs one cell into rows. Must be deterministic.
    ///
    /// # Errors
    /// Any library error the cell's configuration causes (a bug in the experiment's grid).
    fn run_cell(&self, cell: &Self::Cell) -> Result<Vec<Self::Row>>;
    /// Whether a row holds a non-finite value (counted in the report section).
    fn row_is_nonfinite(&self, _row: &Self::Row) -> bool {
        false
    }
    /// Draws figures (and writes extra tables) through `out` from all rows, in cell order, and
    /// returns the report section (Markdown, without the heading).
    ///
    /// # Errors
    /// [`Error::Write`] when an output file cannot be written.
    fn finish(&self, quick: bool, rows: &[Self::Row], out: &mut Output) -> Result<String>;
}

/// The experiments a lab runs and REPORT.md's fixed sections: what the binaries pass in (the
/// experiments sit above the lab, which names none of them).
#[derive(Clone, Copy, Debug)]
pub struct Registry {
    /// Every experiment, in report order.
    pub all: fn() -> Vec<Box<dyn Runnable>>,
    /// REPORT.md's methods section: the protocol and the key findings.
    pub protocol: &'static str,
    /// REPORT.md's references.
    pub references: &'static str,
}

/// How to run experiments.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The results folder (each experiment writes into `<out>/<name>/`).
    pub out: PathBuf,
    /// Small grids for tests and CI.
    pub quick: bool,
    /// Worker threads (None: all cores).
    pub threads: Option<usize>,
    /// The command line, recorded in meta.json.
    pub command: String,
    /// Show a progress bar on stderr (hidden automatically when stderr is not a terminal).
    pub progress: bool,
    /// Run only this slice of the cells and write only its rows ([`shard`]).
    pub shard: Option<Shard>,
    /// Every experiment and the report's fixed sections (REPORT.md is rebuilt from all of them).
    pub registry: Registry,
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Experiment name.
    pub name: &'static str,
    /// Number of CSV rows.
    pub rows: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Files written, relative to the experiment folder.
    pub files: Vec<String>,
}

/// An experiment as the registry and the command line see it, whatever its cell and row types.
pub trait Runnable: Sync {
    /// The name used by `gradlab run NAME` and the results folder.
    fn name(&self) -> &'static str;
    /// One line for `gradlab list`.
    fn description(&self) -> &'static str;
    /// Whether it is a timing experiment (left out of `run all`).
    fn is_timing(&self) -> bool;
    /// How many cells it has (quick or full).
    fn cell_count(&self, quick: bool) -> usize;
    /// Runs it (or, with `opts.shard`, one slice of it) into `<out>/<name>/`.
    ///
    /// # Errors
    /// [`Error::Write`] for an unusable output folder, [`Error::Interrupted`] after Ctrl-C, or a
    /// bad shard.
    fn run(&self, opts: &RunOptions) -> Result<RunSummary>;
    /// Finishes a run from the CSV text of all its rows (the merged shards): CSV, figures,
    /// section, meta.json and REPORT.md, exactly as [`Runnable::run`] would write them.
    ///
    /// # Errors
    /// [`Error::Read`] when a row does not parse; [`Error::Write`] when writing fails.
    fn finish_from_csv(&self, csv: &[u8], opts: &RunOptions, extra_meta: serde_json::Value) -> Result<RunSummary>;
}

impl<E: Experiment> Runnable for E {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn description(&self) -> &'static str {
        E::DESCRIPTION
    }
    fn is_timing(&self) -> bool {
        Experiment::is_timing(self)
    }
    fn cell_count(&self, quick: bool) -> usize {
        self.cells(quick).len()
    }
    fn run(&self, opts: &RunOptions) -> Result<RunSummary> {
        run(self, opts)
    }
    fn finish_from_csv(&self, csv: &[u8], opts: &RunOptions, extra_meta: serde_json::Value) -> Result<RunSummary> {
        // Every row must parse before anything is written.
        output::from_csv::<E::Row>(csv).map_err(|reason| Error::Read {
            path: opts.out.join(self.name()),
            reason: format!("merged rows: {reason}"),
        })?;
        let dir = prepare_dir(self.name(), &opts.out)?;
        finish(self, opts, &dir, csv, Instant::now(), extra_meta)
    }
}

/// Creates `<out>/<name>/` (and `out`) and removes temporaries a killed run left there.
fn prepare_dir(name: &str, out: &Path) -> Result<PathBuf> {
    let dir = out.join(name);
    provenance::commit(out);
    gradlab::atomic::ensure_dir(out)?;
    gradlab::atomic::ensure_dir(&dir)?;
    gradlab::atomic::remove_stale_temporaries(&dir);
    Ok(dir)
}

/// Runs one experiment (or one shard of it) into `<out>/<name>/` and, for a whole run,
/// refreshes `<out>/REPORT.md`.
///
/// # Errors
/// [`Error::Write`] when the output folder is unusable or a file cannot be written;
/// [`Error::Interrupted`] after Ctrl-C; [`Error::Value`] for a shard count above the cell count.
pub fn run<E: Experiment>(exp: &E, opts: &RunOptions) -> Result<RunSummary> {
    let cells = exp.cells(opts.quick);
    let range = match opts.shard {
        Some(s) => s.cells(cells.len(), exp.name())?,
        None => 0..cells.len(),
    };
    let dir = prepare_dir(exp.name(), &opts.out)?;
    let start = Instant::now();
    let bar = if opts.progress { ProgressBar::new(range.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} cells {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(exp.name());
    let pool = thread_pool(exp, opts, &dir)?;
    let rows: Vec<Vec<E::Row>> = pool.install(|| {
        cells[range.clone()]
            .par_iter()
            .map(|cell| {
                if stop_requested() {
                    return Err(Error::Interrupted(format!("{} stopped before finishing its cells", exp.name())));
                }
                let r = exp.run_cell(cell);
                bar.inc(1);
                r
            })
            .collect::<Result<_>>()
    })?;
    bar.finish_and_clear();
    let rows: Vec<E::Row> = rows.into_iter().flatten().collect();
    let csv = output::to_csv(&rows).map_err(|reason| Error::Write { path: dir.clone(), reason })?;
    match opts.shard {
        Some(s) => shard::write(&dir, exp.name(), s, &range, cells.len(), &csv, rows.len(), opts, start),
        None => pool.install(|| finish(exp, opts, &dir, &csv, start, serde_json::json!({}))),
    }
}

/// The rayon pool of a run: one thread for a timing experiment, else `opts.threads` (all cores
/// by default).
fn thread_pool<E: Experiment>(exp: &E, opts: &RunOptions, dir: &Path) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(if exp.is_timing() { 1 } else { opts.threads.unwrap_or(0) })
        .build()
        .map_err(|e| Error::Write { path: dir.to_path_buf(), reason: format!("cannot start the thread pool: {e}") })
}

/// Everything after the rows: the CSV, the experiment's figures and section (from the rows read
/// back from the CSV), the notes every section gets, meta.json and REPORT.md.
fn finish<E: Experiment>(
    exp: &E,
    opts: &RunOptions,
    dir: &Path,
    csv: &[u8],
    start: Instant,
    extra_meta: serde_json::Value,
) -> Result<RunSummary> {
    let rows: Vec<E::Row> = output::from_csv(csv)
        .map_err(|reason| Error::Read { path: dir.join(format!("{}.csv", exp.name())), reason })?;
    let mut out = Output::new(dir.to_path_buf());
    out.file(&format!("{}.csv", exp.name()), csv)?;
    let mut body = exp.finish(opts.quick, &rows, &mut out)?;
    let bad = rows.iter().filter(|r| exp.row_is_nonfinite(r)).count();
    if bad > 0 {
        body.push_str(&format!(
            "\n{bad} of {} rows have a non-finite value (status `nonfinite`: an overflow or NaN in the dtype); they stay \
             in the CSV with their status and are left out of the figures.\n",
            rows.len()
        ));
    }
    let dropped: Vec<String> =
        out.dropped.iter().filter(|(_, d)| *d > 0).map(|(f, d)| format!("{f}: {d} points")).collect();
    if !dropped.is_empty() {
        body.push_str(&format!(
            "\nPoints a log axis cannot show (0, NaN or infinite) are left out of the figures: {}.\n",
            dropped.join("; ")
        ));
    }
    let quick_flag = if opts.quick { " --quick" } else { "" };
    body.push_str(&format!(
        "\nRegenerate: `cargo run --release -- run {}{quick_flag}` (or `cargo run --release --bin {}`).\n",
        exp.name(),
        exp.name()
    ));
    out.file("section.md", body.as_bytes())?;
    let seconds = start.elapsed().as_secs_f64();
    let mut meta = serde_json::json!({
        "experiment": exp.name(),
        "description": exp.description(),
        "command": opts.command,
        "quick": opts.quick,
        "source": provenance::source(),
        "gradlab_version": env!("CARGO_PKG_VERSION"),
        "dependencies": provenance::dependency_versions(),
        "mpfr_version": provenance::mpfr_version(),
        "threads": rayon::current_num_threads(),
        "cells": exp.cells(opts.quick).len(),
        "rows": rows.len(),
        "wall_seconds": (seconds * 1000.0).round() / 1000.0,
        "files": out.written,
    });
    if let Some(m) = meta.as_object_mut() {
        if let Some((key, commit)) = provenance::commit(&opts.out) {
            m.insert(key.into(), commit.into());
        }
        if let serde_json::Value::Object(extra) = extra_meta {
            m.extend(extra);
        }
    }
    let meta_text = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
    out.file("meta.json", meta_text.as_bytes())?;
    let experiments = (opts.registry.all)();
    let names: Vec<(&str, &str)> = experiments.iter().map(|e| (e.name(), e.description())).collect();
    crate::report::write_report(&opts.out, &names, opts.registry.protocol, opts.registry.references)?;
    if !opts.quick {
        // The README's and docs pages' blocks beside a folder named results (quick grids never
        // reach them).
        crate::blocks::write_beside(&opts.out)?;
    }
    Ok(RunSummary { name: exp.name(), rows: rows.len(), seconds, files: out.written })
}
