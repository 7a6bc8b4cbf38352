//! The exact side of a diagnosis of the linear model, fast enough for MNIST-sized batches: the
//! logits, the softmax and the x, W and b gradients of a loss that weights every sample by its
//! own factor, from the problem's values (f64, exact for every f32 or f64 file).
//!
//! **How exact.** Every product (x_ji w_ci for the logits, G_jc w_ci for x.grad, G_jc x_ji for
//! W.grad) is formed exactly by Dekker's TwoProduct and summed with compensation into a
//! double-double (Ogita, Rump and Oishi's Dot2): a sum of m terms is within about
//! (m + 4) 2^-104 of the sum of its terms' magnitudes, and the logits gradient G = w (p - onehot)
//! carries one relative 2^-100 from the softmax, which is computed from the double-double logits
//! in MPFR at [`SOFTMAX_BITS`] bits (n k exponentials). So every truth here is within 2^-90 of
//! its terms' magnitudes at n = 10^6 samples, some 60 orders of magnitude below any rounding a
//! dtype of at most 53 bits makes, and the tests compare every gradient with the MPFR pass at
//! 256 bits ([`crate::truth::truth_grad`]).
//!
//! **Cost.** Three passes of n k d compensated multiply-adds (logits, then x.grad or W.grad), in
//! parallel over rows or column blocks: each output element is computed by one thread in one
//! fixed order, so the results do not depend on the thread count.
//!
//! The f64 companions (probabilities, residuals, the drift of a gradient along a parameter
//! direction) feed the tolerance and the fits of the causes, where f64 is plenty.

use crate::objective::LinearTensor;
use crate::problem::Problem;
use crate::scalar::dd::{dd_add, dd_mul, fast_two_sum, split, to_dd, Dd};
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use rug::{Assign, Float};

/// The precision of the softmax: the exponentials, their sum and the quotients, from the
/// double-double logits (error 2^-104 of their magnitudes). 128 bits keeps the probabilities
/// within 2^-120 relative, below the double-double's own resolution.
pub const SOFTMAX_BITS: u32 = 128;

/// Columns per block of the W.grad pass: a block's accumulators (k rows of this many, two f64
/// each) stay in cache while every sample's row streams past.
const COLUMN_BLOCK: usize = 64;

/// The least work (multiply-adds) worth a task of its own in the f64 passes: smaller problems
/// (the replay's 10 x 4 steps, thousands of passes each) run on the calling thread, where
/// splitting them costs more than it saves. Each row is computed alike either way.
const MIN_TASK_WORK: usize = 1 << 14;

/// Rows per task for rows of `work` multiply-adds each ([`MIN_TASK_WORK`]).
fn min_rows(work: usize) -> usize {
    (MIN_TASK_WORK / work.max(1)).max(1)
}

/// A matrix of double-doubles: the exact value of element e is approximately `hi[e] + lo[e]`, with
/// |lo| <= ulp(hi) / 2 (so hi is the value rounded to f64).
#[derive(Clone, Debug, PartialEq)]
pub struct DdMatrix {
    /// The values rounded to f64.
    pub hi: Array2<f64>,
    /// What the rounding left.
    pub lo: Array2<f64>,
}

impl DdMatrix {
    fn zeros(shape: (usize, usize)) -> Self {
        DdMatrix { hi: Array2::zeros(shape), lo: Array2::zeros(shape) }
    }

    /// The element at `ix` as a double-double.
    pub(crate) fn get(&self, ix: (usize, usize)) -> Dd {
        Dd { hi: self.hi[ix], lo: self.lo[ix] }
    }

    /// Every element times the exact rational `num / den` (both small integers), as a
    /// double-double product with the double-double nearest to it.
    pub fn scaled(&self, num: i64, den: i64) -> Self {
        let f = ratio_dd(num, den);
        let mut out = self.clone();
        ndarray::Zip::from(&mut out.hi).and(&mut out.lo).for_each(|h, l| {
            let v = dd_mul(Dd { hi: *h, lo: *l }, f);
            (*h, *l) = (v.hi, v.lo);
        });
        out
    }
}

/// num / den as a double-double (within 2^-106 relative).
pub(crate) fn ratio_dd(num: i64, den: i64) -> Dd {
    to_dd(&Float::with_val(SOFTMAX_BITS, rug::Rational::from((num, den))))
}

