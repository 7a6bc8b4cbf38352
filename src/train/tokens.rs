//! A training step on tokens as frameworks write it: gradient accumulation over micro-batches
//! and averaging over data-parallel ranks, with each normalization of [`Variant`]; and its exact
//! counterpart, the same step's weights ([`crate::tokens::weights`]) on the exact gradient.
//!
//! [`loop_grads`] runs, in a dtype T, what a user's loop does: for each rank in order, for each of
//! its micro-batches in order, one forward and backward pass of that micro-batch's counted tokens
//! with the micro-batch's own normalization (the chain of [`Variant::factors`], each factor one
//! rounded multiplication or division of the upstream gradient, as autograd runs `loss / K`
//! backward), the parameter gradients accumulated in T (`.grad +=`, the first micro-batch's
//! assigned); then every rank's gradient divided by R and summed over the ranks in rank order
//! (DDP). So the rounding is the loop's, not that of the weights formula. x's gradient is what
//! the loop leaves for each position (the embedding's gradient, averaged over ranks like a
//! parameter's): each token's row is set once, by its micro-batch, and divided by R.
//!
//! [`exact_grads`] is the same step as sum_j w_j loss_j with the exact weights rounded once into
//! MPFR at the truth's precision and the gradient computed in MPFR: what the loop would give
//! without rounding.

use crate::error::Result;
use crate::objective::tokens::weighted_pass;
use crate::scalar::{Prec, Scalar};
use crate::tokens::weights::{token_weights, Factor, Structure, Variant};
use crate::tokens::TokenProblem;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rug::{Float, Rational};

/// The gradients a training step hands the optimizer (and x's, as the loop leaves it).
#[derive(Clone, Debug)]
pub struct StepGrads<T> {
    /// dL/dx of every position, (B T) x d (row s T + p; zero at ignored positions).
    pub x: Array2<T>,
    /// dL/dW, k x d.
    pub weight: Array2<T>,
    /// dL/db as a 1 x k row.
    pub bias: Array2<T>,
}

/// `v` multiplied or divided by a whole number, correctly rounded once into T (the upstream
/// gradient computed at higher precision and rounded, as frameworks compute a scalar operation
/// of a half-precision tensor; the count need not be representable in T).
///
/// When the count is a value of T (a whole number of at most T's significand bits), this is one
/// multiplication or division of T by it: T's arithmetic rounds each operation's exact result
/// correctly, so it is the same value, without the exact detour (the common case: R, K and the
/// counts of f32 and wider dtypes).
fn apply<T: Scalar>(v: &T, f: Factor, ctx: T::Ctx) -> T {
    let (Factor::Mul(m) | Factor::Div(m)) = f;
    if m == 1 {
        return v.clone();
    }
    if m <= 1 << 53 {
        let count = T::from_int(m as i64, ctx);
        if count.to_f64() == m as f64 {
            return match f {
                Factor::Mul(_) => v.mul(&count),
                Factor::Div(_) => v.div(&count),
            };
        }
    }
    apply_exact(v, f, ctx)
}

/// [`apply`] through the exact product or quotient, rounded once into T.
fn apply_exact<T: Scalar>(v: &T, f: Factor, ctx: T::Ctx) -> T {
    let bits = T::dtype(ctx).bits().max(64);
    let exact = v.to_float(bits).to_rational().unwrap_or_else(|| unreachable!("a finite factor chain"));
    let r = match f {
        Factor::Mul(m) => exact * Rational::from(m),
        Factor::Div(m) => exact / Rational::from(m),
    };
    T::from_rational(&r, ctx)
}

/// A vector as a 1 x len array.
fn row<T>(v: Vec<T>) -> Array2<T> {
    let k = v.len();
    Array2::from_shape_vec((1, k), v).unwrap_or_else(|_| unreachable!("1 x len holds len values"))
}

