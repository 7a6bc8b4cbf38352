//! The layer check: every `use crate::` (and `gradlab::`, `super::`) in each crate of the
//! workspace points down: the core (src/), the plotting crate (crates/plot/src/) and the lab
//! (crates/lab/src/ with experiments/ as its module `experiments`), and the Python module
//! (crates/py/src/). Between crates, cargo itself
//! keeps the direction (core, then plot, then lab: a dependency cycle does not build).
//!
//! Each crate's lib.rs module doc lists its top-level modules bottom to top under "# Layers"; a
//! module may name only modules listed before it. Inside any module, its files (siblings under
//! one parent) must not import each other in a cycle. The check reads the source text: comments,
//! strings and macro bodies' `$crate::` paths are skipped. It runs in `cargo test` (hence in
//! .ci/run), and its own tests plant an upward import and a sibling cycle and see it fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path (`["numeric", "fast"]`) and its text.
struct SourceFile {
    module: Vec<String>,
    text: String,
}

/// Every .rs file of the folders `dirs` (each with the module path it is mounted at), except
/// the binaries under src/bin, with its module path.
fn read_tree(root: &Path, dirs: &[Mount]) -> Vec<SourceFile> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir).expect("readable source dir").map(|e| e.expect("dir entry").path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for &(dir, prefix) in dirs {
        let mut paths = Vec::new();
        walk(&root.join(dir), &mut paths);
        for p in paths {
            let rel = p.strip_prefix(root.join(dir)).expect("under its dir");
            let mut module: Vec<String> = prefix.into_iter().map(str::to_string).collect();
            module.extend(rel.with_extension("").iter().map(|c| c.to_string_lossy().into_owned()));
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            if module.first().is_some_and(|m| m == "bin") {
                continue;
            }
            files.push(SourceFile { module, text: std::fs::read_to_string(&p).expect("readable source") });
        }
    }
    files
}

/// `text` with comments, string and character literals blanked (newlines kept), so that what
/// remains is code.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(b.get(i.wrapping_sub(1))) {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(b[j]));
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 3..b.len().min(i + 12)).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(j) => i = j + 1,
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The paths a file names, each as its segments from its root keyword (`crate`, `gradlab`,
/// `super`, `self`), with `use` groups expanded: `use crate::{a::X, b::{c, d}}` gives
/// `crate a X`, `crate b c`, `crate b d`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !ident_char(b.get(i)) || ident_char(b.get(i.wrapping_sub(1))) || (i > 0 && b[i - 1] == '$') {
            i += 1;
            continue;
        }
        let start = i;
        while ident_char(b.get(i)) {
            i += 1;
        }
        let word: String = b[start..i].iter().collect();
        if !matches!(word.as_str(), "crate" | "gradlab" | "gradlab_plot" | "gradlab_lab" | "super" | "self")
            || b.get(i) != Some(&':')
        {
            continue;
        }
        // A path that starts with a root keyword: read it, groups included.
        let (tails, end) = path_tail(&b, i);
        for t in tails {
            let mut p = vec![word.clone()];
            p.extend(t);
            out.push(p);
        }
        i = end;
    }
    out
}

/// Reads `::seg::seg...` or `::{...}` at `i`; returns every path it spells and where it ends.
fn path_tail(b: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut segs: Vec<String> = Vec::new();
    loop {
        let skip_ws = |mut j: usize| {
            while b.get(j).is_some_and(|c| c.is_whitespace()) {
                j += 1;
            }
            j
        };
        let j = skip_ws(i);
        if b.get(j) != Some(&':') || b.get(j + 1) != Some(&':') {
            return (vec![segs], i);
        }
        i = skip_ws(j + 2);
        if b.get(i) == Some(&'{') {
            let mut all = Vec::new();
            i += 1;
            loop {
                i = skip_ws(i);
                match b.get(i) {
                    None => return (all, i),
                    Some('}') => return (all, i + 1),
                    Some(',') => i += 1,
                    _ => {
                        let start = i;
                        while ident_char(b.get(i)) || b.get(i) == Some(&'*') {
                            i += 1;
                        }
                        let first: String = b[start..i].iter().collect();
                        if first.is_empty() {
                            i += 1;
                            continue;
                        }
                        let (tails, end) = path_tail(b, i);
                        for t in tails {
                            let mut p = segs.clone();
                            p.push(first.clone());
                            p.extend(t);
                            all.push(p);
                        }
                        i = end;
                        // Skip `as name` and anything else up to the next item.
                        while b.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                            i += 1;
                        }
                    }
                }
            }
        }
        let start = i;
        while ident_char(b.get(i)) {
            i += 1;
        }
        if start == i {
            return (vec![segs], i);
        }
        segs.push(b[start..i].iter().collect());
    }
}

