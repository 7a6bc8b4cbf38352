//! src/train/: SGD like the seed's loop (`train` on a problem cast into a dtype; tests reach it
//! through `check::prepare`, cast and train). One step on a tiny problem is the update derived by
//! hand in MPFR; x.grad accumulated over epochs whose parameters do not move is E times the reset
//! one; training gives the same bits on one thread and two. (The whole protocol against the
//! independent reference: tests/reference.rs; mixed dtypes' master weights: tests/mixed.rs; the
//! MLP's training: tests/mlp.rs.)

mod common;
use gradlab::check::prepare;
use gradlab::exact::Decimal;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{Prec, Scalar};
use gradlab::train::sgd::{sgd, Backprop};
use gradlab::train::{InputGrad, TrainConfig, Trained};
use gradlab::watch::Watch;
use ndarray::{array, Array1, Array2};
use rug::Float;

fn train_cfg(epochs: usize, lr: &str, input_grad: InputGrad) -> TrainConfig {
    TrainConfig { epochs, lr: Decimal::parse("lr", lr).unwrap(), input_grad, reduction: Reduction::Mean }
}

fn trained<T: Scalar>(p: &Problem, ctx: T::Ctx, cfg: &TrainConfig) -> Trained<T> {
    prepare::<T>(p, ctx, cfg, &Watch::unwatched()).unwrap().0
}

/// Two samples, two features, two classes, every value exact in f64.
fn tiny() -> Problem {
    Problem {
        x: array![[0.5, -1.25], [2.0, 0.75]],
        t: vec![1, 0],
        weight: array![[0.25, -0.5], [1.0, 0.125]],
        bias: Array1::from(vec![0.375, -0.25]),
    }
}

/// The mean cross-entropy's gradients (weight, bias, input) at (w, b), derived by hand and
/// computed in MPFR at 512 bits without gradlab: z = W x + b, p = softmax(z),
/// dz = (p - onehot(t)) / n, dW = dz^T x, db = sum_j dz_j, dx = dz W.
fn hand_grads(p: &Problem, w: &Array2<Float>, b: &[Float]) -> (Array2<Float>, Vec<Float>, Array2<Float>) {
    let f = |v: f64| Float::with_val(512, v);
    let (n, d, k) = (p.x.nrows(), p.x.ncols(), w.nrows());
    let mut dz = Array2::from_elem((n, k), f(0.0));
    for j in 0..n {
        let z: Vec<Float> =
            (0..k).map(|c| (0..d).fold(b[c].clone(), |acc, i| acc + f(p.x[[j, i]]) * &w[[c, i]])).collect();
        let e: Vec<Float> = z.iter().map(|v| v.clone().exp()).collect();
        let total = e.iter().fold(f(0.0), |acc, v| acc + v);
        for c in 0..k {
            let y = if p.t[j] == c { 1.0 } else { 0.0 };
            dz[[j, c]] = (Float::with_val(512, &e[c] / &total) - y) / n as u32;
        }
    }
    let gw = Array2::from_shape_fn((k, d), |(c, i)| (0..n).fold(f(0.0), |acc, j| acc + f(p.x[[j, i]]) * &dz[[j, c]]));
    let gb = (0..k).map(|c| (0..n).fold(f(0.0), |acc, j| acc + &dz[[j, c]])).collect();
    let gx = Array2::from_shape_fn((n, d), |(j, i)| (0..k).fold(f(0.0), |acc, c| acc + &dz[[j, c]] * &w[[c, i]]));
    (gw, gb, gx)
}

/// Largest elementwise |got - want| / |want|.
fn max_rel<T: Scalar>(got: impl IntoIterator<Item = T>, want: impl IntoIterator<Item = Float>) -> f64 {
    got.into_iter()
        .zip(want)
        .map(|(a, r)| (Float::with_val(512, a.to_float(512) - &r) / r).abs().to_f64())
        .fold(0.0, f64::max)
}

