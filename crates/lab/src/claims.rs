//! Sentences that compare, written by rules that read the data: a generated block or section
//! says "within 3x in every case" only when every case is, and names the cases that are not
//! otherwise. Each rule has a test that builds the data for each of its sentences.

use gradlab::scalar::DType;
use std::fmt::Write as _;

/// One case of a comparison: a method's error divided by a reference's error on the same case
/// (`group` names the configuration, `seed` the problem).
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The configuration, e.g. `f32 central`.
    pub group: String,
    /// The seed of the case.
    pub seed: u64,
    /// Method error / reference error (NaN or infinite when either is not a usable number).
    pub ratio: f64,
}

/// `9.6x`, `151x`, `0.47x`, `3x`, `3.5e7x`: a ratio with two significant digits below 100, whole
/// from 100 (and when whole), in scientific notation from 10^4; `NaN` or `inf` when it is not
/// finite.
pub fn times(r: f64) -> String {
    if !r.is_finite() {
        // NaN (an error that is not a number) or inf (a reference error of 0).
        return format!("{r}");
    }
    if r >= 9999.5 {
        return format!("{r:.1e}x");
    }
    if r >= 99.5 || (r.fract() == 0.0 && r >= 1.0) {
        format!("{r:.0}x")
    } else {
        // Two significant digits.
        let digits = if r >= 9.95 {
            0
        } else if r >= 0.995 {
            1
        } else {
            2
        };
        format!("{r:.digits$}x")
    }
}

/// `a`, `a and b`, `a, b and c` (the plotting crate's, which its legends use too).
pub use gradlab_plot::and_list;

/// One sentence on how often a method is within `bound` times its reference
/// (`what` names the comparison, e.g. "`--eps auto` against the best grid step"):
/// - every case within: "... is within 3x in all 20 cases (better in 12; at worst 1.5x).";
/// - otherwise: "... is within 3x in 16 of 20 cases (better in 12); beyond 3x: f32 central at
///   seeds 2 and 5 (9.6x and 11x), f64 central at seed 2 (5.9x).", the groups in order of their
///   worst ratio. A ratio that is not a number (a NaN or infinite error) counts as beyond.
pub fn within_sentence(what: &str, cases: &[Ratio], bound: f64) -> String {
    let words =
        Words { bound: times(bound), below: "better", worst: "at worst", beyond: format!("beyond {}", times(bound)) };
    within_by(what, cases, &words, |r| r.is_finite() && r <= bound, |r| r)
}

/// [`within_sentence`] for a ratio that may err either way (a prediction over a measurement):
/// within means 1/`bound` <= ratio <= `bound`:
/// - "... is within a factor 1.5 either way in all 20 cases (below 1 in 8; furthest from 1: 1.4x).";
/// - "... is within a factor 1.5 either way in 18 of 20 cases (below 1 in 8); outside: bf16 central5
///   at seeds 2 and 5 (4.2x and 0.31x).", the groups in order of their ratio furthest from 1.
pub fn within_factor_sentence(what: &str, cases: &[Ratio], bound: f64) -> String {
    let words = Words {
        bound: format!("a factor {bound} either way"),
        below: "below 1",
        worst: "furthest from 1:",
        beyond: "outside".into(),
    };
    within_by(what, cases, &words, |r| within_factor(r, bound), factor_distance)
}

/// Whether `ratio` is within a factor `bound` of 1 either way (1/`bound` <= ratio <= `bound`); a
/// ratio that is not a finite number is not.
pub fn within_factor(ratio: f64, bound: f64) -> bool {
    ratio.is_finite() && ratio <= bound && ratio >= 1.0 / bound
}

/// How far `ratio` is from 1 either way (`max(r, 1/r)`), infinite for a ratio that is not a
/// number, so that it ranks furthest.
pub fn factor_distance(ratio: f64) -> f64 {
    if ratio.is_nan() {
        f64::INFINITY
    } else {
        ratio.max(1.0 / ratio)
    }
}

/// How many of `cases` are within a factor `bound` either way ([`within_factor`]: a NaN or
/// infinite ratio counts as outside), and how many there are: `(inside, total)`.
pub fn within_factor_count(cases: &[Ratio], bound: f64) -> (usize, usize) {
    (cases.iter().filter(|c| within_factor(c.ratio, bound)).count(), cases.len())
}

/// The words of a within-sentence.
struct Words {
    /// "3x", "a factor 1.5 either way".
    bound: String,
    /// What a ratio under 1 is called.
    below: &'static str,
    /// What precedes the worst ratio when every case is within.
    worst: &'static str,
    /// What precedes the cases outside.
    beyond: String,
}