/// s + c += (a + a_lo) * v: the product a v exactly (its rounding error by an FMA when `FMA`,
/// else by Dekker's TwoProduct from the halves ah + al of a and the split of v: the same exact
/// value either way), a_lo v rounded, the sum compensated (TwoSum into s, the errors into c). The
/// result does not depend on `FMA`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mac<const FMA: bool>(s: &mut f64, c: &mut f64, a: f64, ah: f64, al: f64, a_lo: f64, v: f64) {
    let p = a * v;
    let e = if FMA {
        a.mul_add(v, -p)
    } else {
        let (vh, vl) = split(v);
        ((ah * vh - p) + ah * vl + al * vh) + al * vl
    };
    let t = *s + p;
    let bb = t - *s;
    let e1 = (*s - (t - bb)) + (p - bb);
    *s = t;
    *c += e1 + (e + a_lo * v);
}

/// Whether this CPU runs the kernels' AVX2 and FMA versions (checked once). They give the same
/// bits as the portable ones: products' errors are exact either way, no sum is reassociated, and
/// no multiply-add is fused outside the exact error terms.
fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *WIDE.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `$name(args)`, which runs `$body` compiled for AVX2 and FMA where the CPU has them
/// ([`wide`]) and portably elsewhere; inside `$body`, `FMA` says which.
macro_rules! kernel {
    ($(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name($($a: $t),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body<const FMA: bool>($($a: $t),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn fast($($a: $t),*) {
                body::<true>($($a),*)
            }
            #[cfg(target_arch = "x86_64")]
            if wide() {
                // SAFETY: the CPU has AVX2 and FMA (checked by `wide`).
                return unsafe { fast($($a),*) };
            }
            body::<false>($($a),*)
        }
    };
}

kernel! {
    /// acc_s + acc_c += (a + a_lo) v elementwise, compensated ([`mac`]).
    fn axpy_dd(acc_s: &mut [f64], acc_c: &mut [f64], a: f64, a_lo: f64, v: &[f64]) {
        let (ah, al) = split(a);
        for ((s, c), &x) in acc_s.iter_mut().zip(acc_c.iter_mut()).zip(v) {
            mac::<FMA>(s, c, a, ah, al, a_lo, x);
        }
    }
}

kernel! {
    /// acc += a v elementwise in f64.
    fn axpy(acc: &mut [f64], a: f64, v: &[f64]) {
        let _ = FMA;
        for (s, &x) in acc.iter_mut().zip(v) {
            *s += a * x;
        }
    }
}

/// The largest gradient precision (significand bits) for which searches over parameters use
/// [`Exact::at_f64`]: its error (about 784 u_f64 relative at MNIST's d) is below 2^-20 of a
/// 30-bit gradient's rounding unit.
pub const F64_PASS_MAX_BITS: u32 = 30;

/// The linear model's exact forward pass at one set of parameters, and what the gradients of any
/// per-sample weighting of its loss need.
#[derive(Clone, Debug)]
pub struct Exact {
    /// The inputs, n x d.
    pub x: Array2<f64>,
    /// The weight, k x d.
    pub w: Array2<f64>,
    /// The bias, k.
    pub b: Vec<f64>,
    /// The targets.
    pub t: Vec<usize>,
    /// The logits, n x k.
    pub z: DdMatrix,
    /// p - onehot(t) per sample and class (exact to 2^-120 relative), n x k.
    pub residual: DdMatrix,
    /// The softmax probabilities rounded to f64, n x k.
    pub p: Array2<f64>,
    /// ln sum_c exp(z_jc - max_c z_jc) per sample, rounded to f64.
    pub ln_s: Vec<f64>,
}

impl Exact {
    /// The exact forward pass of `problem` at its parameters, stopping early when `watch` is
    /// stopped (checked before every sample).
    ///
    /// # Errors
    /// [`crate::Error::Interrupted`] when the watch was stopped.
    pub fn new(problem: &Problem, watch: &Watch) -> crate::Result<Self> {
        Self::at(problem.x.clone(), problem.weight.clone(), problem.bias.to_vec(), problem.t.clone(), watch)
    }

    /// The forward pass in f64 arithmetic instead of double-double logits and an MPFR softmax:
    /// for the searches over parameters of a gradient of at most [`F64_PASS_MAX_BITS`] bits
    /// (the SGD step back of `params_after_step`). The logits carry an error of about d u_f64
    /// |x| |W|; each residual is formed without cancellation (the target's p - 1 as minus the
    /// other classes' probabilities), so its relative error is a few u_f64 beyond the logits'.
    /// `z.lo` and `residual.lo` are 0.
    pub fn at_f64(x: Array2<f64>, w: Array2<f64>, b: Vec<f64>, t: Vec<usize>) -> Self {
        let (x, w) = (x.as_standard_layout().into_owned(), w.as_standard_layout().into_owned());
        let (n, k) = (x.nrows(), w.nrows());
        let zf = f64_logits(x.view(), w.view(), &b);
        let mut residual = DdMatrix::zeros((n, k));
        let mut p = Array2::zeros((n, k));
        let mut ln_s = vec![0.0; n];
        let mut e = vec![0.0; k];
        for j in 0..n {
            let z = zf.row(j);
            let s = f64_softmax_row(z.as_slice().unwrap_or_else(|| unreachable!("standard layout")), &mut e);
            f64_residual_row(&e, s, t[j], |c, pc, r| {
                p[[j, c]] = pc;
                residual.hi[[j, c]] = r;
            });
            ln_s[j] = s.ln();
        }
        let z = from_parts((n, k), zf.into_raw_vec_and_offset().0, vec![0.0; n * k]);
        Exact { x, w, b, t, z, residual, p, ln_s }
    }

    /// The exact forward pass with inputs `x` (n x d), weight `w` (k x d), bias `b` and targets,
    /// the watch checked before every sample.
    pub fn at(x: Array2<f64>, w: Array2<f64>, b: Vec<f64>, t: Vec<usize>, watch: &Watch) -> crate::Result<Self> {
        let (x, w) = (x.as_standard_layout().into_owned(), w.as_standard_layout().into_owned());
        let (n, k) = (x.nrows(), w.nrows());
        let z = logits(&x, &w, &b, watch);
        watch.checkpoint(|| "the exact logits".to_string())?;
        let mut residual = DdMatrix::zeros((n, k));
        let mut p = Array2::zeros((n, k));
        let mut ln_s = vec![0.0; n];
        let rows: Vec<(Vec<Dd>, Vec<f64>, f64)> = (0..n)
            .into_par_iter()
            .map_init(
                || (Float::new(SOFTMAX_BITS), Float::new(SOFTMAX_BITS), Vec::<Float>::new()),
                |(m, s, e), j| {
                    if watch.stop_requested() {
                        return (vec![Dd { hi: 0.0, lo: 0.0 }; k], vec![0.0; k], 0.0);
                    }
                    softmax_row(&z, j, t[j], m, s, e)
                },
            )
            .collect();
        watch.checkpoint(|| "the exact softmax".to_string())?;
        for (j, (r, pj, ls)) in rows.into_iter().enumerate() {
            for (c, (rc, pc)) in r.iter().zip(pj).enumerate() {
                residual.hi[[j, c]] = rc.hi;
                residual.lo[[j, c]] = rc.lo;
                p[[j, c]] = pc;
            }
            ln_s[j] = ls;
        }
        Ok(Exact { x, w, b, t, z, residual, p, ln_s })
    }

    /// The number of samples n.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// The number of classes k.
    pub fn k(&self) -> usize {
        self.w.nrows()
    }

    /// The number of features d.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// The logits gradient G_jc = weights_j (p_jc - [c = t_j]) of the loss sum_j weights_j loss_j.
    ///
    /// # Panics
    /// When `weights` does not hold one value per sample (a caller's bug).
    pub(crate) fn logits_grad(&self, weights: &[Dd]) -> DdMatrix {
        assert_eq!(weights.len(), self.n(), "one weight per sample");
        let mut g = self.residual.clone();
        for (j, &wj) in weights.iter().enumerate() {
            for c in 0..self.k() {
                let v = dd_mul(self.residual.get((j, c)), wj);
                g.hi[[j, c]] = v.hi;
                g.lo[[j, c]] = v.lo;
            }
        }
        g
    }

    /// The exact `wrt` gradient (input n x d, weight k x d, bias 1 x k) of the loss
    /// sum_j weights_j loss_j.
    ///
    /// # Panics
    /// For a `wrt` other than input, weight or bias, or a weight count other than n.
    pub(crate) fn grad(&self, wrt: LinearTensor, weights: &[Dd]) -> DdMatrix {
        let g = self.logits_grad(weights);
        match wrt {
            LinearTensor::Input => input_grad(&g, &self.w),
            LinearTensor::Weight => weight_grad(&g, &self.x),
            LinearTensor::Bias => bias_grad(&g),
            other => panic!("the linear model's diagnosis takes input, weight and bias gradients, not {other}"),
        }
    }

    /// The `wrt` gradient of sum_j weights_j loss_j in f64 (for directions and fits, where f64 is
    /// plenty).
    pub(crate) fn f64_grad(&self, wrt: LinearTensor, weights: &[f64]) -> Array2<f64> {
        let (n, k) = (self.n(), self.k());
        let g = Array2::from_shape_fn((n, k), |(j, c)| weights[j] * self.residual.hi[[j, c]]);
        match wrt {
            LinearTensor::Input => f64_input_grad(g.view(), self.w.view()),
            LinearTensor::Weight => f64_weight_grad(g.view(), self.x.view()),
            _ => f64_bias_grad(g.view()),
        }
    }

    /// The derivative, in f64, of the `wrt` gradient of sum_j weights_j loss_j along the
    /// parameter direction (dw, db): d/de g(W + e dw, b + e db) at e = 0 (a Hessian-vector
    /// product, by the chain rule through the softmax).
    pub(crate) fn directional(
        &self,
        wrt: LinearTensor,
        weights: &[f64],
        dw: ArrayView2<f64>,
        db: &[f64],
    ) -> Array2<f64> {
        let (n, k) = (self.n(), self.k());
        let dz = f64_logits(self.x.view(), dw, db);
        let mut dg = Array2::zeros((n, k));
        for j in 0..n {
            let mean: f64 = (0..k).map(|c| self.p[[j, c]] * dz[[j, c]]).sum();
            for c in 0..k {
                dg[[j, c]] = weights[j] * self.p[[j, c]] * (dz[[j, c]] - mean);
            }
        }
        match wrt {
            LinearTensor::Input => {
                let g = Array2::from_shape_fn((n, k), |(j, c)| weights[j] * self.residual.hi[[j, c]]);
                let mut out = f64_input_grad(dg.view(), self.w.view());
                out += &f64_input_grad(g.view(), dw);
                out
            }
            LinearTensor::Weight => f64_weight_grad(dg.view(), self.x.view()),
            _ => f64_bias_grad(dg.view()),
        }
    }
}

/// One sample's softmax in MPFR: (p - onehot as double-doubles, p in f64, ln sum exp(z - max)).
fn softmax_row(
    z: &DdMatrix,
    j: usize,
    target: usize,
    m: &mut Float,
    s: &mut Float,
    e: &mut Vec<Float>,
) -> (Vec<Dd>, Vec<f64>, f64) {
    let k = z.hi.ncols();
    e.resize_with(k, || Float::new(SOFTMAX_BITS));
    for (c, ec) in e.iter_mut().enumerate() {
        ec.assign(z.hi[[j, c]]);
        *ec += z.lo[[j, c]];
    }
    m.assign(&e[0]);
    for ec in e.iter().skip(1) {
        if *ec > *m {
            m.assign(ec);
        }
    }
    s.assign(0);
    for ec in e.iter_mut() {
        *ec -= &*m;
        ec.exp_mut();
        *s += &*ec;
    }
    let mut r = Vec::with_capacity(k);
    let mut p = Vec::with_capacity(k);
    for (c, ec) in e.iter_mut().enumerate() {
        *ec /= &*s;
        p.push(ec.to_f64());
        if c == target {
            *ec -= 1;
        }
        r.push(to_dd(ec));
    }
    s.ln_mut();
    (r, p, s.to_f64())
}

/// z = x w^T + b in double-double: one sample per task, the k classes side by side (W
/// transposed so that a feature's k weights are contiguous); zero inputs are skipped.
fn logits(x: &Array2<f64>, w: &Array2<f64>, b: &[f64], watch: &Watch) -> DdMatrix {
    let (n, d, k) = (x.nrows(), x.ncols(), w.nrows());
    let wt = w.t().as_standard_layout().into_owned();
    let mut hi = vec![0.0; n * k];
    let mut lo = vec![0.0; n * k];
    hi.par_chunks_mut(k).zip(lo.par_chunks_mut(k)).enumerate().for_each(|(j, (sh, sl))| {
        if watch.stop_requested() {
            return;
        }
        // The bias first: s = b exactly, then every product compensated.
        sh.copy_from_slice(b);
        for i in 0..d {
            let a = x[[j, i]];
            if a != 0.0 {
                axpy_dd(sh, sl, a, 0.0, wt.row(i).as_slice().unwrap_or_else(|| unreachable!("standard layout")));
            }
        }
        normalise(sh, sl);
    });
    from_parts((n, k), hi, lo)
}

/// x.grad = G W in double-double: one sample per task, its d features side by side.
fn input_grad(g: &DdMatrix, w: &Array2<f64>) -> DdMatrix {
    let (n, k, d) = (g.hi.nrows(), g.hi.ncols(), w.ncols());
    let mut hi = vec![0.0; n * d];
    let mut lo = vec![0.0; n * d];
    hi.par_chunks_mut(d).zip(lo.par_chunks_mut(d)).enumerate().for_each(|(j, (sh, sl))| {
        for c in 0..k {
            let (a, a_lo) = (g.hi[[j, c]], g.lo[[j, c]]);
            if a != 0.0 || a_lo != 0.0 {
                axpy_dd(sh, sl, a, a_lo, w.row(c).as_slice().unwrap_or_else(|| unreachable!("standard layout")));
            }
        }
        normalise(sh, sl);
    });
    from_parts((n, d), hi, lo)
}

/// W.grad = G^T x in double-double: one block of columns per task, every sample streaming past
/// the block's k rows of accumulators.
fn weight_grad(g: &DdMatrix, x: &Array2<f64>) -> DdMatrix {
    let (n, k, d) = (g.hi.nrows(), g.hi.ncols(), x.ncols());
    let blocks: Vec<(usize, usize)> = (0..d).step_by(COLUMN_BLOCK).map(|a| (a, (a + COLUMN_BLOCK).min(d))).collect();
    let parts: Vec<(Vec<f64>, Vec<f64>)> = blocks
        .par_iter()
        .map(|&(a, e)| {
            let width = e - a;
            let (mut sh, mut sl) = (vec![0.0; k * width], vec![0.0; k * width]);
            for j in 0..n {
                let row = &x.row(j).to_slice().unwrap_or_else(|| unreachable!("standard layout"))[a..e];
                if row.iter().all(|&v| v == 0.0) {
                    continue;
                }
                for c in 0..k {
                    let (gv, g_lo) = (g.hi[[j, c]], g.lo[[j, c]]);
                    if gv != 0.0 || g_lo != 0.0 {
                        let span = c * width..(c + 1) * width;
                        axpy_dd(&mut sh[span.clone()], &mut sl[span], gv, g_lo, row);
                    }
                }
            }
            normalise(&mut sh, &mut sl);
            (sh, sl)
        })
        .collect();
    let mut out = DdMatrix::zeros((k, d));
    for (&(a, e), (sh, sl)) in blocks.iter().zip(parts) {
        let width = e - a;
        for c in 0..k {
            for i in 0..width {
                out.hi[[c, a + i]] = sh[c * width + i];
                out.lo[[c, a + i]] = sl[c * width + i];
            }
        }
    }
    out
}

/// b.grad = sum_j G_j in double-double (a 1 x k row).
fn bias_grad(g: &DdMatrix) -> DdMatrix {
    let (n, k) = g.hi.dim();
    let mut out = DdMatrix::zeros((1, k));
    for c in 0..k {
        let s = (0..n).fold(Dd { hi: 0.0, lo: 0.0 }, |acc, j| dd_add(acc, g.get((j, c))));
        out.hi[[0, c]] = s.hi;
        out.lo[[0, c]] = s.lo;
    }
    out
}

fn normalise(sh: &mut [f64], sl: &mut [f64]) {
    for (h, l) in sh.iter_mut().zip(sl.iter_mut()) {
        let r = fast_two_sum(*h, *l);
        (*h, *l) = (r.hi, r.lo);
    }
}

fn from_parts(shape: (usize, usize), hi: Vec<f64>, lo: Vec<f64>) -> DdMatrix {
    let m = |v| Array2::from_shape_vec(shape, v).unwrap_or_else(|_| unreachable!("one value per element"));
    DdMatrix { hi: m(hi), lo: m(lo) }
}

/// z = x w^T + b in f64 (n x k), in a fixed order (no BLAS: the same bits on every machine).
pub(crate) fn f64_logits(x: ArrayView2<f64>, w: ArrayView2<f64>, b: &[f64]) -> Array2<f64> {
    let (n, k) = (x.nrows(), w.nrows());
    let wt = w.t().as_standard_layout().into_owned();
    let mut out = Array2::zeros((n, k));
    let slice = out.as_slice_mut().unwrap_or_else(|| unreachable!("a new array is in standard layout"));
    slice.par_chunks_mut(k).with_min_len(min_rows(k * x.ncols())).enumerate().for_each(|(j, zj)| {
        zj.copy_from_slice(b);
        for (i, &xv) in x.row(j).iter().enumerate() {
            if xv != 0.0 {
                axpy(zj, xv, wt.row(i).as_slice().unwrap_or_else(|| unreachable!("standard layout")));
            }
        }
    });
    out
}

/// The W and b gradients of sum_j weights_j loss_j in f64 for one problem at many parameter
/// points (the replay's steps back: thousands of passes, most on small problems), with its
/// buffers kept between passes. Either way the bits are those of [`Exact::at_f64`] then
/// [`Exact::f64_grad`] (a test checks them): small problems run in plain loops on the calling
/// thread with the same products and sums in the same order (Rust never fuses a multiply-add),
/// larger ones in the parallel f64 pass.
pub(crate) struct ParamGradients<'a> {
    /// The inputs, n x d in standard layout.
    x: Array2<f64>,
    t: &'a [usize],
    weights: &'a [f64],
    /// The logits, then the weighted residuals, n x k.
    g: Vec<f64>,
    /// W transposed, d x k.
    wt: Vec<f64>,
    /// One sample's exponentials.
    e: Vec<f64>,
}

impl<'a> ParamGradients<'a> {
    /// The gradients of sum_j weights_j loss_j on inputs `x` and targets `t`.
    pub(crate) fn new(x: ArrayView2<'a, f64>, t: &'a [usize], weights: &'a [f64]) -> Self {
        let x = x.as_standard_layout().into_owned();
        ParamGradients { x, t, weights, g: Vec::new(), wt: Vec::new(), e: Vec::new() }
    }

    /// The W and b gradients at weight `w` (k x d) and bias `b`.
    pub(crate) fn at(&mut self, w: ArrayView2<f64>, b: &[f64]) -> (Array2<f64>, Vec<f64>) {
        let (n, d, k) = (self.x.nrows(), self.x.ncols(), w.nrows());
        self.e.resize(k, 0.0);
        let small = n * d * k < MIN_TASK_WORK && d > 0 && k > 0;
        if !small {
            self.g = f64_logits(self.x.view(), w, b).into_raw_vec_and_offset().0;
        } else {
            // f64_logits' arithmetic: b, then x_ji times W's column i added feature by feature.
            let x = self.x.as_slice().unwrap_or_else(|| unreachable!("standard layout"));
            self.wt.clear();
            self.wt.extend((0..d).flat_map(|i| w.column(i).into_iter().copied()));
            self.g.resize(n * k, 0.0);
            for (zj, xj) in self.g.chunks_exact_mut(k).zip(x.chunks_exact(d)) {
                zj.copy_from_slice(b);
                for (&a, wi) in xj.iter().zip(self.wt.chunks_exact(k)) {
                    if a != 0.0 {
                        zj.iter_mut().zip(wi).for_each(|(z, &v)| *z += a * v);
                    }
                }
            }
        }
        for (j, zj) in self.g.chunks_mut(k).enumerate() {
            let s = f64_softmax_row(zj, &mut self.e);
            f64_residual_row(&self.e, s, self.t[j], |c, _, r| zj[c] = self.weights[j] * r);
        }
        let g = ArrayView2::from_shape((n, k), &self.g).unwrap_or_else(|_| unreachable!("n x k values"));
        let bias = f64_bias_grad(g).row(0).to_vec();
        if !small {
            return (f64_weight_grad(g, self.x.view()), bias);
        }
        // f64_weight_grad's arithmetic: every sample's g_jc x_j added in turn.
        let x = self.x.as_slice().unwrap_or_else(|| unreachable!("standard layout"));
        let mut gw = vec![0.0; k * d];
        for (gj, xj) in self.g.chunks_exact(k).zip(x.chunks_exact(d)) {
            if xj.iter().all(|&v| v == 0.0) {
                continue;
            }
            for (&gv, out) in gj.iter().zip(gw.chunks_exact_mut(d)) {
                if gv != 0.0 {
                    out.iter_mut().zip(xj).for_each(|(o, &v)| *o += gv * v);
                }
            }
        }
        let gw = Array2::from_shape_vec((k, d), gw).unwrap_or_else(|_| unreachable!("k x d values"));
        (gw, bias)
    }
}

/// exp(z_c - max z) into `e` for one sample's f64 logits; returns their sum.
fn f64_softmax_row(z: &[f64], e: &mut [f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for (ec, &zc) in e.iter_mut().zip(z) {
        *ec = (zc - m).exp();
    }
    e.iter().sum()
}

/// One sample's probabilities e_c / s and residuals p - onehot(t), each residual formed without
/// cancellation (the target's p - 1 as minus the other classes' probabilities), passed to `put`
/// as (class, probability, residual).
fn f64_residual_row(e: &[f64], s: f64, t: usize, mut put: impl FnMut(usize, f64, f64)) {
    let others: f64 = e.iter().enumerate().filter(|&(c, _)| c != t).map(|(_, v)| v).sum();
    for (c, &ec) in e.iter().enumerate() {
        put(c, ec / s, if c == t { -(others / s) } else { ec / s });
    }
}

/// G w (n x d) in f64 for G n x k and w k x d.
pub(crate) fn f64_input_grad(g: ArrayView2<f64>, w: ArrayView2<f64>) -> Array2<f64> {
    let (n, d) = (g.nrows(), w.ncols());
    let w = w.as_standard_layout().into_owned();
    let mut out = Array2::zeros((n, d));
    let slice = out.as_slice_mut().unwrap_or_else(|| unreachable!("a new array is in standard layout"));
    slice.par_chunks_mut(d).with_min_len(min_rows(d * g.ncols())).enumerate().for_each(|(j, row)| {
        for (c, &gv) in g.row(j).iter().enumerate() {
            if gv != 0.0 {
                axpy(row, gv, w.row(c).as_slice().unwrap_or_else(|| unreachable!("standard layout")));
            }
        }
    });
    out
}

/// G^T x (k x d) in f64 for G n x k and x n x d.
pub(crate) fn f64_weight_grad(g: ArrayView2<f64>, x: ArrayView2<f64>) -> Array2<f64> {
    let (n, k, d) = (g.nrows(), g.ncols(), x.ncols());
    let x = x.as_standard_layout();
    let blocks: Vec<(usize, usize)> = (0..d).step_by(COLUMN_BLOCK).map(|a| (a, (a + COLUMN_BLOCK).min(d))).collect();
    let parts: Vec<Vec<f64>> = blocks
        .par_iter()
        .with_min_len(min_rows(n * k * COLUMN_BLOCK))
        .map(|&(a, e)| {
            let width = e - a;
            let mut acc = vec![0.0; k * width];
            for j in 0..n {
                let row = &x.row(j).to_slice().unwrap_or_else(|| unreachable!("standard layout"))[a..e];
                if row.iter().all(|&v| v == 0.0) {
                    continue;
                }
                for c in 0..k {
                    let gv = g[[j, c]];
                    if gv != 0.0 {
                        axpy(&mut acc[c * width..(c + 1) * width], gv, row);
                    }
                }
            }
            acc
        })
        .collect();
    let mut out = Array2::zeros((k, d));
    for (&(a, e), acc) in blocks.iter().zip(parts) {
        let width = e - a;
        for c in 0..k {
            for i in 0..width {
                out[[c, a + i]] = acc[c * width + i];
            }
        }
    }
    out
}

/// sum_j G_j (1 x k) in f64.
pub(crate) fn f64_bias_grad(g: ArrayView2<f64>) -> Array2<f64> {
    let k = g.ncols();
    Array2::from_shape_fn((1, k), |(_, c)| g.column(c).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::Reduction;
    use crate::scalar::Prec;
    use crate::train::TrainConfig;

    /// Every gradient of the double-double pass is within 2^-95 of its terms' magnitudes of the
    /// MPFR pass at 256 bits (the truth of `gradlab check`), for the mean and for per-sample
    /// weights, on problems with inputs in f64 (full 53-bit values) and a wide range of logits.
    #[test]
    fn the_double_double_pass_matches_mpfr_at_256_bits() {
        let prec = Prec::new(256).unwrap();
        for (n, d, k, seed) in [(10, 4, 2, 1), (37, 9, 5, 2), (200, 33, 10, 3)] {
            let mut p = Problem::generate(n, d, k, seed).unwrap();
            // Full-precision values and logits up to about 30: every product inexact in f64.
            p.x.iter_mut().enumerate().for_each(|(i, v)| *v = *v * 3.0 + (i as f64 * 0.618).sin() * 1e-3);
            p.weight.mapv_inplace(|v| v * 7.0 + 1e-9);
            let none = Watch::unwatched();
            let ex = Exact::new(&p, &none).unwrap();
            let (tr, _) =
                crate::check::prepare::<f64>(&p, (), &TrainConfig::untrained(Reduction::Mean), &none).unwrap();
            let tr = tr.to_mpfr(prec);
            let mean = vec![ratio_dd(1, n as i64); n];
            for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
                let want = crate::truth::truth_grad(&tr, Reduction::Mean, wrt, prec, &none).unwrap();
                let got = ex.grad(wrt, &mean);
                let scale = ex.f64_grad(wrt, &vec![1.0 / n as f64; n]).mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b));
                for (ix, w) in want.indexed_iter() {
                    let diff = Float::with_val(256, w - got.hi[ix]) - got.lo[ix];
                    let rel = diff.to_f64().abs() / scale.max(1e-300);
                    assert!(rel < 2f64.powi(-95), "{wrt} {ix:?} n={n}: {rel:e}");
                }
            }
        }
    }

    /// The replay's lean parameter gradients are the f64 pass's bits, small problems (run on one
    /// thread) and large ones (split into tasks) alike, with unequal per-sample weights.
    #[test]
    fn the_lean_parameter_gradients_are_the_f64_pass_bits() {
        for (n, d, k, seed) in [(10, 4, 2, 1), (40, 90, 3, 3), (3000, 40, 7, 2)] {
            let mut p = Problem::generate(n, d, k, seed).unwrap();
            // Zero inputs (skipped by both) in some rows, and one whole row of zeros.
            p.x.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0 || *i < d).for_each(|(_, v)| *v = 0.0);
            let weights: Vec<f64> = (0..n).map(|j| 1.0 / (n + j % 3) as f64).collect();
            let ex = Exact::at_f64(p.x.clone(), p.weight.clone(), p.bias.to_vec(), p.t.clone());
            let (gw, gb) = ParamGradients::new(p.x.view(), &p.t, &weights).at(p.weight.view(), &p.bias.to_vec());
            let want_w = ex.f64_grad(LinearTensor::Weight, &weights);
            let want_b = ex.f64_grad(LinearTensor::Bias, &weights);
            assert!(gw.iter().zip(&want_w).all(|(a, b)| a.to_bits() == b.to_bits()), "W.grad n={n}");
            assert!(gb.iter().zip(want_b.row(0)).all(|(a, b)| a.to_bits() == b.to_bits()), "b.grad n={n}");
        }
    }

    /// The f64 pass's gradients are within 2^-40 of the exact pass's, relative to the largest
    /// element, at MNIST's width and with probabilities near 1 (residuals far below 1, where
    /// p - 1 formed directly would cancel): far inside a 30-bit gradient's rounding unit.
    #[test]
    fn the_f64_pass_is_exact_enough_for_30_bit_gradients() {
        for (n, d, k, seed, stretch) in [(50, 784, 10, 1, 1.0), (40, 16, 3, 2, 40.0)] {
            let mut p = Problem::generate(n, d, k, seed).unwrap();
            p.weight.mapv_inplace(|v| v * stretch);
            let (x, w, b, t) = (p.x.clone(), p.weight.clone(), p.bias.to_vec(), p.t.clone());
            let (exact, fast) = (
                Exact::at(x.clone(), w.clone(), b.clone(), t.clone(), &Watch::unwatched()).unwrap(),
                Exact::at_f64(x, w, b, t),
            );
            let tiny = exact.residual.hi.iter().map(|r| r.abs()).fold(1.0f64, f64::min);
            // The stretched problem does reach residuals where p - 1 would lose digits.
            assert!(stretch == 1.0 || tiny < 1e-6, "smallest residual {tiny:e}");
            // The exact pass's residual p - 1 is formed at SOFTMAX_BITS, so it is exact to
            // 2^-SOFTMAX_BITS absolute (not relative) where p is near 1.
            for (ix, r) in exact.residual.hi.indexed_iter() {
                let allowed = 1e-12 * r.abs() + 2f64.powi(-(SOFTMAX_BITS as i32) + 1);
                let diff = (r - fast.residual.hi[ix]).abs();
                assert!(diff < allowed, "residual {ix:?}: {r:e} against {:e}", fast.residual.hi[ix]);
            }
            let mean = vec![1.0 / n as f64; n];
            for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
                let (want, got) = (exact.f64_grad(wrt, &mean), fast.f64_grad(wrt, &mean));
                let scale = want.iter().map(|v| v.abs()).fold(0.0f64, f64::max);
                let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max) / scale;
                assert!(worst < 2f64.powi(-40), "{wrt} n={n} d={d}: {worst:e} (smallest residual {tiny:e})");
            }
        }
    }

    /// The AVX2 and FMA kernels give the same bits as the portable ones.
    #[test]
    fn wide_and_portable_kernels_agree_bit_for_bit() {
        if !wide() {
            return; // nothing to compare on this CPU
        }
        let v: Vec<f64> = (0..257).map(|i| ((i * 7919 % 1013) as f64 - 506.0) * 1.000_000_1e-3).collect();
        for (a, a_lo) in [(0.1, 1e-18), (-3.7e5, 2.5e-12), (1e-30, 0.0)] {
            let (mut s1, mut c1) = (vec![0.5; 257], vec![0.0; 257]);
            let (mut s2, mut c2) = (s1.clone(), c1.clone());
            let (ah, al) = split(a);
            for _ in 0..3 {
                for ((s, c), &x) in s1.iter_mut().zip(c1.iter_mut()).zip(&v) {
                    mac::<false>(s, c, a, ah, al, a_lo, x);
                }
                axpy_dd(&mut s2, &mut c2, a, a_lo, &v);
            }
            assert_eq!(s1, s2);
            assert_eq!(c1, c2);
        }
    }
}
