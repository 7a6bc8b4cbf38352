//! `consequences`: what training with each normalization of a token loss costs, against correct
//! training on the same data (issue #21): SGD for a fixed number of steps on the same batches,
//! the loss curves, the held-out loss and how far the parameters drift from correct training,
//! in f32 and bf16+f32, beside each dtype's own rounding (correct training in the dtype against
//! correct training in f64).
//!
//! Each step's gradient is the loop a framework writes ([`loop_grads`]) at K = 4 accumulation
//! steps and R = 2 ranks (for `partial_window` every step a last, partial window of 2 of the 4
//! micro-batches per rank); the batches are generated problems whose targets a fixed teacher
//! head draws (so there is something to learn), the same for every variant and dtype.

use gradlab::problem::SplitMix64;
use gradlab::scalar::Scalar;
use gradlab::tokens::weights::Variant;
use gradlab::tokens::{LengthDist, TokenProblem, IGNORE_INDEX};
use gradlab::train::tokens::loop_grads;
use gradlab::watch::Watch;
use gradlab_lab::claims::{and_list, times};
use gradlab_lab::experiments::normalization::{mistake_ink, rel_l2, structure, B, CLASSES, D, T};
use gradlab_lab::prelude::*;
use ndarray::{Array1, Array2};

/// The experiment.
pub struct Consequences;
/// SGD steps, the steps between two records, the learning rate.
const STEPS: usize = 30;
const EVERY: usize = 5;
const LR: &str = "0.5";
/// Accumulation steps K and ranks R of every step.
const K: usize = 4;
const R: usize = 2;
/// Held-out sequences.
const HELD_OUT: usize = 64;
/// The teacher's weights are uniform in +-TEACHER/sqrt(d).
const TEACHER: f64 = 3.0;
const SEEDS: u64 = 20;
const LAWS: [LengthDist; 2] = [LengthDist::Uniform, LengthDist::LongTailed];
/// The dtypes trained in (correct training in f64 is the reference).
const DTYPES: [DType; 2] = [DType::F32, DType::BF16_F32];

/// One record of one training run.
#[derive(Serialize, Deserialize)]
pub struct Row {
    lengths: LengthDist,
    seed: u64,
    dtype: DType,
    variant: Variant,
    step: usize,
    /// The token-mean loss of the step's batch at the parameters before the step (f64).
    train_loss: f32,
    /// The token-mean loss of the held-out sequences (f64).
    heldout_loss: f32,
    /// |theta - theta_ref| / |theta_ref|, theta_ref correct training in f64 (W and b).
    drift: f32,
}

