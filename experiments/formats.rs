//! `formats`: checking a correct gradient in e4m3, e5m2, bf16, f16, TF32 and f32, and in the
//! mixed `+f32` versions of the first five (autocast-like: stored in the format, accumulated and
//! the loss evaluated in f32), central and five-point, over seeds: error against step, the best
//! step, where losses go flat.

use gradlab::check::{check_dtype, CheckConfig, Status};
use gradlab::error::Result;
use gradlab::exact::{format_sci, Decimal};
use gradlab::method::{Scheme, Steps};
use gradlab::metrics::{best_step, compare};
use gradlab::model::LinearTensor;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Scalar};
use gradlab::watch::Watch;
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::plot::{dtype_ink, Figure, LegendPos};
use gradlab_lab::report::{best_step_label, md_table, step_or_none};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::line;
use gradlab_lab::spread::{group_by, median_band, Spread};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct Formats;

const SCHEMES: [Scheme; 2] = [Scheme::Central, Scheme::Central5];

fn dtypes(quick: bool) -> Vec<DType> {
    if quick {
        vec![DType::E4M3, DType::E4M3_F32, DType::BF16, DType::BF16_F32, DType::F32]
    } else {
        vec![
            DType::E4M3,
            DType::E4M3_F32,
            DType::E5M2,
            DType::E5M2_F32,
            DType::BF16,
            DType::BF16_F32,
            DType::F16,
            DType::F16_F32,
            DType::TF32,
            DType::TF32_F32,
            DType::F32,
        ]
    }
}

fn seeds(quick: bool) -> Vec<u64> {
    (1..=if quick { 2 } else { 10 }).collect()
}

/// A dtype's grid, 4 steps per decade (2 when quick), from above its optimum into the flat zone:
/// 100 to 1e-3 for FP8, 100 to 1e-6 for 8 and 11 bits, 10 to 1e-8 for f32.
fn steps(dt: DType, quick: bool) -> Vec<Decimal> {
    let per = if quick { 2 } else { 4 };
    let grid = match dt.bits() {
        b if b <= 4 => log_grid_from(2, 5, per),
        b if b <= 11 => log_grid_from(2, 8, per),
        _ => log_grid_from(1, 9, per),
    };
    usable_steps(&grid, dt)
}

/// One step of one check.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    scheme: Scheme,
    seed: u64,
    eps: Decimal,
    relerr_mean: f64,
    num_vs_truth: f64,
    anal_vs_truth: f64,
    loss_flat: usize,
    dead_zone: usize,
    nonfinite: usize,
    /// The mean relative error of numeric against twice the analytic gradient (a wrong gradient
    /// a check must reject), the same measure as `relerr_mean`.
    relerr_doubled: f64,
    status: Status,
}

impl Experiment for Formats {
    /// A dtype, a scheme, a seed, and whether the grid is the quick one.
    type Cell = (DType, Scheme, u64, bool);
    type Row = Row;

