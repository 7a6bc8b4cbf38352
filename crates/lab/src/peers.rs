//! Numbers made outside gradlab that the experiments set beside their own: the question's
//! published float32 tables (experiments/data/published_seed.csv, copied from Cross Validated
//! question 491171) and PyTorch's own run of the question's code on gradlab's problem
//! (experiments/data/pytorch_*.csv and .json, made by benches/peers/seed_table.py): its table on
//! the portable code path, the same table on every code path the machine offered, and the
//! swap-the-ingredients runs that show where PyTorch and gradlab part. They are compiled in, so a
//! run needs neither the internet nor Python. The analyses of those runs (the spread over code
//! paths, which swaps reproduce PyTorch) are here too, as functions of the rows, so tests can feed
//! them other rows.

use crate::runner::output::from_csv;
use crate::runner::Output;
use gradlab::exact::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const PUBLISHED: &str = include_str!("../../../experiments/data/published_seed.csv");
const PYTORCH_SEED: &str = include_str!("../../../experiments/data/pytorch_seed.csv");
const PYTORCH_PARTING: &str = include_str!("../../../experiments/data/pytorch_parting.csv");
const PYTORCH_PATHS: &str = include_str!("../../../experiments/data/pytorch_paths.csv");
const PYTORCH_META: &str = include_str!("../../../experiments/data/pytorch_seed.json");

/// One published number: which check (`input_accumulated` or `logits`), the step, the mean relerr.
#[derive(Clone, Debug, Deserialize)]
pub struct Published {
    /// `input_accumulated` (x.grad summed over the epochs) or `logits` (y.grad).
    pub check: String,
    /// The step.
    pub eps: Decimal,
    /// The published mean relative error.
    pub relerr_mean: f64,
}

/// One row of PyTorch's run: dtype (`f32`, `f64`), `accumulate` or `reset`, step, mean relerr,
/// and how many numeric elements were exactly 0.
#[derive(Clone, Debug, Deserialize)]
pub struct TorchRow {
    /// `f32` or `f64`.
    pub dtype: String,
    /// `accumulate` or `reset`.
    pub variant: String,
    /// The step.
    pub eps: Decimal,
    /// The question's mean relative error.
    pub relerr_mean: f64,
    /// Elements whose numeric gradient was exactly 0.
    pub numeric_zero: usize,
}

/// One row of the swap-the-ingredients runs: the variant, the step, the mean relerr, the elements
/// whose numeric gradient was exactly 0, how many elements differ from PyTorch's and from
/// gradlab's numeric gradient, and a fingerprint of the numeric gradient.
#[derive(Clone, Debug, Deserialize)]
pub struct PartingRow {
    /// `gradlab` (nothing swapped), the swapped [`INGREDIENTS`] joined with `+`, or `torch` (all
    /// of PyTorch).
    pub variant: String,
    /// The step.
    pub eps: Decimal,
    /// The mean relative error.
    pub relerr_mean: f64,
    /// Elements whose numeric gradient was exactly 0.
    pub numeric_zero: usize,
    /// Elements whose numeric gradient differs from `torch`'s at this step.
    pub differs_from_torch: usize,
    /// Elements whose numeric gradient differs from `gradlab`'s at this step.
    pub differs_from_gradlab: usize,
    /// The first 16 hex digits of the SHA-256 of the numeric gradient's float32 bytes: equal
    /// fingerprints, equal gradients.
    pub numeric_sha: String,
}

/// The ingredients of gradlab's float32 loss that the script swaps for PyTorch's, in the order
/// their names are joined: the logits (nn.Linear's addmm), the per-sample losses
/// (CrossEntropyLoss's log_softmax and nll_loss), their mean (CrossEntropyLoss's own reduction)
/// and the quotient in float64 (the question's Python floats).
pub const INGREDIENTS: [&str; 4] = ["torch_logits", "torch_loss", "torch_mean", "quotient64"];

