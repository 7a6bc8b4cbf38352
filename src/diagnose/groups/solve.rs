//! The least-squares weights w minimizing ||g - G^T w|| for m groups' gradients G (m x P, f64)
//! and a gradient g (P values), accurately and in O(m P) memory.
//!
//! **Method: corrected semi-normal equations.** The Gram matrix A = G G^T (m x m) is formed
//! once in f64 by a blocked matrix product (ndarray's gemm: m^2 P / 2 multiply-adds, the only
//! O(m^2 P) step, with no copy of G), its rows and columns equilibrated to a unit diagonal
//! (C = D A D, D_j = 1 / ||G_j||, so that groups of different sizes do not make the system look
//! ill-conditioned), and C factored by Cholesky with diagonal pivoting, which reveals the rank:
//! a pivot below [`RANK_CUTOFF`] m ends the factorization, and the dependent groups get weight 0
//! (any least-squares solution leaves the same residual). The first solution w = D C^+ D G g is
//! then refined twice (Bjorck's corrected semi-normal equations): the residual r = g - G^T w
//! is computed with compensated products and sums (Dekker's TwoProduct, Knuth's TwoSum, the
//! errors gathered in a second f64: Ogita, Rump and Oishi's Dot2, as if in twice f64's
//! precision), and w += D C^+ D G r.
//!
//! **Why that suffices.** Plain normal equations lose accuracy as kappa(G)^2 u_64; QR (or QR in
//! double-double) would keep kappa(G) u_64 but costs 2 m^2 P flops and a second copy of G. With
//! the residual computed to twice f64's precision, each refinement step shrinks the error by
//! about kappa(C) u_64 (C's own rounding), so two steps reach the accuracy the data allow
//! whenever kappa(G) < 1e6 (kappa(C) u_64 < 1e-4); beyond that the pivoting treats groups as
//! dependent, and the diagnosis's power rule (not the solver) decides what can be told: a
//! gradient rounded to f32 or narrower moves the weights by kappa(G) u_dtype, far more than the
//! solve's error. MPFR is not needed: nothing here is accumulated over more than P terms, and
//! the compensated residual carries 106 bits.

use crate::scalar::dd::{two_prod, two_sum};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// A pivot of the equilibrated Gram matrix (unit diagonal) below this times m ends the
/// factorization: the remaining groups are dependent on the others within f64's rounding of the
/// Gram matrix (about m u_64 per entry); kappa(G) above about 1 / sqrt(m RANK_CUTOFF) is rank
/// deficiency.
pub const RANK_CUTOFF: f64 = 64.0 * f64::EPSILON;

/// Refinement steps after the first solve.
const REFINEMENTS: usize = 2;

/// Power (and inverse power) iterations for the extreme eigenvalues of the equilibrated Gram
/// matrix (the condition number needs only its order of magnitude).
const POWER_ITERATIONS: usize = 40;

/// The least-squares fit of a gradient on the groups' gradients.
#[derive(Clone, Debug)]
pub struct Solution {
    /// The recovered weights (0 for a group found dependent on the others).
    pub weights: Vec<f64>,
    /// ||g - G^T w|| (compensated).
    pub residual: f64,
    /// ||g||.
    pub norm: f64,
    /// ||G_j|| for each group.
    pub group_norms: Vec<f64>,
    /// The condition number of the row-equilibrated G, sqrt(lambda_max / lambda_min) of C
    /// (infinite when rank-deficient).
    pub condition: f64,
    /// The numerical rank of G (m when every group is independent).
    pub rank: usize,
    /// When rank-deficient, the relative size sqrt(m RANK_CUTOFF) of the directions the Gram
    /// matrix cannot resolve: the fit may leave up to this times sum_j |w_j| ||G_j|| of g
    /// unexplained (0 at full rank).
    pub resolution: f64,
    /// The standard error factor of each weight: sqrt((A^-1)_jj), the change of w_j per unit of
    /// an error in g along the worst direction (infinite for a dependent group).
    pub sensitivity: Vec<f64>,
}

