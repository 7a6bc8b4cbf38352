//! `gradlab check` as a user runs it: CSV output, saved gradients, and errors for bad input.

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::npy;
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
    let a = npy::read_f64(&dir.path().join("analytic_f64.npy"));
    let n = npy::read_f64(&dir.path().join("numeric_f64_1e-3.npy"));
    assert_eq!(a.len(), 40);
    let mean: f64 = a.iter().zip(&n).map(|(a, n)| (a - n).abs() / a.abs().max(n.abs())).sum::<f64>() / 40.0;
    let row = csv.lines().find(|l| l.starts_with("f64,central,input,reset,1e-3,")).unwrap();
    let csv_mean: f64 = row.split(',').nth(5).unwrap().parse().unwrap();
    assert_eq!(mean, csv_mean);
    // The MPFR text keeps more than f64 can: 40 lines, each rounding to the .npy value, and at
    // least one differing from its f64 rounding.
    let text = std::fs::read_to_string(dir.path().join("analytic_mpfr113.txt")).unwrap();
    let npy = npy::read_f64(&dir.path().join("analytic_mpfr113.npy"));
    let vals: Vec<rug::Float> =
        text.lines().map(|l| rug::Float::with_val(113, rug::Float::parse(l).unwrap())).collect();
    assert_eq!(vals.len(), 40);
    assert!(vals.iter().zip(&npy).all(|(v, f)| v.to_f64() == *f));
    assert!(vals.iter().zip(&npy).any(|(v, f)| *v != *f));
}