impl PartingRow {
    /// The ingredients this row swapped for PyTorch's (empty for `gradlab`), or `None` for `torch`
    /// (all of PyTorch, not a combination) and for a name that is not a combination.
    pub fn swapped(&self) -> Option<BTreeSet<&'static str>> {
        if self.variant == "gradlab" {
            return Some(BTreeSet::new());
        }
        self.variant.split('+').map(|part| INGREDIENTS.iter().copied().find(|i| *i == part)).collect()
    }
}

/// One row of PyTorch's table on one code path: the path's settings, then the row as in
/// [`TorchRow`].
#[derive(Clone, Debug, Deserialize)]
pub struct PathRow {
    /// MKL's branch: `MKL_CBWR`'s value, `OFF` when unset.
    pub mkl_cbwr: String,
    /// ATen's CPU capability (`ATEN_CPU_CAPABILITY`): `default`, `avx2`, `avx512`.
    pub aten: String,
    /// glibc's libm kernels: `baseline` (the FMA kernels switched off by `GLIBC_TUNABLES`) or
    /// `native`.
    pub libm: String,
    /// Threads (torch.set_num_threads, OMP_NUM_THREADS, MKL_NUM_THREADS).
    pub threads: usize,
    /// oneDNN (torch.backends.mkldnn): `on` or `off`.
    pub mkldnn: String,
    /// `f32` or `f64`.
    pub dtype: String,
    /// `accumulate` or `reset`.
    pub variant: String,
    /// The step.
    pub eps: Decimal,
    /// The question's mean relative error.
    pub relerr_mean: f64,
    /// Elements whose numeric gradient was exactly 0.
    pub numeric_zero: usize,
}

/// A row of PyTorch's table: dtype, variant (`accumulate` or `reset`) and the step's text.
pub type TableRow = (String, String, String);

/// A setting the code path is made of, as the script varies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    /// MKL's branch (`MKL_CBWR`).
    Mkl,
    /// ATen's CPU capability (`ATEN_CPU_CAPABILITY`).
    Aten,
    /// glibc's libm kernels (`GLIBC_TUNABLES`).
    Libm,
    /// The thread count.
    Threads,
    /// oneDNN on or off.
    Mkldnn,
}

impl Setting {
    /// Every setting, in the order the report names them.
    pub const ALL: [Setting; 5] = [Setting::Mkl, Setting::Aten, Setting::Libm, Setting::Threads, Setting::Mkldnn];

    /// What the setting is, for a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Setting::Mkl => "MKL's branch (MKL_CBWR)",
            Setting::Aten => "ATen's CPU capability (ATEN_CPU_CAPABILITY)",
            Setting::Libm => "glibc's libm kernels",
            Setting::Threads => "the thread count",
            Setting::Mkldnn => "oneDNN",
        }
    }
}

impl PathRow {
    /// The path's value of `setting`.
    pub fn setting(&self, setting: Setting) -> String {
        match setting {
            Setting::Mkl => self.mkl_cbwr.clone(),
            Setting::Aten => self.aten.clone(),
            Setting::Libm => self.libm.clone(),
            Setting::Threads => self.threads.to_string(),
            Setting::Mkldnn => self.mkldnn.clone(),
        }
    }

    /// The path: its value of every setting.
    pub fn path(&self) -> Vec<String> {
        Setting::ALL.iter().map(|&s| self.setting(s)).collect()
    }

    /// The table row: dtype, variant, step.
    pub fn row(&self) -> TableRow {
        (self.dtype.clone(), self.variant.clone(), self.eps.text().to_string())
    }
}

/// What the script wrote about the machine and the settings (experiments/data/pytorch_seed.json);
/// fields it lacks are empty.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct TorchMeta {
    /// The torch version.
    pub torch: String,
    /// The numpy version.
    pub numpy: String,
    /// MKL's own version string.
    pub mkl: String,
    /// oneDNN's version.
    pub onednn: String,
    /// glibc's version.
    pub glibc: String,
    /// The processor's model name.
    pub cpu_model: String,
    /// The processor's vector-instruction flags the script looks at.
    pub cpu_flags: Vec<String>,
    /// The committed numbers' settings.
    pub settings: TorchSettings,
    /// What MKL, oneDNN and torch reported on the committed numbers' code path.
    pub code_path: CodePath,
    /// Every setting tried, offered or not.
    pub settings_tried: Vec<SettingTried>,
    /// The checks the script made (it fails when one does not hold).
    pub checks: Vec<String>,
}

