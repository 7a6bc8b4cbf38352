//! `error_model`: the two models of a finite-difference gradient's error, each against the
//! measured error of every seed: the bound T h^p + R u/h (src/theory/bound.rs) and the expected
//! error (src/theory/expected.rs), for their optimal step and their minimal error.

use gradlab::check::{check_dtype, prepare, CheckConfig};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::metrics::best_step;
use gradlab::model::LinearTensor;
use gradlab::policy::truth_prec;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::theory::{bound_model, ExpectedModel};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::claims::{and_list, within_factor_sentence, Ratio};
use gradlab_lab::grid::log_grid_from;
use gradlab_lab::plot::{dtype_ink, dtype_shape, Figure, Ink, LegendPos, DARK_GREY, LIGHT_GREY};
use gradlab_lab::report::md_table;
use gradlab_lab::series::{dashed, points};
use gradlab_lab::spread::Spread;
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct ErrorModelExperiment;

const SCHEMES: [Scheme; 2] = [Scheme::Central, Scheme::Central5];

fn dtypes(quick: bool) -> Vec<DType> {
    if quick {
        vec![DType::F32, DType::F64]
    } else {
        vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_113]
    }
}

/// Steps from 10^top over `decades` decades at 4 per decade, wide enough on both sides of every
/// optimum here (the 16-bit optima lie between 1 and 10).
fn grid(dt: DType) -> Vec<Decimal> {
    let (top, decades) = match dt.bits() {
        b if b <= 11 => (2, 7),
        b if b <= 24 => (1, 10),
        b if b <= 53 => (0, 16),
        _ => (0, 30),
    };
    log_grid_from(top, decades, 4)
}

/// One step of one dtype, scheme and seed: the measured error and both models' values.
#[derive(Serialize, Deserialize)]
pub struct Row {
    dtype: DType,
    scheme: Scheme,
    seed: u64,
    eps: Decimal,
    measured: f64,
    bound: f64,
    expected: f64,
    sigma_loss: f64,
    /// Elements whose perturbed losses all rounded to one value at this step.
    loss_flat: usize,
}

impl gradlab_lab::runner::Experiment for ErrorModelExperiment {
    type Cell = (DType, Scheme, u64);
    type Row = Row;

