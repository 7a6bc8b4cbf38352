//! The fast numeric-gradient path allocates nothing per perturbed element, for every dtype and
//! every wrt (input, weight, bias, logits).
//!
//! Two allocators are watched:
//! - Rust's heap, through a counting `#[global_allocator]` wrapping [`System`];
//! - GMP/MPFR's heap. rug's `Float` limbs and MPFR's internal temporaries are allocated through
//!   GMP's memory functions, which call libc's malloc directly and never reach Rust's global
//!   allocator. The test therefore also wraps GMP's current memory functions (obtained with
//!   `mp_get_memory_functions`) in counting ones, so an MPFR allocation cannot go unnoticed.
//!
//! MPFR's own `exp` and `log` allocate temporaries inside every call; gradlab's
//! [`gradlab::gmp_pool`] recycles them. (At 53 bits and below gradlab's exact fast `exp` and `ln`
//! call them only on a rare fallback; mpfr:256 exercises them on every call.) The counting GMP hooks are installed first and the pool on
//! top of them, so the GMP count is of real heap allocations: the pool's misses.
//!
//! Counting is switched on per thread (a thread-local flag), and measured sections are serialised
//! by a lock, so tests running in parallel threads do not disturb each other's counts.

use gradlab::check::prepare;
use gradlab::exact::Decimal;
use gradlab::method::Scheme;
use gradlab::model::LinearTensor;
use gradlab::numeric::Regime;
use gradlab::numeric::{naive, numeric_grad, Evaluator, Setup, StepPlan};
use gradlab::objective::cross_entropy::{row_loss, RowScratch};
use gradlab::objective::linear::row_logits;
use gradlab::objective::Reduction;
use gradlab::problem::Problem;
use gradlab::scalar::{DType, Scalar};
use gradlab::train::{InputGrad, TrainConfig};
use gradlab::watch::Watch;
use ndarray::ArrayView1;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

mod common;

use common::heap::{self, Heap, Observed, Observer};

// ---------------------------------------------------------------------------------------------
// Both heaps, counted per thread (tests/common/heap.rs).

/// Rust allocations and reallocations made by threads with counting switched on.
static RUST_ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// GMP/MPFR allocations and reallocations made by threads with counting switched on.
static GMP_ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    // try_with: the allocator may run while thread-locals are being destroyed.
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

/// Counts allocations and reallocations (not frees) of threads with counting switched on.
struct Counter;

