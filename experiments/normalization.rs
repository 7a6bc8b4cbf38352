//! `normalization`: what each way of normalizing a token loss over micro-batches and ranks does
//! to one training step's gradient, against the correct global token mean (issue #21).
//!
//! Per (length law, seed) one generated problem of B sequences, its exact per-sequence gradients
//! computed once in MPFR ([`exact_sequence_grads`]); every variant's exact step gradient is then
//! sum_s w_s S_s with its exact sequence weights (the mistake alone, no rounding), and its loop as
//! a framework writes it runs in f32, bf16 and bf16+f32 ([`loop_grads`]). Errors are relative L2
//! errors of the parameters' gradient (W and b) against the correct exact gradient.

use gradlab::policy::TRUTH_BITS;
use gradlab::scalar::Prec;
use gradlab::tokens::weights::{sequence_weights, Structure, Variant};
use gradlab::tokens::{LengthDist, TokenProblem};
use gradlab::train::tokens::{exact_sequence_grads, loop_grads, weighted_sequence_sum, StepGrads};
use gradlab::watch::Watch;
use gradlab_lab::claims::{and_list, times};
use gradlab_lab::prelude::*;
use rug::{Float, Rational};

/// The experiment.
pub struct Normalization;
/// Sequences B, positions T, features d, classes k: B = 32 lets K R = 32 micro-batches hold one
/// sequence each.
pub const B: usize = 32;
/// Positions per sequence T.
pub const T: usize = 16;
/// Input features d.
pub const D: usize = 8;
/// Classes k.
pub const CLASSES: usize = 4;
/// The configured accumulation steps K and data-parallel ranks R of the grid.
const KS: [usize; 4] = [1, 2, 4, 8];
const RS: [usize; 3] = [1, 2, 4];
const SEEDS: u64 = 20;
/// The structure whose per-sequence weights the CSV lists (and the weight figures show).
const WEIGHT_K: usize = 4;
const WEIGHT_R: usize = 2;
/// The loops' dtypes.
const DTYPES: [DType; 3] = [DType::F32, DType::BF16, DType::BF16_F32];

/// The step of `variant` at K, R: B sequences in K R equal micro-batches (full windows); for
/// `partial_window` the last, partial window of an epoch: max(1, K/2) micro-batches per rank of
/// the configured K, each twice as large (K = 1 has no partial window).
pub fn structure(variant: Variant, k: usize, r: usize) -> Structure {
    let m = if variant == Variant::PartialWindow { (k / 2).max(1) } else { k };
    Structure { microbatches: vec![B / (m * r); m * r], accumulation: k, ranks: r }
}

/// The ink of a mistake in figures comparing the variants: the category colours in order, deep
/// pink left out (beside magenta it reads as one colour), the dtype's marker shape.
pub fn mistake_ink(v: Variant, dt: DType) -> Ink {
    let i = Variant::ALL.iter().position(|&x| x == v).unwrap_or(0).saturating_sub(1);
    category_ink(if i >= 5 { i + 1 } else { i }, dt)
}

/// The parameters' gradient (W row by row, then b) as f64 values.
pub fn flat<T: gradlab::scalar::Scalar>(g: &StepGrads<T>) -> Vec<f64> {
    g.weight.iter().chain(g.bias.iter()).map(|v| v.to_f64()).collect()
}

/// The relative L2 error |a - b| / |b| of f64 vectors.
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let n: f64 = b.iter().map(|y| y * y).sum();
    (d / n).sqrt()
}

/// The relative L2 error of exact gradients, computed in MPFR (0 exactly when they are equal).
fn rel_l2_exact(a: &StepGrads<Float>, b: &StepGrads<Float>) -> f64 {
    let bits = TRUTH_BITS;
    let (mut d, mut n) = (Float::new(bits), Float::new(bits));
    let pairs = a.weight.iter().zip(&b.weight).chain(a.bias.iter().zip(&b.bias));
    for (x, y) in pairs {
        let diff = Float::with_val(bits, x - y);
        d += Float::with_val(bits, &diff * &diff);
        n += Float::with_val(bits, y * y);
    }
    Float::with_val(bits, d / n).sqrt().to_f64()
}

