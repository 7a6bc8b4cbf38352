//! `martins`: Martins' test function f(x) = e^x / sqrt(sin^3 x + cos^3 x) at x = 1.5
//! (Martins, Sturdza & Alonso 2003, Fig. 1): f'(1.5) by forward, central and five-point
//! differences, the complex step and Ridders at every step 1e0 .. 1e-300 the dtype can hold, and
//! by dual numbers, in f16, bf16, f32, f64, mpfr:113 and mpfr:256, against the exact derivative.

use gradlab::check::full_digits;
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::method::{derivative, dual_derivative, Scheme};
use gradlab::objective::martins::{true_derivative_at_x0, Martins, X0};
use gradlab::policy::usable_steps;
use gradlab::scalar::{DType, Prec, Scalar};
use gradlab_lab::grid::decades;
use gradlab_lab::plot::{scheme_ink, Figure, LegendPos};
use gradlab_lab::report::{md_table, sci6};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::line;
use rug::{Float, Rational};
use serde::{Deserialize, Serialize};

/// The experiment.
pub struct MartinsExperiment;

/// One estimate of f'(1.5).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// The dtype every operation is rounded to.
    pub dtype: DType,
    /// The method.
    pub method: Scheme,
    /// The step (Ridders' initial step); empty for dual numbers.
    pub h: Option<Decimal>,
    /// The estimate, with every significant digit of the dtype.
    pub estimate: String,
    /// |estimate - f'(1.5)| / f'(1.5), against the exact value.
    pub relerr: f64,
    /// Whether the estimate is f'(1.5) rounded to nearest in the dtype: the closest value it
    /// can hold.
    pub rounded_truth: bool,
}

/// The methods, in the figure's order.
const METHODS: [Scheme; 6] =
    [Scheme::Forward, Scheme::Central, Scheme::Central5, Scheme::Ridders, Scheme::Complex, Scheme::Dual];

fn dtypes(quick: bool) -> Vec<DType> {
    if quick {
        vec![DType::F16, DType::F64, DType::MPFR_113]
    } else {
        vec![DType::F16, DType::BF16, DType::F32, DType::F64, DType::MPFR_113, DType::MPFR_256]
    }
}

/// The estimate with every digit, its error against `truth`, and whether it is `truth` rounded to
/// nearest in the dtype (f'(1.5) is a normal number in every dtype here, so rounding to the
/// dtype's precision is rounding into the dtype). `h` is the step, `None` for dual numbers
/// (which take none).
fn estimate<T: Scalar>(ctx: T::Ctx, method: Scheme, h: Option<&Decimal>, truth: &Float) -> (String, f64, bool) {
    let bits = T::dtype(ctx).bits();
    let x = T::from_rational(&Rational::from(X0), ctx);
    let v = match h {
        Some(h) => derivative(&Martins, method, &x, h),
        None => dual_derivative(&Martins, &x),
    };
    let v = v.value.to_float(bits);
    let p = truth.prec();
    let err = Float::with_val(p, &v.to_float(p) - truth).abs() / truth;
    let rounded = v.is_finite() && v == Float::with_val(bits, truth);
    (if v.is_finite() { full_digits(&v) } else { v.to_string() }, Float::with_val(53, err).to_f64(), rounded)
}

impl Experiment for MartinsExperiment {
    type Cell = DType;
    type Row = Row;

    const NAME: &'static str = "martins";
    const DESCRIPTION: &'static str = "Martins' function: every method's error against the step, complex step flat at \
         machine precision";
    fn cells(&self, quick: bool) -> Vec<DType> {
        dtypes(quick)
    }
    fn run_cell(&self, &dt: &DType) -> Result<Vec<Row>> {
        let truth = true_derivative_at_x0(Prec::new(dt.bits() + 128)?);
        let steps = usable_steps(&decades(0, 300), dt);
        let mut rows = Vec::new();
        for method in METHODS {
            let hs: Vec<Option<&Decimal>> =
                if method.has_step() { steps.iter().map(Some).collect() } else { vec![None] };
            for h in hs {
                let (estimate, relerr, rounded_truth) =
                    gradlab::with_dtype!(dt, |T, ctx| estimate::<T>(ctx, method, h, &truth));
                rows.push(Row { dtype: dt, method, h: h.cloned(), estimate, relerr, rounded_truth });
            }
        }
        Ok(rows)
    }

