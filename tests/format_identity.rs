//! Proof by identity: the emulated formats with the parameters of the hardware ones compute the
//! same bits. `ieee:5:10` gives the same `gradlab check --format csv` rows as f16 (the dtype
//! column aside), `ieee:8:7` as bf16, `ieee:8:23` as f32 and `ieee:11:52` as f64, and the same
//! analytic and numeric gradients bit for bit, for every scheme, wrt, input-grad mode, both
//! reductions and several problems, including problems whose softmax exponentials are
//! subnormal or whose logits overflow (the formats' exponent ranges at work).

mod common;

use gradlab::check::{check_dtype, CheckConfig, DTypeCheck};
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::InputGrad;
use gradlab::watch::Watch;

fn config(scheme: Scheme, input_grad: InputGrad, reduction: Reduction, steps: &str) -> CheckConfig {
    common::identity_config(scheme, input_grad, reduction, steps, 128)
}

/// The check's CSV rows as `gradlab check --format csv` writes them (serde through the csv
/// crate, as `write_csv` in crates/lab/src/cli/check.rs), without the header and with the dtype
/// column (the first) cut off.
fn csv_rows(r: &DTypeCheck) -> Vec<String> {
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        for row in &r.rows {
            w.serialize(row).unwrap();
        }
        w.flush().unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    text.lines().skip(1).map(|l| l.split_once(',').unwrap().1.to_string()).collect()
}

/// A generated problem with x scaled by `scale` (large scales spread the logits, making
/// softmax exponentials subnormal in the format, or overflowing its sums).
fn problem(n: usize, d: usize, k: usize, seed: u64, scale: f64) -> Problem {
    let mut p = Problem::generate(n, d, k, seed).unwrap();
    p.x.mapv_inplace(|v| v * scale);
    p
}

#[test]
fn ieee_formats_equal_the_hardware_ones_row_for_row() {
    let pairs = [("f16", "ieee:5:10"), ("bf16", "ieee:8:7"), ("f32", "ieee:8:23"), ("f64", "ieee:11:52")];
    let mut compared = 0;
    let mut nonfinite = 0;
    let mut underflow = 0;
    for (hw, emu) in pairs {
        let (hw, emu) = (DType::parse(hw).unwrap(), DType::parse(emu).unwrap());
        // Three ordinary problems, one whose exponentials underflow the format and one whose
        // logits overflow it.
        let (under, over) = match hw {
            DType::F16 => (8.0, 3e4),
            DType::BF16 | DType::F32 => (300.0, 1e38),
            _ => (3000.0, 1e307),
        };
        let problems = [
            problem(10, 4, 2, 1, 1.0),
            problem(7, 5, 3, 3, 1.0),
            problem(12, 9, 4, 4, 1.0),
            problem(8, 4, 3, 5, under),
            problem(8, 4, 3, 6, over),
        ];
        // f16's smallest subnormal is 6e-8: its grid stops at 1e-7.
        let steps =
            if hw == DType::F16 { "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7" } else { gradlab::policy::SEED_STEPS };
        for scheme in Scheme::ALL {
            for &wrt in LinearTensor::ALL {
                for &input_grad in InputGrad::ALL {
                    for &reduction in Reduction::ALL {
                        let cfg = config(scheme, input_grad, reduction, steps);
                        for (i, p) in problems.iter().enumerate() {
                            let a = check_dtype(p, wrt, hw, &cfg, &Watch::unwatched()).unwrap();
                            let b = check_dtype(p, wrt, emu, &cfg, &Watch::unwatched()).unwrap();
                            let case = format!("{hw} vs {emu}, {scheme:?} {wrt} {input_grad} {reduction}, problem {i}");
                            let (ra, rb) = (csv_rows(&a), csv_rows(&b));
                            assert_eq!(ra.len(), cfg.steps.fixed().len(), "{case}");
                            assert_eq!(ra, rb, "{case}");
                            assert!(common::gradient_bits(&a) == common::gradient_bits(&b), "{case}: gradients differ");
                            compared += ra.len();
                            nonfinite += a.rows.iter().filter(|r| r.nonfinite > 0).count();
                            underflow += a.rows.iter().filter(|r| r.anal_underflow > 0).count();
                        }
                    }
                }
            }
        }
    }
    // 4 schemes x 4 wrt x 2 modes x 2 reductions x 5 problems, 8 steps for f16 and 9 for the rest.
    assert_eq!(compared, 4 * 4 * 2 * 2 * 5 * (8 + 9 + 9 + 9));
    // The range tests did reach the formats' limits.
    assert!(nonfinite > 0 && underflow > 0, "nonfinite rows {nonfinite}, underflow rows {underflow}");
    eprintln!("{compared} rows identical; {nonfinite} with non-finite values, {underflow} with underflowing gradients");
}
