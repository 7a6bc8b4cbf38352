//! `gradlab check` on token sequences (`--tokens DIR`, `--model tokens`): the gradients agree with
//! PyTorch's (tests/fixtures/tokens, made by make.py), the numeric gradient follows the
//! truncation/rounding trade-off, every scheme and a mixed dtype run, generated problems are
//! deterministic, and bad input is one sentence with a non-zero exit.

use gradlab::npy::{read_float1, read_float2, read_float3};
use ndarray::ArrayD;
use std::path::{Path, PathBuf};
use std::process::Command;

fn gradlab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap()
}

/// The fixtures' folder: the problem (x, t, weight, bias) and PyTorch's gradients.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokens")
}

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradlab-check-tokens-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `gradlab check` with `args` and returns stdout, failing on a non-zero exit.
fn ok(args: &[&str]) -> String {
    let out = gradlab(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The CSV's rows as maps from column to value.
fn rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines.map(|l| header.iter().map(|h| h.to_string()).zip(l.split(',').map(str::to_string)).collect()).collect()
}

fn num(row: &std::collections::HashMap<String, String>, col: &str) -> f64 {
    row[col].parse().unwrap_or_else(|_| panic!("{col} = {} is not a number", row[col]))
}

/// Any .npy of float64 as an n-dimensional array.
fn read(path: &Path) -> ArrayD<f64> {
    read_float3(path)
        .map(|a| a.into_dyn())
        .or_else(|_| read_float2(path).map(|a| a.into_dyn()))
        .or_else(|_| read_float1(path).map(|a| a.into_dyn()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// max |a - b| / max |b|, after checking the shapes agree.
fn rel_diff(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// For each reduction, the analytic gradient (f64) and the MPFR truth that `--save-grads` writes
/// agree with PyTorch's float64 gradients (x.grad as B x T x d, W.grad, b.grad), and the CSV says
/// the analytic gradient agrees with the truth. The reductions' gradients differ from each other
/// (sum = N x mean), so a reduction mixed up fails.
#[test]
fn analytic_and_truth_agree_with_pytorch_for_each_reduction() {
    let f = fixtures();
    let mut analytic_weight = Vec::new();
    for red in ["mean", "sum", "sequence-mean"] {
        let dir = scratch(&format!("torch-{red}"));
        let args = [
            "check",
            "--tokens",
            f.to_str().unwrap(),
            "--dtype",
            "f64",
            "--reduction",
            red,
            "--wrt",
            "input,weight,bias",
            "--eps",
            "1e-4",
            "--format",
            "csv",
            "--save-grads",
            dir.to_str().unwrap(),
        ];
        let csv = ok(&args);
        let rows = rows(&csv);
        assert_eq!(rows.len(), 3, "{csv}");
        for row in &rows {
            assert!(num(row, "anal_vs_truth") < 1e-14, "{red} {}: {csv}", row["wrt"]);
        }
        for (wrt, torch) in [("input", "x"), ("weight", "weight"), ("bias", "bias")] {
            let reference = read(&f.join(format!("reduction_{red}_{torch}.npy")));
            let analytic = read(&dir.join(format!("analytic_{wrt}_f64.npy")));
            let truth = read(&dir.join(format!("truth_{wrt}_f64.npy")));
            assert!(rel_diff(&analytic, &reference) < 1e-13, "{red} {wrt}: {}", rel_diff(&analytic, &reference));
            assert!(rel_diff(&truth, &reference) < 1e-14, "{red} {wrt}: {}", rel_diff(&truth, &reference));
            if wrt == "weight" {
                analytic_weight.push(analytic);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // sum = N mean (N = 21 counted tokens), and sequence-mean is neither.
    let n = 21.0;
    let scaled: ArrayD<f64> = analytic_weight[0].mapv(|v| v * n);
    assert!(rel_diff(&scaled, &analytic_weight[1]) < 1e-13);
    assert!(rel_diff(&analytic_weight[2], &analytic_weight[0]) > 1e-2);
}

/// The central difference in f64 on the fixture: the error against the truth at the best step is
/// small, larger at a large step (truncation, O(h^2)) and at a tiny one (rounding, O(u/h)).
#[test]
fn central_differences_trade_truncation_for_rounding_in_f64() {
    let f = fixtures();
    for red in ["mean", "sum", "sequence-mean"] {
        let csv = ok(&[
            "check",
            "--tokens",
            f.to_str().unwrap(),
            "--dtype",
            "f64",
            "--reduction",
            red,
            "--wrt",
            "weight",
            "--eps",
            "1e-1,1e-4,1e-12",
            "--format",
            "csv",
        ]);
        let rows = rows(&csv);
        let err: Vec<f64> = rows.iter().map(|r| num(r, "num_vs_truth")).collect();
        assert!(err[1] < 1e-7, "{red}: {csv}");
        assert!(err[0] > 100.0 * err[1], "{red}: truncation at 1e-1 {} vs {}", err[0], err[1]);
        assert!(err[2] > 100.0 * err[1], "{red}: rounding at 1e-12 {} vs {}", err[2], err[1]);
        // Truncation: a step 1000 times smaller divides the error by about 1000^2.
        assert!(err[0] / err[1] > 1e5, "{red}: {csv}");
    }
}

/// Every scheme on the token model (complex step, dual numbers, Ridders, `--eps auto`) reaches
/// the truth in f64, and a mixed dtype (bf16+f32) gives an analytic gradient within bf16's
/// rounding of the truth.
#[test]
fn every_scheme_and_a_mixed_dtype_run_on_tokens() {
    let f = fixtures();
    let dir = f.to_str().unwrap();
    for (scheme, eps, bound) in
        [("complex", "1e-20", 1e-14), ("dual", "none", 1e-14), ("ridders", "1e-1", 1e-10), ("central", "auto", 1e-8)]
    {
        for wrt in ["input", "weight", "bias"] {
            let csv = ok(&[
                "check", "--tokens", dir, "--dtype", "f64", "--scheme", scheme, "--eps", eps, "--wrt", wrt, "--format",
                "csv",
            ]);
            let rows = rows(&csv);
            assert_eq!(rows.len(), 1, "{csv}");
            assert_eq!(rows[0]["scheme"], scheme);
            assert!(num(&rows[0], "num_vs_truth") < bound, "{scheme} {wrt}: {csv}");
        }
    }
    let csv =
        ok(&["check", "--tokens", dir, "--dtype", "bf16+f32", "--wrt", "weight", "--eps", "1e-1", "--format", "csv"]);
    let row = &rows(&csv)[0];
    let anal = num(row, "anal_vs_truth");
    // Within a few units of bf16's rounding (u = 2^-8), and not exact: it computes in f32.
    assert!(anal < 4.0 * 2f64.powi(-8) && anal > 0.0, "{csv}");
}

/// A generated problem runs for each length law and is deterministic: the same seed gives
/// byte-identical CSV (with 1 or 2 threads), another seed another CSV; equal lengths have every
/// position counted (and make sequence-mean the token mean), the other laws leave padding.
#[test]
fn generated_problems_are_deterministic_for_each_length_law() {
    for lengths in ["equal", "uniform", "long-tailed"] {
        let base = [
            "check",
            "--model",
            "tokens",
            "--lengths",
            lengths,
            "--sequences",
            "6",
            "--positions",
            "5",
            "--d",
            "3",
            "--k",
            "3",
            "--dtype",
            "f32,f64",
            "--wrt",
            "input,bias",
            "--eps",
            "1e-2,1e-5",
            "--format",
            "csv",
        ];
        let with = |extra: &[&str]| ok(&[&base[..], extra].concat());
        let one = with(&["--seed", "7", "--threads", "1"]);
        assert_eq!(one, with(&["--seed", "7", "--threads", "2"]), "{lengths}");
        assert_eq!(one, with(&["--seed", "7", "--threads", "2"]), "{lengths}");
        assert_ne!(one, with(&["--seed", "8", "--threads", "2"]), "{lengths}");
        assert_eq!(rows(&one).len(), 8, "{one}");
        // The table's header counts the tokens.
        let table = ok(&[&base[..base.len() - 2], &["--seed", "7", "--reduction", "sequence-mean"]].concat());
        let header = table.lines().next().unwrap();
        assert!(header.contains(&format!("lengths={lengths}")) && header.contains("B=6 T=5 d=3 k=3"), "{header}");
        let tokens: usize = header.split("tokens=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        match lengths {
            "equal" => assert_eq!(tokens, 30, "{header}"),
            _ => assert!((6..30).contains(&tokens), "{header}"),
        }
    }
    // Equal lengths: sequence-mean's truth is the token mean's; uniform lengths: it is not.
    for (lengths, same) in [("equal", true), ("uniform", false)] {
        let truth = |red: &str| {
            let dir = scratch(&format!("equal-{lengths}-{red}"));
            ok(&[
                "check",
                "--model",
                "tokens",
                "--lengths",
                lengths,
                "--dtype",
                "f64",
                "--wrt",
                "weight",
                "--eps",
                "1e-3",
                "--reduction",
                red,
                "--save-grads",
                dir.to_str().unwrap(),
            ]);
            let t = read(&dir.join("truth_f64.npy"));
            let _ = std::fs::remove_dir_all(&dir);
            t
        };
        let d = rel_diff(&truth("sequence-mean"), &truth("mean"));
        assert_eq!(d < 1e-15, same, "{lengths}: {d}");
    }
}

/// Bad input: one sentence on stderr, nothing on stdout, the documented exit status, no panic.
#[test]
fn bad_token_input_is_one_sentence_and_a_nonzero_exit() {
    let f = fixtures();
    let fix = f.to_str().unwrap();
    // A copy of the fixture without bias.npy.
    let missing = scratch("missing");
    for name in ["x", "t", "weight"] {
        std::fs::copy(f.join(format!("{name}.npy")), missing.join(format!("{name}.npy"))).unwrap();
    }
    let missing = missing.to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--tokens", &missing], 1, "bias.npy: no such file"),
        (vec!["--tokens", "/nonexistent/gradlab-tokens"], 1, "no such folder"),
        (vec!["--tokens", fix, "--data", fix], 2, "give one of them, not both"),
        (vec!["--tokens", fix, "--model", "linear"], 2, "token sequences are checked by --model tokens"),
        (vec!["--lengths", "equal"], 2, "--lengths describes generated token sequences"),
        (vec!["--sequences", "3", "--model", "mlp-tanh"], 2, "only --model tokens checks (not --model mlp-tanh)"),
        (vec!["--tokens", fix, "--positions", "3"], 2, "the ones loaded with --tokens have their own size"),
        (vec!["--model", "tokens", "--data", fix], 2, "load them with --tokens DIR, not --data"),
        (vec!["--model", "tokens", "--n", "5"], 2, "--n counts samples"),
        (vec!["--model", "tokens", "--epochs", "3"], 2, "the model does not train"),
        (vec!["--tokens", fix, "--input-grad", "accumulate"], 2, "x.grad accumulates over epochs of training"),
        (vec!["--model", "tokens", "--hidden", "4"], 2, "no hidden width with --model tokens"),
        (vec!["--reduction", "sequence-mean"], 2, "sequence-mean needs --model tokens"),
        (vec!["--model", "tokens", "--wrt", "logits"], 2, "what --model tokens has"),
        (vec!["--model", "tokens", "--lengths", "short"], 2, "expected equal, uniform or long-tailed"),
        (vec!["--model", "tokens", "--sequences", "0"], 2, "expected at least 1 sequence"),
        (vec!["--tokens", fix, "--dtype", "bf16+f32", "--scheme", "dual"], 2, "with bf16+f32"),
        (
            vec!["--model", "tokens", "--sequences", "1000", "--positions", "1000", "--max-memory", "1M"],
            1,
            "more than the limit of 1.00 MiB",
        ),
    ];
    for (args, code, needle) in cases {
        let out = gradlab(&[&["check"][..], &args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
    // sequence-mean with a sequence whose every target is -100: its mean is 0/0.
    let empty = scratch("empty");
    for name in ["x", "weight", "bias"] {
        std::fs::copy(f.join(format!("{name}.npy")), empty.join(format!("{name}.npy"))).unwrap();
    }
    let mut t = gradlab::npy::read_int2(&f.join("t.npy")).unwrap();
    t.row_mut(3).fill(-100);
    gradlab::npy::write(&empty.join("t.npy"), &t).unwrap();
    let e = empty.to_str().unwrap();
    let out = gradlab(&["check", "--tokens", e, "--reduction", "sequence-mean"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("sequence 3 has no counted token") && out.stdout.is_empty(), "{err}");
    // The token mean has no such problem.
    ok(&["check", "--tokens", e, "--eps", "1e-3"]);
    let _ = std::fs::remove_dir_all(&empty);
    let _ = std::fs::remove_dir_all(&missing);
}

/// Shapes of the saved gradients are PyTorch's: x.grad B x T x d, b.grad 1-D.
#[test]
fn saved_token_gradients_have_pytorchs_shapes() {
    let dir = scratch("shapes");
    ok(&[
        "check",
        "--model",
        "tokens",
        "--sequences",
        "3",
        "--positions",
        "4",
        "--d",
        "2",
        "--k",
        "5",
        "--dtype",
        "f32",
        "--wrt",
        "input,weight,bias",
        "--eps",
        "1e-2",
        "--save-grads",
        dir.to_str().unwrap(),
    ]);
    for (wrt, shape) in [("input", vec![3, 4, 2]), ("weight", vec![5, 2]), ("bias", vec![5])] {
        for file in
            [format!("analytic_{wrt}_f32.npy"), format!("truth_{wrt}_f32.npy"), format!("numeric_{wrt}_f32_1e-2.npy")]
        {
            assert_eq!(read(&dir.join(&file)).shape(), &shape[..], "{file}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
