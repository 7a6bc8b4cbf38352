//! Criterion benchmarks of the numeric gradient check.
//!
//! Groups (run `cargo bench --bench check -- --warm-up-time 1 --measurement-time 3`):
//! - `central_input_check/seed_10x4_k2/<dtype>`: one full central input-gradient check (every
//!   element, one step h = 1e-3, fast path) on the seed's problem size, for every dtype;
//! - `central_input_check/256x64_k10/<dtype>`: the same at n = 256, d = 64, k = 10;
//! - `central_input_check/naive_256x64_k10/<dtype>`: the naive path (every perturbed loss from
//!   scratch, O(n^2 d k)) at 256x64, f64 only by default. The full naive check in mpfr:53 takes
//!   minutes per iteration (criterion needs at least 11), so it runs only with
//!   `GRADLAB_BENCH_NAIVE_MPFR=1`;
//! - `naive_vs_fast_256x64_k10_2rows/{naive,fast}/<dtype>`: rows 0 and 1 (128 elements) of the
//!   256x64 check by each path on one thread (`Worker::element_naive` vs `Worker::element`), f64
//!   and mpfr:53: the per-element cost ratio of the two paths, like for like. Every element costs
//!   the same in either path, so two rows are representative;
//! - `seed_table_f32`: the seed's whole 9-step table in f32 via `check_dtype` (E = 10 epochs of
//!   training, then steps 1e0 ... 1e-8, no truth);
//! - `methods_256x64_k10_f64/<wrt>/<scheme>`: one step (h = 1e-3) of every element of the input
//!   and weight gradients at 256x64, k = 10, f64 by central differences, the complex step, dual
//!   numbers (no step) and Ridders (ten central differences per element), and the complex step
//!   at its usual h = 1e-20 (`complex_h1e-20`);
//! - `formats_256x64_k10/<dtype>`: the `central_input_check` at 256x64 in the emulated formats
//!   tf32, ieee:8:7 (bf16's parameters), e4m3 and ieee:8:23 (f32's), beside f32 and bf16, and in
//!   the mixed dtypes bf16+f32, f16+f32, tf32+f32, e4m3+f32 (beside f32) and f32+f64 (beside f64);
//! - `mnist_1000x784_k10_f64/central_input_check`: the full central input-gradient check at
//!   n = 1000, d = 784, k = 10 (MNIST's shape, synthetic data) in f64;
//! - `central_wrt_check_256x64_k10_f64/{fast,naive}/<wrt>`: one full central check of every
//!   element of the input (16384 elements), weight (640) and bias (10) gradients at 256x64,
//!   k = 10, f64. A weight or bias element changes every sample's loss: O(n (log d + k)) and
//!   O(n k) per evaluation on the fast path, O(n d k) on the naive one.
//!
//! Training and casting happen outside the timed closures (except in `seed_table_f32`, where
//! they are part of what is measured). Rows run on rayon's default global pool (one thread per
//! core; `RAYON_NUM_THREADS` overrides it as usual).
//!
//! At startup the harness also writes the problems of the first two groups as .npy folders to
//! `target/peer-problems/{seed_10x4_k2,256x64_k10}` for `benches/peers/peer_timing.py`.

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode};
use gradlab::check::{check_dtype, prepare, CheckConfig};
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::numeric::exotic::method_grads;
use gradlab::numeric::{naive, numeric_grad, Evaluator, Setup};
use gradlab::policy::SEED_STEPS;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Scalar};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use std::hint::black_box;
use std::path::PathBuf;

/// The seed of every generated problem (the CLI's default).
const SEED: u64 = 1;
/// The one step of the single-step checks.
const STEP: &str = "1e-3";

const ALL_DTYPES: [&str; 7] = ["f16", "bf16", "f32", "f64", "mpfr:53", "mpfr:113", "mpfr:256"];
const NAIVE_DTYPES: [&str; 2] = ["f64", "mpfr:53"];

/// (label, n, d, k) of the benchmarked problems.
const SEED_SIZE: (&str, usize, usize, usize) = ("seed_10x4_k2", 10, 4, 2);
const MID_SIZE: (&str, usize, usize, usize) = ("256x64_k10", 256, 64, 10);
const MNIST_SIZE: (&str, usize, usize, usize) = ("mnist_1000x784_k10", 1000, 784, 10);

fn problem(size: (&str, usize, usize, usize)) -> Problem {
    Problem::generate(size.1, size.2, size.3, SEED).expect("valid benchmark sizes")
}

/// Benchmarks one full central input-gradient check of `problem` in `dtype`, training outside
/// the timed closure.
fn bench_check(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    problem: &Problem,
    dtype: DType,
    naive: bool,
) {
    bench_wrt_check(group, id, problem, dtype, LinearTensor::Input, naive)
}

