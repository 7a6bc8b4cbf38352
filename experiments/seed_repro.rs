//! `seed_repro`: the seed's protocol (Cross Validated question 491171) in f32 on gradlab's
//! problem: the accumulated x.grad, its fix and the logits check, beside the published table and
//! PyTorch's own run, with the elements whose loss goes flat and whose input dies.

use gradlab::check::{check_dtype, CheckConfig, CheckRow, Status};
use gradlab::error::Result;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::policy::truth_prec;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::theory::bound_model;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::grid::log_grid;
use gradlab_lab::peers::{published, pytorch, torch_version};
use gradlab_lab::plot::{
    category_ink, dtype_color, dtype_ink, Figure, LegendPos, BLACK, DARK_GREY, LIGHT_GREY, MEDIUM_GREY,
};
use gradlab_lab::report::{md_table, sci6};
use gradlab_lab::runner::{Experiment, Output};
use gradlab_lab::series::{dashed, line, points, reference};

/// The experiment.
pub struct SeedRepro;

/// The seed's problem: n samples of d features (two classes).
const N: usize = 10;
/// The seed's number of features.
const D: usize = 4;

/// The seed's three checks: x.grad accumulated (the bug), reset (the fix), and the logits.
const CHECKS: [(InputGrad, LinearTensor); 3] = [
    (InputGrad::Accumulate, LinearTensor::Input),
    (InputGrad::Reset, LinearTensor::Input),
    (InputGrad::Reset, LinearTensor::Logits),
];

impl Experiment for SeedRepro {
    type Cell = (InputGrad, LinearTensor);
    type Row = CheckRow;

    const NAME: &'static str = "seed_repro";
    const DESCRIPTION: &'static str = "the seed's check in f32 (accumulated x.grad, its fix, the logits) beside the \
         published table and PyTorch's run";
    fn cells(&self, _quick: bool) -> Vec<Self::Cell> {
        CHECKS.to_vec()
    }
    fn run_cell(&self, &(input_grad, wrt): &Self::Cell) -> Result<Vec<CheckRow>> {
        let cfg = CheckConfig {
            train: TrainConfig::seed(input_grad),
            truth: Some(truth_prec(&[DType::F32])),
            ..CheckConfig::seed(Scheme::Central, Steps::grid(log_grid(10, 4))?)
        };
        Ok(check_dtype(&Problem::generate(N, D, 2, 1)?, wrt, DType::F32, &cfg, &Watch::unwatched())?.rows)
    }
    fn row_is_nonfinite(&self, row: &CheckRow) -> bool {
        row.status != Status::Ok
    }

