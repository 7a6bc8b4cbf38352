//! A mean of micro-batch means: per-sample weights recovered from a gradient, and the micro-batch
//! sizes they imply.
//!
//! Accumulating K micro-batch losses, each a mean over its own n_b samples and divided by K,
//! weights sample j by w_j = 1/(K n_b) instead of 1/N; unequal sizes weight short micro-batches
//! up. The gradient is then sum_j w_j P_j, with P_j the exact gradient of sample j's loss.
//!
//! - **Input gradient**: row j of x.grad is w_j P_j alone, so w_j is the ratio of row j to the
//!   truth's row (least squares over the row's d elements).
//! - **Weight and bias gradients** mix every sample: G = A w, with column j of A the flattened
//!   P_j over the given elements (k d for the weight, k for the bias, both when both are given).
//!   With at least as many independent elements as samples, least squares gives every w_j
//!   ([`lstsq`]). With fewer (k d + k < n, or dependent columns), the weights are not
//!   identifiable: the diagnosis then tests only the common partitions ([`common_partitions`]):
//!   equal micro-batches with a shorter last one (a data loader's remainder), and sizes that
//!   differ by at most one, larger first (N split as evenly as possible over K ranks).
//!
//! From the weights, [`partitions`] finds the micro-batch sizes in sample order: K n_b = 1 / w_j
//! must be whole for some K; runs of equal weights are split into micro-batches of n_b samples,
//! and their count must be K. The weights fix the sizes only up to even refinements: splitting
//! every micro-batch into q equal parts multiplies K by q and divides each n_b by q, leaving
//! 1/(K n_b) unchanged, so [8, 8, 8, 6] (K = 4) and [4, 4, 4, 4, 4, 4, 3, 3] (K = 8) weight every
//! sample alike, as do [38, 26] (K = 2) and [19, 19, 13, 13] (K = 4). The smallest K is reported
//! first, with the refinements that also fit.

use crate::objective::{LinearTensor, Pass};
use crate::policy::{LSTSQ_RANK_TOLERANCE, MICROBATCH_WHOLE_TOLERANCE};
use crate::problem::Problem;
use ndarray::{s, Array2};

/// The most partitions [`partitions`] returns (the smallest K first).
const MAX_PARTITIONS: usize = 3;

/// The most micro-batches (or ranks) [`common_partitions`] tries for sizes that differ by one.
const MAX_RANKS: usize = 256;

crate::named_enum! {
    /// How the gradients of K micro-batches (or data-parallel ranks) are combined.
    pub enum Combine("combine") {
        /// Each micro-batch loss a mean over its samples, summed and divided by K (the mistake).
        MeanOfMeans = "mean_of_means",
        /// Each micro-batch loss a sum, the total divided by N (fix 1).
        FixSum = "fix_sum",
        /// Each micro-batch mean weighted by n_b / N (fix 2).
        FixWeighted = "fix_weighted",
    }
}

/// The x, W and b gradients (f64, the bias as a 1 x k row) of `problem`'s mean loss computed
/// over consecutive micro-batches of `sizes` and combined as `combine` says: what a training
/// loop with gradient accumulation (or data parallelism) hands back. Each micro-batch's pass is
/// gradlab's own f64 pass with the loss scaled by its factor.
///
/// # Panics
/// When the sizes do not add up to the problem's samples (a programming error of the caller).
pub fn combined_grads(problem: &Problem, sizes: &[usize], combine: Combine) -> [Array2<f64>; 3] {
    let (n, d, k) = (problem.n(), problem.d(), problem.k());
    assert_eq!(sizes.iter().sum::<usize>(), n, "micro-batch sizes must add up to the samples");
    let (mut gx, mut gw, mut gb) = (Array2::zeros((n, d)), Array2::zeros((k, d)), Array2::zeros((1, k)));
    let mut start = 0;
    for &nb in sizes {
        let (xs, ts) = (problem.x.slice(s![start..start + nb, ..]), &problem.t[start..start + nb]);
        let (scale, post) = match combine {
            Combine::MeanOfMeans => (1.0 / (sizes.len() * nb) as f64, 1.0),
            Combine::FixSum => (1.0 / n as f64, 1.0),
            Combine::FixWeighted => (1.0 / nb as f64, nb as f64 / n as f64),
        };
        let mut pass = Pass::<f64>::new(nb, d, k, ());
        let b = problem.bias.as_slice().unwrap_or(&[]);
        crate::watch::unwatched(|watch| pass.run(xs, problem.weight.view(), b, ts, Some(&scale), watch));
        gx.slice_mut(s![start..start + nb, ..]).assign(&(pass.grad_x * post));
        gw += &(pass.grad_weight * post);
        gb.row_mut(0).iter_mut().zip(&pass.grad_bias).for_each(|(a, g)| *a += g * post);
        start += nb;
    }
    [gx, gw, gb]
}

