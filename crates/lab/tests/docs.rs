//! README.md and docs/*.md cannot go stale:
//! - every generated block (`<!-- gradlab:begin results/NAME/BLOCK.md -->`) holds what the
//!   committed results/ hold (`cargo run --release -- run all` rewrites them; `.ci/check-results`
//!   checks results/ itself against a fresh run);
//! - every console transcript marked `<!-- gradlab:console -->` is what the binary prints for its
//!   `$ gradlab ...` lines today (`GRADLAB_BLESS=1 cargo test --release --test docs` rewrites them
//!   from the binary's output instead of failing); every console fence is marked, or marked
//!   `<!-- gradlab:console unchecked: REASON -->`;
//! - the README is at most 400 lines and shows `gradlab diagnose` within its first 60;
//! - every relative link resolves to a file, and every `#anchor` to a heading.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate is crates/lab).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// README.md and docs/*.md with their text.
fn docs() -> Vec<(PathBuf, String)> {
    gradlab_lab::blocks::documents(&root())
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

#[test]
fn generated_blocks_hold_the_committed_results() {
    let rendered = gradlab_lab::blocks::render(&root(), &root().join("results")).unwrap_or_else(|e| panic!("{e}"));
    let mut stale = Vec::new();
    let mut count = 0;
    for r in &rendered {
        count += gradlab_lab::blocks::blocks(&r.current).unwrap().len();
        if r.current != r.generated {
            let (i, (a, b)) = r
                .current
                .lines()
                .zip(r.generated.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .unwrap_or((0, ("(lengths differ)", "")));
            stale.push(format!("{} line {}:\n  has:       {a}\n  generated: {b}", rel(&r.path), i + 1));
        }
    }
    assert!(count >= 3, "expected the README's generated blocks, found {count}");
    assert!(
        stale.is_empty(),
        "blocks differ from results/ (rewrite them with `cargo run --release -- run all`, never by hand):\n{}",
        stale.join("\n")
    );
}

/// A console transcript: where it sits, its options and its commands with their expected output.
struct Console {
    doc: PathBuf,
    /// Line index of the ```console fence.
    fence: usize,
    /// Line index of the closing fence.
    close: usize,
    /// Show at most this many lines of each command's output, then `...`.
    head: Option<usize>,
    /// `unchecked: REASON`.
    unchecked: bool,
}

const CONSOLE: &str = "<!-- gradlab:console";

fn consoles(doc: &Path, text: &str) -> Vec<Console> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut in_fence = false;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if !t.starts_with("```") {
            continue;
        }
        if in_fence {
            in_fence = false;
            continue;
        }
        in_fence = true;
        if t != "```console" {
            continue;
        }
        let close = (i + 1..lines.len()).find(|&j| lines[j].trim_start().starts_with("```")).expect("unclosed fence");
        let marker = i.checked_sub(1).map(|j| lines[j].trim()).filter(|m| m.starts_with(CONSOLE));
        let Some(marker) = marker else {
            panic!("{} line {}: a console block without a `{CONSOLE} -->` marker on the line before", rel(doc), i + 1)
        };
        let opts = marker.trim_start_matches(CONSOLE).trim_end_matches("-->").trim();
        let unchecked = opts.starts_with("unchecked:");
        assert!(!unchecked || opts.len() > "unchecked:".len() + 3, "{} line {i}: say why it is unchecked", rel(doc));
        let head = opts.strip_prefix("head=").map(|n| n.parse().expect("head=N"));
        assert!(
            unchecked || head.is_some() || opts.is_empty(),
            "{} line {i}: unknown console option {opts:?}",
            rel(doc)
        );
        found.push(Console { doc: doc.to_path_buf(), fence: i, close, head, unchecked });
    }
    found
}

/// Splits a command line as a shell would for plain words and '...' or "..." quoting.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, any) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in {line}");
    if any {
        out.push(cur);
    }
    out
}

/// What the binary prints for `$ gradlab ARGS`: stdout, then stderr, trailing blank lines removed,
/// cut to `head` lines (then `...`).
fn run(command: &str, head: Option<usize>) -> Vec<String> {
    let w = words(command);
    assert!(
        w.first().map(String::as_str) == Some("gradlab") && !w.iter().any(|a| a == "|" || a == ">"),
        "a console command must be `gradlab ARGS` without pipes or redirections: {command}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(&w[1..]).current_dir(root()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if let Some(n) = head.filter(|&n| lines.len() > n) {
        lines.truncate(n);
        lines.push("...".into());
    }
    lines
}