    const NAME: &'static str = "error_model";
    const DESCRIPTION: &'static str = "the bound and the expected error of central and five-point differences, \
         against the measured error of 10 seeds";
    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let seeds = if quick { 1..=2 } else { 1..=10 };
        let pairs = dtypes(quick).into_iter().flat_map(|dt| SCHEMES.map(|s| (dt, s)));
        pairs.flat_map(|(dt, s)| seeds.clone().map(move |seed| (dt, s, seed))).collect()
    }
    fn run_cell(&self, &(dt, scheme, seed): &Self::Cell) -> Result<Vec<Row>> {
        let problem = Problem::generate(10, 4, 2, seed)?;
        let train = TrainConfig::seed(InputGrad::Reset);
        let truth = truth_prec(&[dt]);
        let steps = gradlab::policy::usable_steps(&grid(dt), dt);
        let bound = bound_model(&problem, &train, scheme, LinearTensor::Input);
        let cfg = CheckConfig { truth: Some(truth), ..CheckConfig::seed(scheme, Steps::grid(steps)?) };
        let measured = check_dtype(&problem, LinearTensor::Input, dt, &cfg, &Watch::unwatched())?.rows;
        let u = dt.unit_roundoff();
        gradlab::with_dtype!(dt, |T, ctx| {
            let (tr, _) = prepare::<T>(&problem, ctx, &train, &Watch::unwatched())?;
            let model = ExpectedModel::new(&tr, train.reduction, scheme.stencil(), LinearTensor::Input, truth);
            Ok(measured
                .into_iter()
                .zip(cfg.steps.fixed())
                .map(|(r, h)| Row {
                    dtype: dt,
                    scheme,
                    seed,
                    bound: bound.predict(h.to_f64(), u),
                    expected: model.predict(&tr, LinearTensor::Input, h),
                    eps: h.clone(),
                    measured: r.num_vs_truth,
                    sigma_loss: model.sigma_loss,
                    loss_flat: r.loss_flat,
                })
                .collect())
        })
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut gradlab_lab::runner::Output) -> Result<String> {
        let mut s = String::from(
            "Correct gradients (x.grad reset; n = 10, d = 4, k = 2, E = 10, lr = 1e-3), one problem per seed. For every \
             seed, the optimum of the measured error of the numeric input gradient against the MPFR truth (a grid of 4 steps \
             per decade), of the bound T h^p + R u/h (every rounding at its worst, T and R from the seed's problem) and of \
             the expected error (truncation measured per element in MPFR, the input's rounding taken from the dtype's own \
             effective steps, and the loss's rounding noise σ_L measured once on the dtype's loss at steps of ±0.1). σ_L is \
             measured on the same loss the check differentiates, so the expected error is calibrated on this problem's \
             rounding, not predicted from the dtype's unit roundoff alone; nothing is fitted to the error curve. The table \
             gives predicted / measured for the optimal step and the minimal error: median and, in parentheses, min-max over \
             the seeds, and how many seeds' expected minimal error is more than a factor 1.5 from the measured one either \
             way.\n\n",
        );
        let (mut table, mut notes, mut figures) = (Vec::new(), Vec::new(), String::new());
        let mut bound_low = f64::INFINITY;
        let (mut cases, mut widest) = (Vec::new(), Vec::new());
        // Per (dtype, scheme): the measured optimum of each seed, as (step, elements with a flat loss).
        let mut optima: Vec<(String, Vec<(f64, usize)>)> = Vec::new();
        for scheme in SCHEMES {
            let mut fig = Figure::new(
                format!("Predicted over measured minimal error, {scheme} differences, one point per seed"),
                "significand bits of the dtype",
                "predicted / measured minimal error",
            );
            for (i, dt) in dtypes(quick).into_iter().enumerate() {
                let mine: Vec<&Row> = rows.iter().filter(|r| r.dtype == dt && r.scheme == scheme).collect();
                let mut seeds: Vec<u64> = mine.iter().map(|r| r.seed).collect();
                seeds.dedup();
                // Per seed: (bound step, bound error, expected step, expected error) over measured.
                let mut ratios: Vec<[f64; 4]> = Vec::new();
                let mut at_optimum = Vec::new();
                for seed in seeds {
                    let of =
                        |y: fn(&Row) -> f64| best_step(mine.iter().filter(|r| r.seed == seed).map(|r| (&r.eps, y(r))));
                    let (Some(m), Some(b), Some(e)) = (of(|r| r.measured), of(|r| r.bound), of(|r| r.expected)) else {
                        continue;
                    };
                    if let Some(e) = m.edge {
                        notes.push(format!("{dt} {scheme} seed {seed}: the measured minimum is the {}", e.note()));
                    }
                    let step = |b: &gradlab::metrics::Best| b.step.to_f64() / m.step.to_f64();
                    ratios.push([step(&b), b.value / m.value, step(&e), e.value / m.value]);
                    let flat =
                        mine.iter().find(|r| r.seed == seed && r.eps.value() == m.step.value()).map(|r| r.loss_flat);
                    at_optimum.push((m.step.to_f64(), flat.unwrap_or(0)));
                    cases.push(Ratio { group: format!("{dt} {scheme}"), seed, ratio: e.value / m.value });
                }
                optima.push((format!("{dt} {scheme}"), at_optimum));
                let stat = |i: usize| Spread::of(&ratios.iter().map(|r| r[i]).collect::<Vec<_>>());
                let outside = ratios.iter().filter(|r| !(1.0 / 1.5..=1.5).contains(&r[3])).count();
                widest.push((stat(3).max / stat(3).min, format!("{dt} {scheme}")));
                let mut row = vec![dt.to_string(), scheme.to_string(), ratios.len().to_string()];
                row.extend((0..4).map(|i| stat(i).label()));
                row.push(format!("{outside} of {}", ratios.len()));
                table.push(row);
                bound_low = ratios.iter().map(|r| r[1]).fold(bound_low, f64::min);
                let x = dt.bits() as f64;
                let bound_label = if i == 0 { "bound (grey)" } else { "" };
                let grey = Ink { color: LIGHT_GREY, shape: dtype_shape(dt), hollow: false };
                fig.series.push(points(bound_label, grey, ratios.iter().map(|r| (x, r[1])).collect()));
                fig.series.push(points(
                    &format!("{dt}, expected"),
                    dtype_ink(dt),
                    ratios.iter().map(|r| (x, r[3])).collect(),
                ));
            }
            for (label, y) in [("perfect agreement", 1.0), ("", 1.5), ("", 1.0 / 1.5)] {
                fig.series.push(dashed(label, DARK_GREY, vec![(6.0, y), (150.0, y)]));
            }
            fig.legend_pos = LegendPos::Below;
            fig.caption = Some("dashed: agreement, and a factor 1.5 either way".into());
            figures.push_str(&out.figure_md(&format!("error_model_{scheme}"), &fig)?);
        }
        s.push_str(&md_table(
            "dtype | scheme | seeds | bound: step ratio | bound: error ratio | expected: step ratio | expected: error ratio | expected error outside 1.5x",
            table,
        ));
        out.block("finding", &finding(bound_low, &cases, 1.5))?;
        // σ_L in ulps, once per (dtype, scheme, seed): each row of a case repeats it.
        let sigmas: Vec<(String, f64)> = rows
            .iter()
            .map(|r| (format!("{} seed {}", r.dtype, r.seed), r.sigma_loss / gradlab::regimes::ulp(r.dtype, 0.75)))
            .collect::<std::collections::BTreeMap<String, f64>>()
            .into_iter()
            .collect();
        let sigma = Spread::of(&sigmas.iter().map(|s| s.1).collect::<Vec<_>>());
        widest.sort_by(|a, b| b.0.total_cmp(&a.0));
        let widest: Vec<String> = widest.iter().take(2).map(|(_, w)| w.clone()).collect();
        let at_widest: Vec<(f64, usize)> =
            optima.iter().filter(|(g, _)| widest.contains(g)).flat_map(|(_, v)| v.iter().copied()).collect();
        s.push_str(&format!(
            "\nThe bound's minimal error is {} the measured one for every seed of every dtype and scheme here (the smallest \
             ratio is {bound_low:.2}): it takes every rounding at its worst, so it bounds the error, it does not predict it. \
             Seed by seed, {} Its spread over seeds (max over min) is widest for {}: {} The loss's rounding noise σ_L is \
             {:.2} to {:.2} ulp of a loss near 0.75 (median {:.2}), against 0.29 ulp for the last rounding alone (uniform \
             within half an ulp): {}.\n",
            if bound_low > 1.0 { "above" } else { "not always above" },
            within_factor_sentence("the expected minimal error", &cases, 1.5),
            and_list(&widest),
            flat_at_optima(&at_widest),
            sigma.min,
            sigma.max,
            sigma.median,
            sigma_sentence(&sigmas)
        ));
        if !notes.is_empty() {
            s.push_str(&format!("\nMinima on the edge of the grid (bounds, not optima): {}.\n", notes.join("; ")));
        }
        s.push_str(&figures);
        Ok(s)
    }
}

