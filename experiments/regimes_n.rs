//! `regimes_n`: the flat-loss zone against the number of samples in the loss, for the mean and
//! the sum reduction, in f32 and bf16 (n = 10 to 10000, the initial parameters).

use gradlab::error::Result;
use gradlab::exact::{format_sci, Decimal};
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::plot::{Figure, LegendPos, BLUE, GREEN, ORANGE, VERMILLION};
use gradlab::lab::report::{md_table, step_or_none};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::{dashed, line};
use gradlab::lab::spread::first_reaching;
use gradlab::objective::Reduction;
use gradlab::policy::usable_steps;
use gradlab::problem::Problem;
use gradlab::regimes::measure;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct RegimesN;

const SIZES: [usize; 4] = [10, 100, 1000, 10000];

/// One step of one cell.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    reduction: Reduction,
    n: usize,
    eps: Decimal,
    elements: usize,
    input_dead: usize,
    loss_flat: usize,
    predicted_flat: f64,
}

impl Experiment for RegimesN {
    type Cell = (DType, Reduction, usize);
    type Row = Row;

    const NAME: &'static str = "regimes_n";
    const DESCRIPTION: &'static str = "the flat-loss zone against the number of samples n in the loss, for the mean \
         and the sum, in f32 and bf16";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let sizes = if quick { &SIZES[..2] } else { &SIZES[..] };
        let mut v = Vec::new();
        for dt in [DType::F32, DType::BF16] {
            for red in Reduction::ALL {
                v.extend(sizes.iter().map(|&n| (dt, *red, n)));
            }
        }
        v
    }
    fn run_cell(&self, &(dt, reduction, n): &Self::Cell) -> Result<Vec<Row>> {
        // The initial parameters: SGD at lr = 1e-3 on a sum over 10000 samples would change the
        // model as much as the reduction, and the comparison is of the check.
        let train = TrainConfig { epochs: 0, reduction, ..TrainConfig::seed(InputGrad::Reset) };
        let top = if dt == DType::F32 { 1 } else { 2 };
        let steps = usable_steps(&log_grid_from(top, 11, 4), dt);
        let counts = measure(&Problem::generate(n, 4, 2, 1)?, dt, &train, &steps)?;
        Ok(counts
            .into_iter()
            .map(|c| Row {
                dtype: dt,
                reduction,
                n,
                eps: c.eps,
                elements: c.elements,
                input_dead: c.input_dead,
                loss_flat: c.loss_flat,
                predicted_flat: c.predicted_flat,
            })
            .collect())
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let curve = |dt: DType, red: Reduction, n: usize, y: fn(&Row) -> f64| -> Vec<(f64, f64)> {
            let mine = rows.iter().filter(|r| r.dtype == dt && r.reduction == red && r.n == n);
            mine.map(|r| (r.eps.to_f64(), y(r) / r.elements as f64)).collect()
        };
        let flat: fn(&Row) -> f64 = |r| r.loss_flat as f64;
        let pred: fn(&Row) -> f64 = |r| r.predicted_flat;
        let mut s = String::from(
            "The loss over n samples (seed 1, d = 4, k = 2, the initial parameters, so both reductions check the same \
             model), central differences of the input gradient: the largest step at which at least half the elements' \
             losses are flat, measured and predicted from the dtype's ulps (the `regimes` section gives the model).\n\n",
        );
        let (mut table, mut worst, mut same) = (Vec::new(), 1.0f64, true);
        let half = |dt, red, n, y| first_reaching(&curve(dt, red, n, y), 0.5);
        // A boundary at the top of the grid only bounds it from below.
        let label = |dt, red, n, y| match half(dt, red, n, y) {
            Some(h) if curve(dt, red, n, y).first().is_some_and(|p| p.0 == h) => {
                format!("≥ {} (largest step tried)", format_sci(h))
            }
            h => step_or_none(h),
        };
        for dt in [DType::F32, DType::BF16] {
            let mut fig = Figure::new(
                format!("Elements whose loss did not move, {dt}: mean (solid) and sum (dashed) over n samples"),
                "step eps",
                "fraction of elements",
            );
            for (&n, color) in SIZES.iter().zip([BLUE, VERMILLION, GREEN, ORANGE]) {
                for &red in Reduction::ALL {
                    let c = curve(dt, red, n, flat);
                    if c.is_empty() {
                        continue;
                    }
                    let (m, p) = (half(dt, red, n, flat), half(dt, red, n, pred));
                    if let (Some(m), Some(p), true) = (m, p, n <= 1000) {
                        worst = worst.max((m / p).max(p / m));
                    }
                    same &= red == Reduction::Mean || m == half(dt, Reduction::Mean, n, flat);
                    table.push(vec![
                        dt.to_string(),
                        red.to_string(),
                        n.to_string(),
                        label(dt, red, n, flat),
                        label(dt, red, n, pred),
                    ]);
                    fig.series.push(if red == Reduction::Mean {
                        line(&format!("n = {n}"), color, c)
                    } else {
                        dashed("", color, c)
                    });
                }
            }
            fig.y_log = false;
            fig.legend_pos = LegendPos::Auto;
            let hidden =
                SIZES.iter().all(|&n| curve(dt, Reduction::Sum, n, flat) == curve(dt, Reduction::Mean, n, flat));
            if hidden {
                fig.caption =
                    Some("The sum's dashed curves lie exactly under the mean's: the same elements go flat.".into());
            }
            s.push_str(&out.figure_md(&format!("regimes_n_{dt}"), &fig)?);
        }
        s.push('\n');
        s.push_str(&md_table("dtype | reduction | n | half flat from eps (measured) | (predicted)", table));
        let f32_at = |n| half(DType::F32, Reduction::Mean, n, flat);
        let slope = f32_at(10000).zip(f32_at(10)).map_or(f64::NAN, |(b, a)| (b / a).log10() / 3.0);
        let off = half(DType::F32, Reduction::Mean, 10000, pred).zip(f32_at(10000)).map_or(f64::NAN, |(p, m)| p / m);
        let any_flat =
            rows.iter().find(|r| r.dtype == DType::F32 && r.n == 1000 && r.loss_flat > 0).map(|r| r.eps.to_f64());
        s.push_str(&format!(
            "\nThe flat-loss zone moves up with n: in f32 from {} at n = 10 to {} at n = 10000 (a log-log slope of {slope:.2} \
             in n). It is the aggregation over n samples that moves it, not the averaging: the sum reduction's boundary is \
             {} the mean's, since the sum multiplies L by n where the mean divides g by n, and ulp(L) / |g| is the same \
             either way. The model is within a factor {worst:.1} of the measured boundary up to n = 1000; at n = 10000 in \
             f32 it puts the boundary {off:.0} times too high: there the two halves of the pairwise total lie in [2048, 4096) \
             and the total in [4096, 8192), so their exact sum is a multiple of half an ulp of the total, which then does \
             not sit at a uniformly random place in its rounding interval.\n\n\
             **Rule.** A check of input gradients on a loss over n samples loses elements below h ≈ ulp(L) / (4 |g|), \
             which grows with n: perturb one sample's loss (or a small batch), not the full-batch total. In f32 at \
             n = 1000 some elements are already flat at h = {} and half at {}; in bf16 half are flat at h = {} even at \
             n = 10, so check such gradients in f32 or f64.\n",
            step_or_none(f32_at(10)),
            step_or_none(f32_at(10000)),
            if same { "the same as" } else { "close to, but not always equal to," },
            step_or_none(any_flat),
            step_or_none(f32_at(1000)),
            step_or_none(half(DType::BF16, Reduction::Mean, 10, flat)),
        ));
        Ok(s)
    }
}

gradlab::experiment_main!(RegimesN);
