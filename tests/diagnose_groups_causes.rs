//! The groups diagnosis's causes beyond the weights: `dtype_mismatch` (a bf16 gradient judged by
//! f32's rounding) and `params_after_step` (a gradient one SGD step back, found with a model
//! that evaluates the loss elsewhere), on a logistic regression written here in f64.

use gradlab::diagnose::groups::step_back::{diagnose_model, Block, StepBack};
use gradlab::diagnose::groups::{diagnose_groups, GroupCause, Precision, Structure};
use gradlab::diagnose::Verdict;
use gradlab::error::Result;
use gradlab::scalar::DType;
use ndarray::Array2;

mod common;
use common::Rng;

/// Logistic regression: sample j's loss log(1 + exp(-y_j a_j . theta)), y_j = +-1.
struct Logistic {
    a: Array2<f64>,
    y: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Logistic {
    fn new(n: usize, p: usize, seed: u64) -> Self {
        let mut r = Rng(seed);
        let a = Array2::from_shape_fn((n, p), |_| r.normal());
        let y = (0..n).map(|_| if r.next() < 0.5 { -1.0 } else { 1.0 }).collect();
        Logistic { a, y }
    }

    /// Each sample's gradient at theta (n x p).
    fn groups(&self, theta: &[f64]) -> Array2<f64> {
        let mut g = self.a.clone();
        for (mut row, &y) in g.rows_mut().into_iter().zip(&self.y) {
            let z: f64 = row.iter().zip(theta).map(|(a, t)| a * t).sum();
            let c = -y * sigmoid(-y * z);
            row.mapv_inplace(|a| a * c);
        }
        g
    }

    /// sum_j w_j (sample j's gradient) at theta.
    fn gradient(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        let g = self.groups(theta);
        (0..g.ncols()).map(|i| g.column(i).iter().zip(w).map(|(x, w)| x * w).sum()).collect()
    }

    /// sum_j w_j H_j v at theta.
    fn hessian_times(&self, theta: &[f64], w: &[f64], v: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; theta.len()];
        for ((row, &y), &wj) in self.a.rows().into_iter().zip(&self.y).zip(w) {
            let z: f64 = row.iter().zip(theta).map(|(a, t)| a * t).sum();
            let s = sigmoid(-y * z);
            let av: f64 = row.iter().zip(v).map(|(a, v)| a * v).sum();
            for (o, a) in out.iter_mut().zip(row) {
                *o += wj * s * (1.0 - s) * a * av;
            }
        }
        out
    }
}

/// The model at the saved parameters `theta`, stepping back along `v`.
struct Oracle<'a> {
    model: &'a Logistic,
    theta: Vec<f64>,
    v: Vec<f64>,
    calls: usize,
}

impl StepBack for Oracle<'_> {
    fn gradient_at(&mut self, lr: f64, weights: &[f64]) -> Result<Vec<Vec<f64>>> {
        self.calls += 1;
        let at: Vec<f64> = self.theta.iter().zip(&self.v).map(|(t, v)| t + lr * v).collect();
        Ok(vec![self.model.gradient(&at, weights)])
    }
    fn derivative(&mut self, weights: &[f64]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![self.model.hessian_times(&self.theta, weights, &self.v)])
    }
}

fn f32s(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| x as f32 as f64).collect()
}

fn bf16s(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| half::bf16::from_f64(x).to_f64()).collect()
}

/// A float32 loop: the gradient g at theta_prev (the mean loss), then theta = theta_prev - lr g
/// (or - lr sign(g), Adam's first step) in float32; returns (theta, g).
fn stepped(m: &Logistic, theta_prev: &[f64], lr: f64, adam: bool) -> (Vec<f64>, Vec<f64>) {
    let n = m.y.len();
    let g = f32s(&m.gradient(theta_prev, &vec![1.0 / n as f64; n]));
    let theta = theta_prev
        .iter()
        .zip(&g)
        .map(|(t, g)| {
            let step = if adam { g.signum() } else { *g };
            ((*t as f32) - (lr as f32) * (step as f32)) as f64
        })
        .collect();
    (theta, g)
}

