//! Fuzzes the dtype grammar and the other user-facing parsers (step lists, schemes, wrt,
//! reductions): any string either parses or gives a one-line error, never a panic; a parsed
//! dtype's name parses back to the same dtype; and every dtype that parses can be given a truth
//! and validated for a check (the memory estimate saturates, never overflows).
#![no_main]
use gradlab::check::CheckConfig;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::scalar::DType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match DType::parse_list(s) {
        Ok(list) => {
            for dt in &list {
                assert_eq!(DType::parse(&dt.name()).ok(), Some(*dt), "{dt:?} does not round-trip");
                let _ = (dt.label(), dt.bits(), dt.unit_roundoff(), dt.max_finite(), dt.normal_exp_min());
            }
            let truth = gradlab::policy::truth_prec(&list);
            assert!(list.iter().all(|d| d.bits() < truth.bits()), "{list:?}: truth {} bits", truth.bits());
            let steps = Steps::parse(gradlab::policy::SEED_STEPS).unwrap();
            let cfg = CheckConfig::seed(Scheme::Central, steps);
            for &dt in &list {
                if let Err(e) = gradlab::check::Checked::new(cfg.clone(), dt) {
                    assert!(!e.to_string().contains('\n'), "{e}");
                }
            }
            let shape = gradlab::budget::Shape { n: usize::MAX, d: usize::MAX, k: usize::MAX };
            let _ = gradlab::budget::check_memory(shape, LinearTensor::Input, &list, &cfg, usize::MAX);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
    if let Err(e) = DType::parse(s) {
        assert!(!e.to_string().contains('\n'), "{e}");
    }
    match Steps::parse(s) {
        // A parsed step list writes the text that parses back to it.
        Ok(steps) => assert_eq!(Steps::parse(&steps.to_string()).ok(), Some(steps.clone()), "{steps}"),
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
    let _ = (Scheme::parse(s), Reduction::parse(s), LinearTensor::parse(s), gradlab::train::InputGrad::parse(s));
});
