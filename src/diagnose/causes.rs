//! The models of the usual mistakes, tried in order on a wrong gradient, each with its evidence.
//!
//! Order: the exact models first (a sign, a whole or plain factor, a mean of micro-batch means:
//! each must match the gradient within rounding), then the first-order accumulation over SGD
//! steps, then `unexplained`.

use super::microbatch::{common_partitions, lstsq, partitions, weights_of};
use super::{largest, Accumulation, Analysis, Cause, Finding};
use crate::objective::{Reduction, Wrt};
use crate::policy::{whole_factor, DRIFT_UNEXPLAINED_MAX};
use ndarray::Array2;
use rug::Float;

/// Screening keeps a common partition whose f64 prediction is within this many rounding bounds
/// (its prefix sums carry errors of n ulps of the sums, above the f64 bound); the exact check
/// that follows decides.
const SCREEN_BOUNDS: f64 = 1e3;

/// Screening builds n x (given elements) prefix sums, and the least squares their contribution
/// matrix, only up to this many values.
const SCREEN_MAX_VALUES: usize = crate::policy::MICROBATCH_MAX_VALUES;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// The findings for a wrong gradient, most likely first, with the micro-batch sizes or the
/// accumulation's steps when those are named.
#[derive(Default)]
pub(super) struct Explained {
    pub findings: Vec<Finding>,
    pub sizes: Option<Vec<usize>>,
    pub accumulation: Option<Accumulation>,
}

impl From<Vec<Finding>> for Explained {
    fn from(findings: Vec<Finding>) -> Self {
        Explained { findings, ..Default::default() }
    }
}

/// Explains a wrong gradient.
pub(super) fn explain(a: &Analysis, factor: f64) -> Explained {
    let g = a.flat(|p| &p.given);
    let t = a.flat(|p| &p.truth64);
    let c_ls = dot(&g, &t) / dot(&t, &t);
    let mean = a.settings.reduction == Reduction::Mean;

    let e = a.scaled_excess(-1.0);
    if e <= 1.0 {
        return vec![Finding {
            cause: Cause::WrongSign,
            evidence: vec![
                format!("the gradient is -1 times the truth within rounding (largest deviation {e:.2} of the bound)."),
                "the sign of the loss or of the gradient is flipped (the gradient of -loss, or ascent written where \
                 descent was meant)."
                    .into(),
            ],
        }]
        .into();
    }

    if let Some(f) = exact_scale(a, c_ls, factor, mean) {
        return f.into();
    }
    match microbatch(a) {
        Ok((f, sizes)) => Explained { findings: vec![f], sizes: Some(sizes), accumulation: None },
        Err(note) => {
            if let Some((f, acc)) = accumulation(a, c_ls, &g, &t, mean) {
                return Explained { findings: f, sizes: None, accumulation: Some(acc) };
            }
            let mut evidence = vec![format!(
                "no single factor fits: the best one, {c_ls:.6} (least squares; median ratio {factor:.6}), leaves {:.3} of \
                 the difference from the truth (relative, L2).",
                residual_fraction(&g, &t, c_ls)
            )];
            evidence.push(
                "no accumulation over SGD steps (a whole factor with the drift SGD predicts) and no mean of micro-batch \
                 means fits either; the worst elements below show where the gradient departs most."
                    .into(),
            );
            evidence.extend(note);
            vec![Finding { cause: Cause::Unexplained, evidence }].into()
        }
    }
}

/// ||g - c t|| / ||g - t||.
fn residual_fraction(g: &[f64], t: &[f64], c: f64) -> f64 {
    let r: Vec<f64> = g.iter().zip(t).map(|(x, y)| x - c * y).collect();
    let d: Vec<f64> = g.iter().zip(t).map(|(x, y)| x - y).collect();
    norm(&r) / norm(&d)
}

/// The drift of every given part along SGD, in f64.
fn drift(a: &Analysis) -> Vec<Array2<f64>> {
    a.parts
        .iter()
        .map(|p| crate::truth::drift(a.tr, a.settings.reduction, p.wrt, a.settings.truth).map(|v| v.to_f64()))
        .collect()
}