/// What the measured optima (step, elements whose loss is flat there) say about flat losses: the
/// steps they lie at, and whether some perturbed losses rounded to one value there.
fn flat_at_optima(optima: &[(f64, usize)]) -> String {
    let lo = optima.iter().map(|o| o.0).fold(f64::INFINITY, f64::min);
    let hi = optima.iter().map(|o| o.0).fold(f64::NEG_INFINITY, f64::max);
    let flat = optima.iter().filter(|o| o.1 > 0).count();
    let n = optima.len();
    let steps = format!("their measured optima lie at steps from {lo:.2e} to {hi:.2e}");
    if flat == 0 {
        format!("{steps}, and no element's perturbed losses round to one value at any of them (no flat loss), so flat losses do not explain the spread.")
    } else {
        let most: usize = optima.iter().map(|o| o.1).max().unwrap_or(0);
        format!("{steps}; at {flat} of these {n} optima some element's perturbed losses round to one value (up to {most} elements with a flat loss), so their rounding errors are not independent.")
    }
}

gradlab_lab::experiment_main!(ErrorModelExperiment);

/// The rounding noise of the last rounding alone, in ulps: uniform within half an ulp, 1/√12.
const LAST_ROUNDING_ULPS: f64 = 0.288_675_134_594_812_9;

/// What σ_L says about the roundings that reach the loss, from the numbers: above the last
/// rounding's noise in every case (the earlier roundings reach the loss), or the cases below.
fn sigma_sentence(sigmas: &[(String, f64)]) -> String {
    let below: Vec<&(String, f64)> = sigmas.iter().filter(|s| s.1 < LAST_ROUNDING_ULPS).collect();
    if below.is_empty() {
        "above it in every case, so every rounding on the perturbed sample's way to the total reaches the loss".into()
    } else {
        let mut names: Vec<String> = below.iter().map(|s| format!("{} ({:.3})", s.0, s.1)).collect();
        names.dedup();
        format!(
            "above it in {} of {} cases, so the earlier roundings mostly reach the loss; below it in {}, where the \
             measured noise is less than the last rounding's alone (σ_L is estimated from a finite sample)",
            sigmas.len() - below.len(),
            sigmas.len(),
            gradlab_lab::claims::and_list(&names)
        )
    }
}