#[test]
fn console_transcripts_are_what_the_binary_prints() {
    let bless = std::env::var_os("GRADLAB_BLESS").is_some();
    let mut stale = Vec::new();
    let mut checked = 0;
    for (doc, text) in docs() {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        // Back to front, so that rewriting a block keeps the earlier blocks' line numbers.
        for c in consoles(&doc, &text).into_iter().rev().filter(|c| !c.unchecked) {
            let body = lines[c.fence + 1..c.close].to_vec();
            assert!(
                body.first().is_some_and(|l| l.starts_with("$ ")),
                "{} line {}: starts with `$ gradlab`",
                rel(&doc),
                c.fence + 2
            );
            let mut want = Vec::new();
            for l in body.iter().filter(|l| l.starts_with("$ ")) {
                want.push(l.clone());
                want.extend(run(&l[2..], c.head));
            }
            checked += 1;
            if want != body {
                let i = want.iter().zip(&body).position(|(a, b)| a != b).unwrap_or(want.len().min(body.len()));
                stale.push(format!(
                    "{} line {}:\n  has:    {}\n  prints: {}",
                    rel(&c.doc),
                    c.fence + 2 + i,
                    body.get(i).map_or("(end of block)", String::as_str),
                    want.get(i).map_or("(end of output)", String::as_str)
                ));
                lines.splice(c.fence + 1..c.close, want);
            }
        }
        if bless && stale.iter().any(|s| s.starts_with(&rel(&doc))) {
            std::fs::write(&doc, lines.join("\n") + "\n").unwrap();
        }
    }
    assert!(checked >= 5, "expected the documents' console blocks, found {checked}");
    assert!(
        bless || stale.is_empty(),
        "console transcripts differ from the binary's output (GRADLAB_BLESS=1 cargo test --release --test docs \
         rewrites them; then read the diff):\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_readme_is_short_and_shows_diagnose_first() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let n = text.lines().count();
    assert!(n <= 400, "README.md has {n} lines; move reference material into docs/");
    let blocks = consoles(&root().join("README.md"), &text);
    let first = blocks.first().expect("a console block");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[first.fence + 1].starts_with("$ gradlab diagnose"),
        "the README's first console block is `gradlab diagnose`"
    );
    assert!(
        !first.unchecked && first.close < 60,
        "the first diagnose example ends on line {}, past 60",
        first.close + 1
    );
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped, spaces
/// to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code fences), duplicates numbered.
fn anchors(text: &str) -> HashSet<String> {
    let (mut set, mut in_fence) = (HashSet::new(), false);
    for l in text.lines() {
        if l.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        if let Some(h) = l.strip_prefix('#').map(|h| h.trim_start_matches('#')).filter(|h| h.starts_with(' ')) {
            let base = slug(h);
            let mut a = base.clone();
            let mut k = 0;
            while set.contains(&a) {
                k += 1;
                a = format!("{base}-{k}");
            }
            set.insert(a);
        }
    }
    set
}

/// The targets of the Markdown links `](target)` of a text, outside code fences and code spans.
fn links(text: &str) -> Vec<(usize, String)> {
    let (mut out, mut in_fence) = (Vec::new(), false);
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop code spans.
        let plain: String = l.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(k) = rest.find("](") {
            rest = &rest[k + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            out.push((i + 1, rest[..end].trim().to_string()));
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn relative_links_resolve() {
    let mut bad = Vec::new();
    let mut count = 0;
    for (doc, text) in docs() {
        let dir = doc.parent().unwrap();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            count += 1;
            let (path, anchor) = target.split_once('#').map_or((target.as_str(), None), |(p, a)| (p, Some(a)));
            let file = if path.is_empty() { doc.clone() } else { dir.join(path) };
            if !file.exists() {
                bad.push(format!("{} line {line}: {target}: no such file", rel(&doc)));
                continue;
            }
            if let Some(a) = anchor {
                let ok = file.extension().is_some_and(|x| x == "md")
                    && anchors(&std::fs::read_to_string(&file).unwrap()).contains(a);
                if !ok {
                    bad.push(format!("{} line {line}: {target}: no heading with that anchor", rel(&doc)));
                }
            }
        }
    }
    assert!(count > 20, "expected the documents' links, found {count}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_link_checker_sees_what_github_does() {
    assert_eq!(slug("`gradlab check`"), "gradlab-check");
    assert_eq!(slug("How the numbers are made"), "how-the-numbers-are-made");
    assert_eq!(slug("Sweeps on a cluster: shards and merge"), "sweeps-on-a-cluster-shards-and-merge");
    let a = anchors("# A\n## A\n```\n# not\n```\n## b_c (d)\n");
    assert!(a.contains("a") && a.contains("a-1") && a.contains("b_c-d") && !a.contains("not"));
    assert_eq!(
        links("[x](a.md#b) `[y](no)` ![z](p.png)\n```\n[w](no)\n```"),
        [(1, "a.md#b".into()), (1, "p.png".into())]
    );
    assert_eq!(words(r#"gradlab check --eps '1e-2,1e-3' "a b""#), ["gradlab", "check", "--eps", "1e-2,1e-3", "a b"]);
}
