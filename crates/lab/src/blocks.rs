//! Generated blocks in README.md and docs/*.md: the numbers a reader sees there come from
//! results/, written by the same run that writes REPORT.md.
//!
//! A document marks a block with two HTML comments naming a Markdown file under results/:
//!
//! ```text
//! <!-- gradlab:begin results/methods/auto_vs_best.md -->
//! (whatever the run wrote there)
//! <!-- gradlab:end results/methods/auto_vs_best.md -->
//! ```
//!
//! An experiment writes such a file beside its section.md from its rows
//! ([`Output::block`](crate::runner::Output::block)); every link in it is relative to the
//! results folder, as in a section. [`write_beside`] (called by every run that writes
//! results/REPORT.md) replaces each block's lines by that file, its links rewritten to be
//! relative to the document, and writes the document atomically when it changed; [`render`]
//! computes the same text without writing (for `.ci/check-results` and the tests).

use gradlab::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The opening marker, followed by the block's source and ` -->`.
pub const BEGIN: &str = "<!-- gradlab:begin ";
/// The closing marker, followed by the same source and ` -->`.
pub const END: &str = "<!-- gradlab:end ";

/// The folder name whose sibling README.md and docs/ hold blocks.
pub const RESULTS_DIR: &str = "results";

/// One marked block of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The source named by the markers, a path relative to the repository root
    /// (`results/NAME/BLOCK.md`).
    pub source: String,
    /// The line index (from 0) of the opening marker.
    pub begin: usize,
    /// The line index of the closing marker.
    pub end: usize,
}

/// The source named by a marker line `<!-- gradlab:begin SOURCE -->` (with `marker` = [`BEGIN`]
/// or [`END`]), if the line is one.
fn marker_source<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.trim().strip_prefix(marker)?.strip_suffix("-->").map(str::trim)
}

/// The blocks of a document, in order (markers inside fenced code blocks are ignored).
///
/// # Errors
/// A message naming the line of a marker without its partner, a block inside a block, a
/// closing marker naming another source, or a source that is not a Markdown file under
/// results/ (`results/NAME/BLOCK.md`).
pub fn blocks(text: &str) -> std::result::Result<Vec<Block>, String> {
    let mut found = Vec::new();
    let mut open: Option<(usize, &str)> = None;
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        // Markers shown inside a fenced code block are text, not markers.
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(src) = marker_source(line, BEGIN) {
            if let Some((at, prev)) = open {
                return Err(format!("line {}: block {src} opens inside block {prev} (line {})", i + 1, at + 1));
            }
            check_source(src).map_err(|e| format!("line {}: {e}", i + 1))?;
            open = Some((i, src));
        } else if let Some(src) = marker_source(line, END) {
            match open.take() {
                Some((at, prev)) if prev == src => found.push(Block { source: src.to_string(), begin: at, end: i }),
                Some((at, prev)) => {
                    return Err(format!("line {}: block {prev} (line {}) is closed as {src}", i + 1, at + 1))
                }
                None => return Err(format!("line {}: block {src} closes without opening", i + 1)),
            }
        }
    }
    match open {
        Some((at, src)) => Err(format!("line {}: block {src} never closes (expected `{END}{src} -->`)", at + 1)),
        None => Ok(found),
    }
}

/// Checks that a block's source is `results/NAME/BLOCK.md` with plain names.
fn check_source(src: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = src.split('/').collect();
    let plain = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    let ok = parts.len() == 3
        && parts[0] == RESULTS_DIR
        && parts[1..].iter().all(|p| plain(p) && *p != "." && *p != "..")
        && parts[2].ends_with(".md")
        && parts[2] != "section.md";
    if ok {
        Ok(())
    } else {
        Err(format!("block source {src:?}: expected results/NAME/BLOCK.md (a block file an experiment writes)"))
    }
}

/// Rewrites the relative links of Markdown written for the results folder (`](NAME/x.png)`,
/// `](REPORT.md#a)`) so that they hold from a document `depth` folders below the repository
/// root (`results/...` from README.md, `../results/...` from docs/x.md). Absolute URLs, anchors
/// within the page and absolute paths are left alone.
pub fn relink(markdown: &str, depth: usize) -> String {
    let prefix = format!("{}{RESULTS_DIR}/", "../".repeat(depth));
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i + 2]);
        rest = &rest[i + 2..];
        let target = &rest[..rest.find(')').unwrap_or(rest.len())];
        let absolute = target.is_empty() || target.starts_with(['#', '/']) || target.contains(':');
        if !absolute {
            out.push_str(&prefix);
        }
    }
    out.push_str(rest);
    out
}

