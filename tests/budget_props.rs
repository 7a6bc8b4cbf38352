//! No size ends in a panic: the estimate and validation every command runs before allocating
//! (`budget::check_fits`, `budget::check_work`, `Problem::generate`'s size check) accept or refuse
//! any n, d, k, epochs, MPFR precision, step count and thread count with one sentence, without
//! overflowing.

use gradlab::budget::{check_fits, check_work, MemoryLimit};
use gradlab::check::CheckConfig;
use gradlab::cost::Shape;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::Error;
use proptest::prelude::*;

/// Sizes from 1 to usize::MAX, spread over every magnitude.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..100, (0u32..usize::BITS).prop_map(|b| 1usize << b), any::<usize>().prop_map(|v| v.max(1))]
}

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![
        Just(DType::F16),
        Just(DType::BF16),
        Just(DType::F32),
        Just(DType::F64),
        (Prec::MIN..=DType::MPFR_MAX_BITS).prop_map(|b| DType::parse(&format!("mpfr:{b}")).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn any_size_is_accepted_or_refused_in_one_sentence(
        (n, d, k) in (size(), size(), size().prop_map(|k| k.max(2))),
        epochs in prop_oneof![0usize..20, any::<usize>()],
        dtypes in proptest::collection::vec(dtype(), 1..4),
        scheme in 0usize..4,
        logits in any::<bool>(),
        steps in 1usize..40,
        threads in 1usize..64,
        truth in any::<bool>(),
        keep_grads in any::<bool>(),
        naive in any::<bool>(),
        limit in prop_oneof![1u64..(1 << 40), any::<u64>().prop_map(|v| v.max(1))],
    ) {
        let shape = Shape { n, d, k };
        let wrt = if logits { LinearTensor::Logits } else { LinearTensor::Input };
        let cfg = CheckConfig {
            train: TrainConfig { epochs, lr: Decimal::parse("lr", "1e-3").unwrap(), input_grad: InputGrad::Reset, reduction: Reduction::Mean },
            scheme: Scheme::ALL[scheme],
            steps: Steps::grid((0..steps).map(|_| Decimal::parse("step", "1e-3").unwrap()).collect()).unwrap(),
            truth: truth.then(|| gradlab::policy::truth_prec(&dtypes)),
            naive,
            keep_grads,
        };
        let limit = MemoryLimit { bytes: limit, source: "a test".into() };
        match check_fits(shape, wrt, &dtypes, &cfg, threads, &limit) {
            Ok(need) => prop_assert!(need <= limit.bytes),
            Err(e) => {
                prop_assert!(matches!(e, Error::Memory { .. }), "{e}");
                let msg = e.to_string();
                prop_assert!(msg.contains(&format!("n={n} d={d} k={k}")), "{msg}");
                prop_assert_eq!(msg.lines().count(), 1);
            }
        }
        for &dt in &dtypes {
            let stages = check_work(shape, wrt, dt, &cfg);
            prop_assert_eq!(stages.len(), if truth { 3 } else { 2 });
            prop_assert!(stages.iter().all(|s| s.units > 0), "{stages:?}");
        }
        // Generating the problem checks its own size first: sizes that cannot be addressed are
        // refused (the others would be allocated, so only those are tried here).
        if n.checked_mul(d).and_then(|v| v.checked_mul(8)).is_none_or(|b| b > isize::MAX as usize) {
            prop_assert!(gradlab::problem::Problem::generate(n, d, k, 1).is_err());
        }
    }

    /// More of anything never needs less memory.
    #[test]
    fn the_estimate_grows_with_the_size(n in 1usize..1_000_000, d in 1usize..100_000, k in 2usize..1000, dt in dtype()) {
        let cfg = CheckConfig {
            train: TrainConfig::seed(InputGrad::Reset),
            scheme: Scheme::Central,
            steps: Steps::parse("1e-3").unwrap(),
            truth: Some(gradlab::policy::truth_prec(&[dt])),
            naive: false,
            keep_grads: false,
        };
        let need = |n, d, k| gradlab::budget::check_memory(Shape { n, d, k }, LinearTensor::Input, &[dt], &cfg, 2);
        let base = need(n, d, k);
        prop_assert!(need(n + 1, d, k) >= base && need(n, d + 1, k) >= base && need(n, d, k + 1) >= base);
    }
}
