//! How long `gradlab check` on the default problem and `gradlab diagnose` on a 10 x 4 problem
//! take, wall clock from spawning the process to its exit, and what the default check's time is
//! made of. A timing script, not a test: the machine's load decides the numbers.
//!
//! ```console
//! $ cargo build --release --bin gradlab --example cli_latency
//! $ ./target/release/examples/cli_latency 100
//! ```
//!
//! The first table spawns each command N times, round by round (a slow spell of a shared
//! machine then hits every command alike), with stdout and stderr discarded, and prints the
//! fastest, median and 90th-percentile wall time; `gradlab --version` is the cost of starting
//! the process at all. The second times the pieces of the default check inside this process
//! (the median of N): generating the problem, starting and stopping the thread pool and the
//! progress bar, and the check itself with and without its MPFR truth.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::policy::SEED_STEPS;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::TrainConfig;
use gradlab::watch::Watch;
use gradlab_lab::progress::WorkBar;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The fastest, median and 90th percentile of `times`, in ms.
fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q).round() as usize]);
    (ms(times[0]), at(0.5), at(0.9))
}

/// The median of `n` runs of `f`, in ms.
fn median_of(n: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    summary(&mut times).1
}

/// The gradlab binary beside this example's folder (target/release/gradlab).
fn gradlab() -> PathBuf {
    let exe = std::env::current_exe().expect("the example's own path");
    exe.parent().and_then(Path::parent).expect("target/release/examples").join("gradlab")
}

/// A 10 x 4, k = 2 problem and its exact f64 input gradient (untrained, mean), for diagnose.
fn diagnose_fixture(dir: &Path) -> PathBuf {
    let p = Problem::generate(10, 4, 2, 1).expect("a valid size");
    p.save(dir).expect("a writable folder");
    let cfg = CheckConfig {
        train: TrainConfig::untrained(Reduction::Mean),
        keep_grads: true,
        ..CheckConfig::seed(Scheme::Central, Steps::parse("1e-3").expect("a literal"))
    };
    let r = check_dtype(&p, LinearTensor::Input, DType::F64, &cfg, &Watch::unwatched()).expect("the check runs");
    let grad = dir.join("x_grad.npy");
    gradlab::npy::write(&grad, &r.grads.expect("kept").analytic).expect("a writable folder");
    grad
}

fn main() -> ExitCode {
    let n: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 50,
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            eprintln!("usage: cli_latency [RUNS]  (RUNS a whole number, 1 or more; default 50)");
            return ExitCode::from(2);
        }
    };
    let bin = gradlab();
    let dir = std::env::temp_dir().join(format!("gradlab-cli-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a writable temp folder");
    let grad = diagnose_fixture(&dir);
    let (data, grad) = (dir.to_string_lossy().into_owned(), grad.to_string_lossy().into_owned());
    let commands: Vec<(String, Vec<&str>)> = vec![
        ("gradlab --version".into(), vec!["--version"]),
        ("gradlab check".into(), vec!["check"]),
        ("gradlab check --threads 1".into(), vec!["check", "--threads", "1"]),
        ("gradlab check --no-truth".into(), vec!["check", "--no-truth"]),
        ("gradlab diagnose (10 x 4)".into(), vec!["diagnose", "--data", &data, "--grad", &grad]),
    ];
    let mut times = vec![Vec::with_capacity(n); commands.len()];
    for _ in 0..n {
        for ((_, args), t) in commands.iter().zip(&mut times) {
            let start = Instant::now();
            let status = Command::new(&bin)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("gradlab runs (build it first: cargo build --release --bin gradlab)");
            t.push(start.elapsed());
            assert!(status.success(), "{args:?} failed");
        }
    }
    println!("wall time from spawn to exit, {n} runs each (ms)");
    println!("{:<30} {:>8} {:>8} {:>8}", "command", "fastest", "median", "p90");
    for ((name, _), t) in commands.iter().zip(&mut times) {
        let (lo, med, p90) = summary(t);
        println!("{name:<30} {lo:>8.2} {med:>8.2} {p90:>8.2}");
    }

    let problem = Problem::generate(10, 4, 2, 1).expect("a valid size");
    let cfg = CheckConfig::seed(Scheme::Central, Steps::parse(SEED_STEPS).expect("a literal"));
    let truth = CheckConfig { truth: Some(Prec::new(256).expect("in range")), ..cfg.clone() };
    let threads = std::thread::available_parallelism().map_or(1, |c| c.get());
    let pieces: Vec<(&str, f64)> = vec![
        ("generate the problem", median_of(n, || drop(Problem::generate(10, 4, 2, 1)))),
        (
            "start and stop the thread pool",
            median_of(n, || drop(rayon::ThreadPoolBuilder::new().num_threads(threads).build())),
        ),
        ("start and finish the progress bar", median_of(n, || WorkBar::start(&Watch::new(), Vec::new()).finish())),
        (
            "check, f32, no truth",
            median_of(n, || drop(check_dtype(&problem, LinearTensor::Input, DType::F32, &cfg, &Watch::unwatched()))),
        ),
        (
            "check, f32, mpfr:256 truth",
            median_of(n, || drop(check_dtype(&problem, LinearTensor::Input, DType::F32, &truth, &Watch::unwatched()))),
        ),
    ];
    println!("\npieces of the default check in this process, median of {n} (ms)");
    for (name, ms) in pieces {
        println!("{name:<36} {ms:>8.3}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}