/// E = 2 epochs take one SGD step: the final weight and bias are W0 - lr dW(W0) and
/// b0 - lr db(b0), and the kept x.grad is the second pass's, at those parameters; all as derived
/// by hand in MPFR, to the dtype's rounding (f32, f64, MPFR at 256 bits).
#[test]
fn one_sgd_step_is_the_hand_derived_update() {
    let p = tiny();
    let lr = Float::with_val(512, 1) / 10u32;
    let w0 = p.weight.mapv(|v| Float::with_val(512, v));
    let b0: Vec<Float> = p.bias.iter().map(|&v| Float::with_val(512, v)).collect();
    let (gw, gb, _) = hand_grads(&p, &w0, &b0);
    let w1 = Array2::from_shape_fn(w0.dim(), |ix| Float::with_val(512, &w0[ix] - Float::with_val(512, &lr * &gw[ix])));
    let b1: Vec<Float> =
        b0.iter().zip(&gb).map(|(b, g)| Float::with_val(512, b - Float::with_val(512, &lr * g))).collect();
    let (_, _, gx1) = hand_grads(&p, &w1, &b1);
    let moved = w0.iter().zip(w1.iter()).map(|(a, b)| Float::with_val(512, a - b).abs().to_f64()).fold(0.0, f64::max);
    assert!(moved > 1e-3, "the step must move the weight visibly ({moved})");
    let cfg = train_cfg(2, "1e-1", InputGrad::Reset);
    fn check<T: Scalar>(name: &str, tr: Trained<T>, want: (&Array2<Float>, &[Float], &Array2<Float>), tol: f64) {
        let w = max_rel(tr.weight.iter().cloned(), want.0.iter().cloned());
        let b = max_rel(tr.bias.iter().cloned(), want.1.iter().cloned());
        let x = max_rel(tr.grad_x.iter().cloned(), want.2.iter().cloned());
        eprintln!("{name}: weight {w:.2e}, bias {b:.2e}, x.grad {x:.2e}");
        assert!(w <= tol && b <= tol && x <= tol, "{name}: weight {w:e}, bias {b:e}, x.grad {x:e} (tolerance {tol:e})");
    }
    let want = (&w1, &b1[..], &gx1);
    check("f32", trained::<f32>(&p, (), &cfg), want, 4.0 * f64::from(f32::EPSILON));
    check("f64", trained::<f64>(&p, (), &cfg), want, 4.0 * f64::EPSILON);
    check("mpfr:256", trained::<Float>(&p, Prec::new(256).unwrap(), &cfg), want, 1e-75);
    // Not vacuous: no step (E = 1) is W0, which f64's tolerance tells from W1.
    let none = trained::<f64>(&p, (), &train_cfg(1, "1e-1", InputGrad::Reset));
    assert!(max_rel(none.weight.iter().cloned(), w1.iter().cloned()) > 1e-6);
}

/// With lr = 0 the parameters never move, so every epoch's x.grad is the same: accumulated over
/// E = 2 epochs it is exactly twice the reset one (one exact doubling) in every dtype, over E = 1
/// the same, and over E = 10 ten times it to the rounding of ten additions. Once the parameters
/// move (lr = 1e-3) the factor is no longer exact.
#[test]
fn accumulated_input_gradient_is_epochs_times_reset_while_parameters_do_not_move() {
    let p = Problem::generate(10, 4, 3, 4).unwrap();
    fn case<T: Scalar + PartialEq>(name: &str, p: &Problem, ctx: T::Ctx, u: f64) {
        let g = |epochs: usize, lr: &str, mode: InputGrad| trained::<T>(p, ctx, &train_cfg(epochs, lr, mode));
        let reset = g(2, "0", InputGrad::Reset);
        assert_eq!(reset.weight, g(1, "0", InputGrad::Reset).weight, "{name}: lr = 0 moved the weight");
        let twice = reset.grad_x.mapv(|v| v.add(&v));
        assert_eq!(g(2, "0", InputGrad::Accumulate).grad_x, twice, "{name}: E = 2");
        assert_eq!(g(1, "0", InputGrad::Accumulate).grad_x, reset.grad_x, "{name}: E = 1");
        let ten = g(10, "0", InputGrad::Accumulate).grad_x;
        let want = reset.grad_x.iter().map(|v| v.to_float(512) * 10u32);
        let e = max_rel(ten.iter().cloned(), want);
        assert!(e <= 10.0 * u, "{name}: E = 10 is {e:e} from ten times the reset x.grad");
        let moved = g(2, "1e-3", InputGrad::Accumulate).grad_x;
        let reset_moved = g(2, "1e-3", InputGrad::Reset).grad_x;
        assert_ne!(moved, reset_moved.mapv(|v| v.add(&v)), "{name}: lr = 1e-3 should move the second epoch");
    }
    case::<f32>("f32", &p, (), f64::from(f32::EPSILON));
    case::<f64>("f64", &p, (), f64::EPSILON);
    case::<Float>("mpfr:113", &p, Prec::new(113).unwrap(), 2f64.powi(-112));
}

