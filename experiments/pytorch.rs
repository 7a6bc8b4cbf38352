//! `pytorch`: PyTorch's own run of the question's code on gradlab's problem beside gradlab's
//! check, in f32 and f64, on a code path any x86-64 machine reproduces, with the spread over the
//! code paths the machine that made it offered; and where the two part, measured by swapping
//! ingredients of gradlab's arithmetic for PyTorch's in every combination
//! (benches/peers/seed_table.py). Every sentence that compares is written by a rule below from
//! the data; the tests build the cases where the other sentence must appear.

use gradlab::check::{check_dtype, CheckConfig, CheckRow};
use gradlab::error::Result;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::peers::{
    additivity, parting, path_spread, paths, pytorch, settings_that_change, torch_meta, write_pytorch, Additivity,
    PartingRow, PathRow, RowSpread, Setting, TorchMeta, TorchRow, INGREDIENTS,
};
use gradlab_lab::plot::{dtype_ink, Figure, LegendPos};
use gradlab_lab::report::{md_table, sci6};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::{line, points};
use std::collections::BTreeSet;

/// The experiment.
pub struct Pytorch;

/// The question's steps.
const STEPS: &str = "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8";

/// The steps of the swap table (where the variants' losses round differently).
const PARTING_STEPS: [&str; 4] = ["1e-4", "1e-5", "1e-6", "1e-7"];

/// The epochs of the seed's training: the accumulated x.grad is E times the true one, so the
/// plateau of the relative error is 1 - 1/E.
const EPOCHS: f64 = 10.0;

impl Experiment for Pytorch {
    type Cell = (DType, InputGrad);
    type Row = CheckRow;