/// `--wrt input,weight,bias`: one block of CSV rows per wrt (every dtype in each), and saved
/// gradients named with the wrt, in the tensors' own shapes (the bias 1-D).
#[test]
fn a_wrt_list_gives_one_block_per_wrt_and_named_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let args = ["check", "--wrt", "input,weight,bias", "--dtype", "f32,f64", "--eps", "1e-2,1e-4", "--format", "csv"];
    let out = gradlab(&[&args[..], &["--save-grads", d]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let prefixes: Vec<String> =
        text.lines().skip(1).map(|l| l.split(',').take(3).collect::<Vec<_>>().join(",")).collect();
    let want: Vec<String> = ["input", "weight", "bias"]
        .iter()
        .flat_map(|w| ["f32", "f32", "f64", "f64"].map(move |dt| format!("{dt},central,{w}")))
        .collect();
    assert_eq!(prefixes, want);
    // Every block's analytic gradient agrees with the truth in f64.
    for line in text.lines().skip(1).filter(|l| l.starts_with("f64,")) {
        let anal_vs_truth: f64 = line.split(',').nth(11).unwrap().parse().unwrap();
        assert!(anal_vs_truth < 1e-15, "{line}");
    }
    let shape = |name: &str| {
        let bytes = std::fs::read(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        gradlab::npy::decode_float(&bytes).unwrap().shape().to_vec()
    };
    assert_eq!(shape("analytic_input_f64.npy"), [10, 4]);
    assert_eq!(shape("truth_weight_f32.npy"), [2, 4]);
    assert_eq!(shape("numeric_weight_f64_1e-4.npy"), [2, 4]);
    assert_eq!(shape("analytic_bias_f64.npy"), [2]);
    assert_eq!(shape("numeric_bias_f32_1e-2.npy"), [2]);
    assert!(!dir.path().join("analytic_f64.npy").exists(), "several wrts: every name carries its wrt");
    // One non-default wrt alone keeps the short names.
    let one = tempfile::tempdir().unwrap();
    let out = gradlab(&[
        "check",
        "--wrt",
        "bias",
        "--dtype",
        "f64",
        "--eps",
        "1e-3",
        "--save-grads",
        one.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(one.path().join("analytic_f64.npy").exists() && one.path().join("numeric_f64_1e-3.npy").exists());
}
/// The new schemes on the command line: the complex step at 1e-300 in f64 as accurate as the
/// analytic gradient, dual numbers one row with an empty eps, Ridders' two extra table columns.
#[test]
fn complex_dual_and_ridders_from_the_command_line() {
    let out = gradlab(&["check", "--dtype", "f64", "--scheme", "complex", "--eps", "1e-300", "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(&row[..5], ["f64", "complex", "input", "reset", "1e-300"]);
    let num_vs_truth: f64 = row[10].parse().unwrap();
    assert!(num_vs_truth <= 1e-15, "{text}");
    // est_error and est_bounds, before the last column (truth_zero).
    assert_eq!(row[row.len() - 3..row.len() - 1], ["", ""], "no estimate for the complex step: {text}");

    let out = gradlab(&["check", "--dtype", "f32,f64", "--scheme", "dual", "--format", "csv"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "one row per dtype: {text}");
    assert!(rows[0].starts_with("f32,dual,input,reset,,"), "{text}");
    // `--eps none` says what dual numbers take: the same CSV.
    let none = gradlab(&["check", "--dtype", "f32,f64", "--scheme", "dual", "--eps", "none", "--format", "csv"]);
    assert!(none.status.success(), "{}", String::from_utf8_lossy(&none.stderr));
    assert_eq!(String::from_utf8(none.stdout).unwrap(), text);

    let out = gradlab(&["check", "--dtype", "f64", "--scheme", "ridders", "--eps", "1,1e-1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("est_error") && text.contains("bounds"), "{text}");
    assert!(text.contains("Ridders' error estimate bounds the true error for"), "{text}");
}

/// `--eps auto`: one row per dtype, "auto" in the table's eps column, the median of the chosen
/// steps (a positive number) in the CSV's.
#[test]
fn eps_auto_on_the_command_line() {
    let out = gradlab(&["check", "--dtype", "f32,f64", "--scheme", "central5", "--eps", "auto", "--format", "csv"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<gradlab::check::CheckRow> = rd.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        let h = r.eps.to_f64();
        assert!(h > 1e-4 && h < 1.0, "{text}");
        assert!(r.num_vs_truth < 1e-4, "{text}");
    }
    let out = gradlab(&["check", "--dtype", "f64", "--eps", "auto"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("auto ")), "{text}");
    assert!(text.contains("eps auto: a step per element from the error model, median"), "{text}");
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
        (&["check", "--dtype", "f16", "--eps", "1e-8"][..], 1, "a step that does not round to 0 in f16"),
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
        (&["check", "--dtype", "ieee:0:3"][..], 2, "\"ieee:0:3\": expected one of"),
        (&["check", "--dtype", "ieee:12:60"][..], 2, "12 exponent bits is out of range"),
        (&["check", "--dtype", "ieee:5:53"][..], 2, "53 mantissa bits is out of range"),
        (&["check", "--dtype", "ieee:5"][..], 2, "\"ieee:5\""),
        (&["check", "--dtype", "e4m4"][..], 2, "the named FP8 formats are e4m3 and e5m2"),
        (&["check", "--dtype", "e4m3", "--eps", "1e-4"][..], 1, "a step that does not round to 0 in e4m3"),
        (&["check", "--truth-bits", "10"][..], 1, "\"10\""),
        (&["check", "--data", "/nonexistent/gradlab"][..], 1, "/nonexistent/gradlab"),
        (&["check", "--wrt", "weights"][..], 2, "\"weights\""),
        (&["check", "--wrt", "input,input"][..], 2, "input is listed twice"),
        (&["check", "--wrt", "input,"][..], 2, "expected a comma-separated list"),
        (&["check", "--scheme", "complexx"][..], 2, "\"complexx\""),
        (&["check", "--eps", "auto,1e-3"][..], 2, "auto alone or a list of steps"),
        (&["check", "--eps", "1e-3,none"][..], 2, "none alone or a list of steps"),
        (&["check", "--eps", "none"][..], 2, "--eps none gives no step, which only --scheme dual takes"),
        (&["check", "--eps", "none", "--scheme", "complex"][..], 2, "so complex needs steps"),
        (&["check", "--eps", "auto", "--scheme", "ridders"][..], 2, "not ridders"),
        (&["check", "--eps", "auto", "--scheme", "dual"][..], 2, "not dual"),
        (&["check", "--eps", "auto", "--scheme", "complex"][..], 2, "not complex"),
        (&["check", "--scheme", "complex", "--eps", "1e-50", "--dtype", "f32"][..], 1, "\"1e-50\""),
        (&["check", "--model", "mlp"][..], 2, "\"mlp\""),
        (&["check", "--model", "mlp-tanh", "--hidden", "0"][..], 2, "expected at least 1 hidden unit"),
        (&["check", "--model", "mlp-relu", "--hidden", "5000"][..], 2, "expected at most 4096 hidden units"),
        (&["check", "--model", "mlp-relu", "--hidden", "-3"][..], 2, "expected a whole number of hidden units"),
        (&["check", "--hidden", "8"][..], 2, "no hidden width with --model linear"),
        (&["check", "--wrt", "hidden-weight"][..], 2, "what --model linear has"),
        (&["check", "--wrt", "input,hidden-bias", "--model", "linear"][..], 2, "\"hidden-bias\""),
        (&["check", "--dtype", "bf16+"][..], 2, "invalid dtype \"bf16+\": expected S+C"),
        (&["check", "--dtype", "bf16+f32", "--model", "mlp-tanh"][..], 2, "needs --model linear"),
        (&["check", "--dtype", "+f32"][..], 2, "both S and C must be named"),
        (&["check", "--dtype", "f32+f16"][..], 2, "\"f16\" is not f32 or f64"),
        (&["check", "--dtype", "bf16+bf16"][..], 2, "\"bf16\" is not f32 or f64"),
        (&["check", "--dtype", "e4m3+f16"][..], 2, "\"f16\" is not f32 or f64"),
        (&["check", "--dtype", "f32+f32"][..], 2, "so C needs at least 48"),
        (&["check", "--dtype", "bf16+f32+f64"][..], 2, "is not f32 or f64"),
        (&["check", "--dtype", "bf16+f32", "--scheme", "complex"][..], 2, "complex step and dual numbers"),
        (&["check", "--dtype", "f32,bf16+f32", "--scheme", "dual"][..], 2, "with bf16+f32"),
    ] {
        let out = gradlab(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
}

/// The MLP from the command line: every scheme runs, the rows are the linear model's kind, the
/// hidden layer's tensors have their own blocks, and the table names the model.
#[test]
fn mlp_from_the_command_line() {
    let out = gradlab(&[
        "check", "--model", "mlp-tanh", "--hidden", "8", "--dtype", "f32,f64", "--scheme", "complex", "--eps", "1e-20",
        "--format", "csv",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("f32,complex,input,reset,1e-20,"), "{}", rows[0]);
    let num_vs_truth: f64 = rows[1].split(',').nth(10).unwrap().parse().unwrap();
    assert!(num_vs_truth < 1e-14, "{}", rows[1]);
    let out = gradlab(&[
        "check",
        "--model",
        "mlp-relu",
        "--hidden",
        "3",
        "--dtype",
        "f64",
        "--scheme",
        "dual",
        "--wrt",
        "hidden-weight,hidden-bias,weight",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let wrts: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(wrts, ["hidden-weight", "hidden-bias", "weight"], "{text}");
    let dir = tempfile::tempdir().unwrap();
    let out = gradlab(&[
        "check",
        "--model",
        "mlp-tanh",
        "--wrt",
        "hidden-bias",
        "--eps",
        "auto",
        "--save-grads",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("model=mlp-tanh H=8"), "{table}");
    // The hidden bias is a vector of H = 8 values, as PyTorch holds it.
    let a = gradlab::npy::read_float1(&dir.path().join("analytic_f32.npy")).unwrap();
    assert_eq!(a.len(), 8);
}

#[test]
fn mixed_dtypes_run_every_stencil_scheme_and_wrt() {
    for scheme in ["forward", "backward", "central", "central5", "ridders"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let args = ["check", "--dtype", "bf16+f32,f32+f64", "--scheme", scheme, "--wrt", "input,weight,bias,logits"];
        let out = gradlab(&[&args[..], &["--eps", "1e-1,1e-2", "--format", "csv", "--save-grads", d]].concat());
        assert!(out.status.success(), "{scheme}: {}", String::from_utf8_lossy(&out.stderr));
        let csv = String::from_utf8(out.stdout).unwrap();
        // 2 dtypes x 4 wrt x 2 steps rows, the dtype column spelled as given.
        assert_eq!(csv.lines().skip(1).count(), 16, "{csv}");
        assert!(csv.lines().skip(1).all(|l| l.starts_with("bf16+f32,") || l.starts_with("f32+f64,")), "{csv}");
        assert!(csv.lines().skip(1).all(|l| l.contains(",ok,")), "{csv}");
        assert!(dir.path().join("analytic_weight_bf16+f32.npy").exists());
        // The analytic gradient handed back is stored in bf16.
        for v in npy::read_f64(&dir.path().join("analytic_input_bf16+f32.npy")) {
            assert_eq!(f64::from(half::bf16::from_f64(v).to_f32()), v);
        }
    }
    // --eps auto with a mixed dtype.
    let out = gradlab(&["check", "--dtype", "f16+f32", "--eps", "auto"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Whole-number options: `1.5`, `abc` and negative numbers are not whole numbers (one sentence
/// naming the option and the value, exit 2); a whole number typed as `1e1` is one; a value above
/// an option's limit names the limit and why; a size within the limit but beyond memory is the
/// memory budget's refusal (exit 1).
#[test]
fn whole_number_options_say_what_they_expect() {
    for (args, code, needle) in [
        (&["check", "--n", "1.5"][..], 2, "invalid value '1.5' for '--n <N>': expected a whole number of samples, 1 or more"),
        (&["check", "--n", "abc"][..], 2, "invalid value 'abc' for '--n <N>': expected a whole number of samples"),
        (&["check", "--n", "-3"][..], 2, "invalid value '-3' for '--n <N>': expected a whole number of samples"),
        (&["check", "--n", "1e30"][..], 2, "expected at most 1152921504606846975 samples: an array of more f64 values"),
        (&["check", "--n", "1e9", "--max-memory", "1G"][..], 1, "n=1000000000 d=4 k=2"),
        (&["check", "--n", "1000000000000", "--max-memory", "1G"][..], 1, "more than the limit of 1.00 GiB"),
        (&["check", "--d", "2.5"][..], 2, "'2.5' for '--d <D>': expected a whole number of features, 1 or more"),
        (&["check", "--k", "abc"][..], 2, "'abc' for '--k <K>': expected a whole number of classes, 2 or more"),
        (&["check", "--epochs", "1.5"][..], 2, "'1.5' for '--epochs <EPOCHS>': expected a whole number of epochs, 0 or more"),
        (&["check", "--epochs", "1e20"][..], 2, "expected at most 18446744073709551615 epochs"),
        (&["check", "--model", "mlp-tanh", "--hidden", "1.5"][..], 2, "expected a whole number of hidden units from 1 to 4096"),
        (&["check", "--seed", "1.5"][..], 2, "'1.5' for '--seed <SEED>': expected a whole number from 0 to 18446744073709551615"),
        (&["check", "--seed", "1e20"][..], 2, "expected at most 18446744073709551615: seeds are 64-bit numbers"),
        (&["check", "--truth-bits", "abc"][..], 2, "'abc' for '--truth-bits <TRUTH_BITS>': expected a whole number of bits from 2 to 131072"),
        (&["check", "--truth-bits", "1e9"][..], 2, "expected at most 131072 bits"),
        (&["check", "--threads", "1.5"][..], 2, "'1.5' for '--threads <THREADS>': expected a whole number of threads from 1 to"),
        (&["check", "--threads", "0"][..], 2, "expected at least 1 thread"),
        (&["check", "--threads", "-2"][..], 2, "'-2' for '--threads <THREADS>': expected a whole number of threads"),
        (&["check", "--threads", "1e6"][..], 2, "threads: at most 4 per core"),
        (&["run", "formats", "--threads", "abc"][..], 2, "'abc' for '--threads <THREADS>': expected a whole number of threads"),
        (&["run", "formats", "--shard", "1.5/2"][..], 2, "'1.5/2' for '--shard <K/N>': expected K/N, two whole numbers with 1 <= K <= N; K = \"1.5\" is not a whole number"),
        (&["run", "formats", "--shard", "1/abc"][..], 2, "N = \"abc\" is not a whole number"),
        (&["run", "formats", "--shard", "0/2"][..], 2, "0/2 has K outside 1..=2"),
        (&["run", "formats", "--shard", "3/2"][..], 2, "3/2 has K outside 1..=2"),
        (&["run", "formats", "--shard", "1/1e30"][..], 2, "N = 1e30 is above 18446744073709551615"),
    ] {
        let out = gradlab(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
    // 1e1 is the whole number 10: the same check as the default n = 10.
    let csv = |args: &[&str]| String::from_utf8(gradlab(&[args, &["--format", "csv"]].concat()).stdout).unwrap();
    assert_eq!(csv(&["check", "--n", "1e1", "--seed", "1.0"]), csv(&["check"]));
}

/// Every dtype runs with the default steps: each keeps the steps it can hold, and one note
/// (stderr and the table) names the steps it leaves out and why; the linear model, the MLP and
/// mixed dtypes alike. Steps typed with --eps keep their error (in the table above).
#[test]
fn the_default_steps_work_in_every_dtype() {
    for (dtype, left_out) in [
        ("f32", ""),
        ("f16", "1e-8 (rounds to 0 in f16)"),
        ("e4m3", "1e-4, 1e-5, 1e-6, 1e-7, 1e-8 (round to 0 in e4m3)"),
        ("e5m2", "1e-6, 1e-7, 1e-8 (round to 0 in e5m2)"),
        ("ieee:2:1", "1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8 (round to 0 in ieee:2:1)"),
        ("bf16+f32", ""),
        ("e4m3+f32", ""),
    ] {
        for model in ["linear", "mlp-tanh"] {
            if model != "linear" && dtype.contains('+') {
                continue; // mixed dtypes need the linear model
            }
            let out = gradlab(&["check", "--dtype", dtype, "--model", model, "--format", "csv"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{dtype} {model}: {err}");
            let kept = 9 - left_out.split(',').filter(|s| !s.is_empty()).count();
            let text = String::from_utf8(out.stdout).unwrap();
            assert_eq!(text.lines().skip(1).count(), kept, "{dtype} {model}: {text}");
            let note = err.lines().filter(|l| l.starts_with("note: ")).collect::<Vec<_>>();
            if left_out.is_empty() {
                assert!(note.is_empty(), "{dtype}: {err}");
            } else {
                let plural = if kept == 8 { "step" } else { "steps" };
                let want = format!("note: {dtype} leaves out the default {plural} {left_out}; --eps chooses the steps");
                assert_eq!(note, [want.as_str()], "{dtype}: {err}");
            }
        }
    }
    let out = gradlab(&["check", "--dtype", "f32,f16"]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let f16 = table.find("\nf16 (p = 11 bits").unwrap();
    assert!(table[f16..].lines().nth(2).unwrap().starts_with("note: f16 leaves out the default step 1e-8"), "{table}");
    assert_eq!(table.matches("note: ").count(), 1, "{table}");
}

/// Training that turns non-finite says so in one sentence naming the dtype and the epoch, on
/// stderr and in the table, in both output formats; the rows are still written (status
/// `nonfinite`) and the exit status stays 0. A run that stays finite says nothing.
#[test]
fn nonfinite_training_is_said_once_with_its_epoch() {
    for (args, want) in [
        (
            &["--dtype", "f32", "--lr", "3e38"][..],
            "warning: training in f32 turned non-finite at epoch 5 of 10: its forward and backward pass gave an inf or \
             NaN logit or gradient, after 4 SGD steps",
        ),
        (
            &["--dtype", "e4m3", "--lr", "1e3", "--eps", "1e0"][..],
            "warning: training in e4m3 turned non-finite at epoch 1 of 10: its SGD step made a weight or bias inf or NaN",
        ),
        (
            &["--model", "mlp-tanh", "--lr", "3e38", "--eps", "1e-2"][..],
            "warning: training in f32 turned non-finite at epoch 2 of 10: its SGD step",
        ),
    ] {
        for format in ["table", "csv"] {
            let out = gradlab(&[&["check"], args, &["--format", format]].concat());
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
            assert_eq!(err.lines().filter(|l| l.starts_with("warning: training")).count(), 1, "{args:?}: {err}");
            assert!(err.contains(want), "{args:?}: {err}");
            let text = String::from_utf8(out.stdout).unwrap();
            match format {
                "table" => assert!(text.contains(want), "{args:?}: {text}"),
                _ => assert!(text.lines().skip(1).all(|l| l.contains(",nonfinite,")), "{args:?}: {text}"),
            }
        }
    }
    let out = gradlab(&["check", "--lr", "1e30"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--eps auto` warns when its steps left the loss unchanged (flat or dead) for most elements:
/// e5m2 on the default problem (29 of 40 flat), not e4m3 (17 of 40) nor f32 (none).
#[test]
fn eps_auto_warns_when_most_of_the_loss_is_flat() {
    let run = |dtype: &str| {
        let out = gradlab(&["check", "--dtype", dtype, "--eps", "auto"]);
        assert!(out.status.success(), "{dtype}");
        let csv = gradlab(&["check", "--dtype", dtype, "--eps", "auto", "--format", "csv"]);
        let mut rd = csv::Reader::from_reader(&csv.stdout[..]);
        let rows: Vec<gradlab::check::CheckRow> = rd.deserialize().map(Result::unwrap).collect();
        let unchanged = rows[0].loss_flat + rows[0].dead_zone;
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), unchanged)
    };
    let (table, err, unchanged) = run("e5m2");
    assert!(unchanged > 20, "the case must be mostly flat: {unchanged} of 40");
    let want = format!("warning: --eps auto left the loss unchanged for {unchanged} of 40 elements in e5m2");
    assert!(err.contains(&want) && table.contains(&want), "{err}\n{table}");
    for dtype in ["e4m3", "f32"] {
        let (table, err, unchanged) = run(dtype);
        assert!(unchanged <= 20, "{dtype}: {unchanged} of 40");
        assert!(!err.contains("--eps auto left") && !table.contains("--eps auto left"), "{dtype}: {err}");
    }
}