/// A stream of its own for each (seed, use).
fn stream(seed: u64, what: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ what.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// The teacher head of a seed: weight k x d and bias k.
fn teacher(seed: u64) -> (Array2<f64>, Array1<f64>) {
    let mut rng = SplitMix64::new(stream(seed, 1));
    let bound = TEACHER / (D as f64).sqrt();
    let w = Array2::from_shape_fn((CLASSES, D), |_| (2.0 * rng.uniform() - 1.0) * bound);
    let b = Array1::from_shape_fn(CLASSES, |_| (2.0 * rng.uniform() - 1.0) * bound);
    (w, b)
}

/// The logits of a head at one position.
fn logits(w: &Array2<f64>, b: &Array1<f64>, x: ndarray::ArrayView1<f64>) -> Vec<f64> {
    (0..w.nrows()).map(|c| w.row(c).dot(&x) + b[c]).collect()
}

/// A generated problem of `seqs` sequences whose counted targets the teacher draws from its
/// softmax.
fn labelled(
    l: LengthDist,
    seqs: usize,
    seed: u64,
    what: u64,
    teacher: &(Array2<f64>, Array1<f64>),
) -> Result<TokenProblem> {
    let mut p = TokenProblem::generate(seqs, T, D, CLASSES, l, stream(seed, what))?;
    let mut rng = SplitMix64::new(stream(seed, what + 1_000_000));
    for s in 0..seqs {
        for t in 0..T {
            if p.t[[s, t]] == IGNORE_INDEX {
                continue;
            }
            let z = logits(&teacher.0, &teacher.1, p.x.slice(ndarray::s![s, t, ..]));
            let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
            let (total, mut u) = (e.iter().sum::<f64>(), rng.uniform());
            let mut class = CLASSES - 1;
            for (c, v) in e.iter().enumerate() {
                u -= v / total;
                if u < 0.0 {
                    class = c;
                    break;
                }
            }
            p.t[[s, t]] = class as i64;
        }
    }
    Ok(p)
}

/// The token-mean cross-entropy of a problem's counted tokens at (w, b), in f64.
fn mean_loss(p: &TokenProblem, w: &Array2<f64>, b: &Array1<f64>) -> f64 {
    let (mut total, mut n) = (0.0, 0usize);
    for s in 0..p.b() {
        for t in 0..p.t_len() {
            let c = p.t[[s, t]];
            if c == IGNORE_INDEX {
                continue;
            }
            let z = logits(w, b, p.x.slice(ndarray::s![s, t, ..]));
            let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = top + z.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
            total += lse - z[c as usize];
            n += 1;
        }
    }
    total / n as f64
}

/// One record of a run: the step, the losses and the parameters (W then b, f64).
struct Record {
    step: usize,
    train_loss: f64,
    heldout_loss: f64,
    params: Vec<f64>,
}

/// SGD with `variant`'s step in X: master parameters in X (f32 for bf16+f32, its passes using
/// them rounded to bf16, as [`gradlab::train::sgd`]), p = p - lr dp each rounded.
fn train<X: Scalar>(
    ctx: X::Ctx,
    variant: Variant,
    batches: &[TokenProblem],
    held: &TokenProblem,
) -> Result<Vec<Record>> {
    let lr = X::from_rational(Decimal::parse("lr", LR)?.value(), ctx);
    let mut mw = batches[0].weight.map(|&v| X::stored_from_f64(v, ctx));
    let mut mb = batches[0].bias.map(|&v| X::stored_from_f64(v, ctx));
    let s = structure(variant, K, R);
    let mut out = Vec::new();
    let mut tmp = X::zero(ctx);
    for (step, batch) in batches.iter().enumerate() {
        let stored = |m: &X| {
            let mut v = m.clone();
            v.store();
            v.to_f64()
        };
        let (w, b) = (mw.map(stored), mb.map(stored));
        if step % EVERY == 0 {
            let params = w.iter().chain(b.iter()).copied().collect();
            out.push(Record {
                step,
                train_loss: mean_loss(batch, &w, &b),
                heldout_loss: mean_loss(held, &w, &b),
                params,
            });
        }
        if step + 1 == batches.len() {
            break;
        }
        let mut p = batch.clone();
        (p.weight, p.bias) = (w, b);
        let g = loop_grads::<X>(&p, &s, variant, ctx, &Watch::unwatched())?;
        for (m, g) in mw.iter_mut().zip(g.weight.iter()).chain(mb.iter_mut().zip(g.bias.iter())) {
            tmp.set_mul(&lr, g);
            m.sub_assign(&tmp);
        }
    }
    Ok(out)
}

impl Experiment for Consequences {
    /// A length law, a seed, and whether the grid is the quick one.
    type Cell = (LengthDist, u64, bool);
    type Row = Row;

    const NAME: &'static str = "consequences";
    const DESCRIPTION: &'static str =
        "training with each normalization of a token loss (#21) against correct training \
         on the same batches (SGD, K = 4, R = 2): loss curves, held-out loss and parameter drift in f32 and bf16+f32, \
         beside each dtype's own rounding";

    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let seeds = if quick { 2 } else { SEEDS };
        LAWS.iter().flat_map(|&l| (1..=seeds).map(move |s| (l, s, quick))).collect()
    }

    fn run_cell(&self, &(l, seed, quick): &Self::Cell) -> Result<Vec<Row>> {
        let steps = if quick { 10 } else { STEPS };
        let t = teacher(seed);
        let batches: Vec<TokenProblem> =
            (0..=steps as u64).map(|i| labelled(l, B, seed, 10 + i, &t)).collect::<Result<_>>()?;
        let held = labelled(l, HELD_OUT, seed, 2, &t)?;
        let reference = train::<f64>((), Variant::Correct, &batches, &held)?;
        let mut runs = vec![(DType::F64, Variant::Correct, reference)];
        for dt in DTYPES {
            for &v in Variant::ALL {
                let rec = gradlab::with_dtype!(dt, |X, ctx| train::<X>(ctx, v, &batches, &held))?;
                runs.push((dt, v, rec));
            }
        }
        let mut rows = Vec::new();
        for (dtype, variant, recs) in &runs {
            for (rec, r) in recs.iter().zip(&runs[0].2) {
                rows.push(Row {
                    lengths: l,
                    seed,
                    dtype: *dtype,
                    variant: *variant,
                    step: rec.step,
                    train_loss: rec.train_loss as f32,
                    heldout_loss: rec.heldout_loss as f32,
                    drift: rel_l2(&rec.params, &r.params) as f32,
                });
            }
        }
        Ok(rows)
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let seeds = rows.iter().map(|r| r.seed).max().unwrap_or(0);
        let last = rows.iter().map(|r| r.step).max().unwrap_or(0);
        let end: Vec<&Row> = rows.iter().filter(|r| r.step == last).collect();
        let find = |r: &Row, dt: DType, v: Variant| {
            end.iter().find(|c| c.lengths == r.lengths && c.seed == r.seed && c.dtype == dt && c.variant == v).copied()
        };
        let f = |x: f32| f64::from(x);
        let table = md_table(
            "lengths | training | held-out loss | drift from correct f64 training | runs drifting further than the \
             correct run in its dtype",
            group_by(end.iter().copied(), |r| (r.lengths, order(r.dtype), r.variant)).iter().map(|((l, _, v), g)| {
                let dt = g[0].dtype;
                let loss = Spread::of(&values(g, |r| f(r.heldout_loss))).range_label(4);
                let drift = Spread::of(&values(g, |r| f(r.drift))).sci_range_label(2);
                let further = if g[0].dtype == DType::F64 || *v == Variant::Correct {
                    "-".to_string()
                } else {
                    let n = g
                        .iter()
                        .filter(|r| find(r, r.dtype, Variant::Correct).is_some_and(|c| r.drift > c.drift))
                        .count();
                    format!("{n} of {}", g.len())
                };
                md_row!["{}" l, "{}" format!("`{v}` in {dt}"), "{}" loss, "{}" drift, "{}" further]
            }),
        );
        let larger = DTYPES
            .iter()
            .map(|&dt| {
                let items: Vec<(Variant, usize, usize, f64)> = Variant::ALL[1..]
                    .iter()
                    .map(|&v| {
                        let mine: Vec<&&Row> = end.iter().filter(|r| r.dtype == dt && r.variant == v).collect();
                        let ratios: Vec<f64> = mine
                            .iter()
                            .filter_map(|r| find(r, dt, Variant::Correct).map(|c| f(r.drift) / f(c.drift)))
                            .collect();
                        (v, ratios.iter().filter(|&&x| x > 1.0).count(), ratios.len(), median(&ratios))
                    })
                    .collect();
                larger_sentence(dt, &items)
            })
            .collect::<Vec<_>>()
            .join(" ");
        let losses = DTYPES
            .iter()
            .map(|&dt| {
                let items: Vec<(Variant, usize, usize, f64)> = Variant::ALL[1..]
                    .iter()
                    .map(|&v| {
                        let d: Vec<f64> = end
                            .iter()
                            .filter(|r| r.dtype == dt && r.variant == v)
                            .filter_map(|r| {
                                find(r, dt, Variant::Correct).map(|c| f(r.heldout_loss) - f(c.heldout_loss))
                            })
                            .collect();
                        (v, d.iter().filter(|&&x| x > 0.0).count(), d.len(), median(&d))
                    })
                    .collect();
                loss_sentence(dt, &items)
            })
            .collect::<Vec<_>>()
            .join(" ");
        let mut figures = String::new();
        for dt in DTYPES {
            let fig = drift_figure(rows, LengthDist::LongTailed, dt, seeds);
            figures += &out.figure_md(&format!("consequences_drift_{}", dt.to_string().replace('+', "_")), &fig)?;
        }
        figures +=
            &out.figure_md("consequences_loss", &loss_figure(rows, LengthDist::LongTailed, DType::BF16_F32, seeds))?;
        let (b, t, d, classes, k, r, lr, held_out, teacher_scale) = (B, T, D, CLASSES, K, R, LR, HELD_OUT, TEACHER);
        fill(
            include_str!("consequences.md"),
            &vars![seeds, last, table, larger, losses, figures, b, t, d, classes, k, r, lr, held_out, teacher_scale],
        )
    }
}

