//! `defaults`: what the check of a correct gradient reaches in each dtype at the steps popular
//! checkers use by default, against its best step: torch.autograd.gradcheck's 1e-6, the cs231n
//! notes' 1e-5, and 1e-3.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::metrics::best_step;
use gradlab::model::LinearTensor;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::watch::Watch;
use gradlab_lab::claims::and_list;
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::report::{best_step_label, md_table};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::spread::{median_band, Spread};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct Defaults;

/// One step of one dtype and seed: the check's errors and how many of the 40 elements had a dead
/// input or a flat loss there.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    seed: u64,
    eps: Decimal,
    relerr_mean: f64,
    relerr_median: f64,
    relerr_max: f64,
    elements: usize,
    input_dead: usize,
    loss_flat: usize,
    num_vs_truth: f64,
    anal_vs_truth: f64,
}

/// The default steps: torch.autograd.gradcheck (1e-6), cs231n (1e-5), and 1e-3.
const DEFAULTS: [&str; 3] = ["1e-6", "1e-5", "1e-3"];

fn dtypes(quick: bool) -> Vec<DType> {
    if quick {
        vec![DType::F32, DType::F64]
    } else {
        vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_113]
    }
}

impl Experiment for Defaults {
    type Cell = (DType, u64);
    type Row = Row;

    const NAME: &'static str = "defaults";
    const DESCRIPTION: &'static str = "what the check of a correct gradient reaches in each dtype at gradcheck's, \
         cs231n's and other default steps";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let seeds = if quick { 1..=2 } else { 1..=5 };
        dtypes(quick).into_iter().flat_map(|dt| seeds.clone().map(move |s| (dt, s))).collect()
    }
    fn run_cell(&self, &(dt, seed): &Self::Cell) -> Result<Vec<Row>> {
        // 4 steps per decade from 100 down to 1e-20: every dtype's optimum and the defaults on it.
        let steps = usable_steps(&log_grid_from(2, 22, 4), dt);
        let cfg =
            CheckConfig { truth: Some(truth_prec(&[dt])), ..CheckConfig::seed(Scheme::Central, Steps::grid(steps)?) };
        let problem = Problem::generate(10, 4, 2, seed)?;
        let elements = problem.x.len();
        Ok(check_dtype(&problem, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?
            .rows
            .into_iter()
            .zip(cfg.steps.fixed())
            .map(|(r, h)| Row {
                dtype: dt,
                seed,
                eps: h.clone(),
                relerr_mean: r.relerr_mean,
                relerr_median: r.relerr_median,
                relerr_max: r.relerr_max,
                elements,
                input_dead: r.dead_zone,
                loss_flat: r.loss_flat,
                num_vs_truth: r.num_vs_truth,
                anal_vs_truth: r.anal_vs_truth,
            })
            .collect())
    }

    fn finish(&self, quick: bool, rows: &[Row], _out: &mut Output) -> Result<String> {
        let mut s = String::from(
            "A correct gradient (x.grad reset; n = 10, d = 4, k = 2, E = 10, lr = 1e-3), central differences: the mean \
             relative error of numeric against analytic, the number a user computes, median over the seeds (5; min-max in \
             parentheses at the defaults), at the dtype's best step on a grid of 4 steps per decade from 100 down, and at the \
             default steps of torch.autograd.gradcheck (1e-6), the cs231n notes (1e-5) and 1e-3.\n\n",
        );
        let table = dtypes(quick).into_iter().map(|dt| {
            let mine = || rows.iter().filter(move |r| r.dtype == dt);
            let (med, _) = median_band(mine().map(|r| (&r.eps, r.relerr_mean)));
            let steps: Vec<&Decimal> = mine().map(|r| &r.eps).take(med.len()).collect();
            let best = best_step(steps.into_iter().zip(med.iter().map(|p| p.1)));
            let mut row = vec![dt.to_string()];
            row.push(best.as_ref().map_or("NaN".into(), |b| format!("{:.2e}", b.value)));
            row.push(best.as_ref().map_or("-".into(), best_step_label));
            row.extend(DEFAULTS.iter().map(|e| {
                let e = Decimal::parse("step", e).unwrap_or_else(|_| unreachable!("a literal"));
                let v: Vec<f64> = mine().filter(|r| r.eps.value() == e.value()).map(|r| r.relerr_mean).collect();
                if v.is_empty() {
                    "not representable".into()
                } else {
                    let sp = Spread::of(&v);
                    format!("{:.2e} ({:.2e} to {:.2e})", sp.median, sp.min, sp.max)
                }
            }));
            row
        });
        s.push_str(&md_table("dtype | best relerr | at eps | relerr at 1e-6 | at 1e-5 | at 1e-3", table));
        s.push_str(
            "\nA relerr of 1 means the numeric gradient is 0: at that step every element's input died ((v + h) - v = 0, \
             the step below half an ulp of the input) or its perturbed losses rounded to one value (the loss went flat); \
             the `regimes` sections map both zones. At the default steps here, counted over the seeds' elements:\n\n",
        );
        for e in DEFAULTS {
            let at: Vec<Zone> = dtypes(quick)
                .into_iter()
                .map(|dt| {
                    let step = Decimal::parse("step", e).unwrap_or_else(|_| unreachable!("a literal"));
                    let mine = rows.iter().filter(|r| r.dtype == dt && r.eps.value() == step.value());
                    mine.fold(Zone { dtype: dt.to_string(), ..Zone::default() }, |z, r| Zone {
                        elements: z.elements + r.elements,
                        dead: z.dead + r.input_dead,
                        flat: z.flat + r.loss_flat,
                        ..z
                    })
                })
                .collect();
            s.push_str(&format!("- {}\n", zone_sentence(e, &at)));
        }
        Ok(s)
    }
}