    const NAME: &'static str = "formats";
    const DESCRIPTION: &'static str = "the formats training runs in (e4m3, e5m2, bf16, f16, tf32, f32; pure and +f32 \
         mixed): error vs step, best step, flat losses";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let per_dtype =
            |dt| SCHEMES.into_iter().flat_map(move |sc| seeds(quick).into_iter().map(move |s| (dt, sc, s, quick)));
        dtypes(quick).into_iter().flat_map(per_dtype).collect()
    }
    fn run_cell(&self, &(dt, scheme, seed, quick): &Self::Cell) -> Result<Vec<Row>> {
        let cfg = CheckConfig {
            truth: Some(truth_prec(&[dt])),
            keep_grads: true,
            ..CheckConfig::seed(scheme, Steps::grid(steps(dt, quick))?)
        };
        let check =
            check_dtype(&Problem::generate(10, 4, 2, seed)?, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?;
        let doubled: Vec<f64> = match &check.grads {
            Some(g) => {
                let twice = g.analytic.mapv(|v| 2.0 * v);
                g.numeric.iter().map(|num| compare(num, &twice, 53, 53).mean).collect()
            }
            None => Vec::new(),
        };
        Ok(check
            .rows
            .into_iter()
            .zip(cfg.steps.fixed())
            .enumerate()
            .map(|(i, (r, h))| Row {
                dtype: dt,
                scheme,
                seed,
                eps: h.clone(),
                relerr_mean: r.relerr_mean,
                num_vs_truth: r.num_vs_truth,
                anal_vs_truth: r.anal_vs_truth,
                loss_flat: r.loss_flat,
                dead_zone: r.dead_zone,
                nonfinite: r.nonfinite,
                relerr_doubled: doubled.get(i).copied().unwrap_or(f64::NAN),
                status: r.status,
            })
            .collect())
    }
    fn row_is_nonfinite(&self, row: &Row) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mine = |dt: DType, sc: Scheme| rows.iter().filter(move |r| r.dtype == dt && r.scheme == sc);
        let spread = |rs: &[&Row], f: fn(&Row) -> f64| Spread::of(&rs.iter().map(|r| f(r)).collect::<Vec<f64>>());
        let dts = dtypes(quick);
        let (mut table, mut bests, mut advice) = (Vec::new(), Vec::new(), Vec::new());
        for (&dt, sc) in dts.iter().flat_map(|dt| SCHEMES.iter().map(move |&sc| (dt, sc))) {
            let (med, _) = median_band(mine(dt, sc).map(|r| (&r.eps, r.relerr_mean)));
            let grid: Vec<&Decimal> = mine(dt, sc).map(|r| &r.eps).take(med.len()).collect();
            let Some(best) = best_step(grid.into_iter().zip(med.iter().map(|p| p.1))) else { continue };
            let here: Vec<&Row> = mine(dt, sc).filter(|r| r.eps.value() == best.step.value()).collect();
            let rel = spread(&here, |r| r.relerr_mean);
            let anal = spread(&here, |r| r.anal_vs_truth).median;
            let doubled = spread(&here, |r| r.relerr_doubled);
            advice.push(Advice { dtype: dt, scheme: sc, correct_max: rel.max, doubled_min: doubled.min, anal });
            bests.push(BestOf {
                dtype: dt,
                scheme: sc,
                step: best.step.to_f64(),
                edge: best.edge.is_some(),
                relerr: rel.median,
                anal,
            });
            table.push(vec![
                dt.to_string(),
                dt.loss_dtype().to_string(),
                sc.to_string(),
                best_step_label(&best),
                format!("{:.2e} ({:.2e} to {:.2e})", rel.median, rel.min, rel.max),
                format!("{anal:.2e}"),
                format!(
                    "{} ({:.2e} to {:.2e})",
                    if rel.max < doubled.min { "yes" } else { "no" },
                    doubled.min,
                    doubled.max
                ),
                count_median(spread(&here, |r| r.loss_flat as f64).median),
                count_median(spread(&here, |r| r.dead_zone as f64).median),
            ]);
        }
        let mut zones = Vec::new();
        let regimes = md_table(
            "dtype | first flat loss | half flat | first dead input | nonfinite",
            dts.iter().map(|&dt| {
                let mut by_step: Vec<&Row> = mine(dt, Scheme::Central).collect();
                by_step.sort_by(|a, b| b.eps.value().cmp(a.eps.value()));
                let first = |ok: &dyn Fn(&Row) -> bool| by_step.iter().find(|r| ok(r)).map(|r| r.eps.to_f64());
                let (flat_med, _) = median_band(mine(dt, Scheme::Central).map(|r| (&r.eps, r.loss_flat as f64)));
                let half = flat_med.iter().find(|p| p.1 >= 20.0).map(|p| p.0); // of the 40 inputs
                let failed = rows.iter().filter(|r| r.dtype == dt && r.status != Status::Ok);
                let groups = group_by(failed, |r| (r.scheme, u64::MAX - r.eps.to_f64().to_bits()));
                let bad: Vec<String> = groups
                    .iter()
                    .map(|(k, rs)| format!("{} at {} ({} seeds)", k.0, format_sci(rs[0].eps.to_f64()), rs.len()))
                    .collect();
                let first_dead = first(&|r| r.dead_zone > 0);
                zones.push(Zones { dtype: dt, half_flat: half, first_dead });
                vec![
                    dt.to_string(),
                    step_or_none(first(&|r| r.loss_flat > 0)),
                    step_or_none(half),
                    step_or_none(first_dead),
                    if bad.is_empty() { "none".into() } else { bad.join(", ") },
                ]
            }),
        );
        let (n, mut figures) = (seeds(quick).len(), String::new());
        // The zero counts in two figures, pure formats and mixed ones (f32 in both as the
        // reference): eleven curves fill every corner of one figure, so no legend would miss data.
        let pure = |dt: DType| dt.storage().is_none();
        let mixed = |dt: DType| dt.storage().is_some() || dt == DType::F32;
        let all = |_: DType| true;
        let figs: [(Scheme, &str, bool, Keep); 4] = [
            (Scheme::Central, "formats_central", true, &all),
            (Scheme::Central5, "formats_central5", true, &all),
            (Scheme::Central, "formats_zero", false, &pure),
            (Scheme::Central, "formats_zero_mixed", false, &mixed),
        ];
        for (sc, stem, log, keep) in figs {
            let (title, y) = if log {
                (
                    format!("Checking a correct gradient in each format, {sc} differences"),
                    "mean relative error, numeric vs analytic",
                )
            } else {
                (
                    format!(
                        "Elements whose numeric gradient is 0: loss flat or input dead (central, {})",
                        if stem.ends_with("mixed") { "S+f32 and f32" } else { "pure formats" }
                    ),
                    "flat-loss + dead-input elements (of 40)",
                )
            };
            let mut fig = Figure::new(title, "step eps", y);
            let mut drawn: Vec<(DType, Vec<(f64, f64)>)> = Vec::new();
            for &dt in dts.iter().filter(|&&dt| keep(dt)) {
                let value = |r: &Row| if log { r.relerr_mean } else { (r.loss_flat + r.dead_zone) as f64 };
                let (med, band) = median_band(mine(dt, sc).map(|r| (&r.eps, value(r))));
                // A median equal to an earlier one's (or within 1 % of it) at 3/4 of the steps or
                // more says so, as the earlier curve hides under it.
                let near = |d: &[(f64, f64)], tol: f64| {
                    d.iter().zip(&med).filter(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() <= tol * b.1.abs()).count()
                };
                let best = |tol| drawn.iter().map(|d| (d.0, near(&d.1, tol))).max_by_key(|d| d.1);
                let enough = |d: &(DType, usize)| 4 * d.1 >= 3 * med.len();
                let twin = best(0.0)
                    .filter(enough)
                    .map(|(e, k)| format!("= {e} at {k}"))
                    .or_else(|| best(0.01).filter(enough).map(|(e, k)| format!("within 1 % of {e} at {k}")));
                let label = twin.as_ref().map_or(dt.to_string(), |t| format!("{dt} ({t} of {} steps)", med.len()));
                // A mixed dtype S+f32: S's colour and shape, hollow.
                let curve = line(&label, dtype_ink(dt), med.clone());
                fig.series.push(if log { curve.with_band(band) } else { curve });
                drawn.push((dt, med));
            }
            fig.y_log = log;
            // Eleven curves with long labels: inside the frame the legend covers data wherever it goes.
            fig.legend_pos = LegendPos::Below;
            let what = if log { "; band: min-max over seeds" } else { " of loss_flat + dead_zone" };
            fig.caption = Some(format!(
                "median over {n} seeds{what}; hollow markers: S+f32 (S's colour and shape); a label says where a median equals (or is within 1 % of) an earlier one's"
            ));
            figures.push_str(&out.figure_md(stem, &fig)?);
        }
        let t = md_table(
            "computed in X | loss in Y | scheme | step Z | relerr W | analytic vs truth | tells it from 2x \
                 (relerr of 2x analytic) | flat | dead",
            table,
        );
        let advice = advice_sentence(&advice);
        let zones = mixed_zones(&zones);
        let gains = mixed_gains(&bests);
        let twins = [(DType::TF32, DType::F16), (DType::TF32_F32, DType::F16_F32)].map(|(a, b)| Twins::of(rows, a, b));
        let twins = match twins {
            [Some(pure), mixed] => {
                let ranges = seeds(quick)
                    .into_iter()
                    .map(|sd| value_range(pure.wide, sd).map(|(lo, hi)| (sd, lo, hi)))
                    .collect::<Result<Vec<_>>>()?;
                twins_sentence(&pure, mixed.as_ref(), &ranges)
            }
            _ => String::new(),
        };
        Ok(format!(
            include_str!("formats.md"),
            seeds = n,
            table = t,
            advice = advice,
            zones = zones,
            gains = gains,
            twins = twins,
            regimes = regimes,
            figures = figures
        ))
    }
}