/// The report's key finding on the error model, written from the numbers: whether the bound is
/// above every measured minimal error (smallest ratio `bound_low`), and in how many seed-by-seed
/// `cases` the expected minimal error is within a factor `factor` of the measured one (the
/// furthest case named when some are outside).
fn finding(bound_low: f64, cases: &[Ratio], factor: f64) -> String {
    let bound = if bound_low > 1.0 {
        format!("overestimates the minimal error in every case (by a factor {bound_low:.2} at least)")
    } else {
        format!("is not always above the minimal error (smallest ratio {bound_low:.2})")
    };
    let (within, total) = gradlab_lab::claims::within_factor_count(cases, factor);
    // The case furthest from 1 either way, a ratio that is not a number first.
    let worst = cases.iter().max_by(|a, b| {
        let d = gradlab_lab::claims::factor_distance;
        d(a.ratio).total_cmp(&d(b.ratio))
    });
    let expected = match worst {
        Some(w) if within < total => format!(
            "is within a factor {factor} of it in {within} of {total} seed-by-seed cases (furthest: {} at seed {}, {})",
            w.group,
            w.seed,
            gradlab_lab::claims::times(w.ratio)
        ),
        _ => format!("is within a factor {factor} of it in all {total} seed-by-seed cases"),
    };
    format!(
        "- The bound T h^p + R u/h {bound}; the expected error, built from the truncation, the dtype's own steps and \
         the loss's rounding noise measured on the same loss, {expected} (`gradlab run error_model`).\n"
    )
}

#[cfg(test)]
mod tests {
    /// σ_L's sentence says every rounding reaches the loss only when no case is below 1/√12.
    #[test]
    fn sigma_sentence_names_the_cases_below_the_last_rounding() {
        let s = super::sigma_sentence(&[("f32 seed 1".into(), 0.5), ("bf16 seed 2".into(), 0.4)]);
        assert!(s.contains("above it in every case"), "{s}");
        let s = super::sigma_sentence(&[("f32 seed 1".into(), 0.5), ("bf16 seed 2".into(), 0.274)]);
        assert!(s.contains("above it in 1 of 2 cases") && s.contains("below it in bf16 seed 2 (0.274)"), "{s}");
    }

    /// The finding says "every case" only when every case is within, and names the furthest.
    #[test]
    fn finding_counts_the_cases_outside() {
        let case = |seed, ratio| gradlab_lab::claims::Ratio { group: "bf16 central5".into(), seed, ratio };
        let s = super::finding(1.62, &[case(1, 1.1), case(2, 0.9)], 1.5);
        assert!(s.contains("overestimates the minimal error in every case (by a factor 1.62 at least)"), "{s}");
        assert!(s.contains("within a factor 1.5 of it in all 2 seed-by-seed cases"), "{s}");
        let s = super::finding(0.8, &[case(1, 1.1), case(2, 3.4), case(3, 0.2)], 1.5);
        assert!(s.contains("is not always above the minimal error (smallest ratio 0.80)"), "{s}");
        assert!(s.contains("in 1 of 3 seed-by-seed cases (furthest: bf16 central5 at seed 3, 0.20x)"), "{s}");
        // A case whose ratio is not a number is outside, and named furthest.
        let s = super::finding(1.62, &[case(1, 1.1), case(2, f64::NAN)], 1.5);
        assert!(s.contains("in 1 of 2 seed-by-seed cases (furthest: bf16 central5 at seed 2, NaN)"), "{s}");
    }

    use super::*;

    #[test]
    fn flat_losses_are_named_only_where_some_are() {
        let none = [(3.16, 0), (1.0, 0), (0.562, 0)];
        assert_eq!(
            flat_at_optima(&none),
            "their measured optima lie at steps from 5.62e-1 to 3.16e0, and no element's perturbed losses round to \
             one value at any of them (no flat loss), so flat losses do not explain the spread."
        );
        let some = [(3.16, 0), (1.0, 4), (0.562, 1)];
        assert_eq!(
            flat_at_optima(&some),
            "their measured optima lie at steps from 5.62e-1 to 3.16e0; at 2 of these 3 optima some element's \
             perturbed losses round to one value (up to 4 elements with a flat loss), so their rounding errors are not \
             independent."
        );
    }
}