    fn finish(&self, _quick: bool, rows: &[CheckRow], out: &mut Output) -> Result<String> {
        let of =
            |(g, w): (InputGrad, LinearTensor)| rows.iter().filter(move |r| r.input_grad == g && r.wrt == w.name());
        let [acc, reset, logits] = CHECKS;
        let at = |c, eps: &Decimal| of(c).find(|r| r.eps.decimal().is_some_and(|h| h.value() == eps.value()));
        let y = |c, eps: &Decimal, f: fn(&CheckRow) -> f64| at(c, eps).map_or(f64::NAN, f);
        let curve = |c, f: fn(&CheckRow) -> f64| -> Vec<(f64, f64)> { of(c).map(|r| (r.eps.to_f64(), f(r))).collect() };
        let torch = pytorch();
        let torch_at = |eps: &Decimal| {
            torch
                .iter()
                .find(|t| t.dtype == "f32" && t.variant == "accumulate" && t.eps.value() == eps.value())
                .map_or(f64::NAN, |t| t.relerr_mean)
        };
        let count = |eps: &str| {
            let e = Decimal::parse("step", eps).unwrap_or_else(|_| unreachable!("a literal"));
            at(acc, &e).map_or((0, 0), |r| (r.loss_flat, r.dead_zone))
        };
        let ((f6, _), (f7, d7), (f8, d8)) = (count("1e-6"), count("1e-7"), count("1e-8"));
        // Which side the truth blames: the accumulated rows' analytic and numeric errors against
        // it on the plateau (eps >= 1e-4), and the ratio analytic / numeric there.
        let plateau: Vec<&CheckRow> = of(acc).filter(|r| r.eps.to_f64() >= 1e-4).collect();
        let blame = Blame {
            anal: plateau.iter().map(|r| r.anal_vs_truth).fold(f64::NAN, f64::max),
            num: plateau.iter().map(|r| r.num_vs_truth).fold(f64::NAN, f64::max),
            ratio: gradlab::metrics::median(&plateau.iter().map(|r| r.ratio_median).collect::<Vec<f64>>()),
        };
        // The largest step at which every element's numeric gradient is 0 (relative error 1).
        let zone = of(acc)
            .filter(|r| r.relerr_mean == 1.0)
            .max_by(|a, b| a.eps.to_f64().total_cmp(&b.eps.to_f64()))
            .map(|r| Zone { eps: r.eps.to_string(), flat: r.loss_flat, dead: r.dead_zone, elements: N * D });
        out.block("finding", &finding(&blame, zone.as_ref()))?;
        let blame = blame.sentence();
        let mut s = format!(
            "The seed's check in f32 (n = 10, d = 4, k = 2, E = 10, lr = 1e-3, seed 1; central differences) on gradlab's \
             problem, beside the question's published table (made on the asker's own random draw) and PyTorch's run of the \
             question's code on gradlab's problem (benches/peers/seed_table.py, torch {}; the `pytorch` section compares \
             the two). With x.grad accumulated over 10 epochs the relative error sits at 1 - 1/E = 0.9 from eps = 1e0 to \
             1e-4; below, the numeric gradient loses elements to the loss, not to the input: at 1e-6, {f6} of 40 elements \
             have a flat loss (x moved, but L(x + eps) and L(x - eps) rounded to the same value, so their difference is \
             exactly 0); at 1e-7 the relative error is exactly 1 with {f7} flat and {d7} dead (x + eps == x); only at 1e-8 \
             do most inputs stop moving ({d8} dead, {f8} flat). {blame} `num_vs_truth` and `anal_vs_truth` are the \
             ordinary relative error |v - t| / |t| against the truth t (no cap: a gradient c times the truth reads \
             c - 1). `gradlab check --input-grad accumulate` prints these rows.\n\n",
            torch_version()
        );
        s.push_str(&md_table(
            "eps | published | PyTorch | gradlab accumulated | flat / dead | gradlab reset | reset num_vs_truth | anal_vs_truth | ratio",
            published("input_accumulated").iter().map(|p| {
                let r = at(acc, &p.eps);
                vec![
                    p.eps.to_string(),
                    sci6(p.relerr_mean),
                    sci6(torch_at(&p.eps)),
                    sci6(y(acc, &p.eps, |r| r.relerr_mean)),
                    r.map_or("-".into(), |r| format!("{} / {}", r.loss_flat, r.dead_zone)),
                    sci6(y(reset, &p.eps, |r| r.relerr_mean)),
                    sci6(y(reset, &p.eps, |r| r.num_vs_truth)),
                    sci6(y(acc, &p.eps, |r| r.anal_vs_truth)),
                    format!("{:.3}", y(acc, &p.eps, |r| r.ratio_median)),
                ]
            }),
        ));
        s.push_str("\nThe logits check (y.grad is not accumulated), f32:\n\n");
        s.push_str(&md_table(
            "eps | published | gradlab",
            published("logits")
                .iter()
                .map(|p| vec![p.eps.to_string(), sci6(p.relerr_mean), sci6(y(logits, &p.eps, |r| r.relerr_mean))]),
        ));
        let published_points = |check: &str| published(check).iter().map(|p| (p.eps.to_f64(), p.relerr_mean)).collect();

        // The seed's curve and the two regimes, on a linear axis where 0.9 and 1 are apart.
        let mut fig = Figure::new(
            "The seed's curve in f32: plateau, then the loss goes flat, then the input dies",
            "step eps",
            "mean relative error; fraction of elements",
        );
        let plateau = of(acc).filter(|r| r.eps.to_f64() >= 1e-4).map(|r| (r.eps.to_f64(), 0.9)).collect();
        fig.series.push(line(
            "gradlab, f32: mean relative error",
            dtype_ink(DType::F32),
            curve(acc, |r| r.relerr_mean),
        ));
        // Over the curve, which sits on it.
        fig.series.push(dashed("plateau 1 - 1/E = 0.9", DARK_GREY, plateau));
        fig.series.push(reference("published (Cross Validated 491171)", BLACK, published_points("input_accumulated")));
        fig.series.push(points(
            "PyTorch on gradlab's problem",
            dtype_ink(DType::F32).hollow(),
            torch
                .iter()
                .filter(|t| t.dtype == "f32" && t.variant == "accumulate")
                .map(|t| (t.eps.to_f64(), t.relerr_mean))
                .collect(),
        ));
        fig.series.push(line(
            "fraction of elements: flat loss",
            category_ink(3, DType::F32),
            curve(acc, |r| r.loss_flat as f64 / 40.0),
        ));
        fig.series.push(line(
            "fraction of elements: dead input",
            category_ink(4, DType::F32),
            curve(acc, |r| r.dead_zone as f64 / 40.0),
        ));
        fig.y_log = false;
        fig.legend_pos = LegendPos::Below;
        // The largest step with some element flat, and with some element dead.
        let first = |count: fn(&CheckRow) -> usize| {
            of(acc).filter(|r| count(r) > 0).map(|r| r.eps.to_f64()).fold(f64::NAN, f64::max)
        };
        let (flat_from, dead_from) = (first(|r| r.loss_flat), first(|r| r.dead_zone));
        fig.caption = Some(format!(
            "eps >= 1e-4: plateau at 0.9; then L(x + eps) and L(x - eps) round to one value (flat loss, from eps = \
             {flat_from:.2e}) {:.2} decades before x + eps == x (dead input, from {dead_from:.2e})",
            (flat_from / dead_from).log10()
        ));
        s.push_str(&out.figure_md("seed_repro_regimes", &fig)?);

        // The bug's plateau beside the fix's V, with the published points and the bound's lines.
        let mut fig = Figure::new(
            "The seed's check in f32: accumulated x.grad vs the fix (n=10, d=4, k=2, E=10, lr=1e-3)",
            "step eps",
            "mean relative error (numeric vs analytic)",
        );
        let fixed = curve(reset, |r| r.relerr_mean);
        fig.series.push(line(
            "accumulated x.grad (the seed's bug)",
            category_ink(0, DType::F32),
            curve(acc, |r| r.relerr_mean),
        ));
        fig.series.push(line("x.grad reset (the fix)", category_ink(1, DType::F32), fixed.clone()));
        fig.series.push(line("logits (y.grad)", category_ink(2, DType::F32), curve(logits, |r| r.relerr_mean)));
        fig.series.push(reference("published, accumulated", BLACK, published_points("input_accumulated")));
        fig.series.push(reference("published, logits", MEDIUM_GREY, published_points("logits")));
        let bound = bound_model(
            &Problem::generate(N, D, 2, 1)?,
            &TrainConfig::seed(InputGrad::Reset),
            Scheme::Central,
            LinearTensor::Input,
        );
        let u = DType::F32.unit_roundoff();
        fig.series.push(dashed(
            "truncation T h^2",
            LIGHT_GREY,
            fixed.iter().map(|&(h, _)| (h, bound.truncation(h))).filter(|p| p.1 >= 1e-6).collect(),
        ));
        fig.series.push(dashed(
            "rounding bound R u/h (f32)",
            dtype_color(DType::F32),
            fixed.iter().map(|&(h, _)| (h, bound.rounding(h, u))).filter(|p| p.1 <= 1.0).collect(),
        ));
        fig.legend_pos = LegendPos::LowerLeft;
        fig.caption = Some("The fix (x.grad reset) and the logits check show the V: truncation error falls with eps, rounding error ~ u/eps rises.".into());
        s.push_str(&out.figure_md("seed_repro", &fig)?);
        Ok(s)
    }
}