/// A median count of elements: whole, or with its half when the median of an even number of
/// seeds falls between two counts (the project's median: the mean of the two middle values), so
/// 2.5 is not printed as 2.
fn count_median(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{m:.0}")
    } else {
        format!("{m:.1}")
    }
}

/// The smallest nonzero and the largest magnitude among the values of `dt`'s trained state for
/// problem `seed` and its last backward pass: inputs, weights, bias, logits, y.grad, each term
/// y.grad_ik W_jk of x.grad, x.grad, W.grad and b.grad.
fn value_range(dt: DType, seed: u64) -> Result<(f64, f64)> {
    let p = Problem::generate(10, 4, 2, seed)?;
    let train = gradlab::train::TrainConfig::seed(gradlab::train::InputGrad::Reset);
    Ok(gradlab::with_dtype!(dt, |T, ctx| {
        let (tr, _) = gradlab::check::prepare::<T>(&p, ctx, &train, &Watch::unwatched())?;
        let mut v: Vec<f64> = Vec::new();
        for a in [&tr.x, &tr.weight, &tr.logits, &tr.grad_logits, &tr.grad_x, &tr.grad_weight] {
            v.extend(a.iter().map(|x| x.to_f64()));
        }
        v.extend(tr.bias.iter().chain(&tr.grad_bias).map(|x| x.to_f64()));
        for g in tr.grad_logits.rows() {
            for w in tr.weight.rows() {
                v.extend(g.iter().zip(w.iter()).map(|(a, b)| a.to_f64() * b.to_f64()));
            }
        }
        let mags = v.iter().map(|x| x.abs()).filter(|x| *x > 0.0);
        mags.fold((f64::INFINITY, 0.0), |(lo, hi), x| (lo.min(x), hi.max(x)))
    }))
}

/// Which dtypes a figure draws.
type Keep<'a> = &'a dyn Fn(DType) -> bool;

/// Whether a check at a dtype's and scheme's best step tells a correct gradient from twice it.
#[derive(Clone, Copy, Debug)]
struct Advice {
    dtype: DType,
    scheme: Scheme,
    /// The correct gradient's relerr in its worst seed.
    correct_max: f64,
    /// Twice the analytic gradient's relerr in its best seed.
    doubled_min: f64,
    /// The analytic gradient's error against the truth (median over seeds).
    anal: f64,
}

impl Advice {
    /// Every seed's correct gradient below every seed's doubled one: a threshold between them
    /// passes the one and rejects the other.
    fn separates(&self) -> bool {
        self.correct_max < self.doubled_min
    }
}

/// The advice, kept or withdrawn per dtype from the rows: where the best step's check tells a
/// correct gradient from twice it in every seed, the table's step and relerr are usable; where it
/// does not, the advice is withdrawn for that dtype with the numbers, and what the data offer
/// instead: the dtype's mixed S+f32 version when its check separates, else the widest dtype whose
/// check does.
fn advice_sentence(rows: &[Advice]) -> String {
    let kept: Vec<String> = dtypes_where(rows, true);
    let failed: Vec<&Advice> = rows.iter().filter(|a| !a.separates()).collect();
    if failed.is_empty() {
        return format!(
            "In every format and scheme here ({}), the check at step Z tells a correct gradient from twice it in \
             every seed (the worst seed's relerr W is below the best seed's relerr of twice the analytic \
             gradient): flag relerr above W's worst seed.",
            kept.join(", ")
        );
    }
    let mut by_dtype: Vec<DType> = failed.iter().map(|a| a.dtype).collect();
    by_dtype.dedup();
    let parts: Vec<String> = by_dtype
        .iter()
        .map(|&dt| {
            let mine: Vec<&&Advice> = failed.iter().filter(|a| a.dtype == dt).collect();
            let worst = mine.iter().map(|a| a.correct_max).fold(f64::NAN, f64::max);
            let twice = mine.iter().map(|a| a.doubled_min).fold(f64::NAN, f64::min);
            let schemes: Vec<String> = mine.iter().map(|a| a.scheme.to_string()).collect();
            let instead = instead_of(rows, dt);
            format!(
                "{dt} ({}): a correct gradient's relerr reaches {worst:.2} in some seed, twice it gets {twice:.2} in \
                 another, and the analytic gradient itself is {:.0} % off the truth; {instead}",
                schemes.join(", "),
                100.0 * mine[0].anal
            )
        })
        .collect();
    let kept = if kept.is_empty() {
        "No format's check here tells a correct gradient from twice it in every seed.".to_string()
    } else {
        format!(
            "The advice holds in {}: there the worst seed's relerr W is below the best seed's relerr of twice the \
             analytic gradient, so a threshold between them passes a correct gradient and rejects a doubled one.",
            kept.join(", ")
        )
    };
    format!(
        "{kept} It is withdrawn where no threshold on relerr separates the two on this problem: {}.",
        parts.join("; ")
    )
}

