//! `regimes`: where a numeric gradient dies, element by element, in every dtype: the fraction of
//! elements whose loss did not move (every perturbed loss equal: `loss_flat`) and whose input did
//! not move (x + h == x: `input_dead`) against the step, beside their predictions from the
//! dtype's ulps (src/regimes.rs).

use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::policy::usable_steps;
use gradlab::problem::Problem;
use gradlab::regimes::measure;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::plot::{dtype_color, dtype_ink, Figure, LegendPos};
use gradlab_lab::report::{md_table, step_or_none};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::{dashed, line, points};
use gradlab_lab::spread::{first_reaching, median_band};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct Regimes;

/// One step of one cell: counts of elements in each regime, measured and predicted.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    seed: u64,
    eps: Decimal,
    elements: usize,
    input_dead: usize,
    predicted_dead: usize,
    loss_flat: usize,
    predicted_flat: f64,
    relerr_median: f64,
}

fn grid(dt: DType) -> Vec<Decimal> {
    let (top, decades) = match dt.bits() {
        b if b <= 11 => (2, 10),
        b if b <= 24 => (1, 12),
        b if b <= 53 => (0, 20),
        _ => (0, 38),
    };
    usable_steps(&log_grid_from(top, decades, 4), dt)
}

impl Experiment for Regimes {
    type Cell = (DType, u64);
    type Row = Row;

    const NAME: &'static str = "regimes";
    const DESCRIPTION: &'static str = "where numeric gradients die in each dtype: flat loss and dead input against \
         the step, predicted from the dtype's ulps";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let all = if quick {
            vec![DType::F32, DType::F64]
        } else {
            vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_113]
        };
        let seeds = if quick { 1..=1 } else { 1..=5 };
        all.into_iter().flat_map(|d| seeds.clone().map(move |s| (d, s))).collect()
    }
    fn run_cell(&self, &(dt, seed): &Self::Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(10, 4, 2, seed)?;
        let rows = measure(&problem, dt, &TrainConfig::seed(InputGrad::Reset), &grid(dt))?;
        Ok(rows
            .into_iter()
            .map(|c| Row {
                dtype: dt,
                seed,
                eps: c.eps,
                elements: c.elements,
                input_dead: c.input_dead,
                predicted_dead: c.predicted_dead,
                loss_flat: c.loss_flat,
                predicted_flat: c.predicted_flat,
                relerr_median: c.relerr_median,
            })
            .collect())
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mut s = String::from(
            "Central differences of the input gradient (n = 10, d = 4, k = 2, trained like the seed: E = 10, lr = 1e-3, \
             mean; seeds 1-5, median over seeds). An element's numeric gradient dies in one of two ways: the loss does not \
             move (`loss_flat`: x + h or x - h differs from x but every perturbed loss rounds to the same value, so the \
             quotient is exactly 0), or the input does not move (`input_dead`: x + h == x and x - h == x). Predicted from \
             the dtype's ulps (src/regimes.rs): x + h == x exactly when h is below half the gap from x to the next value \
             above it (x - h == x likewise with the gap below, which is half as large at a power of two); the loss is flat with \
             probability max(0, 1 - 2 h |g| / ulp(L)) when L sits at a uniformly random place in its rounding interval \
             (g = dL/dx from the MPFR truth; L is the total before the mean's 1/n, where the change is lost), so half the \
             elements are flat near h = ulp(L) / (4 |g|). The loss goes flat decades before the input dies:\n\n",
        );
        let mut flat_fig =
            Figure::new("Elements whose loss did not move (n = 10, seeds 1-5)", "step eps", "fraction of elements");
        let mut dead_fig =
            Figure::new("Elements whose input did not move (n = 10, seeds 1-5)", "step eps", "fraction of elements");
        let (mut exact, mut table) = (true, Vec::new());
        let mut dtypes: Vec<DType> = rows.iter().map(|r| r.dtype).collect();
        dtypes.dedup();
        for dt in dtypes {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.dtype == dt).collect();
            exact &= mine.iter().all(|r| r.input_dead == r.predicted_dead);
            let curve = |y: &dyn Fn(&Row) -> f64| median_band(mine.iter().map(|r| (&r.eps, y(r) / r.elements as f64)));
            let ((flat, flat_band), flat_pred, (dead, dead_band)) =
                (curve(&|r| r.loss_flat as f64), curve(&|r| r.predicted_flat).0, curve(&|r| r.input_dead as f64));
            let half = |c: &[(f64, f64)]| step_or_none(first_reaching(c, 0.5));
            table.push(vec![dt.to_string(), half(&flat), half(&flat_pred), half(&dead)]);
            flat_fig.series.push(line(&dt.to_string(), dtype_ink(dt), flat).with_band(flat_band));
            flat_fig.series.push(dashed("", dtype_color(dt), flat_pred));
            dead_fig.series.push(points(&dt.to_string(), dtype_ink(dt), dead).with_band(dead_band));
            dead_fig.series.push(dashed("", dtype_color(dt), curve(&|r| r.predicted_dead as f64).0));
        }
        s.push_str(&md_table("dtype | half flat from eps | (predicted) | half dead from eps", table));
        s.push_str(&format!(
            "\nThe prediction of x ± h == x matched the measured count {} for every dtype, seed and step.\n",
            if exact { "exactly" } else { "NOT exactly" }
        ));
        for (fig, stem) in [(&mut flat_fig, "regimes_flat"), (&mut dead_fig, "regimes_dead")] {
            fig.y_log = false;
            fig.legend_pos = LegendPos::Below;
            fig.caption = Some(
                "solid or points: measured (median over seeds; band: min-max over seeds); dashed: predicted from the \
                 dtype's ulps (median)"
                    .into(),
            );
            s.push_str(&out.figure_md(stem, fig)?);
        }
        Ok(s)
    }
}

gradlab_lab::experiment_main!(Regimes);
