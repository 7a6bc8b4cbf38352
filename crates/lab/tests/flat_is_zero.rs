//! Differences that cancel: where every element's loss is flat or its input dead, the numeric
//! gradient is exactly 0 in every stencil and dtype, because every stencil subtracts paired
//! points before weighting them (src/method/stencil.rs).

#[path = "../../../tests/common/mod.rs"]
mod common;

use gradlab::check::{check_dtype, check_model, CheckConfig, Checked};
use gradlab::exact::{parse_list, Decimal};
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::model::{MlpModel, MlpTensor};
use gradlab::objective::mlp::{Activation, MlpSpec, DEFAULT_HIDDEN};
use gradlab::policy::usable_steps;
use gradlab::scalar::DType;
use gradlab::train::InputGrad;
use gradlab::watch::Watch;
use std::process::Command;

/// Two steps per decade from 1e2 down to 1e-40: wide enough that every dtype here has steps where
/// every element's loss is flat or its input dead.
fn grid() -> Vec<Decimal> {
    let text: Vec<String> = (-40..=2).rev().flat_map(|e| [format!("3e{e}"), format!("1e{e}")]).collect();
    parse_list("step", &text.join(",")).unwrap()
}

/// The steps of a check whose rows count every element as flat or dead, with that step's saved
/// numeric gradient; asserts there is at least one.
fn all_flat_or_dead(label: &str, r: &gradlab::check::DTypeCheck) -> Vec<(String, Vec<f64>)> {
    let g = r.grads.as_ref().expect("kept gradients");
    let elements = g.analytic.len();
    let chosen: Vec<(String, Vec<f64>)> = r
        .rows
        .iter()
        .zip(&g.numeric)
        .filter(|(row, _)| row.dead_zone + row.loss_flat == elements)
        .map(|(row, num)| (row.eps.to_string(), num.iter().copied().collect()))
        .collect();
    assert!(!chosen.is_empty(), "{label}: no step has every element flat or dead: {:?}", r.rows);
    chosen
}

/// Forward, backward, central and central5 in f16, bf16, e4m3, f32 and mpfr:24 (and the other
/// emulated formats and a mixed dtype): at every step whose row counts every element flat or
/// dead, every saved numeric value is exactly 0. The counts are checked to cover every element
/// first. The input gradient by the fast path's staged rows and by the naive path (every loss
/// from scratch), the weight and bias gradients by the fast path's element by element.
#[test]
fn flat_or_dead_elements_give_exactly_zero() {
    let problem = common::default_problem();
    let dtypes = ["f16", "bf16", "e4m3", "f32", "mpfr:24", "e5m2", "tf32", "ieee:5:4", "bf16+f32", "f64"];
    let engines = [
        (LinearTensor::Input, false),
        (LinearTensor::Input, true),
        (LinearTensor::Weight, false),
        (LinearTensor::Bias, false),
    ];
    for scheme in Scheme::ALL {
        for name in dtypes {
            for (wrt, naive) in engines {
                let dt = DType::parse(name).unwrap();
                let cfg = CheckConfig {
                    steps: Steps::grid(usable_steps(&grid(), dt)).unwrap(),
                    keep_grads: true,
                    naive,
                    ..common::config(10, InputGrad::Reset, scheme, "1e-1", Some(256))
                };
                let label = format!("{scheme} {name} {wrt}{}", if naive { " naive" } else { "" });
                let r = check_dtype(&problem, wrt, dt, &cfg, &Watch::unwatched()).unwrap();
                let chosen = all_flat_or_dead(&label, &r);
                for (eps, num) in &chosen {
                    assert!(num.iter().all(|&v| v == 0.0), "{label} at {eps}: {num:?}");
                }
            }
        }
    }
}

/// The generic engine (the MLP's) forms the numerator the same way.
#[test]
fn the_mlp_flat_or_dead_elements_give_exactly_zero() {
    let problem = common::default_problem();
    let spec = MlpSpec { act: Activation::Tanh, hidden: DEFAULT_HIDDEN, seed: 1 };
    for scheme in Scheme::ALL {
        for name in ["bf16", "f16", "e4m3"] {
            let dt = DType::parse(name).unwrap();
            let cfg = CheckConfig {
                steps: Steps::grid(usable_steps(&grid(), dt)).unwrap(),
                keep_grads: true,
                ..common::config(10, InputGrad::Reset, scheme, "1e-1", Some(256))
            };
            let model = MlpModel { problem: &problem, spec, reduction: cfg.train.reduction };
            let r =
                check_model(&model, MlpTensor::Input, &Checked::new(cfg, dt).unwrap(), &Watch::unwatched()).unwrap();
            for (eps, num) in all_flat_or_dead(&format!("mlp-tanh {scheme} {name}"), &r) {
                assert!(num.iter().all(|&v| v == 0.0), "mlp-tanh {scheme} {name} at {eps}: {num:?}");
            }
        }
    }
}

/// The case: `gradlab check --scheme central5 --dtype bf16 --eps 1e-2,1e-5,1e-12
/// --save-grads D` wrote -0.0649, -65 and -6.5e8 for every element (summing in offset order)
/// while its table said 40 flat or dead; now every saved value is 0 and the table says 40.
#[test]
fn bf16_central5_saves_zeros_where_the_table_says_flat_or_dead() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["check", "--scheme", "central5", "--dtype", "bf16", "--eps", "1e-2,1e-5,1e-12"])
        .args(["--format", "csv", "--save-grads", d])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (line, eps) in lines.zip(["1e-2", "1e-5", "1e-12"]) {
        let f: Vec<&str> = line.split(',').collect();
        let count = |name: &str| f[col(name)].parse::<usize>().unwrap();
        assert_eq!(count("dead_zone") + count("loss_flat"), 40, "{line}");
        let num = gradlab::npy::read_float2(&dir.path().join(format!("numeric_bf16_{eps}.npy"))).unwrap();
        assert_eq!(num.len(), 40);
        assert!(num.iter().all(|&v| v == 0.0), "{eps}: {num:?}");
    }
}