/// The committed numbers' settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct TorchSettings {
    /// The environment variables the script set.
    pub env: BTreeMap<String, String>,
    /// What it set inside the process.
    pub in_process: Vec<String>,
}

/// What MKL (MKL_VERBOSE), oneDNN (ONEDNN_VERBOSE) and torch reported during a run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodePath {
    /// MKL_VERBOSE's first line: MKL's version and the processor class it dispatches for.
    pub mkl_verbose_header: String,
    /// The conditional-numerical-reproducibility modes MKL_VERBOSE showed (one, when the setting
    /// took).
    pub mkl_cnr: Vec<String>,
    /// The MKL functions called.
    pub mkl_calls: Vec<String>,
    /// torch's CPU capability: the ATen kernels used.
    pub aten_capability: String,
    /// oneDNN primitives executed.
    pub onednn_exec_calls: usize,
    /// torch.get_num_threads().
    pub torch_threads: usize,
    /// torch.backends.mkldnn.enabled.
    pub mkldnn_enabled: bool,
}

/// One setting the script tried: `key=value`, whether this machine ran it as asked, and what
/// happened instead when not.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingTried {
    /// `mkl_cbwr=AVX2`, `aten=avx512`, `libm=native`, ...
    pub setting: String,
    /// Whether the machine ran it as asked.
    pub offered: bool,
    /// `as asked`, or what MKL or torch reported instead.
    pub reported: String,
}

/// The question's published table for `check`, in step order.
pub fn published(check: &str) -> Vec<Published> {
    from_csv::<Published>(PUBLISHED.as_bytes()).unwrap_or_default().into_iter().filter(|r| r.check == check).collect()
}

/// PyTorch's run of the question's code on gradlab's problem.
pub fn pytorch() -> Vec<TorchRow> {
    from_csv(PYTORCH_SEED.as_bytes()).unwrap_or_default()
}

/// The swap-the-ingredients runs of benches/peers/seed_table.py.
pub fn parting() -> Vec<PartingRow> {
    from_csv(PYTORCH_PARTING.as_bytes()).unwrap_or_default()
}

/// PyTorch's table on every code path the script ran (the portable one first).
pub fn paths() -> Vec<PathRow> {
    from_csv(PYTORCH_PATHS.as_bytes()).unwrap_or_default()
}

/// What the script recorded about the machine and its settings.
pub fn torch_meta() -> TorchMeta {
    serde_json::from_str(PYTORCH_META).unwrap_or_default()
}

/// The torch version PyTorch's numbers were made with.
pub fn torch_version() -> String {
    torch_meta().torch
}

/// One row of PyTorch's table over the code paths: the smallest and largest mean relerr and zero
/// count, and how many paths gave something other than the first (the committed) path.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSpread {
    /// `f32` or `f64`.
    pub dtype: String,
    /// `accumulate` or `reset`.
    pub variant: String,
    /// The step's text.
    pub eps: String,
    /// The smallest and largest mean relative error.
    pub relerr: (f64, f64),
    /// The smallest and largest count of zero elements.
    pub zeros: (usize, usize),
    /// Paths whose row differs from the first path's (in relerr or zero count).
    pub differing: usize,
    /// Paths with this row.
    pub paths: usize,
}

