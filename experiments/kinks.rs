//! `kinks`: relu's kinks against the step. For `mlp-relu`, the fraction of input elements whose
//! perturbation moves a hidden pre-activation across 0, and each method's error on those
//! elements and on the others, against the step, in f32 and f64 over seeds.

use gradlab::check::{check_model_watched, CheckConfig, Status};
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::prelude::*;
use gradlab::metrics::relerr_to_truth;
use gradlab::objective::mlp::{self, Activation, MlpParams, MlpSpec, DEFAULT_HIDDEN};
use gradlab::objective::Model;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::scalar::Scalar;
use gradlab::watch::Watch;
use ndarray::Array2;

/// The experiment.
pub struct Kinks;

const METHODS: [Scheme; 5] = [Scheme::Forward, Scheme::Central, Scheme::Central5, Scheme::Ridders, Scheme::Complex];

fn dtypes() -> [DType; 2] {
    [DType::F32, DType::F64]
}

fn seeds(quick: bool) -> Vec<u64> {
    (1..=if quick { 2 } else { 10 }).collect()
}

/// 4 steps per decade (2 when quick) from 1 to 1e-6 (f32) or 1e-12 (f64).
fn steps(dt: DType, quick: bool) -> Vec<Decimal> {
    usable_steps(&log_grid_from(0, if dt == DType::F32 { 6 } else { 12 }, if quick { 2 } else { 4 }), dt)
}

/// One step of one method on one seed.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    method: Scheme,
    seed: u64,
    eps: Decimal,
    /// Input elements (n d).
    elements: usize,
    /// Elements whose perturbation by +-eps (2 eps for central5) moves a pre-activation across 0.
    crossing: usize,
    /// Mean ordinary relative error |numeric - truth| / |truth| over the crossing elements whose
    /// truth is not 0 (NaN when none).
    relerr_crossing: f64,
    /// The same over the other elements.
    relerr_smooth: f64,
    /// Elements whose truth is 0 (the check's truth, its rounding residues cleared), left out of
    /// both means.
    truth_zero: usize,
    status: Status,
}

/// Each input element's distance to its sample's nearest kink ([`mlp::MlpTrained::kink_distance`]),
/// in the dtype's own trained state.
fn kink_distance<T: Scalar>(problem: &Problem, ctx: T::Ctx, cfg: &TrainConfig, seed: u64) -> Result<Array2<f64>> {
    let x = problem.x.map(|v| T::from_f64(*v, ctx));
    let init = MlpParams::generate(problem.d(), problem.k(), DEFAULT_HIDDEN, seed).cast::<T>(ctx);
    Ok(mlp::train_watched(&x, &problem.t, &init, Activation::Relu, cfg, ctx, &Watch::unwatched())?.kink_distance())
}

impl Experiment for Kinks {
    /// A dtype, a seed, and whether the grid is the quick one.
    type Cell = (DType, u64, bool);
    type Row = Row;