/// What the crate declares and where: its name as its own files say it (`gradlab`,
/// `gradlab_lab`), its modules, its exported macros' modules, and the crate-root re-exports
/// (`pub use error::{Error, Result}`).
struct Crate {
    own: &'static str,
    modules: BTreeSet<Vec<String>>,
    macros: BTreeMap<String, Vec<String>>,
    root_items: BTreeMap<String, Vec<String>>,
}

impl Crate {
    fn new(own: &'static str, files: &[SourceFile]) -> Self {
        let modules = files.iter().map(|f| f.module.clone()).collect();
        let mut macros = BTreeMap::new();
        let mut root_items = BTreeMap::new();
        for f in files {
            let code = code_only(&f.text);
            for (k, _) in code.match_indices("macro_rules!") {
                let name: String =
                    code[k + 12..].trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                macros.insert(name, f.module.clone());
            }
            if f.module.is_empty() {
                for p in paths(&code.replace("pub use ", "pub use crate::")) {
                    if p.len() == 3 && p[0] == "crate" {
                        root_items.insert(p[2].clone(), vec![p[1].clone()]);
                    }
                }
            }
        }
        Crate { own, modules, macros, root_items }
    }

    /// The module a path from `from` names: the longest prefix of its resolved segments that
    /// is a module (an item's path gives the module that holds it). `None` for paths outside the
    /// crate.
    fn target(&self, from: &[String], path: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String>;
        let mut rest = &path[1..];
        match path[0].as_str() {
            "crate" => base = Vec::new(),
            name if name == self.own => base = Vec::new(),
            "self" | "super" => {
                // `self` is the file's own module; `super` (any number of times) its parent.
                base = from.to_vec();
                if path[0] == "super" {
                    base.pop();
                }
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            _ => return None,
        }
        if base.is_empty() {
            if let Some(first) = rest.first() {
                if let Some(m) = self.macros.get(first.as_str()) {
                    return Some(m.clone());
                }
                if let Some(m) = self.root_items.get(first.as_str()) {
                    return Some(m.clone());
                }
            }
        }
        let mut best = base.clone();
        for s in rest {
            base.push(s.clone());
            if self.modules.contains(&base) {
                best = base.clone();
            } else {
                break;
            }
        }
        Some(best)
    }
}

/// The layers lib.rs declares: the backticked module names of the numbered lines under
/// "# Layers" in its module doc, bottom to top.
fn declared_order(lib_rs: &str) -> Vec<String> {
    let mut order = Vec::new();
    let mut inside = false;
    for line in lib_rs.lines().take_while(|l| l.starts_with("//!")) {
        let l = line.trim_start_matches("//!").trim();
        if l.starts_with('#') {
            inside = l == "# Layers";
            continue;
        }
        if inside && l.split('.').next().is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())) {
            let names = l.split(':').next().unwrap_or("");
            order.extend(names.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    order
}

/// Every violation in `files`: an import of a top-level module not below the importer in
/// `order`, a top-level module missing from `order`, and every cycle among sibling files.
fn violations(own: &'static str, files: &[SourceFile], order: &[String]) -> Vec<String> {
    let krate = Crate::new(own, files);
    let mut problems = Vec::new();
    let rank = |m: &str| order.iter().position(|o| o == m);
    for top in krate.modules.iter().filter(|m| m.len() == 1) {
        if rank(&top[0]).is_none() {
            problems.push(format!("module `{}` is not listed under lib.rs's # Layers", top[0]));
        }
    }
    // Sibling edges: parent module -> (child -> children it names).
    let mut siblings: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for f in files {
        for p in paths(&code_only(&f.text)) {
            let Some(to) = krate.target(&f.module, &p) else { continue };
            let common = f.module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == 0 {
                let (Some(from_top), Some(to_top)) = (f.module.first(), to.first()) else { continue };
                let (a, b) = (rank(from_top), rank(to_top));
                if a.is_some() && b.is_some() && b >= a && seen.insert((f.module.clone(), to_top.clone())) {
                    problems.push(format!(
                        "{} uses `{}` ({}), which is not below `{from_top}` in lib.rs's # Layers",
                        f.module.join("::"),
                        p.join("::"),
                        to_top
                    ));
                }
            } else if f.module.len() > common && to.len() > common {
                siblings
                    .entry(f.module[..common].to_vec())
                    .or_default()
                    .entry(f.module[common].clone())
                    .or_default()
                    .insert(to[common].clone());
            }
        }
    }
    for (parent, graph) in &siblings {
        for cycle in cycles(graph) {
            let at = if parent.is_empty() { "the crate".to_string() } else { parent.join("::") };
            problems.push(format!("cycle among the files of {at}: {}", cycle.join(" -> ")));
        }
    }
    problems
}

/// The strongly connected components of more than one node (Tarjan), each as its nodes in order.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A source folder (relative to the workspace root) and the module it is mounted at.
type Mount = (&'static str, Option<&'static str>);

/// The workspace's crates: the name their own files use, and their source folders (relative
/// to the workspace root) with the module each is mounted at.
const CRATES: [(&str, &[Mount]); 4] = [
    ("gradlab", &[("src", None)]),
    ("gradlab_plot", &[("crates/plot/src", None)]),
    ("gradlab_lab", &[("crates/lab/src", None), ("experiments", Some("experiments"))]),
    ("_core", &[("crates/py/src", None)]),
];

fn tree_and_order_of(dirs: &[Mount]) -> (Vec<SourceFile>, Vec<String>) {
    let files = read_tree(&root(), dirs);
    let lib = &files.iter().find(|f| f.module.is_empty()).expect("a lib.rs").text;
    let order = declared_order(lib);
    (files, order)
}

fn tree_and_order() -> (Vec<SourceFile>, Vec<String>) {
    tree_and_order_of(CRATES[0].1)
}

#[test]
fn every_import_points_down() {
    let mut problems = Vec::new();
    for (own, dirs) in CRATES {
        let (files, order) = tree_and_order_of(dirs);
        assert!(order.len() >= 4, "{own}'s lib.rs declares its layers under # Layers: {order:?}");
        problems.extend(violations(own, &files, &order).into_iter().map(|p| format!("{own}: {p}")));
    }
    assert!(problems.is_empty(), "{} layer violations:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn a_planted_upward_import_fails() {
    let (mut files, order) = tree_and_order();
    let scalar = files.iter_mut().find(|f| f.module == ["scalar"]).expect("src/scalar/mod.rs");
    scalar.text.push_str("\nuse crate::check::CheckConfig;\n");
    let problems = violations("gradlab", &files, &order);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("scalar uses `crate::check::CheckConfig` (check)"), "{}", problems[0]);
}

#[test]
fn a_planted_group_import_and_a_sibling_cycle_fail() {
    let (mut files, order) = tree_and_order();
    let exact = files.iter_mut().find(|f| f.module == ["exact"]).expect("src/exact.rs");
    exact.text.push_str("\nuse crate::{error::Error, train::{self, TrainConfig}};\n");
    let fast = files.iter_mut().find(|f| f.module == ["numeric", "fast"]).expect("src/numeric/fast.rs");
    fast.text.push_str("\nfn planted() { super::auto::x(); }\n");
    let auto = files.iter_mut().find(|f| f.module == ["numeric", "auto"]).expect("src/numeric/auto.rs");
    auto.text.push_str("\nuse super::fast::Evaluator;\n");
    let problems = violations("gradlab", &files, &order);
    assert!(problems.iter().any(|p| p.starts_with("exact uses `crate::train::self`")), "{problems:?}");
    assert!(problems.iter().any(|p| p == "cycle among the files of numeric: auto -> fast"), "{problems:?}");
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn comments_strings_and_macro_bodies_are_not_imports() {
    let code = code_only(
        "// use crate::a::B;\nlet s = \"crate::c::D\"; /* crate::e */ let c = '\"'; $crate::f::G; r#\"crate::h\"#",
    );
    let found = paths(&code);
    assert_eq!(found, Vec::<Vec<String>>::new(), "{code}");
    let found = paths("use crate::{a::{b, c::D}, e};");
    let want = [vec!["crate", "a", "b"], vec!["crate", "a", "c", "D"], vec!["crate", "e"]];
    assert_eq!(found, want.map(|p| p.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
}

#[test]
fn a_planted_upward_import_in_the_lab_fails() {
    let (mut files, order) = tree_and_order_of(CRATES[2].1);
    let template = files.iter_mut().find(|f| f.module == ["template"]).expect("crates/lab/src/template.rs");
    template.text.push_str("\nuse gradlab_lab::runner::Output;\nuse gradlab::check::CheckConfig;\n");
    let problems = violations("gradlab_lab", &files, &order);
    assert_eq!(
        problems,
        ["template uses `gradlab_lab::runner::Output` (runner), which is not below `template` in lib.rs's # Layers"]
    );
}