/// The accumulated check's errors against the truth on the plateau (the largest over its
/// steps): the analytic gradient's, the numeric gradient's, and the median ratio analytic /
/// numeric.
struct Blame {
    anal: f64,
    num: f64,
    ratio: f64,
}

/// The largest step at which the accumulated check's numeric gradient is 0 in every element:
/// how many elements have a flat loss and how many a dead input there.
struct Zone {
    eps: String,
    flat: usize,
    dead: usize,
    elements: usize,
}

/// The report's first two key findings, written from the numbers: which gradient the truth
/// blames for the question's 0.9, and what zeroes the numeric gradient at small steps (the loss
/// going flat when more elements are flat than dead, the input dying otherwise).
fn finding(b: &Blame, zone: Option<&Zone>) -> String {
    let first = match b.blamed() {
        Some("analytic") => format!(
            "- The question's 0.9 is the analytic gradient, summed over {} epochs: analytic / numeric = {:.2} on \
             the plateau, and the analytic gradient is {:.2} off the MPFR truth while the numeric one is within \
             {:.1e} of it (`gradlab check --input-grad accumulate`; seed_repro).",
            TrainConfig::seed(InputGrad::Accumulate).epochs,
            b.ratio,
            b.anal,
            b.num
        ),
        Some(_) => format!(
            "- On gradlab's problem the question's 0.9 comes from the numeric gradient: it is up to {:.2} off the \
             MPFR truth on the plateau, the analytic one within {:.1e} (seed_repro).",
            b.num, b.anal
        ),
        None => format!(
            "- On gradlab's problem the MPFR truth does not single out the analytic or the numeric gradient for the \
             question's 0.9 (`anal_vs_truth` {:.2e}, `num_vs_truth` up to {:.2e}; seed_repro).",
            b.anal, b.num
        ),
    };
    let second = match zone {
        Some(z) if z.flat > z.dead => format!(
            "- Its relative error of 1 at small steps is the loss going flat before the input dies: at eps = {} in \
             f32, {} of {} elements still move x but every stencil point's loss rounds to the same value, and {} have \
             x + eps == x (`gradlab check --eps 1e-6,1e-7,1e-8`; seed_repro, regimes).",
            z.eps, z.flat, z.elements, z.dead
        ),
        Some(z) => format!(
            "- Its relative error of 1 at small steps is the input dying: at eps = {} in f32, {} of {} elements have \
             x + eps == x and {} a flat loss (`gradlab check --eps 1e-6,1e-7,1e-8`; seed_repro, regimes).",
            z.eps, z.dead, z.elements, z.flat
        ),
        None => "- No step of the seed's grid zeroes the numeric gradient in every element (seed_repro).".into(),
    };
    format!("{first}\n{second}\n")
}

