//! Wall time and peak memory of `gradlab diagnose` at MNIST size (n = 4096, d = 784, k = 10,
//! float32: tests/fixtures/diagnose/mnist_f32, made by PyTorch), for x.grad, W.grad and b.grad,
//! each correct and in the ways a gradient goes wrong. Each case runs the release binary as a
//! user would (loading the .npy files, printing the diagnosis), `--runs` times; the table gives
//! the median wall time and the largest peak resident memory (from wait4's rusage).
//!
//! ```console
//! $ cargo build --release && cargo run --release --example diagnose_timing -- --runs 5
//! ```
//!
//! x.grad has no PyTorch fixture at this size (12.8 MB): gradlab's own f32 x.grad stands in. The
//! mean of micro-batch means (sizes 1100, 1000, 1000, 996) is gradlab's f64 combination; "saved
//! after an SGD step" gives the correct gradient with a data folder whose parameters are one SGD
//! step (lr 0.1) further on.

use gradlab::check::prepare;
use gradlab::diagnose::microbatch::{combined_grads, Combine};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::train::TrainConfig;
use gradlab::watch::Watch;
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `bin args` once: (exit code, wall time, peak resident set in bytes).
// The child is reaped by wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn run(bin: &Path, args: &[String]) -> (i32, Duration, u64) {
    let start = Instant::now();
    let child = Command::new(bin).args(args).stdout(std::process::Stdio::null()).spawn().expect("gradlab runs");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid pointers.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    (libc::WEXITSTATUS(status), wall, usage.ru_maxrss as u64 * 1024)
}

fn save(dir: &Path, name: &str, g: &Array2<f64>, vector: bool) -> PathBuf {
    let path = dir.join(name);
    let g32 = g.mapv(|v| v as f32);
    if vector {
        gradlab::npy::write(&path, &g32.row(0).to_owned()).expect("writes");
    } else {
        gradlab::npy::write(&path, &g32).expect("writes");
    }
    path
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).map_or(3, |r| {
        r.parse().unwrap_or_else(|_| {
            eprintln!("error: invalid --runs {r:?}: expected a whole number");
            std::process::exit(2)
        })
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("tests/fixtures/diagnose/mnist_f32");
    let bin =
        std::env::current_exe().expect("path").parent().and_then(Path::parent).expect("target dir").join("gradlab");
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure(Path::new(&args[i + 1]), &bin, runs);
        return;
    }
    let p = Problem::load(&data).expect("the fixture loads");
    let (tr, _) = prepare::<f32>(&p, (), &TrainConfig::untrained(Reduction::Mean), &Watch::unwatched()).unwrap();
    let tmp = std::env::temp_dir().join(format!("gradlab-diagnose-timing-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let read = |f: &str| gradlab::npy::read_float2(&data.join(f));
    let w = read("weight_grad.npy").expect("W.grad");
    let b = gradlab::npy::read_float1(&data.join("bias_grad.npy")).expect("b.grad").insert_axis(ndarray::Axis(0));
    let x = tr.grad_x.mapv(f64::from);
    // The parameters one SGD step (lr 0.1) after those the gradients were taken at.
    let stepped = tmp.join("stepped");
    std::fs::create_dir_all(&stepped).expect("temp dir");
    for f in ["x.npy", "t.npy"] {
        std::fs::copy(data.join(f), stepped.join(f)).expect("copies the data");
    }
    let lr = 0.1;
    let w_after = (&p.weight - &(&w * lr)).mapv(|v| v as f32);
    let b_after = (&p.bias - &(&b.row(0) * lr)).mapv(|v| v as f32);
    gradlab::npy::write(&stepped.join("weight.npy"), &w_after).expect("writes");
    gradlab::npy::write(&stepped.join("bias.npy"), &b_after).expect("writes");
    let sizes = [1100, 1000, 1000, 996];
    let mm = combined_grads(&p, &sizes, Combine::MeanOfMeans);
    let mut cases: Vec<(String, LinearTensor, PathBuf, PathBuf)> = Vec::new();
    for (wrt, g, name) in
        [(LinearTensor::Input, &x, "x"), (LinearTensor::Weight, &w, "weight"), (LinearTensor::Bias, &b, "bias")]
    {
        let vector = wrt == LinearTensor::Bias;
        let mut one = g.clone();
        let at = (0, g.ncols() / 2);
        one[at] *= 1.01;
        for (what, v) in [
            ("correct", g.clone()),
            ("x (1 + 1e-4)", g * (1.0 + 1e-4)),
            ("one element 1 % off", one),
            ("negated", -g),
            ("summed (x n)", g * p.n() as f64),
            ("bf16 saved as f32", g.mapv(|v| half::bf16::from_f64(v).to_f64())),
            (
                "micro-batch means",
                mm[[LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias]
                    .iter()
                    .position(|&v| v == wrt)
                    .expect("one of three")]
                .clone(),
            ),
            ("saved after a step", g.clone()),
        ] {
            let file = save(&tmp, &format!("{name}-{}.npy", cases.len()), &v, vector);
            let folder = if what == "saved after a step" { stepped.clone() } else { data.clone() };
            cases.push((what.to_string(), wrt, folder, file));
        }
    }
    // The cases are measured by a fresh, small process: a child's peak resident memory counts
    // what it shared with its parent at fork, so this one (which holds the fixture and the
    // gradients) does not start them.
    let list = tmp.join("cases.tsv");
    let text: String = cases
        .iter()
        .map(|(what, wrt, folder, file)| format!("{what}\t{}\t{}\t{}\n", wrt.name(), folder.display(), file.display()))
        .collect();
    std::fs::write(&list, text).expect("writes the case list");
    drop((p, tr, x, w, b, mm));
    let me = std::env::current_exe().expect("path");
    let status = Command::new(me)
        .args(["--measure", list.to_str().expect("utf-8"), "--runs", &runs.to_string()])
        .status()
        .expect("the measuring process runs");
    let _ = std::fs::remove_dir_all(&tmp);
    std::process::exit(status.code().unwrap_or(1));
}

/// Runs every case of the list `cases.tsv` (what, wrt, data folder, gradient file) `runs` times
/// and prints the table.
fn measure(list: &Path, bin: &Path, runs: usize) {
    let text = std::fs::read_to_string(list).expect("reads the case list");
    println!("{:<8} {:<22} {:>5} {:>10} {:>10}", "tensor", "gradient", "exit", "wall (s)", "peak (MB)");
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (what, wrt, folder, file) = (f[0], f[1], f[2], f[3]);
        let argv: Vec<String> =
            ["diagnose", "--data", folder, "--grad", file, "--wrt", wrt].iter().map(|s| s.to_string()).collect();
        let mut walls = Vec::new();
        let (mut code, mut peak) = (0, 0);
        for _ in 0..runs {
            let (c, wall, rss) = run(bin, &argv);
            walls.push(wall.as_secs_f64());
            (code, peak) = (c, peak.max(rss));
        }
        walls.sort_by(f64::total_cmp);
        println!("{:<8} {:<22} {:>5} {:>10.3} {:>10.0}", wrt, what, code, walls[walls.len() / 2], peak as f64 / 1e6);
    }
}