/// The smallest learning rate at which c accumulated SGD steps would leave a drift outside the
/// rounding bound of c g: 2 / (c (c - 1) max_e |g'_e| / bound_e).
fn smallest_visible_lr(a: &Analysis, c: f64) -> f64 {
    let d = drift(a);
    let reference: Vec<Array2<f64>> = a.parts.iter().map(|p| p.truth64.mapv(|v| v * c)).collect();
    let bounds = a.bounds(&vec![c * a.omega; a.n()], &reference);
    let per_lr =
        d.iter().zip(&bounds).flat_map(|(d, b)| d.iter().zip(b.iter()).map(|(x, y)| x.abs() / y)).fold(0.0, f64::max);
    2.0 / (c * (c - 1.0) * per_lr)
}

/// A factor that fits within rounding: n (a sum where the mean was meant), another whole
/// number, 1/n (the mean where the sum was meant) or the least-squares factor itself.
fn exact_scale(a: &Analysis, c_ls: f64, factor: f64, mean: bool) -> Option<Vec<Finding>> {
    let n = a.n() as f64;
    let whole = whole_factor(c_ls);
    let mut tries: Vec<f64> = whole.into_iter().collect();
    if !mean && ((c_ls * n) - 1.0).abs() < crate::policy::FACTOR_TOLERANCE {
        tries.push(1.0 / n);
    }
    tries.push(c_ls);
    let (c, e) = tries.into_iter().map(|c| (c, a.scaled_excess(c))).find(|(_, e)| *e <= 1.0)?;
    let within = format!("within rounding (largest deviation {e:.2} of the bound)");
    let is_whole = whole == Some(c);
    if is_whole && c == n && mean {
        let lr = smallest_visible_lr(a, c);
        return Some(vec![
            Finding {
                cause: Cause::SumInsteadOfMean,
                evidence: vec![
                    format!("the gradient is exactly n = {n} times the truth {within}."),
                    "it is the gradient of the summed loss where the mean was meant (reduction='sum', or a missing \
                     division by the batch size)."
                        .into(),
                ],
            },
            Finding {
                cause: Cause::AccumulatedOverSteps,
                evidence: vec![
                    format!(
                        "a gradient summed over {n} SGD steps would also be {n} times the truth if the parameters barely \
                         moved: with this problem's drift any learning rate above {lr:.2e} would have left a visible \
                         departure, and none shows."
                    ),
                    "to tell them apart, check with a batch size different from the number of steps, or zero the \
                     gradient between steps: a sum follows n, an accumulation the step count."
                        .into(),
                ],
            },
        ]);
    }
    if is_whole {
        let lr = smallest_visible_lr(a, c);
        return Some(vec![
            Finding {
                cause: Cause::Scaled,
                evidence: vec![format!("the gradient is {c} times the truth {within} (median ratio {factor:.6}).")],
            },
            Finding {
                cause: Cause::AccumulatedOverSteps,
                evidence: vec![format!(
                    "a whole factor: a gradient summed over {c} steps in which the parameters barely moved (a learning \
                     rate below {lr:.2e}; above it SGD's drift would show) gives the same."
                )],
            },
        ]);
    }
    let what = if !mean && (c * n - 1.0).abs() < 1e-12 {
        "1/n: the gradient of the mean where the sum was meant.".to_string()
    } else {
        "a constant factor (a loss scaled by it, or a factor folded into the gradient).".to_string()
    };
    Some(vec![Finding {
        cause: Cause::Scaled,
        evidence: vec![format!("the gradient is {c:.9} times the truth {within}."), what],
    }])
}