/// The elements of one dtype at one step, over the seeds: how many had a dead input, how many a
/// flat loss.
#[derive(Default, Clone)]
struct Zone {
    dtype: String,
    elements: usize,
    dead: usize,
    flat: usize,
}

impl Zone {
    /// Which zone the counts put the dtype in: `None` when no element is dead or flat.
    fn name(&self) -> Option<String> {
        let (n, d, f) = (self.elements, self.dead, self.flat);
        Some(match (d, f) {
            (0, 0) => return None,
            _ if d == n => "in the dead-input zone (every input dead: v + h rounds to v)".into(),
            _ if f == n => "in the flat-loss zone (every input moved, every loss flat)".into(),
            (_, 0) => format!("partly in the dead-input zone ({d} of {n} inputs dead, no loss flat)"),
            (0, _) => format!("partly in the flat-loss zone ({f} of {n} losses flat, no input dead)"),
            _ => format!("between the zones ({d} of {n} inputs dead, {f} of {n} losses flat)"),
        })
    }
}

/// One line on the zones the dtypes are in at the step `eps`: the dtypes in the same zone
/// together, in order; "no element of any dtype is dead or flat" when none is.
fn zone_sentence(eps: &str, at: &[Zone]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for z in at {
        let Some(name) = z.name() else { continue };
        match groups.iter_mut().find(|(g, _)| *g == name) {
            Some((_, v)) => v.push(z.dtype.clone()),
            None => groups.push((name, vec![z.dtype.clone()])),
        }
    }
    if groups.is_empty() {
        return format!("at {eps} no element of any dtype has a dead input or a flat loss.");
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(name, dts)| format!("{} {} {name}", and_list(&dts), if dts.len() == 1 { "is" } else { "are" }))
        .collect();
    format!("at {eps}: {}.", parts.join("; "))
}

gradlab_lab::experiment_main!(Defaults);

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(dtype: &str, dead: usize, flat: usize) -> Zone {
        Zone { dtype: dtype.into(), elements: 200, dead, flat }
    }

    #[test]
    fn the_zone_sentence_follows_the_counts() {
        let dead = [zone("f16", 200, 0), zone("bf16", 200, 0), zone("f32", 0, 103), zone("f64", 0, 0)];
        assert_eq!(
            zone_sentence("1e-6", &dead),
            "at 1e-6: f16 and bf16 are in the dead-input zone (every input dead: v + h rounds to v); f32 is partly in \
             the flat-loss zone (103 of 200 losses flat, no input dead)."
        );
        // The other sentence: losses flat while every input moved.
        let flat = [zone("f16", 0, 200), zone("bf16", 1, 199), zone("f32", 3, 0)];
        assert_eq!(
            zone_sentence("1e-3", &flat),
            "at 1e-3: f16 is in the flat-loss zone (every input moved, every loss flat); bf16 is between the zones (1 of \
             200 inputs dead, 199 of 200 losses flat); f32 is partly in the dead-input zone (3 of 200 inputs dead, no \
             loss flat)."
        );
        assert_eq!(
            zone_sentence("1e-5", &[zone("f64", 0, 0)]),
            "at 1e-5 no element of any dtype has a dead input or a flat loss."
        );
    }
}
