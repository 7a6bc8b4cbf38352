//! Watching both heaps a check allocates from, for the tests that count allocations
//! (tests/no_alloc.rs) or bytes (tests/budget_memory.rs).
//!
//! - Rust's heap, through [`Observed`], a `#[global_allocator]` wrapping [`System`];
//! - GMP/MPFR's heap. rug's `Float` limbs and MPFR's internal temporaries are allocated through
//!   GMP's memory functions, which call libc's malloc directly and never reach Rust's global
//!   allocator, so [`install_gmp`] wraps GMP's current memory functions (obtained with
//!   `mp_get_memory_functions`) in observed ones.
//!
//! A test file says what it does with each event by implementing [`Observer`], then:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: common::heap::Observed<Counter> = common::heap::Observed::new();
//! // before the first GMP call:
//! common::heap::install_gmp::<Counter>();
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::{Once, OnceLock};

/// Which heap an event happened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heap {
    /// Rust's global allocator.
    Rust,
    /// GMP's memory functions (rug's and MPFR's values and temporaries).
    Gmp,
}

/// What a test does on each allocation event. Called from inside the allocator: it must not
/// allocate.
pub trait Observer: 'static {
    /// A block of `bytes` allocated.
    fn alloc(heap: Heap, bytes: usize);
    /// A block resized from `old` to `new` bytes.
    fn realloc(heap: Heap, old: usize, new: usize);
    /// A block of `bytes` freed.
    fn free(heap: Heap, bytes: usize);
}

/// A global allocator forwarding every call unchanged to [`System`] after telling `O`.
pub struct Observed<O: Observer>(PhantomData<O>);

impl<O: Observer> Observed<O> {
    /// The allocator (for a `static`).
    pub const fn new() -> Self {
        Observed(PhantomData)
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the observer only updates counters.
unsafe impl<O: Observer> GlobalAlloc for Observed<O> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        O::alloc(Heap::Rust, layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        O::alloc(Heap::Rust, layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        O::realloc(Heap::Rust, layout.size(), new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        O::free(Heap::Rust, layout.size());
        System.dealloc(ptr, layout)
    }
}

type AllocFn = Option<unsafe extern "C" fn(size: usize) -> *mut c_void>;
type ReallocFn = Option<unsafe extern "C" fn(ptr: *mut c_void, old_size: usize, new_size: usize) -> *mut c_void>;
type FreeFn = Option<unsafe extern "C" fn(ptr: *mut c_void, size: usize)>;

// The bundled GMP that rug links, via gmp-mpfr-sys.
extern "C" {
    #[link_name = "__gmp_get_memory_functions"]
    fn gmp_get_memory_functions(alloc: *mut AllocFn, realloc: *mut ReallocFn, free: *mut FreeFn);
    #[link_name = "__gmp_set_memory_functions"]
    fn gmp_set_memory_functions(alloc: AllocFn, realloc: ReallocFn, free: FreeFn);
}

/// GMP's memory functions before the observed ones were installed.
static GMP_ORIGINAL: OnceLock<(AllocFn, ReallocFn, FreeFn)> = OnceLock::new();

fn gmp_original() -> &'static (AllocFn, ReallocFn, FreeFn) {
    GMP_ORIGINAL.get().unwrap_or_else(|| unreachable!("GMP hooks are installed before any GMP call"))
}

unsafe extern "C" fn gmp_alloc<O: Observer>(size: usize) -> *mut c_void {
    O::alloc(Heap::Gmp, size);
    gmp_original().0.map_or_else(|| std::process::abort(), |f| f(size))
}

unsafe extern "C" fn gmp_realloc<O: Observer>(ptr: *mut c_void, old_size: usize, new_size: usize) -> *mut c_void {
    O::realloc(Heap::Gmp, old_size, new_size);
    gmp_original().1.map_or_else(|| std::process::abort(), |f| f(ptr, old_size, new_size))
}

unsafe extern "C" fn gmp_free<O: Observer>(ptr: *mut c_void, size: usize) {
    O::free(Heap::Gmp, size);
    gmp_original().2.map_or_else(|| std::process::abort(), |f| f(ptr, size))
}

static INSTALL: Once = Once::new();

/// Installs GMP memory functions that tell `O`, once per test binary. Every test calls this
/// before touching GMP, and `Once` makes the others wait, so no GMP allocation races with the
/// switch. The wrappers forward to the original functions, so blocks allocated before and after
/// are interchangeable.
pub fn install_gmp<O: Observer>() {
    INSTALL.call_once(|| {
        let (mut a, mut r, mut f): (AllocFn, ReallocFn, FreeFn) = (None, None, None);
        // SAFETY: GMP writes three function pointers; then the wrappers (which forward to them)
        // replace them. No other thread uses GMP yet (see above).
        unsafe {
            gmp_get_memory_functions(&mut a, &mut r, &mut f);
            assert!(a.is_some() && r.is_some() && f.is_some(), "GMP returned no memory functions");
            let _ = GMP_ORIGINAL.set((a, r, f));
            gmp_set_memory_functions(Some(gmp_alloc::<O>), Some(gmp_realloc::<O>), Some(gmp_free::<O>));
        }
    });
}
