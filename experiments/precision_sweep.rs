//! `precision_sweep`: correct gradients; error vs step on a dense grid for every dtype and
//! scheme, several seeds, beside the error model's prediction.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::plot::{dtype_color, Figure, LegendPos, LineStyle, Marker, LIGHT_GREY};
use gradlab::lab::report::{md_table, sci6};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::{dashed, line};
use gradlab::lab::spread::median_band;
use gradlab::method::Scheme;
use gradlab::objective::Wrt;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::theory::{bound_model as error_model, BoundModel as ErrorModel};
use gradlab::train::{InputGrad, TrainConfig};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct PrecisionSweep;

const SCHEMES: [Scheme; 3] = [Scheme::Forward, Scheme::Central, Scheme::Central5];

fn dtypes(quick: bool) -> Vec<DType> {
    let names = if quick { "f16,f32,f64" } else { "f16,bf16,f32,f64,mpfr:113,mpfr:256" };
    DType::parse_list(names).unwrap_or_else(|_| unreachable!("valid dtype literals"))
}

fn seeds(quick: bool) -> Vec<u64> {
    if quick {
        vec![1, 2]
    } else {
        vec![1, 2, 3, 4, 5]
    }
}

fn per_decade(quick: bool) -> u32 {
    if quick {
        2
    } else {
        4
    }
}

/// The grid of a dtype: from 10^top down through `decades` decades, far enough on both sides
/// of every scheme's optimum for the curve to turn. The 16-bit types' optima lie above 1, so
/// their grids start at 10; f16's smallest subnormal is 6e-8, so its grid stops at 1e-7.
fn grid_for(dt: DType, quick: bool) -> Vec<Decimal> {
    let (top, decades) = match dt {
        DType::F16 => (1, 8),
        DType::BF16 => (1, 9),
        _ => match dt.bits() {
            b if b <= 24 => (0, 12),
            b if b <= 53 => (0, 20),
            b if b <= 113 => (0, 30),
            _ => (0, 60),
        },
    };
    let decades = if quick { decades.min(12) } else { decades };
    log_grid_from(top, decades, per_decade(quick))
}

/// The training setup of this experiment: the seed's (E = 10, lr = 1e-3, mean), x.grad reset.
fn train_config() -> TrainConfig {
    TrainConfig::seed(InputGrad::Reset)
}

/// A dtype, a scheme, a seed, and whether the grid is the quick one.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    dtype: DType,
    scheme: Scheme,
    seed: u64,
    quick: bool,
}

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
    status: gradlab::check::Status,
}

/// The model's constants and both optima of one dtype and scheme (theory.csv).
#[derive(Serialize)]
struct Theory {
    dtype: DType,
    scheme: Scheme,
    order: u32,
    unit_roundoff: f64,
    trunc_const: f64,
    round_const: f64,
    predicted_opt_step: f64,
    predicted_min_error: f64,
    measured_opt_step: f64,
    measured_min_error: f64,
}

impl Experiment for PrecisionSweep {
    type Cell = Cell;
    type Row = Row;