/// A whole factor with SGD's drift: c g + a g', first order in the learning rate.
fn accumulation(a: &Analysis, c_ls: f64, g: &[f64], t: &[f64], mean: bool) -> Option<(Vec<Finding>, Accumulation)> {
    whole_factor(c_ls)?;
    let d: Vec<f64> = drift(a).iter().flat_map(|p| p.iter().copied().collect::<Vec<_>>()).collect();
    // The two-parameter least squares g ~ c t + a d.
    let (tt, td, dd, gt, gd) = (dot(t, t), dot(t, &d), dot(&d, &d), dot(g, t), dot(g, &d));
    let det = tt * dd - td * td;
    if dd == 0.0 || det <= 0.0 {
        return None;
    }
    let c_fit = (gt * dd - gd * td) / det;
    let c = whole_factor(c_fit)?;
    let dep: Vec<f64> = g.iter().zip(t).map(|(x, y)| x - c * y).collect();
    let a_fit = dot(&dep, &d) / dd;
    if a_fit <= 0.0 {
        return None;
    }
    let left: Vec<f64> = dep.iter().zip(&d).map(|(x, y)| x - a_fit * y).collect();
    let frac = norm(&left) / norm(&dep);
    if frac > DRIFT_UNEXPLAINED_MAX {
        return None;
    }
    let lr = 2.0 * a_fit / (c * (c - 1.0));
    let lr_acc = 6.0 * a_fit / (c * (c - 1.0) * (2.0 * c - 1.0));
    let params = a.parts.iter().any(|p| p.wrt != Wrt::Input);
    let mut evidence = vec![
        format!(
            "the ratio to the truth is near the whole number {c} but not exactly it (least squares {c_ls:.6}): the \
             gradient is a sum of {c} gradients taken at parameters that moved between them."
        ),
        format!(
            "fitting G = c g + a g', with g' the exact drift of the gradient along SGD's direction, gives c = {c_fit:.5} \
             and a = {a_fit:.4e}; with c = {c}, the drift explains all but {:.2} % of the departure from {c} g.",
            100.0 * frac
        ),
    ];
    if params {
        evidence.push(format!(
            "estimated learning rate: {lr:.3e} if the parameters were stepped with correct gradients (a = lr c (c - 1) \
             / 2), or {lr_acc:.3e} if the steps used this accumulated gradient (.grad never zeroed: a = lr c (c - 1) \
             (2c - 1) / 6)."
        ));
    } else {
        evidence.push(format!(
            "estimated learning rate: {lr:.3e} (a = lr c (c - 1) / 2, x.grad summed over {c} steps while SGD moved the \
             parameters with their own, zeroed, gradients)."
        ));
    }
    evidence
        .push("fix: zero the gradient before every backward pass (x.grad = None, or optimizer.zero_grad()).".into());
    let mut out = vec![Finding { cause: Cause::AccumulatedOverSteps, evidence }];
    if mean && c == a.n() as f64 {
        let e = a.scaled_excess(c);
        let rms = norm(&dep) / norm(&t.iter().map(|v| v * c).collect::<Vec<_>>());
        out.push(Finding {
            cause: Cause::SumInsteadOfMean,
            evidence: vec![
                format!(
                    "n = {c} as well: the gradient of the summed loss would be exactly {c} g, but the gradient departs \
                     from {c} g by {rms:.2e} (relative, L2), up to {e:.3e} times the rounding bound, in the direction \
                     SGD's drift predicts: the less likely cause."
                ),
                "a check with a batch size different from the number of steps tells them apart.".into(),
            ],
        });
    }
    Some((out, Accumulation { steps: c as usize, learning_rate: lr, unexplained: frac }))
}