/// The dtypes (in row order, once) whose every scheme separates (`true`) or not.
fn dtypes_where(rows: &[Advice], separates: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in rows {
        let all = rows.iter().filter(|b| b.dtype == a.dtype).all(|b| b.separates() == separates);
        if all && !out.contains(&a.dtype.to_string()) {
            out.push(a.dtype.to_string());
        }
    }
    out
}

/// What to do instead of checking in `dt`: its S+f32 version when every scheme of it separates,
/// else the widest dtype (most bits) whose every scheme does, else recompute at a higher
/// precision than any here.
fn instead_of(rows: &[Advice], dt: DType) -> String {
    let separates = |d: DType| rows.iter().filter(|a| a.dtype == d).all(Advice::separates);
    if let Some(m) = mixed_of(dt, rows, |a| a.dtype).map(|a| a.dtype).find(|&d| separates(d)) {
        return format!("compute the gradient in {m} and check it there");
    }
    let widest = rows.iter().map(|a| a.dtype).filter(|&d| separates(d)).max_by_key(|d| d.bits());
    match widest {
        Some(w) => format!("recompute the gradient in {w} and check it there"),
        None => "no dtype here can check it".to_string(),
    }
}

/// A row of the report's table: a dtype and scheme at its best step (median over seeds).
#[derive(Clone, Copy, Debug)]
struct BestOf {
    dtype: DType,
    scheme: Scheme,
    step: f64,
    /// Whether the best step is the grid's largest or smallest (a bound, not an optimum).
    edge: bool,
    relerr: f64,
    /// The analytic gradient's mean relative error against the truth (median over seeds).
    anal: f64,
}

/// A dtype's row of the regimes table: where the median seed first has half of its elements flat
/// and where the first input dies (central differences; `None`: nowhere on the grid).
#[derive(Clone, Copy, Debug)]
struct Zones {
    dtype: DType,
    half_flat: Option<f64>,
    first_dead: Option<f64>,
}

/// The items of `all` whose dtype is the mixed S+f32 of the pure format `pure`.
fn mixed_of<T>(pure: DType, all: &[T], dtype: impl Fn(&T) -> DType) -> impl Iterator<Item = &T> {
    let name = format!("{}+f32", pure.name());
    all.iter().filter(move |m| dtype(m).name() == name)
}

