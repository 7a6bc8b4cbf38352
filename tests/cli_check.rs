//! `gradlab check` as a user runs it: CSV output, saved gradients, and errors for bad input.

use std::path::Path;
use std::process::Command;

fn gradlab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap()
}

#[test]
fn csv_has_the_documented_columns_and_one_row_per_dtype_and_eps() {
    let out = gradlab(&["check", "--dtype", "f32,f64", "--eps", "1e-1,1e-2,1e-3", "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    for col in "dtype,scheme,wrt,input_grad,eps,relerr_mean,relerr_median,relerr_max,zero_over_zero,dead_zone,num_vs_truth,anal_vs_truth,ratio_median".split(',') {
        assert!(header.split(',').any(|h| h == col), "missing column {col} in {header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 6);
    assert!(rows[0].starts_with("f32,central,input,reset,1e-1,"), "{}", rows[0]);
    assert!(rows[5].starts_with("f64,central,input,reset,1e-3,"), "{}", rows[5]);
}

fn read_f64_npy(path: &Path) -> Vec<f64> {
    gradlab::npy::read_float2(path).unwrap().iter().copied().collect()
}

#[test]
fn saved_gradients_reproduce_the_csv_and_keep_every_mpfr_digit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out =
        gradlab(&["check", "--dtype", "f64,mpfr:113", "--eps", "1e-3,1e-05", "--format", "csv", "--save-grads", d]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    for name in [
        "analytic_f64.npy",
        "truth_f64.npy",
        "numeric_f64_1e-3.npy",
        "numeric_f64_1e-05.npy",
        "analytic_mpfr113.npy",
        "truth_mpfr113.npy",
        "numeric_mpfr113_1e-3.npy",
        "analytic_mpfr113.txt",
        "truth_mpfr113.txt",
    ] {
        assert!(dir.path().join(name).exists(), "{name} missing");
    }
    // The CSV's relerr_mean for f64 at 1e-3 is recomputed from the saved arrays.
    let a = read_f64_npy(&dir.path().join("analytic_f64.npy"));
    let n = read_f64_npy(&dir.path().join("numeric_f64_1e-3.npy"));
    assert_eq!(a.len(), 40);
    let mean: f64 = a.iter().zip(&n).map(|(a, n)| (a - n).abs() / a.abs().max(n.abs())).sum::<f64>() / 40.0;
    let row = csv.lines().find(|l| l.starts_with("f64,central,input,reset,1e-3,")).unwrap();
    let csv_mean: f64 = row.split(',').nth(5).unwrap().parse().unwrap();
    assert_eq!(mean, csv_mean);
    // The MPFR text keeps more than f64 can: 40 lines, each rounding to the .npy value, and at
    // least one differing from its f64 rounding.
    let text = std::fs::read_to_string(dir.path().join("analytic_mpfr113.txt")).unwrap();
    let npy = read_f64_npy(&dir.path().join("analytic_mpfr113.npy"));
    let vals: Vec<rug::Float> =
        text.lines().map(|l| rug::Float::with_val(113, rug::Float::parse(l).unwrap())).collect();
    assert_eq!(vals.len(), 40);
    assert!(vals.iter().zip(&npy).all(|(v, f)| v.to_f64() == *f));
    assert!(vals.iter().zip(&npy).any(|(v, f)| *v != *f));
}

#[test]
fn bad_input_is_one_sentence_and_a_nonzero_exit() {
    for (args, code, needle) in [
        (&["check", "--dtype", "f8"][..], 2, "\"f8\""),
        (&["check", "--dtype", "mpfr:1"][..], 2, "\"mpfr:1\""),
        (&["check", "--eps", "0"][..], 2, "\"0\""),
        (&["check", "--eps", "-1e-3"][..], 2, "\"-1e-3\""),
        (&["check", "--eps", "nan"][..], 2, "\"nan\""),
        (&["check", "--eps", "1e-400", "--dtype", "f64"][..], 1, "\"1e-400\""),
        (&["check", "--lr", "-1"][..], 2, "'-1' for '--lr <LR>': expected a learning rate of 0 or more"),
        (&["check", "--k", "1"][..], 2, "'1' for '--k <K>': expected at least 2 classes"),
        (&["check", "--n", "0"][..], 2, "'0' for '--n <N>': expected at least 1 sample"),
        (&["check", "--d", "0"][..], 2, "'0' for '--d <D>': expected at least 1 feature"),
        (&["check", "--epochs", "-1"][..], 2, "'-1' for '--epochs <EPOCHS>': expected a whole number"),
        (&["check", "--lr", "nan"][..], 2, "'nan' for '--lr <LR>': expected a decimal number"),
        (&["check", "--eps", "inf"][..], 2, "\"inf\""),
        (&["check", "--eps", "abc"][..], 2, "\"abc\""),
        (&["check", "--eps", ""][..], 2, "at least one number"),
        (&["check", "--dtype", ""][..], 2, "invalid dtype list"),
        (&["check", "--dtype", "float16"][..], 2, "\"float16\""),
        (&["check", "--dtype", "mpfr:"][..], 2, "\"mpfr:\""),
        (&["check", "--dtype", "mpfr:0"][..], 2, "\"mpfr:0\""),
        (&["check", "--dtype", "mpfr:abc"][..], 2, "\"mpfr:abc\""),
        (&["check", "--dtype", "mpfr:-5"][..], 2, "\"mpfr:-5\""),
        (&["check", "--dtype", "mpfr:99999999999"][..], 2, "\"mpfr:99999999999\""),
        (&["check", "--truth-bits", "10"][..], 1, "\"10\""),
        (&["check", "--data", "/nonexistent/gradlab"][..], 1, "/nonexistent/gradlab"),
    ] {
        let out = gradlab(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
}