/// The dtypes in table order: the f64 reference first, then [`DTYPES`].
fn order(dt: DType) -> usize {
    DTYPES.iter().position(|&d| d == dt).map_or(0, |i| i + 1)
}

/// Whether each mistake drifts further from correct f64 training than correct training in the
/// same dtype (its own rounding), from `(variant, runs further, runs, median drift ratio)`.
fn larger_sentence(dt: DType, items: &[(Variant, usize, usize, f64)]) -> String {
    let within: Vec<String> = items
        .iter()
        .filter(|i| i.1 < i.2)
        .map(|(v, k, n, m)| format!("`{v}` in {} of {n} runs (median ratio {})", n - k, times(*m)))
        .collect();
    let runs = items.first().map_or(0, |i| i.2);
    let ratios: Vec<f64> = items.iter().map(|i| i.3).collect();
    let (lo, hi) = ratios.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    if within.is_empty() {
        format!(
            "In {dt} every mistake moves the parameters further from correct training than {dt}'s own rounding does, \
             in all {runs} runs of each: the median ratio of the drifts is {} to {}.",
            times(lo),
            times(hi)
        )
    } else {
        format!(
            "In {dt} not every mistake is larger than {dt}'s own rounding: correct training in {dt} drifts as far or \
             further for {}.",
            and_list(&within)
        )
    }
}

