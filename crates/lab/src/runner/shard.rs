//! Sweeps that outgrow one machine: `gradlab run NAME --shard K/N` runs the K-th of N
//! deterministic slices of an experiment's cells and writes only its rows
//! (`<out>/NAME/shard-K-of-N.csv` and `.json`); `gradlab merge DIR... --out DIR` checks that the
//! shards belong together and finishes the run from their rows, byte-identical to one run.
//!
//! Slice K holds the cells [(K - 1) C / N, K C / N) of the C cells, so the slices in order are
//! the cells in order, and concatenating their rows gives the rows of one run.

use super::{RunOptions, RunSummary, Runnable};
use gradlab::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The K-th of N slices of an experiment's cells (K from 1 to N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    ///
    /// # Errors
    /// [`Error::Value`] naming the text.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::value("shard", text, format!("K/N with whole numbers 1 <= K <= N{why}"));
        let (k, n) = text.trim().split_once('/').ok_or_else(|| bad(""))?;
        let (k, n): (usize, usize) = match (k.trim().parse(), n.trim().parse()) {
            (Ok(k), Ok(n)) => (k, n),
            _ => return Err(bad("")),
        };
        if n == 0 || k == 0 || k > n {
            return Err(bad(&format!("; {k}/{n} has K outside 1..={n}")));
        }
        Ok(Shard { index: k, count: n })
    }

    /// The cells of this slice out of `total`.
    ///
    /// # Errors
    /// [`Error::Value`] when there are fewer cells than shards (a slice would be empty).
    pub fn cells(self, total: usize, experiment: &str) -> Result<Range<usize>> {
        if self.count > total {
            return Err(Error::value(
                "shard count",
                self.count.to_string(),
                format!("at most {total}, the number of cells of {experiment}"),
            ));
        }
        Ok((self.index - 1) * total / self.count..self.index * total / self.count)
    }

    /// The file stem `shard-K-of-N`.
    pub fn stem(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a shard records beside its rows: enough to check that shards belong together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// The experiment.
    pub experiment: String,
    /// Quick or full settings.
    pub quick: bool,
    /// K.
    pub shard: usize,
    /// N.
    pub shards: usize,
    /// The experiment's number of cells.
    pub cells: usize,
    /// The slice of cells this shard ran, [first_cell, end_cell).
    pub first_cell: usize,
    /// End of the slice (exclusive).
    pub end_cell: usize,
    /// Rows written.
    pub rows: usize,
    /// The digest of the source that ran it ([`super::provenance::source`]).
    pub source: String,
    /// gradlab's version.
    pub gradlab_version: String,
    /// The command line.
    pub command: String,
    /// Wall time in seconds.
    pub wall_seconds: f64,
}

/// Writes a shard's rows and meta (nothing else: no figure, no section, no report).
///
/// # Errors
/// [`Error::Write`] when a file cannot be written.
#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    dir: &Path,
    name: &'static str,
    shard: Shard,
    range: &Range<usize>,
    cells: usize,
    csv: &[u8],
    rows: usize,
    opts: &RunOptions,
    start: Instant,
) -> Result<RunSummary> {
    let stem = shard.stem();
    let seconds = start.elapsed().as_secs_f64();
    let meta = ShardMeta {
        experiment: name.to_string(),
        quick: opts.quick,
        shard: shard.index,
        shards: shard.count,
        cells,
        first_cell: range.start,
        end_cell: range.end,
        rows,
        source: super::provenance::source().to_string(),
        gradlab_version: env!("CARGO_PKG_VERSION").to_string(),
        command: opts.command.clone(),
        wall_seconds: (seconds * 1000.0).round() / 1000.0,
    };
    let json = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
    gradlab::atomic::write(&dir.join(format!("{stem}.csv")), csv)?;
    // The meta last: a shard without its meta is not found by merge.
    gradlab::atomic::write(&dir.join(format!("{stem}.json")), json.as_bytes())?;
    Ok(RunSummary { name, rows, seconds, files: vec![format!("{stem}.csv"), format!("{stem}.json")] })
}

/// Every shard meta in `dirs` (each searched as `DIR/*/shard-K-of-N.json`), with its path.
///
/// # Errors
/// [`Error::Read`] for a folder that cannot be read, holds no shard, or a meta that does not parse.
fn find(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, ShardMeta)>> {
    let mut found = Vec::new();
    for dir in dirs {
        let rerr = |reason: String| Error::Read { path: dir.clone(), reason };
        let entries = std::fs::read_dir(dir).map_err(|e| rerr(format!("not a readable folder ({e})")))?;
        let mut here = Vec::new();
        let mut subdirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        subdirs.sort();
        for sub in subdirs {
            let Ok(files) = std::fs::read_dir(&sub) else { continue };
            let mut files: Vec<PathBuf> = files.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if name.starts_with("shard-") && name.ends_with(".json") {
                    let text = std::fs::read_to_string(&f)
                        .map_err(|e| Error::Read { path: f.clone(), reason: e.to_string() })?;
                    let meta: ShardMeta = serde_json::from_str(&text).map_err(|e| Error::Read {
                        path: f.clone(),
                        reason: format!("not a shard meta written by gradlab run --shard ({e})"),
                    })?;
                    here.push((f, meta));
                }
            }
        }
        if here.is_empty() {
            return Err(rerr(
                "no shard-K-of-N.json in its experiment folders; expected the --out folder of `gradlab \
                 run NAME --shard K/N`"
                    .into(),
            ));
        }
        found.extend(here);
    }
    Ok(found)
}

