//! The diagnosis as text, as `gradlab diagnose` prints it (and any other front end: the
//! sentences are built here, in the core, and the command line only prints them): the setup, the
//! verdict, each cause with its evidence, the worst elements.

use super::{Diagnosis, Settings, Verdict};
use crate::exact::{sci3, sci6};
use crate::objective::LinearTensor;
use crate::problem::Problem;
use std::fmt::Write as _;

/// The diagnosis as text: the setup, the verdict, each cause with its evidence, the worst elements.
pub fn format_text(problem: &Problem, wrts: &[LinearTensor], s: &Settings, d: &Diagnosis) -> String {
    let mut out = String::new();
    let names: Vec<&str> = wrts.iter().map(|w| w.name()).collect();
    let _ = writeln!(
        out,
        "gradlab diagnose: wrt={} n={} d={} k={} reduction={} dtype={} (u = {}) accumulate={} truth=exact",
        names.join(","),
        problem.n(),
        problem.d(),
        problem.k(),
        s.reduction,
        s.dtype,
        sci6(s.dtype.unit_roundoff()),
        s.accumulate,
    );
    let within = format!(
        "{} within the rounding of a correct {} computation (the largest at {:.3} of its tolerance, the elements \
         together at {:.3} of theirs); mean relative error {}",
        if d.elements == 1 { "The element lies".to_string() } else { format!("All {} elements lie", d.elements) },
        s.dtype,
        d.largest_excess,
        d.pooled,
        sci6(d.relerr)
    );
    let _ = match d.verdict {
        Verdict::Correct => writeln!(out, "verdict: correct. {within}."),
        Verdict::Inconclusive => {
            writeln!(out, "verdict: inconclusive. {within}, but {}", d.reason.as_deref().unwrap_or(""))
        }
        Verdict::Wrong if d.outside > 0 => writeln!(
            out,
            "verdict: WRONG. {} of the {} elements lie outside what rounding in {} explains (up to {} times their \
             tolerance); mean relative error {}, median given/truth {:.6}.",
            d.outside,
            d.elements,
            s.dtype,
            sci6(d.largest_excess),
            sci6(d.relerr),
            d.factor
        ),
        Verdict::Wrong => writeln!(
            out,
            "verdict: WRONG. Every element lies within its tolerance, but together they depart from the truth more \
             than rounding in {} explains (sum of squares at {:.3} of its limit, factor {:.9} where rounding stays \
             within {}); mean relative error {}.",
            s.dtype,
            d.pooled,
            d.factor,
            sci6(d.scale_resolution / 2.0),
            sci6(d.relerr)
        ),
    };
    if d.verdict != Verdict::Wrong {
        let seen: Vec<String> = d.power.iter().map(|p| format!("{} ({})", p.what, sci3(p.distance))).collect();
        let _ = writeln!(
            out,
            "  - any factor outside [1 - {tau}, 1 + {tau}] would have shown; in standard errors from the truth: {}; {} \
             tell a mistake from rounding.",
            seen.join(", "),
            2.0 * crate::policy::Z_TEST,
            tau = sci3(d.scale_resolution),
        );
    }
    for (i, f) in d.findings.iter().enumerate() {
        let _ = writeln!(out, "\ncause {}: {}", i + 1, f.cause);
        for e in &f.evidence {
            let _ = writeln!(out, "  - {e}");
        }
    }
    if !d.worst.is_empty() && d.verdict == Verdict::Wrong {
        let _ = writeln!(out, "\nworst elements (furthest from the truth in units of their tolerance):");
        let _ = writeln!(out, "  {:<16} {:>14} {:>14} {:>14}", "index", "given", "truth", "|diff|/tol");
        for e in &d.worst {
            let at = match e.wrt {
                Some(w) => format!("{w}{:?}", e.index),
                None => format!("{:?}", e.index),
            };
            let _ = writeln!(out, "  {at:<16} {:>14} {:>14} {:>14}", sci6(e.given), sci6(e.truth), sci6(e.excess));
        }
    }
    out
}