/// [`combined_grads`]' gradient with respect to `wrt` (x, W, or b for any other).
pub fn combined_grad(problem: &Problem, sizes: &[usize], combine: Combine, wrt: LinearTensor) -> Array2<f64> {
    let [gx, gw, gb] = combined_grads(problem, sizes, combine);
    match wrt {
        LinearTensor::Input => gx,
        LinearTensor::Weight => gw,
        _ => gb,
    }
}

/// Whether micro-batches of sizes `a` and of sizes `b` give every sample the same weight
/// 1/(K n_b) (within 1e-12 relative): `[32, 32]` and `[16, 16, 16, 16]` do.
pub fn same_weights(a: &[usize], b: &[usize]) -> bool {
    let (wa, wb) = (weights_of(a), weights_of(b));
    wa.len() == wb.len() && wa.iter().zip(wb).all(|(a, b)| (a - b).abs() < 1e-12 * b)
}

/// The sample ranges of consecutive micro-batches of `sizes`: `[3, 2]` gives `0..3` and `3..5`.
pub fn blocks(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let ends = sizes.iter().scan(0, |end, &nb| {
        *end += nb;
        Some(*end)
    });
    sizes.iter().zip(ends).map(|(&nb, end)| end - nb..end).collect()
}

/// The per-sample weights 1/(K n_b) of micro-batches of the given sizes, in sample order.
pub(crate) fn weights_of(sizes: &[usize]) -> Vec<f64> {
    let k = sizes.len() as f64;
    sizes.iter().flat_map(|&nb| std::iter::repeat_n(1.0 / (k * nb as f64), nb)).collect()
}

/// The per-sample weights 1/n_b of micro-batch means summed, not averaged (no division by K),
/// in sample order.
pub(crate) fn sum_weights_of(sizes: &[usize]) -> Vec<f64> {
    sizes.iter().flat_map(|&nb| std::iter::repeat_n(1.0 / nb as f64, nb)).collect()
}

/// The micro-batch sizes (in sample order) whose summed means give the weights `w` = 1/n_b: every
/// 1/w whole, runs of equal values splitting into whole micro-batches, at least two micro-batches
/// of unequal sizes (equal ones give K times the mean, a plain factor). `None` otherwise.
pub fn sum_partition(w: &[f64]) -> Option<Vec<usize>> {
    if w.is_empty() || w.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
        return None;
    }
    let nb: Vec<usize> = w
        .iter()
        .map(|x| {
            let s = 1.0 / x;
            ((s - s.round()).abs() <= MICROBATCH_WHOLE_TOLERANCE && s.round() >= 1.0).then_some(s.round() as usize)
        })
        .collect::<Option<_>>()?;
    let mut sizes = Vec::new();
    let mut j = 0;
    while j < nb.len() {
        let run = nb[j..].iter().take_while(|&&s| s == nb[j]).count();
        if run % nb[j] != 0 {
            return None;
        }
        sizes.extend(std::iter::repeat_n(nb[j], run / nb[j]));
        j += run;
    }
    (sizes.len() >= 2 && sizes.iter().any(|&v| v != sizes[0])).then_some(sizes)
}