/// The sentence of [`within_sentence`]: `within` says whether a ratio is within the bound,
/// `distance` how far from agreement it is (the worst and the order of the groups outside).
fn within_by(
    what: &str,
    cases: &[Ratio],
    w: &Words,
    within: impl Fn(f64) -> bool,
    distance: impl Fn(f64) -> f64,
) -> String {
    let n = cases.len();
    if n == 0 {
        return format!("{what}: no cases.");
    }
    let ok = cases.iter().filter(|c| within(c.ratio)).count();
    let better = cases.iter().filter(|c| c.ratio < 1.0).count();
    let (b, below) = (&w.bound, w.below);
    let worst = |v: &mut dyn Iterator<Item = f64>| {
        v.map(|r| (if r.is_nan() { f64::INFINITY } else { distance(r) }, r)).fold(
            (f64::NEG_INFINITY, f64::NAN),
            |a, x| {
                if x.0 > a.0 {
                    x
                } else {
                    a
                }
            },
        )
    };
    if ok == n {
        let (_, r) = worst(&mut cases.iter().map(|c| c.ratio));
        return format!("{what} is within {b} in all {n} cases ({below} in {better}; {} {}).", w.worst, times(r));
    }
    // The cases beyond the bound, grouped by configuration in order of first appearance, then
    // sorted by each group's worst ratio (not-a-number first).
    let mut groups: Vec<(&str, Vec<&Ratio>)> = Vec::new();
    for c in cases.iter().filter(|c| !within(c.ratio)) {
        match groups.iter_mut().find(|(g, _)| *g == c.group) {
            Some((_, v)) => v.push(c),
            None => groups.push((&c.group, vec![c])),
        }
    }
    let key = |v: &[&Ratio]| worst(&mut v.iter().map(|c| c.ratio)).0;
    groups.sort_by(|a, b| key(&b.1).total_cmp(&key(&a.1)));
    let parts: Vec<String> = groups
        .iter()
        .map(|(g, v)| {
            let seeds: Vec<String> = v.iter().map(|c| c.seed.to_string()).collect();
            let rs: Vec<String> = v.iter().map(|c| times(c.ratio)).collect();
            let s = if v.len() == 1 { "seed" } else { "seeds" };
            format!("{g} at {s} {} ({})", and_list(&seeds), and_list(&rs))
        })
        .collect();
    let mut s = format!("{what} is within {b} in {ok} of {n} cases ({below} in {better}); {}: ", w.beyond);
    let _ = write!(s, "{}.", parts.join(", "));
    s
}

/// How far (a factor either way) a dtype's scaled error curve may stray from f64's and still be
/// said to collapse onto it.
pub const COLLAPSE_FACTOR: f64 = 3.0;

/// Whether `curve` stays within [`COLLAPSE_FACTOR`] of `reference` wherever both are drawn (the
/// reference interpolated linearly in log-log between its points; at least 3 shared points).
pub fn collapses(curve: &[(f64, f64)], reference: &[(f64, f64)]) -> bool {
    let mut r: Vec<(f64, f64)> =
        reference.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).map(|p| (p.0.ln(), p.1.ln())).collect();
    r.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut shared = 0;
    for &(x, y) in curve.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0) {
        let (lx, ly) = (x.ln(), y.ln());
        let Some(i) = r.windows(2).position(|w| w[0].0 <= lx && lx <= w[1].0) else { continue };
        let (a, b) = (r[i], r[i + 1]);
        let at = if b.0 > a.0 { a.1 + (b.1 - a.1) * (lx - a.0) / (b.0 - a.0) } else { a.1 };
        if (ly - at).abs() > COLLAPSE_FACTOR.ln() {
            return false;
        }
        shared += 1;
    }
    shared >= 3
}

/// What a collapse figure shows, from its curves (dtype, scaled points): "the error curves of
/// every dtype collapse" when each stays within [`COLLAPSE_FACTOR`] of f64's, else which do and
/// which do not.
pub fn collapse_phrase(scaled: &[(DType, Vec<(f64, f64)>)]) -> String {
    let Some((_, reference)) = scaled.iter().find(|(dt, _)| *dt == DType::F64) else {
        return "each dtype's scaled error curve".into();
    };
    let (on, off): (Vec<_>, Vec<_>) =
        scaled.iter().filter(|(dt, _)| *dt != DType::F64).partition(|(_, c)| collapses(c, reference));
    let names = |v: &[&(DType, Vec<(f64, f64)>)]| and_list(&v.iter().map(|(dt, _)| dt.to_string()).collect::<Vec<_>>());
    if off.is_empty() {
        "the error curves of every dtype collapse".into()
    } else if on.is_empty() {
        "no dtype's curve collapses onto f64's".into()
    } else {
        format!("the curves of {} collapse onto f64's, those of {} do not", names(&on), names(&off))
    }
}

