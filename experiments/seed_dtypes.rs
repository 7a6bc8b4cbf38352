//! `seed_dtypes`: the seed's protocol in every dtype, each on a grid wide enough to hold its
//! optimum: where the accumulated plateau sits, how good the fixed check gets and at which
//! step, and where losses go flat and inputs die.

use gradlab::check::{check_dtype, CheckConfig, CheckRow, Status};
use gradlab::error::Result;
use gradlab::exact::{format_sci, Decimal};
use gradlab::method::{Scheme, Steps};
use gradlab::metrics::best_step;
use gradlab::model::LinearTensor;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::claims::and_list;
use gradlab_lab::grid::{decades, log_grid, log_grid_from};
use gradlab_lab::plot::{dtype_ink, Figure, LegendPos};
use gradlab_lab::report::{md_table, sci6};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::line;

/// The experiment.
pub struct SeedDtypes;

fn dtypes(quick: bool) -> Vec<DType> {
    if quick {
        vec![DType::F32, DType::F64]
    } else {
        vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_128]
    }
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
            ..CheckConfig::seed(Scheme::Central, Steps::grid(steps(dt, quick))?)
        };
        Ok(check_dtype(&Problem::generate(10, 4, 2, 1)?, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?.rows)
    }
    fn row_is_nonfinite(&self, row: &CheckRow) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, quick: bool, rows: &[CheckRow], out: &mut Output) -> Result<String> {
        let of = |dt: DType, g: InputGrad| rows.iter().filter(move |r| r.dtype == dt && r.input_grad == g);
        let mut s = String::from(
            "The seed's check (n = 10, d = 4, k = 2, E = 10, lr = 1e-3, seed 1, central differences) in every dtype. \
             Accumulated plateau: x.grad summed over the epochs, the mean relerr (min-max) over the steps from 1e0 to 1e-3 \
             at which no element's loss is flat and no element's input is dead (where relerr is the bug's 1 - 1/E alone); \
             beside it the window's steps counted as clean (averaged), partly collapsed (some element flat or dead, relerr \
             below 1) and collapsed (relerr exactly 1: the numeric gradient is 0 at every element), which the plateau leaves \
             out. Best: the smallest relerr of the fixed check (x.grad reset) on the grid, marked when it sits on the \
             grid's edge; then the first steps, from the top, at which some element's loss is flat and some element's \
             input is dead.\n\n",
        );
        let windows: Vec<Window> = dtypes(quick)
            .into_iter()
            .map(|dt| {
                let rows = of(dt, InputGrad::Accumulate).filter(|r| r.eps.to_f64() <= 1.0 && r.eps.to_f64() >= 1e-3);
                Window::of(dt.to_string(), rows)
            })
            .collect();
        s.push_str(&md_table(
            "dtype | plateau (accumulated) | steps: clean / partly collapsed / collapsed | best reset relerr | at eps | first flat loss | first dead input",
            dtypes(quick).into_iter().zip(&windows).map(|(dt, w)| {
                let best = best_step(of(dt, InputGrad::Reset).filter_map(|r| Some((r.eps.decimal()?, r.relerr_mean))));
                let first = |f: fn(&CheckRow) -> usize| {
                    of(dt, InputGrad::Reset).find(|r| f(r) > 0).map_or("none on the grid".into(), |r| r.eps.to_string())
                };
                vec![
                    dt.to_string(),
                    w.plateau_label(),
                    format!("{} / {} / {}", w.clean.len(), w.partly, w.collapsed),
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
        s.push_str(&format!("\n{}\n", window_sentence(&windows)));
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
                    dtype_ink(dt),
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

/// The accumulated check's steps from 1e0 to 1e-3 in one dtype, sorted by what happened there.
struct Window {
    dtype: String,
    /// The relerr at the steps where no element's loss is flat and no input is dead.
    clean: Vec<f64>,
    /// Steps where some element is flat or dead but relerr is below 1.
    partly: usize,
    /// Steps where relerr is exactly 1 (the numeric gradient is 0 at every element).
    collapsed: usize,
}

impl Window {
    fn of<'a>(dtype: String, rows: impl Iterator<Item = &'a CheckRow>) -> Window {
        let mut w = Window { dtype, clean: Vec::new(), partly: 0, collapsed: 0 };
        for r in rows {
            if r.relerr_mean == 1.0 {
                w.collapsed += 1;
            } else if r.loss_flat > 0 || r.dead_zone > 0 {
                w.partly += 1;
            } else {
                w.clean.push(r.relerr_mean);
            }
        }
        w
    }

    /// `0.9002 (0.8999-0.9004)`, the mean over the clean steps and their range; `none` without one.
    fn plateau_label(&self) -> String {
        if self.clean.is_empty() {
            return "none".into();
        }
        let mean = self.clean.iter().sum::<f64>() / self.clean.len() as f64;
        let lo = self.clean.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.clean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{mean:.4} ({lo:.4}-{hi:.4})")
    }
}

/// Which dtypes' windows hold steps the plateau leaves out, and how many of each kind.
fn window_sentence(windows: &[Window]) -> String {
    let out: Vec<String> = windows
        .iter()
        .filter(|w| w.partly + w.collapsed > 0)
        .map(|w| {
            let n = w.clean.len() + w.partly + w.collapsed;
            format!(
                "{} ({} of its {n} steps collapsed to relerr exactly 1, {} partly collapsed, {} clean)",
                w.dtype,
                w.collapsed,
                w.partly,
                w.clean.len()
            )
        })
        .collect();
    if out.is_empty() {
        "Every step from 1e0 to 1e-3 is clean in every dtype: the plateau is the whole window.".into()
    } else {
        format!(
            "The plateau is averaged over the clean steps only; the window from 1e0 to 1e-3 also holds steps where the check collapsed, wholly or in part, \
             in {}: there the relerr measures the dtype's rounding, not the bug.",
            and_list(&out)
        )
    }
}

gradlab_lab::experiment_main!(SeedDtypes);

#[cfg(test)]
mod tests {
    use super::*;

    fn window(dtype: &str, clean: usize, partly: usize, collapsed: usize) -> Window {
        Window { dtype: dtype.into(), clean: vec![0.9; clean], partly, collapsed }
    }

    #[test]
    fn the_plateau_sentence_names_the_steps_it_leaves_out() {
        let clean = [window("f32", 13, 0, 0), window("f64", 13, 0, 0)];
        assert_eq!(
            window_sentence(&clean),
            "Every step from 1e0 to 1e-3 is clean in every dtype: the plateau is the whole window."
        );
        let bf16 = [window("bf16", 1, 4, 8), window("f32", 13, 0, 0)];
        assert_eq!(
            window_sentence(&bf16),
            "The plateau is averaged over the clean steps only; the window from 1e0 to 1e-3 also holds steps where the check collapsed, wholly or in part, \
             in bf16 (8 of its 13 steps collapsed to relerr exactly 1, 4 partly collapsed, 1 clean): there the relerr \
             measures the dtype's rounding, not the bug."
        );
        assert_eq!(window("bf16", 0, 5, 8).plateau_label(), "none");
    }
}