/// The pivoted Cholesky factor of the equilibrated Gram matrix.
struct Factor {
    /// D_j = 1 / ||G_j|| (0 for a zero group).
    d: Vec<f64>,
    /// L (lower, in pivoted order), rank x rank used.
    l: Array2<f64>,
    /// perm[k] is the group at pivoted position k.
    perm: Vec<usize>,
    rank: usize,
}

impl Factor {
    fn new(gram: &Array2<f64>) -> Self {
        let m = gram.nrows();
        let d: Vec<f64> = (0..m).map(|j| if gram[[j, j]] > 0.0 { 1.0 / gram[[j, j]].sqrt() } else { 0.0 }).collect();
        let mut a = Array2::from_shape_fn((m, m), |(i, j)| gram[[i, j]] * d[i] * d[j]);
        let mut perm: Vec<usize> = (0..m).collect();
        let cutoff = RANK_CUTOFF * m as f64;
        let mut rank = m;
        for k in 0..m {
            // The largest remaining diagonal (first on ties: deterministic).
            let mut piv = k;
            for i in k + 1..m {
                if a[[i, i]] > a[[piv, piv]] {
                    piv = i;
                }
            }
            if a[[piv, piv]] <= cutoff {
                rank = k;
                break;
            }
            if piv != k {
                perm.swap(k, piv);
                for c in 0..m {
                    a.swap([k, c], [piv, c]);
                }
                for r in 0..m {
                    a.swap([r, k], [r, piv]);
                }
            }
            let p = a[[k, k]].sqrt();
            a[[k, k]] = p;
            for i in k + 1..m {
                a[[i, k]] /= p;
            }
            for j in k + 1..m {
                let ajk = a[[j, k]];
                for i in j..m {
                    a[[i, j]] -= a[[i, k]] * ajk;
                }
                // Keep the trailing block symmetric for the pivot search and swaps.
                for i in j + 1..m {
                    a[[j, i]] = a[[i, j]];
                }
            }
        }
        Factor { d, l: a, perm, rank }
    }

    /// Solves C y = rhs on the independent groups (pivoted order), 0 for the others.
    fn solve_c(&self, rhs: &[f64]) -> Vec<f64> {
        let r = self.rank;
        let mut y: Vec<f64> = (0..r).map(|k| rhs[self.perm[k]]).collect();
        for i in 0..r {
            let s: f64 = (0..i).map(|k| self.l[[i, k]] * y[k]).sum();
            y[i] = (y[i] - s) / self.l[[i, i]];
        }
        for i in (0..r).rev() {
            let s: f64 = (i + 1..r).map(|k| self.l[[k, i]] * y[k]).sum();
            y[i] = (y[i] - s) / self.l[[i, i]];
        }
        let mut out = vec![0.0; rhs.len()];
        for k in 0..r {
            out[self.perm[k]] = y[k];
        }
        out
    }

    /// w with A w = b on the independent groups: D C^+ D b.
    fn solve(&self, b: &[f64]) -> Vec<f64> {
        let db: Vec<f64> = b.iter().zip(&self.d).map(|(b, d)| b * d).collect();
        self.solve_c(&db).iter().zip(&self.d).map(|(y, d)| y * d).collect()
    }
}

/// G v for each group: the dot products of the rows with `v` (f64, four partial sums), the rows
/// in parallel (each dot product in the same order whatever the thread count).
pub fn apply(groups: ArrayView2<f64>, v: &[f64]) -> Vec<f64> {
    (0..groups.nrows())
        .into_par_iter()
        .map(|j| {
            let row = groups.row(j);
            let row = row.as_slice().unwrap_or_else(|| unreachable!("the groups are in standard layout"));
            dot(row, v)
        })
        .collect()
}