/// The spread of each row of PyTorch's table over the code paths in `rows`, in the order the rows
/// first appear.
pub fn path_spread(rows: &[PathRow]) -> Vec<RowSpread> {
    let mut order: Vec<TableRow> = Vec::new();
    let mut by_row: BTreeMap<TableRow, Vec<&PathRow>> = BTreeMap::new();
    for r in rows {
        let key = r.row();
        if !by_row.contains_key(&key) {
            order.push(key.clone());
        }
        by_row.entry(key).or_default().push(r);
    }
    order
        .into_iter()
        .map(|key| {
            let rs = &by_row[&key];
            let fold = |f: fn(&PathRow) -> f64| {
                rs.iter().map(|r| f(r)).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)))
            };
            let zeros = fold(|r| r.numeric_zero as f64);
            let first = rs[0];
            RowSpread {
                dtype: key.0,
                variant: key.1,
                eps: key.2,
                relerr: fold(|r| r.relerr_mean),
                zeros: (zeros.0 as usize, zeros.1 as usize),
                differing: rs
                    .iter()
                    .filter(|r| {
                        r.relerr_mean.to_bits() != first.relerr_mean.to_bits() || r.numeric_zero != first.numeric_zero
                    })
                    .count(),
                paths: rs.len(),
            }
        })
        .collect()
}

/// For each setting, the table rows (dtype, variant, step) at which two paths that differ in that
/// setting alone give different numbers (relerr or zero count); the settings no two such paths
/// test are left out.
pub fn settings_that_change(rows: &[PathRow]) -> Vec<(Setting, BTreeSet<TableRow>)> {
    let mut at: BTreeMap<(Vec<String>, TableRow), &PathRow> = BTreeMap::new();
    for r in rows {
        at.insert((r.path(), r.row()), r);
    }
    let paths: BTreeSet<Vec<String>> = rows.iter().map(PathRow::path).collect();
    Setting::ALL
        .iter()
        .enumerate()
        .filter_map(|(i, &setting)| {
            let pairs: Vec<(&Vec<String>, &Vec<String>)> = paths
                .iter()
                .flat_map(|a| paths.iter().map(move |b| (a, b)))
                .filter(|(a, b)| a[i] < b[i] && (0..a.len()).all(|j| j == i || a[j] == b[j]))
                .collect();
            if pairs.is_empty() {
                return None;
            }
            let changed = at
                .iter()
                .filter(|((p, row), r)| {
                    pairs.iter().any(|(a, b)| {
                        *a == p
                            && at.get(&((*b).clone(), row.clone())).is_some_and(|o| {
                                o.relerr_mean.to_bits() != r.relerr_mean.to_bits() || o.numeric_zero != r.numeric_zero
                            })
                    })
                })
                .map(|((_, row), _)| row.clone())
                .collect();
            Some((setting, changed))
        })
        .collect()
}

/// Whether the swaps add up: which combinations of swapped ingredients give PyTorch's numeric
/// gradient, and what each ingredient changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Additivity {
    /// The steps (texts) at which swapping all four ingredients leaves elements different from
    /// PyTorch's numeric gradient, with how many; empty when the swaps add up to PyTorch.
    pub all_swapped_differs: Vec<(String, usize)>,
    /// The smallest sets of ingredients whose swap gives PyTorch's numeric gradient at every step
    /// (empty when none does).
    pub minimal: Vec<Vec<&'static str>>,
    /// For each ingredient: in how many of the combinations without it adding it changes the
    /// numeric gradient at some step, out of how many, and at which steps (texts).
    pub effect: Vec<IngredientEffect>,
}

/// What one ingredient changes, over the combinations of the others.
#[derive(Clone, Debug, PartialEq)]
pub struct IngredientEffect {
    /// The ingredient.
    pub ingredient: &'static str,
    /// Combinations of the other ingredients in which adding this one changes the numeric gradient
    /// at some step.
    pub changes: usize,
    /// Combinations of the other ingredients present in the rows.
    pub of: usize,
    /// The steps at which it changes something in some combination.
    pub steps: Vec<String>,
}

