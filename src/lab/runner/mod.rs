//! One runner for every experiment.
//!
//! An [`Experiment`] declares its cells and how to run one cell into rows; [`run`] does the
//! rest: cells in parallel on a rayon pool (rows kept in cell order, so the output does not
//! depend on the thread count), a progress bar on stderr, a tidy CSV, a meta.json, the figures
//! and the experiment's section of results/REPORT.md. Every file is written atomically.

pub mod table;

use crate::error::{Error, Result};
use crate::lab::plot::{render_to_bytes, Figure, PlotStats, Series};
use indicatif::{ProgressBar, ProgressStyle};
use plotters::style::RGBColor;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;
pub use table::{Row, Table, Value};

/// An experiment: cells to run independently, then figures and a report section from the rows.
pub trait Experiment: Sync {
    /// The name used by `gradlab run NAME` and the results folder.
    fn name(&self) -> &'static str;
    /// One line for `gradlab list`.
    fn description(&self) -> &'static str;
    /// CSV column names.
    fn columns(&self) -> Vec<&'static str>;
    /// A timing experiment: its cells run one at a time on one thread, its CSV holds wall times
    /// (so it is not byte-reproducible), and `run all` leaves it out.
    fn is_timing(&self) -> bool {
        false
    }
    /// How many cells (quick: a small grid exercising the same code).
    fn cell_count(&self, quick: bool) -> usize;
    /// Runs cell `index` into rows (one value per column). Must be deterministic.
    ///
    /// # Errors
    /// Any library error the cell's configuration causes (a bug in the experiment's grid).
    fn run_cell(&self, quick: bool, index: usize) -> Result<Vec<Row>>;
    /// Writes figures (and extra tables) through `out` and returns the report section (Markdown,
    /// without the heading).
    ///
    /// # Errors
    /// [`Error::Write`] when an output file cannot be written.
    fn finish(&self, quick: bool, table: &Table, out: &mut Output) -> Result<String>;
}

/// Where an experiment's files go, and what was written.
#[derive(Debug)]
pub struct Output {
    /// The experiment's folder (results/NAME).
    pub dir: PathBuf,
    /// Files written so far, relative to the folder.
    pub written: Vec<String>,
    /// Points left out of figures (0, NaN or infinite on a log axis), per figure.
    pub dropped: Vec<(String, usize)>,
}

impl Output {
    /// Renders `fig` to `<stem>.png` and `<stem>.svg` in the experiment's folder.
    ///
    /// # Errors
    /// [`Error::Write`] when rendering or writing fails.
    pub fn figure(&mut self, stem: &str, fig: &Figure) -> Result<PlotStats> {
        let (png, svg, stats) =
            render_to_bytes(fig).map_err(|e| Error::Write { path: self.dir.join(format!("{stem}.png")), reason: e })?;
        self.file(&format!("{stem}.png"), &png)?;
        self.file(&format!("{stem}.svg"), svg.as_bytes())?;
        self.dropped.push((stem.to_string(), stats.dropped));
        Ok(stats)
    }

    /// Writes a file in the experiment's folder atomically.
    ///
    /// # Errors
    /// [`Error::Write`] when writing fails.
    pub fn file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::atomic::write(&self.dir.join(name), bytes)?;
        self.written.push(name.to_string());
        Ok(())
    }

    /// Writes a tidy CSV in the experiment's folder.
    ///
    /// # Errors
    /// [`Error::Write`] when writing fails.
    pub fn csv(&mut self, name: &str, table: &Table) -> Result<()> {
        self.file(name, table.to_csv().as_bytes())
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks running experiments to stop at the next cell (what Ctrl-C does).
pub fn request_stop() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
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

/// The git commit of the working directory (with `-dirty` when tracked files outside the results
/// folder `out` have changes), or `unknown`. Determined once per process, before the first result is written, so that a run's
/// own output does not mark it dirty.
pub fn git_commit(out: &Path) -> String {
    static COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMIT.get_or_init(|| git_commit_now(out)).clone()
}

/// The commit, dirty when tracked files outside the results folder `out` have changes.
fn git_commit_now(out: &Path) -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            // Rewritten results (a new wall time in meta.json) do not make the code dirty.
            let exclude = format!(":(exclude){}", out.display());
            let mut args = vec!["status", "--porcelain", "--untracked-files=no"];
            if out.is_relative() {
                args.extend(["--", ".", exclude.as_str()]);
            }
            let dirty = run(&args).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        _ => "unknown".into(),
    }
}

