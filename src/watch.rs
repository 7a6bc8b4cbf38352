//! Watching a long computation from outside: a stop request it honours cooperatively, and a
//! count of the work it has done (for a progress bar).
//!
//! A [`Watch`] is shared (cloning it shares the same flag and counter) between the thread that
//! computes and whoever watches: a Ctrl-C handler calls [`Watch::stop`], a progress bar reads
//! [`Watch::done`]. The computation calls [`Watch::checkpoint`] between units of work: once per
//! SGD epoch, once per sample of a forward or backward pass, once per row of a numeric gradient,
//! never per element, so the check costs one relaxed atomic load per row; work is counted once
//! per row of a numeric gradient and once per 64 samples of a pass. Work is counted in the units
//! of [`crate::budget`], which also says how many units a whole check takes. Each long
//! computation takes one `&Watch` argument; [`Watch::unwatched`] is no watch and costs nothing.
//!
//! The core has no signal handling of its own: the lab connects Ctrl-C to a watch
//! (`lab::runner::interrupt`), and a library user may call [`Watch::stop`] from anywhere.
//!
//! ```
//! use gradlab::watch::Watch;
//! let watch = Watch::new();
//! let observer = watch.clone();
//! watch.advance(40);
//! assert_eq!(observer.done(), 40);
//! observer.stop();
//! assert!(watch.checkpoint(|| "stopped in the example".into()).is_err());
//! // Items counted in batches of 64 and at the last one.
//! for j in 0..100 {
//!     watch.advance_items(j, 100, 2);
//! }
//! assert_eq!(observer.done(), 240);
//! ```

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A stop flag and a work counter shared by a computation and its observers, or neither
/// ([`Watch::unwatched`]: never stopped, counts nothing, costs nothing).
#[derive(Clone, Debug, Default)]
pub struct Watch {
    stop: Option<Arc<AtomicBool>>,
    done: Option<Arc<AtomicU64>>,
}

/// Loops count their items into a watch in batches of this many (and at their last item), so
/// that a loop of tiny items does not pay an atomic addition per item.
const BATCH: usize = 64;

impl Watch {
    /// A watch that has not been stopped, with no work done.
    pub fn new() -> Self {
        Watch { stop: Some(Arc::default()), done: Some(Arc::default()) }
    }

    /// No watch at all: never stopped, and the work is not counted (what the functions without
    /// a watch argument use). Allocates nothing.
    pub const fn unwatched() -> Self {
        Watch { stop: None, done: None }
    }

    /// A watch whose stop flag is `flag` (shared with, say, a process-wide Ctrl-C handler),
    /// with its own work counter.
    pub fn with_stop_flag(flag: Arc<AtomicBool>) -> Self {
        Watch { stop: Some(flag), done: Some(Arc::default()) }
    }

    /// Asks the computation to stop at its next checkpoint (nothing for [`Watch::unwatched`]).
    pub fn stop(&self) {
        if let Some(s) = &self.stop {
            s.store(true, Ordering::SeqCst);
        }
    }

    /// Whether a stop was asked for.
    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// `Ok` to go on, or, once a stop was asked for, [`Error::Interrupted`] with `where_` (a
    /// clause saying where the computation stopped, built only when it did).
    ///
    /// # Errors
    /// [`Error::Interrupted`] after [`Watch::stop`].
    #[inline]
    pub fn checkpoint(&self, where_: impl FnOnce() -> String) -> Result<()> {
        if self.stop_requested() {
            return Err(Error::Interrupted(where_()));
        }
        Ok(())
    }

    /// Counts `units` more of work done. The counter wraps only beyond 1.8e19 units, centuries
    /// of work at the few billion units a second a check does.
    #[inline]
    pub fn advance(&self, units: u64) {
        if let Some(d) = &self.done {
            d.fetch_add(units, Ordering::Relaxed);
        }
    }

    /// In a loop over `n` items of `units_each` units, called after item `j` (from 0): counts
    /// the items done since the last count, every 64 items and after the last one.
    #[inline]
    pub fn advance_items(&self, j: usize, n: usize, units_each: u64) {
        let since = (j + 1) % BATCH;
        if since == 0 {
            self.advance(units_each.saturating_mul(BATCH as u64));
        } else if j + 1 == n {
            self.advance(units_each.saturating_mul(since as u64));
        }
    }

    /// The units of work done so far (0 for [`Watch::unwatched`]).
    pub fn done(&self) -> u64 {
        self.done.as_ref().map_or(0, |d| d.load(Ordering::Relaxed))
    }
}

/// The value of `f`, a computation whose only error is [`Error::Interrupted`], run under
/// [`Watch::unwatched`], which is never stopped: for the pure functions of the core (a forward
/// pass, an exact gradient) that call a watched kernel and have no error to report.
pub(crate) fn unwatched<R>(f: impl FnOnce(&Watch) -> Result<R>) -> R {
    f(&Watch::unwatched()).unwrap_or_else(|e| unreachable!("a computation under no watch failed: {e}"))
}

/// `e` with `place` put before where an interruption happened ("training epoch 3 of 10" before
/// "sample 5 of 8 of the forward pass"); any other error unchanged.
pub(crate) fn within(e: Error, place: impl FnOnce() -> String) -> Error {
    match e {
        Error::Interrupted(inner) => Error::Interrupted(format!("{}, {inner}", place())),
        other => other,
    }
}
