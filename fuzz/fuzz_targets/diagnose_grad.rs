//! Fuzzes `gradlab diagnose`'s gradient file: any bytes given as the .npy of an input, weight or
//! bias gradient of a small problem either give a diagnosis (correct or wrong, with a finite
//! factor or a named reason) or a one-line error, never a panic, an abort or a hang.
#![no_main]
use gradlab::diagnose::{Given, Reference, Settings};
use gradlab::objective::Reduction;
use gradlab::model::LinearTensor;
use gradlab::problem::Problem;
use gradlab::scalar::DType;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The exact model of a 6 x 3 problem with 3 classes, built once.
fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let p = Problem::generate(6, 3, 3, 1).unwrap();
        Reference::new(&p, Settings::new(Reduction::Mean, DType::F32))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    let wrt = [LinearTensor::Input, LinearTensor::Weight, LinearTensor::Bias][usize::from(which) % 3];
    let grad = match gradlab::npy::decode_float(bytes) {
        Ok(g) => g,
        Err(e) => {
            assert!(!e.contains('\n'), "{e}");
            return;
        }
    };
    let given = [Given { wrt, grad, file: DType::F64, name: "fuzz.npy".into() }];
    match reference().diagnose(&given) {
        Ok(d) => assert!(d.elements > 0 && d.outside <= d.elements),
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
