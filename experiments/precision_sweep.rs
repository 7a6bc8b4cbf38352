//! `precision_sweep`: correct gradients; error vs step on a dense grid for every dtype and
//! scheme, several seeds, beside the error model's prediction.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::plot::{palette, Figure, LegendPos, LineStyle, Marker};
use gradlab::lab::report::sci6;
use gradlab::lab::runner::{dashed, line};
use gradlab::lab::runner::{Experiment, Output, Row, Table, Value};
use gradlab::method::Scheme;
use gradlab::metrics::median;
use gradlab::objective::Wrt;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::theory::{error_model, ErrorModel};
use gradlab::train::{InputGrad, TrainConfig};
use plotters::style::RGBColor;
use std::fmt::Write as _;

/// The experiment.
pub struct PrecisionSweep;

/// The truncation line's colour: a mid grey, apart from mpfr:256's black.
const TRUNCATION_GREY: RGBColor = RGBColor(150, 150, 150);

const SCHEMES: [Scheme; 3] = [Scheme::Forward, Scheme::Central, Scheme::Central5];

fn dtypes(quick: bool) -> Vec<DType> {
    let names: &[&str] =
        if quick { &["f16", "f32", "f64"] } else { &["f16", "bf16", "f32", "f64", "mpfr:113", "mpfr:256"] };
    names.iter().map(|n| DType::parse(n).unwrap_or_else(|_| unreachable!("valid dtype literal"))).collect()
}

