//! Emulated formats (`ieee:E:M`, `tf32`, `e5m2`, `e4m3`): conversion into the FP8 formats
//! against ml_dtypes' reference table, names that parse back, and bad names refused.

use gradlab::scalar::{DType, Emulated, Format, Scalar};
use gradlab::watch::Watch;
use rug::{Float, Rational};

/// tests/fixtures/formats/ml_dtypes_fp8.csv (made by make_ml_dtypes_table.py there): every
/// finite value of E4M3FN and E5M2, the points between them (exact midpoints included), the
/// overflow and underflow cases, infinities and NaN, converted by ml_dtypes. gradlab's three
/// ways into a format (from an f64, from an MPFR float, from an exact rational) must give the
/// same value, the sign of zero included (but for the rational route, which has no -0).
#[test]
fn fp8_conversion_matches_ml_dtypes() {
    let table = include_str!("fixtures/formats/ml_dtypes_fp8.csv");
    let mut rows = 0;
    let mut kinds = std::collections::BTreeMap::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [name, kind, input, output, _bits] = f[..] else { panic!("bad row {line}") };
        let dt = DType::parse(name).unwrap();
        let DType::Ieee(format) = dt else { panic!("{name} is not emulated") };
        let spec = format.spec();
        let x: f64 = input.parse().unwrap();
        let want: f64 = output.parse().unwrap();
        let mut got = vec![Emulated::new(x, spec).value(), Emulated::from_float(&Float::with_val(53, x), spec).value()];
        // A rational has no sign of zero: -0.0 enters as 0.
        if x.is_finite() && x != 0.0 {
            got.push(Emulated::from_rational(&Rational::from_f64(x).unwrap(), spec).value());
        }
        for g in got {
            assert!(
                g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                "{name} {kind}: {input} -> {g:e}, ml_dtypes gives {output}"
            );
        }
        rows += 1;
        *kinds.entry(kind).or_insert(0) += 1;
    }
    assert!(rows > 3000, "{rows} rows");
    // Every bit pattern but NaN: e4m3's 254 values, e5m2's 248 finite ones and its two infinities.
    assert_eq!(kinds["value"], 254 + 250);
    assert!(kinds["midpoint"] >= 2 * (126 + 123), "{kinds:?}");
}

#[test]
fn names_parse_back_to_the_same_dtype() {
    let names = [
        "tf32",
        "e5m2",
        "e4m3",
        "ieee:5:10",
        "ieee:8:7",
        "ieee:8:23",
        "ieee:11:52",
        "ieee:2:1",
        "ieee:4:3",
        "ieee:6:40",
    ];
    for name in names {
        let dt = DType::parse(name).unwrap();
        assert_eq!(dt.name(), name);
        assert_eq!(DType::parse(&dt.to_string()).unwrap(), dt);
        assert!(!dt.label().contains(':'));
    }
    // The aliases' long forms name the same dtype; e4m3 (no infinity) is not ieee:4:3.
    assert_eq!(DType::parse("ieee:8:10").unwrap(), DType::parse("tf32").unwrap());
    assert_eq!(DType::parse("ieee:5:2").unwrap(), DType::parse("e5m2").unwrap());
    assert_ne!(DType::parse("ieee:4:3").unwrap(), DType::parse("e4m3").unwrap());
    assert_eq!(DType::parse("e4m3").unwrap().bits(), 4);
    assert_eq!(DType::parse("tf32").unwrap().bits(), 11);
    assert!(!DType::parse("e4m3").unwrap().has_infinity());
    let labels: std::collections::BTreeSet<String> = names.iter().map(|n| DType::parse(n).unwrap().label()).collect();
    assert_eq!(labels.len(), names.len(), "labels are distinct");
    assert_eq!(Format::ieee(6, 9).unwrap().label(), "ieee6m9");
}

#[test]
fn bad_format_names_get_one_sentence() {
    for (bad, says) in [
        ("ieee:0:3", "0 exponent bits is out of range"),
        ("ieee:12:60", "12 exponent bits is out of range"),
        ("ieee:5:0", "0 mantissa bits is out of range"),
        ("ieee:5:53", "53 mantissa bits is out of range"),
        ("ieee:5", "two whole numbers"),
        ("ieee:5:x", "two whole numbers"),
        ("ieee:99999999999:3", "99999999999 exponent bits is out of range"),
        ("ieee::", "two whole numbers"),
        ("e4m4", "the named FP8 formats are e4m3 and e5m2"),
        ("e3m4", "the named FP8 formats are e4m3 and e5m2"),
    ] {
        let msg = DType::parse(bad).unwrap_err().to_string();
        assert!(msg.contains(&format!("{bad:?}")) && msg.contains(says), "{bad}: {msg}");
        assert!(msg.contains("ieee:<E>:<M> (E from 2 to 11"), "{msg}");
        assert!(!msg.contains('\n'));
    }
}

/// e4m3 has no infinity: inputs beyond 448 (x scaled by 1e5) round to NaN, which the rows report
/// as `status = nonfinite` with NaN summaries; e5m2 rounds them to infinity, nonfinite as well;
/// the same problem unscaled is finite in both.
#[test]
fn fp8_overflow_is_reported_nonfinite() {
    use gradlab::check::{check_dtype, CheckConfig, Status};
    use gradlab::method::Scheme;
    use gradlab::model::LinearTensor;
    use gradlab::problem::Problem;
    let cfg = CheckConfig::seed(Scheme::Central, gradlab::method::Steps::parse("1e0,1e-1").unwrap());
    for name in ["e4m3", "e5m2"] {
        let dt = DType::parse(name).unwrap();
        let plain = Problem::generate(10, 4, 2, 1).unwrap();
        let rows = check_dtype(&plain, LinearTensor::Input, dt, &cfg, &Watch::unwatched()).unwrap().rows;
        assert!(rows.iter().all(|r| r.status == Status::Ok && r.relerr_mean.is_finite()), "{name}");
        let mut big = plain.clone();
        big.x.mapv_inplace(|v| v * 1e5);
        let rows = check_dtype(&big, LinearTensor::Input, dt, &cfg, &Watch::unwatched()).unwrap().rows;
        assert!(
            rows.iter().all(|r| r.status == Status::Nonfinite && r.nonfinite > 0 && r.relerr_mean.is_nan()),
            "{name}"
        );
    }
}