/// `text` with every block's lines replaced by its source's Markdown (from `source`, given the
/// block's source path), relinked for a document `depth` folders below the root. The markers
/// stay; the rest of the document is unchanged.
///
/// # Errors
/// A message for a malformed marker or a source that cannot be read.
pub fn fill(
    text: &str,
    depth: usize,
    mut source: impl FnMut(&str) -> std::result::Result<String, String>,
) -> std::result::Result<String, String> {
    fill_as_is(text, |src| source(src).map(|m| relink(&m, depth)))
}

/// `text` with every block's lines replaced by its source's Markdown as it is (no relinking):
/// for results/REPORT.md, whose links already hold from the results folder.
///
/// # Errors
/// A message for a malformed marker or a source that cannot be read.
pub fn fill_as_is(
    text: &str,
    mut source: impl FnMut(&str) -> std::result::Result<String, String>,
) -> std::result::Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    let mut next = 0;
    for b in blocks(text)? {
        for l in &lines[next..=b.begin] {
            out.push_str(l);
            out.push('\n');
        }
        let body = source(&b.source)?;
        out.push_str(body.trim_end_matches('\n'));
        out.push('\n');
        next = b.end;
    }
    for l in &lines[next..] {
        out.push_str(l);
        out.push('\n');
    }
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// The documents that may hold blocks under `root`: README.md and the Markdown files of docs/,
/// in name order (those that exist).
pub fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .map(|rd| {
            rd.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.extension().is_some_and(|x| x == "md")).collect()
        })
        .unwrap_or_default();
    docs.sort();
    let readme = root.join("README.md");
    if readme.is_file() {
        docs.insert(0, readme);
    }
    docs
}

/// A document as it is and as the blocks from `results` (the results folder) make it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The document.
    pub path: PathBuf,
    /// Its text now.
    pub current: String,
    /// Its text with every block filled from the results folder.
    pub generated: String,
}

/// Every document under `root` ([`documents`]) with its blocks filled from `results`.
///
/// # Errors
/// [`Error::Read`] naming the document and line of a malformed marker, or a block whose source
/// is missing from `results` (with the command that writes it).
pub fn render(root: &Path, results: &Path) -> Result<Vec<Rendered>> {
    documents(root)
        .into_iter()
        .map(|path| {
            let current = std::fs::read_to_string(&path)
                .map_err(|e| Error::Read { path: path.clone(), reason: e.to_string() })?;
            let depth = path.strip_prefix(root).map_or(0, |p| p.components().count().saturating_sub(1));
            let generated = fill(&current, depth, |src| {
                let rel = src.strip_prefix(&format!("{RESULTS_DIR}/")).unwrap_or(src);
                let file = results.join(rel);
                let name = rel.split('/').next().unwrap_or(rel);
                std::fs::read_to_string(&file).map_err(|e| {
                    format!("block {src}: cannot read {} ({e}); `gradlab run {name}` writes it", file.display())
                })
            })
            .map_err(|reason| Error::Read { path: path.clone(), reason })?;
            Ok(Rendered { path, current, generated })
        })
        .collect()
}

/// The repository root whose README.md and docs/ take their blocks from `out`: `out`'s parent
/// when `out` is a folder named `results` with a README.md beside it.
pub fn root_beside(out: &Path) -> Option<PathBuf> {
    if out.file_name()? != RESULTS_DIR {
        return None;
    }
    let root = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    root.join("README.md").is_file().then_some(root)
}