fn seeds(quick: bool) -> Vec<u64> {
    if quick {
        vec![1, 2]
    } else {
        vec![1, 2, 3, 4, 5]
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

fn per_decade(quick: bool) -> u32 {
    if quick {
        2
    } else {
        4
    }
}

/// The training setup of this experiment: the seed's (E = 10, lr = 1e-3, mean), x.grad reset.
pub fn train_config() -> TrainConfig {
    TrainConfig::seed(InputGrad::Reset)
}

fn cells(quick: bool) -> Vec<(DType, Scheme, u64)> {
    let mut v = Vec::new();
    for dt in dtypes(quick) {
        for s in SCHEMES {
            for seed in seeds(quick) {
                v.push((dt, s, seed));
            }
        }
    }
    v
}

impl Experiment for PrecisionSweep {
    fn name(&self) -> &'static str {
        "precision_sweep"
    }
    fn description(&self) -> &'static str {
        "correct gradients: error vs step for f16, bf16, f32, f64, mpfr:113, mpfr:256 and three schemes, beside the error model"
    }
    fn columns(&self) -> Vec<&'static str> {
        vec![
            "dtype",
            "scheme",
            "seed",
            "eps",
            "eps_value",
            "num_vs_truth",
            "relerr_mean",
            "anal_vs_truth",
            "dead_zone",
            "nonfinite",
            "status",
        ]
    }
    fn cell_count(&self, quick: bool) -> usize {
        cells(quick).len()
    }
    fn run_cell(&self, quick: bool, index: usize) -> Result<Vec<Row>> {
        let (dt, scheme, seed) = cells(quick)[index];
        let problem = Problem::generate(10, 4, 2, seed)?;
        let steps = grid_for(dt, quick);
        let truth_bits = if dt.bits() >= 256 { 512 } else { 256 };
        let cfg = CheckConfig {
            train: train_config(),
            scheme,
            steps: steps.clone(),
            wrt: Wrt::Input,
            truth: Prec::new(truth_bits).ok(),
            naive: false,
            keep_grads: false,
        };
        let res = check_dtype(&problem, dt, &cfg)?;
        Ok(res
            .rows
            .into_iter()
            .zip(&steps)
            .map(|(r, h)| {
                vec![
                    r.dtype.to_string().into(),
                    scheme.name().into(),
                    seed.into(),
                    h.text().into(),
                    h.to_f64().into(),
                    r.num_vs_truth.into(),
                    r.relerr_mean.into(),
                    r.anal_vs_truth.into(),
                    r.dead_zone.into(),
                    r.nonfinite.into(),
                    r.status.to_string().into(),
                ]
            })
            .collect())
    }

    fn finish(&self, quick: bool, t: &Table, out: &mut Output) -> Result<String> {
        let mut theory = Table {
            columns: vec![
                "dtype",
                "scheme",
                "order",
                "unit_roundoff",
                "trunc_const",
                "round_const",
                "predicted_opt_step",
                "predicted_min_error",
                "measured_opt_step",
                "measured_min_error",
            ],
            rows: Vec::new(),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Correct gradients (x.grad reset; n = 10, d = 4, k = 2, E = 10, seeds {:?}); the error of the numeric input \
             gradient against the MPFR truth, median over seeds with the min-max band, on a grid of {} steps per decade. \
             Dashed: the error model E(h) = T h^p + R u / h (src/theory.rs), T measured once in MPFR, R from the loss \
             and gradient sizes; diamonds: its predicted optimal step. Every dtype follows the same truncation line until \
             its own rounding line takes over, and the optimum moves to smaller steps as u shrinks.\n",
            seeds(quick),
            per_decade(quick)
        );
        let _ = writeln!(s, "| dtype | scheme | predicted optimal eps | measured optimal eps | predicted min error | measured min error |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
        for scheme in SCHEMES {
            let model = median_model(scheme, quick);
            let title = |what: &str| {
                format!("Finite-difference error vs step, {} scheme (order {}), {what}", scheme.name(), model.order)
            };
            let y_label = "mean relative error of the numeric gradient vs MPFR truth";
            let mut all_fig = Figure::new(title("all dtypes"), "step eps", y_label);
            let mut hw_fig = Figure::new(title("hardware formats"), "step eps", y_label);
            for dt in dtypes(quick) {
                let name = dt.name();
                let (med, band) = median_curve(t, &name, scheme);
                let best = med.iter().copied().filter(|p| p.1.is_finite()).min_by(|a, b| a.1.total_cmp(&b.1));
                let u = dt.unit_roundoff();
                let (ph, pe) = (model.optimal_step(u), model.min_error(u));
                let (mh, me) = best.unwrap_or((f64::NAN, f64::NAN));
                theory.rows.push(vec![
                    name.clone().into(),
                    scheme.name().into(),
                    model.order.into(),
                    Value::F(u),
                    Value::F(model.trunc),
                    Value::F(model.round),
                    Value::F(ph),
                    Value::F(pe),
                    Value::F(mh),
                    Value::F(me),
                ]);
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} | {} |",
                    scheme.name(),
                    sci6(ph),
                    sci6(mh),
                    sci6(pe),
                    sci6(me)
                );
                let rounding: Vec<(f64, f64)> =
                    med.iter().map(|&(h, _)| (h, model.rounding(h, u))).filter(|p| p.1 <= 1.0).collect();
                let hardware = !matches!(dt, DType::Mpfr(_));
                for fig in std::iter::once(&mut all_fig).chain(hardware.then_some(&mut hw_fig)) {
                    fig.series.push(line(&name, palette(&name), med.clone()).with_band(band.clone()));
                    fig.series.push(dashed("", palette(&name), rounding.clone()));
                    fig.markers.push(Marker { x: ph, y: pe, label: None, color: palette(&name) });
                }
            }
            for (fig, stem) in [
                (&mut all_fig, format!("precision_sweep_{}", scheme.name())),
                (&mut hw_fig, format!("precision_sweep_{}_hardware", scheme.name())),
            ] {
                add_truncation_and_clip(fig, &model);
                fig.legend_pos = LegendPos::Auto;
                fig.caption = Some(
                    "dashed: rounding R u/h per dtype and truncation T h^p; diamonds: predicted optimal step".into(),
                );
                out.figure(&stem, fig)?;
            }
        }
        let _ = writeln!(s);
        for scheme in SCHEMES {
            let _ = writeln!(s, "![precision_sweep {0}](precision_sweep/precision_sweep_{0}.png)\n", scheme.name());
            let _ = writeln!(
                s,
                "![precision_sweep {0}, hardware formats](precision_sweep/precision_sweep_{0}_hardware.png)\n",
                scheme.name()
            );
        }
        let _ = writeln!(s, "The model's constants and both optima are in `precision_sweep/theory.csv`.");
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
    ErrorModel {
        order: scheme.stencil().order,
        trunc: median(&models.iter().map(|m| m.trunc).collect::<Vec<_>>()),
        round: median(&models.iter().map(|m| m.round).collect::<Vec<_>>()),
    }
}

/// The median over seeds of `num_vs_truth` at every step (largest step first), and the min-max band.
/// A curve as (x, y) points and its band as (x, lo, hi).
type CurveWithBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

fn median_curve(t: &Table, dtype: &str, scheme: Scheme) -> CurveWithBand {
    let rows = t.select(&[("dtype", dtype), ("scheme", scheme.name())]);
    let mut eps: Vec<f64> = rows.iter().map(|&r| t.f(r, "eps_value")).collect();
    eps.sort_by(|a, b| b.total_cmp(a));
    eps.dedup();
    let mut med = Vec::with_capacity(eps.len());
    let mut band = Vec::with_capacity(eps.len());
    for h in eps {
        let v: Vec<f64> = rows.iter().filter(|&&r| t.f(r, "eps_value") == h).map(|&r| t.f(r, "num_vs_truth")).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        med.push((h, median(&v)));
        band.push((h, lo, hi));
    }
    (med, band)
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
    fig.series.push(dashed(&format!("truncation T h^{}", model.order), TRUNCATION_GREY, tl));
    for sr in fig.series.iter_mut().filter(|sr| sr.style == LineStyle::Dashed) {
        sr.points.retain(|p| p.1 >= y_min / 10.0);
    }
}

/// `cargo run --release --bin precision_sweep -- [--out DIR] [--quick] [--threads N]`: this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&PrecisionSweep)
}
