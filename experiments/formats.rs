//! `formats`: checking a correct gradient in e4m3, e5m2, bf16, f16, TF32 and f32, and in the
//! mixed `+f32` versions of the first five (autocast-like: stored in the format, accumulated and
//! the loss evaluated in f32), central and five-point, over seeds: error against step, the best
//! step, where losses go flat.

use gradlab::check::{check_dtype, CheckConfig, Status};
use gradlab::error::Result;
use gradlab::exact::{format_sci, Decimal};
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::plot::{dtype_color, Figure, LegendPos};
use gradlab::lab::report::{best_step_label, md_table, step_or_none};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::line;
use gradlab::lab::spread::{group_by, median_band, Spread};
use gradlab::method::Scheme;
use gradlab::metrics::best_step;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct Formats;

const SCHEMES: [Scheme; 2] = [Scheme::Central, Scheme::Central5];

fn dtypes(quick: bool) -> Vec<DType> {
    let (quick_list, full) =
        ("e4m3,e4m3+f32,bf16,bf16+f32,f32", "e4m3,e4m3+f32,e5m2,e5m2+f32,bf16,bf16+f32,f16,f16+f32,tf32,tf32+f32,f32");
    DType::parse_list(if quick { quick_list } else { full }).unwrap_or_default()
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
        let cfg = CheckConfig { truth: Some(truth_prec(&[dt])), ..CheckConfig::seed(scheme, steps(dt, quick)) };
        let rows = check_dtype(&Problem::generate(10, 4, 2, seed)?, dt, &cfg)?.rows;
        Ok(rows
            .into_iter()
            .map(|r| Row {
                dtype: dt,
                scheme,
                seed,
                eps: r.eps,
                relerr_mean: r.relerr_mean,
                num_vs_truth: r.num_vs_truth,
                anal_vs_truth: r.anal_vs_truth,
                loss_flat: r.loss_flat,
                dead_zone: r.dead_zone,
                nonfinite: r.nonfinite,
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
        let mut table = Vec::new();
        for (&dt, sc) in dts.iter().flat_map(|dt| SCHEMES.iter().map(move |&sc| (dt, sc))) {
            let (med, _) = median_band(mine(dt, sc).map(|r| (&r.eps, r.relerr_mean)));
            let grid: Vec<&Decimal> = mine(dt, sc).map(|r| &r.eps).take(med.len()).collect();
            let Some(best) = best_step(grid.into_iter().zip(med.iter().map(|p| p.1))) else { continue };
            let here: Vec<&Row> = mine(dt, sc).filter(|r| r.eps.value() == best.step.value()).collect();
            let rel = spread(&here, |r| r.relerr_mean);
            table.push(vec![
                dt.to_string(),
                dt.loss_dtype().to_string(),
                sc.to_string(),
                best_step_label(&best),
                format!("{:.2e} ({:.2e} to {:.2e})", rel.median, rel.min, rel.max),
                format!("{:.2e}", spread(&here, |r| r.anal_vs_truth).median),
                format!("{:.0}", spread(&here, |r| r.loss_flat as f64).median),
                format!("{:.0}", spread(&here, |r| r.dead_zone as f64).median),
            ]);
        }
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
                vec![
                    dt.to_string(),
                    step_or_none(first(&|r| r.loss_flat > 0)),
                    step_or_none(half),
                    step_or_none(first(&|r| r.dead_zone > 0)),
                    if bad.is_empty() { "none".into() } else { bad.join(", ") },
                ]
            }),
        );
        let (n, mut figures) = (seeds(quick).len(), String::new());
        for (sc, stem, log) in [
            (Scheme::Central, "formats_central", true),
            (Scheme::Central5, "formats_central5", true),
            (Scheme::Central, "formats_zero", false),
        ] {
            let (title, y) = if log {
                (
                    format!("Checking a correct gradient in each format, {sc} differences"),
                    "mean relative error, numeric vs analytic",
                )
            } else {
                (
                    "Elements whose numeric gradient is 0: loss flat or input dead (central)".into(),
                    "flat-loss + dead-input elements (of 40)",
                )
            };
            let mut fig = Figure::new(title, "step eps", y);
            let mut drawn: Vec<(DType, Vec<(f64, f64)>)> = Vec::new();
            for &dt in &dts {
                let value = |r: &Row| if log { r.relerr_mean } else { (r.loss_flat + r.dead_zone) as f64 };
                let (med, band) = median_band(mine(dt, sc).map(|r| (&r.eps, value(r))));
                // A median equal to an earlier one's (or within 1 % of it) at 3/4 of the steps or
                // more is dashed and says so, as the earlier curve hides under it.
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
                let curve = line(&label, dtype_color(dt), med.clone());
                let curve = if twin.is_some() || dt.storage().is_some() { curve.dashed() } else { curve };
                fig.series.push(if log { curve.with_band(band) } else { curve });
                drawn.push((dt, med));
            }
            fig.y_log = log;
            fig.legend_pos = LegendPos::Auto;
            let what = if log { "; band: min-max over seeds" } else { " of loss_flat + dead_zone" };
            fig.caption = Some(format!(
                "median over {n} seeds{what}; dashed: S+f32 (S's colour), or a median equal to (or within 1 % of) an earlier one's at the steps said"
            ));
            figures.push_str(&out.figure_md(stem, &fig)?);
        }
        let t =
            md_table("computed in X | loss in Y | scheme | step Z | relerr W | analytic vs truth | flat | dead", table);
        Ok(format!(include_str!("formats.md"), seeds = n, table = t, regimes = regimes, figures = figures))
    }
}

gradlab::experiment_main!(Formats);
