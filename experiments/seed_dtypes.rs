//! `seed_dtypes`: the seed's protocol in every dtype, each on a grid wide enough to hold its
//! optimum: where the accumulated plateau sits, how good the fixed check gets and at which
//! step, and where losses go flat and inputs die.

use gradlab::check::{check_dtype, CheckConfig, CheckRow, Status};
use gradlab::error::Result;
use gradlab::exact::{format_sci, Decimal};
use gradlab::lab::grid::{decades, log_grid, log_grid_from};
use gradlab::lab::plot::{dtype_color, Figure, LegendPos};
use gradlab::lab::report::{md_table, sci6};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::line;
use gradlab::method::Scheme;
use gradlab::metrics::best_step;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};

/// The experiment.
pub struct SeedDtypes;

fn dtypes(quick: bool) -> Vec<DType> {
    DType::parse_list(if quick { "f32,f64" } else { "f16,bf16,f32,f64,mpfr:128" }).unwrap_or_default()
}

/// A dtype's grid, 4 steps per decade, wide enough to hold the reset check's optimum inside it
/// (the 16-bit optima lie above 1, mpfr:128's near 1e-13); quick: the seed's decades.
fn steps(dt: DType, quick: bool) -> Vec<Decimal> {
    let grid = match dt.bits() {
        _ if quick => decades(0, 8),
        b if b <= 11 => log_grid_from(2, 9, 4),
        b if b <= 53 => log_grid(10, 4),
        _ => log_grid(20, 4),
    };
    usable_steps(&grid, dt)
}

impl Experiment for SeedDtypes {
    /// A dtype, the input-grad mode, and whether the grid is the quick one.
    type Cell = (DType, InputGrad, bool);
    type Row = CheckRow;

    const NAME: &'static str = "seed_dtypes";
    const DESCRIPTION: &'static str = "the seed's check (accumulated x.grad and its fix) in f16, bf16, f32, f64 and \
         mpfr:128, on grids holding each optimum";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        dtypes(quick).into_iter().flat_map(|dt| InputGrad::ALL.iter().map(move |&g| (dt, g, quick))).collect()
    }
    fn run_cell(&self, &(dt, input_grad, quick): &Self::Cell) -> Result<Vec<CheckRow>> {
        let cfg = CheckConfig {
            train: TrainConfig::seed(input_grad),
            truth: Some(truth_prec(&[dt])),
            ..CheckConfig::seed(Scheme::Central, steps(dt, quick))
        };
        Ok(check_dtype(&Problem::generate(10, 4, 2, 1)?, dt, &cfg)?.rows)
    }
    fn row_is_nonfinite(&self, row: &CheckRow) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[CheckRow], out: &mut Output) -> Result<String> {
        let of = |dt: DType, g: InputGrad| rows.iter().filter(move |r| r.dtype == dt && r.input_grad == g);
        let mut s = String::from(
            "The seed's check (n = 10, d = 4, k = 2, E = 10, lr = 1e-3, seed 1, central differences) in every dtype. \
             Accumulated plateau: the mean relerr over eps 1e0 to 1e-3 with x.grad summed over the epochs; best: the smallest \
             relerr of the fixed check (x.grad reset) on the grid, marked when it sits on the grid's edge; then the first \
             steps, from the top, at which some element's loss is flat and some element's input is dead.\n\n",
        );
        s.push_str(&md_table(
            "dtype | plateau (accumulated) | best reset relerr | at eps | first flat loss | first dead input",
            dtypes(quick).into_iter().map(|dt| {
                let top: Vec<f64> = of(dt, InputGrad::Accumulate)
                    .filter(|r| r.eps.to_f64() <= 1.0 && r.eps.to_f64() >= 1e-3)
                    .map(|r| r.relerr_mean)
                    .collect();
                let plateau = top.iter().sum::<f64>() / top.len() as f64;
                let best = best_step(of(dt, InputGrad::Reset).map(|r| (&r.eps, r.relerr_mean)));
                let first = |f: fn(&CheckRow) -> usize| {
                    of(dt, InputGrad::Reset).find(|r| f(r) > 0).map_or("none on the grid".into(), |r| r.eps.to_string())
                };
                vec![
                    dt.to_string(),
                    format!("{plateau:.4}"),
                    best.as_ref().map_or("NaN".into(), |b| sci6(b.value)),
                    best.map_or("-".into(), |b| match b.edge {
                        Some(e) => format!("{} ({}: a bound, not an optimum)", format_sci(b.step.to_f64()), e.note()),
                        None => format_sci(b.step.to_f64()),
                    }),
                    first(|r| r.loss_flat),
                    first(|r| r.dead_zone),
                ]
            }),
        ));
        for (g, stem, log) in
            [(InputGrad::Reset, "seed_dtypes_reset", true), (InputGrad::Accumulate, "seed_dtypes_accumulated", false)]
        {
            let what = if log { "x.grad reset (correct)" } else { "x.grad accumulated (the bug: plateau 1 - 1/E)" };
            let mut fig = Figure::new(
                format!("Seed protocol across dtypes, {what}"),
                "step eps",
                "mean relative error (numeric vs analytic)",
            );
            for dt in dtypes(quick) {
                fig.series.push(line(
                    &dt.to_string(),
                    dtype_color(dt),
                    of(dt, g).map(|r| (r.eps.to_f64(), r.relerr_mean)).collect(),
                ));
            }
            fig.y_log = log;
            fig.legend_pos = LegendPos::Auto;
            if !log {
                fig.caption = Some(
                    "f64 and mpfr:128 lie on one line at 0.9: the plateau needs no precision, only the bug.".into(),
                );
            }
            s.push_str(&out.figure_md(stem, &fig)?);
        }
        Ok(s)
    }
}

gradlab::experiment_main!(SeedDtypes);