/// A ratio in the report: two significant digits (1.8, 32).
fn times(x: f64) -> String {
    if x.abs() >= 9.95 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// "a to b" for the range of `values` (one number when they print the same).
fn span(values: impl IntoIterator<Item = f64>) -> String {
    let (lo, hi) = values.into_iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if times(lo) == times(hi) {
        times(lo)
    } else {
        format!("{} to {}", times(lo), times(hi))
    }
}

/// The regimes of S and S+f32 compared, from the regimes table: whether the median seed of any
/// S+f32 check, and of every pure format's, has half of its elements flat somewhere on the grid,
/// and whether the first dead input lies at the same step for S and S+f32.
fn mixed_zones(zones: &[Zones]) -> String {
    let pairs: Vec<(&Zones, &Zones)> = zones
        .iter()
        .filter(|z| z.dtype.storage().is_none())
        .filter_map(|p| Some((p, mixed_of(p.dtype, zones, |z| z.dtype).next()?)))
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    let n = pairs.len();
    let flat_mixed: Vec<String> =
        pairs.iter().filter_map(|(_, m)| m.half_flat.map(|h| format!("{} from {}", m.dtype, format_sci(h)))).collect();
    let flat_pure = pairs.iter().filter(|(p, _)| p.half_flat.is_some()).count();
    let mut s = if flat_mixed.is_empty() && flat_pure == n {
        "With the loss in f32, the median seed of no S+f32 check has half of its elements flat anywhere on the grid, \
         while every pure format's does from some step on: a perturbation that changes a stored logit by one ulp of S \
         changes the f32 loss by far more than f32's rounding."
            .to_string()
    } else {
        let never: Vec<String> =
            pairs.iter().filter(|(p, _)| p.half_flat.is_none()).map(|(p, _)| p.dtype.to_string()).collect();
        format!(
            "With the loss in f32, the median seed has half of its elements flat somewhere on the grid in {} of {n} \
             S+f32 checks{} and in {flat_pure} of {n} pure ones{}.",
            flat_mixed.len(),
            if flat_mixed.is_empty() { String::new() } else { format!(" ({})", flat_mixed.join(", ")) },
            if never.is_empty() { String::new() } else { format!(" (never in {})", never.join(", ")) },
        )
    };
    let parted: Vec<String> = pairs
        .iter()
        .filter(|(p, m)| p.first_dead != m.first_dead)
        .map(|(p, m)| {
            format!("{} at {}, {} at {}", p.dtype, step_or_none(p.first_dead), m.dtype, step_or_none(m.first_dead))
        })
        .collect();
    if parted.is_empty() {
        s.push_str(
            " The first dead input lies at the same step for S and S+f32 (the perturbed value is stored in S in both).",
        );
    } else {
        s.push_str(&format!(
            " The first dead input lies at the same step for S and S+f32 in {} of {n} formats, not in {}.",
            n - parted.len(),
            parted.join("; ")
        ));
    }
    s
}

/// One format and scheme with both a pure and a mixed row: S's best step, relerr and analytic
/// error over S+f32's (above 1: the mixed check's is smaller), and whether either best step is on
/// the grid's edge.
struct Gain {
    format: DType,
    scheme: Scheme,
    step: f64,
    relerr: f64,
    anal: f64,
    edge: bool,
}

/// "{what} is a to b times smaller than S's" when every ratio (S's over S+f32's) is above 1;
/// otherwise in how many cases it is, and for which it is not (the same, or how many times
/// larger).
fn smaller(what: &str, gains: &[Gain], ratio: fn(&Gain) -> f64) -> String {
    let (more, not): (Vec<&Gain>, Vec<&Gain>) = gains.iter().partition(|g| ratio(g) > 1.0);
    let range = span(more.iter().map(|g| ratio(g)));
    let list: Vec<String> = not
        .iter()
        .map(|g| {
            let r = ratio(g);
            let how = if r == 1.0 { "the same".to_string() } else { format!("{} times larger", times(1.0 / r)) };
            format!("{} {} ({how})", g.format, g.scheme)
        })
        .collect();
    match (more.len(), not.len()) {
        (_, 0) => format!("{what} is {range} times smaller than S's"),
        (0, _) => format!("{what} is smaller than S's in none of the {} cases ({})", gains.len(), list.join(", ")),
        (k, _) => format!(
            "{what} is {range} times smaller than S's in {k} of {} cases, but not for {}",
            gains.len(),
            list.join(", ")
        ),
    }
}

/// What the mixed S+f32 check gains over the pure S check, written from the table's rows: how
/// many times smaller its best step and its relerr are (or for which format and scheme they are
/// not), the gains per format from the least, whether the FP8 formats gain least, and how many
/// times closer to the truth the analytic gradient is (or where it is not).
fn mixed_gains(rows: &[BestOf]) -> String {
    let gains: Vec<Gain> = rows
        .iter()
        .filter(|r| r.dtype.storage().is_none())
        .filter_map(|p| {
            let m = mixed_of(p.dtype, rows, |r| r.dtype).find(|m| m.scheme == p.scheme)?;
            Some(Gain {
                format: p.dtype,
                scheme: p.scheme,
                step: p.step / m.step,
                relerr: p.relerr / m.relerr,
                anal: p.anal / m.anal,
                edge: p.edge || m.edge,
            })
        })
        .collect();
    if gains.is_empty() {
        return String::new();
    }
    let mut formats: Vec<DType> = Vec::new();
    for g in &gains {
        if !formats.contains(&g.format) {
            formats.push(g.format);
        }
    }
    // Per format, its relerr ratios over the schemes; sorted by the largest, the least gain first.
    let ratios = |dt: DType| gains.iter().filter(move |g| g.format == dt).map(|g| g.relerr);
    let mut per: Vec<(DType, f64, f64)> = formats
        .iter()
        .map(|&dt| (dt, ratios(dt).fold(f64::INFINITY, f64::min), ratios(dt).fold(f64::NEG_INFINITY, f64::max)))
        .collect();
    per.sort_by(|a, b| a.2.total_cmp(&b.2));
    let listed: Vec<String> = per.iter().map(|(dt, lo, hi)| format!("{dt} {}", span([*lo, *hi]))).collect();
    // The FP8 formats (at most 4 significant bits) gain least when each of their ratios is below
    // every other format's.
    let (fp8, rest): (Vec<&(DType, f64, f64)>, Vec<_>) = per.iter().partition(|p| p.0.bits() <= 4);
    let least = if fp8.is_empty() || rest.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = fp8.iter().map(|p| p.0.to_string()).collect();
        let worst = fp8.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
        if rest.iter().all(|p| p.1 > worst) {
            let bits: Vec<String> = fp8.iter().map(|p| p.0.bits().to_string()).collect();
            format!(
                "; least for {}, whose stored values keep {} significant bits",
                names.join(" and "),
                bits.join(" and ")
            )
        } else {
            format!("; {} do not gain least", names.join(" and "))
        }
    };
    let bounds: Vec<String> = gains.iter().filter(|g| g.edge).map(|g| format!("{} {}", g.format, g.scheme)).collect();
    let bounds = if bounds.is_empty() {
        String::new()
    } else {
        format!(" (a bound for {}, whose best step is on the grid's edge)", bounds.join(", "))
    };
    let mut s = format!(
        "{}{bounds}, and {} (by format, from the least gain: {}{least}).",
        smaller("The best step of S+f32", &gains, |g| g.step),
        smaller("its relerr", &gains, |g| g.relerr),
        listed.join(", ")
    );
    // The analytic gradient, once per format (the same at every scheme's best step).
    let anal: Vec<(DType, f64)> =
        formats.iter().filter_map(|&dt| gains.iter().find(|g| g.format == dt).map(|g| (dt, g.anal))).collect();
    let text: Vec<String> = anal.iter().map(|(dt, r)| format!("{} in {dt}", times(*r))).collect();
    if anal.iter().all(|a| a.1 > 1.0) {
        s.push_str(&format!(
            " The analytic gradient itself is closer to the truth in S+f32 than in S, by a factor {} (each sum of \
             products rounded once into S instead of at every addition).",
            text.join(", ")
        ));
    } else {
        let worse: Vec<String> = anal.iter().filter(|a| a.1 <= 1.0).map(|a| a.0.to_string()).collect();
        s.push_str(&format!(
            " The analytic gradient is not closer to the truth in S+f32 than in S for {} (S's error over S+f32's: {}).",
            worse.join(", "),
            text.join(", ")
        ));
    }
    s
}

/// How many rows of a wide-range dtype equal those of a narrower one of the same precision
/// (tf32 and f16): every column but the dtype, at the same scheme, seed and step.
#[derive(Clone, Debug, PartialEq)]
struct Twins {
    wide: DType,
    narrow: DType,
    same: usize,
    total: usize,
    /// The seeds with a row that differs, and how many of their rows do.
    parted: Vec<(u64, usize)>,
}

