//! `seed_repro`: the seed's protocol (Cross Validated question 491171) in f32 with the
//! accumulating input gradient, its fix, and the logits check; then the same across dtypes.

use gradlab::check::{check_dtype, CheckConfig, Status};
use gradlab::error::Result;
use gradlab::exact::{format_sci, Decimal};
use gradlab::lab::grid::{decades, log_grid};
use gradlab::lab::plot::{
    dtype_color, Figure, LegendPos, Marker, ALERT_RED, BLACK, BLUE, DIM_GREY, GREEN, LIGHT_GREY, MEDIUM_GREY, ORANGE,
};
use gradlab::lab::report::{md_table, sci6};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::{dashed, line, points};
use gradlab::method::Scheme;
use gradlab::objective::Wrt;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::theory::bound_model as error_model;
use gradlab::train::{InputGrad, TrainConfig};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct SeedRepro;

/// The published float32 table for the accumulated input gradient (eps, mean relerr).
pub const PUBLISHED_INPUT: [(f64, f64); 9] = [
    (1e0, 8.996676e-01),
    (1e-1, 9.000528e-01),
    (1e-2, 9.000629e-01),
    (1e-3, 9.000670e-01),
    (1e-4, 9.012159e-01),
    (1e-5, 8.879865e-01),
    (1e-6, 7.996843e-01),
    (1e-7, 1.000000e+00),
    (1e-8, 1.000000e+00),
];

/// The published float32 table for the logits gradient.
pub const PUBLISHED_LOGITS: [(f64, f64); 6] = [
    (1e-1, 2.426800e-04),
    (1e-2, 3.202225e-05),
    (1e-3, 3.494641e-04),
    (1e-4, 3.063642e-03),
    (1e-5, 1.855947e-02),
    (1e-6, 5.074288e-01),
];

gradlab::named_enum! {
    /// The seed's three checks.
    pub enum Variant("variant") {
        /// x.grad accumulated over the epochs (the seed's bug).
        Accumulate = "accumulate",
        /// x.grad reset every epoch (the fix).
        Reset = "reset",
        /// The logits gradient (y.grad, never accumulated).
        Logits = "logits",
    }
}

impl Variant {
    /// The seed's check configuration for this variant.
    pub fn config(self, steps: Vec<Decimal>, dtype: DType) -> CheckConfig {
        let (input_grad, wrt) = match self {
            Variant::Accumulate => (InputGrad::Accumulate, Wrt::Input),
            Variant::Reset => (InputGrad::Reset, Wrt::Input),
            Variant::Logits => (InputGrad::Reset, Wrt::Logits),
        };
        CheckConfig {
            train: TrainConfig::seed(input_grad),
            scheme: Scheme::Central,
            steps,
            wrt,
            truth: Some(truth_prec(&[dtype])),
            naive: false,
            keep_grads: false,
        }
    }
}

fn dtypes(quick: bool) -> Vec<DType> {
    let names = if quick { "f32,f64" } else { "f16,bf16,f32,f64,mpfr:128" };
    DType::parse_list(names).unwrap_or_else(|_| unreachable!("valid dtype literals"))
}

fn steps(quick: bool) -> Vec<Decimal> {
    if quick {
        decades(0, 8)
    } else {
        log_grid(10, 4)
    }
}

/// One dtype and variant at one step.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    variant: Variant,
    wrt: Wrt,
    input_grad: InputGrad,
    eps: Decimal,
    eps_value: f64,
    relerr_mean: f64,
    relerr_median: f64,
    relerr_max: f64,
    num_vs_truth: f64,
    anal_vs_truth: f64,
    ratio_median: f64,
    dead_zone: usize,
    zero_over_zero: usize,
    nonfinite: usize,
    status: Status,
}

impl Experiment for SeedRepro {
    /// A dtype, a variant, and whether the grid is the quick one.
    type Cell = (DType, Variant, bool);
    type Row = Row;