/// Training gives the same bits whatever the size of the rayon pool (1 or 2 threads), in f64 and
/// MPFR, on a problem large enough for every parallel path of the core.
#[test]
fn training_is_the_same_on_one_thread_and_two() {
    let p = Problem::generate(256, 40, 4, 3).unwrap();
    let cfg = train_cfg(5, "1e-2", InputGrad::Accumulate);
    fn run<T: Scalar + PartialEq>(name: &str, p: &Problem, ctx: T::Ctx, cfg: &TrainConfig) {
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| trained::<T>(p, ctx, cfg))
        };
        let (one, two) = (on(1), on(2));
        assert!(one.weight == two.weight && one.bias == two.bias, "{name}: parameters");
        assert!(one.grad_x == two.grad_x && one.grad_weight == two.grad_weight, "{name}: gradients");
        assert!(one.grad_bias == two.grad_bias && one.logits == two.logits, "{name}: bias gradient, logits");
    }
    run::<f64>("f64", &p, (), &cfg);
    run::<Float>("mpfr:80", &p, Prec::new(80).unwrap(), &cfg);
}

/// A model of one parameter tensor p whose loss is ||p||^2 / 2: its gradient is p itself, so
/// SGD multiplies p by (1 - lr) each epoch (a product and a difference, each rounded), and its
/// input gradient is a constant 3.
struct Quadratic {
    grads: Array2<f32>,
    grad_x: Array2<f32>,
}

impl Backprop<f32> for Quadratic {
    fn run(&mut self, params: &[Array2<f32>], watch: &Watch) -> gradlab::Result<()> {
        watch.checkpoint(|| "the quadratic".into())?;
        self.grads.assign(&params[0]);
        Ok(())
    }
    fn param_grads(&self) -> Vec<ndarray::ArrayView2<'_, f32>> {
        vec![self.grads.view()]
    }
    fn grad_x(&self) -> ndarray::ArrayView2<'_, f32> {
        self.grad_x.view()
    }
    fn logits(&self) -> ndarray::ArrayView2<'_, f32> {
        self.grads.view()
    }
}

/// The one SGD loop on a model of its own: E epochs take E - 1 steps p <- p - lr p, each rounded
/// in f32 as written; x.grad is the last pass's when reset and E times it when accumulated; a
/// parameter that overflows is recorded at its step; a stopped watch names the epoch.
#[test]
fn the_sgd_loop_steps_every_parameter_and_keeps_x_grad_as_configured() {
    let init = array![[1.5f32, -0.25], [3.0, 1e-3]];
    for (epochs, mode) in [(1, InputGrad::Reset), (4, InputGrad::Reset), (4, InputGrad::Accumulate)] {
        let mut q = Quadratic { grads: Array2::zeros((2, 2)), grad_x: Array2::from_elem((1, 3), 3.0) };
        let cfg = train_cfg(epochs, "0.1", mode);
        let out = sgd(&mut q, vec![init.clone()], &cfg, (), &Watch::unwatched()).unwrap();
        let lr = 0.1f32;
        let mut want = init.clone();
        for _ in 1..epochs {
            want.mapv_inplace(|p| p - lr * p);
        }
        assert_eq!(out.params[0], want, "{epochs} epochs");
        let times = if mode == InputGrad::Accumulate { epochs as f32 } else { 1.0 };
        assert_eq!(out.grad_x, Array2::from_elem((1, 3), 3.0 * times));
        assert!(out.nonfinite.is_none());
    }
    let mut q = Quadratic { grads: Array2::zeros((1, 1)), grad_x: Array2::zeros((1, 1)) };
    // lr = -1e38 makes the first step p + 1e38 p overflow f32 at p = 5.
    let out = sgd(&mut q, vec![array![[5.0f32]]], &train_cfg(3, "-1e38", InputGrad::Reset), (), &Watch::unwatched());
    let nf = out.unwrap().nonfinite.expect("the step overflows");
    assert_eq!((nf.epoch, nf.in_step), (1, true));
    let stopped = Watch::new();
    stopped.stop();
    let e = sgd(&mut q, vec![array![[5.0f32]]], &train_cfg(3, "0.1", InputGrad::Reset), (), &stopped).unwrap_err();
    assert!(e.to_string().contains("training epoch 1 of 3"), "{e}");
}