impl Twins {
    /// The comparison of `wide`'s rows with `narrow`'s; `None` when either has no rows.
    fn of(rows: &[Row], wide: DType, narrow: DType) -> Option<Twins> {
        let same_f = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        let (mut same, mut total, mut parted) = (0, 0, Vec::<(u64, usize)>::new());
        for a in rows.iter().filter(|r| r.dtype == wide) {
            let Some(b) = rows.iter().find(|b| {
                b.dtype == narrow && b.scheme == a.scheme && b.seed == a.seed && b.eps.value() == a.eps.value()
            }) else {
                continue;
            };
            total += 1;
            let equal = same_f(a.relerr_mean, b.relerr_mean)
                && same_f(a.num_vs_truth, b.num_vs_truth)
                && same_f(a.anal_vs_truth, b.anal_vs_truth)
                && (a.loss_flat, a.dead_zone, a.nonfinite, a.status)
                    == (b.loss_flat, b.dead_zone, b.nonfinite, b.status);
            if equal {
                same += 1;
            } else {
                match parted.iter_mut().find(|p| p.0 == a.seed) {
                    Some(p) => p.1 += 1,
                    None => parted.push((a.seed, 1)),
                }
            }
        }
        parted.sort_unstable();
        (total > 0).then_some(Twins { wide, narrow, same, total, parted })
    }
}

/// A seed whose rows differ, and how many of its rows do.
type Parted = (u64, usize);

/// Whether tf32 gives f16's rows, written from the counts: all, most or few of them identical,
/// why (the same significand and one rounding per operation; tf32's exponent range contains
/// f16's, so they part only where a value leaves f16's normal range), and which seeds part. With
/// `mixed`, the count for the mixed pair too. `ranges`, per seed, the smallest nonzero and the
/// largest magnitude of the wide dtype's values ([`value_range`]): the range explanation is
/// written only for the seeds where some value lies outside the narrow dtype's normal range, and
/// a seed whose rows differ with every value inside it is named as not explained by range.
fn twins_sentence(t: &Twins, mixed: Option<&Twins>, ranges: &[(u64, f64, f64)]) -> String {
    let (w, nw) = (t.wide, t.narrow);
    let lead = if t.same == t.total {
        format!("{w} equals {nw} on this problem: all {} of its rows are identical to {nw}'s", t.total)
    } else if 2 * t.same >= t.total {
        format!("{w} equals {nw} on most of this problem: {} of its {} rows are identical to {nw}'s", t.same, t.total)
    } else {
        format!(
            "{w} differs from {nw} on most of this problem: only {} of its {} rows are identical to {nw}'s",
            t.same, t.total
        )
    };
    let seeds = |t: &Twins| -> String {
        let list: Vec<String> = t.parted.iter().map(|(s, k)| format!("{s} ({k} rows)")).collect();
        format!("seed{} {}", if list.len() == 1 { "" } else { "s" }, list.join(", "))
    };
    let mixed = mixed.map_or(String::new(), |m| {
        let parted = if m.parted.is_empty() { String::new() } else { format!(", differing in {}", seeds(m)) };
        format!(" (and {} of the {} rows of {} to {}'s{parted})", m.same, m.total, m.wide, m.narrow)
    });
    let contains = |e: Option<i32>, f: Option<i32>, m: Option<f64>, n: Option<f64>| {
        e.zip(f).is_some_and(|(e, f)| e <= f) && m.zip(n).is_some_and(|(m, n)| m >= n)
    };
    let wider = contains(w.normal_exp_min(), nw.normal_exp_min(), w.max_finite(), nw.max_finite());
    let why = if w.bits() == nw.bits() && wider {
        let range =
            |dt: DType| {
                let lo = dt.normal_exp_min().map_or(String::from("?"), |e| format!("{:.1e}", 2f64.powi(e)));
                let hi = dt.max_finite().map_or(String::from("?"), |m| {
                    if m < 1e6 {
                        format!("{m:.0}")
                    } else {
                        format!("{m:.1e}")
                    }
                });
                format!("{lo} to {hi}")
            };
        format!(
            " Both keep {} significant bits ({} stored) and round every operation once, and {w}'s exponent range \
             contains {nw}'s (normal from {}, {nw} from {}), so the two compute the same bits wherever every value \
             stays within {nw}'s normal range",
            w.bits(),
            w.bits() - 1,
            range(w),
            range(nw)
        )
    } else {
        format!(
            " The two differ in more than range ({} and {} significant bits, normal from 2^{} and 2^{})",
            w.bits(),
            nw.bits(),
            w.normal_exp_min().unwrap_or(0),
            nw.normal_exp_min().unwrap_or(0)
        )
    };
    let lo = nw.normal_exp_min().map_or(0.0, |e| 2f64.powi(e));
    let hi = nw.max_finite().unwrap_or(f64::INFINITY);
    let outside = |sd: u64| {
        ranges.iter().find(|r| r.0 == sd).and_then(|&(_, small, large)| {
            if small < lo {
                Some(format!("a value of {small:.1e}, below {nw}'s smallest normal {lo:.1e}"))
            } else if large > hi {
                Some(format!("a value of {large:.1e}, above {nw}'s largest {hi:.1e}"))
            } else {
                None
            }
        })
    };
    let agreeing_outside =
        ranges.iter().filter(|r| !t.parted.iter().any(|p| p.0 == r.0) && outside(r.0).is_some()).count();
    let agreeing = ranges.iter().filter(|r| !t.parted.iter().any(|p| p.0 == r.0)).count();
    let rest = if t.parted.is_empty() {
        format!("; on this problem {nw}'s narrower range changes nothing.")
    } else if w.bits() == nw.bits() && wider {
        let (found, unexplained): (Vec<&Parted>, Vec<&Parted>) =
            t.parted.iter().partition(|(sd, _)| outside(*sd).is_some());
        let named = |v: &[&Parted], with_value: bool| -> String {
            let items: Vec<String> = v
                .iter()
                .map(|(sd, k)| {
                    let value = if with_value {
                        outside(*sd).map_or(String::new(), |o| format!(": {o}"))
                    } else {
                        String::new()
                    };
                    format!("seed {sd} ({k} rows{value})")
                })
                .collect();
            gradlab_lab::claims::and_list(&items)
        };
        let also = if agreeing_outside > 0 {
            format!(
                " A value leaves that range in {agreeing_outside} of the {agreeing} seeds whose rows agree too: \
                 leaving it does not always change the rows."
            )
        } else {
            String::new()
        };
        let mut r = String::new();
        if !found.is_empty() {
            r.push_str(&format!(
                ". The rows that differ are in {}, where a value of {w}'s trained state or last backward pass leaves \
                 that range ({nw} would round it to its subnormal spacing or overflow, {w} does not)",
                named(&found, true)
            ));
        }
        if !unexplained.is_empty() {
            r.push_str(&format!(
                ". In {} every value of {w}'s trained state and last backward pass lies within {nw}'s normal range, \
                 yet the rows differ: range does not explain it there (a value computed during training or in a \
                 perturbed loss, not looked at here, may leave it)",
                named(&unexplained, false)
            ));
        }
        r + "." + &also
    } else {
        ".".to_string()
    };
    format!("{lead} in every column but the dtype{mixed}.{why}{rest}")
}

