//! `precision_sweep`: correct gradients; the error of the numeric gradient against the step for
//! every dtype and three schemes over several seeds, beside the expected-error model, and
//! collapsed onto one curve per scheme.

use gradlab::check::{check_dtype, prepare, CheckConfig, Status};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::theory::ExpectedModel;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::plot::{dtype_color, dtype_ink, Figure, LegendPos};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::{dashed, line};
use gradlab_lab::spread::median_band;
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct PrecisionSweep;

const SCHEMES: [Scheme; 3] = [Scheme::Forward, Scheme::Central, Scheme::Central5];

fn dtypes(quick: bool) -> Vec<DType> {
    if quick {
        vec![DType::F16, DType::F32, DType::F64]
    } else {
        vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_113, DType::MPFR_256]
    }
}

fn seeds(quick: bool) -> Vec<u64> {
    if quick {
        vec![1, 2]
    } else {
        vec![1, 2, 3, 4, 5]
    }
}

/// The grid of a dtype, 4 steps per decade (2 when quick) from 10^top through `decades` decades:
/// far enough on both sides of every scheme's optimum for the curve to turn (the 16-bit optima lie
/// above 1; f16's smallest subnormal is 6e-8, so its grid stops at 1e-7).
fn grid_for(dt: DType, quick: bool) -> Vec<Decimal> {
    let (top, decades) = match dt {
        DType::F16 => (2, 9),
        DType::BF16 => (2, 10),
        _ => match dt.bits() {
            b if b <= 24 => (0, 12),
            b if b <= 53 => (0, 20),
            b if b <= 113 => (0, 30),
            _ => (0, 60),
        },
    };
    log_grid_from(top, if quick { decades.min(12) } else { decades }, if quick { 2 } else { 4 })
}

/// A dtype, a scheme, a seed, and whether the grid is the quick one.
pub type Cell = (DType, Scheme, u64, bool);

/// One step of one cell.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    scheme: Scheme,
    seed: u64,
    eps: Decimal,
    eps_value: f64,
    num_vs_truth: f64,
    relerr_mean: f64,
    anal_vs_truth: f64,
    dead_zone: usize,
    nonfinite: usize,
    status: Status,
    loss_flat: usize,
    expected: f64,
}

impl Experiment for PrecisionSweep {
    type Cell = Cell;
    type Row = Row;

    const NAME: &'static str = "precision_sweep";
    const DESCRIPTION: &'static str = "correct gradients: error vs step for f16, bf16, f32, f64, mpfr:113, mpfr:256 \
         and three schemes, beside the expected error";
    fn cells(&self, quick: bool) -> Vec<Cell> {
        let mut v = Vec::new();
        for dt in dtypes(quick) {
            for scheme in SCHEMES {
                v.extend(seeds(quick).into_iter().map(|seed| (dt, scheme, seed, quick)));
            }
        }
        v
    }
    fn run_cell(&self, &(dt, scheme, seed, quick): &Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(10, 4, 2, seed)?;
        let train = TrainConfig::seed(InputGrad::Reset);
        let truth = gradlab::policy::truth_prec(&[dt]);
        let cfg = CheckConfig { truth: Some(truth), ..CheckConfig::seed(scheme, Steps::grid(grid_for(dt, quick))?) };
        let rows = check_dtype(&problem, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?.rows;
        gradlab::with_dtype!(dt, |T, ctx| {
            let (tr, _) = prepare::<T>(&problem, ctx, &train, &Watch::unwatched())?;
            let model = ExpectedModel::new(&tr, train.reduction, scheme.stencil(), LinearTensor::Input, truth);
            Ok(rows
                .into_iter()
                .zip(cfg.steps.fixed())
                .map(|(r, h)| Row {
                    dtype: dt,
                    scheme,
                    seed,
                    eps_value: h.to_f64(),
                    expected: model.predict(&tr, LinearTensor::Input, h),
                    eps: h.clone(),
                    num_vs_truth: r.num_vs_truth,
                    relerr_mean: r.relerr_mean,
                    anal_vs_truth: r.anal_vs_truth,
                    dead_zone: r.dead_zone,
                    nonfinite: r.nonfinite,
                    status: r.status,
                    loss_flat: r.loss_flat,
                })
                .collect())
        })
    }
    fn row_is_nonfinite(&self, row: &Row) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mut s = format!(
            "Correct gradients (x.grad reset; n = 10, d = 4, k = 2, E = 10, lr = 1e-3, seeds {:?}); the mean ordinary relative \
             error |v - t| / |t| of the numeric input gradient against the MPFR truth t, median over the seeds with the min-max band over them. \
             Dashed: the expected error (src/theory/expected.rs, median over seeds), which the `error_model` experiment \
             tests seed by seed. Every dtype follows the same truncation line until its own rounding takes over, and the \
             optimum moves to smaller steps as u shrinks. Scaling the step by u^(1/(p+1)) and the error by u^(p/(p+1)) \
             (p the scheme's order) lays every dtype's curve onto one.\n",
            seeds(quick)
        );
        for scheme in SCHEMES {
            let p = scheme.stencil().order as f64;
            let title =
                |what: &str| format!("Finite-difference error vs step, {scheme} differences (order {p}), {what}");
            let y_label = "mean relative error of the numeric gradient vs MPFR truth";
            let mut hw = Figure::new(title("hardware formats"), "step eps", y_label);
            let mut collapse = Figure::new(String::new(), "h / u^(1/(p+1))", "error / u^(p/(p+1))");
            let mut scaled = Vec::new();
            for dt in dtypes(quick) {
                let mine = || rows.iter().filter(|r| r.dtype == dt && r.scheme == scheme);
                let (med, band) = median_band(mine().map(|r| (&r.eps, r.num_vs_truth)));
                let (expected, _) = median_band(mine().map(|r| (&r.eps, r.expected)));
                let u = dt.unit_roundoff();
                let (sx, sy) = (u.powf(1.0 / (p + 1.0)), u.powf(p / (p + 1.0)));
                // Near the optimum (a window of 12 decades of the scaled step), where the scaling applies.
                let near: Vec<(f64, f64)> =
                    med.iter().map(|&(h, e)| (h / sx, e / sy)).filter(|p| (1e-6..=1e6).contains(&p.0)).collect();
                collapse.series.push(line(&dt.to_string(), dtype_ink(dt), near.clone()));
                scaled.push((dt, near));
                if !matches!(dt, DType::Mpfr(_)) {
                    hw.series.push(line(&dt.to_string(), dtype_ink(dt), med).with_band(band));
                    // A relative error above 1 means a gradient lost, which the model does not describe.
                    hw.series.push(dashed("", dtype_color(dt), expected.into_iter().filter(|p| p.1 <= 1.0).collect()));
                }
            }
            hw.legend_pos = LegendPos::Auto;
            hw.caption = Some(
                "solid: measured, median over seeds; band: min-max over seeds; dashed: expected error (below 1)".into(),
            );
            collapse.title = title(&gradlab_lab::claims::collapse_phrase(&scaled));
            collapse.legend_pos = LegendPos::Auto;
            collapse.caption =
                Some("u = 2^-p of each dtype, p its order; medians over seeds; 12 decades around the optimum".into());
            s.push_str(&out.figure_md(&format!("precision_sweep_{scheme}_hardware"), &hw)?);
            s.push_str(&out.figure_md(&format!("precision_sweep_{scheme}_collapse"), &collapse)?);
        }
        Ok(s)
    }
}

gradlab_lab::experiment_main!(PrecisionSweep);
