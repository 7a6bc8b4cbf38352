//! A per-thread memory pool for GMP and MPFR, so that MPFR checks allocate nothing after warm-up.
//!
//! gradlab's own MPFR arithmetic works in place and never allocates, but MPFR's `exp` and `log`
//! allocate, grow (realloc) and free temporary integers inside every call (about 14 heap calls
//! per perturbed element for the central stencil, seen through GMP's memory hooks). [`install`]
//! replaces GMP's memory functions with pooling ones:
//!
//! - a request is rounded up to a power-of-two class and served from a per-thread free list of
//!   that class when one is there;
//! - a reallocation that fits the block's real capacity (`malloc_usable_size`) keeps the block;
//!   a larger one moves to a pooled block of the next class;
//! - a freed block goes back to the free list of the largest class its real capacity covers.
//!
//! Once every class has been seen, the hot loop never reaches the system allocator. Misses go to
//! the memory functions installed before (normally GMP's defaults, libc's malloc and free), and
//! every block, whoever allocated it, is a malloc block, so blocks allocated before the pool was
//! installed or on other threads are handled correctly. Linux (glibc) only; elsewhere [`install`]
//! does nothing.
//!
//! The gradlab binaries install it at start-up; a library user calls [`install`] once, early.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Heap calls the pool has answered itself, and those it passed to the system allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests served from a free list or by keeping a block in place.
    pub hits: usize,
    /// Requests passed to the underlying allocator.
    pub misses: usize,
}

static HITS: AtomicUsize = AtomicUsize::new(0);
static MISSES: AtomicUsize = AtomicUsize::new(0);

/// Counts over the whole process since start.
pub fn stats() -> PoolStats {
    PoolStats { hits: HITS.load(Ordering::Relaxed), misses: MISSES.load(Ordering::Relaxed) }
}