gradlab::named_enum! {
    /// What a row holds.
    pub enum Kind("kind") {
        /// One variant's step gradient at one K, R: its errors against the truth.
        Gradient = "gradient",
        /// The weight of one variant's tokens of one sequence length (at K = 4, R = 2).
        Weight = "weight",
    }
}

/// One row: a variant's gradient at (lengths, seed, K, R), or its tokens' weight at one length.
#[derive(Serialize, Deserialize)]
pub struct Row {
    kind: Kind,
    lengths: LengthDist,
    seed: u64,
    k: usize,
    r: usize,
    variant: Variant,
    /// The step's counted tokens N.
    tokens: usize,
    /// Relative L2 error of the exact gradient against the correct exact one: the mistake alone.
    exact: Option<f32>,
    /// The loop's relative error against the correct exact gradient, in f32, bf16 and bf16+f32.
    f32: Option<f32>,
    bf16: Option<f32>,
    bf16_f32: Option<f32>,
    /// The smallest and largest N w of the step's tokens (1 for the correct weight 1/N).
    weight_min: Option<f32>,
    weight_max: Option<f32>,
    /// Whether every token's exact weight equals the correct one, 1/N.
    weights_equal: Option<bool>,
    /// A weight row: a sequence length, N w of its tokens, and how many sequences have both.
    length: Option<usize>,
    weight: Option<f32>,
    sequences: Option<usize>,
}

impl Row {
    fn base(kind: Kind, lengths: LengthDist, seed: u64, k: usize, r: usize, variant: Variant, tokens: usize) -> Row {
        Row {
            kind,
            lengths,
            seed,
            k,
            r,
            variant,
            tokens,
            exact: None,
            f32: None,
            bf16: None,
            bf16_f32: None,
            weight_min: None,
            weight_max: None,
            weights_equal: None,
            length: None,
            weight: None,
            sequences: None,
        }
    }

    /// The loop's error in `dt` (NaN for a dtype the grid does not run).
    pub fn loop_error(&self, dt: DType) -> f64 {
        let v = match dt {
            DType::F32 => self.f32,
            DType::BF16 => self.bf16,
            _ if dt == DType::BF16_F32 => self.bf16_f32,
            _ => None,
        };
        v.map_or(f64::NAN, f64::from)
    }
}

/// The loop's gradient of `variant` with structure `s` in `dt`, as f64 values.
fn loop_in(dt: DType, p: &TokenProblem, s: &Structure, v: Variant) -> Result<Vec<f64>> {
    let w = Watch::unwatched();
    gradlab::with_dtype!(dt, |X, ctx| loop_grads::<X>(p, s, v, ctx, &w).map(|g| flat(&g)))
}

impl Experiment for Normalization {
    /// A length law and a seed.
    type Cell = (LengthDist, u64, bool);
    type Row = Row;

    const NAME: &'static str = "normalization";
    const DESCRIPTION: &'static str = "each normalization of a token loss over micro-batches and ranks (#21): its \
         step gradient's error against the correct global token mean and its per-token weights against sequence \
         length, for equal, uniform and long-tailed lengths, K in 1-8, R in 1-4, f32, bf16 and bf16+f32";

    fn cells(&self, quick: bool) -> Vec<Self::Cell> {
        let seeds = if quick { 2 } else { SEEDS };
        LengthDist::ALL.iter().flat_map(|&l| (1..=seeds).map(move |s| (l, s, quick))).collect()
    }