#[cfg(test)]
mod collapse_tests {
    use super::collapse_phrase;
    use gradlab::scalar::DType;

    /// The phrase says "every dtype collapse" only when each curve is within the factor of f64's.
    #[test]
    fn collapse_phrases_follow_the_curves() {
        let f64c: Vec<(f64, f64)> = (0..9).map(|i| (10f64.powi(i - 4), 10f64.powi((i - 4).abs()))).collect();
        let near: Vec<(f64, f64)> = f64c.iter().map(|p| (p.0 * 1.3, p.1 * 2.0)).collect();
        let far: Vec<(f64, f64)> = f64c.iter().map(|p| (p.0, if p.0 < 1.0 { p.1 / 50.0 } else { p.1 })).collect();
        let (f32_, bf16) = (DType::parse("f32").unwrap(), DType::parse("bf16").unwrap());
        let t = collapse_phrase(&[(f32_, near.clone()), (DType::F64, f64c.clone())]);
        assert_eq!(t, "the error curves of every dtype collapse");
        let t = collapse_phrase(&[(bf16, far.clone()), (f32_, near), (DType::F64, f64c.clone())]);
        assert_eq!(t, "the curves of f32 collapse onto f64's, those of bf16 do not");
        assert_eq!(collapse_phrase(&[(bf16, far), (DType::F64, f64c)]), "no dtype's curve collapses onto f64's");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(group: &str, seed: u64, ratio: f64) -> Ratio {
        Ratio { group: group.into(), seed, ratio }
    }

    #[test]
    fn every_case_within_says_so_with_the_worst() {
        let cases = [case("f32 central", 1, 0.8), case("f32 central", 2, 1.5), case("f64 central", 1, 0.4)];
        assert_eq!(
            within_sentence("auto", &cases, 3.0),
            "auto is within 3x in all 3 cases (better in 2; at worst 1.5x)."
        );
    }

    #[test]
    fn cases_beyond_are_named_worst_group_first() {
        let cases = [
            case("f32 central", 1, 0.81),
            case("f32 central", 2, 9.61),
            case("f64 central", 2, 5.91),
            case("f32 central", 5, 10.93),
            case("f64 central5", 3, f64::NAN),
            case("f64 central5", 4, 0.5),
        ];
        assert_eq!(
            within_sentence("auto", &cases, 3.0),
            "auto is within 3x in 2 of 6 cases (better in 2); beyond 3x: f64 central5 at seed 3 (NaN), \
             f32 central at seeds 2 and 5 (9.6x and 11x), f64 central at seed 2 (5.9x)."
        );
    }

    #[test]
    fn a_factor_either_way_names_the_cases_outside_furthest_first() {
        let inside = [case("f16 central", 1, 0.8), case("f16 central", 2, 1.4), case("bf16 central", 1, 1.1)];
        assert_eq!(
            within_factor_sentence("the expected error", &inside, 1.5),
            "the expected error is within a factor 1.5 either way in all 3 cases (below 1 in 1; furthest from 1: 1.4x)."
        );
        let outside = [case("f16 central", 1, 0.3), case("bf16 central5", 2, 4.19), case("bf16 central5", 5, 2.9)];
        assert_eq!(
            within_factor_sentence("the expected error", &outside, 1.5),
            "the expected error is within a factor 1.5 either way in 0 of 3 cases (below 1 in 1); outside: bf16 \
             central5 at seeds 2 and 5 (4.2x and 2.9x), f16 central at seed 1 (0.30x)."
        );
    }

    /// A NaN or infinite ratio counts as outside, whichever side of the bound.
    #[test]
    fn the_factor_count_puts_nan_outside() {
        let cases = [case("f32", 1, 1.2), case("f32", 2, f64::NAN), case("f32", 3, f64::INFINITY), case("f32", 4, 0.7)];
        assert_eq!(within_factor_count(&cases, 1.5), (2, 4));
        assert_eq!(within_factor_count(&cases[..1], 1.1), (0, 1));
        assert_eq!(within_factor_count(&[], 1.5), (0, 0));
        assert!(factor_distance(f64::NAN) > factor_distance(1e300));
        assert_eq!(factor_distance(0.25), 4.0);
    }

    #[test]
    fn ratios_read_as_times() {
        assert_eq!(
            [times(0.4712), times(1.26), times(9.61), times(10.93), times(151.2), times(3.0), times(34773187.9)],
            ["0.47x", "1.3x", "9.6x", "11x", "151x", "3x", "3.5e7x"]
        );
        assert_eq!(and_list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
