//! Fuzzes the .npy decoder: any bytes either decode or give a one-line error, never a panic, an
//! abort or a hang, and no file decodes both as floats and as integers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let float = gradlab::npy::decode_float(data);
    let int = gradlab::npy::decode_int(data);
    assert!(float.is_err() || int.is_err());
    for e in [float.err(), int.err()].into_iter().flatten() {
        assert!(!e.contains('\n'), "{e}");
    }
});