    fn run_cell(&self, &(lengths, seed, quick): &Self::Cell) -> Result<Vec<Row>> {
        let p = TokenProblem::generate(B, T, D, CLASSES, lengths, seed)?;
        let prec = Prec::of(TRUTH_BITS);
        let per_seq = exact_sequence_grads::<f64>(&p, (), prec, &Watch::unwatched())?;
        let lens = p.lengths();
        let n = p.n_tokens();
        let correct_w = sequence_weights(&lens, &Structure::full_batch(B), Variant::Correct)?;
        let truth = weighted_sequence_sum(&per_seq, &correct_w, prec)?;
        let truth64: Vec<f64> = flat(&truth);
        let (ks, rs): (&[usize], &[usize]) = if quick { (&[1, 4], &[1, 2]) } else { (&KS, &RS) };
        let mut rows = Vec::new();
        for &k in ks {
            for &r in rs {
                for &v in Variant::ALL {
                    let s = structure(v, k, r);
                    let ws = sequence_weights(&lens, &s, v)?;
                    let exact = weighted_sequence_sum(&per_seq, &ws, prec)?;
                    let rel: Vec<f64> = ws.iter().map(|w| (w * Rational::from(n as u64)).to_f64()).collect();
                    let mut row = Row::base(Kind::Gradient, lengths, seed, k, r, v, n);
                    row.exact = Some(rel_l2_exact(&exact, &truth) as f32);
                    let errs: Vec<f64> = DTYPES
                        .iter()
                        .map(|&dt| Ok(rel_l2(&loop_in(dt, &p, &s, v)?, &truth64)))
                        .collect::<Result<_>>()?;
                    (row.f32, row.bf16, row.bf16_f32) =
                        (Some(errs[0] as f32), Some(errs[1] as f32), Some(errs[2] as f32));
                    row.weight_min = Some(rel.iter().copied().fold(f64::INFINITY, f64::min) as f32);
                    row.weight_max = Some(rel.iter().copied().fold(f64::NEG_INFINITY, f64::max) as f32);
                    row.weights_equal = Some(ws == correct_w);
                    rows.push(row);
                    if (k, r) == (WEIGHT_K, WEIGHT_R) {
                        // One row per distinct (length, weight), with how many sequences have it.
                        let mut seen: Vec<(usize, f32, usize)> = Vec::new();
                        for (&l, &w) in lens.iter().zip(&rel) {
                            match seen.iter_mut().find(|(sl, sw, _)| *sl == l && *sw == w as f32) {
                                Some(e) => e.2 += 1,
                                None => seen.push((l, w as f32, 1)),
                            }
                        }
                        seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                        for (l, w, c) in seen {
                            let mut row = Row::base(Kind::Weight, lengths, seed, k, r, v, n);
                            (row.length, row.weight, row.sequences) = (Some(l), Some(w), Some(c));
                            rows.push(row);
                        }
                    }
                }
            }
        }
        Ok(rows)
    }

