//! Fuzzes the .npy decoder: any bytes either decode or give an error, never a panic, and a
//! successful decode is self-consistent.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for want_float in [true, false] {
        if let Ok((floats, ints, shape)) = gradlab::npy::decode(data, want_float) {
            let count: usize = shape.iter().product();
            assert_eq!(if want_float { floats.len() } else { ints.len() }, count);
        }
    }
});