    const NAME: &'static str = "pytorch";
    const DESCRIPTION: &'static str = "PyTorch's own run of the question's code on gradlab's problem, beside \
         gradlab's check, its spread over code paths, and where the two part";
    fn cells(&self, _quick: bool) -> Vec<Self::Cell> {
        [DType::F32, DType::F64].into_iter().flat_map(|dt| InputGrad::ALL.iter().map(move |&g| (dt, g))).collect()
    }
    fn run_cell(&self, &(dt, input_grad): &Self::Cell) -> Result<Vec<CheckRow>> {
        let cfg = CheckConfig {
            train: TrainConfig::seed(input_grad),
            ..CheckConfig::seed(Scheme::Central, Steps::parse(STEPS)?)
        };
        Ok(check_dtype(&Problem::generate(10, 4, 2, 1)?, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?.rows)
    }

    fn finish(&self, _quick: bool, rows: &[CheckRow], out: &mut Output) -> Result<String> {
        let torch = pytorch();
        let meta = torch_meta();
        let path_rows = paths();
        let spread = path_spread(&path_rows);
        let n_paths = spread.first().map_or(0, |s| s.paths);
        let mut s = format!(
            "PyTorch {} runs the question's code (benches/peers/seed_table.py) on gradlab's problem (n = 10, d = 4, k = 2, \
             seed 1): 10 epochs of SGD at lr = 1e-3, then the question's double loop of central differences, with x.grad \
             accumulated (the question's bug) or reset. {}\n\nMean relerr, PyTorch beside gradlab (in parentheses, the \
             elements whose numeric gradient is exactly 0), and PyTorch's smallest and largest value over the {n_paths} \
             code paths below (`=` where every path gives the committed number):\n\n",
            meta.torch,
            settings_text(&meta),
        );
        let table = rows.iter().map(|r| {
            let t = torch.iter().find(|t| {
                t.dtype == r.dtype.name()
                    && t.variant == r.input_grad.name()
                    && r.eps.decimal().is_some_and(|h| h.value() == t.eps.value())
            });
            let sp = spread
                .iter()
                .find(|p| p.dtype == r.dtype.name() && p.variant == r.input_grad.name() && p.eps == r.eps.to_string());
            vec![
                r.dtype.to_string(),
                r.input_grad.to_string(),
                r.eps.to_string(),
                t.map_or("-".into(), |t| format!("{} ({})", sci6(t.relerr_mean), t.numeric_zero)),
                sp.map_or("-".into(), spread_cell),
                format!("{} ({})", sci6(r.relerr_mean), r.loss_flat + r.dead_zone),
            ]
        });
        s.push_str(&md_table(
            format!("dtype | x.grad | eps | PyTorch | PyTorch, {n_paths} code paths | gradlab").as_str(),
            table,
        ));
        s.push('\n');
        s.push_str(&paths_text(&meta, &path_rows, &spread));
        s.push_str("\n\n");
        s.push_str(&agreement_text(rows, &torch));
        s.push_str("\n\n");
        let part = parting();
        s.push_str(&parting_intro(&meta));
        s.push_str(&parting_table(&part));
        s.push('\n');
        s.push_str(&parting_text(&additivity(&part), &part));
        s.push('\n');
        let mut fig = Figure::new(
            "The question's code in PyTorch (points) and gradlab's check (lines), x.grad reset",
            "step eps",
            "mean relative error",
        );
        for dt in [DType::F32, DType::F64] {
            let mine = rows.iter().filter(|r| r.dtype == dt && r.input_grad == InputGrad::Reset);
            fig.series.push(line(
                &format!("gradlab {dt}"),
                dtype_ink(dt),
                mine.map(|r| (r.eps.to_f64(), r.relerr_mean)).collect(),
            ));
            let theirs = torch.iter().filter(|t| t.dtype == dt.name() && t.variant == "reset");
            fig.series.push(points(
                &format!("PyTorch {dt}"),
                dtype_ink(dt).hollow(),
                theirs.map(|t| (t.eps.to_f64(), t.relerr_mean)).collect(),
            ));
        }
        fig.legend_pos = LegendPos::Auto;
        s.push_str(&out.figure_md("pytorch", &fig)?);
        write_pytorch(out)?;
        Ok(s)
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The settings and the machine the committed numbers were made with, from the script's json.
fn settings_text(meta: &TorchMeta) -> String {
    let env: Vec<String> = meta.settings.env.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
    let inside: Vec<String> = meta.settings.in_process.iter().map(|c| format!("`{c}`")).collect();
    let cp = &meta.code_path;
    let baseline = cp.mkl_cnr == ["COMPATIBLE"]
        && cp.aten_capability == "DEFAULT"
        && meta.settings.env.get("GLIBC_TUNABLES").is_some_and(|v| v.contains("-FMA"));
    format!(
        "The script sets its code path itself, in a fresh process for every run (the caller's MKL_*, ATEN_*, OMP_*, \
         GLIBC_TUNABLES and similar variables removed): {} in the environment, {} in the process. MKL reports \
         CNR:{}, torch the {} CPU capability{}{}. {} Made on {} ({}) with torch {}, numpy {}, {}, oneDNN {}, {} \
         (experiments/data/pytorch_seed.json).",
        and_list(&env),
        and_list(&inside),
        cp.mkl_cnr.join(","),
        cp.aten_capability,
        if cp.onednn_exec_calls == 0 { ", and oneDNN runs no primitive" } else { "" },
        if baseline {
            " (each library's baseline x86-64 kernels, which any x86-64 processor runs the same way)"
        } else {
            ""
        },
        if baseline {
            "With the versions below, the numbers should not depend on the processor."
        } else {
            "These are not the baseline kernels: the numbers may depend on the processor."
        },
        meta.cpu_model,
        meta.cpu_flags.join(", "),
        meta.torch,
        meta.numpy,
        meta.mkl.split(" for ").next().unwrap_or_default(),
        meta.onednn,
        meta.glibc,
    )
}

/// A row's spread over the code paths: `=` when every path gives the committed number, else the
/// smallest and largest value, with as many digits as it takes to tell them apart.
fn spread_cell(s: &RowSpread) -> String {
    if s.differing == 0 {
        return "=".into();
    }
    let zeros = if s.zeros.0 == s.zeros.1 { s.zeros.0.to_string() } else { format!("{}-{}", s.zeros.0, s.zeros.1) };
    // sci6's style (`8.996676e-01`) with `d` digits.
    let sci = |x: f64, d: usize| {
        let t = format!("{x:.d$e}");
        let (m, e) = t.split_once('e').unwrap_or((&t, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    };
    let digits = (6..17).find(|&d| sci(s.relerr.0, d) != sci(s.relerr.1, d)).unwrap_or(17);
    format!("{} to {} ({zeros})", sci(s.relerr.0, digits), sci(s.relerr.1, digits))
}

/// The distinct values of `setting` over the paths, in the order they first appear.
fn setting_values(rows: &[PathRow], setting: Setting) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in rows {
        let x = r.setting(setting);
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// The code paths run: the combinations of the settings varied together, then the committed
/// path with one setting changed (a setting whose other values appear only on such paths).
fn paths_list(rows: &[PathRow]) -> String {
    let Some(first) = rows.first().map(PathRow::path) else { return "none".into() };
    let all: BTreeSet<Vec<String>> = rows.iter().map(PathRow::path).collect();
    let differs_only_in = |p: &Vec<String>, i: usize| (0..p.len()).all(|j| j == i || p[j] == first[j]);
    let mut combined: Vec<(Setting, Vec<String>)> = Vec::new();
    let mut alone: Vec<String> = Vec::new();
    for (i, &st) in Setting::ALL.iter().enumerate() {
        let values = setting_values(rows, st);
        if values.len() < 2 {
            continue;
        }
        if all.iter().filter(|p| p[i] != first[i]).all(|p| differs_only_in(p, i)) {
            alone.extend(values[1..].iter().map(|v| format!("{} {v}", st.describe())));
        } else {
            combined.push((st, values));
        }
    }
    let product: usize = combined.iter().map(|(_, v)| v.len()).product();
    let together = all.len() - alone.len();
    let or_list = |v: &[String]| match v {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => v.join(""),
    };
    let named: Vec<String> = combined.iter().map(|(st, v)| format!("{}: {}", st.describe(), or_list(v))).collect();
    let mut s = if combined.is_empty() {
        "the committed path".to_string()
    } else {
        format!(
            "{} of {}",
            if together == product { "every combination".to_string() } else { format!("{together} combinations") },
            named.join("; ")
        )
    };
    if !alone.is_empty() {
        s.push_str(&format!(
            "{} the committed path with {}",
            if combined.is_empty() { ", and" } else { "; and" },
            alone.join(", with ")
        ));
    }
    s
}

/// What the code paths change: which paths ran, which were not offered, how many rows differ and
/// by how much, and which settings change them.
fn paths_text(meta: &TorchMeta, rows: &[PathRow], spread: &[RowSpread]) -> String {
    let n_paths = spread.first().map_or(0, |s| s.paths);
    let mut s = format!("The {n_paths} code paths: {}.", paths_list(rows));
    let mut absent: Vec<(String, Vec<String>)> = Vec::new();
    for t in meta.settings_tried.iter().filter(|t| !t.offered) {
        match absent.iter_mut().find(|(why, _)| *why == t.reported) {
            Some((_, names)) => names.push(t.setting.clone()),
            None => absent.push((t.reported.clone(), vec![t.setting.clone()])),
        }
    }
    if !absent.is_empty() {
        let parts: Vec<String> = absent.iter().map(|(why, names)| format!("{} ({why})", and_list(names))).collect();
        s.push_str(&format!(
            " Not offered by this processor, so not in the spread: {}; on a processor that offers them, its default \
             path may give numbers outside this spread (the committed settings do not use them).",
            and_list(&parts)
        ));
    }
    let same = spread.iter().filter(|r| r.differing == 0).count();
    if same == spread.len() {
        s.push_str(&format!(
            " Every one of the {} rows is the same on every path: on this machine PyTorch's table does not depend on \
             the code path.",
            spread.len()
        ));
        return s;
    }
    let rel = |r: &RowSpread| (r.relerr.1 - r.relerr.0) / r.relerr.0.abs();
    let widest = spread.iter().filter(|r| r.differing > 0).max_by(|a, b| rel(a).total_cmp(&rel(b)));
    if let Some(w) = widest {
        s.push_str(&format!(
            " {same} of the {} rows are the same on every path; the others differ by at most {:.1e} relative ({} {} \
             at {}: {} to {}).",
            spread.len(),
            rel(w),
            w.dtype,
            w.variant,
            w.eps,
            sci6(w.relerr.0),
            sci6(w.relerr.1)
        ));
    }
    let zero_rows: Vec<String> = spread
        .iter()
        .filter(|r| r.zeros.0 != r.zeros.1)
        .map(|r| format!("{} {} {} ({}-{})", r.dtype, r.variant, r.eps, r.zeros.0, r.zeros.1))
        .collect();
    if zero_rows.is_empty() {
        s.push_str(" The count of exactly-zero numeric elements is the same on every path at every step.");
    } else {
        s.push_str(&format!(
            " The count of exactly-zero numeric elements depends on the code path at {}.",
            and_list(&zero_rows)
        ));
    }
    let changes = settings_that_change(rows);
    let changing: Vec<String> = changes
        .iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(st, rows)| {
            let kinds: BTreeSet<String> = rows.iter().map(|(d, v, _)| format!("{d} {v}")).collect();
            let n = rows.len();
            let kinds = kinds.into_iter().collect::<Vec<_>>().join(", ");
            format!("{}, at {n} row{} ({kinds})", st.describe(), if n == 1 { "" } else { "s" })
        })
        .collect();
    let inert: Vec<String> =
        changes.iter().filter(|(_, rows)| rows.is_empty()).map(|(st, _)| st.describe().to_string()).collect();
    if !changing.is_empty() {
        s.push_str(&format!(" Changing one setting alone, what changes a number: {}", and_list(&changing)));
        s.push_str(&if inert.is_empty() {
            ".".to_string()
        } else {
            format!("; nothing changes with {}.", and_list(&inert))
        });
    }
    s
}

/// PyTorch against gradlab: on the plateau, around the f64 optimum, and the f32 zero counts.
fn agreement_text(rows: &[CheckRow], torch: &[TorchRow]) -> String {
    let find = |r: &CheckRow| {
        torch.iter().find(|t| {
            t.dtype == r.dtype.name()
                && t.variant == r.input_grad.name()
                && r.eps.decimal().is_some_and(|h| h.value() == t.eps.value())
        })
    };
    let plateau_level = 1.0 - 1.0 / EPOCHS;
    let plateau: Vec<(&CheckRow, &TorchRow)> = rows
        .iter()
        .filter(|r| r.input_grad == InputGrad::Accumulate && (r.relerr_mean - plateau_level).abs() <= 1e-3)
        .filter_map(|r| find(r).map(|t| (r, t)))
        .collect();
    let plateau_gap = plateau.iter().map(|(r, t)| (t.relerr_mean / r.relerr_mean - 1.0).abs()).fold(0.0, f64::max);
    let mut s = format!(
        "On the plateau (x.grad accumulated, the {} steps where gradlab's relerr is within 1e-3 of 1 - 1/E = {plateau_level}) \
         PyTorch and gradlab {} {plateau_gap:.1e} relative.",
        plateau.len(),
        if plateau_gap < 1e-3 { "agree to within" } else { "differ by up to" },
    );
    // f64, x.grad reset: down to gradlab's best step, and below it.
    let reset64: Vec<(&CheckRow, &TorchRow)> = rows
        .iter()
        .filter(|r| r.dtype == DType::F64 && r.input_grad == InputGrad::Reset)
        .filter_map(|r| find(r).map(|t| (r, t)))
        .collect();
    if let Some(best) = reset64.iter().min_by(|a, b| a.0.relerr_mean.total_cmp(&b.0.relerr_mean)) {
        let best_eps = best.0.eps.to_f64();
        let ratio =
            |(r, t): &(&CheckRow, &TorchRow)| (t.relerr_mean / r.relerr_mean).max(r.relerr_mean / t.relerr_mean);
        let above = reset64.iter().filter(|p| p.0.eps.to_f64() > best_eps).map(|p| ratio(p) - 1.0).fold(0.0, f64::max);
        let below = reset64.iter().filter(|p| p.0.eps.to_f64() <= best_eps).map(ratio).fold(1.0, f64::max);
        s.push_str(&format!(
            " In f64 with x.grad reset they agree to {above:.1e} relative down to gradlab's best step ({}); from there \
             down they are {} (up to a factor {below:.2} apart).",
            best.0.eps,
            if below < 2.0 {
                "errors of the same size but not the same values"
            } else {
                "not even of the same size"
            }
        ));
    }
    let mut zeros: Vec<(String, usize, usize, Vec<String>)> = Vec::new();
    for r in rows.iter().filter(|r| r.dtype == DType::F32) {
        if let Some(t) = find(r) {
            let mine = r.loss_flat + r.dead_zone;
            if t.numeric_zero != mine {
                let key = (r.eps.to_string(), t.numeric_zero, mine);
                match zeros.iter_mut().find(|z| (z.0.clone(), z.1, z.2) == key) {
                    Some(z) => z.3.push(r.input_grad.to_string()),
                    None => zeros.push((key.0, key.1, key.2, vec![r.input_grad.to_string()])),
                }
            }
        }
    }
    if zeros.is_empty() {
        s.push_str(" In f32 their counts of exactly-zero numeric elements agree at every step.");
    } else {
        let parts: Vec<String> = zeros
            .iter()
            .map(|(e, t, m, v)| format!("{e} (PyTorch {t}, gradlab {m}; x.grad {})", v.join(" and ")))
            .collect();
        s.push_str(&format!(
            " In f32 they part where the numeric gradient has exactly-zero elements (two losses rounded to one value): \
             their counts differ at {}.",
            and_list(&parts)
        ));
    }
    s
}

/// What the swap table is.
fn parting_intro(meta: &TorchMeta) -> String {
    let emulation = meta
        .checks
        .iter()
        .find(|c| c.contains("emulation reproduces gradlab"))
        .map_or("not checked against gradlab's own table in this run".to_string(), |c| {
            format!("{}, checked against `gradlab check --format csv`", c.trim_start_matches("the numpy emulation "))
        });
    format!(
        "Where they part was measured, not guessed: the script emulates gradlab's float32 arithmetic in numpy (it {emulation}) \
         and swaps ingredients for PyTorch's, in all 16 combinations: PyTorch's logits (`torch_logits`, nn.Linear's \
         addmm), its per-sample losses (`torch_loss`, CrossEntropyLoss's log_softmax and nll_loss), their mean \
         (`torch_mean`, CrossEntropyLoss's own reduction: nll_loss's mean), and the quotient in float64 as the \
         question's Python computes it (`quotient64`); `torch` is all of PyTorch. Accumulated x.grad, f32, on the \
         committed code path; each cell is the mean relerr, in parentheses the elements whose numeric gradient is \
         exactly 0, after `≠` the elements whose numeric gradient differs from PyTorch's:\n\n"
    )
}

/// The swap table: every combination, at [`PARTING_STEPS`].
fn parting_table(part: &[PartingRow]) -> String {
    let mut variants: Vec<&str> = Vec::new();
    for r in part {
        if !variants.contains(&r.variant.as_str()) {
            variants.push(&r.variant);
        }
    }
    let cell = |v: &str, e: &str| {
        part.iter()
            .find(|r| r.variant == v && r.eps.text() == e)
            .map_or("-".into(), |r| format!("{:.4} ({}) ≠{}", r.relerr_mean, r.numeric_zero, r.differs_from_torch))
    };
    let header = format!("swapped for PyTorch's | {}", PARTING_STEPS.join(" | "));
    md_table(
        header.as_str(),
        variants.iter().map(|v| {
            std::iter::once(v.replace('+', " + ")).chain(PARTING_STEPS.iter().map(|e| cell(v, e))).collect::<Vec<_>>()
        }),
    )
}

/// Whether the swaps add up, the smallest swaps that give PyTorch, and what each ingredient
/// changes.
fn parting_text(add: &Additivity, part: &[PartingRow]) -> String {
    let steps = part.iter().map(|r| r.eps.text()).collect::<BTreeSet<_>>().len();
    let mut s = if add.all_swapped_differs.is_empty() {
        format!(
            "Swapped together, the four ingredients give PyTorch's numeric gradient bit for bit at all {steps} steps: \
             the swaps add up, and nothing else differs."
        )
    } else {
        let at: Vec<String> = add.all_swapped_differs.iter().map(|(e, n)| format!("{n} at {e}")).collect();
        format!(
            "Swapped together, the four ingredients still leave elements different from PyTorch's numeric gradient \
             ({}): something besides these ingredients differs.",
            and_list(&at)
        )
    };
    let name = |set: &Vec<&'static str>| set.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(" + ");
    if let Some(first) = add.minimal.first() {
        if first.len() < INGREDIENTS.len() {
            let sets: Vec<String> = add.minimal.iter().map(name).collect();
            s.push_str(&format!(
                " The smallest swaps that already give it at every step: {} (no smaller set does).",
                sets.join(" or "),
            ));
        }
    }
    let inert: Vec<String> =
        add.effect.iter().filter(|e| e.changes == 0).map(|e| format!("`{}`", e.ingredient)).collect();
    let active: Vec<String> = add
        .effect
        .iter()
        .filter(|e| e.changes > 0)
        .map(|e| format!("`{}` in {} of {} (at {})", e.ingredient, e.changes, e.of, e.steps.join(", ")))
        .collect();
    if !active.is_empty() {
        s.push_str(&format!(
            " Added to a combination of the others, an ingredient changes the numeric gradient: {}",
            and_list(&active)
        ));
        s.push_str(&if inert.is_empty() {
            ".".to_string()
        } else {
            format!(
                "; {} {} no element in any combination, at any step.",
                and_list(&inert),
                if inert.len() == 1 { "changes" } else { "change" }
            )
        });
    }
    s
}

gradlab_lab::experiment_main!(Pytorch);

#[cfg(test)]
mod tests {
    use super::*;
    use gradlab::exact::Decimal;

    fn step(e: &str) -> Decimal {
        Decimal::parse("step", e).unwrap()
    }

    /// One parting row: `sha` stands for the numeric gradient, `torch_sha` for PyTorch's.
    fn prow(variant: &str, eps: &str, sha: &str, torch_sha: &str) -> PartingRow {
        PartingRow {
            variant: variant.into(),
            eps: step(eps),
            relerr_mean: 0.9,
            numeric_zero: 0,
            differs_from_torch: usize::from(sha != torch_sha) * 3,
            differs_from_gradlab: 0,
            numeric_sha: sha.into(),
        }
    }

    /// Every combination at two steps, the numeric gradient made by `f` (swapped set -> sha), and
    /// PyTorch's `torch_sha`.
    fn combos(f: impl Fn(&BTreeSet<&str>) -> String, torch_sha: &str) -> Vec<PartingRow> {
        let mut rows = Vec::new();
        for bits in 0..16u32 {
            let set: BTreeSet<&str> =
                INGREDIENTS.iter().enumerate().filter(|(i, _)| bits >> i & 1 == 1).map(|(_, x)| *x).collect();
            let name = if set.is_empty() {
                "gradlab".to_string()
            } else {
                INGREDIENTS.iter().filter(|i| set.contains(*i)).copied().collect::<Vec<_>>().join("+")
            };
            for e in ["1e-5", "1e-6"] {
                rows.push(prow(&name, e, &format!("{}{e}", f(&set)), &format!("{torch_sha}{e}")));
            }
        }
        for e in ["1e-5", "1e-6"] {
            rows.push(prow("torch", e, &format!("{torch_sha}{e}"), &format!("{torch_sha}{e}")));
        }
        rows
    }

    #[test]
    fn swaps_that_add_up_say_so_and_name_the_smallest_and_the_inert() {
        // The gradient is decided by the logits and the mean alone; both swapped is PyTorch's.
        let rows = combos(
            |s| match (s.contains("torch_logits"), s.contains("torch_mean")) {
                (true, true) => "T".into(),
                (a, b) => format!("g{a}{b}"),
            },
            "T",
        );
        let add = additivity(&rows);
        assert!(add.all_swapped_differs.is_empty());
        assert_eq!(add.minimal, vec![vec!["torch_logits", "torch_mean"]]);
        let text = parting_text(&add, &rows);
        assert!(text.contains("the swaps add up"), "{text}");
        assert!(text.contains("`torch_logits` + `torch_mean` (no smaller set does)"), "{text}");
        assert!(text.contains("`torch_loss` and `quotient64` change no element"), "{text}");
        assert!(text.contains("`torch_logits` in 8 of 8 (at 1e-5, 1e-6)"), "{text}");
    }

    #[test]
    fn swaps_that_do_not_add_up_say_what_remains() {
        // Nothing reproduces PyTorch: the all-four combination differs at both steps.
        let rows = combos(|s| format!("g{}", s.len()), "T");
        let add = additivity(&rows);
        assert_eq!(add.all_swapped_differs, vec![("1e-5".to_string(), 3), ("1e-6".to_string(), 3)]);
        assert!(add.minimal.is_empty());
        let text = parting_text(&add, &rows);
        assert!(
            text.contains("still leave elements different from PyTorch's numeric gradient (3 at 1e-5 and 3 at 1e-6)"),
            "{text}"
        );
        assert!(!text.contains("add up"), "{text}");
        assert!(!text.contains("change no element"), "{text}");
    }

    fn path_row(mkl: &str, aten: &str, threads: usize, eps: &str, relerr: f64, zeros: usize) -> PathRow {
        PathRow {
            mkl_cbwr: mkl.into(),
            aten: aten.into(),
            libm: "baseline".into(),
            threads,
            mkldnn: "off".into(),
            dtype: "f32".into(),
            variant: "reset".into(),
            eps: step(eps),
            relerr_mean: relerr,
            numeric_zero: zeros,
        }
    }

    #[test]
    fn paths_that_agree_say_the_table_does_not_depend_on_them() {
        let rows: Vec<PathRow> = [("COMPATIBLE", 1), ("AUTO", 1), ("COMPATIBLE", 2)]
            .iter()
            .flat_map(|&(m, t)| [path_row(m, "default", t, "1e-5", 0.1, 0), path_row(m, "default", t, "1e-6", 0.8, 19)])
            .collect();
        let text = paths_text(&TorchMeta::default(), &rows, &path_spread(&rows));
        assert!(text.contains("Every one of the 2 rows is the same on every path"), "{text}");
        assert!(
            text.contains(
                "The 3 code paths: the committed path, and the committed path with MKL's branch (MKL_CBWR) AUTO, with \
                 the thread count 2."
            ),
            "{text}"
        );
    }

    #[test]
    fn paths_that_change_zero_counts_say_which_setting_does() {
        let mut rows = Vec::new();
        for (m, a) in [("COMPATIBLE", "default"), ("COMPATIBLE", "avx2"), ("AUTO", "default"), ("AUTO", "avx2")] {
            let avx2 = a == "avx2";
            rows.push(path_row(m, a, 1, "1e-5", 0.1, 0));
            rows.push(path_row(m, a, 1, "1e-6", if avx2 { 0.9 } else { 0.8 }, if avx2 { 29 } else { 19 }));
        }
        let mut meta = TorchMeta::default();
        meta.settings_tried.push(gradlab_lab::peers::SettingTried {
            setting: "mkl_cbwr=AVX512".into(),
            offered: false,
            reported: "MKL reports CNR:AUTO".into(),
        });
        let text = paths_text(&meta, &rows, &path_spread(&rows));
        assert!(text.contains("1 of the 2 rows are the same on every path; the others differ by at most 1.2e-1 relative (f32 reset at 1e-6: 8.000000e-01 to 9.000000e-01)"), "{text}");
        assert!(text.contains("depends on the code path at f32 reset 1e-6 (19-29)"), "{text}");
        assert!(
            text.contains(
                "ATen's CPU capability (ATEN_CPU_CAPABILITY), at 1 row (f32 reset); nothing changes with MKL's branch"
            ),
            "{text}"
        );
        assert!(text.contains("mkl_cbwr=AVX512 (MKL reports CNR:AUTO)"), "{text}");
        assert_eq!(spread_cell(&path_spread(&rows)[1]), "8.000000e-01 to 9.000000e-01 (19-29)");
        assert_eq!(spread_cell(&path_spread(&rows)[0]), "=");
    }

    /// gradlab rows (f64 reset, f32 accumulate) from (dtype, x.grad, eps, relerr, zeros).
    fn check_rows(rows: &[(&str, &str, &str, f64, usize)]) -> Vec<CheckRow> {
        let mut text = String::from(
            "dtype,scheme,wrt,input_grad,eps,relerr_mean,relerr_median,relerr_max,zero_over_zero,dead_zone,num_vs_truth,\
             anal_vs_truth,ratio_median,nonfinite,anal_underflow,status,loss_flat,est_error,est_bounds\n",
        );
        for (d, g, e, r, z) in rows {
            text.push_str(&format!("{d},central,input,{g},{e},{r},{r},{r},0,0,NaN,NaN,1,0,0,ok,{z},,\n"));
        }
        gradlab_lab::runner::output::from_csv(text.as_bytes()).unwrap()
    }

    fn torch_rows(rows: &[(&str, &str, &str, f64, usize)]) -> Vec<TorchRow> {
        rows.iter()
            .map(|&(d, g, e, r, z)| TorchRow {
                dtype: d.into(),
                variant: g.into(),
                eps: step(e),
                relerr_mean: r,
                numeric_zero: z,
            })
            .collect()
    }

    #[test]
    fn agreement_says_where_they_part_and_where_they_do_not() {
        let mine = check_rows(&[
            ("f64", "reset", "1e-3", 3e-9, 0),
            ("f64", "reset", "1e-4", 5e-11, 0),
            ("f64", "reset", "1e-5", 2e-10, 0),
            ("f32", "accumulate", "1e-4", 0.9007, 0),
            ("f32", "accumulate", "1e-6", 0.94, 28),
        ]);
        let close = torch_rows(&[
            ("f64", "reset", "1e-3", 3e-9, 0),
            ("f64", "reset", "1e-4", 4e-11, 0),
            ("f64", "reset", "1e-5", 2.5e-10, 0),
            ("f32", "accumulate", "1e-4", 0.9001, 0),
            ("f32", "accumulate", "1e-6", 0.85, 19),
        ]);
        let text = agreement_text(&mine, &close);
        assert!(text.contains("the 1 steps where gradlab's relerr is within 1e-3 of 1 - 1/E = 0.9) PyTorch and gradlab agree to within 6.7e-4"), "{text}");
        assert!(text.contains("errors of the same size but not the same values (up to a factor 1.25 apart)"), "{text}");
        assert!(text.contains("their counts differ at 1e-6 (PyTorch 19, gradlab 28; x.grad accumulate)"), "{text}");
        let far = torch_rows(&[
            ("f64", "reset", "1e-3", 3e-9, 0),
            ("f64", "reset", "1e-4", 5e-10, 0),
            ("f64", "reset", "1e-5", 2e-10, 0),
            ("f32", "accumulate", "1e-4", 0.8, 0),
            ("f32", "accumulate", "1e-6", 0.94, 28),
        ]);
        let text = agreement_text(&mine, &far);
        assert!(text.contains("PyTorch and gradlab differ by up to 1.1e-1"), "{text}");
        assert!(text.contains("not even of the same size (up to a factor 10.00 apart)"), "{text}");
        assert!(text.contains("their counts of exactly-zero numeric elements agree at every step"), "{text}");
    }
}
