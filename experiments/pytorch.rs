//! `pytorch`: PyTorch's own run of the question's code on gradlab's problem beside gradlab's
//! check, in f32 and f64, and where the two part, measured by swapping one ingredient of
//! gradlab's arithmetic at a time for PyTorch's (benches/peers/seed_table.py).

use gradlab::check::{check_dtype, CheckConfig, CheckRow};
use gradlab::error::Result;
use gradlab::exact::parse_list;
use gradlab::lab::peers::{parting, pytorch, torch_version, write_pytorch};
use gradlab::lab::plot::{dtype_color, Figure, LegendPos};
use gradlab::lab::report::{md_table, sci6};
use gradlab::lab::runner::{Experiment, Output};
use gradlab::lab::series::{line, points};
use gradlab::method::Scheme;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};

/// The experiment.
pub struct Pytorch;

/// The question's steps.
const STEPS: &str = "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8";

impl Experiment for Pytorch {
    type Cell = (DType, InputGrad);
    type Row = CheckRow;

    const NAME: &'static str = "pytorch";
    const DESCRIPTION: &'static str = "PyTorch's own run of the question's code on gradlab's problem, beside \
         gradlab's check, and where the two part";
    fn cells(&self, _quick: bool) -> Vec<Self::Cell> {
        [DType::F32, DType::F64].into_iter().flat_map(|dt| InputGrad::ALL.iter().map(move |&g| (dt, g))).collect()
    }
    fn run_cell(&self, &(dt, input_grad): &Self::Cell) -> Result<Vec<CheckRow>> {
        let cfg = CheckConfig {
            train: TrainConfig::seed(input_grad),
            ..CheckConfig::seed(Scheme::Central, parse_list("step", STEPS)?)
        };
        Ok(check_dtype(&Problem::generate(10, 4, 2, 1)?, dt, &cfg)?.rows)
    }

    fn finish(&self, _quick: bool, rows: &[CheckRow], out: &mut Output) -> Result<String> {
        let torch = pytorch();
        let mut s = format!(
            "PyTorch {} runs the question's code (benches/peers/seed_table.py) on gradlab's problem (n = 10, d = 4, k = 2, \
             seed 1): 10 epochs of SGD at lr = 1e-3, then the question's double loop of central differences, with x.grad \
             accumulated (the question's bug) or reset. Mean relerr, PyTorch beside gradlab (in parentheses, the elements \
             whose numeric gradient is exactly 0):\n\n",
            torch_version()
        );
        let table = rows.iter().map(|r| {
            let t = torch.iter().find(|t| {
                t.dtype == r.dtype.name() && t.variant == r.input_grad.name() && t.eps.value() == r.eps.value()
            });
            vec![
                r.dtype.to_string(),
                r.input_grad.to_string(),
                r.eps.to_string(),
                t.map_or("-".into(), |t| format!("{} ({})", sci6(t.relerr_mean), t.numeric_zero)),
                format!("{} ({})", sci6(r.relerr_mean), r.loss_flat + r.dead_zone),
            ]
        });
        s.push_str(&md_table("dtype | x.grad | eps | PyTorch | gradlab", table));
        let part = parting();
        let cell = |v: &str, e: &str| {
            part.iter()
                .find(|r| r.variant == v && r.eps.text() == e)
                .map_or("-".into(), |r| format!("{:.4} ({})", r.relerr_mean, r.numeric_zero))
        };
        let steps = ["1e-4", "1e-5", "1e-6", "1e-7"];
        let same = |v: &str| steps.iter().all(|e| cell(v, e) == cell("gradlab", e));
        // In f64 both sit at the level of the rounding error below the optimum; how far apart there.
        let f64_gap = rows
            .iter()
            .filter(|r| r.dtype == DType::F64 && r.input_grad == InputGrad::Reset && r.eps.to_f64() <= 1e-4)
            .filter_map(|r| {
                torch
                    .iter()
                    .find(|t| t.dtype == "f64" && t.variant == "reset" && t.eps.value() == r.eps.value())
                    .map(|t| (t.relerr_mean / r.relerr_mean).max(r.relerr_mean / t.relerr_mean))
            })
            .fold(1.0f64, f64::max);
        s.push_str(&format!(
            "\nThey agree on the plateau in both dtypes; below it, both see rounding noise of the same size but not the \
             same noise (in f64 up to a factor {f64_gap:.2} apart at steps of 1e-4 and below), and in f32 they part where the \
             losses go flat. "
        ));
        s.push_str(
            "Where they part was measured, not guessed: the \
             script emulates gradlab's float32 arithmetic in numpy (it reproduces gradlab's table at every step, checked \
             against `gradlab check --format csv`) and swaps one ingredient at a time for PyTorch's: the quotient in float64 \
             as the question's Python computes it (`quotient64`), PyTorch's per-sample losses (`torch_loss`), PyTorch's \
             mean of them (`torch_mean`), PyTorch's logits (`torch_logits`, its linear layer's matrix product), and all of \
             PyTorch (`torch`). Accumulated x.grad, f32, mean relerr (elements whose numeric gradient is exactly 0):\n\n",
        );
        let variants = ["gradlab", "quotient64", "torch_loss", "torch_mean", "torch_logits", "torch"];
        s.push_str(&md_table(
            "variant | 1e-4 | 1e-5 | 1e-6 | 1e-7",
            variants.iter().map(|v| std::iter::once(v.to_string()).chain(steps.iter().map(|e| cell(v, e))).collect()),
        ));
        s.push_str(&format!(
            "\nThe float64 quotient {} gradlab's table{}; the differences come from the rounding of the losses themselves: \
             PyTorch's matrix product and its mean each round L(x ± eps) differently, which in the rounding zone (where \
             L(x + eps) - L(x - eps) is a few ulps of L) changes which elements' losses come out equal.\n",
            if same("quotient64") { "does not change" } else { "changes" },
            if same("torch_loss") { " and neither do PyTorch's per-sample losses" } else { ", PyTorch's per-sample losses change it little" },
        ));
        let mut fig = Figure::new(
            "The question's code in PyTorch (points) and gradlab's check (lines), x.grad reset",
            "step eps",
            "mean relative error",
        );
        for dt in [DType::F32, DType::F64] {
            let mine = rows.iter().filter(|r| r.dtype == dt && r.input_grad == InputGrad::Reset);
            fig.series.push(line(
                &format!("gradlab {dt}"),
                dtype_color(dt),
                mine.map(|r| (r.eps.to_f64(), r.relerr_mean)).collect(),
            ));
            let theirs = torch.iter().filter(|t| t.dtype == dt.name() && t.variant == "reset");
            fig.series.push(points(
                &format!("PyTorch {dt}"),
                dtype_color(dt),
                theirs.map(|t| (t.eps.to_f64(), t.relerr_mean)).collect(),
            ));
        }
        fig.legend_pos = LegendPos::Auto;
        s.push_str(&out.figure_md("pytorch", &fig)?);
        write_pytorch(out)?;
        Ok(s)
    }
}

gradlab::experiment_main!(Pytorch);