/// The values per parallel piece of [`combine`] and [`residual`]: each value's sum over the
/// groups runs in group order inside one piece, so the result is the same whatever the thread
/// count.
pub const COLUMNS: usize = 8192;

/// G G^T, the Gram matrix of the rows, by blocks of [`GRAM_BLOCK`] rows: the blocks on and above
/// the diagonal in parallel (each by the same product whatever the thread count), mirrored below.
pub fn gram(groups: ArrayView2<f64>) -> Array2<f64> {
    let m = groups.nrows();
    let starts: Vec<usize> = (0..m).step_by(GRAM_BLOCK).collect();
    let pairs: Vec<(usize, usize)> =
        starts.iter().enumerate().flat_map(|(a, &i)| starts[a..].iter().map(move |&j| (i, j))).collect();
    let blocks: Vec<Array2<f64>> = pairs
        .par_iter()
        .map(|&(i, j)| {
            let a = groups.slice(ndarray::s![i..(i + GRAM_BLOCK).min(m), ..]);
            let b = groups.slice(ndarray::s![j..(j + GRAM_BLOCK).min(m), ..]);
            a.dot(&b.t())
        })
        .collect();
    let mut out = Array2::zeros((m, m));
    for (&(i, j), block) in pairs.iter().zip(&blocks) {
        for ((r, c), &v) in block.indexed_iter() {
            out[[i + r, j + c]] = v;
            out[[j + c, i + r]] = v;
        }
    }
    out
}

/// Rows per block of [`gram`].
pub const GRAM_BLOCK: usize = 32;

/// A dot product with four partial sums (vectorizes; deterministic order).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            s[i] += x[i] * y[i];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// G^T w, a P-vector, in f64 (pieces of [`COLUMNS`] values in parallel).
pub fn combine(groups: ArrayView2<f64>, w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; groups.ncols()];
    out.par_chunks_mut(COLUMNS).enumerate().for_each(|(c, out)| {
        let (at, len) = (c * COLUMNS, out.len());
        for (row, &wj) in groups.rows().into_iter().zip(w) {
            if wj == 0.0 {
                continue;
            }
            let row = row.as_slice().unwrap_or_else(|| unreachable!("the groups are in standard layout"));
            out.iter_mut().zip(&row[at..at + len]).for_each(|(o, g)| *o += wj * g);
        }
    });
    out
}

/// g - G^T w with compensated products and sums (twice f64's precision), rounded to f64 (pieces
/// of [`COLUMNS`] values in parallel).
pub fn residual(groups: ArrayView2<f64>, g: &[f64], w: &[f64]) -> Vec<f64> {
    let mut out = g.to_vec();
    out.par_chunks_mut(COLUMNS).enumerate().for_each(|(c, hi)| {
        let (at, len) = (c * COLUMNS, hi.len());
        let mut lo = vec![0.0; len];
        for (row, &wj) in groups.rows().into_iter().zip(w) {
            if wj == 0.0 {
                continue;
            }
            let row = row.as_slice().unwrap_or_else(|| unreachable!("the groups are in standard layout"));
            for ((h, l), &x) in hi.iter_mut().zip(lo.iter_mut()).zip(&row[at..at + len]) {
                let p = two_prod(wj, x);
                let s = two_sum(*h, -p.hi);
                *h = s.hi;
                *l += s.lo - p.lo;
            }
        }
        hi.iter_mut().zip(&lo).for_each(|(h, l)| *h += l);
    });
    out
}

/// The Euclidean norm, scaled against overflow.
pub fn norm(v: &[f64]) -> f64 {
    let big = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if big == 0.0 || !big.is_finite() {
        return big;
    }
    let s: f64 = v.iter().map(|x| (x / big) * (x / big)).sum();
    big * s.sqrt()
}