/// The micro-batch sizes (in sample order) whose weights 1/(K n_b) are `w`, up to
/// `MAX_PARTITIONS` of them, smallest K first; empty when none fits (a weight that is not
/// positive, no K making every K n_b whole, or runs that do not split into whole micro-batches).
pub fn partitions(w: &[f64]) -> Vec<Vec<usize>> {
    let n = w.len();
    if n == 0 || w.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
        return Vec::new();
    }
    let v: Vec<f64> = w.iter().map(|x| 1.0 / x).collect();
    let vmin = v.iter().copied().fold(f64::INFINITY, f64::min);
    let mut out = Vec::new();
    for k in 1..=n {
        let kf = k as f64;
        if vmin / kf < 1.0 - MICROBATCH_WHOLE_TOLERANCE {
            break;
        }
        let nb: Option<Vec<usize>> = v
            .iter()
            .map(|x| {
                let s = x / kf;
                ((s - s.round()).abs() <= MICROBATCH_WHOLE_TOLERANCE && s.round() >= 1.0).then_some(s.round() as usize)
            })
            .collect();
        let Some(nb) = nb else { continue };
        // Runs of equal sizes, split into micro-batches of that size.
        let mut sizes = Vec::new();
        let mut j = 0;
        let mut ok = true;
        while j < n {
            let run = nb[j..].iter().take_while(|&&s| s == nb[j]).count();
            if run % nb[j] != 0 {
                ok = false;
                break;
            }
            sizes.extend(std::iter::repeat_n(nb[j], run / nb[j]));
            j += run;
        }
        if ok && sizes.len() == k {
            out.push(sizes);
            if out.len() == MAX_PARTITIONS {
                break;
            }
        }
    }
    out
}