/// The per-sample weights from the given gradients, how they were found, or why they cannot be.
fn sample_weights(a: &Analysis) -> Result<(Vec<f64>, String), String> {
    let n = a.n();
    if let Some(p) = a.parts.iter().find(|p| p.wrt == Wrt::Input) {
        let w = p
            .given
            .rows()
            .into_iter()
            .zip(p.truth64.rows())
            .map(|(gr, tr)| {
                let tt: f64 = tr.iter().map(|v| v * v).sum();
                a.omega * gr.iter().zip(tr).map(|(x, y)| x * y).sum::<f64>() / tt
            })
            .collect();
        return Ok((w, "from the rows of x.grad (row j is sample j's gradient times its weight)".into()));
    }
    // Over classes, softmax - onehot sums to 0: the k rows of W.grad (and the k values of b.grad)
    // sum to 0 whatever the weights, so they carry (k - 1) d (and k - 1) independent equations.
    let k = a.fwd.w.nrows();
    let rows: usize = a.parts.iter().map(|p| p.given.len()).sum();
    let independent: usize = a.parts.iter().map(|p| p.given.len() / k * (k - 1)).sum();
    if independent < n {
        return Err(format!(
            "per-sample weights are not identifiable: the {rows} given elements hold {independent} independent \
             equations (each column over the k classes sums to 0), fewer than the {n} samples' weights; x.grad (one \
             row per sample) would determine them."
        ));
    }
    if rows.saturating_mul(n) > SCREEN_MAX_VALUES {
        return Err(format!(
            "per-sample weights were not estimated: the {rows} given elements times the {n} samples exceed the \
             {SCREEN_MAX_VALUES} values gradlab builds for it; x.grad (one row per sample) would determine them."
        ));
    }
    let m = contributions(a);
    let b = a.flat(|p| &p.given);
    match lstsq(&m, &b) {
        Some(w) => Ok((
            w,
            format!("by least squares over the {rows} given elements ({independent} independent) for the {n} samples' weights"),
        )),
        None => Err(format!(
            "per-sample weights are not identifiable: the {rows} given elements depend on the {n} samples' weights \
             through a rank-deficient system; x.grad (one row per sample) would determine them."
        )),
    }
}

/// Column j: sample j's exact loss gradient (without its factor) at every given element.
fn contributions(a: &Analysis) -> Array2<f64> {
    let f = &a.fwd;
    let rows: usize = a.parts.iter().map(|p| p.given.len()).sum();
    let mut m = Array2::zeros((rows, a.n()));
    // Filled element by element in the parts' row-major order.
    let mut r = 0;
    for p in &a.parts {
        for (row, col) in p.given.indexed_iter().map(|(ix, _)| ix) {
            for j in 0..a.n() {
                m[[r, j]] = match p.wrt {
                    Wrt::Weight => f.residual(j, row) * f.x[[j, col]],
                    Wrt::Bias => f.residual(j, col),
                    _ => unreachable!("the input is handled row by row"),
                };
            }
            r += 1;
        }
    }
    m
}

/// Candidate partitions for the non-identifiable case: the common ones whose f64 prediction
/// (from prefix sums of the per-sample gradients) comes within [`SCREEN_BOUNDS`], best first.
fn screened(a: &Analysis) -> Vec<Vec<usize>> {
    let n = a.n();
    let rows: usize = a.parts.iter().map(|p| p.given.len()).sum();
    if rows.saturating_mul(n + 1) > SCREEN_MAX_VALUES {
        return Vec::new();
    }
    let m = contributions(a);
    let mut prefix = Array2::<f64>::zeros((n + 1, rows));
    for j in 0..n {
        for e in 0..rows {
            prefix[[j + 1, e]] = prefix[[j, e]] + m[[e, j]];
        }
    }
    let g = a.flat(|p| &p.given);
    let t: Vec<Array2<f64>> = a.parts.iter().map(|p| p.truth64.clone()).collect();
    let base: Vec<f64> =
        a.bounds(&vec![a.omega; n], &t).iter().flat_map(|b| b.iter().copied().collect::<Vec<_>>()).collect();
    let mut scored: Vec<(f64, Vec<usize>)> = common_partitions(n)
        .into_iter()
        .map(|sizes| {
            let k = sizes.len() as f64;
            let mut pred = vec![0.0; rows];
            let mut start = 0;
            for &nb in &sizes {
                let w = 1.0 / (k * nb as f64);
                for (e, p) in pred.iter_mut().enumerate() {
                    *p += w * (prefix[[start + nb, e]] - prefix[[start, e]]);
                }
                start += nb;
            }
            let rho = sizes.iter().map(|&nb| 1.0 / (k * nb as f64 * a.omega)).fold(1.0, f64::max);
            let score = g.iter().zip(&pred).zip(&base).map(|((x, y), b)| (x - y).abs() / (b * rho)).fold(0.0, f64::max);
            (score, sizes)
        })
        .filter(|(s, _)| *s <= SCREEN_BOUNDS)
        .collect();
    scored.sort_by(|x, y| x.0.total_cmp(&y.0));
    scored.into_iter().map(|(_, s)| s).take(3).collect()
}