    fn finish(&self, _quick: bool, rows: &[Row], out: &mut Output) -> Result<String> {
        let grads: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Gradient).collect();
        let seeds = grads.iter().map(|r| r.seed).max().unwrap_or(0);
        let (k_max, r_max) =
            (grads.iter().map(|r| r.k).max().unwrap_or(1), grads.iter().map(|r| r.r).max().unwrap_or(1));
        let at = |r: &&Row| r.k == WEIGHT_K.min(k_max) && r.r == WEIGHT_R.min(r_max);
        let (fig_k, fig_r) = (WEIGHT_K.min(k_max), WEIGHT_R.min(r_max));
        // The table: per length law and variant.
        let table = md_table(
            "lengths | variant | (K, R) with exactly the correct weights | N w of a token: min to max | error (exact \
             arithmetic) | in f32 | in bf16 | in bf16+f32 | largest median error (K, R)",
            group_by(grads.iter().copied(), |r| (r.lengths, r.variant)).iter().map(|((l, v), g)| {
                let harmless = harmless_structures(g);
                let here: Vec<&Row> = g.iter().copied().filter(at).collect();
                let spread = |f: &dyn Fn(&Row) -> f64| Spread::of(&values(&here, |r| f(r))).sci_range_label(2);
                let wmin = here.iter().filter_map(|r| r.weight_min).fold(f32::INFINITY, f32::min);
                let wmax = here.iter().filter_map(|r| r.weight_max).fold(f32::NEG_INFINITY, f32::max);
                let worst = group_by(g.iter().copied(), |r| (r.k, r.r))
                    .into_iter()
                    .map(|(kr, v)| (median(&values(&v, |r| f64::from(r.exact.unwrap_or(f32::NAN)))), kr))
                    .fold((f64::NEG_INFINITY, (0, 0)), |a, b| if b.0 > a.0 { b } else { a });
                let worst = if *v == Variant::Correct {
                    "-".to_string()
                } else {
                    format!("{:.3e} ({}, {})", worst.0, worst.1 .0, worst.1 .1)
                };
                md_row!["{}" l, "`{}`" v, "{}" harmless, "{}" format!("{wmin:.3} to {wmax:.3}"),
                    "{}" spread(&|r| f64::from(r.exact.unwrap_or(f32::NAN))),
                    "{}" spread(&|r| r.loop_error(DType::F32)), "{}" spread(&|r| r.loop_error(DType::BF16)),
                    "{}" spread(&|r| r.loop_error(DType::BF16_F32)),
                    "{}" worst]
            }),
        );
        // Exactly harmless at equal lengths: from the exact weights.
        let equal: Vec<&Row> = grads.iter().copied().filter(|r| r.lengths == LengthDist::Equal).collect();
        let harmless = harmless_sentence(
            &Variant::ALL[1..]
                .iter()
                .map(|&v| {
                    let of: Vec<&&Row> = equal.iter().filter(|r| r.variant == v).collect();
                    (v, of.iter().filter(|r| r.weights_equal == Some(true)).count(), of.len())
                })
                .collect::<Vec<_>>(),
        );
        // Where the weights are correct, is the loop the correct loop bit for bit?
        let same_bits = bits_sentence(&same_bits_cases(&grads));
        // Where they are not, is the mistake larger than the dtype's own rounding?
        let beyond = DTYPES.iter().map(|&dt| beyond_sentence(dt, &beyond_cases(&grads, dt))).collect::<Vec<_>>();
        let beyond = beyond.join(" ");
        // The dtypes' own rounding: the correct loop's error.
        let own = DTYPES
            .iter()
            .map(|&dt| {
                let e = values(&grads.iter().filter(|r| r.variant == Variant::Correct).collect::<Vec<_>>(), |r| {
                    r.loop_error(dt)
                });
                format!("{dt} {}", Spread::of(&e).sci_range_label(1))
            })
            .collect::<Vec<_>>();
        let own = and_list(&own);
        let largest = largest_sentence(&grads);
        // Figures: the error against K at R = 2 for each unequal length law; the weights.
        let mut figures = String::new();
        for l in [LengthDist::Uniform, LengthDist::LongTailed] {
            let fig = error_figure(&grads, l, fig_r, seeds);
            figures += &out.figure_md(&format!("normalization_{}", l.name().replace('-', "_")), &fig)?;
        }
        let weights: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Weight).collect();
        for l in [LengthDist::Uniform, LengthDist::LongTailed] {
            let fig = weight_figure(&weights, l, fig_k, fig_r, seeds);
            figures += &out.figure_md(&format!("normalization_weights_{}", l.name().replace('-', "_")), &fig)?;
        }
        let (b, t, d, classes) = (B, T, D, CLASSES);
        let truth_bits = TRUTH_BITS;
        fill(
            include_str!("normalization.md"),
            &vars![
                seeds, table, harmless, same_bits, beyond, own, largest, figures, b, t, d, classes, truth_bits, fig_k,
                fig_r
            ],
        )
    }
}

/// `all 12`, `(1, 1), (1, 2) and (2, 1)`, `none`: the (K, R) at which every seed's exact weights
/// equal the correct ones.
fn harmless_structures(g: &[&Row]) -> String {
    let groups = group_by(g.iter().copied(), |r| (r.k, r.r));
    let ok: Vec<String> = groups
        .iter()
        .filter(|(_, v)| v.iter().all(|r| r.weights_equal == Some(true)))
        .map(|((k, r), _)| format!("({k}, {r})"))
        .collect();
    match ok.len() {
        0 => "none".into(),
        n if n == groups.len() => format!("all {n}"),
        _ => and_list(&ok),
    }
}