gradlab_lab::experiment_main!(Formats);

#[cfg(test)]
mod tests {
    use super::*;

    fn advice(dt: &str, correct_max: f64, doubled_min: f64) -> Advice {
        Advice { dtype: DType::parse(dt).unwrap(), scheme: Scheme::Central, correct_max, doubled_min, anal: 0.2 }
    }

    /// The advice is kept where the check separates a correct gradient from twice it, withdrawn
    /// where it does not, with the mixed version offered when it separates and else the widest
    /// dtype that does.
    #[test]
    fn the_advice_follows_the_separation() {
        let all = advice_sentence(&[advice("bf16", 0.26, 0.4), advice("f32", 1e-4, 0.5)]);
        assert!(all.starts_with("In every format and scheme here (bf16, f32), the check"), "{all}");
        let rows = [advice("e4m3", 0.45, 0.40), advice("e4m3+f32", 0.3, 0.45), advice("f32", 1e-4, 0.5)];
        let s = advice_sentence(&rows);
        assert!(s.starts_with("The advice holds in e4m3+f32, f32:"), "{s}");
        assert!(
            s.ends_with(
                "e4m3 (central): a correct gradient's relerr reaches 0.45 in some seed, twice it gets 0.40 in another, \
                 and the analytic gradient itself is 20 % off the truth; compute the gradient in e4m3+f32 and check it \
                 there."
            ),
            "{s}"
        );
        let rows = [advice("e4m3", 0.45, 0.40), advice("e4m3+f32", 0.45, 0.40), advice("f32", 1e-4, 0.5)];
        assert!(advice_sentence(&rows).contains("recompute the gradient in f32 and check it there"));
        let none = advice_sentence(&[advice("e4m3", 0.45, 0.40)]);
        assert!(none.starts_with("No format's check here tells"), "{none}");
        assert!(none.contains("no dtype here can check it"), "{none}");
    }

    fn best(dt: &str, scheme: Scheme, step: f64, relerr: f64, anal: f64) -> BestOf {
        BestOf { dtype: DType::parse(dt).unwrap(), scheme, step, edge: false, relerr, anal }
    }

    /// The gains are read from the rows, and the sentences about the least gain and the analytic
    /// gradient change with them.
    #[test]
    fn the_mixed_gains_follow_the_rows() {
        let c = Scheme::Central;
        let mut rows = vec![
            best("e4m3", c, 10.0, 0.3, 0.2),
            best("e4m3+f32", c, 1.0, 0.1, 0.1),
            best("e5m2", c, 10.0, 0.4, 0.3),
            best("e5m2+f32", c, 2.0, 0.1, 0.06),
            best("bf16", c, 3.0, 0.08, 0.01),
            best("bf16+f32", c, 1.0, 0.01, 0.002),
        ];
        let s = mixed_gains(&rows);
        assert_eq!(
            s,
            "The best step of S+f32 is 3.0 to 10 times smaller than S's, and its relerr is 3.0 to 8.0 times smaller \
             than S's (by format, from the least gain: e4m3 3.0, e5m2 4.0, bf16 8.0; least for e4m3 and e5m2, whose \
             stored values keep 4 and 3 significant bits). The analytic gradient itself is closer to the truth in \
             S+f32 than in S, by a factor 2.0 in e4m3, 5.0 in e5m2, 5.0 in bf16 (each sum of products rounded once \
             into S instead of at every addition)."
        );
        // A best step on the grid's edge makes its ratio a bound.
        rows[2].edge = true;
        assert!(
            mixed_gains(&rows).contains("10 times smaller than S's (a bound for e5m2 central, whose best step is on")
        );
        rows[2].edge = false;
        // bf16 gaining least, and its analytic gradient no closer: the other sentences.
        rows[5] = best("bf16+f32", c, 1.0, 0.04, 0.02);
        let s = mixed_gains(&rows);
        assert!(
            s.contains("from the least gain: bf16 2.0, e4m3 3.0, e5m2 4.0; e4m3 and e5m2 do not gain least)"),
            "{s}"
        );
        assert!(s.contains("The analytic gradient is not closer to the truth in S+f32 than in S for bf16"), "{s}");
        // Mixed no better or worse: the step the same, the relerr larger.
        rows[1] = best("e4m3+f32", c, 10.0, 0.6, 0.1);
        let s = mixed_gains(&rows);
        assert!(
            s.starts_with(
                "The best step of S+f32 is 3.0 to 5.0 times smaller than S's in 2 of 3 cases, but not for e4m3 \
                 central (the same), and its relerr is 2.0 to 4.0 times smaller than S's in 2 of 3 cases, but not for \
                 e4m3 central (2.0 times larger)"
            ),
            "{s}"
        );
        // Mixed worse everywhere.
        let rows = [best("f16", c, 1.0, 0.01, 0.01), best("f16+f32", c, 2.0, 0.02, 0.01)];
        let s = mixed_gains(&rows);
        assert!(
            s.starts_with(
                "The best step of S+f32 is smaller than S's in none of the 1 cases (f16 central (2.0 times larger)), \
                 and its relerr is smaller than S's in none of the 1 cases (f16 central (2.0 times larger))"
            ),
            "{s}"
        );
        assert!(
            s.contains("not closer to the truth in S+f32 than in S for f16 (S's error over S+f32's: 1.0 in f16)"),
            "{s}"
        );
        assert_eq!(mixed_gains(&rows[..1]), "");
    }