/// Benchmarks one full central check of every element of the `wrt` gradient.
fn bench_wrt_check(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    problem: &Problem,
    dtype: DType,
    wrt: LinearTensor,
    naive: bool,
) {
    let h = Decimal::parse("step", STEP).expect("literal");
    let cfg = TrainConfig::seed(InputGrad::Reset);
    gradlab::with_dtype!(dtype, |T, ctx| {
        let (tr, _) = prepare::<T>(problem, ctx, &cfg, &Watch::unwatched()).unwrap();
        let setup = Setup { trained: &tr, reduction: cfg.reduction, stencil: Scheme::Central.stencil(), wrt };
        group.bench_function(id, |b| b.iter_with_large_drop(|| numeric_grad::<T>(black_box(&setup), &h, naive)));
    });
}

fn central_input_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("central_input_check");

    let seed = problem(SEED_SIZE);
    for name in ALL_DTYPES {
        let dt = DType::parse(name).expect("dtype literal");
        bench_check(&mut group, BenchmarkId::new(SEED_SIZE.0, name), &seed, dt, false);
    }

    // One 256x64 check takes milliseconds (hardware floats) to about a second (mpfr:256):
    // few samples, one batch each.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let mid = problem(MID_SIZE);
    for name in ALL_DTYPES {
        let dt = DType::parse(name).expect("dtype literal");
        bench_check(&mut group, BenchmarkId::new(MID_SIZE.0, name), &mid, dt, false);
    }
    let naive_mpfr = std::env::var_os("GRADLAB_BENCH_NAIVE_MPFR").is_some_and(|v| v == "1");
    for name in NAIVE_DTYPES {
        let dt = DType::parse(name).expect("dtype literal");
        if matches!(dt, DType::Mpfr(_)) && !naive_mpfr {
            eprintln!("skipping central_input_check/naive_{}/{name} (set GRADLAB_BENCH_NAIVE_MPFR=1)", MID_SIZE.0);
            continue;
        }
        bench_check(&mut group, BenchmarkId::new(format!("naive_{}", MID_SIZE.0), name), &mid, dt, true);
    }
    group.finish();
}

/// Rows timed by `naive_vs_fast`.
const SUBSET_ROWS: usize = 2;

