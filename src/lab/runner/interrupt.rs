//! Ctrl-C: a flag the runner checks before each cell, so an interrupted run stops at the next
//! cell and writes nothing of the experiment it was running.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks running experiments to stop at the next cell (what Ctrl-C does).
pub fn request_stop() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs the Ctrl-C handler that calls [`request_stop`]. Installing it twice (in tests) is
/// harmless.
pub fn install_handler() {
    let _ = ctrlc::set_handler(request_stop);
}
