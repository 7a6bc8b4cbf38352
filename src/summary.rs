//! What a check's rows say, in sentences: the paragraph `gradlab check` prints under each
//! dtype's table (built here, in the core; the command line prints it). Each sentence is chosen by
//! a rule reading the rows: is the analytic gradient wrong (and by what whole factor, or is a
//! zero an underflow), where the numeric gradient is closest to the truth (or that no step
//! worked), which elements have an exact zero truth, where the loss is flat or the input dead.

use crate::check::CheckRow;
use crate::exact::sci6;
use crate::method::RowStep;
use crate::metrics::best_step;
use crate::policy::{analytic_is_wrong, whole_factor};
use crate::scalar::DType;
use std::fmt::Write as _;

/// The mean ordinary relative error against the truth from which no step counts as working: a
/// gradient of zeros has exactly 1, so a step at 1 or above is no closer to the truth than none.
pub const NO_STEP_WORKED: f64 = 1.0;

/// A one-paragraph diagnosis of one dtype's rows: is the analytic gradient wrong, and by what
/// factor; where is the numeric gradient best, or that no step worked (mean relerr against the
/// truth at least [`NO_STEP_WORKED`] at every step); which steps are in the dead zone.
pub fn paragraph(dtype: DType, rows: &[CheckRow]) -> String {
    let mut out = String::new();
    let u = dtype.unit_roundoff();
    let anal = rows.first().map_or(f64::NAN, |r| r.anal_vs_truth);
    let best = best_step(rows.iter().filter_map(|r| Some((r.eps.decimal()?, r.num_vs_truth))));
    // The row where the numeric gradient is most accurate (the first such), whatever its step.
    let ratio_at_best = rows
        .iter()
        .filter(|r| r.num_vs_truth.is_finite())
        .min_by(|a, b| a.num_vs_truth.total_cmp(&b.num_vs_truth))
        .map(|r| r.ratio_median);
    if anal.is_finite() {
        // A correct analytic gradient in the dtype is accurate to a modest multiple of u.
        let underflow = rows.first().map_or(0, |r| r.anal_underflow);
        let wrong = analytic_is_wrong(anal, dtype);
        if wrong && underflow > 0 {
            let _ = writeln!(
                out,
                "analytic gradient differs from the truth by {} on average, but {underflow} of its elements are 0 where the \
                 true value underflows {dtype} (below its smallest normal number): an underflow of a saturated softmax, \
                 not a bug in the gradient.",
                sci6(anal)
            );
        } else if wrong {
            let _ = write!(out, "analytic gradient is WRONG: it differs from the truth by {} on average", sci6(anal));
            // The ratio at the step where the numeric gradient is most accurate names the factor.
            if let Some(r) = ratio_at_best.filter(|r| r.is_finite()) {
                match whole_factor(r) {
                    Some(c) => {
                        let _ = writeln!(out, "; analytic/numeric = {r:.3}, about {c}: a gradient summed over {c} epochs or samples instead of averaged?");
                    }
                    None => {
                        let _ = write!(out, "; analytic/numeric = {r:.4}");
                    }
                }
            }
            if !out.ends_with('\n') {
                out.push_str(".\n");
            }
        } else {
            let _ =
                writeln!(out, "analytic gradient agrees with the truth (mean relerr {}, u = {}).", sci6(anal), sci6(u));
        }
    }
    if let Some(r) = rows.first().filter(|r| r.eps == RowStep::None) {
        let _ = writeln!(out, "dual numbers (no step): mean relerr against the truth {}.", sci6(r.num_vs_truth));
    } else if let Some((r, median)) = rows.first().and_then(|r| match &r.eps {
        RowStep::AutoMedian(h) => Some((r, h)),
        _ => None,
    }) {
        let _ = writeln!(
            out,
            "eps auto: a step per element from the error model, median {} (the CSV's eps); mean relerr against the \
             truth {}.",
            sci6(median.to_f64()),
            sci6(r.num_vs_truth)
        );
    } else if let Some(b) = best.as_ref().filter(|b| b.value < NO_STEP_WORKED) {
        let edge = match b.edge {
            Some(e) => format!("; the {}, so the optimum may lie beyond it", e.note()),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "numeric gradient closest to the truth at eps = {} (mean relerr {}{edge}).",
            b.step,
            sci6(b.value)
        );
    } else if let Some(b) = best {
        let _ = writeln!(
            out,
            "no step worked: at every step the numeric gradient is off the truth by at least the truth's own size on \
             average (mean relerr against the truth >= 1; the smallest, {} at eps = {}, is no better than a \
             gradient of zeros).",
            sci6(b.value),
            b.step
        );
    } else if rows.iter().any(|r| r.truth_zero.is_some()) {
        let _ =
            writeln!(out, "no step worked: the numeric gradient's error against the truth is not finite at any step.");
    }
    if let Some(z) = rows.first().and_then(|r| r.truth_zero).filter(|&z| z > 0) {
        let _ = writeln!(
            out,
            "{z} {} a true gradient of exactly 0, left out of num_vs_truth and anal_vs_truth (a relative error \
             against 0 is undefined).",
            if z == 1 { "element has" } else { "elements have" }
        );
    }
    let at = |count: fn(&CheckRow) -> usize| -> Vec<String> {
        let plural = |c: usize| if c == 1 { "element" } else { "elements" };
        rows.iter().filter(|r| count(r) > 0).map(|r| format!("{} ({} {})", r.eps, count(r), plural(count(r)))).collect()
    };
    let (flat, dead) = (at(|r| r.loss_flat), at(|r| r.dead_zone));
    let bounds: Vec<f64> = rows.iter().filter_map(|r| r.est_bounds).collect();
    if !bounds.is_empty() {
        let lo = bounds.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = bounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let share = if format!("{lo:.3}") == format!("{hi:.3}") {
            format!("{:.1}% of the elements at every step", 100.0 * lo)
        } else {
            format!("{:.1}% to {:.1}% of the elements, depending on the step", 100.0 * lo, 100.0 * hi)
        };
        let _ = writeln!(out, "Ridders' error estimate bounds the true error for {share}.");
    }
    if !flat.is_empty() {
        let _ = writeln!(
            out,
            "loss flat (x moved but every perturbed loss rounded to the same value, so the numeric gradient is 0) at \
             eps = {}.",
            flat.join(", ")
        );
    }
    if !dead.is_empty() {
        let _ = writeln!(out, "input dead (x + eps == x at every stencil point) at eps = {}.", dead.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::exact::Decimal;
    use crate::method::Scheme;
    use crate::objective::LinearTensor;
    use crate::train::InputGrad;

    /// A row at step `eps` with the given errors (everything else as a clean check).
    fn row(eps: &str, anal: f64, num: f64, ratio: f64) -> CheckRow {
        CheckRow {
            dtype: DType::F32,
            scheme: Scheme::Central,
            wrt: LinearTensor::Input.to_string(),
            input_grad: InputGrad::Reset,
            eps: RowStep::Fixed(Decimal::parse("eps", eps).unwrap()),
            relerr_mean: 0.0,
            relerr_median: 0.0,
            relerr_max: 0.0,
            zero_over_zero: 0,
            dead_zone: 0,
            num_vs_truth: num,
            anal_vs_truth: anal,
            ratio_median: ratio,
            nonfinite: 0,
            status: Status::of(0),
            loss_flat: 0,
            anal_underflow: 0,
            est_error: None,
            est_bounds: None,
            truth_zero: Some(0),
        }
    }

    #[test]
    fn a_whole_factor_is_named_and_a_right_gradient_agrees() {
        let rows = [row("1e-2", 9.0, 1e-4, 10.02), row("1e-4", 9.0, 1e-3, 10.3)];
        let p = paragraph(DType::F32, &rows);
        assert!(p.starts_with("analytic gradient is WRONG"), "{p}");
        assert!(p.contains("analytic/numeric = 10.020, about 10: a gradient summed over 10 epochs"), "{p}");
        assert!(p.contains("numeric gradient closest to the truth at eps = 1e-2"), "{p}");
        let rows = [row("1e-2", 3e-8, 1e-4, 1.0), row("1e-4", 3e-8, 1e-3, 1.0)];
        let p = paragraph(DType::F32, &rows);
        assert!(p.starts_with("analytic gradient agrees with the truth (mean relerr 3.000000e-08"), "{p}");
        assert!(!p.contains("WRONG"), "{p}");
    }

    #[test]
    fn a_ratio_far_from_a_whole_number_is_given_without_a_cause() {
        let p = paragraph(DType::F32, &[row("1e-2", 0.3, 1e-4, 1.4286), row("1e-3", 0.3, 1e-3, 1.43)]);
        assert!(p.contains("analytic/numeric = 1.4286.") && !p.contains("summed over"), "{p}");
    }

    #[test]
    fn an_underflowed_zero_is_not_called_a_bug() {
        let mut r = row("1e-2", 0.5, 1e-4, 1.0);
        r.anal_underflow = 3;
        let p = paragraph(DType::F32, &[r]);
        assert!(p.contains("3 of its elements are 0 where the true value underflows f32"), "{p}");
        assert!(!p.contains("WRONG"), "{p}");
    }

    #[test]
    fn no_step_worked_when_every_step_is_as_far_as_zeros() {
        let p = paragraph(DType::F32, &[row("1e-1", 1e-7, 1.0, 1.0), row("1e-8", 1e-7, 1.3, 1.0)]);
        assert!(p.contains("no step worked") && p.contains("the smallest, 1.000000e+00 at eps = 1e-1"), "{p}");
        assert!(!p.contains("closest to the truth"), "{p}");
    }

    #[test]
    fn flat_and_dead_elements_are_listed_by_step() {
        let mut a = row("1e-7", 1e-7, 0.5, 1.0);
        a.loss_flat = 39;
        a.dead_zone = 1;
        let mut b = row("1e-8", 1e-7, 0.9, 1.0);
        b.dead_zone = 32;
        let p = paragraph(DType::F32, &[a, b]);
        assert!(p.contains("loss flat (x moved") && p.contains("at eps = 1e-7 (39 elements)."), "{p}");
        assert!(
            p.contains(
                "input dead (x + eps == x at every stencil point) at eps = 1e-7 (1 element), 1e-8 (32 elements)."
            ),
            "{p}"
        );
    }
}