/// The rows of the counted positions of sequences `seqs`, with their classes.
fn rows_of(targets: &[Option<usize>], t_len: usize, seqs: std::ops::Range<usize>) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for s in seqs {
        for p in 0..t_len {
            if let Some(c) = targets[s * t_len + p] {
                out.push((s * t_len + p, s, c));
            }
        }
    }
    out
}

/// The rows `rows` of `x`, as a new matrix.
fn select<T: Scalar>(x: ArrayView2<T>, rows: &[(usize, usize, usize)]) -> Array2<T> {
    let d = x.ncols();
    let mut v = Vec::with_capacity(rows.len() * d);
    for &(r, _, _) in rows {
        v.extend(x.row(r).iter().cloned());
    }
    Array2::from_shape_vec((rows.len(), d), v).unwrap_or_else(|_| unreachable!("d values per row"))
}

/// `acc += g` element by element, each sum stored (a mixed dtype's gradient buffer is in S).
fn accumulate<T: Scalar>(acc: &mut Array2<T>, g: &Array2<T>) {
    for (a, v) in acc.iter_mut().zip(g) {
        a.add_assign(v);
        a.store();
    }
}

/// The gradients of a training step of `variant` with structure `s` on `problem`, computed in T
/// as the framework's loop does (the module documentation gives the order of operations).
///
/// # Errors
/// [`crate::Error::Value`] for a structure that does not fit the problem;
/// [`crate::Error::Usage`] when the variant divides by a token count of 0;
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn loop_grads<T: Scalar>(
    problem: &TokenProblem,
    s: &Structure,
    variant: Variant,
    ctx: T::Ctx,
    watch: &Watch,
) -> Result<StepGrads<T>> {
    let (b, t_len, d, k) = (problem.b(), problem.t_len(), problem.d(), problem.k());
    s.validate(b)?;
    let lengths = problem.lengths();
    let targets = problem.targets();
    let cast = problem.cast::<T>(ctx);
    let bias = cast.bias.to_vec();
    let zero = T::zero(ctx);
    let r_count = crate::tokens::weights::Factor::Div(s.ranks as u64);
    let mut x_grad = Array2::from_elem((b * t_len, d), zero.clone());
    let mut total: Option<(Array2<T>, Array2<T>)> = None;
    let list = s.microbatch_list();
    for rank in 0..s.ranks {
        let mut acc: Option<(Array2<T>, Array2<T>)> = None;
        for mb in list.iter().filter(|m| m.rank == rank) {
            let rows = rows_of(&targets, t_len, mb.seqs.clone());
            // The chain of factors, once per sequence (a micro-batch without tokens is still
            // checked: its chain may divide by 0).
            let mut per_seq = Vec::with_capacity(mb.seqs.len());
            for seq in mb.seqs.clone() {
                let mut g = T::from_int(1, ctx);
                for f in variant.factors(&lengths, s, mb, seq)? {
                    g = apply(&g, f, ctx);
                }
                per_seq.push(g);
            }
            let scales: Vec<T> = rows.iter().map(|&(_, seq, _)| per_seq[seq - mb.seqs.start].clone()).collect();
            let x_mb = select(cast.x.view(), &rows);
            let t_mb: Vec<usize> = rows.iter().map(|&(_, _, c)| c).collect();
            let g = weighted_pass(x_mb.view(), cast.weight.view(), &bias, &t_mb, Some(&scales), ctx, watch)?;
            for (j, &(row, _, _)) in rows.iter().enumerate() {
                for (o, v) in x_grad.row_mut(row).iter_mut().zip(g.x.row(j)) {
                    *o = apply(v, r_count, ctx);
                    o.store();
                }
            }
            let gb = row(g.bias);
            match acc.as_mut() {
                None => acc = Some((g.weight, gb)),
                Some((aw, ab)) => {
                    accumulate(aw, &g.weight);
                    accumulate(ab, &gb);
                }
            }
        }
        let (mut aw, mut ab) =
            acc.unwrap_or_else(|| unreachable!("a validated structure gives every rank a micro-batch"));
        for v in aw.iter_mut().chain(ab.iter_mut()) {
            *v = apply(v, r_count, ctx);
            v.store();
        }
        match total.as_mut() {
            None => total = Some((aw, ab)),
            Some((tw, tb)) => {
                accumulate(tw, &aw);
                accumulate(tb, &ab);
            }
        }
    }
    let (weight, bias) = total.unwrap_or_else(|| unreachable!("at least one rank"));
    debug_assert_eq!(weight.dim(), (k, d));
    Ok(StepGrads { x: x_grad, weight, bias })
}