/// The MPFR library version linked in.
pub fn mpfr_version() -> String {
    // SAFETY: mpfr_get_version returns a pointer to a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(gmp_mpfr_sys::mpfr::get_version()) }.to_string_lossy().into_owned()
}

/// Runs one experiment into `<out>/<name>/` and refreshes `<out>/REPORT.md`.
///
/// # Errors
/// [`Error::Write`] when the output folder is unusable or a file cannot be written.
pub fn run(exp: &dyn Experiment, opts: &RunOptions) -> Result<RunSummary> {
    let dir = opts.out.join(exp.name());
    let commit = git_commit(&opts.out);
    crate::lab::report::ensure_dir(&opts.out)?;
    crate::lab::report::ensure_dir(&dir)?;
    crate::atomic::remove_stale_temporaries(&dir);
    let start = Instant::now();
    let n = exp.cell_count(opts.quick);
    let bar = if opts.progress { ProgressBar::new(n as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} cells {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(exp.name());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(if exp.is_timing() { 1 } else { opts.threads.unwrap_or(0) })
        .build()
        .map_err(|e| Error::Write { path: dir.clone(), reason: format!("cannot start the thread pool: {e}") })?;
    let cells: Vec<Vec<Row>> = pool.install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| {
                if stop_requested() {
                    return Err(Error::Interrupted(format!("{} stopped before finishing its cells", exp.name())));
                }
                let r = exp.run_cell(opts.quick, i);
                bar.inc(1);
                r
            })
            .collect::<Result<_>>()
    })?;
    bar.finish_and_clear();
    let table = Table { columns: exp.columns(), rows: cells.into_iter().flatten().collect() };
    let mut out = Output { dir: dir.clone(), written: Vec::new(), dropped: Vec::new() };
    out.csv(&format!("{}.csv", exp.name()), &table)?;
    let section = pool.install(|| exp.finish(opts.quick, &table, &mut out))?;
    let mut body = section;
    if table.columns.contains(&"status") {
        let bad = (0..table.rows.len()).filter(|&r| table.s(r, "status") != "ok").count();
        if bad > 0 {
            body.push_str(&format!(
                "\n{bad} of {} rows have a non-finite value (status `nonfinite`: an overflow or NaN in the dtype); they stay \
                 in the CSV with their status and are left out of the figures.\n",
                table.rows.len()
            ));
        }
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
    let meta = serde_json::json!({
        "experiment": exp.name(),
        "description": exp.description(),
        "command": opts.command,
        "quick": opts.quick,
        "git_commit": commit,
        "gradlab_version": env!("CARGO_PKG_VERSION"),
        "dependencies": env!("GRADLAB_DEP_VERSIONS"),
        "mpfr_version": mpfr_version(),
        "threads": pool.current_num_threads(),
        "cells": n,
        "rows": table.rows.len(),
        "wall_seconds": (seconds * 1000.0).round() / 1000.0,
        "files": out.written,
    });
    let meta_text = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
    out.file("meta.json", meta_text.as_bytes())?;
    write_report(&opts.out)?;
    Ok(RunSummary { name: exp.name(), rows: table.rows.len(), seconds, files: out.written })
}

/// Rebuilds `<out>/REPORT.md` from every experiment's `section.md` present, in report order.
///
/// # Errors
/// [`Error::Write`] when the report cannot be written.
pub fn write_report(out: &Path) -> Result<()> {
    let mut s = String::from(
        "# gradlab results\n\nGenerated by `cargo run --release -- run all`; every number and figure here comes from \
         the CSVs beside it. Each experiment's folder also holds a meta.json with the command, commit and versions.\n",
    );
    for e in crate::experiments::all() {
        let p = out.join(e.name()).join("section.md");
        if let Ok(body) = std::fs::read_to_string(&p) {
            s.push_str(&format!("\n## {}\n\n*{}*\n\n{}", e.name(), e.description(), body));
        }
    }
    crate::atomic::write(&out.join("REPORT.md"), s.as_bytes())
}

/// A measured curve: solid line with markers.
pub fn line(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::new(label, color, points).with_markers(true)
}

/// A theory or reference line: dashed, no markers.
pub fn dashed(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::new(label, color, points).dashed()
}

/// Reference data points (markers, no line).
pub fn points(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Series {
    Series::scatter(label, color, points)
}