#[test]
fn a_gradient_one_sgd_step_back_is_named_with_its_learning_rate() {
    for (n, p, lr, seed) in [(64, 12, 0.1, 1), (300, 40, 0.5, 2), (1000, 8, 0.02, 3)] {
        let m = Logistic::new(n, p, seed);
        let mut r = Rng(seed + 100);
        let theta_prev: Vec<f64> = (0..p).map(|_| (0.3 * r.normal()) as f32 as f64).collect();
        let (theta, g) = stepped(&m, &theta_prev, lr, false);
        let groups = m.groups(&theta);
        let s = Structure::of_counts(vec![1; n]);
        let block =
            Block { name: "weight".into(), g: &g, groups: groups.view(), precision: Precision::new(DType::F32) };
        // Without a model to step back with, the gradient is unexplained.
        let alone = diagnose_model(std::slice::from_ref(&block), &s, None).unwrap();
        assert_eq!(alone[0].causes, [GroupCause::Unexplained], "n={n}: {:?}", alone[0].causes);
        let mut oracle = Oracle { model: &m, theta: theta.clone(), v: g.clone(), calls: 0 };
        let d = diagnose_model(std::slice::from_ref(&block), &s, Some(&mut oracle)).unwrap();
        assert_eq!((d[0].verdict, d[0].causes.clone()), (Verdict::Wrong, vec![GroupCause::ParamsAfterStep]), "n={n}");
        let found = d[0].learning_rate.unwrap();
        // The step is known to the gradient's rounding over its effect: well within 1 %.
        assert!((found / lr - 1.0).abs() < 1e-2, "n={n}: lr {found} for {lr}");
        assert!(oracle.calls <= 6, "n={n}: {} evaluations", oracle.calls);
        let json = serde_json::to_value(&d[0]).unwrap();
        assert_eq!(json["causes"][0], "params_after_step");
        assert_eq!(json["learning_rate"].as_f64(), Some(found));
    }
}

#[test]
fn a_step_that_is_not_plain_sgd_or_a_correct_gradient_is_not_called_a_step_back() {
    let (n, p) = (200, 10);
    let m = Logistic::new(n, p, 7);
    let mut r = Rng(70);
    let theta_prev: Vec<f64> = (0..p).map(|_| (0.3 * r.normal()) as f32 as f64).collect();
    let s = Structure::of_counts(vec![1; n]);
    // Adam's first step moves every parameter by lr: SGD's step back does not explain it.
    let (theta, g) = stepped(&m, &theta_prev, 0.05, true);
    let groups = m.groups(&theta);
    let block = Block { name: "weight".into(), g: &g, groups: groups.view(), precision: Precision::new(DType::F32) };
    let mut oracle = Oracle { model: &m, theta: theta.clone(), v: g.clone(), calls: 0 };
    let d = diagnose_model(std::slice::from_ref(&block), &s, Some(&mut oracle)).unwrap();
    assert_eq!(d[0].causes, [GroupCause::Unexplained], "{:?}", d[0].findings);
    assert_eq!(d[0].learning_rate, None);
    // A correct gradient at the saved parameters never asks the model.
    let g = f32s(&m.gradient(&theta_prev, &vec![1.0 / n as f64; n]));
    let groups = m.groups(&theta_prev);
    let block = Block { name: "weight".into(), g: &g, groups: groups.view(), precision: Precision::new(DType::F32) };
    let mut oracle = Oracle { model: &m, theta: theta_prev.clone(), v: g.clone(), calls: 0 };
    let d = diagnose_model(std::slice::from_ref(&block), &s, Some(&mut oracle)).unwrap();
    assert_eq!(d[0].verdict, Verdict::Correct);
    assert_eq!(oracle.calls, 0);
}