    fn finish(&self, quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let mut s = String::from(
            "f'(1.5) = 4.0534278938986206577... (MPFR closed form, checked against mpmath) of Martins' function \
             f(x) = e^x / sqrt(sin^3 x + cos^3 x), every operation rounded to the dtype, at the steps 1e0, 1e-1, ..., \
             1e-300 that round to a nonzero value in the dtype (Ridders: its initial step). Per method, the smallest \
             relative error and the step it needs; for the complex step, how many of the steps h <= sqrt(u) \
             (u = 2^-p; below it the truncation error is below u) give an error within 2 u, and the largest; dual \
             numbers' error in units of u.\n\n",
        );
        let of = |dt: DType, m: Scheme| rows.iter().filter(move |r| r.dtype == dt && r.method == m);
        let cells: Vec<(DType, Vec<Best>)> = dtypes(quick)
            .into_iter()
            .map(|dt| (dt, METHODS[..5].iter().filter_map(|&m| Best::of(&of(dt, m).collect::<Vec<_>>())).collect()))
            .collect();
        s.push_str(&md_table(
            "dtype | forward | central | central5 | ridders | complex (best) | complex within 2u, h <= sqrt(u), h f'(1.5) normal | dual (u)",
            cells.iter().map(|(dt, bests)| {
                let mut row = vec![dt.to_string()];
                row.extend(METHODS[..5].iter().map(|&m| bests.iter().find(|b| b.method == m).map_or("-".into(), Best::cell)));
                row.push(small_steps(of(*dt, Scheme::Complex).collect(), *dt));
                row.push(of(*dt, Scheme::Dual).next().map_or("-".into(), |r| format!("{:.2}", r.relerr / dt.unit_roundoff())));
                row
            }),
        ));
        s.push_str(&format!("\n{}\n", edge_sentence(&cells)));
        let counts: Vec<Rounded> = dtypes(quick)
            .into_iter()
            .map(|dt| Rounded {
                dtype: dt,
                relerr: rounded_relerr(dt),
                by_method: METHODS
                    .iter()
                    .map(|&m| (m, of(dt, m).filter(|r| r.rounded_truth).count(), of(dt, m).count()))
                    .collect(),
            })
            .collect();
        s.push_str(&format!("\n{}\n", rounded_sentence(&counts)));
        let worst = dtypes(quick)
            .into_iter()
            .flat_map(|dt| SmallSteps::of(&of(dt, Scheme::Complex).collect::<Vec<_>>(), dt).normal)
            .fold(0.0, f64::max);
        // The hardware formats' smallest normal numbers, formats sharing one grouped, and whether
        // the smallest grid step keeps h f'(1.5) above it.
        let mut normals: Vec<(Vec<String>, f64, bool)> = Vec::new();
        for dt in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            let Some(m) = min_normal(dt) else { continue };
            let smallest =
                of(dt, Scheme::Complex).filter_map(|r| r.h.as_ref().map(Decimal::to_f64)).fold(f64::INFINITY, f64::min);
            let beyond = smallest.is_finite() && smallest * derivative_f64().abs() >= m;
            match normals.iter_mut().find(|g| g.1 == m) {
                Some(g) => {
                    g.0.push(dt.to_string());
                    g.2 &= beyond;
                }
                None => normals.push((vec![dt.to_string()], m, beyond)),
            }
        }
        let stays: Vec<Stays> = rows
            .iter()
            .filter(|r| r.method.is_stencil())
            .filter_map(|r| {
                let h = r.h.as_ref()?;
                let (all, plus) = gradlab::with_dtype!(r.dtype, |T, ctx| points_stay::<T>(ctx, r.method, h));
                Some(Stays { dtype: r.dtype, method: r.method, h: h.to_string(), relerr: r.relerr, all, plus })
            })
            .collect();
        s.push_str(&format!(
            "\nAs in the paper's figure, the differences' error falls with the step until rounding takes over (at steps near \
             u^(1/2) for forward, u^(1/3) for central and u^(1/5) for five-point differences, where the errors are \
             about u^(1/2), u^(2/3) and u^(4/5)) and {}; {}. Dual numbers need no step at all.\n\n",
            stays_sentence(&stays),
            complex_sentence(worst, &normals)
        ));
        // Per dtype, the steps down to where every method has settled; f64 also over every step.
        let zoom = |dt: DType| 10f64.powi(-(20.0f64.max(0.36 * dt.bits() as f64 + 5.0)) as i32);
        let views = dtypes(quick).into_iter().map(|dt| (dt, zoom(dt), String::new()));
        let views: Vec<(DType, f64, String)> = views.chain([(DType::F64, 0.0, "_all_steps".to_string())]).collect();
        for (dt, smallest, suffix) in views {
            let mut fig = Figure::new(
                format!("Martins' function, f'(1.5) in {dt}{}", if suffix.is_empty() { "" } else { ", every step" }),
                "step h",
                "relative error of f'(1.5)",
            );
            let shown = |r: &&Row| r.h.as_ref().is_none_or(|h| h.to_f64() >= smallest);
            let span: Vec<f64> =
                of(dt, Scheme::Central).filter(shown).map(|r| r.h.as_ref().map_or(1.0, Decimal::to_f64)).collect();
            for m in METHODS {
                let pts: Vec<(f64, f64)> = match m {
                    Scheme::Dual => {
                        let e = of(dt, m).next().map_or(f64::NAN, |r| r.relerr.max(dt.unit_roundoff() / 16.0));
                        vec![(span[0], e), (span[span.len() - 1], e)]
                    }
                    _ => of(dt, m)
                        .filter(|r| shown(r) && !r.relerr.is_nan())
                        .map(|r| {
                            (r.h.as_ref().map_or(f64::NAN, Decimal::to_f64), r.relerr.max(dt.unit_roundoff() / 16.0))
                        })
                        .collect(),
                };
                fig.series.push(line(m.name(), scheme_ink(m), pts));
            }
            // Every step: the error-1 lines fill the top corners and the complex step the bottom ones.
            fig.legend_pos = if suffix.is_empty() { LegendPos::Below } else { LegendPos::Center };
            let cut = of(dt, Scheme::Central).filter(|r| !shown(r)).count();
            let steps_note = if cut > 0 {
                format!("steps >= {smallest:.0e} ({cut} smaller ones in the table); ")
            } else {
                String::new()
            };
            fig.caption = Some(format!(
                "{steps_note}Errors below u/16 = {} drawn at u/16; NaN (f at 1.5 + h or 1.5 + 2h with sin^3 + cos^3 < 0) not drawn; dual: no step (a flat line). {}",
                sci6(dt.unit_roundoff() / 16.0),
                if dt == DType::F64 { "Cf. Martins et al. 2003, Fig. 1." } else { "" }
            ));
            s.push_str(&out.figure_md(&format!("martins_{}{suffix}", dt.label()), &fig)?);
        }
        Ok(s)
    }
}