/// Rewrites, atomically, every document beside the results folder `out` ([`root_beside`])
/// whose blocks differ from what `out` holds; returns the documents written. A block whose
/// source `out` does not hold yet (an experiment of a `run all` still to come) keeps its lines:
/// the run that writes the source fills it, and tests/docs.rs checks every source exists in the
/// committed results/.
///
/// # Errors
/// [`Error::Read`] for a malformed marker; [`Error::Write`] when a document cannot be written.
pub fn write_beside(out: &Path) -> Result<Vec<PathBuf>> {
    let Some(root) = root_beside(out) else { return Ok(Vec::new()) };
    let mut written = Vec::new();
    for path in documents(&root) {
        let current =
            std::fs::read_to_string(&path).map_err(|e| Error::Read { path: path.clone(), reason: e.to_string() })?;
        let depth = path.strip_prefix(&root).map_or(0, |p| p.components().count().saturating_sub(1));
        let generated = fill(&current, depth, |src| {
            let file = out.join(src.strip_prefix(&format!("{RESULTS_DIR}/")).unwrap_or(src));
            // Missing: keep the block's current lines (see above).
            Ok(std::fs::read_to_string(file).unwrap_or_else(|_| current_body(&current, src)))
        })
        .map_err(|reason| Error::Read { path: path.clone(), reason })?;
        if generated != current {
            gradlab::atomic::write(&path, generated.as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The lines between a block's markers as they are in `text`, with the prefix [`relink`] added
/// to their links removed again, so that filling them back gives the same lines.
fn current_body(text: &str, src: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Ok(bs) = blocks(text) else { return String::new() };
    let Some(b) = bs.iter().find(|b| b.source == src) else { return String::new() };
    let body = lines[b.begin + 1..b.end].join("\n");
    unlink(&body)
}

/// The inverse of [`relink`]: removes the `results/` (or `../results/`, ...) prefix from links.
fn unlink(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i + 2]);
        rest = &rest[i + 2..];
        let mut r = rest;
        while let Some(s) = r.strip_prefix("../") {
            r = s;
        }
        if let Some(s) = r.strip_prefix(&format!("{RESULTS_DIR}/")) {
            rest = s;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_blocks_and_keeps_the_rest() {
        let doc = "# t\n<!-- gradlab:begin results/m/a.md -->\nold\n<!-- gradlab:end results/m/a.md -->\ntail\n";
        let got = fill(doc, 0, |s| Ok(format!("new from {s}\nsee ![f](m/f.png)\n"))).unwrap();
        assert_eq!(
            got,
            "# t\n<!-- gradlab:begin results/m/a.md -->\nnew from results/m/a.md\nsee ![f](results/m/f.png)\n\
             <!-- gradlab:end results/m/a.md -->\ntail\n"
        );
        let deep = fill(doc, 1, |_| Ok("[r](REPORT.md#m) [w](https://x.org/a) [h](#here)".into())).unwrap();
        assert!(deep.contains("[r](../results/REPORT.md#m) [w](https://x.org/a) [h](#here)"), "{deep}");
        // Filling twice is filling once.
        assert_eq!(fill(&got, 0, |s| Ok(format!("new from {s}\nsee ![f](m/f.png)\n"))).unwrap(), got);
    }

    #[test]
    fn malformed_markers_name_their_line() {
        let e = |doc: &str| blocks(doc).unwrap_err();
        assert!(e("<!-- gradlab:begin results/m/a.md -->\n").contains("line 1: block results/m/a.md never closes"));
        assert!(e("x\n<!-- gradlab:end results/m/a.md -->\n").contains("line 2"));
        assert!(e("<!-- gradlab:begin results/m/a.md -->\n<!-- gradlab:end results/m/b.md -->").contains("closed as"));
        assert!(e("<!-- gradlab:begin results/m/a.md -->\n<!-- gradlab:begin results/m/b.md -->").contains("inside"));
        assert!(e("<!-- gradlab:begin ../etc/passwd -->").contains("expected results/NAME/BLOCK.md"));
        assert!(e("<!-- gradlab:begin results/m/section.md -->").contains("expected"));
        assert_eq!(blocks("```text\n<!-- gradlab:begin results/m/a.md -->\n```\n"), Ok(vec![]));
    }

    #[test]
    fn unlink_inverts_relink() {
        let md = "![a](m/a.png) and [b](REPORT.md#x), [c](https://e.org), [d](#d)";
        for depth in 0..3 {
            assert_eq!(unlink(&relink(md, depth)), md);
        }
    }

    #[test]
    fn writes_only_beside_a_folder_named_results_with_a_readme() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("results");
        std::fs::create_dir_all(out.join("m")).unwrap();
        std::fs::write(out.join("m/a.md"), "fresh ![f](m/f.png)\n").unwrap();
        assert!(write_beside(&out).unwrap().is_empty(), "no README: nothing to do");
        let doc = "<!-- gradlab:begin results/m/a.md -->\nstale\n<!-- gradlab:end results/m/a.md -->\n\
                   <!-- gradlab:begin results/n/b.md -->\nkept [r](results/REPORT.md)\n<!-- gradlab:end results/n/b.md -->\n";
        std::fs::write(tmp.path().join("README.md"), doc).unwrap();
        std::fs::create_dir(tmp.path().join("docs")).unwrap();
        std::fs::write(
            tmp.path().join("docs/x.md"),
            "<!-- gradlab:begin results/m/a.md -->\n<!-- gradlab:end results/m/a.md -->\n",
        )
        .unwrap();
        assert_eq!(write_beside(&out).unwrap().len(), 2);
        let readme = std::fs::read_to_string(tmp.path().join("README.md")).unwrap();
        assert!(readme.contains("fresh ![f](results/m/f.png)") && readme.contains("kept [r](results/REPORT.md)"));
        let page = std::fs::read_to_string(tmp.path().join("docs/x.md")).unwrap();
        assert!(page.contains("fresh ![f](../results/m/f.png)"), "{page}");
        assert!(write_beside(&out).unwrap().is_empty(), "a second run changes nothing");
        // render reports the block whose source is missing.
        let err = render(tmp.path(), &out).unwrap_err().to_string();
        assert!(err.contains("block results/n/b.md") && err.contains("gradlab run n"), "{err}");
        // Not named results: nothing.
        let other = tmp.path().join("elsewhere");
        std::fs::create_dir(&other).unwrap();
        assert!(write_beside(&other).unwrap().is_empty());
    }
}