/// The largest excess of the exact mean of micro-batch means of these sizes.
fn microbatch_excess(a: &Analysis, sizes: &[usize]) -> f64 {
    let prec = a.settings.truth;
    let k = sizes.len() as u64;
    let w: Vec<Float> = sizes
        .iter()
        .flat_map(|&nb| std::iter::repeat_n(Float::with_val(prec.bits(), rug::Rational::from((1, k * nb as u64))), nb))
        .collect();
    let [gx, gw, gb] = crate::truth::weighted_grads(a.tr, &w, prec);
    let model: Vec<Array2<Float>> = a
        .parts
        .iter()
        .map(|p| match p.wrt {
            Wrt::Input => gx.clone(),
            Wrt::Weight => gw.clone(),
            _ => gb.clone(),
        })
        .collect();
    let reference: Vec<Array2<f64>> = model.iter().map(|m| m.map(|v| v.to_f64())).collect();
    let bounds = a.bounds(&weights_of(sizes), &reference);
    largest(&a.excess(&model, &bounds))
}

/// A mean of micro-batch means that matches the gradient within rounding, or a note on why the
/// per-sample weights could not be found.
fn microbatch(a: &Analysis) -> Result<(Finding, Vec<usize>), Option<String>> {
    let n = a.n();
    let (candidates, how, note) = match sample_weights(a) {
        Ok((w, how)) => (partitions(&w), how, None),
        Err(note) => (screened(a), String::new(), Some(note)),
    };
    let uneven: Vec<Vec<usize>> = candidates.into_iter().filter(|s| s.iter().any(|&v| v != s[0])).collect();
    for (i, sizes) in uneven.iter().enumerate() {
        let e = microbatch_excess(a, sizes);
        if e > 1.0 {
            continue;
        }
        let k = sizes.len();
        let mut distinct: Vec<usize> = sizes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let factors: Vec<String> =
            distinct.iter().rev().map(|&nb| format!("{:.4} (n_b = {nb})", n as f64 / (k * nb) as f64)).collect();
        let base = a.scaled_excess(1.0);
        let mut evidence = Vec::new();
        match &note {
            None => evidence.push(format!(
                "per-sample weights recovered {how} take {} distinct values, constant over runs of samples.",
                distinct.len()
            )),
            Some(note) => evidence.push(format!(
                "{note} Tested the common partitions (equal micro-batches with a shorter last one; sizes differing by \
                 one): this one fits."
            )),
        }
        evidence.push(format!(
            "micro-batch sizes in sample order: {sizes:?} (K = {k}, N = {n}): each sample is weighted 1/(K n_b) \
             instead of 1/N, so the samples of a micro-batch of n_b count N/(K n_b) times: {}.",
            factors.join(", ")
        ));
        evidence.push(format!(
            "the exact mean of these micro-batch means matches the gradient within rounding (largest deviation {e:.2} \
             of the bound); the mean over all samples misses by up to {base:.3e} bounds."
        ));
        let others: Vec<String> = uneven[i + 1..].iter().map(|s| format!("{s:?} (K = {})", s.len())).collect();
        if !others.is_empty() {
            evidence.push(format!(
                "the same weights come from {}: splitting every micro-batch evenly leaves 1/(K n_b) unchanged.",
                others.join(", ")
            ));
        }
        evidence.push(
            "fix: sum each micro-batch's loss (reduction='sum') and divide the accumulated gradient by N, or weight \
             each micro-batch's mean by n_b/N."
                .into(),
        );
        return Ok((Finding { cause: Cause::MeanOfMicrobatchMeans, evidence }, sizes.clone()));
    }
    Err(note)
}
