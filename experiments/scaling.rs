//! `scaling`: wall time of a full central input-gradient check by the fast path (one path of
//! each pairwise tree re-summed) and the naive path (whole loss re-evaluated), against n and d.
//!
//! A timing experiment: its cells run one at a time on one thread so they do not disturb each
//! other, and its CSV holds wall times, so it is the one output that differs between runs. It is
//! not part of `gradlab run all`; run it with `gradlab run scaling`.

use gradlab::check::prepare;
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::method::Scheme;
use gradlab::metrics::fit_line;
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Setup};
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::plot::{category_ink, Figure, LegendPos};
use gradlab_lab::report::md_table;
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::{dashed, line};
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
    /// Median, fastest and slowest of the timed runs.
    seconds: f64,
    seconds_min: f64,
    seconds_max: f64,
    repeats: usize,
    /// The one-minute load average (/proc/loadavg) when the cell started; NaN where unreadable.
    load: f64,
    seconds_per_element: f64,
}

/// A cell: which sweep, which path, n and d.
pub type Cell = (&'static str, &'static str, usize, usize);

/// At least 5 timed runs, repeated until 0.5 s have been spent (at most 200): the median, the
/// fastest and the slowest (seconds per check), and the number of runs.
fn time_check(f: &mut dyn FnMut()) -> (f64, f64, f64, usize) {
    f(); // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed().as_secs_f64() < 0.5 && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], times[times.len() - 1], times.len())
}

