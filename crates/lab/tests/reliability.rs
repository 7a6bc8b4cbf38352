//! Bad input: one sentence naming the value, a non-zero exit, no panic, no output file.
//! Non-finite numbers: recorded as data. Interrupted and killed runs: no partial files.

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::npy;
use gradlab::problem::Problem;
use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gradlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap()
}

/// A valid problem folder (n = 6, d = 3, k = 2) to be damaged by each case.
fn good_problem(dir: &Path) -> Problem {
    let p = Problem::generate(6, 3, 2, 3).unwrap();
    p.save(dir).unwrap();
    p
}

/// Runs `check --data DIR --save-grads OUT` and asserts a clean failure that names `needle`.
fn assert_data_error(case: &str, damage: impl FnOnce(&Path), needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    good_problem(&data);
    damage(&data);
    let out_dir = tmp.path().join("grads");
    let out = gradlab(&["check", "--data", data.to_str().unwrap(), "--save-grads", out_dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{case}: {err}");
    assert!(err.contains(needle), "{case}: {err:?} should mention {needle:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "{case}: one sentence expected, got {err:?}");
    assert!(err.starts_with("error: "), "{case}: {err}");
    assert!(out.stdout.is_empty(), "{case}: wrote to stdout");
    assert!(!out_dir.exists(), "{case}: created the output folder");
}

#[test]
fn every_bad_data_folder_is_a_clear_error() {
    let x_path = |d: &Path| d.join("x.npy");
    assert_data_error("missing file", |d| std::fs::remove_file(d.join("t.npy")).unwrap(), "t.npy: no such file");
    assert_data_error(
        "mismatched d",
        |d| gradlab::npy::write(&d.join("weight.npy"), &Array2::<f64>::zeros((2, 4))).unwrap(),
        "weight has 4 columns but x has 3",
    );
    assert_data_error(
        "t too short",
        |d| gradlab::npy::write(&d.join("t.npy"), &Array1::<i64>::zeros(5)).unwrap(),
        "t has length 5",
    );
    assert_data_error(
        "class out of range",
        |d| gradlab::npy::write(&d.join("t.npy"), &Array1::from(vec![0i64, 1, 5, 0, 1, 0])).unwrap(),
        "t[2] = 5 is not a class",
    );
    assert_data_error(
        "negative class",
        |d| gradlab::npy::write(&d.join("t.npy"), &Array1::from(vec![-1i64, 1, 0, 0, 1, 0])).unwrap(),
        "t[0] = -1 is not a class",
    );
    for (bad, name) in [(f64::NAN, "NaN"), (f64::INFINITY, "inf")] {
        assert_data_error(
            name,
            |d| {
                let mut x = gradlab::npy::read_float2(&x_path(d)).unwrap();
                x[[1, 2]] = bad;
                gradlab::npy::write(&x_path(d), &x).unwrap();
            },
            &format!("x contains {name}"),
        );
    }
    assert_data_error("float16", |d| npy::write_raw(&x_path(d), "<f2", false, "(6, 3)", &[0u8; 36]), "float16");
    assert_data_error("complex", |d| npy::write_raw(&x_path(d), "<c16", false, "(6, 3)", &[0u8; 288]), "complex");
    assert_data_error("strings", |d| npy::write_raw(&x_path(d), "<U5", false, "(6, 3)", &[0u8; 360]), "strings");
    assert_data_error(
        "truncated",
        |d| npy::write_raw(&x_path(d), "<f8", false, "(6, 3)", &npy::f64_bytes(&[1.0; 10])),
        "truncated",
    );
    assert_data_error(
        "corrupt",
        |d| std::fs::write(x_path(d), b"PK\x03\x04 this is a zip file").unwrap(),
        "not a .npy file",
    );
    assert_data_error(
        "1-D x",
        |d| npy::write_raw(&x_path(d), "<f8", false, "(18,)", &npy::f64_bytes(&[1.0; 18])),
        "expected a 2-D array",
    );
    // A missing folder.
    let out = gradlab(&["check", "--data", "/nonexistent/gradlab-data"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gradlab-data: no such folder"));
}

#[test]
fn fortran_order_and_float32_load_to_the_same_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let (c_dir, f_dir) = (tmp.path().join("c"), tmp.path().join("f"));
    std::fs::create_dir_all(&f_dir).unwrap();
    let p = good_problem(&c_dir);
    good_problem(&f_dir);
    // x as Fortran-order float32: columns one after another.
    let cols: Vec<u8> = (0..3)
        .flat_map(|i| (0..6).map(move |j| (i, j)))
        .flat_map(|(i, j)| (p.x[[j, i]] as f32).to_le_bytes())
        .collect();
    npy::write_raw(&f_dir.join("x.npy"), "<f4", true, "(6, 3)", &cols);
    assert_eq!(Problem::load(&f_dir).unwrap(), p);
    let run =
        |d: &PathBuf| gradlab(&["check", "--data", d.to_str().unwrap(), "--dtype", "f64", "--format", "csv"]).stdout;
    assert_eq!(run(&c_dir), run(&f_dir));
}

#[test]
fn bad_run_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = gradlab(&["run", "no_such_experiment"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown experiment \"no_such_experiment\""));
    let file = tmp.path().join("a_file");
    std::fs::write(&file, b"x").unwrap();
    for (out_arg, needle) in
        [(file.to_str().unwrap(), "it is a file"), ("/proc/gradlab-results", "/proc/gradlab-results")]
    {
        let out = gradlab(&["run", "sum_vs_mean", "--quick", "--out", out_arg]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("panicked"));
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

/// Shards that cannot be merged: one sentence, a non-zero exit, and no output folder.
#[test]
fn bad_shards_are_clear_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = gradlab(args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    for k in ["1/3", "2/3", "3/3"] {
        run(&["run", "sum_vs_mean", "--quick", "--shard", k, "--out", &p("a")]);
    }
    run(&["run", "sum_vs_mean", "--quick", "--shard", "2/3", "--out", &p("dup")]);
    run(&["run", "sum_vs_mean", "--shard", "1/3", "--out", &p("full")]);
    run(&["run", "bits_sweep", "--quick", "--shard", "1/2", "--out", &p("other")]);
    run(&["run", "sum_vs_mean", "--quick", "--shard", "1/2", "--out", &p("halves")]);
    std::fs::create_dir_all(p("missing/sum_vs_mean")).unwrap();
    for f in ["shard-1-of-3.csv", "shard-1-of-3.json", "shard-3-of-3.csv", "shard-3-of-3.json"] {
        std::fs::copy(tmp.path().join("a/sum_vs_mean").join(f), tmp.path().join("missing/sum_vs_mean").join(f))
            .unwrap();
    }
    let cases: [(&[&str], i32, &str); 8] = [
        (&["run", "sum_vs_mean", "--shard", "0/3"], 2, "0/3 has K outside 1..=3"),
        (&["run", "sum_vs_mean", "--shard", "4/3"], 2, "4/3 has K outside 1..=3"),
        (&["run", "sum_vs_mean", "--shard", "1/x"], 2, "expected K/N"),
        (&["merge", &p("missing")], 1, "shard 2/3 of sum_vs_mean missing"),
        (&["merge", &p("a"), &p("dup")], 1, "shard 2/3 of sum_vs_mean appears twice"),
        (&["merge", &p("a"), &p("other")], 1, "has experiment bits_sweep"),
        (&["merge", &p("a"), &p("full")], 1, "has settings full settings"),
        (&["merge", &p("a"), &p("halves")], 1, "a split into 2 shards"),
    ];
    for (args, code, needle) in cases {
        let mut args = args.to_vec();
        let out_dir = p("merged");
        args.extend(["--out", &out_dir]);
        let out = gradlab(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().next().map(|l| l.starts_with("error: ")), Some(true), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!tmp.path().join("merged").exists(), "{args:?} wrote output");
    }
}

#[test]
fn f16_overflow_is_recorded_as_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = Problem::generate(6, 3, 2, 3).unwrap();
    // Logits near 3e4 * 0.5 * 3: beyond f16's 65504 for some samples, fine in f32.
    p.x.mapv_inplace(|v| (v * 3e4).clamp(-6e4, 6e4));
    p.x.mapv_inplace(gradlab::problem::representable_everywhere);
    p.save(tmp.path()).unwrap();
    let out = gradlab(&[
        "check",
        "--data",
        tmp.path().to_str().unwrap(),
        "--dtype",
        "f16,f32",
        "--eps",
        "1,1e-2",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let status_col = header.iter().position(|h| *h == "status").unwrap();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let (dtype, nonfinite, status) = (r[0], r[13].parse::<usize>().unwrap(), r[status_col]);
        if dtype == "f16" {
            assert!(nonfinite > 0 && status == "nonfinite", "{r:?}");
            assert_eq!(r[5], "NaN", "summaries over non-finite elements are NaN, not a partial mean");
        } else {
            assert!(nonfinite == 0 && status == "ok", "{r:?}");
            // f32 does not overflow, but its saturated softmax underflows to exact zeros where the
            // MPFR truth keeps tiny values: counted, and not called a bug.
            assert!(r[14].parse::<usize>().unwrap() > 0, "{r:?}");
            assert!(r[11].parse::<f64>().unwrap() > 0.1, "{r:?}");
        }
    }
    let table = gradlab(&["check", "--data", tmp.path().to_str().unwrap(), "--dtype", "f32", "--eps", "1e-2"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("underflow of a saturated softmax, not a bug"), "{text}");
    assert!(!text.contains("WRONG"), "{text}");
}

/// Every file under `dir` (relative name -> bytes).
fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut m = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                m.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    m
}

/// After an interrupted or killed rerun, every file is one of the complete earlier files
/// (results are deterministic, so a finished rewrite has the same bytes), and nothing else exists.
fn assert_intact(dir: &Path, before: &std::collections::BTreeMap<String, Vec<u8>>) {
    let after = snapshot(dir);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "file set changed");
    for (name, bytes) in &after {
        if name.ends_with("meta.json") {
            let v: serde_json::Value =
                serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{name} is not whole JSON: {e}"));
            assert!(v.get("source").is_some() && v.get("dependencies").is_some() && v.get("mpfr_version").is_some());
        } else {
            assert!(bytes == &before[name], "{name} changed or is partial");
        }
    }
}

fn spawn_run(out: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["run", "all", "--quick", "--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn killed_and_interrupted_runs_leave_complete_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let first = spawn_run(&out).wait_with_output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let before = snapshot(&out);
    assert!(before.len() > 20);
    // SIGKILL at several moments of a rerun.
    for ms in [300u64, 1500, 4000] {
        let mut child = spawn_run(&out);
        std::thread::sleep(std::time::Duration::from_millis(ms));
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        assert_intact(&out, &before);
    }
    // Ctrl-C (SIGINT): a clean stop with a message saying what was and was not written.
    let child = spawn_run(&out);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    if res.status.code() == Some(130) {
        assert!(err.contains("interrupted: complete results were written for ["), "{err}");
        assert!(err.contains("was written"), "{err}");
    } else {
        // The whole quick run finished before the signal arrived.
        assert!(res.status.success(), "{err}");
    }
    assert_intact(&out, &before);
}

/// Sizes that cannot fit, thread counts beyond what helps and malformed memory sizes: refused at
/// once with one sentence, exit 1 (found after parsing) or 2 (usage), no panic, nothing written.
#[test]
fn huge_sizes_and_thread_counts_are_refused_before_anything_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let grads = tmp.path().join("grads");
    let max = u64::MAX.to_string();
    // The most samples, features or classes the command line takes (an n x 1 array of f64 is
    // then still addressable); the memory budget refuses them.
    let dim = (isize::MAX as u64 / 8).to_string();
    let cases: [(&[&str], i32, &str); 9] = [
        (&["--n", "100000000", "--d", "100000"], 1, "a check of n=100000000 d=100000 k=2 in f32 would need about"),
        (&["--k", "100000000", "--max-memory", "1G"], 1, "more than the limit of 1.00 GiB (--max-memory)"),
        (&["--n", &dim, "--d", &dim, "--k", &dim, "--epochs", &max], 1, "would need about 16.0 EiB of memory"),
        (&["--n", &max], 2, "expected at most 1152921504606846975 samples"),
        (&["--dtype", "f32,mpfr:65536", "--n", "100000", "--d", "1000"], 1, "in f32,mpfr:65536 would need"),
        (&["--n", "1000", "--d", "1000", "--max-memory", "1M", "--no-truth"], 1, "more than the limit of 1.00 MiB"),
        (&["--threads", "100000"], 2, "threads: at most 4 per core"),
        (&["--threads", "0"], 2, "expected at least 1 thread"),
        (&["--max-memory", "2GB"], 2, "invalid memory size \"2GB\""),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["check", "--save-grads", grads.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = gradlab(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} should mention {needle:?}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        if code == 1 {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one sentence expected, got {err:?}");
        }
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: wrote to stdout");
        assert!(!grads.exists(), "{args:?}: created the --save-grads folder");
    }
    // `gradlab run` takes the same thread limit.
    let out = gradlab(&["run", "sum_vs_mean", "--quick", "--threads", "100000", "--out", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("threads: at most 4 per core"));
}

/// Every dtype the grammar accepts can be checked: the widest, mpfr:65536, against a truth of
/// twice its bits.
#[test]
fn the_widest_mpfr_dtype_is_checked_against_a_wider_truth() {
    let out = gradlab(&["check", "--dtype", "mpfr:65536", "--n", "2", "--d", "1", "--epochs", "1", "--eps", "1e-3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("truth=mpfr:131072"), "{text}");
    assert!(text.contains("analytic gradient agrees with the truth"), "{text}");
    let out = gradlab(&["check", "--dtype", "mpfr:65537"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bits from 2 to 65536"));
}

/// Ctrl-C (SIGINT) stops a long check at its next epoch or row: exit 130 within a second or two,
/// one line saying where it stopped, and no file in the --save-grads folder.
#[test]
fn ctrl_c_stops_a_long_check_at_once_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // A numeric gradient of many short rows after a short setup: 5000 x 8 elements, each at 100
    // steps of the five-point stencil (seconds in a release build, minutes in a debug one),
    // after one epoch of training (a fraction of a second in either).
    let steps = vec!["1e-3"; 100].join(",");
    let long_numeric = [
        "--n",
        "5000",
        "--d",
        "8",
        "--k",
        "20",
        "--epochs",
        "1",
        "--dtype",
        "f64",
        "--no-truth",
        "--scheme",
        "central5",
        "--eps",
        &steps,
    ];
    let cases: [(&[&str], u64, &str); 2] = [
        // Four billion epochs of the seed's problem: the signal arrives during training.
        (&["--epochs", "4000000000"], 700, "training epoch"),
        (&long_numeric, 1200, "of the numeric gradient"),
    ];
    for (args, after_ms, stage) in cases {
        let grads = tmp.path().join("grads");
        let child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
            .args(["check", "--save-grads", grads.to_str().unwrap()])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(after_ms));
        let sent = std::time::Instant::now();
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let waited = sent.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{args:?}: {err}");
        assert!(waited < std::time::Duration::from_secs(3), "{args:?}: took {waited:?} to stop");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("interrupted: the "), "{args:?}: {err}");
        assert!(err.contains(stage) && err.contains("nothing was written"), "{args:?}: {err}");
        assert_eq!(std::fs::read_dir(&grads).map(|d| d.count()).unwrap_or(0), 0, "{args:?}: wrote into --save-grads");
    }
}