    fn name(&self) -> &'static str {
        "seed_repro"
    }
    fn description(&self) -> &'static str {
        "the seed's check (accumulated x.grad, its fix, the logits) in f32 beside the published table, then across dtypes"
    }
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        dtypes(quick).into_iter().flat_map(|dt| Variant::ALL.iter().map(move |&v| (dt, v, quick))).collect()
    }
    fn run_cell(&self, &(dt, variant, quick): &Self::Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(10, 4, 2, 1)?;
        let res = check_dtype(&problem, dt, &variant.config(usable_steps(&steps(quick), dt), dt))?;
        Ok(res
            .rows
            .into_iter()
            .map(|r| Row {
                dtype: r.dtype,
                variant,
                wrt: r.wrt,
                input_grad: r.input_grad,
                eps_value: r.eps.to_f64(),
                eps: r.eps,
                relerr_mean: r.relerr_mean,
                relerr_median: r.relerr_median,
                relerr_max: r.relerr_max,
                num_vs_truth: r.num_vs_truth,
                anal_vs_truth: r.anal_vs_truth,
                ratio_median: r.ratio_median,
                dead_zone: r.dead_zone,
                zero_over_zero: r.zero_over_zero,
                nonfinite: r.nonfinite,
                status: r.status,
            })
            .collect())
    }
    fn row_is_nonfinite(&self, row: &Row) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let of = |dt: DType, v: Variant| rows.iter().filter(move |r| r.dtype == dt && r.variant == v);
        let curve = |dt: DType, v: Variant, y: fn(&Row) -> f64| -> Vec<(f64, f64)> {
            of(dt, v).map(|r| (r.eps_value, y(r))).collect()
        };
        // The row at a decade of the published table: grid steps are exact decimals, so the
        // step 10^-e is found by its exact value.
        let at = |dt: DType, v: Variant, eps: f64, y: fn(&Row) -> f64| -> f64 {
            let e = Decimal::parse("step", &format_sci(eps)).unwrap_or_else(|_| unreachable!("a decade literal"));
            of(dt, v).find(|r| r.eps.value() == e.value()).map_or(f64::NAN, y)
        };
        let f32 = DType::F32;
        let mut s = String::from(
            "The seed's table reproduced in f32 (n = 10, d = 4, k = 2, E = 10, lr = 1e-3, seed 1; central differences). \
             With x.grad accumulated over 10 epochs the relative error sits at 1 - 1/E = 0.9 for every usable step, \
             rises through the rounding zone, and is exactly 1 in the dead zone where x + eps == x. \
             The MPFR truth shows the analytic gradient is the wrong one (`anal_vs_truth` = 0.9) while the numeric gradient is fine.\n\n",
        );
        s.push_str(&md_table(
            &[
                "eps",
                "published (accumulated)",
                "gradlab accumulated",
                "gradlab reset",
                "reset num_vs_truth",
                "accumulated anal_vs_truth",
                "ratio",
            ],
            PUBLISHED_INPUT.iter().map(|&(eps, publ)| {
                vec![
                    format_sci(eps),
                    sci6(publ),
                    sci6(at(f32, Variant::Accumulate, eps, |r| r.relerr_mean)),
                    sci6(at(f32, Variant::Reset, eps, |r| r.relerr_mean)),
                    sci6(at(f32, Variant::Reset, eps, |r| r.num_vs_truth)),
                    sci6(at(f32, Variant::Accumulate, eps, |r| r.anal_vs_truth)),
                    format!("{:.3}", at(f32, Variant::Accumulate, eps, |r| r.ratio_median)),
                ]
            }),
        ));
        s.push_str("\nThe logits check (y.grad is not accumulated), f32:\n\n");
        s.push_str(&md_table(
            &["eps", "published", "gradlab"],
            PUBLISHED_LOGITS.iter().map(|&(eps, publ)| {
                vec![format_sci(eps), sci6(publ), sci6(at(f32, Variant::Logits, eps, |r| r.relerr_mean))]
            }),
        ));
        s.push_str("\nAcross dtypes (accumulated plateau = mean over eps 1e0 to 1e-3; best = smallest reset relerr_mean on the grid):\n\n");
        s.push_str(&md_table(
            &["dtype", "plateau (accumulated)", "best reset relerr", "at eps", "first eps with a dead zone"],
            dtypes(quick).into_iter().map(|dt| {
                let plateau: Vec<f64> = [1e0, 1e-1, 1e-2, 1e-3]
                    .iter()
                    .map(|&e| at(dt, Variant::Accumulate, e, |r| r.relerr_mean))
                    .collect();
                let plateau = plateau.iter().sum::<f64>() / plateau.len() as f64;
                let best = curve(dt, Variant::Reset, |r| r.relerr_mean)
                    .into_iter()
                    .filter(|p| p.1.is_finite())
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                let dead = of(dt, Variant::Reset)
                    .find(|r| r.dead_zone > 0)
                    .map_or("none on the grid".to_string(), |r| format_sci(r.eps_value));
                vec![
                    dt.to_string(),
                    format!("{plateau:.4}"),
                    best.map_or("NaN".into(), |b| sci6(b.1)),
                    best.map_or("-".into(), |b| format_sci(b.0)),
                    dead,
                ]
            }),
        ));

        // Figure 1: the three regimes of the seed's curve, on a linear axis where 0.9 and 1 are apart.
        let mut fig = Figure::new(
            "The seed's curve in f32: plateau, rounding zone, dead zone (accumulated x.grad)",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        fig.y_log = false;
        let acc = curve(f32, Variant::Accumulate, |r| r.relerr_mean);
        let (lo, hi) = acc.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
        fig.series.push(dashed(
            "plateau 1 - 1/E = 0.9 (x.grad summed over 10 epochs)",
            DIM_GREY,
            vec![(lo, 0.9), (hi, 0.9)],
        ));
        fig.series.push(dashed(
            "dead zone: x + eps == x, numeric gradient 0, relerr 1",
            ALERT_RED,
            vec![(lo, 1.0), (hi, 1.0)],
        ));
        fig.series.push(line("gradlab, f32", dtype_color(f32), acc));
        fig.series.push(points("published (Cross Validated 491171)", BLACK, PUBLISHED_INPUT.to_vec()));
        fig.legend_pos = LegendPos::LowerRight;
        fig.caption = Some(
            "eps >= 1e-4: plateau at 0.9; 1e-5 and 1e-6: f32 rounding of the loss (u/eps) moves the curve; <= 1e-7: dead zone, relerr exactly 1."
                .into(),
        );
        out.figure("seed_repro_regimes", &fig)?;
        s.push_str("\n![seed_repro_regimes](seed_repro/seed_repro_regimes.png)\n\n");

        // Figure 2: the bug's plateau beside the fix's V in f32, with the published points.
        let mut fig = Figure::new(
            "The seed's check in f32: accumulated x.grad vs the fix (n=10, d=4, k=2, E=10, lr=1e-3)",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        let reset = curve(f32, Variant::Reset, |r| r.relerr_mean);
        fig.series.push(line(
            "accumulated x.grad (the seed's bug)",
            GREEN,
            curve(f32, Variant::Accumulate, |r| r.relerr_mean),
        ));
        fig.series.push(line("x.grad reset (the fix)", BLUE, reset.clone()));
        fig.series.push(line("logits (y.grad)", ORANGE, curve(f32, Variant::Logits, |r| r.relerr_mean)));
        fig.series.push(points("published, accumulated", BLACK, PUBLISHED_INPUT.to_vec()));
        fig.series.push(points("published, logits", MEDIUM_GREY, PUBLISHED_LOGITS.to_vec()));
        // The error model of the fixed check in f32 (src/theory.rs), dashed, with its optimum.
        let problem = Problem::generate(10, 4, 2, 1)?;
        let model = error_model(&problem, &TrainConfig::seed(InputGrad::Reset), Scheme::Central, Wrt::Input);
        let u = f32.unit_roundoff();
        let tl: Vec<(f64, f64)> =
            reset.iter().map(|&(h, _)| (h, model.truncation(h))).filter(|p| p.1 >= 1e-6).collect();
        let rl: Vec<(f64, f64)> =
            reset.iter().map(|&(h, _)| (h, model.rounding(h, u))).filter(|p| p.1 <= 1.0).collect();
        fig.series.push(dashed("theory: truncation T h^2", LIGHT_GREY, tl));
        fig.series.push(dashed("theory: f32 rounding R u/h", BLUE, rl));
        fig.markers.push(Marker {
            x: model.optimal_step(u),
            y: model.min_error(u),
            label: Some("predicted optimal step".into()),
            color: BLUE,
        });
        fig.legend_pos = LegendPos::LowerLeft;
        fig.caption = Some("The fix (x.grad reset) and the logits check show the V: truncation error falls with eps, rounding error ~ u/eps rises.".into());
        out.figure("seed_repro", &fig)?;
        s.push_str("\n![seed_repro](seed_repro/seed_repro.png)\n\n");

        // Figure 3: every dtype, accumulated (dashed) and reset (solid).
        let mut fig = Figure::new(
            "Seed protocol across dtypes: accumulated (dashed) and reset (solid) input gradient",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        for dt in dtypes(quick) {
            let color = dtype_color(dt);
            fig.series.push(line(&format!("{dt} reset"), color, curve(dt, Variant::Reset, |r| r.relerr_mean)));
            // Unlabelled: the title says dashed is accumulated, and the legend stays short.
            fig.series.push(dashed("", color, curve(dt, Variant::Accumulate, |r| r.relerr_mean)));
        }
        fig.legend_pos = LegendPos::LowerRight;
        out.figure("seed_repro_dtypes", &fig)?;
        s.push_str("![seed_repro_dtypes](seed_repro/seed_repro_dtypes.png)\n");
        Ok(s)
    }
}

/// `cargo run --release --bin seed_repro -- [--out DIR] [--quick] [--threads N] [--shard K/N]`:
/// this experiment alone.
pub fn main() -> std::process::ExitCode {
    gradlab::lab::cli::experiment_main(&SeedRepro)
}