    fn zones(dt: &str, half_flat: Option<f64>, first_dead: Option<f64>) -> Zones {
        Zones { dtype: DType::parse(dt).unwrap(), half_flat, first_dead }
    }

    /// The flat and dead comparisons follow the regimes table.
    #[test]
    fn the_mixed_zones_follow_the_table() {
        let mut z = vec![
            zones("bf16", Some(0.1), Some(5.62e-3)),
            zones("bf16+f32", None, Some(5.62e-3)),
            zones("f16", Some(5.62e-3), Some(5.62e-4)),
            zones("f16+f32", None, Some(5.62e-4)),
            zones("f32", Some(1e-6), Some(1e-7)),
        ];
        let s = mixed_zones(&z);
        assert!(s.starts_with("With the loss in f32, the median seed of no S+f32 check has half"), "{s}");
        assert!(s.ends_with("The first dead input lies at the same step for S and S+f32 (the perturbed value is stored in S in both)."), "{s}");
        z[1].half_flat = Some(1e-3);
        z[2].half_flat = None;
        z[3].first_dead = None;
        let s = mixed_zones(&z);
        assert!(
            s.starts_with(
                "With the loss in f32, the median seed has half of its elements flat somewhere on the grid in 1 of 2 \
                 S+f32 checks (bf16+f32 from 1e-03) and in 1 of 2 pure ones (never in f16)."
            ),
            "{s}"
        );
        assert!(
            s.ends_with(
                "The first dead input lies at the same step for S and S+f32 in 1 of 2 formats, not in f16 at 5.62e-04, \
                 f16+f32 at none on the grid."
            ),
            "{s}"
        );
        assert_eq!(mixed_zones(&z[4..]), "");
    }

    fn twins(same: usize, total: usize, parted: Vec<(u64, usize)>) -> Twins {
        Twins { wide: DType::parse("tf32").unwrap(), narrow: DType::F16, same, total, parted }
    }

    /// A median between two counts keeps its half.
    #[test]
    fn count_medians_keep_their_half() {
        assert_eq!(count_median(2.0), "2");
        assert_eq!(count_median(2.5), "2.5");
        assert_eq!(count_median(0.5), "0.5");
    }

    /// All, most or few rows identical: each sentence where the counts call for it.
    #[test]
    fn the_tf32_sentence_follows_the_counts() {
        let s = twins_sentence(&twins(660, 660, vec![]), None, &[]);
        assert!(
            s.starts_with("tf32 equals f16 on this problem: all 660 of its rows are identical to f16's in every"),
            "{s}"
        );
        assert!(s.contains("Both keep 11 significant bits (10 stored)"), "{s}");
        assert!(s.contains("(normal from 1.2e-38 to 3"), "{s}");
        assert!(s.contains("f16 from 6.1e-5 to 65504)"), "{s}");
        assert!(s.ends_with("; on this problem f16's narrower range changes nothing."), "{s}");
        let m = Twins {
            wide: DType::parse("tf32+f32").unwrap(),
            narrow: DType::parse("f16+f32").unwrap(),
            ..twins(590, 660, vec![(2, 70)])
        };
        let ranges = [(1, 1e-3, 0.5), (2, 3.2e-5, 0.5), (3, 2e-3, 0.4)];
        let s = twins_sentence(&twins(594, 660, vec![(2, 66)]), Some(&m), &ranges);
        assert!(s.starts_with("tf32 equals f16 on most of this problem: 594 of its 660 rows are identical"), "{s}");
        assert!(
            s.contains("(and 590 of the 660 rows of tf32+f32 to f16+f32's, differing in seed 2 (70 rows))."),
            "{s}"
        );
        assert!(
            s.ends_with(
                "The rows that differ are in seed 2 (66 rows: a value of 3.2e-5, below f16's smallest normal 6.1e-5), \
                 where a value of tf32's trained state or last backward pass leaves that range (f16 would round it to \
                 its subnormal spacing or overflow, tf32 does not)."
            ),
            "{s}"
        );
        // A seed whose rows differ with every value inside f16's range is not explained by range;
        // a value outside it in a seed whose rows agree is said to be not enough.
        let ranges = [(1, 1e-3, 0.5), (2, 2e-3, 0.5), (3, 2e-5, 0.4)];
        let s = twins_sentence(&twins(594, 660, vec![(2, 66)]), None, &ranges);
        assert!(s.contains("In seed 2 (66 rows) every value of tf32's trained state"), "{s}");
        assert!(s.contains("range does not explain it there"), "{s}");
        assert!(!s.contains("The rows that differ are in"), "{s}");
        assert!(s.ends_with("A value leaves that range in 1 of the 2 seeds whose rows agree too: leaving it does not always change the rows."), "{s}");
        let s = twins_sentence(&twins(100, 660, vec![(1, 60), (2, 500)]), None, &[]);
        assert!(s.starts_with("tf32 differs from f16 on most of this problem: only 100 of its 660 rows"), "{s}");
        assert!(s.contains("In seed 1 (60 rows) and seed 2 (500 rows) every value"), "{s}");
        // Not the same precision: no claim that only the range parts them.
        let s = twins_sentence(&Twins { wide: DType::BF16, ..twins(10, 660, vec![(1, 650)]) }, None, &[]);
        assert!(
            s.ends_with("The two differ in more than range (8 and 11 significant bits, normal from 2^-126 and 2^-14)."),
            "{s}"
        );
    }
}
