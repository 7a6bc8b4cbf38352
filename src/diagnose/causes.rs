//! The models of the usual mistakes, tried in order on a wrong gradient, each with its evidence.
//!
//! Order: a narrower dtype than the one given (the gradient is then not wrong at all, only judged
//! by the wrong tolerance), then the exact models (a sign, a whole or plain factor, the truth one
//! SGD step back, a mean of micro-batch means: each must match the gradient within rounding),
//! then the first-order accumulation over SGD steps, beyond its range the exact replay of plain
//! SGD, then one whole factor, then `unexplained`.

use super::exact::{Exact, F64_PASS_MAX_BITS};
use super::microbatch::{common_partitions, lstsq, partitions, sum_partition, sum_weights_of, weights_of};
use super::power::{z_elements, Fit, Scale};
use super::{Accumulation, Analysis, Cause, Finding};
use crate::objective::{LinearTensor, Reduction};
use crate::policy::{whole_factor, DRIFT_UNEXPLAINED_MAX};
use crate::scalar::dd::Dd;
use crate::scalar::DType;
use ndarray::Array2;

/// The most exact passes `params_after_step` takes to match the gradient one step back (Newton
/// steps on the learning rate, with the step's direction updated as a fixed point): each gains
/// more than a factor 10 where the step back exists, so 8 reach any dtype's rounding.
const PARAMS_AFTER_STEP_ITERATIONS: usize = 8;
/// The fewest given elements for which an SGD step back that matches only to first order (not
/// within rounding) is named: a one-parameter fit of a departure of m elements explains most of
/// it by chance when m is small (the 3 independent numbers of a 4-class b.grad).
const PARAMS_AFTER_STEP_MIN_ELEMENTS: usize = 16;

/// Screening keeps a common partition whose f64 prediction is within this many tolerances (its
/// prefix sums carry errors of n ulps of the sums, above the f64 tolerance); the exact check that
/// follows decides.
const SCREEN_TOLERANCES: f64 = 1e3;

/// The findings for a wrong gradient, most likely first, with what the named causes measured.
#[derive(Default)]
pub(super) struct Explained {
    pub findings: Vec<Finding>,
    pub sizes: Option<Vec<usize>>,
    pub accumulation: Option<Accumulation>,
    pub learning_rate: Option<f64>,
    pub dtype: Option<DType>,
}

