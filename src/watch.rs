//! Watching a long computation from outside: a stop request it honours cooperatively, and a
//! count of the work it has done (for a progress bar).
//!
//! A [`Watch`] is shared (cloning it shares the same flag and counter) between the thread that
//! computes and whoever watches: a Ctrl-C handler calls [`Watch::stop`], a progress bar reads
//! [`Watch::done`]. The computation calls [`Watch::checkpoint`] between units of work: once per
//! SGD epoch, once per sample of a forward or backward pass, once per row of a numeric gradient,
//! never per element, so the check costs one relaxed atomic load per row. Work is counted in the
//! units of [`crate::budget`], which also says how many units a whole check takes.
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
//! ```

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A stop flag and a work counter shared by a computation and its observers.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
}

impl Watch {
    /// A watch that has not been stopped, with no work done.
    pub fn new() -> Self {
        Self::default()
    }

    /// A watch whose stop flag is `flag` (shared with, say, a process-wide Ctrl-C handler),
    /// with its own work counter.
    pub fn with_stop_flag(flag: Arc<AtomicBool>) -> Self {
        Watch { stop: flag, done: Arc::default() }
    }

    /// Asks the computation to stop at its next checkpoint.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
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

    /// Counts `units` more of work done (saturating at `u64::MAX`).
    #[inline]
    pub fn advance(&self, units: u64) {
        if units > 0 {
            let _ = self.done.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| Some(d.saturating_add(units)));
        }
    }

    /// The units of work done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// `e` with `place` put before where an interruption happened ("training epoch 3 of 10" before
/// "sample 5 of 8 of the forward pass"); any other error unchanged.
pub(crate) fn within(e: Error, place: impl FnOnce() -> String) -> Error {
    match e {
        Error::Interrupted(inner) => Error::Interrupted(format!("{}, {inner}", place())),
        other => other,
    }
}