/// Whether every point x + o h of `method`'s stencil rounds back to x = 1.5 in `T` (the shifts
/// o h rounded as the stencil rounds them), and whether x + h does.
fn points_stay<T: Scalar>(ctx: T::Ctx, method: Scheme, h: &Decimal) -> (bool, bool) {
    let x = T::from_rational(&Rational::from(X0), ctx);
    let h = T::from_rational(h.value(), ctx);
    let stays = |o: i64| x.add(&h.mul(&T::from_int(o, ctx))).partial_cmp_val(&x) == Some(std::cmp::Ordering::Equal);
    (method.stencil().offsets.iter().all(|&o| stays(o)), stays(1))
}

/// One difference row: its dtype, method, step and error, whether every stencil point rounds
/// back to x and whether x + h does.
struct Stays {
    dtype: DType,
    method: Scheme,
    h: String,
    relerr: f64,
    all: bool,
    plus: bool,
}

/// What the differences' error is once the step stops moving x, written from the rows: exactly 1
/// (a derivative of 0) at every step where no point moves x, or how often not; and at the steps
/// where x + h rounds to x but an outer point (x ± 2h) does not, the errors measured there.
fn stays_sentence(rows: &[Stays]) -> String {
    let dead: Vec<&Stays> = rows.iter().filter(|r| r.all).collect();
    let not_one = dead.iter().filter(|r| r.relerr != 1.0).count();
    let mut s = if not_one == 0 {
        format!(
            "is exactly 1 once every stencil point x + o h rounds to x (the derivative is then 0: all {} such rows)",
            dead.len()
        )
    } else {
        format!(
            "is not always 1 once every stencil point x + o h rounds to x ({not_one} of {} such rows are not)",
            dead.len()
        )
    };
    let partial: Vec<String> = rows
        .iter()
        .filter(|r| r.plus && !r.all)
        .map(|r| format!("{:.2} in {} at {}", r.relerr, r.dtype, r.h))
        .collect();
    if !partial.is_empty() {
        let method = rows.iter().find(|r| r.plus && !r.all).map_or(Scheme::Central5, |r| r.method);
        s.push_str(&format!(
            ", while where x + h rounds to x but some point of the stencil still moves ({} {}, {method}), what is left \
             is a difference of the outer points alone: error {}",
            partial.len(),
            if partial.len() == 1 { "row" } else { "rows" },
            partial.join(", ")
        ));
    }
    s
}

