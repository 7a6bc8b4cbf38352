//! Errors against the truth that cannot hide garbage: the `*_vs_truth` columns are the ordinary
//! relative error |v - t| / |t| (no cap at 2; elements whose truth is 0 counted apart in
//! `truth_zero`), and `gradlab check` never calls a step closest to the truth when no step is
//! within 1 of it.

use std::process::Command;

fn gradlab(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// The CSV's rows as (header, rows of fields).
fn csv(args: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let (text, _) = gradlab(&[args, &["--format", "csv"]].concat());
    let mut lines = text.lines().map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().unwrap();
    (header, lines.collect())
}

fn field<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    &row[header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))]
}

/// The seed's accumulated x.grad is about 10 times the truth: cs231n's measure reads 0.9 for
/// numeric against analytic, the ordinary one about 9 for analytic against the truth.
#[test]
fn the_accumulated_gradient_is_nine_times_off_the_truth_not_point_nine() {
    let (h, rows) = csv(&["check", "--input-grad", "accumulate", "--eps", "1e-2"]);
    let num = |name: &str| field(&h, &rows[0], name).parse::<f64>().unwrap();
    assert!((num("relerr_mean") - 0.9).abs() < 0.01, "{rows:?}");
    assert!((num("anal_vs_truth") - 9.0).abs() < 0.1, "{rows:?}");
    assert!(num("num_vs_truth") < 1e-3, "{rows:?}");
    assert_eq!(field(&h, &rows[0], "truth_zero"), "0");
    // Without a truth the count is empty, like the errors are NaN.
    let (h, rows) = csv(&["check", "--eps", "1e-2", "--no-truth"]);
    assert_eq!(field(&h, &rows[0], "truth_zero"), "");
    assert_eq!(field(&h, &rows[0], "num_vs_truth"), "NaN");
}

/// A relu MLP with a hidden unit dead for every sample (H = 16, seed 1: its 4 weights in W1) has
/// true gradients of exactly 0: they are counted in `truth_zero`, said in the diagnosis, and left
/// out of the means (which stay finite).
#[test]
fn zero_truths_are_counted_apart() {
    let args =
        ["check", "--model", "mlp-relu", "--hidden", "16", "--wrt", "hidden-weight", "--dtype", "f64", "--eps", "1e-6"];
    let (h, rows) = csv(&args);
    let zeros: usize = field(&h, &rows[0], "truth_zero").parse().unwrap();
    assert!(zeros > 0, "{rows:?}");
    let mean: f64 = field(&h, &rows[0], "num_vs_truth").parse().unwrap();
    assert!(mean.is_finite() && mean < 1e-6, "{rows:?}");
    let (table, _) = gradlab(&args);
    let said =
        format!("{zeros} elements have a true gradient of exactly 0, left out of num_vs_truth and anal_vs_truth");
    assert!(table.contains(&said), "{table}");
}

/// e4m3, seed 5: the x.grad column of feature 0 is 0 in exact arithmetic (for two classes
/// x.grad_ji = (p_j1 - y_j1)(W_1i - W_2i) / n, and the two weights round to the same e4m3 value),
/// but the 256-bit pass holds 0 at six of its elements and its own rounding residue, 2^-262 to
/// 2^-260 (2^-518 to 2^-516 at 512 bits), at four, beside elements of 0.03. The truth clears the
/// residues, so all ten are zero truths: the analytic gradient's e4m3 residue there (2^-9) does
/// not read as a relative error of 1e76, no residue is called an underflow of the analytic
/// gradient, and the saved truth holds 0.
#[test]
fn residues_of_the_truths_rounding_count_as_zero() {
    let args = ["check", "--seed", "5", "--dtype", "e4m3", "--eps", "1e0"];
    let (h, rows) = csv(&args);
    let num = |name: &str| field(&h, &rows[0], name).parse::<f64>().unwrap();
    assert!(num("anal_vs_truth") < 1.0, "{rows:?}");
    assert!(num("num_vs_truth") < 10.0, "{rows:?}");
    // The column: 6 exact zeros and 4 residues.
    assert_eq!(field(&h, &rows[0], "truth_zero"), "10", "{rows:?}");
    let (table, _) = gradlab(&args);
    assert!(!table.contains("underflows"), "{table}");
    let dir = tempfile::tempdir().unwrap();
    gradlab(&[&args[..], &["--save-grads", dir.path().to_str().unwrap()]].concat());
    let truth = gradlab::npy::read_float2(&dir.path().join("truth_e4m3.npy")).unwrap();
    assert_eq!(truth.column(0).iter().filter(|v| **v == 0.0).count(), 10, "{truth:?}");
}

/// Where some step is within 1 of the truth, the diagnosis names the closest; where none is (every
/// element dead or flat, so the numeric gradient is 0 and its error exactly 1 at every step), or
/// no error is finite, it says that no step worked and names none as closest.
#[test]
fn the_diagnosis_says_no_step_worked_when_none_did() {
    let (good, _) = gradlab(&["check", "--eps", "1e-1,1e-2,1e-3"]);
    assert!(good.contains("numeric gradient closest to the truth at eps = 1e-1 ("), "{good}");
    assert!(!good.contains("no step worked"), "{good}");

    let (bad, _) = gradlab(&["check", "--dtype", "bf16", "--eps", "1e-5,1e-12"]);
    assert!(bad.contains("no step worked: at every step the numeric gradient is off the truth"), "{bad}");
    assert!(bad.contains("at eps = 1e-5, is no better than a gradient of zeros"), "{bad}");
    assert!(!bad.contains("closest to the truth"), "{bad}");

    // Every step overflows (e4m3's largest value is 448; central5 reaches x + 2 eps): no error is
    // finite, and it says so instead of naming a step.
    let (overflow, _) = gradlab(&["check", "--dtype", "e4m3", "--scheme", "central5", "--eps", "4e2,3e2"]);
    assert!(
        overflow.contains("no step worked: the numeric gradient's error against the truth is not finite at any step."),
        "{overflow}"
    );
    assert!(!overflow.contains("closest to the truth"), "{overflow}");
}