fn naive_vs_fast(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("naive_vs_fast_{}_{SUBSET_ROWS}rows", MID_SIZE.0));
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let mid = problem(MID_SIZE);
    let h = Decimal::parse("step", STEP).expect("literal");
    let cfg = TrainConfig::seed(InputGrad::Reset);
    for name in NAIVE_DTYPES {
        let dt = DType::parse(name).expect("dtype literal");
        gradlab::with_dtype!(dt, |T, ctx| {
            let (tr, _) = prepare::<T>(&mid, ctx, &cfg, &Watch::unwatched()).unwrap();
            let setup = Setup {
                trained: &tr,
                reduction: cfg.reduction,
                stencil: Scheme::Central.stencil(),
                wrt: LinearTensor::Input,
            };
            let d = tr.x.ncols();
            let ev = Evaluator::new(&setup, std::slice::from_ref(&h));
            for naive in [true, false] {
                let path = if naive { "naive" } else { "fast" };
                group.bench_function(BenchmarkId::new(path, name), |b| {
                    b.iter_batched_ref(
                        || (ev.worker(), vec![T::zero(ctx); SUBSET_ROWS * d], vec![T::zero(ctx); SUBSET_ROWS * d]),
                        |(w, g, e)| {
                            let mut flat = gradlab::numeric::Regime::Finite;
                            for j in 0..SUBSET_ROWS {
                                if naive {
                                    for i in 0..d {
                                        let (gi, ei) = (&mut g[j * d + i], &mut e[j * d + i]);
                                        naive::element(&ev, j, i, 0, gi, ei, &mut flat);
                                    }
                                    continue;
                                }
                                let mut row = w.load(j);
                                for i in 0..d {
                                    row.element(i, 0, &mut g[j * d + i], &mut e[j * d + i], &mut flat);
                                }
                            }
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
        });
    }
    group.finish();
}

fn seed_table_f32(c: &mut Criterion) {
    let p = problem(SEED_SIZE);
    // The seed's loop never zeroes x.grad, so its analytic input gradient accumulates.
    let cfg = CheckConfig {
        train: TrainConfig::seed(InputGrad::Accumulate),
        scheme: Scheme::Central,
        steps: Steps::parse(SEED_STEPS).expect("literal"),
        truth: None,
        naive: false,
        keep_grads: false,
    };
    c.bench_function("seed_table_f32", |b| {
        b.iter_with_large_drop(|| {
            check_dtype(black_box(&p), LinearTensor::Input, DType::F32, &cfg, &Watch::unwatched())
                .expect("valid config")
        })
    });
}

fn wrt_check(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("central_wrt_check_{}_f64", MID_SIZE.0));
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let mid = problem(MID_SIZE);
    for wrt in [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias] {
        bench_wrt_check(&mut group, BenchmarkId::new("fast", wrt), &mid, DType::F64, wrt, false);
    }
    for wrt in [LinearTensor::Weight, LinearTensor::Bias] {
        bench_wrt_check(&mut group, BenchmarkId::new("naive", wrt), &mid, DType::F64, wrt, true);
    }
    group.finish();
}

/// Every scheme's full check of one step (h = 1e-3; dual numbers take none) at 256x64, k = 10,
/// f64, of the input (16384 elements) and the weight (640), by the default paths: the stencils'
/// and Ridders' fast path, the complex step's and dual numbers' fast path.
fn methods(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("methods_{}_f64", MID_SIZE.0));
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let mid = problem(MID_SIZE);
    let cfg = TrainConfig::seed(InputGrad::Reset);
    let (tr, _) = prepare::<f64>(&mid, (), &cfg, &Watch::unwatched()).unwrap();
    let steps = vec![Decimal::parse("step", STEP).expect("literal")];
    // The complex step's usual step (Martins et al.): its imaginary parts are so small that
    // cos and sin need no call.
    let tiny = vec![Decimal::parse("step", "1e-20").expect("literal")];
    for wrt in [LinearTensor::Input, LinearTensor::Weight] {
        let setup = Setup { trained: &tr, reduction: cfg.reduction, stencil: Scheme::Central.stencil(), wrt };
        let runs = [
            (Scheme::Central, "central", &steps),
            (Scheme::Complex, "complex", &steps),
            (Scheme::Complex, "complex_h1e-20", &tiny),
            (Scheme::Dual, "dual", &steps),
            (Scheme::Ridders, "ridders", &steps),
        ];
        for (scheme, label, steps) in runs {
            group.bench_function(BenchmarkId::new(wrt.to_string(), label), |b| {
                b.iter_with_large_drop(|| {
                    method_grads(black_box(&setup), scheme, steps, false, &Watch::unwatched()).expect("never stopped")
                })
            });
        }
    }
    group.finish();
}

/// The formats of issue #13 at 256x64, k = 10 (emulated: tf32, bf16 as ieee:8:7, e4m3, and f32
/// as ieee:8:23), beside the hardware f32 and bf16 they are compared with; the mixed dtypes
/// beside their compute types f32 and f64.
const FORMAT_DTYPES: [&str; 12] = [
    "f32",
    "ieee:8:23",
    "tf32",
    "bf16",
    "ieee:8:7",
    "e4m3",
    "bf16+f32",
    "f16+f32",
    "tf32+f32",
    "e4m3+f32",
    "f64",
    "f32+f64",
];

fn formats(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("formats_{}", MID_SIZE.0));
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let mid = problem(MID_SIZE);
    for name in FORMAT_DTYPES {
        let dt = DType::parse(name).expect("dtype literal");
        bench_check(&mut group, BenchmarkId::from_parameter(name), &mid, dt, false);
    }
    group.finish();
}

fn mnist(c: &mut Criterion) {
    let mut group = c.benchmark_group("mnist_1000x784_k10_f64");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let p = problem(MNIST_SIZE);
    bench_check(&mut group, BenchmarkId::from_parameter("central_input_check"), &p, DType::F64, false);
    group.finish();
}

/// `target/peer-problems` (honouring `CARGO_TARGET_DIR`).
fn peer_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("peer-problems")
}

/// Writes the problems of the first two groups for the PyTorch peer script.
fn export_peer_problems() {
    let dir = peer_dir();
    for size in [SEED_SIZE, MID_SIZE] {
        let path = dir.join(size.0);
        if let Err(e) = problem(size).save(&path) {
            eprintln!("warning: could not write {}: {e}", path.display());
        }
    }
    eprintln!("peer problems written to {}", dir.display());
}

fn main() {
    // As the gradlab binaries do: MPFR temporaries come from a per-thread pool.
    gradlab::gmp_pool::install();
    export_peer_problems();
    // rayon's default global pool: one thread per core unless RAYON_NUM_THREADS says otherwise.
    let _ = rayon::ThreadPoolBuilder::new().build_global();
    eprintln!("rayon threads: {}", rayon::current_num_threads());

    let mut c = Criterion::default().configure_from_args();
    central_input_check(&mut c);
    naive_vs_fast(&mut c);
    seed_table_f32(&mut c);
    wrt_check(&mut c);
    methods(&mut c);
    formats(&mut c);
    mnist(&mut c);
    c.final_summary();
}
