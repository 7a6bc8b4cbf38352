//! Where an experiment's files go: its folder, every file written atomically, and the tidy CSV
//! form of typed rows (one observation per row, shortest round-trip floats, no timestamps).

use crate::plot::{render_to_bytes, Figure, PlotStats};
use gradlab::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;

/// An experiment's folder (results/NAME) and what was written into it.
#[derive(Debug)]
pub struct Output {
    /// The experiment's folder.
    pub dir: PathBuf,
    /// Files written so far, relative to the folder.
    pub written: Vec<String>,
    /// Points left out of figures (0, NaN or infinite on a log axis), per figure.
    pub dropped: Vec<(String, usize)>,
}

impl Output {
    /// Output into `dir` (which must exist).
    pub fn new(dir: PathBuf) -> Self {
        Output { dir, written: Vec::new(), dropped: Vec::new() }
    }

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

    /// [`Output::figure`], returning the Markdown that shows it in the report section
    /// (`![stem](NAME/stem.png)` and a blank line).
    ///
    /// # Errors
    /// [`Error::Write`] when rendering or writing fails.
    pub fn figure_md(&mut self, stem: &str, fig: &Figure) -> Result<String> {
        self.figure(stem, fig)?;
        let name = self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(format!("\n![{stem}]({name}/{stem}.png)\n"))
    }

    /// Writes a file in the experiment's folder atomically.
    ///
    /// # Errors
    /// [`Error::Write`] when writing fails.
    pub fn file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        gradlab::atomic::write(&self.dir.join(name), bytes)?;
        self.written.push(name.to_string());
        Ok(())
    }

    /// Writes `<name>.md`, a block the README or a docs page shows between
    /// `<!-- gradlab:begin results/NAME/<name>.md -->` markers ([`crate::blocks`]), and
    /// returns the same Markdown (for the section to show it too). Its links are relative to the
    /// results folder, as in a section.
    ///
    /// # Errors
    /// [`Error::Write`] when writing fails, or for the name `section` (the report's own file).
    pub fn block(&mut self, name: &str, markdown: &str) -> Result<String> {
        if name == "section" || name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Write {
                path: self.dir.join(format!("{name}.md")),
                reason: "a block's name must be letters, digits and _ other than `section`".into(),
            });
        }
        self.file(&format!("{name}.md"), markdown.as_bytes())?;
        Ok(markdown.to_string())
    }

    /// Writes typed rows as a tidy CSV in the experiment's folder.
    ///
    /// # Errors
    /// [`Error::Write`] when writing fails.
    pub fn csv<R: Serialize>(&mut self, name: &str, rows: &[R]) -> Result<()> {
        let bytes = to_csv(rows).map_err(|reason| Error::Write { path: self.dir.join(name), reason })?;
        self.file(name, &bytes)
    }
}

/// Typed rows as CSV: a header from the field names, then one line per row; floats as the
/// shortest decimal that round-trips (`NaN`, `inf` for non-finite), `None` as an empty field.
///
/// # Errors
/// A message when a row cannot be serialized (a programming error in a row type).
pub fn to_csv<R: Serialize>(rows: &[R]) -> std::result::Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Typed rows read back from CSV written by [`to_csv`] (exactly: every float round-trips).
///
/// # Errors
/// A message naming the first row that does not parse.
pub fn from_csv<R: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<Vec<R>, String> {
    let mut r = csv::Reader::from_reader(bytes);
    r.deserialize().enumerate().map(|(i, row)| row.map_err(|e| format!("row {}: {e}", i + 1))).collect()
}
