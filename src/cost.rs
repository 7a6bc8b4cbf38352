//! The cost of a check's work, per operation: the units a [`crate::watch::Watch`] counts.
//!
//! Work is counted in *units*: the operations of the check's model ([`Ops`]: arithmetic, and
//! `exp`/`ln`) weighted by their relative cost in the dtype ([`op_costs`], an f32 addition = 1).
//! The kernels advance their watch by exactly these units as they go (per sample of a pass, per
//! SGD step, per row of a numeric gradient), so a progress bar over
//! [`crate::budget::check_work`]'s total ends at 100 %. This module sits below the models and
//! kernels that count with it; [`crate::budget`] (memory and whole-check work) sits above the
//! check.

use crate::problem::Problem;
use crate::scalar::DType;
use crate::tokens::TokenProblem;

/// The size of a problem: n samples, d features, k classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Samples.
    pub n: usize,
    /// Input features.
    pub d: usize,
    /// Classes.
    pub k: usize,
}

impl Shape {
    /// The shape of `problem`.
    pub fn of(problem: &Problem) -> Self {
        Shape { n: problem.n(), d: problem.d(), k: problem.k() }
    }

    /// The linear shape of a token problem: n = B T positions (every position has an input row,
    /// and at most that many tokens are counted), d features, k classes.
    pub fn of_tokens(problem: &TokenProblem) -> Self {
        Shape { n: problem.b().saturating_mul(problem.t_len()), d: problem.d(), k: problem.k() }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n={} d={} k={}", self.n, self.d, self.k)
    }
}

/// Saturating arithmetic on byte and unit counts: nothing here can overflow.
pub(crate) fn mul(factors: &[u128]) -> u128 {
    factors.iter().fold(1u128, |a, &b| a.saturating_mul(b))
}

/// Saturating sum of `terms`.
pub(crate) fn sum(terms: &[u128]) -> u128 {
    terms.iter().fold(0u128, |a, &b| a.saturating_add(b))
}

/// `v` as a u64, saturating.
pub(crate) fn to_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Operations of some part of a check: arithmetic (`+ - * /`, comparisons, copies) and
/// transcendental (`exp`, `ln`), which cost very differently in each dtype ([`Ops::units`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ops {
    /// Arithmetic operations.
    pub arith: u128,
    /// Exponentials and logarithms.
    pub trans: u128,
}

impl Ops {
    /// `arith` arithmetic and `trans` transcendental operations.
    pub fn new(arith: u128, trans: u128) -> Self {
        Ops { arith, trans }
    }

    /// `factor` times these operations (saturating).
    pub fn times(self, factor: u128) -> Self {
        Ops { arith: mul(&[self.arith, factor]), trans: mul(&[self.trans, factor]) }
    }

    /// These operations and `other`'s (saturating).
    pub fn plus(self, other: Ops) -> Self {
        Ops { arith: sum(&[self.arith, other.arith]), trans: sum(&[self.trans, other.trans]) }
    }

    /// The units of work of these operations in `dtype`: each weighted by its relative cost
    /// ([`op_costs`]; an f32 addition is 1).
    pub fn units(self, dtype: DType) -> u64 {
        let (a, t) = op_costs(dtype);
        to_u64(sum(&[mul(&[self.arith, a]), mul(&[self.trans, t])]))
    }
}

/// The relative costs (arithmetic, transcendental) of one operation in `dtype`, an f32 addition
/// in a training loop being 1; for progress estimates only, fitted roughly to runs of
/// `gradlab check` on this machine at n = d = 1000, k = 10: an f32 or f64 epoch runs at about
/// 3e9 units a second, and so do the numeric gradient and the MPFR stages with these weights
/// (within a factor 2). f16 and bf16 convert to f32 and back around each operation; an `exp`
/// (CORE-MATH) costs about 40 f32 additions; an emulated format rounds each f64 result with a
/// few integer operations; MPFR arithmetic costs about 50 + p/2, its `exp`
/// and `ln` about 900 at 53 bits and below (the double-double path) and 40p above. A progress
/// bar's rate corrects the rest as it goes.
pub fn op_costs(dtype: DType) -> (u128, u128) {
    match dtype {
        DType::F16 | DType::BF16 => (3, 60),
        DType::F32 => (1, 40),
        DType::F64 => (1, 50),
        DType::Ieee(_) => (4, 60),
        // C's arithmetic, and a rounding into S at a few storage points.
        DType::Mixed { compute, .. } => {
            let (a, t) = op_costs(compute.dtype());
            (a + 1, t)
        }
        DType::Mpfr(p) => {
            let p = u128::from(p.bits());
            (50 + p / 2, if p <= 53 { 900 } else { 40 * p })
        }
    }
}

/// `ops` in context `ctx`'s dtype, in units of work ([`Ops::units`]).
pub fn units<T: crate::scalar::Scalar>(ctx: T::Ctx, ops: Ops) -> u64 {
    ops.units(T::dtype(ctx))
}

/// Operations of one sample's forward pass: d k products and sums.
pub fn forward_row_ops(d: usize, k: usize) -> Ops {
    Ops::new(mul(&[2, d as u128, k as u128]), 0)
}

/// Operations of one sample's loss gradient: k exponentials, their sum, quotients and scalings.
pub fn loss_grad_row_ops(k: usize) -> Ops {
    Ops::new(mul(&[4, k as u128]), k as u128)
}

/// Operations of one sample's backward pass: 2 d k products and sums (dx and dW).
pub fn backward_row_ops(d: usize, k: usize) -> Ops {
    Ops::new(mul(&[4, d as u128, k as u128]), 0)
}

/// Operations of one SGD step: a product and a difference per weight and bias.
pub fn sgd_step_ops(d: usize, k: usize) -> Ops {
    Ops::new(mul(&[2, k as u128, sum(&[d as u128, 1])]), 0)
}

/// Operations of one whole forward and backward pass over n samples.
pub fn pass_ops(shape: Shape) -> Ops {
    let row =
        forward_row_ops(shape.d, shape.k).plus(loss_grad_row_ops(shape.k)).plus(backward_row_ops(shape.d, shape.k));
    row.times(shape.n as u128)
}

/// ceil(log2 x) + 1: the additions along one path of a pairwise tree of x leaves, plus one.
pub(crate) fn tree_path(x: usize) -> u128 {
    u128::from(usize::BITS - x.saturating_sub(1).leading_zeros()) + 1
}