/// How each mistake's held-out loss compares with correct training's in the same dtype, from
/// `(variant, runs with a higher loss, runs, median difference)`.
fn loss_sentence(dt: DType, items: &[(Variant, usize, usize, f64)]) -> String {
    let parts: Vec<String> = items.iter().map(|(v, k, n, m)| format!("`{v}` {m:+.4} (higher in {k} of {n})")).collect();
    format!(
        "Held-out loss after training in {dt}, minus correct training's in {dt} (median over runs): {}.",
        and_list(&parts)
    )
}

/// Each variant's drift from correct f64 training against the step, in `dt`, for the law `l`.
fn drift_figure(rows: &[Row], l: LengthDist, dt: DType, seeds: u64) -> Figure {
    let title = format!("How far training moves from correct training: {l} lengths, {dt}, K = {K}, R = {R}");
    let mut fig = Figure::new(title, "SGD step", "|θ − θ_ref| / |θ_ref|, θ_ref correct f64 training")
        .with_legend(LegendPos::Below)
        .with_caption(format!(
            "Median and range over {seeds} seeds, lr {LR}; correct training in {dt} is {dt}'s own rounding."
        ));
    fig.x_log = false;
    let sel = |v: Variant, d: DType| {
        rows.iter().filter(move |r| r.lengths == l && r.dtype == d && r.variant == v && r.step > 0)
    };
    for &v in &Variant::ALL[1..] {
        let pts = sel(v, dt).map(|r| (r.step as f64, f64::from(r.drift)));
        fig.series.push(median_with_range(|m| line(v.name(), mistake_ink(v, dt), m), pts));
    }
    let pts = sel(Variant::Correct, dt).map(|r| (r.step as f64, f64::from(r.drift)));
    fig.series.push(median_with_range(|m| line(&format!("correct in {dt} (its rounding)"), dtype_ink(dt), m), pts));
    fig
}