#[test]
fn a_step_back_with_the_wrong_sizes_is_one_sentence() {
    struct Short;
    impl StepBack for Short {
        fn gradient_at(&mut self, _: f64, _: &[f64]) -> Result<Vec<Vec<f64>>> {
            Ok(vec![vec![0.0; 3]])
        }
        fn derivative(&mut self, _: &[f64]) -> Result<Vec<Vec<f64>>> {
            Ok(vec![vec![0.0; 3]])
        }
    }
    let m = Logistic::new(50, 6, 9);
    let mut r = Rng(90);
    let theta_prev: Vec<f64> = (0..6).map(|_| (0.3 * r.normal()) as f32 as f64).collect();
    let (theta, g) = stepped(&m, &theta_prev, 0.2, false);
    let groups = m.groups(&theta);
    let block = Block { name: "weight".into(), g: &g, groups: groups.view(), precision: Precision::new(DType::F32) };
    let err = diagnose_model(&[block], &Structure::of_counts(vec![1; 50]), Some(&mut Short)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the step back's derivative returned 3 values for weight; expected 6, its gradient's size"
    );
}

#[test]
fn a_bf16_gradient_judged_by_f32_is_a_dtype_mismatch() {
    let (n, p) = (128, 24);
    let m = Logistic::new(n, p, 11);
    let mut r = Rng(110);
    let theta: Vec<f64> = (0..p).map(|_| 0.3 * r.normal()).collect();
    let groups = m.groups(&theta);
    let s = Structure::of_counts(vec![1; n]);
    let mean = vec![1.0 / n as f64; n];
    let f32p = Precision::new(DType::F32);
    // Computed in bf16 (each contribution and the running sum rounded), judged by f32.
    let mut g = vec![0.0; p];
    for (row, w) in groups.rows().into_iter().zip(&mean) {
        for (o, x) in g.iter_mut().zip(row) {
            *o = half::bf16::from_f64(*o + half::bf16::from_f64(w * x).to_f64()).to_f64();
        }
    }
    let d = diagnose_groups(&g, groups.view(), &s, &f32p).unwrap();
    assert_eq!((d.verdict, d.causes.clone()), (Verdict::Wrong, vec![GroupCause::DtypeMismatch]), "{:?}", d.findings);
    assert_eq!(d.dtype, Some(DType::BF16));
    assert_eq!(serde_json::to_value(&d).unwrap()["dtype"], "bf16");
    // The same in bf16 is correct (or inconclusive): no mismatch where the dtype is said.
    let d = diagnose_groups(&g, groups.view(), &s, &Precision::new(DType::BF16)).unwrap();
    assert_ne!(d.verdict, Verdict::Wrong);
    // A summed bf16 gradient judged by f32: the mismatch and the mistake.
    let summed = bf16s(&m.gradient(&theta, &vec![1.0; n]));
    let d = diagnose_groups(&summed, groups.view(), &s, &f32p).unwrap();
    assert_eq!(d.causes, [GroupCause::DtypeMismatch, GroupCause::SumInsteadOfMean]);
    // An f32 gradient far off (noise of 1e-3) is not called a mismatch: its values are not bf16's.
    let noisy: Vec<f64> =
        f32s(&m.gradient(&theta, &mean).iter().map(|v| v * (1.0 + 1e-3 * r.normal())).collect::<Vec<_>>());
    let d = diagnose_groups(&noisy, groups.view(), &s, &f32p).unwrap();
    assert_eq!(d.causes, [GroupCause::Unexplained]);
    // bf16 values that bf16's rounding does not explain either (a gradient of other data) stay
    // unexplained.
    let other = Logistic::new(n, p, 13);
    let far = bf16s(&other.gradient(&theta, &mean));
    let d = diagnose_groups(&far, groups.view(), &s, &f32p).unwrap();
    assert_eq!(d.causes, [GroupCause::Unexplained]);
    // Fewer than 8 nonzero values are no evidence of a dtype.
    let small = Logistic::new(n, 4, 12);
    let groups4 = small.groups(&theta[..4]);
    let g4 = bf16s(&small.gradient(&theta[..4], &mean));
    let d = diagnose_groups(&g4, groups4.view(), &s, &f32p).unwrap();
    assert!(!d.causes.contains(&GroupCause::DtypeMismatch), "{:?}", d.causes);
}