/// One method's smallest error in one dtype, and where it sits.
struct Best {
    method: Scheme,
    relerr: f64,
    /// The step, "-" for none.
    h: String,
    /// `Some(first)` when the step is at an end of the steps with a finite error: the largest
    /// (`true`) or the smallest (`false`); the minimum may lie beyond it.
    edge: Option<bool>,
    /// Whether the estimate there is f'(1.5) rounded to the dtype.
    rounded_truth: bool,
    dtype: DType,
}

impl Best {
    /// The smallest error among `rows` (one dtype and method, steps in decreasing order), the
    /// first such step on ties; `None` when no error is finite.
    fn of(rows: &[&Row]) -> Option<Best> {
        let finite: Vec<&&Row> = rows.iter().filter(|r| r.relerr.is_finite()).collect();
        let (i, r) = finite.iter().enumerate().min_by(|a, b| a.1.relerr.total_cmp(&b.1.relerr).then(a.0.cmp(&b.0)))?;
        let stepped = r.h.is_some() && finite.len() > 1;
        let edge = if !stepped {
            None
        } else if i == 0 {
            Some(true)
        } else if i + 1 == finite.len() {
            Some(false)
        } else {
            None
        };
        Some(Best {
            method: r.method,
            relerr: r.relerr,
            h: r.h.as_ref().map_or("-".into(), |h| h.to_string()),
            edge,
            rounded_truth: r.rounded_truth,
            dtype: r.dtype,
        })
    }

    /// The table's cell: the error and step, then f'(1.5) rounded to the dtype when it is that
    /// (nothing in the dtype is closer, wherever the step), else the edge it sits on (a bound).
    fn cell(&self) -> String {
        let note = match (self.rounded_truth, self.edge) {
            (true, _) => format!(" (f'(1.5) rounded to {})", self.dtype),
            (false, Some(true)) => " (largest finite step: a bound)".into(),
            (false, Some(false)) => " (smallest step: a bound)".into(),
            (false, None) => String::new(),
        };
        format!("{} at {}{note}", sci6(self.relerr), self.h)
    }
}

