//! Output of checks: the seed-style table, CSV, saved gradients, and a plain-words diagnosis.

use crate::check::{CheckRow, DTypeCheck, Status};
use crate::error::{Error, Result};
use crate::exact::Decimal;
use crate::policy::{analytic_is_wrong, whole_factor};
use crate::scalar::DType;
use std::fmt::Write as _;
use std::path::Path;

/// `x` as `8.996676e-01` (six digits, two-digit exponent, like C's `%e`).
pub fn sci6(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let s = format!("{x:.6e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Creates `dir` (and parents) if needed and checks it is a writable folder.
///
/// # Errors
/// [`Error::Write`] when `dir` is a file or cannot be created.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Write { path: dir.to_path_buf(), reason: "it is a file; expected a folder".into() });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { path: dir.to_path_buf(), reason: e.to_string() })?;
    let probe = dir.join(format!(".gradlab-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| Error::Write { path: dir.to_path_buf(), reason: format!("the folder is not writable ({e})") })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes rows as CSV with a header (shortest round-trip floats).
///
/// # Errors
/// [`Error::Write`] when the writer fails.
pub fn write_csv<'a, W: std::io::Write>(w: W, rows: impl IntoIterator<Item = &'a CheckRow>) -> Result<()> {
    let mut wr = csv::Writer::from_writer(w);
    let werr = |e: csv::Error| Error::Write { path: "<csv>".into(), reason: e.to_string() };
    for r in rows {
        wr.serialize(r).map_err(werr)?;
    }
    wr.flush().map_err(|e| Error::Write { path: "<csv>".into(), reason: e.to_string() })
}

/// A one-paragraph diagnosis of one dtype's rows: is the analytic gradient wrong, and by what
/// factor; where is the numeric gradient best; which steps are in the dead zone.
pub fn diagnose(dtype: DType, rows: &[CheckRow]) -> String {
    let mut out = String::new();
    let u = dtype.unit_roundoff();
    let anal = rows.first().map_or(f64::NAN, |r| r.anal_vs_truth);
    let best =
        rows.iter().filter(|r| r.num_vs_truth.is_finite()).min_by(|a, b| a.num_vs_truth.total_cmp(&b.num_vs_truth));
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
            if let Some(r) = best.map(|b| b.ratio_median).filter(|r| r.is_finite()) {
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
    if let Some(b) = best {
        let _ = writeln!(
            out,
            "numeric gradient closest to the truth at eps = {} (mean relerr {}).",
            b.eps,
            sci6(b.num_vs_truth)
        );
    }
    let dead: Vec<&str> = rows.iter().filter(|r| r.dead_zone > 0).map(|r| r.eps.text()).collect();
    if !dead.is_empty() {
        let _ = writeln!(out, "dead zone (x + eps == x for some elements) at eps = {}.", dead.join(", "));
    }
    out
}

/// The seed-style table for every dtype, with a diagnosis under each.
pub fn format_table(setup: &str, results: &[(DType, DTypeCheck)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "gradlab check: {setup}");
    for (dt, r) in results {
        let _ = writeln!(
            s,
            "\n{dt} (p = {} bits, u = {}){}",
            dt.bits(),
            sci6(dt.unit_roundoff()),
            if r.rounded > 0 { format!(", {} problem values rounded into {dt}", r.rounded) } else { String::new() }
        );
        let _ = writeln!(
            s,
            "{:<8} {:>13} {:>13} {:>13} {:>13} {:>13} {:>11} {:>5}",
            "eps", "relerr_mean", "relerr_med", "relerr_max", "num_vs_truth", "anal_vs_truth", "ratio_med", "dead"
        );
        for row in &r.rows {
            let _ = writeln!(
                s,
                "{:<8} {:>13} {:>13} {:>13} {:>13} {:>13} {:>11} {:>5}{}",
                row.eps.label(),
                sci6(row.relerr_mean),
                sci6(row.relerr_median),
                sci6(row.relerr_max),
                sci6(row.num_vs_truth),
                sci6(row.anal_vs_truth),
                format!("{:.4}", row.ratio_median),
                row.dead_zone,
                if row.status != Status::Ok {
                    format!("  {} ({} non-finite)", row.status, row.nonfinite)
                } else {
                    String::new()
                }
            );
        }
        s.push_str(&diagnose(*dt, &r.rows));
    }
    s
}

/// Writes `analytic_<label>.npy`, `truth_<label>.npy`, `numeric_<label>_<eps>.npy` (float64, `<eps>`
/// spelled as in the CSV's `eps` column) and,
/// for MPFR dtypes, `analytic_<label>.txt` and `truth_<label>.txt` with every significant digit.
///
/// # Errors
/// [`Error::Write`] when a file cannot be written.
pub fn write_grads(dir: &Path, dtype: DType, steps: &[Decimal], r: &DTypeCheck) -> Result<()> {
    let Some(g) = &r.grads else { return Ok(()) };
    let label = dtype.label();
    crate::npy::write(&dir.join(format!("analytic_{label}.npy")), &g.analytic)?;
    if let Some(t) = &g.truth {
        crate::npy::write(&dir.join(format!("truth_{label}.npy")), t)?;
    }
    for (h, num) in steps.iter().zip(&g.numeric) {
        crate::npy::write(&dir.join(format!("numeric_{label}_{}.npy", h.text())), num)?;
    }
    for (name, text) in [("analytic", &g.analytic_text), ("truth", &g.truth_text)] {
        if let Some(lines) = text {
            let mut body = lines.join("\n");
            body.push('\n');
            crate::atomic::write(&dir.join(format!("{name}_{label}.txt")), body.as_bytes())?;
        }
    }
    Ok(())
}
