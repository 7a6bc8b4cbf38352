//! A loop to profile (perf, callgrind) what the benchmarks time, without criterion around it.
//!
//! ```console
//! $ cargo build --release --example profile
//! $ perf record ./target/release/examples/profile seed 20000        # the seed's f32 table
//! $ valgrind --tool=callgrind --toggle-collect='*fill_row*' \
//!       ./target/release/examples/profile rows mpfr:53 20            # 256x64 rows, numeric part
//!
//! $ ./target/release/examples/profile checks 200 f32 ieee:8:23 tf32 ieee:8:7 e4m3 bf16
//! ```
//!
//! `checks N DTYPE...`: the `formats_256x64_k10` benchmark's whole check, N times per dtype,
//! interleaved round by round (a slow spell of a shared machine then hits every dtype alike);
//! prints each dtype's fastest and median time and their ratios to the first dtype's.
//!
//! `seed N`: the seed's whole 9-step f32 table (10 epochs of training, then steps 1e0 ... 1e-8),
//! N times, as the `seed_table_f32` benchmark. `rows DTYPE N`: N rows of the 256 x 64, k = 10
//! central check (h = 1e-3) on one thread, as the `naive_vs_fast` benchmark's fast path.

use gradlab::check::{check_dtype, prepare, CheckConfig};
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::numeric::{numeric_grad, Evaluator, Setup};
use gradlab::policy::SEED_STEPS;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Scalar};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use std::process::ExitCode;
use std::time::Instant;

fn seed(n: u32) {
    let p = Problem::generate(10, 4, 2, 1).expect("valid size");
    let cfg = CheckConfig {
        train: TrainConfig::seed(InputGrad::Accumulate),
        scheme: Scheme::Central,
        steps: Steps::parse(SEED_STEPS).expect("literal"),
        truth: None,
        naive: false,
        keep_grads: false,
    };
    let t = Instant::now();
    let mut sink = 0.0;
    for _ in 0..n {
        sink += check_dtype(std::hint::black_box(&p), LinearTensor::Input, DType::F32, &cfg, &Watch::unwatched())
            .expect("valid config")
            .rows[3]
            .relerr_mean;
    }
    println!("{:?} per table ({sink})", t.elapsed() / n);
}

fn rows(dtype: DType, n: u32) {
    gradlab::gmp_pool::install();
    let p = Problem::generate(256, 64, 10, 1).expect("valid size");
    let cfg = TrainConfig::seed(InputGrad::Reset);
    let h = Decimal::parse("step", "1e-3").expect("literal");
    gradlab::with_dtype!(dtype, |T, ctx| {
        let (tr, _) = prepare::<T>(&p, ctx, &cfg, &Watch::unwatched()).unwrap();
        let setup = Setup {
            trained: &tr,
            reduction: cfg.reduction,
            stencil: Scheme::Central.stencil(),
            wrt: LinearTensor::Input,
        };
        let ev = Evaluator::new(&setup, std::slice::from_ref(&h));
        let mut w = ev.worker();
        let (mut g, mut e, mut f) =
            (vec![T::zero(ctx); 64], vec![T::zero(ctx); 64], vec![gradlab::numeric::Regime::Finite; 64]);
        let t = Instant::now();
        let mut sink = 0.0;
        for j in 0..n as usize {
            w.load(j % 256).fill(0, &mut g, &mut e, &mut f);
            sink += g[0].to_f64();
        }
        println!("{dtype}: {:?} per row ({sink})", t.elapsed() / n);
    });
}

/// `checks N DTYPE...`: the `formats_256x64_k10` benchmark's check (256 x 64, k = 10, seed 1's
/// problem trained as the seed, central differences at h = 1e-3 of every input element, rows on
/// rayon's pool) N times per dtype, the dtypes interleaved round by round so that a slow spell
/// of a shared machine hits them alike; per dtype the fastest and the median time, and their
/// ratios to the first dtype's.
fn checks(n: u32, dtypes: &[DType]) {
    let p = Problem::generate(256, 64, 10, 1).expect("valid size");
    let cfg = TrainConfig::seed(InputGrad::Reset);
    let h = Decimal::parse("step", "1e-3").expect("literal");
    let mut runs: Vec<Box<dyn FnMut() -> f64>> = dtypes
        .iter()
        .map(|&dt| {
            let h = h.clone();
            gradlab::with_dtype!(dt, |T, ctx| {
                let (tr, _) = prepare::<T>(&p, ctx, &cfg, &Watch::unwatched()).unwrap();
                let reduction = cfg.reduction;
                Box::new(move || {
                    let setup =
                        Setup { trained: &tr, reduction, stencil: Scheme::Central.stencil(), wrt: LinearTensor::Input };
                    let t = Instant::now();
                    std::hint::black_box(numeric_grad::<T>(std::hint::black_box(&setup), &h, false));
                    t.elapsed().as_secs_f64() * 1e3
                }) as Box<dyn FnMut() -> f64>
            })
        })
        .collect();
    let mut times = vec![Vec::new(); dtypes.len()];
    for _ in 0..n {
        for (run, t) in runs.iter_mut().zip(&mut times) {
            t.push(run());
        }
    }
    let stats: Vec<(f64, f64)> = times
        .iter_mut()
        .map(|t| {
            t.sort_by(f64::total_cmp);
            (t[0], t[t.len() / 2])
        })
        .collect();
    println!("dtype | fastest | median | fastest / first's | median / first's");
    for (dt, &(lo, mid)) in dtypes.iter().zip(&stats) {
        println!("{dt} | {lo:.2} ms | {mid:.2} ms | {:.2}x | {:.2}x", lo / stats[0].0, mid / stats[0].1);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = |s: &str| s.parse::<u32>().ok().filter(|&n| n > 0);
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["seed", n] if count(n).is_some() => seed(count(n).unwrap_or(1)),
        ["rows", dt, n] if count(n).is_some() && DType::parse(dt).is_ok() => {
            rows(DType::parse(dt).unwrap_or(DType::F64), count(n).unwrap_or(1))
        }
        ["checks", n, ref dts @ ..]
            if count(n).is_some() && !dts.is_empty() && dts.iter().all(|d| DType::parse(d).is_ok()) =>
        {
            let dts: Vec<DType> = dts.iter().filter_map(|d| DType::parse(d).ok()).collect();
            checks(count(n).unwrap_or(1), &dts)
        }
        _ => {
            eprintln!(
                "usage: profile seed N | profile rows DTYPE N | profile checks N DTYPE... (N a positive count, DTYPE e.g. f64 or mpfr:53)"
            );
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