/// How many of the table's minima sit on an edge of the steps (bounds, not optima), and how many
/// of those are f'(1.5) rounded to the dtype (nothing closer exists, so the edge does not matter).
fn edge_sentence(cells: &[(DType, Vec<Best>)]) -> String {
    let all: Vec<&Best> = cells.iter().flat_map(|c| &c.1).filter(|b| b.h != "-").collect();
    let edge: Vec<&&Best> = all.iter().filter(|b| b.edge.is_some()).collect();
    let rounded = edge.iter().filter(|b| b.rounded_truth).count();
    if edge.is_empty() {
        return format!(
            "Every one of the {} minima above lies inside the steps tried, with a larger error on either side.",
            all.len()
        );
    }
    let first = edge.iter().filter(|b| b.edge == Some(true)).count();
    let ends: Vec<String> =
        [(first, "at the largest, the first finite point"), (edge.len() - first, "at the smallest")]
            .iter()
            .filter(|e| e.0 > 0)
            .map(|e| format!("{} {}", e.0, e.1))
            .collect();
    let mut s = format!(
        "{} of the {} minima above sit on an edge of the steps with a finite error ({}): the error might fall \
         further beyond it, so the step and error there are a bound, not an optimum (marked)",
        edge.len(),
        all.len(),
        ends.join(", ")
    );
    if rounded > 0 {
        s.push_str(&format!(
            ", except {rounded} that {} f'(1.5) rounded to the dtype, which no step can improve on",
            if rounded == 1 { "is" } else { "are" }
        ));
    }
    s.push('.');
    s
}

/// One dtype's count of estimates equal to f'(1.5) rounded to it, by method (equal, all rows).
struct Rounded {
    dtype: DType,
    /// The error of f'(1.5) rounded to the dtype.
    relerr: f64,
    by_method: Vec<(Scheme, usize, usize)>,
}

/// The error of f'(1.5) rounded to nearest in `dt`.
fn rounded_relerr(dt: DType) -> f64 {
    let Ok(p) = Prec::new(dt.bits() + 128) else { return f64::NAN };
    let truth = true_derivative_at_x0(p);
    let r = Float::with_val(dt.bits(), &truth);
    Float::with_val(53, (Float::with_val(p.bits(), &r) - &truth).abs() / &truth).to_f64()
}

/// Where estimates equal f'(1.5) rounded to their dtype, per hardware-width dtype with any: the
/// count by method; when none does anywhere, that.
fn rounded_sentence(counts: &[Rounded]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|c| c.by_method.iter().any(|m| m.1 > 0))
        .map(|c| {
            let (eq, all) = c.by_method.iter().fold((0, 0), |a, m| (a.0 + m.1, a.1 + m.2));
            let methods: Vec<String> =
                c.by_method.iter().filter(|m| m.1 > 0).map(|m| format!("{} {} of {}", m.0, m.1, m.2)).collect();
            format!("in {} {eq} of {all} rows ({}; error {})", c.dtype, methods.join(", "), sci6(c.relerr))
        })
        .collect();
    if parts.is_empty() {
        return "No estimate in any dtype is f'(1.5) rounded to that dtype.".into();
    }
    format!(
        "Estimates that are f'(1.5) rounded to their dtype, the closest value the dtype holds (no method or step can \
         do better there): {}.",
        parts.join("; ")
    )
}

/// The complex step at the steps h <= sqrt(u), where its truncation error h^2 f'''/(6 f') is
/// below u: how many are within 2 u, and the largest error in units of u.
fn small_steps(rows: Vec<&Row>, dt: DType) -> String {
    let s = SmallSteps::of(&rows, dt);
    let below = if s.below.is_empty() {
        String::new()
    } else {
        format!(" ({} more below the normal range, max {:.2} u)", s.below.len(), max_of(&s.below))
    };
    format!("{} of {}, max {:.2} u{below}", s.within_2u(), s.normal.len(), max_of(&s.normal))
}

/// The largest of `v`, 0 for none.
fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// The smallest positive normal number of `dt`, or `None` (MPFR: no limit within reach here).
fn min_normal(dt: DType) -> Option<f64> {
    dt.normal_exp_min().map(|e| 2f64.powi(e))
}

/// f'(1.5) in f64, for the normal-range test of a step.
fn derivative_f64() -> f64 {
    Prec::new(64).map_or(f64::NAN, |p| true_derivative_at_x0(p).to_f64())
}