/// Whether the mistakes are exactly harmless at equal lengths, from `(variant, cells whose exact
/// weights equal the correct ones, cells)`: those harmless everywhere named, the others with
/// their counts.
fn harmless_sentence(items: &[(Variant, usize, usize)]) -> String {
    let everywhere: Vec<String> =
        items.iter().filter(|(_, k, n)| k == n && *n > 0).map(|(v, _, _)| format!("`{v}`")).collect();
    let partly: Vec<String> = items
        .iter()
        .filter(|(_, k, n)| k < n)
        .map(|(v, k, n)| if *k == 0 { format!("`{v}` in none") } else { format!("`{v}` in {k} of {n}") })
        .collect();
    let cells = items.first().map_or(0, |i| i.2);
    let first = if everywhere.is_empty() {
        "At equal lengths no mistake gives every token exactly the correct weight 1/N in every cell".to_string()
    } else {
        format!(
            "At equal lengths {} give every token exactly the correct weight 1/N in all {cells} cells (K, R and seed): \
             there the mistake is exactly harmless",
            and_list(&everywhere)
        )
    };
    if partly.is_empty() {
        format!("{first}.")
    } else {
        format!("{first}; the exact weights equal the correct ones for {}.", and_list(&partly))
    }
}

/// (dtype, the loop's error equals the correct loop's bit for bit) for every gradient whose exact
/// weights equal the correct ones, in every dtype.
fn same_bits_cases(grads: &[&Row]) -> Vec<(DType, bool)> {
    let mut out = Vec::new();
    for r in grads.iter().filter(|r| r.variant != Variant::Correct && r.weights_equal == Some(true)) {
        let c = grads
            .iter()
            .find(|c| c.variant == Variant::Correct && (c.lengths, c.seed, c.k, c.r) == (r.lengths, r.seed, r.k, r.r));
        for &dt in &DTYPES {
            out.push((dt, c.is_some_and(|c| c.loop_error(dt).to_bits() == r.loop_error(dt).to_bits())));
        }
    }
    out
}

/// Whether the loops with the correct weights give the correct loop's error exactly, from
/// [`same_bits_cases`].
fn bits_sentence(cases: &[(DType, bool)]) -> String {
    let same = cases.iter().filter(|c| c.1).count();
    if cases.is_empty() {
        return "No mistake gives the correct weights anywhere in the grid.".into();
    }
    if same == cases.len() {
        format!(
            "Wherever a mistake's exact weights are the correct ones, its loop's error equals the correct loop's \
             exactly in every dtype ({same} of {} loops).",
            cases.len()
        )
    } else {
        let off: Vec<String> = DTYPES
            .iter()
            .filter_map(|&dt| {
                let n = cases.iter().filter(|c| c.0 == dt && !c.1).count();
                (n > 0).then(|| format!("{n} in {dt}"))
            })
            .collect();
        format!(
            "Wherever a mistake's exact weights are the correct ones, its loop's error equals the correct loop's in \
             {same} of {} loops; it differs in {}.",
            cases.len(),
            and_list(&off)
        )
    }
}

/// (variant, mistake's loop error / correct loop's error in `dt`, the largest |N w - 1| of its
/// tokens) for every gradient whose exact weights are not the correct ones.
fn beyond_cases(grads: &[&Row], dt: DType) -> Vec<(Variant, f64, f64)> {
    grads
        .iter()
        .filter(|r| r.weights_equal == Some(false))
        .filter_map(|r| {
            let c = grads.iter().find(|c| {
                c.variant == Variant::Correct && (c.lengths, c.seed, c.k, c.r) == (r.lengths, r.seed, r.k, r.r)
            })?;
            let dev = f64::from((r.weight_max? - 1.0).max(1.0 - r.weight_min?));
            Some((r.variant, r.loop_error(dt) / c.loop_error(dt), dev))
        })
        .collect()
}