    fn name(&self) -> &'static str {
        "precision_sweep"
    }
    fn description(&self) -> &'static str {
        "correct gradients: error vs step for f16, bf16, f32, f64, mpfr:113, mpfr:256 and three schemes, beside the error model"
    }
    fn cells(&self, quick: bool) -> Vec<Cell> {
        let mut v = Vec::new();
        for dtype in dtypes(quick) {
            for scheme in SCHEMES {
                v.extend(seeds(quick).into_iter().map(|seed| Cell { dtype, scheme, seed, quick }));
            }
        }
        v
    }
    fn run_cell(&self, c: &Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(10, 4, 2, c.seed)?;
        let cfg = CheckConfig {
            train: train_config(),
            scheme: c.scheme,
            steps: grid_for(c.dtype, c.quick),
            wrt: Wrt::Input,
            truth: Some(gradlab::policy::truth_prec(&[c.dtype])),
            naive: false,
            keep_grads: false,
        };
        let res = check_dtype(&problem, c.dtype, &cfg)?;
        Ok(res
            .rows
            .into_iter()
            .map(|r| Row {
                dtype: r.dtype,
                scheme: r.scheme,
                seed: c.seed,
                eps_value: r.eps.to_f64(),
                eps: r.eps,
                num_vs_truth: r.num_vs_truth,
                relerr_mean: r.relerr_mean,
                anal_vs_truth: r.anal_vs_truth,
                dead_zone: r.dead_zone,
                nonfinite: r.nonfinite,
                status: r.status,
            })
            .collect())
    }
    fn row_is_nonfinite(&self, row: &Row) -> bool {
        row.status != gradlab::check::Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mut s = format!(
            "Correct gradients (x.grad reset; n = 10, d = 4, k = 2, E = 10, seeds {:?}); the error of the numeric input \
             gradient against the MPFR truth, median over seeds with the min-max band, on a grid of {} steps per decade. \
             Dashed: the error model E(h) = T h^p + R u / h (src/theory.rs), T measured once in MPFR, R from the loss \
             and gradient sizes; diamonds: its predicted optimal step. Every dtype follows the same truncation line until \
             its own rounding line takes over, and the optimum moves to smaller steps as u shrinks.\n\n",
            seeds(quick),
            per_decade(quick)
        );
        let mut theory = Vec::new();
        for scheme in SCHEMES {
            let model = median_model(scheme, quick);
            let title = |what: &str| {
                format!("Finite-difference error vs step, {} scheme (order {}), {what}", scheme.name(), model.order)
            };
            let y_label = "mean relative error of the numeric gradient vs MPFR truth";
            let mut all_fig = Figure::new(title("all dtypes"), "step eps", y_label);
            let mut hw_fig = Figure::new(title("hardware formats"), "step eps", y_label);
            for dt in dtypes(quick) {
                let color = dtype_color(dt);
                let (med, band) = median_band(
                    rows.iter().filter(|r| r.dtype == dt && r.scheme == scheme).map(|r| (&r.eps, r.num_vs_truth)),
                );
                let best = med.iter().copied().filter(|p| p.1.is_finite()).min_by(|a, b| a.1.total_cmp(&b.1));
                let u = dt.unit_roundoff();
                let (ph, pe) = (model.optimal_step(u), model.min_error(u));
                let (mh, me) = best.unwrap_or((f64::NAN, f64::NAN));
                theory.push(Theory {
                    dtype: dt,
                    scheme,
                    order: model.order,
                    unit_roundoff: u,
                    trunc_const: model.trunc,
                    round_const: model.round,
                    predicted_opt_step: ph,
                    predicted_min_error: pe,
                    measured_opt_step: mh,
                    measured_min_error: me,
                });
                let rounding: Vec<(f64, f64)> =
                    med.iter().map(|&(h, _)| (h, model.rounding(h, u))).filter(|p| p.1 <= 1.0).collect();
                let hardware = !matches!(dt, DType::Mpfr(_));
                for fig in std::iter::once(&mut all_fig).chain(hardware.then_some(&mut hw_fig)) {
                    fig.series.push(line(&dt.name(), color, med.clone()).with_band(band.clone()));
                    fig.series.push(dashed("", color, rounding.clone()));
                    fig.markers.push(Marker { x: ph, y: pe, label: None, color });
                }
            }
            for (fig, stem) in [
                (&mut all_fig, format!("precision_sweep_{scheme}")),
                (&mut hw_fig, format!("precision_sweep_{scheme}_hardware")),
            ] {
                add_truncation_and_clip(fig, &model);
                fig.legend_pos = LegendPos::Auto;
                fig.caption = Some(
                    "dashed: rounding R u/h per dtype and truncation T h^p; diamonds: predicted optimal step".into(),
                );
                out.figure(&stem, fig)?;
            }
        }
        s.push_str(&md_table(
            &[
                "dtype",
                "scheme",
                "predicted optimal eps",
                "measured optimal eps",
                "predicted min error",
                "measured min error",
            ],
            theory.iter().map(|t| {
                vec![
                    t.dtype.to_string(),
                    t.scheme.to_string(),
                    sci6(t.predicted_opt_step),
                    sci6(t.measured_opt_step),
                    sci6(t.predicted_min_error),
                    sci6(t.measured_min_error),
                ]
            }),
        ));
        s.push('\n');
        for scheme in SCHEMES {
            s.push_str(&format!("![precision_sweep {scheme}](precision_sweep/precision_sweep_{scheme}.png)\n\n"));
            s.push_str(&format!(
                "![precision_sweep {scheme}, hardware formats](precision_sweep/precision_sweep_{scheme}_hardware.png)\n\n"
            ));
        }
        s.push_str("The model's constants and both optima are in `precision_sweep/theory.csv`.\n");
        out.csv("theory.csv", &theory)?;
        Ok(s)
    }
}

/// The error model of each seed's problem, combined by the median of their constants.
fn median_model(scheme: Scheme, quick: bool) -> ErrorModel {
    let models: Vec<ErrorModel> = seeds(quick)
        .iter()
        .filter_map(|&seed| Problem::generate(10, 4, 2, seed).ok())
        .map(|p| error_model(&p, &train_config(), scheme, Wrt::Input))
        .collect();
    ErrorModel::median(scheme.stencil().order, &models)
}

/// Adds the truncation line over the figure's step range, then clips every dashed (theory) line
/// to a decade below the lowest measurement so theory never stretches the axis.
fn add_truncation_and_clip(fig: &mut Figure, model: &ErrorModel) {
    let measured =
        || fig.series.iter().filter(|sr| sr.style == LineStyle::Solid).flat_map(|sr| sr.points.iter().copied());
    let y_min = measured().map(|p| p.1).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let (h_lo, h_hi) = measured().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (l_lo, l_hi) = (h_lo.log10(), h_hi.log10());
    let tl: Vec<(f64, f64)> = (0..=200)
        .map(|i| 10f64.powf(l_hi - (l_hi - l_lo) * i as f64 / 200.0))
        .map(|h| (h, model.truncation(h)))
        .filter(|p| p.1 <= 1.0)
        .collect();
    fig.series.push(dashed(&format!("truncation T h^{}", model.order), LIGHT_GREY, tl));
    for sr in fig.series.iter_mut().filter(|sr| sr.style == LineStyle::Dashed) {
        sr.points.retain(|p| p.1 >= y_min / 10.0);
    }
}

/// `cargo run --release --bin precision_sweep -- [--out DIR] [--quick] [--threads N] [--shard K/N]`:
/// this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&PrecisionSweep)
}