/// The complex step's errors (in units of u) at steps h <= sqrt(u), split by whether h f'(1.5),
/// the imaginary part's size, is a normal number of the dtype (`normal`) or below the normal
/// range (`below`), where the imaginary part loses bits.
struct SmallSteps {
    normal: Vec<f64>,
    below: Vec<f64>,
}

impl SmallSteps {
    fn of(rows: &[&Row], dt: DType) -> SmallSteps {
        let (u, d) = (dt.unit_roundoff(), derivative_f64().abs());
        let (mut normal, mut below) = (Vec::new(), Vec::new());
        for r in rows {
            let Some(h) = r.h.as_ref().map(Decimal::to_f64).filter(|h| *h <= u.sqrt()) else { continue };
            let e = r.relerr / u;
            if min_normal(dt).is_none_or(|m| h * d >= m) {
                normal.push(e);
            } else {
                below.push(e);
            }
        }
        SmallSteps { normal, below }
    }

    fn within_2u(&self) -> usize {
        self.normal.iter().filter(|&&e| e <= 2.0).count()
    }
}

/// The complex step's sentence on its small steps: within how many u it stays over every dtype's
/// normal-range steps h <= sqrt(u) (`worst` the largest error there in u), then where the
/// imaginary part turns subnormal, each hardware format's smallest normal number (`normals`:
/// dtype names sharing one value, the value, and whether every grid step keeps h f'(1.5) above
/// it).
fn complex_sentence(worst: f64, normals: &[(Vec<String>, f64, bool)]) -> String {
    let list: Vec<String> = normals
        .iter()
        .map(|(names, v, beyond)| {
            let names = gradlab_lab::claims::and_list(names);
            format!("{v:.1e} in {names}{}", if *beyond { ", beyond the grid" } else { "" })
        })
        .collect();
    format!(
        "the complex step has no subtraction, so its error falls as h^2 and then stays within {worst:.1} u (the \
         largest over the steps h <= sqrt(u) of every dtype at which h f'(x) is a normal number, the steps below the \
         normal range left out; the roundings of the imaginary part through sin, cos, the cubes, the square root, exp \
         and the quotient, whose parts are each rounded once; the largest per dtype in the table) down to the smallest \
         step, as long as the imaginary parts stay normal numbers: in the hardware formats they become subnormal once \
         h f'(x) is below the smallest normal number ({}) and lose bits",
        list.join(", ")
    )
}

