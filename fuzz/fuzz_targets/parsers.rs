//! Fuzzes the user-facing parsers (dtypes, step lists, decimals, reductions, schemes): any
//! string either parses or gives an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = gradlab::scalar::DType::parse(s);
        let _ = gradlab::scalar::DType::parse_list(s);
        if let Ok(list) = gradlab::exact::parse_list("step", s) {
            for d in list {
                let _ = d.label();
            }
        }
        let _ = gradlab::stencil::Scheme::parse(s);
        let _ = gradlab::loss::Reduction::parse(s);
        let _ = gradlab::train::InputGrad::parse(s);
    }
});
