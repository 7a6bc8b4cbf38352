//! The committed PyTorch data (experiments/data/pytorch_*, made by benches/peers/seed_table.py)
//! holds together, without Python: the swaps of gradlab's ingredients for PyTorch's add up to
//! PyTorch, the tables agree with each other, the committed numbers are those of the portable
//! code path, and the numpy emulation's `gradlab` rows are gradlab's own table.

use gradlab::check::{check_dtype, CheckConfig};
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use gradlab_lab::peers::{additivity, parting, paths, pytorch, torch_meta, PartingRow, INGREDIENTS};

fn at<'a>(rows: &'a [PartingRow], variant: &str, eps: &str) -> &'a PartingRow {
    rows.iter()
        .find(|r| r.variant == variant && r.eps.text() == eps)
        .unwrap_or_else(|| panic!("no row {variant} at {eps}"))
}

fn steps(rows: &[PartingRow]) -> Vec<String> {
    let mut s: Vec<String> = Vec::new();
    for r in rows {
        if !s.contains(&r.eps.text().to_string()) {
            s.push(r.eps.text().to_string());
        }
    }
    s
}

#[test]
fn swapping_all_four_ingredients_is_pytorch_at_every_step() {
    let rows = parting();
    let all = INGREDIENTS.join("+");
    let st = steps(&rows);
    assert_eq!(st.len(), 9);
    for e in &st {
        let every = at(&rows, &all, e);
        let torch = at(&rows, "torch", e);
        assert_eq!(every.numeric_sha, torch.numeric_sha, "{all} is not PyTorch at {e}");
        assert_eq!(every.differs_from_torch, 0, "at {e}");
        assert_eq!(every.relerr_mean.to_bits(), torch.relerr_mean.to_bits(), "at {e}");
        assert_eq!(every.numeric_zero, torch.numeric_zero, "at {e}");
    }
    assert!(additivity(&rows).all_swapped_differs.is_empty());
}

#[test]
fn every_combination_is_there_and_its_counts_match_its_fingerprint() {
    let rows = parting();
    for e in steps(&rows) {
        let torch = at(&rows, "torch", &e);
        let gradlab = at(&rows, "gradlab", &e);
        let mut seen = std::collections::BTreeSet::new();
        for r in rows.iter().filter(|r| r.eps.text() == e) {
            if let Some(s) = r.swapped() {
                assert!(seen.insert(s), "{} twice at {e}", r.variant);
            }
            // Equal fingerprints exactly when no element differs.
            assert_eq!(r.numeric_sha == torch.numeric_sha, r.differs_from_torch == 0, "{} at {e}", r.variant);
            assert_eq!(r.numeric_sha == gradlab.numeric_sha, r.differs_from_gradlab == 0, "{} at {e}", r.variant);
            assert!(r.differs_from_torch <= 40 && r.differs_from_gradlab <= 40);
        }
        assert_eq!(seen.len(), 16, "at {e}");
    }
}

#[test]
fn the_tables_agree_with_each_other() {
    let seed = pytorch();
    let rows = parting();
    // Part 2's `torch` is Part 1's float32 accumulated table.
    for r in rows.iter().filter(|r| r.variant == "torch") {
        let t = seed
            .iter()
            .find(|t| t.dtype == "f32" && t.variant == "accumulate" && t.eps.value() == r.eps.value())
            .expect("Part 1 has every step");
        assert_eq!(t.relerr_mean.to_bits(), r.relerr_mean.to_bits(), "at {}", r.eps);
        assert_eq!(t.numeric_zero, r.numeric_zero, "at {}", r.eps);
    }
    // The committed table is the first code path's, and that path is the portable one.
    let p = paths();
    let first = p[0].path();
    let committed: Vec<_> = p.iter().filter(|r| r.path() == first).collect();
    assert_eq!(committed.len(), seed.len());
    for (c, s) in committed.iter().zip(&seed) {
        assert_eq!((&c.dtype, &c.variant, c.eps.text()), (&s.dtype, &s.variant, s.eps.text()));
        assert_eq!(c.relerr_mean.to_bits(), s.relerr_mean.to_bits());
        assert_eq!(c.numeric_zero, s.numeric_zero);
    }
    assert_eq!(first, ["COMPATIBLE", "default", "baseline", "1", "off"]);
    let meta = torch_meta();
    assert_eq!(meta.settings.env.get("MKL_CBWR").map(String::as_str), Some("COMPATIBLE"));
    assert_eq!(meta.settings.env.get("ATEN_CPU_CAPABILITY").map(String::as_str), Some("default"));
    assert!(meta.settings.env.get("GLIBC_TUNABLES").is_some_and(|v| v.contains("-FMA")));
    // What MKL and torch reported on that path: the settings took.
    assert_eq!(meta.code_path.mkl_cnr, ["COMPATIBLE"]);
    assert_eq!(meta.code_path.aten_capability, "DEFAULT");
    assert_eq!(meta.code_path.torch_threads, 1);
    assert!(!meta.code_path.mkldnn_enabled);
}

#[test]
fn the_emulations_gradlab_rows_are_gradlabs_own_table() {
    let cfg = CheckConfig {
        train: TrainConfig::seed(InputGrad::Accumulate),
        ..CheckConfig::seed(Scheme::Central, Steps::parse("1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8").unwrap())
    };
    let mine = check_dtype(
        &Problem::generate(10, 4, 2, 1).unwrap(),
        LinearTensor::Input,
        DType::F32,
        &cfg,
        &Watch::unwatched(),
    )
    .unwrap()
    .rows;
    let rows = parting();
    assert_eq!(mine.len(), 9);
    for r in &mine {
        let e = at(&rows, "gradlab", &r.eps.to_string());
        // The emulation's relerr is averaged in float32, gradlab's in f64.
        assert!((e.relerr_mean - r.relerr_mean).abs() <= 1e-6 * r.relerr_mean.abs().max(1.0), "at {}", r.eps);
        assert_eq!(e.numeric_zero, r.loss_flat + r.dead_zone, "at {}", r.eps);
    }
}