/// What the swap-the-ingredients rows say about how the swaps combine (steps in the rows' order).
pub fn additivity(rows: &[PartingRow]) -> Additivity {
    let mut steps: Vec<String> = Vec::new();
    let mut sha: BTreeMap<(BTreeSet<&'static str>, String), &PartingRow> = BTreeMap::new();
    for r in rows {
        if !steps.contains(&r.eps.text().to_string()) {
            steps.push(r.eps.text().to_string());
        }
        if let Some(s) = r.swapped() {
            sha.insert((s, r.eps.text().to_string()), r);
        }
    }
    let all: BTreeSet<&'static str> = INGREDIENTS.into_iter().collect();
    let all_swapped_differs = steps
        .iter()
        .filter_map(|e| sha.get(&(all.clone(), e.clone())).map(|r| (e.clone(), r.differs_from_torch)))
        .filter(|(_, d)| *d > 0)
        .collect();
    let combos: BTreeSet<BTreeSet<&'static str>> = sha.keys().map(|(s, _)| s.clone()).collect();
    let reproduces = |c: &BTreeSet<&'static str>| {
        steps.iter().all(|e| sha.get(&(c.clone(), e.clone())).is_some_and(|r| r.differs_from_torch == 0))
    };
    let reproducing: Vec<&BTreeSet<&'static str>> = combos.iter().filter(|c| reproduces(c)).collect();
    let smallest = reproducing.iter().map(|c| c.len()).min();
    let minimal = reproducing
        .iter()
        .filter(|c| Some(c.len()) == smallest)
        .map(|c| INGREDIENTS.iter().copied().filter(|i| c.contains(i)).collect())
        .collect();
    let effect = INGREDIENTS
        .iter()
        .map(|&ing| {
            let without: Vec<&BTreeSet<&'static str>> =
                combos.iter().filter(|c| !c.contains(ing) && combos.contains(&with(c, ing))).collect();
            let differs = |c: &BTreeSet<&'static str>, e: &String| match (
                sha.get(&(c.clone(), e.clone())),
                sha.get(&(with(c, ing), e.clone())),
            ) {
                (Some(a), Some(b)) => a.numeric_sha != b.numeric_sha,
                _ => false,
            };
            IngredientEffect {
                ingredient: ing,
                changes: without.iter().filter(|c| steps.iter().any(|e| differs(c, e))).count(),
                of: without.len(),
                steps: steps.iter().filter(|e| without.iter().any(|c| differs(c, e))).cloned().collect(),
            }
        })
        .collect();
    Additivity { all_swapped_differs, minimal, effect }
}

fn with(c: &BTreeSet<&'static str>, ing: &'static str) -> BTreeSet<&'static str> {
    let mut c = c.clone();
    c.insert(ing);
    c
}

/// Copies PyTorch's CSVs and their meta into an experiment's folder, beside the results that use
/// them.
///
/// # Errors
/// [`gradlab::Error::Write`] when a file cannot be written.
pub fn write_pytorch(out: &mut Output) -> gradlab::Result<()> {
    for (name, text) in [
        ("pytorch_seed.csv", PYTORCH_SEED),
        ("pytorch_parting.csv", PYTORCH_PARTING),
        ("pytorch_paths.csv", PYTORCH_PATHS),
        ("pytorch_seed.json", PYTORCH_META),
    ] {
        out.file(name, text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_tables_parse_whole() {
        assert_eq!(published("input_accumulated").len(), 9);
        assert_eq!(published("logits").len(), 6);
        assert_eq!(pytorch().len(), 36);
        // The 16 combinations of the four ingredients and `torch`, at 9 steps.
        assert_eq!(parting().len(), 17 * 9);
        assert!(parting().iter().all(|r| r.variant == "torch" || r.swapped().is_some()));
        let p = paths();
        assert!(!p.is_empty() && p.len() % 36 == 0, "{} rows on the code paths", p.len());
        let meta = torch_meta();
        assert!(meta.torch.starts_with('2'));
        assert!(!meta.cpu_model.is_empty() && !meta.mkl.is_empty() && !meta.glibc.is_empty());
        assert!(!meta.settings.env.is_empty() && !meta.code_path.mkl_cnr.is_empty());
    }
}
