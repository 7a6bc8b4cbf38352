//! Curves hidden under others: which shown points of a series sit under a marker of a series
//! drawn later, so that its legend entry can say so (`f64 (12 of 40 points hidden)`, or
//! `fix_sum (under fix_weighted)` when every point is).
//!
//! Decided on pixel positions (the caller maps data to pixels), since what hides a point is the
//! size of a marker on the page, not a distance in data units.

use super::data::Prepared;
use super::figure::Figure;

/// Per series, the note to append to its legend label: empty when none of its points is hidden;
/// ` (under B)` when all are; ` (k of n points hidden)` when some are. A point is hidden
/// when a marker of a later series (drawn on top) has its centre within `radius` pixels. A line
/// without markers counts only when every point of it is hidden (otherwise its line still shows).
pub(super) fn notes(fig: &Figure, prep: &Prepared, at: impl Fn((f64, f64)) -> (f64, f64), radius: f64) -> Vec<String> {
    let px: Vec<Vec<(f64, f64)>> =
        prep.runs.iter().map(|runs| runs.iter().flatten().map(|&p| at(p)).collect()).collect();
    let n = fig.series.len();
    (0..n)
        .map(|i| {
            let covers: Vec<usize> = (i + 1..n).filter(|&j| fig.series[j].has_markers()).collect();
            let mut by: Vec<usize> = Vec::new();
            let mut hidden = 0;
            for &p in &px[i] {
                let mut under = false;
                for &j in &covers {
                    if px[j].iter().any(|q| (p.0 - q.0).hypot(p.1 - q.1) < radius) {
                        under = true;
                        if !by.contains(&j) {
                            by.push(j);
                        }
                    }
                }
                hidden += usize::from(under);
            }
            by.sort_unstable();
            let names: Vec<String> = by
                .iter()
                // A hider's own note (" (= f16 at 33 of 33 steps)") is left out: the legend stays short.
                .map(|&j| fig.series[j].label.split(" (").next().unwrap_or_default().trim())
                .map(|l| if l.is_empty() { "an unlabelled series".to_string() } else { l.to_string() })
                .collect();
            let complete = hidden == px[i].len();
            if !fig.series[i].has_markers() && !complete {
                return String::new();
            }
            note(hidden, px[i].len(), &names)
        })
        .collect()
}

/// ` (under B)`, ` (3 of 40 points hidden)` (short: a legend must not cover the data), or
/// nothing when no point is hidden.
fn note(hidden: usize, total: usize, by: &[String]) -> String {
    match hidden {
        0 => String::new(),
        h if h == total => format!(" (under {})", crate::and_list(by)),
        h => format!(" ({h} of {total} points hidden)"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::prepare;
    use super::super::figure::{Figure, Series};
    use super::super::palette::Shape;
    use super::super::palette::{Ink, BLUE, GREEN};
    use super::notes;

    /// A series under a later one is named in full, in part, or not at all.
    #[test]
    fn hidden_points_are_counted_against_later_markers() {
        let a = Series::data(
            "a",
            Ink { color: BLUE, shape: Shape::Circle, hollow: false },
            vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)],
        );
        let b =
            Series::data("b", Ink { color: GREEN, shape: Shape::Circle, hollow: false }, vec![(1.0, 1.0), (2.0, 2.0)]);
        let fig = Figure::new("t", "x", "y").with(a.clone()).with(b.clone());
        let prep = prepare(&fig);
        let at = |p: (f64, f64)| (p.0 * 100.0, p.1 * 100.0);
        assert_eq!(notes(&fig, &prep, at, 5.0), vec![" (2 of 3 points hidden)".to_string(), String::new()]);
        // Drawn the other way round, b is wholly under a.
        let fig = Figure::new("t", "x", "y").with(b.clone()).with(a.clone());
        assert_eq!(notes(&fig, &prepare(&fig), at, 5.0), vec![" (under a)".to_string(), String::new()]);
        // A line without markers partly under a: its line still shows.
        let line = Series::line("l", BLUE, vec![(1.0, 1.0), (2.5, 2.5)]);
        let fig = Figure::new("t", "x", "y").with(line).with(a.clone());
        assert_eq!(notes(&fig, &prepare(&fig), at, 5.0), vec![String::new(), String::new()]);
        // Far apart: nothing.
        let fig = Figure::new("t", "x", "y").with(a).with(Series::data(
            "c",
            Ink { color: GREEN, shape: Shape::Circle, hollow: false },
            vec![(9.0, 9.0)],
        ));
        assert_eq!(notes(&fig, &prepare(&fig), at, 5.0), vec![String::new(), String::new()]);
    }
}
