//! `gradlab diagnose` on gradients made by PyTorch itself (tests/fixtures/diagnose, made by
//! make_fixtures.py there): the named cause, its factor or micro-batch sizes, and the exit code;
//! bad input; an interrupted diagnosis. (The core's diagnosis, its tolerance on gradlab's own
//! correct gradients in every dtype included: tests/diagnose.rs at the top level.)

#[path = "../../../tests/common/mod.rs"]
mod common;

use gradlab::problem::Problem;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gradlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/diagnose").join(name)
}

/// Runs `diagnose --format json` on a fixture's gradients; returns the exit code and the object.
fn run(name: &str, wrts: &[&str]) -> (i32, Value) {
    let dir = fixture(name);
    let files: Vec<String> = wrts
        .iter()
        .map(|w| dir.join(format!("{}_grad.npy", if *w == "input" { "x" } else { w })).display().to_string())
        .collect();
    let out = gradlab(&[
        "diagnose",
        "--data",
        dir.to_str().unwrap(),
        "--grad",
        &files.join(","),
        "--wrt",
        &wrts.join(","),
        "--format",
        "json",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} {wrts:?}: {e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn causes(v: &Value) -> Vec<&str> {
    v["causes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect()
}

fn sizes(v: &Value) -> Vec<u64> {
    v["microbatch_sizes"]
        .as_array()
        .unwrap_or_else(|| panic!("no sizes: {v}"))
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect()
}

#[test]
fn json_has_exactly_the_documented_fields() {
    let (_, v) = run("microbatch_input", &["input"]);
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["causes", "factor", "microbatch_sizes", "relerr", "scale_resolution", "verdict", "worst"]);
    let w = &v["worst"][0];
    assert!(w["index"].as_array().unwrap().len() == 2 && w["given"].is_f64() && w["truth"].is_f64(), "{w}");
    assert_eq!(v["worst"].as_array().unwrap().len(), 10);
    // Printed in the documented order.
    let dir = fixture("microbatch_input");
    let out = gradlab(&[
        "diagnose",
        "--data",
        dir.to_str().unwrap(),
        "--grad",
        dir.join("x_grad.npy").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let at: Vec<usize> = ["verdict", "causes", "factor", "relerr", "scale_resolution", "microbatch_sizes", "worst"]
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    // Without that cause there is no microbatch_sizes field.
    let (_, v) = run("correct_f32", &["bias"]);
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["causes", "factor", "relerr", "scale_resolution", "verdict", "worst"]);
    assert_eq!(v["worst"][0]["index"].as_array().unwrap().len(), 1, "the bias is 1-D");
}

#[test]
fn correct_pytorch_gradients_pass_in_float32_and_float64() {
    for name in ["correct_f32", "correct_f64"] {
        for wrts in [&["input"][..], &["weight"], &["bias"], &["input", "weight", "bias"]] {
            let (code, v) = run(name, wrts);
            assert_eq!((code, v["verdict"].as_str()), (0, Some("correct")), "{name} {wrts:?}: {v}");
            assert!(causes(&v).is_empty());
            assert!((v["factor"].as_f64().unwrap() - 1.0).abs() < 1e-5, "{name} {wrts:?}: {v}");
        }
    }
}

#[test]
fn the_seeds_accumulated_input_gradient_is_named_with_its_steps_and_learning_rate() {
    let (code, v) = run("seed_accumulate", &["input"]);
    assert_eq!(code, 3);
    // n = E = 10: both causes, the accumulation first (the factor is not exactly 10: drift).
    assert_eq!(causes(&v), ["accumulated_over_steps", "sum_instead_of_mean"]);
    let f = v["factor"].as_f64().unwrap();
    assert!(f > 10.0 && f < 10.1, "factor {f}");
    let dir = fixture("seed_accumulate");
    let out =
        gradlab(&["diagnose", "--data", dir.to_str().unwrap(), "--grad", dir.join("x_grad.npy").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("near the whole number 10"), "{text}");
    // The estimated learning rate is the seed's 1e-3 (the fixture's SGD used lr = 1e-3).
    let lr: f64 = text.split("estimated learning rate: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((lr / 1e-3 - 1.0).abs() < 0.05, "lr {lr}");
}

/// x.grad summed over 5 epochs under Adam: one factor explains it within a few percent, but the
/// SGD drift law does not and neither does the exact SGD replay, so the count is named without a
/// learning rate; under momentum the law fits with an effective learning rate, said so, and the
/// replay (plain SGD only) does not fire (make_more.py).
#[test]
fn accumulation_under_adam_or_momentum_is_named_with_its_count() {
    let (code, v) = run("adam_accumulate", &["input"]);
    assert_eq!((code, causes(&v)), (3, vec!["accumulated_over_steps"]), "{v}");
    let dir = fixture("adam_accumulate");
    let text = String::from_utf8(
        gradlab(&["diagnose", "--data", dir.to_str().unwrap(), "--grad", dir.join("x_grad.npy").to_str().unwrap()])
            .stdout,
    )
    .unwrap();
    assert!(text.contains("near the whole number 5") && text.contains("no learning rate is estimated"), "{text}");
    assert!(!text.contains("estimated learning rate") && !text.contains("exact replay"), "{text}");
    assert!(v.get("learning_rate").is_none(), "{v}");
    let (code, v) = run("momentum_accumulate", &["input"]);
    assert_eq!((code, causes(&v)), (3, vec!["accumulated_over_steps"]), "{v}");
    let dir = fixture("momentum_accumulate");
    let text = String::from_utf8(
        gradlab(&["diagnose", "--data", dir.to_str().unwrap(), "--grad", dir.join("x_grad.npy").to_str().unwrap()])
            .stdout,
    )
    .unwrap();
    assert!(text.contains("effective learning rate") && !text.contains("exact replay"), "{text}");
}

/// Plain SGD beyond the drift law's range, PyTorch's loop (make_more.py: lr 0.1 over 5 epochs,
/// lr 0.3 over 3, and n = 2000, d = 16, k = 5 at lr 0.5 over 4): the exact SGD replay names the
/// count and the learning rate. Where it must not fire: the same loop's W.grad and b.grad,
/// zeroed every epoch, are correct; given with the accumulated x.grad, the tensors disagree on
/// the loop and no count is named.
#[test]
fn plain_sgd_beyond_the_law_is_replayed_with_its_count_and_rate() {
    for (name, steps, lr) in [("sgd_large_lr", 5, 0.1), ("sgd_lr03_e3", 3, 0.3), ("sgd_n2000", 4, 0.5)] {
        let (code, v) = run(name, &["input"]);
        assert_eq!((code, causes(&v)), (3, vec!["accumulated_over_steps"]), "{name}: {v}");
        let got = v["learning_rate"].as_f64().unwrap_or_else(|| panic!("{name}: no learning rate: {v}"));
        assert!((got / lr - 1.0).abs() < 0.02, "{name}: lr {got}");
        let dir = fixture(name);
        let text = String::from_utf8(
            gradlab(&["diagnose", "--data", dir.to_str().unwrap(), "--grad", dir.join("x_grad.npy").to_str().unwrap()])
                .stdout,
        )
        .unwrap();
        assert!(text.contains(&format!("the sum of the gradients at {steps} parameter points")), "{name}: {text}");
        assert!(text.contains("from the exact replay") && text.contains("the count is resolved"), "{name}: {text}");
        assert_eq!(v["steps"].as_u64(), Some(steps), "{name}: {v}");
    }
    let (code, v) = run("sgd_n2000", &["weight", "bias"]);
    assert_eq!((code, v["verdict"].as_str()), (0, Some("correct")), "{v}");
    let (code, v) = run("sgd_n2000", &["input", "weight", "bias"]);
    assert_eq!(code, 3, "{v}");
    assert!(!causes(&v).contains(&"accumulated_over_steps"), "{v}");
}

/// Where the first-order law fits but leaves more than 2 % of the departure, its learning rate is
/// only first order (0.864 for the true 0.5 here): the exact replay gives it, and where no
/// replay matches (weight decay) neither the count nor the learning rate is reported, the text
/// giving the law's first-order values as such (make_more.py; sum_vs_mean's counts so found were
/// tens of steps off at E = 50).
#[test]
fn a_rough_first_order_law_is_replayed_or_reports_no_count() {
    let (code, v) = run("sgd_law_rough", &["input"]);
    assert_eq!((code, causes(&v)), (3, vec!["accumulated_over_steps"]), "{v}");
    assert_eq!(v["steps"].as_u64(), Some(12), "{v}");
    let lr = v["learning_rate"].as_f64().unwrap();
    assert!((lr / 0.5 - 1.0).abs() < 0.02, "lr {lr}");
    let text = |name: &str| {
        let dir = fixture(name);
        String::from_utf8(
            gradlab(&["diagnose", "--data", dir.to_str().unwrap(), "--grad", dir.join("x_grad.npy").to_str().unwrap()])
                .stdout,
        )
        .unwrap()
    };
    let t = text("sgd_law_rough");
    assert!(t.contains("the first-order law fits too (12 steps") && !t.contains("is rough"), "{t}");
    let (code, v) = run("sgd_wd_law_rough", &["input"]);
    assert_eq!((code, causes(&v)), (3, vec!["accumulated_over_steps"]), "{v}");
    assert!(v.get("steps").is_none() && v.get("learning_rate").is_none(), "{v}");
    let t = text("sgd_wd_law_rough");
    assert!(
        t.contains("neither the count nor the learning rate is resolved")
            && t.contains("about 7 of them")
            && !t.contains("exact replay of plain SGD fits"),
        "{t}"
    );
    // The seed's loop, where the law leaves 0.15 %, keeps the law's estimate with no such sentence.
    let t = text("seed_accumulate");
    assert!(t.contains("estimated learning rate: 1.004e-3") && !t.contains("rough"), "{t}");
}

/// Micro-batch means summed without dividing by K (sizes 3, 5, 8: weights 1/3, 1/5, 1/8) are
/// `sum_of_microbatch_means` with the sizes, from x.grad (identifiable) and from W and b
/// (found among the common partitions or not at all: never another cause).
#[test]
fn a_sum_of_micro_batch_means_is_named_with_its_sizes() {
    for wrts in [&["input"][..], &["input", "weight", "bias"]] {
        let (code, v) = run("sum_of_microbatch_means", wrts);
        assert_eq!((code, causes(&v)), (3, vec!["sum_of_microbatch_means"]), "{wrts:?}: {v}");
        assert_eq!(sizes(&v), [3, 5, 8], "{wrts:?}");
    }
}

#[test]
fn a_sum_reduction_is_named_with_its_factor_n() {
    for wrts in [&["input"][..], &["weight"], &["bias"], &["weight", "bias"]] {
        let (code, v) = run("sum_reduction", wrts);
        assert_eq!(code, 3, "{wrts:?}");
        // The sum alone: an exact n is not also called an accumulation over n steps.
        assert_eq!(causes(&v), ["sum_instead_of_mean"], "{wrts:?}: {v}");
        assert!((v["factor"].as_f64().unwrap() - 12.0).abs() < 1e-4, "{wrts:?}: {v}");
    }
}

#[test]
fn micro_batch_sizes_are_recovered_in_sample_order() {
    let cases: [(&str, &[&str], &[u64]); 9] = [
        ("microbatch_input", &["input"], &[8, 8, 8, 6]),
        // (k - 1)(d + 1) = 10 < 30: not identifiable, found among the common partitions.
        ("microbatch_input", &["weight", "bias"], &[8, 8, 8, 6]),
        ("microbatch_weight", &["input"], &[7, 4, 9]),
        // (k - 1) d = 24 >= 20: identifiable by least squares from W.grad alone.
        ("microbatch_weight", &["weight"], &[7, 4, 9]),
        ("microbatch_weight", &["weight", "bias"], &[7, 4, 9]),
        ("microbatch_weight", &["input", "weight", "bias"], &[7, 4, 9]),
        ("ddp_ranks", &["weight"], &[8, 8, 5]),
        ("ddp_ranks", &["bias"], &[8, 8, 5]),
        ("ddp_ranks", &["weight", "bias"], &[8, 8, 5]),
    ];
    for (name, wrts, want) in cases {
        let (code, v) = run(name, wrts);
        assert_eq!(code, 3, "{name} {wrts:?}");
        assert_eq!(causes(&v), ["mean_of_microbatch_means"], "{name} {wrts:?}: {v}");
        assert_eq!(sizes(&v), want, "{name} {wrts:?}");
    }
    // Three bias values for 20 samples and sizes outside the common partitions: not identifiable,
    // said so, and not guessed.
    let (code, v) = run("microbatch_weight", &["bias"]);
    assert_eq!((code, causes(&v)), (3, vec!["unexplained"]));
    let dir = fixture("microbatch_weight");
    let out = gradlab(&[
        "diagnose",
        "--data",
        dir.to_str().unwrap(),
        "--grad",
        dir.join("bias_grad.npy").to_str().unwrap(),
        "--wrt",
        "bias",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not identifiable"));
}

/// With `--reduction sum` the truth is the summed loss's gradient: a correct mean gradient is then
/// 1/n of it, a plain factor; and the sum fixture is correct.
#[test]
fn the_reduction_meant_sets_the_truth() {
    let dir = fixture("correct_f32");
    let args = |name: &str, dir: &Path| {
        vec![
            "diagnose".to_string(),
            "--data".into(),
            dir.display().to_string(),
            "--grad".into(),
            dir.join(name).display().to_string(),
            "--reduction".into(),
            "sum".into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args("x_grad.npy", &dir)).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), causes(&v)), (Some(3), vec!["scaled"]), "{v}");
    assert!((v["factor"].as_f64().unwrap() * 64.0 - 1.0).abs() < 1e-5, "{v}");
    let dir = fixture("sum_reduction");
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args("weight_grad.npy", &dir)).output().unwrap();
    let mut a = args("weight_grad.npy", &dir);
    a.extend(["--wrt".to_string(), "weight".to_string()]);
    let out_w = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(a).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a weight gradient given as the input's shape is refused");
    let v: Value = serde_json::from_slice(&out_w.stdout).unwrap();
    assert_eq!((out_w.status.code(), v["verdict"].as_str()), (Some(0), Some("correct")), "{v}");
}

#[test]
fn a_sign_error_is_named() {
    for wrts in [&["input"][..], &["weight"]] {
        let (code, v) = run("wrong_sign", wrts);
        assert_eq!((code, causes(&v)), (3, vec!["wrong_sign"]), "{wrts:?}");
        assert!((v["factor"].as_f64().unwrap() + 1.0).abs() < 1e-7, "{v}");
        assert!((v["relerr"].as_f64().unwrap() - 2.0).abs() < 1e-6, "{v}");
    }
}

/// Every bad input: one sentence on stderr, nothing on stdout, exit 1 (or 2 for usage).
#[test]
fn bad_input_is_one_sentence_and_exit_1_or_2() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |s: &str| tmp.path().join(s).display().to_string();
    let good = fixture("correct_f32");
    let data = good.to_str().unwrap();
    let xg = good.join("x_grad.npy").display().to_string();
    let x = gradlab::npy::read_float2(&good.join("x_grad.npy")).unwrap();
    let mut nan = x.clone();
    nan[[3, 2]] = f64::NAN;
    gradlab::npy::write(Path::new(&p("nan.npy")), &nan).unwrap();
    let mut inf = x.clone();
    inf[[0, 1]] = f64::NEG_INFINITY;
    gradlab::npy::write(Path::new(&p("inf.npy")), &inf).unwrap();
    gradlab::npy::write(Path::new(&p("ints.npy")), &ndarray::Array2::<i64>::zeros((64, 16))).unwrap();
    // A float16 array, as `x.grad.half().numpy()` would save it.
    common::npy::write_raw(Path::new(&p("half.npy")), "<f2", false, "(64, 16)", &[0u8; 64 * 16 * 2]);
    // A data folder whose weight does not match x.
    let bad_data = p("bad_data");
    let mut prob = Problem::load(&good).unwrap();
    prob.weight = ndarray::Array2::zeros((5, 7));
    std::fs::create_dir(&bad_data).unwrap();
    let t: ndarray::Array1<i64> = prob.t.iter().map(|&c| c as i64).collect();
    gradlab::npy::write(Path::new(&bad_data).join("x.npy").as_path(), &prob.x).unwrap();
    gradlab::npy::write(Path::new(&bad_data).join("t.npy").as_path(), &t).unwrap();
    gradlab::npy::write(Path::new(&bad_data).join("weight.npy").as_path(), &prob.weight).unwrap();
    gradlab::npy::write(Path::new(&bad_data).join("bias.npy").as_path(), &prob.bias).unwrap();
    let other = fixture("sum_reduction");
    let (nan_f, inf_f, ints_f, half_f, missing_f) =
        (p("nan.npy"), p("inf.npy"), p("ints.npy"), p("half.npy"), p("missing.npy"));
    let wg = good.join("weight_grad.npy").display().to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--grad", &wg], 1, "has shape [5, 16]; expected [64, 16], the shape of x"),
        (vec!["--grad", &xg, "--wrt", "bias"], 1, "has shape [64, 16]; expected [5], the shape of bias.npy"),
        (vec!["--grad", &nan_f], 1, "contains NaN at [3, 2]; expected finite numbers only"),
        (vec!["--grad", &inf_f], 1, "contains -inf at [0, 1]"),
        (vec!["--grad", &ints_f], 1, "it holds integers (<i8); expected float32 or float64"),
        (vec!["--grad", &half_f], 1, "it holds float16 values; expected float32 or float64"),
        (vec!["--grad", &missing_f], 1, "missing.npy: no such file"),
        (vec!["--grad", &xg, "--wrt", "input,weight"], 2, "1 gradient files were given for 2 --wrt tensors"),
        (vec!["--grad", &xg, "--wrt", "logits"], 2, "logits is not a tensor a user's code has .grad for"),
        (vec!["--grad", &xg, "--wrt", "input,input"], 2, "input is listed twice"),
        (vec!["--grad", &xg, "--dtype", "f8"], 2, "\"f8\""),
        (vec!["--grad", &xg, "--format", "xml"], 2, "'xml'"),
        (vec!["--grad", &xg, "--reduction", "median"], 2, "\"median\""),
        (vec!["--grad", &xg, "--max-memory", "64K"], 1, "a diagnosis of n=64 d=16 k=5 would need about"),
        (vec!["--grad", &xg, "--max-memory", "lots"], 2, "'lots'"),
    ];
    for (extra, code, needle) in cases {
        let mut args = vec!["diagnose", "--data", data];
        args.extend(&extra);
        let out = gradlab(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err:?} should mention {needle:?}");
        assert!(err.starts_with("error: ") && !err.contains("panicked"), "{extra:?}: {err}");
        if code == 1 {
            assert_eq!(err.trim_end().lines().count(), 1, "{extra:?}: one sentence expected, got {err:?}");
        }
        assert!(out.stdout.is_empty(), "{extra:?} wrote to stdout");
    }
    // Data folders that do not match: the gradient of another problem, a broken folder, none.
    for (dir, needle) in [
        (other.to_str().unwrap(), "has shape [64, 16]; expected [12, 5]"),
        (bad_data.as_str(), "weight has 7 columns but x has 16"),
        ("/nonexistent/gradlab-data", "no such folder"),
    ] {
        let out = gradlab(&["diagnose", "--data", dir, "--grad", &xg]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dir}: {err}");
        assert!(err.contains(needle) && err.trim_end().lines().count() == 1, "{dir}: {err}");
        assert!(out.stdout.is_empty());
    }
}

/// Ctrl-C (SIGINT) during a long exact pass stops `gradlab diagnose` with exit 130 within about
/// a second, one line on stderr, nothing on stdout.
#[test]
fn ctrl_c_stops_a_long_diagnosis() {
    let tmp = tempfile::tempdir().unwrap();
    // 100000 samples: a million exponentials at 128 bits in the exact softmax, over a second.
    let p = Problem::generate(100_000, 64, 10, 1).unwrap();
    let t: ndarray::Array1<i64> = p.t.iter().map(|&c| c as i64).collect();
    let dir = tmp.path();
    gradlab::npy::write(&dir.join("x.npy"), &p.x.mapv(|v| v as f32)).unwrap();
    gradlab::npy::write(&dir.join("t.npy"), &t).unwrap();
    gradlab::npy::write(&dir.join("weight.npy"), &p.weight).unwrap();
    gradlab::npy::write(&dir.join("bias.npy"), &p.bias).unwrap();
    gradlab::npy::write(&dir.join("grad.npy"), &ndarray::Array1::<f64>::zeros(10)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["diagnose", "--data", dir.to_str().unwrap(), "--wrt", "bias", "--grad"])
        .arg(dir.join("grad.npy"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let sent = std::time::Instant::now();
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let waited = sent.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(waited < std::time::Duration::from_secs(3), "took {waited:?} to stop");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("interrupted: "), "{err}");
    assert!(out.stdout.is_empty(), "printed a diagnosis: {}", String::from_utf8_lossy(&out.stdout));
}

/// Writes G (m groups of shape 4 x 50, a shared direction plus each group's own, f64) and
/// g = sum_j w_j G_j (float32) to `dir`; returns their paths.
fn write_groups(dir: &Path, w: &[f64]) -> (PathBuf, PathBuf) {
    let m = w.len();
    let mut state = 12345u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let shared: Vec<f64> = (0..200).map(|_| next()).collect();
    let g = ndarray::Array3::from_shape_fn((m, 4, 50), |(_, a, b)| 0.2 * shared[a * 50 + b] + next());
    let y = ndarray::Array2::from_shape_fn((4, 50), |(a, b)| (0..m).map(|j| w[j] * g[[j, a, b]]).sum::<f64>() as f32);
    let (gp, yp) = (dir.join("G.npy"), dir.join("g.npy"));
    gradlab::npy::write(&gp, &g).unwrap();
    gradlab::npy::write(&yp, &y).unwrap();
    (gp, yp)
}

#[test]
fn groups_name_a_mean_of_micro_batch_means_and_pass_the_correct_weights() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [3usize, 5, 8];
    let w: Vec<f64> = sizes.iter().flat_map(|&nb| std::iter::repeat_n(1.0 / (3 * nb) as f64, nb)).collect();
    let (gp, yp) = write_groups(dir.path(), &w);
    let (g, y) = (gp.to_str().unwrap(), yp.to_str().unwrap());
    let out = gradlab(&["diagnose", "--grad", y, "--groups", g, "--microbatches", "3,5,8", "--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(causes(&v), ["mean_of_microbatch_means"]);
    assert_eq!(sizes_of(&v), [3, 5, 8]);
    let order =
        ["verdict", "causes", "factor", "relerr", "residual", "tolerance", "microbatch_sizes", "worst", "weights"];
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    let mut want = order.to_vec();
    want.sort();
    assert_eq!(keys, want);
    // Printed in the documented order.
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let at: Vec<usize> = order.iter().map(|k| text.find(&format!("\"{k}\"")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(v["weights"]["recovered"].as_array().unwrap().len(), 16);
    // The correct weights, as text: exit 0.
    let dir = tempfile::tempdir().unwrap();
    let (gp, yp) = write_groups(dir.path(), &[1.0 / 16.0; 16]);
    let out = gradlab(&[
        "diagnose",
        "--grad",
        yp.to_str().unwrap(),
        "--groups",
        gp.to_str().unwrap(),
        "--microbatches",
        "3,5,8",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("verdict: correct.") && text.contains("mean_of_microbatch_means ("), "{text}");
}

fn sizes_of(v: &Value) -> Vec<u64> {
    sizes(v)
}

#[test]
fn groups_bad_input_is_one_sentence_and_nothing_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (gp, yp) = write_groups(dir.path(), &[0.25; 4]);
    let (g, y) = (gp.to_str().unwrap(), yp.to_str().unwrap());
    let other = dir.path().join("other.npy");
    gradlab::npy::write(&other, &ndarray::Array2::<f64>::zeros((4, 49))).unwrap();
    let o = other.to_str().unwrap();
    for (args, code, says) in [
        (vec!["--grad", o, "--groups", g], 2, "expected (m, 4, 49)"),
        (vec!["--grad", y, "--groups", g, "--counts", "1,2,3"], 2, "3 counts were given for 4 groups"),
        (vec!["--grad", y, "--groups", g, "--microbatches", "2,3"], 2, "hold 5 groups in all"),
        (vec!["--grad", y, "--groups", g, "--counts", "1,x,2,2"], 1, "not a whole number"),
        (vec!["--grad", y, "--groups", g, "--data", "somewhere"], 2, "cannot be used with"),
        (vec!["--grad", y, "--counts", "1,2"], 2, "--groups"),
        (vec!["--grad", y, "--groups", y], 1, "expected float64"),
    ] {
        let mut all = vec!["diagnose"];
        all.extend(args.iter().copied());
        let out = gradlab(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: printed {}", String::from_utf8_lossy(&out.stdout));
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