/// The exact gradients of sum_j w_j loss_j at `problem`'s values rounded into T (the T loop's
/// inputs), with the given exact per-token weights (in the order of [`TokenProblem::tokens`])
/// rounded once to `prec` bits, every operation in MPFR at `prec` bits.
///
/// # Errors
/// [`crate::Error::Value`] when the weights are not one per counted token;
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn exact_weighted_grads<T: Scalar>(
    problem: &TokenProblem,
    weights: &[Rational],
    ctx: T::Ctx,
    prec: Prec,
    watch: &Watch,
) -> Result<StepGrads<Float>> {
    let n = problem.n_tokens();
    if weights.len() != n {
        return Err(crate::Error::value(
            "token weights",
            weights.len().to_string(),
            format!("{n}, one per counted token"),
        ));
    }
    let (b, t_len, d) = (problem.b(), problem.t_len(), problem.d());
    let bits = prec.bits();
    let cast = problem.cast::<T>(ctx);
    let up = |a: &Array2<T>| a.map(|v| v.to_float(bits));
    let (x, w) = (up(&cast.x), up(&cast.weight));
    let bias: Vec<Float> = cast.bias.iter().map(|v| v.to_float(bits)).collect();
    let rows = rows_of(&problem.targets(), t_len, 0..b);
    let x_tok = select(x.view(), &rows);
    let t_tok: Vec<usize> = rows.iter().map(|&(_, _, c)| c).collect();
    let scales: Vec<Float> = weights.iter().map(|r| Float::with_val(bits, r)).collect();
    let g = weighted_pass(x_tok.view(), w.view(), &bias, &t_tok, Some(&scales), prec, watch)?;
    let mut x_grad = Array2::from_elem((b * t_len, d), Float::new(bits));
    for (j, &(row, _, _)) in rows.iter().enumerate() {
        x_grad.row_mut(row).assign(&g.x.row(j));
    }
    Ok(StepGrads { x: x_grad, weight: g.weight, bias: row(g.bias) })
}

/// The exact counterpart of [`loop_grads`]: the variant's exact token weights
/// ([`token_weights`]) on the exact gradient ([`exact_weighted_grads`]).
///
/// # Errors
/// As [`loop_grads`].
pub fn exact_grads<T: Scalar>(
    problem: &TokenProblem,
    s: &Structure,
    variant: Variant,
    ctx: T::Ctx,
    prec: Prec,
    watch: &Watch,
) -> Result<StepGrads<Float>> {
    let weights = token_weights(problem, s, variant)?;
    exact_weighted_grads::<T>(problem, &weights, ctx, prec, watch)
}

