//! A user's model: logistic regression with an L2 term, checked in f32, f64, bf16+f32 and
//! mpfr:128 against its MPFR truth. `cargo run --release --example own_model`.
//! Loss: mean_j [ln(1 + e^z_j) - y_j z_j] + LAMBDA sum_i w_i^2, with z_j = x_j . w + b.
//! Mixed `S+C` (bf16+f32): the state is stored rounded to S, every operation computed in C.
use gradlab::model::{Model, TensorKind};
use gradlab::prelude::*;
use gradlab::{check::check_model, check::Checked, scalar::num::Num, watch::Watch};
use ndarray::{Array2, ArrayView2};

/// The one tensor a gradient is taken of here: the weight (1 x d).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weight;
impl TensorKind for Weight {
    fn name(self) -> &'static str {
        "weight"
    }
}
/// n samples of d features. The model's field is the L2 term's factor in the gradient: 2 (d/dw
/// of w^2; the tests plant 1 as a bug). LAMBDA = 1/8.
pub const N: usize = 16;
pub const D: usize = 3;
pub struct LogReg(pub i64);
/// Data and parameters at a dtype: x (n x d), y (0 or 1), w (1 x d), b.
pub struct State<T> {
    x: Array2<T>,
    y: Vec<T>,
    w: Array2<T>,
    b: T,
}
/// The data in f64 (tests/fixtures/own_model/reference.py builds the same).
pub fn data() -> (Vec<[f64; D]>, Vec<f64>, [f64; D], f64) {
    let x = (0..N).map(|j| [0, 1, 2].map(|i| ((7 * j + 3 * i) % 11) as f64 / 8.0 - 0.6)).collect();
    let y = (0..N).map(|j| f64::from(j % 3 == 0)).collect();
    (x, y, [0.5, -0.25, 0.75], 0.125)
}
/// The logits z_j = x_j . w + b in any number type.
fn logits<M: Num>(s: &State<M::Real>, w: ArrayView2<M>) -> Vec<M> {
    (0..N).map(|j| (0..D).fold(M::real(s.b.clone()), |z, i| z.add(&w[[0, i]].scale(&s.x[[j, i]])))).collect()
}
/// The loss, each operation rounded in `M`.
fn loss<M: Num>(s: &State<M::Real>, w: ArrayView2<M>, c: impl Fn(i64) -> M) -> M {
    let terms = logits(s, w).into_iter().zip(&s.y).map(|(z, y)| c(1).add(&z.exp()).ln().sub(&z.scale(y)));
    let l2 = w.iter().fold(c(0), |acc, wi| acc.add(&wi.mul(wi)));
    terms.fold(c(0), |a, t| a.add(&t)).div(&c(N as i64)).add(&l2.div(&c(8)))
}
/// dL/dw_i = mean_j (sigma(z_j) - y_j) x_ji + 2 LAMBDA w_i, each operation rounded in `M`.
fn grad<M: Num>(s: &State<M::Real>, w: ArrayView2<M>, l2_factor: i64, c: impl Fn(i64) -> M) -> Array2<M> {
    let sigma = |z: &M| c(1).div(&c(1).add(&z.neg().exp()));
    let r: Vec<M> = logits(s, w).iter().zip(&s.y).map(|(z, y)| sigma(z).sub(&M::real(y.clone()))).collect();
    Array2::from_shape_fn((1, D), |(_, i)| {
        let mean = (0..N).fold(c(0), |a, j| a.add(&r[j].scale(&s.x[[j, i]]))).div(&c(N as i64));
        mean.add(&c(l2_factor).mul(&w[[0, i]]).div(&c(8)))
    })
}
impl Model for LogReg {
    type Tensor = Weight;
    type State<T: Scalar> = State<T>;
    fn tensors(&self) -> &[Weight] {
        &[Weight]
    }
    fn state<T: Scalar>(&self, ctx: T::Ctx) -> (State<T>, usize) {
        let (x, y, w, b) = data();
        let mut rounded = 0;
        let mut s = |v: f64| {
            let r = T::stored_from_f64(v, ctx); // rounded once, to S for a mixed dtype
            rounded += usize::from(r.to_f64() != v);
            r
        };
        let (x, w) =
            (Array2::from_shape_fn((N, D), |(j, i)| s(x[j][i])), Array2::from_shape_fn((1, D), |(_, i)| s(w[i])));
        (State { x, y: y.iter().map(|v| T::from_f64(*v, ctx)).collect(), w, b: s(b) }, rounded)
    }
    fn tensor<'s, T: Scalar>(&self, s: &'s State<T>, _: Weight) -> ArrayView2<'s, T> {
        s.w.view()
    }
    fn loss<T: Scalar, M: Num<Real = T>>(&self, s: &State<T>, _: Weight, v: ArrayView2<M>) -> M {
        loss(s, v, |n| M::real(T::from_int(n, s.b.ctx())))
    }
    fn backward<T: Scalar>(&self, s: &State<T>, _: Weight, _: &Watch) -> Result<Array2<T>> {
        Ok(grad(s, s.w.view(), self.0, |n| T::from_int(n, s.b.ctx())))
    }
    fn to_mpfr<T: Scalar>(&self, s: &State<T>, _: Weight, p: Prec, _: &Watch) -> Result<State<rug::Float>> {
        let (up, bits) = (|a: &Array2<T>| a.map(|v| v.to_float(p.bits())), p.bits());
        Ok(State { x: up(&s.x), y: s.y.iter().map(|v| v.to_float(bits)).collect(), w: up(&s.w), b: s.b.to_float(bits) })
    }
}
fn main() -> Result<()> {
    println!("{:<9} {:>6} {:>9} {:>12} {:>13}", "dtype", "step", "relerr", "num-vs-truth", "anal-vs-truth");
    for dt in ["f32", "f64", "bf16+f32", "mpfr:128"] {
        let (dt, steps) = (DType::parse(dt)?, parse_list("step", "1e-1,1e-3,1e-6")?);
        let steps = Steps::grid(steps.into_iter().filter(|h| gradlab::policy::check_step(h, dt).is_ok()).collect())?;
        let cfg = CheckConfig { truth: Some(Prec::new(256)?), ..CheckConfig::seed(Scheme::Central, steps) };
        for r in check_model(&LogReg(2), Weight, &Checked::new(cfg, dt)?, &Watch::unwatched())?.rows {
            let (h, e, n, a) = (r.eps, r.relerr_mean, r.num_vs_truth, r.anal_vs_truth);
            println!("{:<9} {h:>6} {e:>9.2e} {n:>12.2e} {a:>13.2e}", dt.to_string());
        }
    }
    Ok(())
}
