//! `scaling`: wall time of a full central input-gradient check by the fast path (one path of
//! each pairwise tree re-summed) and the naive path (whole loss re-evaluated), against n and d.
//!
//! A timing experiment: its cells run one at a time on one thread so they do not disturb each
//! other, and its CSV holds wall times, so it is the one output that differs between runs. It is
//! not part of `gradlab run all`; run it with `gradlab run scaling`.

use gradlab::check::prepare;
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::lab::plot::{Figure, LegendPos, BLUE, VERMILLION};
use gradlab::lab::report::md_table;
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::{dashed, line};
use gradlab::method::Scheme;
use gradlab::metrics::fit_line;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::{Reduction, Wrt};
use gradlab::problem::Problem;
use gradlab::train::{InputGrad, TrainConfig};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The experiment.
pub struct Scaling;

const K: usize = 10;

/// The two sweeps: n at d = 16, and d at n = 64.
const SWEEPS: [(&str, &str); 2] = [("n", "d = 16"), ("d", "n = 64")];

/// One timed check.
#[derive(Serialize, Deserialize)]
pub struct Row {
    sweep: String,
    path: String,
    n: usize,
    d: usize,
    k: usize,
    elements: usize,
    seconds: f64,
    repeats: usize,
    seconds_per_element: f64,
}

/// A cell: which sweep, which path, n and d.
pub type Cell = (&'static str, &'static str, usize, usize);

/// Median of at least 3 timed runs, repeated until 0.3 s have been spent (seconds per check).
fn time_check(f: &mut dyn FnMut()) -> (f64, usize) {
    f(); // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed().as_secs_f64() < 0.3 && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len())
}

impl Experiment for Scaling {
    type Cell = Cell;
    type Row = Row;

    const NAME: &'static str = "scaling";
    const DESCRIPTION: &'static str = "timing: fast (tree-updated) vs naive (full re-evaluation) check, f64, against \
         n and d (not in `run all`)";
    fn is_timing(&self) -> bool {
        true
    }
    fn cells(&self, quick: bool) -> Vec<Cell> {
        let (ns, ds): (&[usize], &[usize]) =
            if quick { (&[8, 16, 32], &[4, 8, 16]) } else { (&[16, 32, 64, 128, 256, 512], &[4, 8, 16, 32, 64, 128]) };
        let mut v = Vec::new();
        for path in ["fast", "naive"] {
            v.extend(ns.iter().map(|&n| ("n", path, n, 16)));
            v.extend(ds.iter().map(|&d| ("d", path, 64, d)));
        }
        v
    }
    fn run_cell(&self, &(sweep, path, n, d): &Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(n, d, K, 1)?;
        let cfg = TrainConfig {
            epochs: 1,
            lr: Decimal::parse("lr", "1e-3")?,
            input_grad: InputGrad::Reset,
            reduction: Reduction::Mean,
        };
        let (tr, _) = prepare::<f64>(&problem, (), &cfg);
        let setup =
            Setup { trained: &tr, reduction: cfg.reduction, stencil: Scheme::Central.stencil(), wrt: Wrt::Input };
        let h = Decimal::parse("step", "1e-5")?;
        let naive = path == "naive";
        let (seconds, repeats) = time_check(&mut || {
            std::hint::black_box(numeric_grad(&setup, &h, naive));
        });
        Ok(vec![Row {
            sweep: sweep.into(),
            path: path.into(),
            n,
            d,
            k: K,
            elements: n * d,
            seconds,
            repeats,
            seconds_per_element: seconds / (n * d) as f64,
        }])
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mut s = format!(
            "Wall time of one full central input-gradient check (f64, k = {K}, one thread, median of repeated runs). \
             The fast path re-sums one path of each logit's product tree and of the loss tree: O(n d (k log d + log n)); \
             the naive path re-evaluates the whole loss: O(n^2 d^2 k). Fitted exponents (log-log least squares) against \
             theory's 1 and 2 in n, and 1 (up to the log d factor) and 2 in d; the slope between the two largest sizes shows \
             the asymptote where lower-order terms still weigh in (the naive path's per-sample softmax costs O(n k) per \
             evaluation whatever d). These are timings: they vary from run to run and machine to machine.\n\n"
        );
        let mut table = Vec::new();
        for (sweep, fixed) in SWEEPS {
            let mut fig = Figure::new(
                format!("Check time vs {sweep} ({fixed}, k = {K}, f64, one thread)"),
                sweep,
                "seconds per full central check",
            );
            let mut fast_largest = f64::NAN;
            for (path, theory, color) in [("fast", 1.0, BLUE), ("naive", 2.0, VERMILLION)] {
                let size = |r: &Row| if sweep == "n" { r.n } else { r.d } as f64;
                let pts: Vec<(f64, f64)> =
                    rows.iter().filter(|r| r.sweep == sweep && r.path == path).map(|r| (size(r), r.seconds)).collect();
                let logs: Vec<(f64, f64)> = pts.iter().map(|p| (p.0.ln(), p.1.ln())).collect();
                let (slope, icpt) = fit_line(&logs);
                let big = pts.last().copied().unwrap_or((f64::NAN, f64::NAN));
                let top = match pts.len() {
                    len if len >= 2 => (big.1 / pts[len - 2].1).ln() / (big.0 / pts[len - 2].0).ln(),
                    _ => f64::NAN,
                };
                let ratio = if path == "naive" { format!("{:.0}", big.1 / fast_largest) } else { "-".into() };
                fast_largest = big.1;
                table.push(vec![
                    sweep.to_string(),
                    path.to_string(),
                    format!("{slope:.2}"),
                    format!("{top:.2}"),
                    format!("{theory}"),
                    format!("{}", big.0),
                    format!("{:.3e}", big.1),
                    ratio,
                ]);
                let fit: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, (icpt + slope * p.0.ln()).exp())).collect();
                fig.series.push(line(&format!("{path} path"), color, pts));
                fig.series.push(dashed(&format!("{path}: fitted exponent {slope:.2}"), color, fit));
            }
            fig.legend_pos = LegendPos::UpperLeft;
            out.figure(&format!("scaling_{sweep}"), &fig)?;
        }
        s.push_str(&md_table(
            "sweep | path | fitted exponent | slope, two largest sizes | theory | largest size | seconds | naive / fast",
            table,
        ));
        s.push_str("\n![scaling n](scaling/scaling_n.png)\n\n![scaling d](scaling/scaling_d.png)\n");
        Ok(s)
    }
}

gradlab::experiment_main!(Scaling);