impl From<Vec<Finding>> for Explained {
    fn from(findings: Vec<Finding>) -> Self {
        Explained { findings, ..Default::default() }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// sum a b / sigma^2 over every element of the parts.
fn wdot(a: &[Array2<f64>], b: &[Array2<f64>], sigma: &[&Array2<f64>]) -> f64 {
    let mut s = 0.0;
    for ((a, b), w) in a.iter().zip(b).zip(sigma) {
        ndarray::Zip::from(a).and(b).and(*w).for_each(|x, y, sd| {
            if *sd > 0.0 {
                s += x * y / (sd * sd);
            }
        });
    }
    s
}

/// Explains a wrong gradient. `chosen` names the alternative the verdict found the gradient
/// closer to than to the truth, if that was what made it wrong.
pub(super) fn explain(a: &Analysis, scale: &Scale, fit: Fit, factor: f64, chosen: Option<&str>) -> Explained {
    if let Some(e) = dtype_mismatch(a) {
        return e;
    }
    let (mut gt, mut tt) = (0.0, 0.0);
    for p in &a.parts {
        for (g, t) in p.given.iter().zip(p.truth.hi.iter()) {
            gt += g * t;
            tt += t * t;
        }
    }
    let c_ls = gt / tt;
    let mean = a.settings().reduction == Reduction::Mean;

    let f = a.fit_scaled(-1.0);
    if f.holds() {
        return vec![Finding {
            cause: Cause::WrongSign,
            evidence: vec![
                format!(
                    "the gradient is -1 times the truth within rounding (largest deviation {:.2} of the tolerance).",
                    f.largest
                ),
                "the sign of the loss or of the gradient is flipped (the gradient of -loss, or ascent written where \
                 descent was meant)."
                    .into(),
                "fix: differentiate the loss itself (loss.backward(), not (-loss).backward()) and step against the \
                 gradient."
                    .into(),
            ],
        }]
        .into();
    }
    if let Some(f) = exact_scale(a, scale, c_ls, factor, mean) {
        return f.into();
    }
    // An SGD step that the exact pass matches within rounding is as certain as the causes that
    // follow; the first-order match alone comes after them (below).
    let step_back = params_after_step(a);
    let step_back = match step_back {
        Some((e, true)) => return e,
        Some((e, false)) if a.parts.iter().map(|p| p.given.len()).sum::<usize>() >= PARAMS_AFTER_STEP_MIN_ELEMENTS => {
            Some(e)
        }
        // A one-parameter fit explains most of a departure of a few elements by chance.
        _ => None,
    };
    match microbatch(a) {
        Ok((f, sizes)) => Explained { findings: vec![f], sizes: Some(sizes), ..Default::default() },
        Err(note) => {
            let (g, t) = (a.flat(|p| &p.given), a.flat(|p| &p.truth.hi));
            if let Some((mut f, acc)) = accumulation(a, c_ls, &g, &t, mean) {
                // The law's learning rate is first order: where it leaves more than a little of
                // the departure, the exact replay gives the learning rate, or the estimate is
                // said to be rough.
                if acc.unexplained > crate::policy::LAW_FIRST_ORDER_MAX {
                    if let Some(mut e) = sgd_replay(a, c_ls, Some(&acc)) {
                        e.findings.extend(f.drain(1..));
                        return e;
                    }
                    // Beyond its first order and with no replay to confirm it, the law resolves
                    // neither the count nor the learning rate (sum_vs_mean: counts so found were up
                    // to tens of steps off at E = 50): the cause is named without them.
                    let (c, lr) = (acc.steps, acc.learning_rate.unwrap_or(f64::NAN));
                    f[0].evidence[0] = format!(
                        "the ratio to the truth is near the whole number {c} but not exactly it (least squares \
                         {c_ls:.6}), and it departs from {c} g the way SGD's drift does: the gradient is a sum of \
                         gradients taken at parameters that moved between them, about {c} of them."
                    );
                    f[0].evidence[2] = format!(
                        "but the drift leaves {:.1} % of the departure, beyond its first order, and the exact replay of \
                         plain SGD found no match within rounding (momentum or weight decay, or a replay whose steps \
                         back amplify the loop's rounding): neither the count nor the learning rate is resolved, so \
                         none is reported (to first order {c} steps at lr {lr:.1e}; where the parameters moved far, \
                         that count can be many steps off).",
                        100.0 * acc.unexplained
                    );
                    return Explained { findings: f, ..Default::default() };
                }
                return Explained {
                    findings: f,
                    learning_rate: acc.learning_rate,
                    accumulation: Some(acc),
                    ..Default::default()
                };
            }
            // Beyond the law's range, plain SGD replayed exactly (every count near the factor).
            if let Some(e) = sgd_replay(a, c_ls, None) {
                return e;
            }
            if let Some(e) = step_back {
                return e;
            }
            if let Some((f, acc)) = one_factor_accumulation(c_ls, &g, &t) {
                return Explained { findings: vec![f], accumulation: Some(acc), ..Default::default() };
            }
            let mut evidence = vec![format!(
                "no single factor fits: the best one, {c_ls:.6} (least squares; median ratio {factor:.6}), leaves {:.3} of \
                 the difference from the truth (relative, L2).",
                residual_fraction(&g, &t, c_ls)
            )];
            evidence.push(
                "no accumulation over SGD steps (a whole factor with the drift SGD predicts, or plain SGD replayed \
                 exactly), no mean of micro-batch means and no SGD step between the gradient and the saved parameters \
                 fits either."
                    .into(),
            );
            if let Some(what) = chosen {
                evidence.push(format!(
                    "every element is within its tolerance, but together they lie closer to {what} than to the truth."
                ));
            }
            if let Some(s) = concentration(a, fit) {
                evidence.push(s);
            }
            evidence.extend(note);
            vec![Finding { cause: Cause::Unexplained, evidence }].into()
        }
    }
}

/// Where the misfit sits: when at most [`crate::policy::WORST_ELEMENTS`] elements hold 90 % of
/// the sum of squared deviations (in units of sigma), a sentence saying so.
fn concentration(a: &Analysis, fit: Fit) -> Option<String> {
    let mut r2: Vec<f64> =
        a.deviations().zip(a.sigmas()).map(|(d, s)| if d == 0.0 { 0.0 } else { (d / s).powi(2) }).collect();
    let total: f64 = r2.iter().sum();
    let keep = crate::policy::WORST_ELEMENTS.min(r2.len());
    if keep < r2.len() {
        r2.select_nth_unstable_by(keep, |x, y| y.total_cmp(x));
        r2.truncate(keep);
    }
    r2.sort_by(|x, y| y.total_cmp(x));
    let mut acc = 0.0;
    for (m, v) in r2.iter().take(crate::policy::WORST_ELEMENTS).enumerate() {
        acc += v;
        if acc >= 0.9 * total {
            let (m, rest) = (m + 1, fit.elements - m - 1);
            return Some(format!(
                "the departure sits in {m} element{} ({:.1} % of it; listed first below); the other {rest} agree with \
                 the truth {}: look at how {} computed.",
                if m == 1 { "" } else { "s" },
                100.0 * acc / total,
                if (total - acc) / rest.max(1) as f64 <= 1.0 { "within rounding" } else { "more closely" },
                if m == 1 { "that element is" } else { "those elements are" }
            ));
        }
    }
    None
}

/// ||g - c t|| / ||g - t||.
fn residual_fraction(g: &[f64], t: &[f64], c: f64) -> f64 {
    let r: Vec<f64> = g.iter().zip(t).map(|(x, y)| x - c * y).collect();
    let d: Vec<f64> = g.iter().zip(t).map(|(x, y)| x - y).collect();
    norm(&r) / norm(&d)
}

/// A gradient computed in bf16 or f16 and saved in a wider file: every value is a value of the
/// narrow dtype and fits the truth within its rounding.
fn dtype_mismatch(a: &Analysis) -> Option<Explained> {
    let told = a.settings().dtype;
    for narrow in [DType::BF16, DType::F16] {
        if narrow.bits() >= told.bits()
            || !a.parts.iter().all(|p| p.given.iter().all(|&v| super::representable(v, narrow)))
        {
            continue;
        }
        let reference: Vec<Array2<f64>> = a.parts.iter().map(|p| p.truth.hi.clone()).collect();
        let sigma = a.sigma_for(&vec![a.omega; a.n()], narrow, &reference);
        let fit = a.fit_to(&reference, &sigma);
        if !fit.holds() {
            continue;
        }
        let values: usize = a.parts.iter().map(|p| p.given.len()).sum();
        return Some(Explained {
            findings: vec![Finding {
                cause: Cause::DtypeMismatch,
                evidence: vec![
                    format!(
                        "every one of the {values} values is a {narrow} number: the gradient was computed in {narrow} and \
                         saved in a wider type, but judged by {told}'s rounding."
                    ),
                    format!(
                        "within {narrow}'s rounding it agrees with the truth (largest deviation {:.2} of the tolerance).",
                        fit.largest
                    ),
                    format!(
                        "fix: pass --dtype {narrow} (the dtype the gradient was computed in) and diagnose again; to judge \
                         the code by {told}'s rounding, compute the gradient in {told}."
                    ),
                ],
            }],
            dtype: Some(narrow),
            ..Default::default()
        });
    }
    None
}

/// The parts' derivatives along the direction (dw, db) of the parameters, for the meant loss.
fn directional(a: &Analysis, ex: &Exact, dw: &Array2<f64>, db: &[f64]) -> Vec<Array2<f64>> {
    let w = vec![a.omega; a.n()];
    a.parts.iter().map(|p| ex.directional(p.wrt, &w, dw.view(), db)).collect()
}

/// The parameter gradients (W, b as a vector) of the meant loss at `ex`, in f64: directions.
fn param_grads(a: &Analysis, ex: &Exact) -> (Array2<f64>, Vec<f64>) {
    let w = vec![a.omega; a.n()];
    (ex.f64_grad(LinearTensor::Weight, &w), ex.f64_grad(LinearTensor::Bias, &w).row(0).to_vec())
}

/// The drift of every given part along SGD: the derivative of the gradient along the exact
/// parameter gradient at the given parameters.
fn drift(a: &Analysis) -> Vec<Array2<f64>> {
    let (vw, vb) = param_grads(a, &a.r.ex);
    directional(a, &a.r.ex, &vw, &vb)
}

/// The smallest learning rate at which c accumulated SGD steps would leave a drift outside the
/// tolerance of c g: 2 / (c (c - 1) max_e |g'_e| / (z sigma_e c)).
fn smallest_visible_lr(a: &Analysis, c: f64) -> f64 {
    let d = drift(a);
    let z = z_elements(a.parts.iter().map(|p| p.given.len()).sum());
    let per_lr = d
        .iter()
        .zip(&a.parts)
        .flat_map(|(d, p)| d.iter().zip(p.sigma.iter()).map(move |(x, s)| x.abs() / (z * s * c)))
        .fold(0.0, f64::max);
    2.0 / (c * (c - 1.0) * per_lr)
}

/// The whole factors next to `c` that fit within rounding too: (lowest, highest, whether the
/// search stopped at its limit of [`crate::policy::FACTOR_TOLERANCE`] times `c` on either side);
/// `lo == hi == c` when neither neighbour fits (the factor is resolved).
fn fitting_neighbours(a: &Analysis, c: f64) -> (f64, f64, bool) {
    let limit = (crate::policy::FACTOR_TOLERANCE * c).ceil();
    let (mut lo, mut hi) = (c, c);
    while lo - 1.0 >= 1.0 && c - lo < limit && a.fit_scaled(lo - 1.0).holds() {
        lo -= 1.0;
    }
    while hi - c < limit && a.fit_scaled(hi + 1.0).holds() {
        hi += 1.0;
    }
    (lo, hi, c - lo >= limit || hi - c >= limit)
}

/// A factor that fits within rounding: n (a sum where the mean was meant), another whole number,
/// 1/n (the mean where the sum was meant), the weighted least-squares factor or the plain one.
fn exact_scale(a: &Analysis, scale: &Scale, c_ls: f64, factor: f64, mean: bool) -> Option<Vec<Finding>> {
    let n = a.n() as f64;
    // The sum where the mean was meant: n itself when it fits, even where rounding lets other
    // factors near it fit too (bf16 at n = 512 fits 486 to 538 in W.grad).
    let sum = (mean && n >= 2.0 && a.fit_scaled(n).holds()).then_some(n);
    // Another whole number only when it is resolved: its neighbours do not fit.
    let whole =
        whole_factor(c_ls).filter(|&c| Some(c) != sum && matches!(fitting_neighbours(a, c), (lo, hi, _) if lo == hi));
    let mut tries: Vec<f64> = sum.into_iter().chain(whole).collect();
    if !mean && ((c_ls * n) - 1.0).abs() < crate::policy::FACTOR_TOLERANCE {
        tries.push(1.0 / n);
    }
    tries.extend([scale.factor, c_ls].into_iter().filter(|c| c.is_finite() && *c != 0.0));
    let (c, f) = tries.into_iter().map(|c| (c, a.fit_scaled(c))).find(|(_, f)| f.holds())?;
    let within = format!("within rounding (largest deviation {:.2} of the tolerance)", f.largest);
    let is_whole = whole == Some(c);
    if sum == Some(c) {
        let lr = smallest_visible_lr(a, c);
        return Some(vec![Finding {
            cause: Cause::SumInsteadOfMean,
            evidence: vec![
                match fitting_neighbours(a, n) {
                    (lo, hi, clipped) if lo < n || hi > n => format!(
                        "the gradient is n = {n} times the truth {within}; so are whole factors from {lo} to {hi}{}, \
                         which rounding in this dtype cannot tell apart, and n is the one a summed loss gives.",
                        if clipped { " (the search stops there)" } else { "" }
                    ),
                    _ => format!("the gradient is exactly n = {n} times the truth {within}."),
                },
                "it is the gradient of the summed loss where the mean was meant (reduction='sum', or a missing \
                 division by the batch size)."
                    .into(),
                format!(
                    "a gradient summed over {n} SGD steps would differ from {n} times the truth unless the learning \
                     rate were below {lr:.2e} (SGD's drift would show above it), so this is the sum, not an \
                     accumulation."
                ),
                "fix: use reduction='mean' (PyTorch's default) or divide the summed loss by the batch size.".into(),
            ],
        }]);
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
        format!(
            "a constant factor (a loss scaled by it, or a factor folded into the gradient); factors within {:.2e} of \
             1 would be rounding.",
            scale.threshold
        )
    };
    Some(vec![Finding {
        cause: Cause::Scaled,
        evidence: vec![format!("the gradient is {c:.9} times the truth {within}."), what],
    }])
}

/// The gradient taken one SGD step before the saved parameters: G = g(theta + lr v) with v the
/// step's direction (the given W.grad and b.grad where given: what SGD applied; else the exact
/// parameter gradient there, found by fixed-point iteration). First order G - g = lr J v picks
/// lr; Newton steps along J then match the exact gradient at the parameters one step back.
/// Returns the explanation and whether that exact match holds within rounding.
fn params_after_step(a: &Analysis) -> Option<(Explained, bool)> {
    let ex = &a.r.ex;
    let given_of = |wrt: LinearTensor| a.parts.iter().find(|p| p.wrt == wrt).map(|p| p.given.clone());
    let (truth_w, truth_b) = param_grads(a, ex);
    let vw = given_of(LinearTensor::Weight).unwrap_or(truth_w);
    let mut vb = given_of(LinearTensor::Bias).map_or(truth_b, |b| b.row(0).to_vec());
    let mut vw = vw;
    let j = directional(a, ex, &vw, &vb);
    let sigma: Vec<&Array2<f64>> = a.parts.iter().map(|p| &p.sigma).collect();
    let d: Vec<Array2<f64>> = a
        .parts
        .iter()
        .map(|p| {
            Array2::from_shape_vec(p.given.dim(), p.deviations().collect())
                .unwrap_or_else(|_| unreachable!("one per element"))
        })
        .collect();
    let jj = wdot(&j, &j, &sigma);
    if jj <= 0.0 {
        return None;
    }
    let lr0 = wdot(&d, &j, &sigma) / jj;
    let dd = wdot(&d, &d, &sigma);
    // ||d - lr J||^2 = dd - lr0^2 jj at the least-squares lr.
    let unexplained = ((dd - lr0 * lr0 * jj).max(0.0) / dd).sqrt();
    if lr0.is_nan() || lr0 <= 0.0 || unexplained > DRIFT_UNEXPLAINED_MAX {
        return None;
    }
    let fixed_w = a.parts.iter().any(|p| p.wrt == LinearTensor::Weight);
    let fixed_b = a.parts.iter().any(|p| p.wrt == LinearTensor::Bias);
    let sigmas: Vec<Array2<f64>> = a.parts.iter().map(|p| p.sigma.clone()).collect();
    let (mut lr, mut exact_fit) = (lr0, None);
    for _ in 0..PARAMS_AFTER_STEP_ITERATIONS {
        let wp = &ex.w + &(&vw * lr);
        let bp: Vec<f64> = ex.b.iter().zip(&vb).map(|(b, v)| b + lr * v).collect();
        let back = if a.settings().dtype.bits() <= F64_PASS_MAX_BITS {
            Exact::at_f64(ex.x.clone(), wp, bp, ex.t.clone())
        } else {
            crate::watch::unwatched(|watch| Exact::at(ex.x.clone(), wp, bp, ex.t.clone(), watch))
        };
        // For a gradient of at most 40 bits an f64 pass is exact enough (its rounding is below
        // 2^-13 of the tolerance) and half the cost of the double-double one.
        let model: Vec<Array2<f64>> = if a.settings().dtype.bits() <= 40 {
            let w = vec![a.omega; a.n()];
            a.parts.iter().map(|p| back.f64_grad(p.wrt, &w)).collect()
        } else {
            let w = vec![a.omega_dd; a.n()];
            a.parts.iter().map(|p| back.grad(p.wrt, &w).hi).collect()
        };
        let fit = a.fit_to(&model, &sigmas);
        if fit.holds() {
            exact_fit = Some(fit);
            break;
        }
        if !(fixed_w && fixed_b) {
            // The step's direction is the loss's gradient there: a fixed point.
            let (gw, gb) = param_grads(a, &back);
            if !fixed_w {
                vw = gw;
            }
            if !fixed_b {
                vb = gb;
            }
        }
        // A Newton step on lr along the derivative at the current point.
        let jb = directional(a, &back, &vw, &vb);
        let r: Vec<Array2<f64>> = a.parts.iter().zip(&model).map(|(p, m)| &p.given - m).collect();
        let jjb = wdot(&jb, &jb, &sigma);
        if jjb <= 0.0 {
            break;
        }
        lr += wdot(&r, &jb, &sigma) / jjb;
    }
    let what = if fixed_w && fixed_b {
        "W + lr W.grad, b + lr b.grad (the given gradients, as plain SGD applied them)"
    } else {
        "the parameters from which one SGD step of the loss's own gradient lands on the saved ones"
    };
    let mut evidence = vec![format!(
        "the gradient is not the truth at the saved parameters, but it is the truth one SGD step back: at {what}, with lr \
         = {lr:.4e}."
    )];
    match exact_fit {
        Some(f) => evidence.push(format!(
            "there it matches within rounding (largest deviation {:.2} of the tolerance); the first-order step alone \
             explains all but {:.2} % of the departure.",
            f.largest,
            100.0 * unexplained
        )),
        None => evidence.push(format!(
            "to first order in lr the step explains all but {:.2} % of the departure (in units of the rounding \
             errors); the exact step back does not match within rounding, so the optimizer's step was not plain SGD \
             (momentum, weight decay or Adam) or more than one step was taken.",
            100.0 * unexplained
        )),
    }
    evidence.push(
        "fix: save the parameters before optimizer.step() (or the gradient after the next backward pass): the gradient \
         belongs to the parameters the backward pass saw."
            .into(),
    );
    let exact = exact_fit.is_some();
    Some((
        Explained {
            findings: vec![Finding { cause: Cause::ParamsAfterStep, evidence }],
            learning_rate: Some(lr),
            ..Default::default()
        },
        exact,
    ))
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
    let params = a.parts.iter().any(|p| p.wrt != LinearTensor::Input);
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
        // Saved after a step taken after the last backward pass, the c gradients sit one step
        // further back: a = lr c (c + 1) / 2.
        let lr_after = 2.0 * a_fit / (c * (c + 1.0));
        evidence.push(format!(
            "estimated learning rate: {lr:.3e} (a = lr c (c - 1) / 2, x.grad summed over {c} steps while SGD moved the \
             parameters with their own, zeroed, gradients), or {lr_after:.3e} if the parameters given were saved after \
             an optimizer step taken after the last backward pass (a = lr c (c + 1) / 2)."
        ));
    }
    evidence.push(
        "under momentum the drift follows the same law with an effective learning rate (lr / (1 - momentum) for \
         steady steps), so the estimate is the configured lr only for plain SGD."
            .into(),
    );
    evidence
        .push("fix: zero the gradient before every backward pass (x.grad = None, or optimizer.zero_grad()).".into());
    let mut out = vec![Finding { cause: Cause::AccumulatedOverSteps, evidence }];
    if mean && c == a.n() as f64 {
        let f = a.fit_scaled(c);
        let rms = norm(&dep) / norm(&t.iter().map(|v| v * c).collect::<Vec<_>>());
        out.push(Finding {
            cause: Cause::SumInsteadOfMean,
            evidence: vec![
                format!(
                    "n = {c} as well: the gradient of the summed loss would be exactly {c} g, but the gradient departs \
                     from {c} g by {rms:.2e} (relative, L2), up to {:.3e} times the tolerance, in the direction SGD's \
                     drift predicts: the less likely cause.",
                    f.largest
                ),
                "a check with a batch size different from the number of steps tells them apart.".into(),
            ],
        });
    }
    Some((out, Accumulation { steps: c as usize, learning_rate: Some(lr), unexplained: frac }))
}

/// An accumulation over E steps of plain SGD that the exact replay ([`super::replay`]) matches
/// within rounding: the count, the learning rate the replay found, and why the count is resolved.
/// `law`: the first-order law's accumulation, when it fitted too (its learning rate is refined).
fn sgd_replay(a: &Analysis, c_ls: f64, law: Option<&Accumulation>) -> Option<Explained> {
    let r = super::replay::sgd_replay(a, c_ls)?;
    let (e, lr) = (r.steps, r.lr);
    let tensors: Vec<&str> = a
        .parts
        .iter()
        .map(|p| match p.wrt {
            LinearTensor::Input => "x.grad",
            LinearTensor::Weight => "W.grad",
            _ => "b.grad",
        })
        .collect();
    let mut evidence = vec![
        format!(
            "an exact replay of plain SGD fits: {} is the sum of the gradients at {e} parameter points, the saved \
             parameters and the {} before them, each one plain SGD step back (theta_{{e+1}} = theta_e - lr grad \
             L(theta_e), lr = {lr:.4e}); the sum matches within the rounding of {e} summed gradients (largest \
             deviation {:.2} of the tolerance).",
            tensors.join(" and "),
            e - 1,
            r.fit.largest
        ),
        match law {
            None => format!(
                "learning rate {lr:.4e} from the exact replay (not the first-order law, which does not fit at this \
                 learning rate: the gradient departs from {e} times the truth by more than the drift's first order); \
                 the replay leaves {:.2e} of the departure from {e} g (relative, L2).",
                r.unexplained
            ),
            Some(l) => format!(
                "learning rate {lr:.4e} from the exact replay; the first-order law fits too ({} steps, lr {:.3e}) but \
                 leaves {:.1} % of the departure, so its learning rate is only first order; the replay leaves {:.2e} \
                 of the departure from {e} g (relative, L2).",
                l.steps,
                l.learning_rate.unwrap_or(f64::NAN),
                100.0 * l.unexplained,
                r.unexplained
            ),
        },
    ];
    if let Some((e2, lr2, f2)) = r.runner_up {
        evidence.push(if f2.holds() {
            format!(
                "{e2} steps at lr = {lr2:.4e} fit within rounding too (largest deviation {:.2} of the tolerance): \
                 the count is {e} or {e2}, which this gradient cannot tell apart.",
                f2.largest
            )
        } else {
            format!(
                "the count is resolved: the best other count tried, {e2} steps (at its best lr, {lr2:.4e}), misses by \
                 up to {:.3e} tolerances.",
                f2.largest
            )
        });
    }
    evidence.push(format!(
        "the replay assumes plain SGD (no momentum, no weight decay) on the same data every epoch, the parameters \
         stepped with each epoch's own gradient (their .grad zeroed before every backward pass){}.",
        if tensors.len() > 1 || tensors[0] != "x.grad" {
            "; W.grad and b.grad are replayed as sums over the same steps"
        } else {
            ""
        }
    ));
    evidence
        .push("fix: zero the gradient before every backward pass (x.grad = None, or optimizer.zero_grad()).".into());
    let acc = Accumulation { steps: e, learning_rate: Some(lr), unexplained: r.unexplained };
    Some(Explained {
        findings: vec![Finding { cause: Cause::AccumulatedOverSteps, evidence }],
        learning_rate: Some(lr),
        accumulation: Some(acc),
        ..Default::default()
    })
}

/// A gradient that one whole factor c >= 2 explains to within
/// [`crate::policy::ONE_FACTOR_ACCUMULATION_MAX`] although SGD's drift law does not: c gradients
/// summed at parameters that momentum, Adam or a learning rate beyond the law's range moved.
/// The law does not cover these, so no learning rate is estimated.
fn one_factor_accumulation(c_ls: f64, g: &[f64], t: &[f64]) -> Option<(Finding, Accumulation)> {
    let c = whole_factor(c_ls)?;
    let left: Vec<f64> = g.iter().zip(t).map(|(x, y)| x - c_ls * y).collect();
    let rel = norm(&left) / norm(g);
    if rel.is_nan() || rel > crate::policy::ONE_FACTOR_ACCUMULATION_MAX {
        return None;
    }
    let evidence = vec![
        format!(
            "one factor, {c_ls:.4} (least squares), explains the gradient to within {:.2} % (relative, L2): near the \
             whole number {c}, the gradient is a sum of about {c} gradients taken at parameters that moved between \
             them (where they moved far, the factor gives the count only to within a few steps).",
            100.0 * rel
        ),
        "the way it departs from the truth does not follow plain SGD's drift (the first-order law with a learning \
         rate, tried first): the parameters moved as momentum or Adam moves them, or with a learning rate beyond the \
         law's range, which the law does not cover, so no learning rate is estimated."
            .into(),
        "fix: zero the gradient before every backward pass (x.grad = None, or optimizer.zero_grad()).".into(),
    ];
    let acc = Accumulation { steps: c as usize, learning_rate: None, unexplained: rel };
    Some((Finding { cause: Cause::AccumulatedOverSteps, evidence }, acc))
}

/// The per-sample weights from the given gradients, how they were found, or why they cannot be.
fn sample_weights(a: &Analysis) -> Result<(Vec<f64>, String), String> {
    let n = a.n();
    if let Some(p) = a.parts.iter().find(|p| p.wrt == LinearTensor::Input) {
        let w = p
            .given
            .rows()
            .into_iter()
            .zip(p.truth.hi.rows())
            .map(|(gr, tr)| {
                let tt: f64 = tr.iter().map(|v| v * v).sum();
                a.omega * gr.iter().zip(tr).map(|(x, y)| x * y).sum::<f64>() / tt
            })
            .collect();
        return Ok((w, "from the rows of x.grad (row j is sample j's gradient times its weight)".into()));
    }
    // Over classes, softmax - onehot sums to 0: the k rows of W.grad (and the k values of b.grad)
    // sum to 0 whatever the weights, so they carry (k - 1) d (and k - 1) independent equations.
    let k = a.r.ex.k();
    let rows: usize = a.parts.iter().map(|p| p.given.len()).sum();
    let independent: usize = a.parts.iter().map(|p| p.given.len() / k * (k - 1)).sum();
    if independent < n {
        return Err(format!(
            "per-sample weights are not identifiable: the {rows} given elements hold {independent} independent \
             equations (each column over the k classes sums to 0), fewer than the {n} samples' weights; x.grad (one \
             row per sample) would determine them."
        ));
    }
    let work = (rows as f64) * (n as f64) * (n as f64);
    if rows.saturating_mul(n) > crate::policy::MICROBATCH_MAX_VALUES || work > crate::policy::MICROBATCH_MAX_FLOPS {
        return Err(format!(
            "per-sample weights were not estimated: {n} unknowns from {rows} given elements is more least squares than \
             gradlab solves for it ({} values, {:.0e} operations at most); x.grad (one row per sample) would determine \
             them.",
            crate::policy::MICROBATCH_MAX_VALUES,
            crate::policy::MICROBATCH_MAX_FLOPS
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
    let ex = &a.r.ex;
    let rows: usize = a.parts.iter().map(|p| p.given.len()).sum();
    let mut m = Array2::zeros((rows, a.n()));
    // Filled element by element in the parts' row-major order.
    let mut r = 0;
    for p in &a.parts {
        for (row, col) in p.given.indexed_iter().map(|(ix, _)| ix) {
            for j in 0..a.n() {
                m[[r, j]] = match p.wrt {
                    LinearTensor::Weight => ex.residual.hi[[j, row]] * ex.x[[j, col]],
                    LinearTensor::Bias => ex.residual.hi[[j, col]],
                    _ => unreachable!("the input is handled row by row"),
                };
            }
            r += 1;
        }
    }
    m
}

/// Candidate partitions for the non-identifiable case: the common ones whose f64 prediction
/// (from prefix sums of the per-sample gradients) comes within [`SCREEN_TOLERANCES`], best first;
/// their means averaged over K, or (`summed`) summed.
fn screened(a: &Analysis, summed: bool) -> Vec<Vec<usize>> {
    let n = a.n();
    let rows: usize = a.parts.iter().map(|p| p.given.len()).sum();
    if rows.saturating_mul(n + 1) > crate::policy::MICROBATCH_MAX_VALUES {
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
    let z = z_elements(rows);
    let base: Vec<f64> = a.sigmas().map(|s| z * s).collect();
    let mut scored: Vec<(f64, Vec<usize>)> = common_partitions(n)
        .into_iter()
        .map(|sizes| {
            let k = if summed { 1.0 } else { sizes.len() as f64 };
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
        .filter(|(s, _)| *s <= SCREEN_TOLERANCES)
        .collect();
    scored.sort_by(|x, y| x.0.total_cmp(&y.0));
    scored.into_iter().map(|(_, s)| s).take(3).collect()
}

/// The fit of the exact mean of micro-batch means of these sizes, or (`summed`) of their sum.
fn microbatch_fit(a: &Analysis, sizes: &[usize], summed: bool) -> Fit {
    let k = if summed { 1 } else { sizes.len() as i64 };
    let w: Vec<Dd> =
        sizes.iter().flat_map(|&nb| std::iter::repeat_n(super::exact::ratio_dd(1, k * nb as i64), nb)).collect();
    let model: Vec<Array2<f64>> = a.parts.iter().map(|p| a.r.ex.grad(p.wrt, &w).hi).collect();
    let weights = if summed { sum_weights_of(sizes) } else { weights_of(sizes) };
    let sigma = a.sigma_for(&weights, a.settings().dtype, &model);
    a.fit_to(&model, &sigma)
}

/// A mean (or a sum) of micro-batch means that matches the gradient within rounding, or a note on
/// why the per-sample weights could not be found.
fn microbatch(a: &Analysis) -> Result<(Finding, Vec<usize>), Option<String>> {
    let n = a.n();
    if a.settings().reduction != Reduction::Mean {
        return Err(None);
    }
    // (sizes, summed): the means averaged over K, or summed (no division by K).
    let (candidates, how, note): (Vec<(Vec<usize>, bool)>, _, _) = match sample_weights(a) {
        Ok((w, how)) => {
            let mut c: Vec<(Vec<usize>, bool)> = partitions(&w).into_iter().map(|s| (s, false)).collect();
            c.extend(sum_partition(&w).map(|s| (s, true)));
            (c, how, None)
        }
        Err(note) => {
            let c = screened(a, false)
                .into_iter()
                .map(|s| (s, false))
                .chain(screened(a, true).into_iter().map(|s| (s, true)));
            (c.collect(), String::new(), Some(note))
        }
    };
    let uneven: Vec<(Vec<usize>, bool)> =
        candidates.into_iter().filter(|(s, _)| s.iter().any(|&v| v != s[0])).collect();
    for (i, (sizes, summed)) in uneven.iter().enumerate() {
        let summed = *summed;
        let f = microbatch_fit(a, sizes, summed);
        if !f.holds() {
            continue;
        }
        let k = sizes.len();
        let mut distinct: Vec<usize> = sizes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let kk = if summed { 1 } else { k };
        let factors: Vec<String> =
            distinct.iter().rev().map(|&nb| format!("{:.4} (n_b = {nb})", n as f64 / (kk * nb) as f64)).collect();
        let base = a.fit_scaled(1.0);
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
        let weight = if summed { "1/n_b" } else { "1/(K n_b)" };
        evidence.push(format!(
            "micro-batch sizes in sample order: {sizes:?} (K = {k}, N = {n}): each sample is weighted {weight} \
             instead of 1/N, so the samples of a micro-batch of n_b count N/({}n_b) times: {}.",
            if summed { "" } else { "K " },
            factors.join(", ")
        ));
        let what = if summed { "sum" } else { "mean" };
        evidence.push(format!(
            "the exact {what} of these micro-batch means matches the gradient within rounding (largest deviation {:.2} \
             of the tolerance); the mean over all samples misses by up to {:.3e} tolerances.",
            f.largest, base.largest
        ));
        let others: Vec<String> = uneven[i + 1..]
            .iter()
            .filter(|(_, s)| *s == summed)
            .map(|(s, _)| format!("{s:?} (K = {})", s.len()))
            .collect();
        if !others.is_empty() {
            evidence.push(format!(
                "the same weights come from {}: splitting every micro-batch evenly leaves {weight} unchanged.",
                others.join(", ")
            ));
        }
        let (cause, fix) = if summed {
            (
                Cause::SumOfMicrobatchMeans,
                "fix: divide each micro-batch's loss by the number of micro-batches K as well as by its size, or \
                 better sum each micro-batch's loss (reduction='sum') and divide the accumulated gradient by N.",
            )
        } else {
            (
                Cause::MeanOfMicrobatchMeans,
                "fix: sum each micro-batch's loss (reduction='sum') and divide the accumulated gradient by N, or \
                 weight each micro-batch's mean by n_b/N.",
            )
        };
        evidence.push(fix.into());
        return Ok((Finding { cause, evidence }, sizes.clone()));
    }
    Err(note)
}