/// Whether each mistake's error is larger than the dtype's own rounding (the correct loop's error
/// in the same cell), from [`beyond_cases`].
fn beyond_sentence(dt: DType, cases: &[(Variant, f64, f64)]) -> String {
    let smallest = cases.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let not: Vec<String> = Variant::ALL
        .iter()
        .filter_map(|&v| {
            let of: Vec<&(Variant, f64, f64)> = cases.iter().filter(|c| c.0 == v).collect();
            let small: Vec<f64> = of.iter().filter(|c| c.1.is_nan() || c.1 <= 1.0).map(|c| c.2).collect();
            let dev = small.iter().copied().fold(0.0, f64::max);
            (!small.is_empty()).then(|| {
                format!(
                    "`{v}` in {} of {} (its weights there at most {:.1} % from 1/N)",
                    small.len(),
                    of.len(),
                    100.0 * dev
                )
            })
        })
        .collect();
    if cases.is_empty() {
        format!("In {dt} no gradient has weights other than the correct ones.")
    } else if not.is_empty() {
        format!(
            "In {dt}, wherever the weights are not the correct ones, the mistake's error is larger than {dt}'s own \
             rounding (the correct loop's error in the same cell) in all {} gradients, by {} at least.",
            cases.len(),
            times(smallest)
        )
    } else {
        format!(
            "In {dt} the mistake's error is not above {dt}'s own rounding in some gradients whose weights are not the \
             correct ones: {}.",
            and_list(&not)
        )
    }
}

/// The largest median exact error over the seeds: which variant, lengths, K and R.
fn largest_sentence(grads: &[&Row]) -> String {
    let groups = group_by(grads.iter().copied(), |r| (r.lengths, r.variant, r.k, r.r));
    let med = |v: &[&Row]| median(&values(v, |r| f64::from(r.exact.unwrap_or(f32::NAN))));
    let mut per_variant: Vec<String> = Vec::new();
    for &v in &Variant::ALL[1..] {
        let best = groups
            .iter()
            .filter(|(key, _)| key.1 == v)
            .map(|(key, g)| (med(g), key))
            .fold(None, |a: Option<(f64, _)>, b| if a.is_none_or(|a| b.0 > a.0) { Some(b) } else { a });
        if let Some((e, (l, _, k, r))) = best {
            per_variant.push(format!("`{v}` {e:.3} ({l}, K = {k}, R = {r})"));
        }
    }
    format!("The largest median error of each mistake over the grid: {}.", and_list(&per_variant))
}

/// Each variant's error in its f32 loop against K at R = `r` for the length law `l`, with the
/// correct loop's error in each dtype beside it.
fn error_figure(grads: &[&Row], l: LengthDist, r: usize, seeds: u64) -> Figure {
    let title = format!("One step's gradient error against the correct token mean: {l} lengths, R = {r}");
    let mut fig = Figure::new(title, "accumulation steps K", "relative L2 error of the parameters' gradient")
        .with_legend(LegendPos::Below)
        .with_caption(format!(
            "Median and range over {seeds} seeds; each mistake's loop in f32 (where it is exactly harmless it sits on \
             f32's rounding), the correct loop's error in each dtype (its own rounding) for scale."
        ));
    let sel = |v: Variant| grads.iter().filter(move |x| x.lengths == l && x.r == r && x.variant == v);
    for &v in &Variant::ALL[1..] {
        let pts = sel(v).map(|x| (x.k as f64, x.loop_error(DType::F32)));
        fig.series.push(median_with_range(|m| line(v.name(), mistake_ink(v, DType::F32), m), pts));
    }
    for dt in DTYPES {
        let pts = sel(Variant::Correct).map(|x| (x.k as f64, x.loop_error(dt)));
        fig.series.push(median_with_range(|m| line(&format!("correct in {dt} (its rounding)"), dtype_ink(dt), m), pts));
    }
    fig
}