/// The least-squares weights of `g` on the rows of `groups` (m x P, standard layout), with the
/// residual, the conditioning and each weight's sensitivity (see the module docs).
pub fn solve(g: &[f64], groups: ArrayView2<f64>) -> Solution {
    let m = groups.nrows();
    let gram = gram(groups);
    let group_norms: Vec<f64> = (0..m).map(|j| gram[[j, j]].max(0.0).sqrt()).collect();
    let f = Factor::new(&gram);
    let mut w = f.solve(&apply(groups, g));
    for _ in 0..REFINEMENTS {
        let r = residual(groups, g, &w);
        let delta = f.solve(&apply(groups, &r));
        w.iter_mut().zip(&delta).for_each(|(w, d)| *w += d);
    }
    let r = residual(groups, g, &w);
    let condition = condition(&gram, &f);
    // sqrt((A^-1)_jj) = d_j sqrt((C^-1)_jj), C^-1's column j from a solve of e_j.
    let sensitivity = (0..m)
        .map(|j| {
            let in_basis = f.perm[..f.rank].contains(&j);
            if !in_basis {
                return f64::INFINITY;
            }
            let mut e = vec![0.0; m];
            e[j] = 1.0;
            f.solve(&e)[j].max(0.0).sqrt()
        })
        .collect();
    let resolution = if f.rank < m { (RANK_CUTOFF * m as f64).sqrt() } else { 0.0 };
    Solution {
        weights: w,
        residual: norm(&r),
        norm: norm(g),
        group_norms,
        condition,
        rank: f.rank,
        resolution,
        sensitivity,
    }
}

/// sqrt(lambda_max / lambda_min) of the equilibrated Gram matrix by power and inverse power
/// iteration (infinite when rank-deficient).
fn condition(gram: &Array2<f64>, f: &Factor) -> f64 {
    let m = gram.nrows();
    if f.rank < m {
        return f64::INFINITY;
    }
    let c = Array2::from_shape_fn((m, m), |(i, j)| gram[[i, j]] * f.d[i] * f.d[j]);
    let start: Vec<f64> = (0..m).map(|i| 1.0 + (i % 7) as f64 / 13.0).collect();
    let unit = |v: Vec<f64>| {
        let n = norm(&v);
        v.into_iter().map(|x| x / n).collect::<Vec<f64>>()
    };
    let (mut v, mut big) = (unit(start.clone()), 0.0);
    for _ in 0..POWER_ITERATIONS {
        let cv: Vec<f64> = (0..m).map(|i| (0..m).map(|j| c[[i, j]] * v[j]).sum()).collect();
        big = norm(&cv);
        if big == 0.0 {
            return f64::INFINITY;
        }
        v = unit(cv);
    }
    let (mut v, mut inv) = (unit(start), 0.0);
    for _ in 0..POWER_ITERATIONS {
        let y = f.solve_c(&v);
        inv = norm(&y);
        if !inv.is_finite() || inv == 0.0 {
            return f64::INFINITY;
        }
        v = unit(y);
    }
    (big * inv).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_weights_come_back_and_dependent_groups_are_found() {
        let (m, p) = (5, 200);
        let g = Array2::from_shape_fn((m, p), |(i, j)| (((i * 31 + j * 17) % 23) as f64 - 11.0) / (1.0 + i as f64));
        let w = [0.5, -1.0, 1.0 / 3.0, 2.0, 1e-3];
        let y = combine(g.view(), &w);
        let s = solve(&y, g.view());
        assert_eq!(s.rank, 5);
        for (a, b) in s.weights.iter().zip(&w) {
            assert!((a - b).abs() <= 1e-13 * b.abs(), "{:?}", s.weights);
        }
        assert!(s.residual <= 1e-14 * s.norm && s.condition.is_finite() && s.condition >= 1.0, "{s:?}");
        // A group equal to another plus a third is dependent: rank 4, the same residual.
        let mut d = g.clone();
        let row = &g.row(0) + &g.row(1);
        d.row_mut(4).assign(&row);
        let s = solve(&y, d.view());
        assert_eq!(s.rank, 4);
        assert!(s.condition.is_infinite());
    }
}