/// The exact gradient of each sequence's summed token loss (B entries, a sequence without counted
/// tokens giving zeros), at `problem`'s values rounded into T, every operation in MPFR at `prec`
/// bits: S_s = sum over the counted tokens j of sequence s of grad loss_j. Every variant's exact
/// step gradient is sum_s w_s S_s with its sequence weights ([`crate::tokens::weights::sequence_weights`]),
/// so a sweep over structures and variants needs one exact pass ([`weighted_sequence_sum`]).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn exact_sequence_grads<T: Scalar>(
    problem: &TokenProblem,
    ctx: T::Ctx,
    prec: Prec,
    watch: &Watch,
) -> Result<Vec<StepGrads<Float>>> {
    let (b, t_len) = (problem.b(), problem.t_len());
    let bits = prec.bits();
    let cast = problem.cast::<T>(ctx);
    let up = |a: &Array2<T>| a.map(|v| v.to_float(bits));
    let (x, w) = (up(&cast.x), up(&cast.weight));
    let bias: Vec<Float> = cast.bias.iter().map(|v| v.to_float(bits)).collect();
    let targets = problem.targets();
    (0..b)
        .map(|s| {
            let rows = rows_of(&targets, t_len, s..s + 1);
            let x_tok = select(x.view(), &rows);
            let t_tok: Vec<usize> = rows.iter().map(|&(_, _, c)| c).collect();
            let g = weighted_pass(x_tok.view(), w.view(), &bias, &t_tok, None, prec, watch)?;
            let mut x_grad = Array2::from_elem((b * t_len, x.ncols()), Float::new(bits));
            for (j, &(r, _, _)) in rows.iter().enumerate() {
                x_grad.row_mut(r).assign(&g.x.row(j));
            }
            Ok(StepGrads { x: x_grad, weight: g.weight, bias: row(g.bias) })
        })
        .collect()
}

/// sum_s w_s S_s of the parameters' gradients (W and b; x's left empty, 0 x 0) in MPFR at
/// `prec` bits: a variant's exact step gradient from [`exact_sequence_grads`] and its exact
/// sequence weights (one per sequence).
///
/// # Errors
/// [`crate::Error::Value`] when the weights are not one per sequence.
pub fn weighted_sequence_sum(
    per_seq: &[StepGrads<Float>],
    weights: &[Rational],
    prec: Prec,
) -> Result<StepGrads<Float>> {
    if weights.len() != per_seq.len() || per_seq.is_empty() {
        return Err(crate::Error::value(
            "sequence weights",
            weights.len().to_string(),
            format!("{}, one per sequence", per_seq.len()),
        ));
    }
    let bits = prec.bits();
    let sum = |get: &dyn Fn(&StepGrads<Float>) -> &Array2<Float>| {
        let mut acc = get(&per_seq[0]).map(|_| Float::new(bits));
        for (g, w) in per_seq.iter().zip(weights) {
            let wf = Float::with_val(bits, w);
            acc.zip_mut_with(get(g), |a, v| *a += Float::with_val(bits, v * &wf));
        }
        acc
    };
    Ok(StepGrads {
        x: Array2::from_elem((0, 0), Float::new(bits)),
        weight: sum(&|g| &g.weight),
        bias: sum(&|g| &g.bias),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::SplitMix64;

    /// The shortcut through T's own operation gives the exact rounding's bits, for counts that
    /// are values of T and counts that are not, in every hardware width and a mixed dtype.
    fn same_as_exact<T: Scalar>(ctx: T::Ctx) {
        let mut rng = SplitMix64::new(7);
        let counts = [2u64, 3, 4, 7, 8, 100, 255, 256, 257, 282, 1023, 4097, 65_537, (1 << 24) + 1, 1 << 40];
        for _ in 0..400 {
            let v = T::from_f64(rng.normal() * 2f64.powi(rng.below(16) as i32 - 8), ctx);
            for &m in &counts {
                for f in [Factor::Mul(m), Factor::Div(m)] {
                    let (a, b) = (apply(&v, f, ctx), apply_exact(&v, f, ctx));
                    assert_eq!(a.to_f64().to_bits(), b.to_f64().to_bits(), "{f:?} of {}", v.to_f64());
                }
            }
        }
    }

    #[test]
    fn applying_a_count_is_the_exact_rounding() {
        same_as_exact::<f64>(());
        same_as_exact::<f32>(());
        same_as_exact::<half::bf16>(());
        same_as_exact::<half::f16>(());
        same_as_exact::<crate::scalar::Mixed<f32>>(crate::scalar::Format::BF16.spec());
    }
}