/// Checks that the shards in `dirs` are exactly the N slices of one run of one experiment, made
/// by this code, and finishes that run into `opts.out`. Nothing is written unless every check
/// passes.
///
/// # Errors
/// One sentence for: no shard found, shards of different experiments, settings or commits, a
/// shard made by other code than this, a missing or duplicated shard, a shard whose rows do not
/// match its meta; [`Error::Write`] when writing fails.
pub fn merge(dirs: &[PathBuf], opts: &RunOptions, experiments: &[Box<dyn Runnable>]) -> Result<RunSummary> {
    let found = find(dirs)?;
    let (first_path, first) = &found[0];
    let differ = |what: &str, path: &Path, a: String, b: String| {
        Error::Shard(format!(
            "they do not belong together: {} has {what} {b} but {} has {a}",
            path.display(),
            first_path.display()
        ))
    };
    for (path, m) in &found[1..] {
        if m.experiment != first.experiment {
            return Err(differ("experiment", path, first.experiment.clone(), m.experiment.clone()));
        }
        if m.quick != first.quick {
            let s = |q: bool| if q { "--quick".to_string() } else { "full settings".to_string() };
            return Err(differ("settings", path, s(first.quick), s(m.quick)));
        }
        if m.source != first.source {
            return Err(differ("source", path, first.source.clone(), m.source.clone()));
        }
        if (m.shards, m.cells) != (first.shards, first.cells) {
            let s = |m: &ShardMeta| format!("{} shards of {} cells", m.shards, m.cells);
            return Err(differ("a split into", path, s(first), s(m)));
        }
    }
    let here = super::provenance::source();
    if first.source != here {
        return Err(Error::Shard(format!(
            "the shards were made by source {} but this gradlab was built from {here}; merge with the code that ran them",
            first.source
        )));
    }
    let Some(exp) = experiments.iter().find(|e| e.name() == first.experiment) else {
        return Err(Error::UnknownExperiment(first.experiment.clone()));
    };
    let cells = exp.cell_count(first.quick);
    if cells != first.cells {
        return Err(Error::Shard(format!(
            "the shards of {} split {} cells but this gradlab has {cells}; they were made by other code",
            first.experiment, first.cells
        )));
    }
    let mut by_index: BTreeMap<usize, &PathBuf> = BTreeMap::new();
    for (path, m) in &found {
        if let Some(other) = by_index.insert(m.shard, path) {
            return Err(Error::Shard(format!(
                "shard {}/{} of {} appears twice: {} and {}",
                m.shard,
                m.shards,
                m.experiment,
                other.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> =
        (1..=first.shards).filter(|k| !by_index.contains_key(k)).map(|k| format!("{k}/{}", first.shards)).collect();
    if !missing.is_empty() {
        return Err(Error::Shard(format!(
            "shard {} of {} missing; expected all {} shards",
            missing.join(", "),
            first.experiment,
            first.shards
        )));
    }
    // The rows of the shards in order are the rows of one run.
    let mut csv: Vec<u8> = Vec::new();
    let mut header: Option<Vec<u8>> = None;
    let mut shard_seconds = Vec::new();
    for (k, meta_path) in &by_index {
        let (_, meta) = found.iter().find(|(p, _)| p == *meta_path).unwrap_or_else(|| unreachable!("indexed above"));
        let expected = Shard { index: *k, count: first.shards }.cells(cells, &first.experiment)?;
        let path = meta_path.with_extension("csv");
        let rerr = |reason: String| Error::Read { path: path.clone(), reason };
        if (meta.first_cell, meta.end_cell) != (expected.start, expected.end) {
            return Err(rerr(format!(
                "its meta says cells {}..{}, expected {}..{} for shard {k}/{}",
                meta.first_cell, meta.end_cell, expected.start, expected.end, first.shards
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| rerr(e.to_string()))?;
        let split = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| p + 1);
        let (head, body) = bytes.split_at(split);
        match &header {
            None => {
                csv.extend_from_slice(head);
                header = Some(head.to_vec());
            }
            Some(h) if h != head => return Err(rerr("its CSV header differs from the other shards'".into())),
            Some(_) => {}
        }
        let records = csv::Reader::from_reader(&bytes[..]).records().count();
        if records != meta.rows {
            return Err(rerr(format!("it holds {records} rows but its meta says {}", meta.rows)));
        }
        csv.extend_from_slice(body);
        shard_seconds.push(meta.wall_seconds);
    }
    let extra = serde_json::json!({ "merged_shards": first.shards, "shard_wall_seconds": shard_seconds });
    let opts = RunOptions { quick: first.quick, ..opts.clone() };
    exp.finish_from_csv(&csv, &opts, extra)
}