gradlab_lab::experiment_main!(MartinsExperiment);

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: Scheme, relerr: f64, all: bool, plus: bool) -> Stays {
        Stays { dtype: DType::F64, method, h: "1e-16".into(), relerr, all, plus }
    }

    fn complex_row(dtype: DType, h: &str, relerr: f64) -> Row {
        let h = Some(Decimal::parse("step", h).unwrap());
        Row { dtype, method: Scheme::Complex, h, estimate: String::new(), relerr, rounded_truth: false }
    }

    /// The complex step's small steps are split at the normal range: an error at a step whose
    /// h f'(1.5) is subnormal does not count towards "within N u".
    #[test]
    fn small_steps_leave_out_the_subnormal_range() {
        let u = DType::F16.unit_roundoff();
        let rows = [
            complex_row(DType::F16, "1e-1", 50.0 * u), // above sqrt(u): not a small step
            complex_row(DType::F16, "1e-3", 0.6 * u),
            complex_row(DType::F16, "1e-4", 3.3 * u),
            complex_row(DType::F16, "1e-7", 225.0 * u), // h f' below 2^-14
        ];
        let s = SmallSteps::of(&rows.iter().collect::<Vec<_>>(), DType::F16);
        assert_eq!(s.normal.len(), 2);
        assert_eq!(s.below.len(), 1);
        assert_eq!(
            small_steps(rows.iter().collect(), DType::F16),
            "1 of 2, max 3.30 u (1 more below the normal range, max 225.00 u)"
        );
        let sentence = complex_sentence(
            3.3,
            &[(vec!["f16".into()], 2f64.powi(-14), false), (vec!["f64".into()], 2f64.powi(-1022), true)],
        );
        assert!(sentence.contains("stays within 3.3 u"), "{sentence}");
        assert!(sentence.contains("(6.1e-5 in f16, 2.2e-308 in f64, beyond the grid)"), "{sentence}");
    }

    /// Each sentence appears when the rows call for it.
    #[test]
    fn the_dead_step_sentence_follows_the_rows() {
        let rows = [row(Scheme::Central, 1.0, true, true), row(Scheme::Central5, 1.0, true, true)];
        let s = stays_sentence(&rows);
        assert_eq!(
            s,
            "is exactly 1 once every stencil point x + o h rounds to x (the derivative is then 0: all 2 such rows)"
        );
        let rows = [row(Scheme::Central, 1.0, true, true), row(Scheme::Central5, 78.25, true, true)];
        assert!(
            stays_sentence(&rows).starts_with("is not always 1 once every stencil point x + o h rounds to x (1 of 2")
        );
        let rows = [row(Scheme::Central, 1.0, true, true), row(Scheme::Central5, 1.37, false, true)];
        let s = stays_sentence(&rows);
        assert!(
            s.ends_with(
                "(1 row, central5), what is left is a difference of the outer points alone: error 1.37 in f64 at 1e-16"
            ),
            "{s}"
        );
    }

    fn mrow(h: Option<&str>, relerr: f64, rounded_truth: bool) -> Row {
        Row {
            dtype: DType::BF16,
            method: Scheme::Central,
            h: h.map(|h| Decimal::parse("step", h).unwrap()),
            estimate: String::new(),
            relerr,
            rounded_truth,
        }
    }

    /// A minimum at the first finite step or the last is a bound; inside, or f'(1.5) rounded, it
    /// is not; the sentence counts them, and says none when none is.
    #[test]
    fn edge_minima_are_marked_as_bounds() {
        let rows = [mrow(Some("1"), f64::NAN, false), mrow(Some("1e-1"), 1e-3, false), mrow(Some("1e-2"), 1e-2, false)];
        let b = Best::of(&rows.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(b.edge, Some(true));
        assert_eq!(b.cell(), "1.000000e-03 at 1e-1 (largest finite step: a bound)");
        let inside = [mrow(Some("1"), 1e-2, false), mrow(Some("1e-1"), 1e-3, false), mrow(Some("1e-2"), 1e-2, false)];
        let c = Best::of(&inside.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(c.edge, None);
        let last = [mrow(Some("1"), 1e-2, false), mrow(Some("1e-1"), 1e-3, true)];
        let d = Best::of(&last.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(d.edge, Some(false));
        assert_eq!(d.cell(), "1.000000e-03 at 1e-1 (f'(1.5) rounded to bf16)");
        let s = edge_sentence(&[(DType::BF16, vec![b, d])]);
        assert!(
            s.starts_with("2 of the 2 minima above sit on an edge of the steps with a finite error (1 at the largest"),
            "{s}"
        );
        assert!(s.ends_with("except 1 that is f'(1.5) rounded to the dtype, which no step can improve on."), "{s}");
        assert!(edge_sentence(&[(DType::BF16, vec![c])]).starts_with("Every one of the 1 minima above lies inside"));
    }

    /// The rounded-truth sentence lists the dtypes with such rows, or says there are none.
    #[test]
    fn the_rounded_truth_sentence_follows_the_counts() {
        let some = Rounded {
            dtype: DType::BF16,
            relerr: rounded_relerr(DType::BF16),
            by_method: vec![(Scheme::Central, 3, 40), (Scheme::Forward, 0, 40)],
        };
        let s = rounded_sentence(&[some]);
        assert!(s.ends_with("in bf16 3 of 80 rows (central 3 of 40; error 2.238132e-03)."), "{s}");
        let none = Rounded { dtype: DType::BF16, relerr: 0.0, by_method: vec![(Scheme::Central, 0, 40)] };
        assert_eq!(rounded_sentence(&[none]), "No estimate in any dtype is f'(1.5) rounded to that dtype.");
    }
}
