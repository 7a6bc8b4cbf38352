//! `defaults`: what the check of a correct gradient reaches in each dtype at the steps popular
//! checkers use by default, against its best step: torch.autograd.gradcheck's 1e-6, the cs231n
//! notes' 1e-5, and 1e-3.

use gradlab::check::{check_dtype, CheckConfig, CheckRow};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::grid::log_grid_from;
use gradlab::lab::report::{best_step_label, md_table};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::spread::{median_band, Spread};
use gradlab::method::Scheme;
use gradlab::metrics::best_step;
use gradlab::policy::{truth_prec, usable_steps};
use gradlab::problem::Problem;
use gradlab::scalar::DType;

/// The experiment.
pub struct Defaults;

/// The default steps: torch.autograd.gradcheck (1e-6), cs231n (1e-5), and 1e-3.
const DEFAULTS: [&str; 3] = ["1e-6", "1e-5", "1e-3"];

fn dtypes(quick: bool) -> Vec<DType> {
    DType::parse_list(if quick { "f32,f64" } else { "f16,bf16,f32,f64,mpfr:113" }).unwrap_or_default()
}

impl Experiment for Defaults {
    type Cell = (DType, u64);
    type Row = CheckRow;

    const NAME: &'static str = "defaults";
    const DESCRIPTION: &'static str = "what the check of a correct gradient reaches in each dtype at gradcheck's, \
         cs231n's and other default steps";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let seeds = if quick { 1..=2 } else { 1..=5 };
        dtypes(quick).into_iter().flat_map(|dt| seeds.clone().map(move |s| (dt, s))).collect()
    }
    fn run_cell(&self, &(dt, seed): &Self::Cell) -> Result<Vec<CheckRow>> {
        // 4 steps per decade from 100 down to 1e-20: every dtype's optimum and the defaults on it.
        let steps = usable_steps(&log_grid_from(2, 22, 4), dt);
        let cfg = CheckConfig { truth: Some(truth_prec(&[dt])), ..CheckConfig::seed(Scheme::Central, steps) };
        Ok(check_dtype(&Problem::generate(10, 4, 2, seed)?, dt, &cfg)?.rows)
    }

    fn finish(&self, quick: bool, rows: &[CheckRow], _out: &mut Output) -> Result<String> {
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
            "\nA relerr of 1 means the numeric gradient is 0: the loss went flat (or the input died) at that step, which is \
             what the `regimes` sections show: 1e-6 lies inside the flat-loss zone of the 16-bit formats and of f32.\n",
        );
        Ok(s)
    }
}

gradlab::experiment_main!(Defaults);