impl Observer for Counter {
    fn alloc(heap: Heap, _bytes: usize) {
        if counting() {
            match heap {
                Heap::Rust => RUST_ALLOCS.fetch_add(1, Ordering::Relaxed),
                Heap::Gmp => GMP_ALLOCS.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
    fn realloc(heap: Heap, _old: usize, new: usize) {
        Self::alloc(heap, new);
    }
    fn free(_heap: Heap, _bytes: usize) {}
}

#[global_allocator]
static GLOBAL: Observed<Counter> = Observed::new();

static INSTALL: Once = Once::new();

/// Installs the counting GMP memory functions, then gradlab's pool on top of them: only the
/// pool's misses reach (and are counted by) them.
fn install_gmp_hooks() {
    INSTALL.call_once(|| {
        heap::install_gmp::<Counter>();
        gradlab::gmp_pool::install();
    });
}

/// Serialises measured sections (the counters are global).
static MEASURE: Mutex<()> = Mutex::new(());

/// Allocation counts (Rust heap, GMP heap) made by this thread while running `f`.
fn count_allocs(f: impl FnOnce()) -> (usize, usize) {
    let _guard = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let (r0, g0) = (RUST_ALLOCS.load(Ordering::SeqCst), GMP_ALLOCS.load(Ordering::SeqCst));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    (RUST_ALLOCS.load(Ordering::SeqCst) - r0, GMP_ALLOCS.load(Ordering::SeqCst) - g0)
}

// ---------------------------------------------------------------------------------------------
// The checks.

#[test]
fn the_counters_see_rust_and_mpfr_allocations() {
    install_gmp_hooks();
    let (rust, gmp) = count_allocs(|| {
        let v: Vec<u64> = Vec::with_capacity(std::hint::black_box(8));
        std::hint::black_box(&v);
    });
    assert!(rust >= 1 && gmp == 0, "a Vec: rust {rust}, gmp {gmp}");
    let (rust, gmp) = count_allocs(|| {
        // A precision no other test uses, so the pool has no block of this size yet.
        let f = rug::Float::new(std::hint::black_box(100_003));
        std::hint::black_box(&f);
    });
    // Dropping it may make the pool reserve its free list for a new size class once (one Rust
    // allocation per class and thread, warm-up only); the float itself is a GMP heap allocation.
    assert!(gmp >= 1 && rust <= 1, "an MPFR float: rust {rust}, gmp {gmp}");
    // Same-precision arithmetic through the Scalar trait reuses the destination's limbs.
    for bits in [53, 256] {
        let ctx = gradlab::scalar::Prec::new(bits).unwrap();
        let a = rug::Float::from_f64(1.5, ctx);
        let b = rug::Float::from_f64(-0.375, ctx);
        let mut c = rug::Float::zero(ctx);
        let mut order = None;
        let (rust, gmp) = count_allocs(|| {
            c.set(&a);
            c.set_add(&a, &b);
            c.set_sub(&a, &b);
            c.set_mul(&a, &b);
            c.set_div(&a, &b);
            c.add_assign(&a);
            c.sub_assign(&b);
            c.mul_assign(&a);
            c.div_assign(&b);
            c.neg_mut();
            order = c.partial_cmp_val(&a);
        });
        assert!(order.is_some());
        assert_eq!((rust, gmp), (0, 0), "mpfr:{bits} set/+/-/*/÷/neg/compare");
        // exp and ln are another matter: MPFR allocates their temporaries itself (measured after
        // a warm-up call, which fills MPFR's per-thread constant caches).
        // Warm-up: MPFR fills its own small cache of integers over the first few calls.
        for _ in 0..20 {
            c.set(&a);
            c.exp_mut();
            c.ln_mut();
        }
        let (_, gmp) = count_allocs(|| {
            c.set(&a);
            c.exp_mut();
            c.ln_mut();
        });
        // MPFR's exp and log allocate temporaries; after one warm-up call the pool serves them all.
        assert_eq!(gmp, 0, "mpfr:{bits}: exp + ln of 1.5 reached the heap {gmp} times after warm-up");
    }
}

/// The problem size (n, d, k) of every case.
const SIZE: (usize, usize, usize) = (16, 5, 3);
/// How many sweeps over all elements are measured after the warm-up.
const SWEEPS: usize = 3;

fn train_config() -> TrainConfig {
    TrainConfig::seed(InputGrad::Reset)
}

/// What a case checks about the numbers besides the allocation counts.
#[derive(Clone, Copy, Debug)]
struct Expect {
    /// The step h.
    h: &'static str,
    /// Largest |numeric - analytic| allowed, relative to the largest analytic component;
    /// `None` for f16 and bf16, whose loss resolution is too coarse for a meaningful bound.
    tol: Option<f64>,
    /// Smallest fraction of elements with a nonzero numeric gradient.
    min_nonzero: f64,
}

/// GMP/MPFR allocations made by MPFR's own exp and log for the same per-sample losses that
/// `LoadedRow::element` evaluates over `SWEEPS` sweeps: every perturbed row is rebuilt exactly as the
/// worker builds it (the unperturbed value plus the rounded `h * o_k`), and only
/// `row_logits` + `row_loss` are run on it (for the weight and bias, on every sample, with the
/// perturbed weight or bias). Those do set/mul/add/sub/compare (which allocate nothing,
/// see `the_counters_see_rust_and_mpfr_allocations`) and `exp`/`ln`, whose internal temporaries
/// MPFR allocates itself on every call.
fn replay_allocs<T: Scalar>(setup: &Setup<T>, h: &Decimal, rows: usize, cols: usize) -> (usize, usize) {
    let tr = setup.trained;
    let ctx = tr.ctx;
    let hv = T::from_rational(h.value(), ctx);
    let steps: Vec<T> =
        setup.stencil.offsets.iter().filter(|&&o| o != 0).map(|&o| hv.mul(&T::from_int(o, ctx))).collect();
    let src = setup.wrt.tensor(tr);
    let mut perturbed: Vec<(usize, Vec<T>)> = Vec::new();
    for j in 0..rows {
        for i in 0..cols {
            for s in &steps {
                let mut row = src.row(j).to_vec();
                row[i] = src[[j, i]].add(s);
                perturbed.push((j, row));
            }
        }
    }
    let mut z = vec![T::zero(ctx); tr.logits.ncols()];
    let mut out = T::zero(ctx);
    let mut scratch = vec![T::zero(ctx); tr.x.ncols()];
    let mut ws = RowScratch::new(ctx);
    // For the weight: the whole perturbed weight of each (row, element, point).
    let weights: Vec<ndarray::Array2<T>> = match setup.wrt {
        LinearTensor::Weight => perturbed
            .iter()
            .map(|(c, row)| {
                let mut w = tr.weight.clone();
                w.row_mut(*c).iter_mut().zip(row).for_each(|(a, b)| a.set(b));
                w
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut run = || {
        for (p, (j, row)) in perturbed.iter().enumerate() {
            match setup.wrt {
                LinearTensor::Input => {
                    row_logits(ArrayView1::from(&row[..]), tr.weight.view(), &tr.bias, &mut z, &mut scratch);
                    row_loss(&z, tr.t[*j], &mut ws, &mut out);
                }
                LinearTensor::Logits => row_loss(row, tr.t[*j], &mut ws, &mut out),
                LinearTensor::Weight | LinearTensor::Bias => {
                    let (w, b) = match setup.wrt {
                        LinearTensor::Weight => (weights[p].view(), &tr.bias[..]),
                        _ => (tr.weight.view(), &row[..]),
                    };
                    for (s, xs) in tr.x.rows().into_iter().enumerate() {
                        row_logits(xs, w, b, &mut z, &mut scratch);
                        row_loss(&z, tr.t[s], &mut ws, &mut out);
                    }
                }
            }
        }
    };
    run(); // warm-up, like the worker's
    count_allocs(|| {
        for _ in 0..SWEEPS {
            run();
        }
    })
}

/// Measures one (dtype, scheme, wrt) case and checks that the numbers are real gradients.
/// Returns the GMP/MPFR allocations per element call (all inside MPFR's exp and log).
fn case<T: Scalar>(ctx: T::Ctx, scheme: Scheme, wrt: LinearTensor, expect: Expect) -> f64 {
    let label = format!("{} {} {}", T::dtype(ctx), scheme, wrt);
    let p = Problem::generate(SIZE.0, SIZE.1, SIZE.2, 7).unwrap();
    let (tr, _) = prepare::<T>(&p, ctx, &train_config(), &Watch::unwatched()).unwrap();
    let setup = Setup { trained: &tr, reduction: Reduction::Mean, stencil: scheme.stencil(), wrt };
    let h = Decimal::parse("step", expect.h).unwrap();
    let (rows, cols) = wrt.tensor(&tr).dim();
    let ev = Evaluator::new(&setup, std::slice::from_ref(&h));
    let mut worker = ev.worker();
    let mut grads = vec![T::zero(ctx); rows * cols];
    let mut effs = vec![T::zero(ctx); rows * cols];
    let mut flats = vec![Regime::Finite; rows * cols];
    // Warm-up: MPFR fills its per-thread constant caches on first use.
    worker.load(0).element(0, 0, &mut grads[0], &mut effs[0], &mut flats[0]);

    let (rust, gmp) = count_allocs(|| {
        for _ in 0..SWEEPS {
            for j in 0..rows {
                let mut row = worker.load(j);
                for i in 0..cols {
                    let idx = j * cols + i;
                    row.element(i, 0, &mut grads[idx], &mut effs[idx], &mut flats[idx]);
                }
            }
        }
    });
    let calls = SWEEPS * rows * cols;
    assert_eq!(rust, 0, "{label}: {rust} Rust heap allocations over {calls} element calls (expected none)");
    // The batched row path that numeric_grad runs allocates nothing either.
    let (rust_rows, gmp_rows) = count_allocs(|| {
        for _ in 0..SWEEPS {
            for j in 0..rows {
                let span = j * cols..(j + 1) * cols;
                worker.load(j).fill(0, &mut grads[span.clone()], &mut effs[span.clone()], &mut flats[span]);
            }
        }
    });
    assert_eq!((rust_rows, gmp_rows), (0, 0), "{label}: (Rust, GMP) heap allocations over {calls} elements by fill");
    // `--eps auto`'s path: a plan with a step per element (here h (1 + idx / 64), each rounded
    // once into the dtype), element (j, i) at step j * cols + i, allocates nothing either.
    let own: Vec<T> = (0..rows * cols).map(|idx| T::from_f64(h.to_f64() * (1.0 + idx as f64 / 64.0), ctx)).collect();
    let ev_own = Evaluator::with_plan(&setup, StepPlan::from_values(setup.stencil, own, ctx));
    let mut w_own = ev_own.worker();
    let (mut g_own, mut e_own, mut f_own) = (grads.clone(), effs.clone(), flats.clone());
    w_own.load(0).element(0, 0, &mut g_own[0], &mut e_own[0], &mut f_own[0]);
    let (rust_own, gmp_own) = count_allocs(|| {
        for _ in 0..SWEEPS {
            for j in 0..rows {
                let mut row = w_own.load(j);
                for i in 0..cols {
                    let idx = j * cols + i;
                    row.element(i, idx, &mut g_own[idx], &mut e_own[idx], &mut f_own[idx]);
                }
            }
        }
    });
    assert_eq!((rust_own, gmp_own), (0, 0), "{label}: (Rust, GMP) heap allocations with a step per element");
    let (replay_rust, mpfr_internal) = replay_allocs(&setup, &h, rows, cols);
    assert_eq!(replay_rust, 0, "{label}: the replay itself allocated on the Rust heap");
    assert_eq!(
        (gmp, mpfr_internal),
        (0, 0),
        "{label}: {gmp} GMP/MPFR heap allocations over {calls} element calls (replay of exp/log: {mpfr_internal})"
    );

    // The measured calls computed the real thing: identical to numeric_grad's fast path ...
    let reference = numeric_grad(&setup, &h, false);
    for (idx, (g, r)) in grads.iter().zip(reference.grad.iter()).enumerate() {
        assert!(
            g.partial_cmp_val(r) == Some(std::cmp::Ordering::Equal),
            "{label}: element {idx}: worker {g:?} != numeric_grad {r:?}"
        );
    }
    // ... with every perturbation taking effect, finite values, and (from f32 up) agreement with
    // the analytic gradient to within the truncation and rounding error expected at this step.
    let anal = wrt.analytic(&tr);
    let scale = anal.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
    assert!(scale > 0.0, "{label}: the analytic gradient is zero");
    let mut nonzero = 0;
    for (idx, ((g, e), a)) in grads.iter().zip(&effs).zip(anal.iter()).enumerate() {
        let (g, e, a) = (g.to_f64(), e.to_f64(), a.to_f64());
        assert!(g.is_finite(), "{label}: element {idx}: gradient {g}");
        assert!(e.is_finite() && e > 0.0, "{label}: element {idx}: effective step {e}");
        if g != 0.0 {
            nonzero += 1;
        }
        if let Some(tol) = expect.tol {
            assert!(
                (g - a).abs() <= tol * scale,
                "{label}: element {idx}: numeric {g} vs analytic {a} (tol {tol} x {scale})"
            );
        }
    }
    let frac = nonzero as f64 / grads.len() as f64;
    assert!(frac >= expect.min_nonzero, "{label}: only {nonzero} of {} gradients are nonzero", grads.len());
    gmp as f64 / calls as f64
}

/// Every scheme and wrt for one dtype.
fn dtype_cases(dtype: &str, expect: Expect) {
    install_gmp_hooks();
    let dt = DType::parse(dtype).unwrap();
    for scheme in [Scheme::Central, Scheme::Central5] {
        for &wrt in LinearTensor::ALL {
            let per_call = gradlab::with_dtype!(dt, |T, ctx| case::<T>(ctx, scheme, wrt, expect));
            // Shown with --nocapture: what MPFR's exp/log allocate internally per element.
            eprintln!("{dtype} {scheme} {wrt}: 0 Rust allocations, {per_call:.2} GMP heap allocations per element");
        }
    }
}

/// f16 and bf16 resolve the mean loss of 16 samples only coarsely (bf16's ulp at 1 is 2^-7):
/// large steps, no accuracy bound.
const F16: Expect = Expect { h: "1e-1", tol: None, min_nonzero: 0.5 };
const BF16: Expect = Expect { h: "1", tol: None, min_nonzero: 0.5 };

#[test]
fn f16_element_allocates_nothing() {
    dtype_cases("f16", F16);
}

#[test]
fn bf16_element_allocates_nothing() {
    dtype_cases("bf16", BF16);
}

#[test]
fn f32_element_allocates_nothing() {
    dtype_cases("f32", Expect { h: "1e-3", tol: Some(1e-2), min_nonzero: 0.95 });
}

#[test]
fn f64_element_allocates_nothing() {
    dtype_cases("f64", Expect { h: "1e-3", tol: Some(1e-4), min_nonzero: 1.0 });
}

/// Emulated formats: tf32 (p = 11: no midpoint checks in the arithmetic) and e4m3 (NaN on
/// overflow, many subnormal results). Not covered: formats with p > 25, whose exp/ln fall back
/// to MPFR on about 2^(p - 53) of the calls, and MPFR may allocate temporaries there.
#[test]
fn emulated_element_allocates_nothing() {
    dtype_cases("tf32", F16);
    dtype_cases("e4m3", Expect { h: "1e1", tol: None, min_nonzero: 0.2 });
}

/// Mixed dtypes (C arithmetic, rounding into S at the storage points): bf16+f32, e4m3+f32 and
/// f32+f64.
#[test]
fn mixed_element_allocates_nothing() {
    dtype_cases("bf16+f32", BF16);
    dtype_cases("e4m3+f32", Expect { h: "1e1", tol: None, min_nonzero: 0.2 });
    dtype_cases("f32+f64", Expect { h: "1e-3", tol: Some(1e-2), min_nonzero: 0.95 });
}

/// MPFR: gradlab's own arithmetic allocates nothing; MPFR's exp and log, when called (at 53 bits
/// only on the fast paths' rare fallback), allocate temporaries internally (see `replay_allocs`),
/// which the pool recycles.
#[test]
fn mpfr53_element_allocates_nothing() {
    dtype_cases("mpfr:53", Expect { h: "1e-3", tol: Some(1e-4), min_nonzero: 1.0 });
}

#[test]
fn mpfr256_element_allocates_nothing() {
    dtype_cases("mpfr:256", Expect { h: "1e-3", tol: Some(1e-4), min_nonzero: 1.0 });
}

/// A negative control: the naive path clones the inputs for every point, and both counters see it.
#[test]
fn the_naive_path_is_seen_allocating() {
    install_gmp_hooks();
    fn naive_allocs<T: Scalar>(ctx: T::Ctx) -> (usize, usize) {
        let p = Problem::generate(SIZE.0, SIZE.1, SIZE.2, 7).unwrap();
        let (tr, _) = prepare::<T>(&p, ctx, &train_config(), &Watch::unwatched()).unwrap();
        let setup = Setup {
            trained: &tr,
            reduction: Reduction::Mean,
            stencil: Scheme::Central.stencil(),
            wrt: LinearTensor::Input,
        };
        let h = Decimal::parse("step", "1e-3").unwrap();
        let ev = Evaluator::new(&setup, std::slice::from_ref(&h));
        let (mut g, mut e, mut f) = (T::zero(ctx), T::zero(ctx), Regime::Finite);
        naive::element(&ev, 1, 2, 0, &mut g, &mut e, &mut f);
        count_allocs(|| naive::element(&ev, 1, 2, 0, &mut g, &mut e, &mut f))
    }
    let (rust, gmp) = naive_allocs::<f64>(());
    // (The GMP count is not 0 here either: the naive path rounds 1/n from a GMP rational for
    // every loss it evaluates.)
    assert!(rust > 0, "f64 naive element: rust {rust}, gmp {gmp}");
    let (rust, gmp) = naive_allocs::<rug::Float>(gradlab::scalar::Prec::new(53).unwrap());
    // Its MPFR clones are recycled by the pool, but ndarray's clones still hit the Rust heap.
    assert!(rust > 0, "mpfr:53 naive element: rust {rust}, gmp {gmp}");
}

/// The complex step's and dual numbers' fast path allocates per row of the gradient (its
/// buffers and the row's values), never per element: the same number of allocations whether a
/// row has 8 or 64 elements (input: n = 16 rows; weight: k = 3 rows), f64, one thread.
#[test]
fn complex_step_and_dual_numbers_allocate_per_row_not_per_element() {
    use gradlab::numeric::exotic::method_grads;
    use gradlab::watch::Watch;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    for (scheme, h) in [(Scheme::Complex, "1e-20"), (Scheme::Complex, "1e-3"), (Scheme::Dual, "1e-3")] {
        for wrt in [LinearTensor::Input, LinearTensor::Weight] {
            let counts: Vec<(usize, usize)> = [8, 64]
                .iter()
                .map(|&d| {
                    let p = Problem::generate(16, d, 3, 1).unwrap();
                    let (tr, _) = prepare::<f64>(&p, (), &train_config(), &Watch::unwatched()).unwrap();
                    let setup =
                        Setup { trained: &tr, reduction: Reduction::Mean, stencil: Scheme::Central.stencil(), wrt };
                    let steps = vec![Decimal::parse("step", h).unwrap()];
                    let run = || method_grads(&setup, scheme, &steps, false, &Watch::unwatched()).unwrap();
                    drop(pool.install(run));
                    pool.install(|| count_allocs(|| drop(run())))
                })
                .collect();
            assert_eq!(counts[0], counts[1], "{scheme} {wrt} h = {h}: allocations with d = 8 and d = 64");
            assert!(counts[0].0 > 0, "the counter sees the rows' buffers");
        }
    }
}
