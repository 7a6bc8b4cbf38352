//! The group diagnosis as text, as `gradlab diagnose --groups` prints it (built here, in the
//! core, so every front end prints the same sentences): the setup, the verdict, the mistakes
//! the verdict asked about, each cause with its evidence.

use super::{listed, GroupDiagnosis, Precision, Structure};
use crate::diagnose::Verdict;
use crate::exact::{sci3, sci6};
use std::fmt::Write as _;

/// The diagnosis as text: the setup, the verdict, the power or the causes with their evidence.
pub fn format_groups_text(s: &Structure, p: &Precision, d: &GroupDiagnosis) -> String {
    let mut out = String::new();
    let mut setup = format!(
        "gradlab diagnose: groups={} parameters={} items={} unit={} reduction={}",
        d.groups, d.parameters, d.items, s.unit, s.reduction
    );
    if let Some(mb) = &s.microbatches {
        let _ = write!(setup, " microbatches={}", mb.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
    }
    if let Some(k) = s.accumulation {
        let _ = write!(setup, " accumulation={k}");
    }
    if let Some(r) = s.ranks {
        let _ = write!(setup, " ranks={r}");
    }
    let _ = writeln!(
        out,
        "{setup} dtype={} (u = {}) accumulate={} tolerance={}",
        p.dtype,
        sci6(p.dtype.unit_roundoff()),
        p.accumulate,
        sci3(d.tolerance)
    );
    let fit = format!(
        "the gradient is the correct weighted sum of the {} groups' gradients within rounding (residual {} of its \
         norm, tolerance {}; relative error {})",
        d.groups,
        sci3(d.residual),
        sci3(d.tolerance),
        sci6(d.relerr)
    );
    let _ = match d.verdict {
        Verdict::Correct => writeln!(out, "verdict: correct. {}.", capital(&fit)),
        Verdict::Inconclusive => {
            writeln!(out, "verdict: inconclusive. {}, but {}", capital(&fit), d.reason.as_deref().unwrap_or(""))
        }
        Verdict::Wrong => writeln!(
            out,
            "verdict: WRONG. Relative error {} against the correct gradient, factor {:.6} on it.",
            sci6(d.relerr),
            d.factor
        ),
    };
    if d.verdict != Verdict::Wrong {
        let asked: Vec<String> = d
            .power
            .iter()
            .map(|q| {
                if q.harmless {
                    format!("{} (harmless here)", q.cause)
                } else {
                    format!("{} ({})", q.cause, sci3(q.separation))
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "  - each mistake's distance from the correct gradient, relative to its norm: {}; more than 2 tolerances ({}) \
             tell a mistake from rounding.",
            asked.join(", "),
            sci3(2.0 * d.tolerance)
        );
        let along: Vec<String> = d
            .power
            .iter()
            .filter_map(|q| {
                let a = q.along.filter(|a| a.outcome == super::along::Outcome::RuledOut)?;
                Some(format!("{} (moved {}, rounding {})", q.cause, sci3(a.shift), sci3(a.rounding)))
            })
            .collect();
        if !along.is_empty() {
            let _ = writeln!(
                out,
                "  - ruled out along its own direction (how far the gradient moved from the correct one there, \
                 against the rounding along it): {}.",
                along.join(", ")
            );
        }
        if d.rank == d.groups {
            let rel: Vec<f64> = d.weights.recovered.iter().zip(&d.weights.correct).map(|(a, b)| a / b).collect();
            let _ = writeln!(out, "  - recovered weights relative to the correct ones: {}.", listed(&rel));
        }
    }
    for n in &d.notes {
        let _ = writeln!(out, "  - {n}");
    }
    for (i, f) in d.findings.iter().enumerate() {
        let _ = writeln!(out, "\ncause {}: {}", i + 1, f.cause);
        for e in &f.evidence {
            let _ = writeln!(out, "  - {e}");
        }
    }
    out
}

/// `s` with its first letter in upper case.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