/// Each variant's N w (the weight of a token relative to the correct 1/N) against its sequence's
/// length, at K, R, for the length law `l`: the median and range over the seeds' distinct weights
/// at each length.
fn weight_figure(weights: &[&Row], l: LengthDist, k: usize, r: usize, seeds: u64) -> Figure {
    let title = format!("The weight each token gets, relative to the correct 1/N: {l} lengths, K = {k}, R = {r}");
    let mut fig = Figure::new(title, "length of the token's sequence (counted tokens)", "N w (correct: 1)")
        .with_legend(LegendPos::Below)
        .with_caption(format!(
            "Median and range over the distinct weights of each length in {seeds} seeds' batches (exact weights); B = \
             {B} sequences, T = {T}."
        ));
    let lens: Vec<f64> = weights.iter().filter(|x| x.lengths == l).filter_map(|x| x.length).map(|x| x as f64).collect();
    let (lo, hi) = lens.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    for &v in &Variant::ALL[1..] {
        let mut pts: Vec<(f64, f64)> = weights
            .iter()
            .filter(|x| x.lengths == l && x.variant == v)
            .filter_map(|x| Some((x.length? as f64, f64::from(x.weight?))))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        fig.series.push(median_with_range(|m| line(v.name(), mistake_ink(v, DType::MPFR_256), m), pts));
    }
    if lo.is_finite() {
        fig.series.push(dashed("correct: N w = 1", DARK_GREY, vec![(lo, 1.0), (hi, 1.0)]));
    }
    fig
}

gradlab_lab::experiment_main!(Normalization);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harmless_sentence_follows_the_weights() {
        let s =
            harmless_sentence(&[(Variant::PerMicrobatchTokenMean, 240, 240), (Variant::DoubleNormalization, 60, 240)]);
        assert!(s.starts_with("At equal lengths `per_microbatch_token_mean` give every token exactly"), "{s}");
        assert!(s.contains("`double_normalization` in 60 of 240"), "{s}");
        let s = harmless_sentence(&[(Variant::PerMicrobatchTokenMean, 239, 240), (Variant::SequenceMean, 0, 240)]);
        assert!(s.starts_with("At equal lengths no mistake gives every token exactly"), "{s}");
        assert!(s.contains("`per_microbatch_token_mean` in 239 of 240 and `sequence_mean` in none"), "{s}");
    }

    #[test]
    fn the_bits_and_beyond_sentences_follow_the_numbers() {
        let s = bits_sentence(&[(DType::F32, true), (DType::BF16, true)]);
        assert!(s.contains("exactly in every dtype (2 of 2 loops)"), "{s}");
        let s = bits_sentence(&[(DType::F32, true), (DType::BF16, false)]);
        assert!(s.contains("in 1 of 2 loops; it differs in 1 in bf16"), "{s}");
        let s = beyond_sentence(
            DType::BF16,
            &[(Variant::SequenceMean, 30.0, 0.5), (Variant::DoubleNormalization, 2.0, 0.5)],
        );
        assert!(s.contains("larger than bf16's own rounding") && s.contains("by 2x at least"), "{s}");
        let s = beyond_sentence(
            DType::BF16,
            &[(Variant::SequenceMean, 0.9, 0.004), (Variant::DoubleNormalization, 2.0, 0.5)],
        );
        assert!(s.contains("is not above bf16's own rounding"), "{s}");
        assert!(s.contains("`sequence_mean` in 1 of 1 (its weights there at most 0.4 % from 1/N)"), "{s}");
    }

    #[test]
    fn partial_windows_hold_half_the_configured_micro_batches() {
        let s = structure(Variant::PartialWindow, 4, 2);
        assert_eq!((s.microbatches, s.accumulation, s.ranks), (vec![8; 4], 4, 2));
        assert_eq!(structure(Variant::Correct, 8, 4).microbatches, vec![1; 32]);
        assert_eq!(structure(Variant::PartialWindow, 1, 4).microbatches, vec![8; 4]);
    }
}