/// The one-minute load average, NaN where /proc/loadavg cannot be read.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The least-squares log-log slope over the upper half of the sizes (at least 3 points), where
/// the leading term is meant to dominate.
fn upper_slope(pts: &[(f64, f64)]) -> f64 {
    let from = (pts.len() / 2).min(pts.len().saturating_sub(3));
    let logs: Vec<(f64, f64)> = pts[from..].iter().map(|p| (p.0.ln(), p.1.ln())).collect();
    if logs.len() >= 2 {
        fit_line(&logs).0
    } else {
        f64::NAN
    }
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
        let (ns, ds): (&[usize], &[usize]) = if quick {
            (&[8, 16, 32], &[4, 8, 16])
        } else {
            (&[16, 32, 64, 128, 256, 512, 1024], &[4, 8, 16, 32, 64, 128, 256, 512, 1024])
        };
        // The naive path costs O(n^2 d^2 k): it stops at n = 512 and d = 256.
        let mut v = Vec::new();
        for path in ["fast", "naive"] {
            let keep = |&&s: &&usize, top: usize| path == "fast" || quick || s <= top;
            v.extend(ns.iter().filter(|s| keep(s, 512)).map(|&n| ("n", path, n, 16)));
            v.extend(ds.iter().filter(|s| keep(s, 256)).map(|&d| ("d", path, 64, d)));
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
        let (tr, _) = prepare::<f64>(&problem, (), &cfg, &Watch::unwatched())?;
        let setup = Setup {
            trained: &tr,
            reduction: cfg.reduction,
            stencil: Scheme::Central.stencil(),
            wrt: LinearTensor::Input,
        };
        let h = Decimal::parse("step", "1e-5")?;
        let naive = path == "naive";
        let load = load_average();
        let (seconds, seconds_min, seconds_max, repeats) = time_check(&mut || {
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
            seconds_min,
            seconds_max,
            repeats,
            load,
            seconds_per_element: seconds / (n * d) as f64,
        }])
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let reps = rows.iter().map(|r| r.repeats);
        let loads: Vec<f64> = rows.iter().map(|r| r.load).filter(|l| l.is_finite()).collect();
        let range = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if v.is_empty() {
                "unread".to_string()
            } else {
                format!("{lo:.2} to {hi:.2}")
            }
        };
        let mut s = format!(
            "Wall time of one full central input-gradient check (f64, k = {K}, one thread). Each cell ran once to warm \
             up, then {} to {} times (at least 5, until 0.5 s were spent); the table and figures give the median, the \
             figures' bands the fastest and slowest run. The machine has 2 cores shared with other work: the one-minute \
             load average at the start of the cells was {}. The fast path re-sums one path of each logit's product \
             tree and of the loss tree: O(n d (k log d + log n)); the naive path re-evaluates the whole loss: \
             O(n^2 d^2 k) (it stops at n = 512 and d = 256). Fitted exponents are log-log least squares over all sizes \
             and over the upper half of the sizes (at least 3), where the leading term is meant to dominate, against \
             theory's 1 and 2 in n, and 1 (up to the log d factor) and 2 in d. These are timings: they vary from run \
             to run and machine to machine.\n\n",
            reps.clone().min().unwrap_or(0),
            reps.max().unwrap_or(0),
            range(&loads),
        );
        let (mut table, mut short) = (Vec::new(), Vec::new());
        for (sweep, fixed) in SWEEPS {
            let mut fig = Figure::new(
                format!("Check time vs {sweep} ({fixed}, k = {K}, f64, one thread)"),
                sweep,
                "seconds per full central check",
            );
            let mut fast: Vec<(f64, f64)> = Vec::new();
            for (k, (path, theory)) in [("fast", 1.0), ("naive", 2.0)].into_iter().enumerate() {
                let ink = category_ink(k, DType::F64);
                let size = |r: &Row| if sweep == "n" { r.n } else { r.d } as f64;
                let mine: Vec<&Row> = rows.iter().filter(|r| r.sweep == sweep && r.path == path).collect();
                let pts: Vec<(f64, f64)> = mine.iter().map(|r| (size(r), r.seconds)).collect();
                let band: Vec<(f64, f64, f64)> = mine.iter().map(|r| (size(r), r.seconds_min, r.seconds_max)).collect();
                let logs: Vec<(f64, f64)> = pts.iter().map(|p| (p.0.ln(), p.1.ln())).collect();
                let (slope, icpt) = fit_line(&logs);
                let upper = upper_slope(&pts);
                let from = pts.get((pts.len() / 2).min(pts.len().saturating_sub(3))).map_or(f64::NAN, |p| p.0);
                let big = mine.last().map(|r| (size(r), r.seconds, r.seconds_min, r.seconds_max));
                let big = big.unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
                // The naive path over the fast one at the naive path's largest size.
                let ratio = match fast.iter().find(|p| p.0 == big.0) {
                    Some(f) if path == "naive" => format!("{:.0}", big.1 / f.1),
                    _ => "-".into(),
                };
                if path == "fast" {
                    fast.clone_from(&pts);
                }
                if (upper - theory).abs() > 0.2 * theory {
                    short.push(format!("{path} path in {sweep}: {upper:.2} against {theory}"));
                }
                table.push(vec![
                    sweep.to_string(),
                    path.to_string(),
                    format!("{slope:.2}"),
                    format!("{upper:.2} ({from} to {})", big.0),
                    format!("{theory}"),
                    format!("{}", big.0),
                    format!("{:.3e} ({:.3e} to {:.3e})", big.1, big.2, big.3),
                    ratio,
                ]);
                let fit: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, (icpt + slope * p.0.ln()).exp())).collect();
                fig.series.push(line(&format!("{path} path (median, band: min-max)"), ink, pts).with_band(band));
                fig.series.push(dashed(&format!("{path}: fitted exponent {slope:.2}"), ink.color, fit));
            }
            fig.legend_pos = LegendPos::Auto;
            out.figure(&format!("scaling_{sweep}"), &fig)?;
        }
        s.push_str(&md_table(
            "sweep | path | fitted exponent, all sizes | fitted exponent, upper half (sizes) | theory | largest size | \
             seconds at the largest size, median (min to max) | naive / fast",
            table,
        ));
        s.push_str(&format!("\n{}\n", exponent_sentence(&short)));
        s.push_str("\n![scaling n](scaling/scaling_n.png)\n\n![scaling d](scaling/scaling_d.png)\n");
        Ok(s)
    }
}

/// The sentence on whether each path reached its theoretical exponent over the upper half of its
/// sizes (within 20 %): `short` lists the ones that did not, with their exponents.
pub fn exponent_sentence(short: &[String]) -> String {
    if short.is_empty() {
        "Over the upper half of the sizes every path's fitted exponent is within 20 % of theory's.".into()
    } else {
        format!(
            "Over the upper half of the sizes these exponents are more than 20 % from theory's ({}): there the \
             measured sizes do not reach the leading term, or it is not the cost that dominates; the timings do not \
             say which.",
            short.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exponent_sentence_names_the_paths_off_theory() {
        assert!(exponent_sentence(&[]).contains("every path's fitted exponent is within 20 %"));
        let s = exponent_sentence(&["fast path in d: 0.33 against 1".into()]);
        assert!(s.contains("more than 20 %") && s.contains("0.33 against 1"), "{s}");
    }

    #[test]
    fn the_upper_slope_is_fitted_over_the_largest_sizes() {
        // Flat, then linear: the upper half sees only the linear part.
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0].iter().map(|&x: &f64| (x, x.max(4.0))).collect();
        assert!((upper_slope(&pts) - 1.0).abs() < 1e-12);
        assert!(upper_slope(&pts[..1]).is_nan());
    }
}

gradlab_lab::experiment_main!(Scaling);
