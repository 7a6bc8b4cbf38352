//! `gradlab diagnose --tokens` on token-loss gradients made by plain PyTorch in float32 and
//! bfloat16 (tests/fixtures/tokens/make_diagnose.py): every normalization variant of a training
//! step is named for the structure it ran with, the correct step is `correct`, on a problem of 8
//! sequences of 512 positions and one of 256 sequences, in f32 and bf16 (in bf16 at 256
//! sequences, where tau alone cannot tell the per-micro-batch token mean and the mean over ranks
//! from rounding, by the head's rounding along each mistake's direction); bad token input gets
//! one sentence.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gradlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokens").join(name)
}

/// The cause `diagnose` names for each of make_diagnose.py's variants (`correct`: none).
fn expected(variant: &str) -> Option<&'static str> {
    Some(match variant {
        "correct" => return None,
        "per_microbatch_token_mean" => "per_microbatch_token_mean",
        "sum_of_microbatch_means" => "sum_of_microbatch_means",
        "double_normalization" => "double_normalization",
        "partial_window" => "partial_window",
        "rank_mean_of_means" => "rank_mean_of_means",
        "sequence_mean" => "sequence_mean_instead_of_token_mean",
        other => panic!("unknown variant {other}"),
    })
}

/// Runs the diagnosis of one fixture gradient with its structure; returns the exit code and JSON.
fn run(problem: &str, dtype: &str, structure: &str, variant: &str) -> (i32, Value) {
    let dir = fixture(problem);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{structure}.json"))).unwrap()).unwrap();
    let list = |v: &Value| v.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let grads = dir.join(dtype).join(structure);
    let files = format!(
        "{},{}",
        grads.join(format!("{variant}_weight.npy")).display(),
        grads.join(format!("{variant}_bias.npy")).display()
    );
    let mut args = vec![
        "diagnose".to_string(),
        "--tokens".into(),
        dir.display().to_string(),
        "--grad".into(),
        files,
        "--wrt".into(),
        "weight,bias".into(),
        "--microbatches".into(),
        list(&s["microbatches"]),
        "--accumulation".into(),
        s["accumulation"].to_string(),
        "--ranks".into(),
        s["ranks"].to_string(),
        "--dtype".into(),
        dtype.into(),
        "--format".into(),
        "json".into(),
    ];
    if variant == "sequence_mean" {
        // The user meant the token mean; the loop computed the mean of sequence means.
        args.extend(["--reduction".into(), "mean".into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = gradlab(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{problem} {dtype} {structure} {variant}: {e}: {text} {}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap(), v)
}

#[test]
fn every_variant_is_named_on_pytorch_gradients_in_f32_and_bf16() {
    let structures: [(&str, &[&str]); 3] = [
        (
            "acc",
            &[
                "correct",
                "per_microbatch_token_mean",
                "sum_of_microbatch_means",
                "double_normalization",
                "sequence_mean",
            ],
        ),
        ("partial", &["correct", "partial_window"]),
        ("ranks", &["correct", "rank_mean_of_means"]),
    ];
    let mut failures = Vec::new();
    for problem in ["b8_t512", "b256_t64"] {
        for dtype in ["f32", "bf16"] {
            for (structure, variants) in structures {
                for variant in variants {
                    let (code, v) = run(problem, dtype, structure, variant);
                    let causes: Vec<&str> =
                        v["causes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
                    let named = match expected(variant) {
                        None => code == 0 && v["verdict"] == "correct",
                        Some(cause) => code == 3 && causes.first() == Some(&cause),
                    };
                    if !named {
                        failures.push(format!(
                            "{problem} {dtype} {structure} {variant}: exit {code}, verdict {}, causes {causes:?}, \
                             reason {}",
                            v["verdict"], v["reason"]
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_evidence_is_each_sequences_recovered_weight() {
    // b8_t512 in f32: 8 sequences, 36 values, so the weights are identifiable: the
    // per-micro-batch token mean gives sequence j the weight 1/(K c_b) of its micro-batch b.
    let (_, v) = run("b8_t512", "f32", "acc", "per_microbatch_token_mean");
    let w: Vec<f64> = v["weights"]["recovered"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let tokens = [512.0, 1.0, 37.0, 2.0, 5.0, 130.0, 1.0, 12.0];
    for (j, wj) in w.iter().enumerate() {
        let b = j / 2;
        let c_b = tokens[2 * b] + tokens[2 * b + 1];
        let want = 1.0 / (4.0 * c_b);
        assert!((wj / want - 1.0).abs() < 1e-3, "sequence {j}: weight {wj}, 1/(K c_b) = {want}");
    }
}

#[test]
fn bad_token_input_gets_one_sentence() {
    let dir = fixture("b8_t512");
    let g = dir.join("f32/acc/correct_weight.npy");
    let b = dir.join("f32/acc/correct_bias.npy");
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec!["--grad".into(), g.display().to_string(), "--wrt".into(), "input".into()],
            "expected --wrt weight, bias or weight,bias",
        ),
        (vec!["--grad".into(), format!("{},{}", b.display(), g.display())], "expected [4, 8], the head's weight"),
        (
            vec!["--grad".into(), format!("{},{}", g.display(), b.display()), "--microbatches".into(), "3,3".into()],
            "--microbatches",
        ),
        (vec!["--grad".into(), g.display().to_string()], "1 gradient files were given for 2 --wrt tensors"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["diagnose".to_string(), "--tokens".into(), dir.display().to_string()];
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = gradlab(&args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want) && err.lines().count() == 1, "{args:?}: {err}");
    }
    // --microbatches without --groups or --tokens.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/diagnose/correct_f32");
    let out = gradlab(&[
        "diagnose",
        "--data",
        data.to_str().unwrap(),
        "--grad",
        data.join("x_grad.npy").to_str().unwrap(),
        "--microbatches",
        "2,2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--microbatches describes the groups"));
}
