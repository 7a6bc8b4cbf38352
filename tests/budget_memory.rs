//! The memory estimate is honest: a real check's peak heap use (Rust's heap and GMP/MPFR's,
//! every thread) stays below `budget::check_memory`'s estimate, and the estimate is not wildly
//! above it either, for hardware and MPFR dtypes, both wrt, on one thread and on two.

use gradlab::budget::{check_memory, diagnose_memory};
use gradlab::check::{check_dtype, CheckConfig};
use gradlab::cost::Shape;
use gradlab::exact::Decimal;
use gradlab::method::{Scheme, Steps};
use gradlab::model::LinearTensor;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Prec};
use gradlab::train::{InputGrad, TrainConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

mod common;

use common::heap::{self, Heap, Observed, Observer};
use gradlab::watch::Watch;

/// Bytes allocated now, and the most allocated at once since the last reset (both heaps).
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

/// Tracks the bytes in use on both heaps and their peak.
struct Tracker;

impl Observer for Tracker {
    fn alloc(_heap: Heap, bytes: usize) {
        grow(bytes);
    }
    fn realloc(_heap: Heap, old: usize, new: usize) {
        grow(new);
        shrink(old);
    }
    fn free(_heap: Heap, bytes: usize) {
        shrink(bytes);
    }
}

#[global_allocator]
static GLOBAL: Observed<Tracker> = Observed::new();

/// Installs the tracking GMP memory functions before any GMP call of this test binary.
fn install_gmp_hooks() {
    heap::install_gmp::<Tracker>();
}

/// Serialises the tests (the counters are global: any allocation of another test, even its
/// setup, would count in a measurement).
static MEASURE: Mutex<()> = Mutex::new(());

/// Holds the measuring lock for a whole test.
fn measuring() -> std::sync::MutexGuard<'static, ()> {
    MEASURE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The peak bytes allocated above the starting level while `f` runs (under [`measuring`]).
fn peak_during(f: impl FnOnce()) -> usize {
    let start = CURRENT.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - start
}

fn config(truth: Option<Prec>) -> CheckConfig {
    CheckConfig {
        train: TrainConfig {
            epochs: 3,
            lr: Decimal::parse("lr", "1e-3").unwrap(),
            input_grad: InputGrad::Reset,
            reduction: Reduction::Mean,
        },
        scheme: Scheme::Central5,
        steps: Steps::parse("1e-1,1e-2,1e-3").unwrap(),
        truth,
        naive: false,
        keep_grads: true,
    }
}

#[test]
fn a_checks_peak_memory_is_within_its_estimate() {
    install_gmp_hooks();
    let _serial = measuring();
    let shape = Shape { n: 300, d: 48, k: 6 };
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for dtype in ["f16", "f64", "mpfr:113"] {
            let dtype = DType::parse(dtype).unwrap();
            for wrt in [LinearTensor::Input, LinearTensor::Logits] {
                let cfg = config(Some(Prec::new(256).unwrap()));
                let estimate = check_memory(shape, wrt, &[dtype], &cfg, threads) as usize;
                let peak = peak_during(|| {
                    pool.install(|| {
                        let p = Problem::generate(shape.n, shape.d, shape.k, 1).unwrap();
                        std::hint::black_box(check_dtype(&p, wrt, dtype, &cfg, &Watch::unwatched()).unwrap());
                    })
                });
                let case = format!("{dtype} {wrt} on {threads} threads: peak {peak} B, estimate {estimate} B");
                eprintln!("{case} ratio {:.2}", estimate as f64 / peak as f64);
                assert!(peak <= estimate, "{case}");
                assert!(estimate <= 3 * peak, "{case}");
            }
        }
    }
}

#[test]
fn a_diagnosis_peak_memory_is_within_its_estimate() {
    install_gmp_hooks();
    let _serial = measuring();
    let shape = Shape { n: 120, d: 24, k: 5 };
    let p = Problem::generate(shape.n, shape.d, shape.k, 1).unwrap();
    // A wrong gradient that no cause explains (the truth with every other element negated):
    // every cause is tested.
    let settings = gradlab::diagnose::Settings::new(Reduction::Mean, DType::F64);
    for wrts in [vec![LinearTensor::Input], vec![LinearTensor::Weight], vec![LinearTensor::Weight, LinearTensor::Bias]]
    {
        let reference = gradlab::diagnose::Reference::new(&p, settings, &Watch::unwatched()).unwrap();
        let given: Vec<gradlab::diagnose::Given> = wrts
            .iter()
            .map(|&wrt| {
                let mut g = reference.truth(wrt);
                g.iter_mut().enumerate().filter(|(i, _)| i % 2 == 1).for_each(|(_, v)| *v = -*v);
                let grad = if wrt == LinearTensor::Bias { g.row(0).to_owned().into_dyn() } else { g.into_dyn() };
                gradlab::diagnose::Given { wrt, grad, file: DType::F64, name: format!("{wrt}") }
            })
            .collect();
        drop(reference);
        let estimate = diagnose_memory(shape, &wrts) as usize;
        let peak = peak_during(|| {
            let d = gradlab::diagnose::diagnose(&p, &given, &settings, &Watch::unwatched()).unwrap();
            assert_eq!(d.verdict, gradlab::diagnose::Verdict::Wrong);
            std::hint::black_box(d);
        });
        let case = format!("{wrts:?}: peak {peak} B, estimate {estimate} B");
        eprintln!("{case} ratio {:.2}", estimate as f64 / peak as f64);
        assert!(peak <= estimate, "{case}");
        assert!(estimate <= 4 * peak, "{case}");
    }
}