    const NAME: &'static str = "kinks";
    const DESCRIPTION: &'static str =
        "mlp-relu: how many elements' perturbations cross a kink against the step, and what that does to each method";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        dtypes().into_iter().flat_map(|dt| seeds(quick).into_iter().map(move |s| (dt, s, quick))).collect()
    }
    fn run_cell(&self, &(dt, seed, quick): &Self::Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(10, 4, 2, seed)?;
        let train = TrainConfig::seed(InputGrad::Reset);
        let dist = gradlab::with_dtype!(dt, |T, ctx| kink_distance::<T>(&problem, ctx, &train, seed))?;
        let model = Model::Mlp(MlpSpec { act: Activation::Relu, hidden: DEFAULT_HIDDEN, seed });
        let mut out = Vec::new();
        for method in METHODS {
            let cfg = CheckConfig {
                truth: Some(truth_prec(&[dt])),
                keep_grads: true,
                ..CheckConfig::seed(method, steps(dt, quick))
            };
            let check = check_model_watched(&problem, dt, &cfg, model, &Watch::unwatched())?;
            let Some(grads) = check.grads else { continue };
            let Some(truth) = grads.truth else { continue };
            let reach = if method == Scheme::Central5 { 2.0 } else { 1.0 };
            for (r, num) in check.rows.into_iter().zip(grads.numeric) {
                let h = reach * r.eps.to_f64();
                // The ordinary relative error; elements whose truth is 0 (the check's truth, its
                // rounding residues cleared) have none (counted).
                let rel = |(v, t): (&f64, &f64)| relerr_to_truth(v, t, 53, 53);
                let errs: Vec<(f64, Option<f64>)> =
                    dist.iter().copied().zip(num.iter().zip(truth.iter()).map(rel)).collect();
                let truth_zero = errs.iter().filter(|p| p.1.is_none()).count();
                let errs = errs.into_iter().filter_map(|(d, e)| Some((d, e?)));
                let (cross, smooth): (Vec<_>, Vec<_>) = errs.partition(|p| p.0 < h);
                let mean = |v: &[(f64, f64)]| {
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().map(|p| p.1).sum::<f64>() / v.len() as f64
                    }
                };
                out.push(Row {
                    dtype: dt,
                    method,
                    seed,
                    eps: r.eps,
                    elements: dist.len(),
                    crossing: dist.iter().filter(|&&d| d < h).count(),
                    relerr_crossing: mean(&cross),
                    relerr_smooth: mean(&smooth),
                    truth_zero,
                    status: r.status,
                });
            }
        }
        Ok(out)
    }
    fn row_is_nonfinite(&self, row: &Row) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let n = seeds(quick).len();
        let of = |dt: DType, m: Scheme| rows.iter().filter(move |r| r.dtype == dt && r.method == m);
        let frac = |r: &Row| r.crossing as f64 / r.elements as f64;
        let (med, band) = median_band(of(DType::F64, Scheme::Central).map(|r| (&r.eps, frac(r))));
        let (med5, _) = median_band(of(DType::F64, Scheme::Central5).map(|r| (&r.eps, frac(r))));
        let mut fig = Figure::new("Input elements whose central difference crosses a relu kink", "step h", "fraction")
            .with(line("central, +-h (f64)", BLUE, med).with_band(band))
            .with(dashed("five-point, +-2h (f64)", GREEN, med5))
            .with_caption(format!("median over {n} seeds, band: min-max; mlp-relu, H = 8, n = 10, d = 4"));
        fig.y_log = false;
        let mut figures = out.figure_md("kinks_fraction", &fig)?;
        let title = "Error on elements that cross a kink (dashed) and on the others (solid), f64";
        let mut err = Figure::new(title, "step h", "mean relative error vs truth")
            .with_caption(format!("median over the seeds with a crossing element at that step ({n} seeds in all)"));
        for (m, c) in
            [(Scheme::Forward, ORANGE), (Scheme::Central, BLUE), (Scheme::Central5, GREEN), (Scheme::Complex, BLACK)]
        {
            let (smooth, _) = median_band(of(DType::F64, m).map(|r| (&r.eps, r.relerr_smooth)));
            let (crossing, _) =
                median_band(of(DType::F64, m).filter(|r| r.crossing > 0).map(|r| (&r.eps, r.relerr_crossing)));
            err.series.push(line(&format!("{m}, smooth"), c, smooth));
            err.series.push(dashed(&format!("{m}, crossing"), c, crossing));
        }
        figures.push_str(&out.figure_md("kinks_error", &err)?);
        let (mut table, mut summary) = (Vec::new(), Vec::new());
        for (dt, m) in dtypes().into_iter().flat_map(|dt| METHODS.map(|m| (dt, m))) {
            let (smooth, _) = median_band(of(dt, m).map(|r| (&r.eps, r.relerr_smooth)));
            let best = smooth.iter().copied().fold((f64::NAN, f64::INFINITY), |b, p| if p.1 < b.1 { p } else { b });
            let edge = if smooth.first().is_some_and(|p| p.0 == best.0) { " (grid's edge)" } else { "" };
            let crossing = median(&of(dt, m).filter(|r| r.eps.to_f64() == best.0).map(frac).collect::<Vec<f64>>());
            // Per seed, the best step at which no element crosses, and the error there.
            let clean: Vec<(f64, f64)> = seeds(quick)
                .iter()
                .filter_map(|&s| {
                    let ok = of(dt, m).filter(|r| r.seed == s && r.crossing == 0 && r.relerr_smooth.is_finite());
                    ok.map(|r| (r.eps.to_f64(), r.relerr_smooth)).min_by(|a, b| a.1.total_cmp(&b.1))
                })
                .collect();
            let (steps, errs): (Vec<f64>, Vec<f64>) = clean.into_iter().unzip();
            let ratios: Vec<f64> =
                of(dt, m).filter(|r| r.crossing > 0).map(|r| r.relerr_crossing / r.relerr_smooth).collect();
            let (e, ratio) = (Spread::of(&errs), median(&ratios));
            table.push(vec![
                dt.to_string(),
                m.to_string(),
                format!("{:.2e}{edge}", best.0),
                format!("{:.2e}", best.1),
                format!("{:.0} %", 100.0 * crossing),
                format!("{:.2e}", median(&steps)),
                e.sci_range_label(1),
                format!("{ratio:.1e}"),
            ]);
            summary.push(((dt, m), [best.0, 100.0 * crossing, median(&steps), e.median, ratio]));
        }
        let pick = |key: (DType, Scheme)| summary.iter().find(|s| s.0 == key).map_or([f64::NAN; 5], |s| s.1);
        let [h32, p32, s32, e32, r32] = pick((DType::F32, Scheme::Central));
        let [h64, p64, s64, e64, r64] = pick((DType::F64, Scheme::Central));
        let [_, _, _, ex, rx] = pick((DType::F64, Scheme::Complex));
        let rule = format!(
            "Central differences at the step best for smooth elements let {p32:.0} % of the elements cross a kink in \
             f32 (h = {h32:.2e}) and {p64:.0} % in f64 (h = {h64:.2e}); a crossing element's error is {r32:.0e} (f32) \
             and {r64:.0e} (f64) times a smooth one's. Take the best step at which no element crosses instead: median \
             {s32:.2e} in f32 (error {e32:.1e}) and {s64:.2e} in f64 (error {e64:.1e}). The complex step is not \
             affected (crossing over smooth error {rx:.1}): it reaches {ex:.1e} in f64, perturbing only the imaginary \
             part."
        );
        let table = md_table(
            "dtype | method | best step (smooth elements) | their error | elements crossing there | \
             best step with no crossing (median over seeds) | error there: median (min to max) | \
             crossing / smooth error at the same step (median)",
            table,
        );
        let zeros = zeros_note(rows.iter().map(|r| r.truth_zero).max().unwrap_or(0));
        let vars = vars![n, table, figures, rule, zeros];
        fill(include_str!("kinks.md"), &vars)
    }
}

/// How many elements the means leave out for a true gradient of exactly 0, from the largest
/// count in one check.
fn zeros_note(most: usize) -> String {
    match most {
        0 => "no element's truth is 0 here".to_string(),
        z => format!("at most {z} per check"),
    }
}

gradlab::experiment_main!(Kinks);

#[cfg(test)]
mod tests {
    use super::zeros_note;

    /// The note says there are none only when no check has one.
    #[test]
    fn the_zero_truth_note_follows_the_count() {
        assert_eq!(zeros_note(0), "no element's truth is 0 here");
        assert_eq!(zeros_note(3), "at most 3 per check");
    }
}