/// The partitions of n samples tried when per-sample weights cannot be identified: K
/// micro-batches of m samples and a shorter last one (1 <= r < m), and n split as evenly as
/// possible over K micro-batches, the larger ones first (K up to `MAX_RANKS`). Partitions of
/// equal sizes (which give exactly the mean) are left out.
pub fn common_partitions(n: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for m in 2..n {
        let k = n.div_ceil(m);
        let r = n - (k - 1) * m;
        if r < m {
            let mut s = vec![m; k - 1];
            s.push(r);
            out.push(s);
        }
    }
    for k in 2..=n.min(MAX_RANKS) {
        let (m, q) = (n / k, n % k);
        if q > 0 {
            let s: Vec<usize> = (0..k).map(|b| if b < q { m + 1 } else { m }).collect();
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// The least-squares solution of A x = b by Householder QR (A has at least as many rows as
/// columns), or `None` when A is rank-deficient: a pivot below [`LSTSQ_RANK_TOLERANCE`] times
/// the largest column norm.
pub fn lstsq(a: &Array2<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let (m, n) = a.dim();
    if m < n || b.len() != m {
        return None;
    }
    let mut r = a.clone();
    let mut y = b.to_vec();
    let scale = (0..n).map(|j| r.column(j).iter().map(|v| v * v).sum::<f64>().sqrt()).fold(0.0, f64::max);
    if scale == 0.0 {
        return None;
    }
    for j in 0..n {
        let norm = (j..m).map(|i| r[[i, j]] * r[[i, j]]).sum::<f64>().sqrt();
        if norm <= LSTSQ_RANK_TOLERANCE * scale {
            return None;
        }
        let alpha = if r[[j, j]] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (j..m).map(|i| r[[i, j]]).collect();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv > 0.0 {
            for col in j..n {
                let dot: f64 = v.iter().enumerate().map(|(t, vi)| vi * r[[j + t, col]]).sum();
                let f = 2.0 * dot / vv;
                for (t, vi) in v.iter().enumerate() {
                    r[[j + t, col]] -= f * vi;
                }
            }
            let dot: f64 = v.iter().enumerate().map(|(t, vi)| vi * y[j + t]).sum();
            let f = 2.0 * dot / vv;
            for (t, vi) in v.iter().enumerate() {
                y[j + t] -= f * vi;
            }
        }
    }
    let mut x = vec![0.0; n];
    for j in (0..n).rev() {
        let s: f64 = (j + 1..n).map(|c| r[[j, c]] * x[c]).sum();
        x[j] = (y[j] - s) / r[[j, j]];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::Watch;

    #[test]
    fn the_fixes_give_the_mean_gradient_and_the_mistake_reweights_each_micro_batch() {
        let p = Problem::generate(12, 3, 3, 1).unwrap();
        let mut full = Pass::<f64>::new(12, 3, 3, ());
        full.run(
            p.x.view(),
            p.weight.view(),
            p.bias.as_slice().unwrap(),
            &p.t,
            Some(&(1.0 / 12.0)),
            &Watch::unwatched(),
        )
        .unwrap();
        let close = |a: &Array2<f64>, b: &Array2<f64>, what: &str| {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-14 * y.abs().max(1e-3), "{what}: {x} vs {y}");
            }
        };
        let mean_b = Array2::from_shape_vec((1, 3), full.grad_bias.clone()).unwrap();
        for (sizes, combine) in
            [(&[5, 4, 3][..], Combine::FixSum), (&[5, 4, 3], Combine::FixWeighted), (&[4, 4, 4], Combine::MeanOfMeans)]
        {
            let [gx, gw, gb] = combined_grads(&p, sizes, combine);
            let what = format!("{combine} over {sizes:?}");
            close(&gx, &full.grad_x, &what);
            close(&gw, &full.grad_weight, &what);
            close(&gb, &mean_b, &what);
        }
        // [6, 3, 3] as a mean of means: sample j's row is weighted N / (K n_b) = 2/3 or 4/3.
        let [gx, ..] = combined_grads(&p, &[6, 3, 3], Combine::MeanOfMeans);
        for (j, (row, truth)) in gx.rows().into_iter().zip(full.grad_x.rows()).enumerate() {
            let c = if j < 6 { 2.0 / 3.0 } else { 4.0 / 3.0 };
            close(&row.to_owned().insert_axis(ndarray::Axis(0)), &(&truth * c).insert_axis(ndarray::Axis(0)), "rows");
        }
    }

    #[test]
    fn sizes_come_back_from_their_weights_smallest_k_first() {
        for sizes in [vec![8, 8, 8, 6], vec![17, 17, 17, 13], vec![8, 8, 5], vec![3, 7, 3], vec![21, 21, 21, 1]] {
            let found = partitions(&weights_of(&sizes));
            assert_eq!(found.first(), Some(&sizes), "{sizes:?}: {found:?}");
        }
        // An even refinement weights every sample alike: found too, after the coarser one.
        let found = partitions(&weights_of(&[8, 8, 8, 6]));
        assert!(found.contains(&vec![4, 4, 4, 4, 4, 4, 3, 3]), "{found:?}");
        // Two equal neighbours merge into one micro-batch with a smaller K: [19, 19, 13, 13]
        // weights samples like [38, 26] with K = 2, which is found first.
        assert_eq!(partitions(&weights_of(&[19, 19, 13, 13]))[0], vec![38, 26]);
        // Rounding-sized noise is tolerated; weights that fit no partition are refused.
        assert_eq!(sum_partition(&sum_weights_of(&[3, 5, 8])), Some(vec![3, 5, 8]));
        assert_eq!(sum_partition(&sum_weights_of(&[4, 4, 2, 2])), Some(vec![4, 4, 2, 2]));
        // Equal sizes are K times the mean (a factor), and 1/(K n_b) is not a sum of means.
        assert_eq!(sum_partition(&sum_weights_of(&[4, 4])), None);
        assert_eq!(sum_partition(&weights_of(&[3, 5, 8])), None);
        let noisy: Vec<f64> = weights_of(&[8, 8, 5]).iter().map(|w| w * (1.0 + 1e-7)).collect();
        assert_eq!(partitions(&noisy)[0], vec![8, 8, 5]);
        assert!(partitions(&[0.1, 0.2, 0.3]).is_empty());
        assert!(partitions(&[0.5, -0.5]).is_empty());
    }

    #[test]
    fn common_partitions_hold_remainders_and_balanced_splits() {
        let c = common_partitions(30);
        assert!(c.contains(&vec![8, 8, 8, 6]) && c.contains(&vec![11, 11, 8]) && c.contains(&vec![8, 8, 7, 7]));
        assert!(c.iter().all(|s| s.iter().sum::<usize>() == 30 && s.iter().any(|&v| v != s[0])));
    }

    #[test]
    fn least_squares_solves_and_detects_rank_deficiency() {
        let a = Array2::from_shape_vec((4, 2), vec![1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0]).unwrap();
        let x = lstsq(&a, &[1.0, 3.0, 5.0, 7.0]).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12, "{x:?}");
        let dep = Array2::from_shape_vec((3, 2), vec![1.0, 2.0, 2.0, 4.0, 3.0, 6.0]).unwrap();
        assert!(lstsq(&dep, &[1.0, 2.0, 3.0]).is_none());
        assert!(lstsq(&Array2::zeros((1, 2)), &[1.0]).is_none(), "fewer rows than unknowns");
    }
}