/// Installs the pool as GMP's memory functions (once per process; later calls do nothing).
pub fn install() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    imp::install();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use super::{HITS, MISSES};
    use gmp_mpfr_sys::gmp;
    use std::cell::RefCell;
    use std::ffi::c_void;
    use std::sync::atomic::Ordering;
    use std::sync::OnceLock;

    /// Smallest class in bytes.
    const MIN_CLASS: usize = 16;
    /// Blocks above this are never pooled.
    const MAX_CLASS: usize = 1 << 20;
    /// Blocks kept per class.
    const PER_CLASS: usize = 64;
    /// Number of classes: 16 B ..= 1 MiB.
    const CLASSES: usize = 17;

    type Funcs = (gmp::allocate_function, gmp::reallocate_function, gmp::free_function);
    static UNDERLYING: OnceLock<Funcs> = OnceLock::new();

    /// The class index of the smallest class holding `size` bytes.
    fn class_up(size: usize) -> Option<usize> {
        let c = size.max(MIN_CLASS).next_power_of_two();
        (c <= MAX_CLASS).then(|| (c.trailing_zeros() - MIN_CLASS.trailing_zeros()) as usize)
    }

    /// The index of the largest class a block of real capacity `usable` covers.
    fn class_down(usable: usize) -> Option<usize> {
        if usable < MIN_CLASS {
            return None;
        }
        let c = 1usize << (usize::BITS - 1 - usable.leading_zeros());
        Some((c.min(MAX_CLASS).trailing_zeros() - MIN_CLASS.trailing_zeros()) as usize)
    }

    fn class_bytes(class: usize) -> usize {
        MIN_CLASS << class
    }

    /// Free blocks of one thread, by class.
    struct Pool {
        lists: [Vec<*mut c_void>; CLASSES],
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            for (class, list) in self.lists.iter_mut().enumerate() {
                for p in list.drain(..) {
                    raw_free(p, class_bytes(class));
                }
            }
        }
    }

    thread_local! {
        static POOL: RefCell<Pool> = const { RefCell::new(Pool { lists: [const { Vec::new() }; CLASSES] }) };
    }

    fn underlying() -> &'static Funcs {
        UNDERLYING.get().unwrap_or_else(|| unreachable!("pool functions run only after install"))
    }

    fn raw_alloc(size: usize) -> *mut c_void {
        MISSES.fetch_add(1, Ordering::Relaxed);
        match underlying().0 {
            Some(f) => f(size),
            None => std::process::abort(),
        }
    }

    fn raw_free(ptr: *mut c_void, size: usize) {
        if let Some(f) = underlying().2 {
            // SAFETY: ptr is a live malloc block handed to GMP's memory functions.
            unsafe { f(ptr, size) }
        }
    }

    fn usable(ptr: *mut c_void) -> usize {
        // SAFETY: every block GMP hands us was allocated by malloc (directly or via GMP's defaults).
        unsafe { libc::malloc_usable_size(ptr) }
    }

    /// A block of at least `size` bytes, from the pool when possible.
    fn take(size: usize) -> *mut c_void {
        let Some(class) = class_up(size) else { return raw_alloc(size) };
        // try_with/try_borrow_mut: the thread may be exiting.
        let hit = POOL.try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.lists[class].pop())).ok().flatten();
        match hit {
            Some(p) => {
                HITS.fetch_add(1, Ordering::Relaxed);
                p
            }
            None => raw_alloc(class_bytes(class)),
        }
    }

    /// Returns a block to the pool, or to the system when the pool is full.
    fn give(ptr: *mut c_void, size: usize) {
        let kept = class_down(usable(ptr)).is_some_and(|class| {
            POOL.try_with(|p| {
                p.try_borrow_mut().is_ok_and(|mut p| {
                    let list = &mut p.lists[class];
                    // Vec::push within the reserved capacity does not allocate.
                    if list.capacity() == 0 {
                        list.reserve_exact(PER_CLASS);
                    }
                    (list.len() < PER_CLASS).then(|| list.push(ptr)).is_some()
                })
            })
            .unwrap_or(false)
        });
        if !kept {
            raw_free(ptr, size);
        }
    }

    extern "C" fn pool_alloc(size: usize) -> *mut c_void {
        take(size)
    }

    unsafe extern "C" fn pool_realloc(ptr: *mut c_void, old: usize, new: usize) -> *mut c_void {
        if new <= usable(ptr) {
            HITS.fetch_add(1, Ordering::Relaxed);
            return ptr;
        }
        let fresh = take(new);
        // SAFETY: both blocks are valid for min(old, new) bytes and distinct.
        unsafe { std::ptr::copy_nonoverlapping(ptr as *const u8, fresh as *mut u8, old.min(new)) };
        give(ptr, old);
        fresh
    }

    unsafe extern "C" fn pool_free(ptr: *mut c_void, size: usize) {
        give(ptr, size);
    }

    pub fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let (mut a, mut r, mut f): Funcs = (None, None, None);
            // SAFETY: GMP's documented API; the previous functions stay valid for the process.
            unsafe {
                gmp::get_memory_functions(&mut a, &mut r, &mut f);
                if a.is_none() || r.is_none() || f.is_none() {
                    return;
                }
                let _ = UNDERLYING.set((a, r, f));
                gmp::set_memory_functions(Some(pool_alloc), Some(pool_realloc), Some(pool_free));
            }
        });
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn classes_round_the_right_way() {
            assert_eq!(class_up(1), Some(0));
            assert_eq!(class_up(16), Some(0));
            assert_eq!(class_up(17), Some(1));
            assert_eq!(class_down(24), Some(0));
            assert_eq!(class_down(32), Some(1));
            assert_eq!(class_down(8), None);
            assert_eq!(class_up(MAX_CLASS + 1), None);
            assert!(class_bytes(class_down(40).unwrap()) <= 40);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rug::Float;

    #[test]
    fn pooled_floats_keep_their_values_and_exp_ln_stop_missing() {
        install();
        let mut v: Vec<Float> = (0..200).map(|i| Float::with_val(64 + (i % 5) * 64, i) / 7).collect();
        for (i, x) in v.iter_mut().enumerate() {
            x.exp_mut();
            x.ln_mut();
            let want = i as f64 / 7.0;
            assert!((x.to_f64() - want).abs() <= 1e-15 * want.max(1.0), "{i}");
        }
        v.truncate(10);
        let w: Vec<Float> = (0..500).map(|i| Float::with_val(128, i)).collect();
        assert!(w.iter().enumerate().all(|(i, x)| *x == i));
        // After warm-up, exp and ln on this thread no longer reach the system allocator. (Other
        // tests run in parallel and share the global counter, so only count this thread's work by
        // repeating until a quiet window is seen.)
        let mut x = Float::with_val(113, 1.25);
        for _ in 0..100 {
            x.exp_mut();
            x.ln_mut();
        }
        let quiet = (0..20).any(|_| {
            let before = stats().misses;
            for _ in 0..50 {
                x.exp_mut();
                x.ln_mut();
            }
            stats().misses == before
        });
        assert!(quiet || cfg!(not(all(target_os = "linux", target_env = "gnu"))));
    }
}