impl Blame {
    /// The gradient the truth blames, by the rule of [`Blame::sentence`].
    fn blamed(&self) -> Option<&'static str> {
        let (a, n) = (self.anal, self.num);
        if a > 0.01 && a > 100.0 * n {
            Some("analytic")
        } else if n > 0.01 && n > 100.0 * a {
            Some("numeric")
        } else {
            None
        }
    }

    /// Which gradient the truth says is wrong, written from the numbers: the one at least 100
    /// times further from the truth than the other, and more than 1 % from it.
    fn sentence(&self) -> String {
        let (a, n) = (self.anal, self.num);
        if self.blamed() == Some("analytic") {
            format!(
                "The MPFR truth shows the analytic gradient is the wrong one (`anal_vs_truth` = {a:.2} with \
                 analytic / numeric = {:.2}) while the numeric gradient is within {n:.1e} of the truth on the plateau.",
                self.ratio
            )
        } else if self.blamed() == Some("numeric") {
            format!(
                "The MPFR truth shows the numeric gradient is the wrong one (`num_vs_truth` up to {n:.2} on the \
                 plateau) while the analytic gradient is within {a:.1e} of the truth."
            )
        } else {
            format!(
                "The MPFR truth does not single out one gradient: on the plateau `anal_vs_truth` is {a:.2e} and \
                 `num_vs_truth` up to {n:.2e}."
            )
        }
    }
}

gradlab_lab::experiment_main!(SeedRepro);

#[cfg(test)]
mod tests {
    use super::{finding, Blame, Zone};

    /// The key findings name the blamed gradient and the zone's cause the numbers call for.
    #[test]
    fn findings_follow_the_numbers() {
        let analytic = Blame { anal: 9.0, num: 1e-4, ratio: 10.03 };
        let flat = Zone { eps: "1e-7".into(), flat: 39, dead: 1, elements: 40 };
        let s = finding(&analytic, Some(&flat));
        assert!(s.contains("0.9 is the analytic gradient, summed over 10 epochs: analytic / numeric = 10.03"), "{s}");
        assert!(s.contains("the loss going flat before the input dies: at eps = 1e-7 in f32, 39 of 40"), "{s}");
        let dead = Zone { eps: "1e-8".into(), flat: 8, dead: 32, elements: 40 };
        let s = finding(&Blame { anal: 1e-7, num: 0.5, ratio: 1.0 }, Some(&dead));
        assert!(s.contains("comes from the numeric gradient"), "{s}");
        assert!(s.contains("is the input dying: at eps = 1e-8 in f32, 32 of 40"), "{s}");
        let s = finding(&Blame { anal: 1e-7, num: 1e-6, ratio: 1.0 }, None);
        assert!(s.contains("does not single out") && s.contains("No step of the seed's grid"), "{s}");
    }

    /// Each of the three sentences appears when the numbers call for it.
    #[test]
    fn the_truth_blames_the_gradient_the_numbers_say() {
        let s = Blame { anal: 9.0, num: 1e-4, ratio: 10.03 }.sentence();
        assert!(
            s.starts_with("The MPFR truth shows the analytic gradient is the wrong one (`anal_vs_truth` = 9.00"),
            "{s}"
        );
        let s = Blame { anal: 1e-7, num: 0.5, ratio: 1.0 }.sentence();
        assert!(s.starts_with("The MPFR truth shows the numeric gradient is the wrong one"), "{s}");
        let s = Blame { anal: 1e-7, num: 1e-6, ratio: 1.0 }.sentence();
        assert!(s.starts_with("The MPFR truth does not single out one gradient"), "{s}");
    }
}