/// Each variant's held-out loss minus correct f64 training's (same seed and step) against the
/// step, in `dt`, with correct training in `dt` beside it.
fn loss_figure(rows: &[Row], l: LengthDist, dt: DType, seeds: u64) -> Figure {
    let title = format!("Held-out loss against correct training's: {l} lengths, {dt}, K = {K}, R = {R}");
    let mut fig = Figure::new(title, "SGD step", "held-out loss minus correct f64 training's")
        .with_legend(LegendPos::Below)
        .with_caption(format!("Median and range over {seeds} seeds, lr {LR}; the same batches for every run."));
    fig.x_log = false;
    fig.y_log = false;
    let reference = |r: &Row| {
        rows.iter()
            .find(|c| c.lengths == r.lengths && c.seed == r.seed && c.step == r.step && c.dtype == DType::F64)
            .map_or(f64::NAN, |c| f64::from(r.heldout_loss) - f64::from(c.heldout_loss))
    };
    let sel = |v: Variant| rows.iter().filter(move |r| r.lengths == l && r.dtype == dt && r.variant == v);
    for &v in &Variant::ALL[1..] {
        let pts: Vec<(f64, f64)> = sel(v).map(|r| (r.step as f64, reference(r))).collect();
        fig.series.push(median_with_range(|m| line(v.name(), mistake_ink(v, dt), m), pts));
    }
    let pts: Vec<(f64, f64)> = sel(Variant::Correct).map(|r| (r.step as f64, reference(r))).collect();
    fig.series.push(median_with_range(|m| line(&format!("correct in {dt} (its rounding)"), dtype_ink(dt), m), pts));
    fig
}

gradlab_lab::experiment_main!(Consequences);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_larger_sentence_follows_the_drifts() {
        let all = [(Variant::SequenceMean, 40, 40, 3.0), (Variant::DoubleNormalization, 40, 40, 150.0)];
        let s = larger_sentence(DType::BF16_F32, &all);
        assert!(s.starts_with("In bf16+f32 every mistake moves the parameters further"), "{s}");
        assert!(s.contains("in all 40 runs of each: the median ratio of the drifts is 3x to 150x"), "{s}");
        let some = [(Variant::SequenceMean, 31, 40, 1.2), (Variant::DoubleNormalization, 40, 40, 150.0)];
        let s = larger_sentence(DType::BF16_F32, &some);
        assert!(s.starts_with("In bf16+f32 not every mistake is larger than bf16+f32's own rounding"), "{s}");
        assert!(s.contains("`sequence_mean` in 9 of 40 runs (median ratio 1.2x)"), "{s}");
        assert!(!s.contains("double_normalization"), "{s}");
    }

    #[test]
    fn teacher_labels_are_deterministic_and_counted_positions_only() {
        let t = teacher(3);
        let a = labelled(LengthDist::LongTailed, 8, 3, 10, &t).unwrap();
        let b = labelled(LengthDist::LongTailed, 8, 3, 10, &t).unwrap();
        assert_eq!(a, b);
        let plain = TokenProblem::generate(8, T, D, CLASSES, LengthDist::LongTailed, stream(3, 10)).unwrap();
        assert_eq!(a.lengths(), plain.lengths());
        assert!(a.t.iter().all(|&c| c == IGNORE_INDEX || (0..CLASSES as i64).contains(&c)));
    }
}
