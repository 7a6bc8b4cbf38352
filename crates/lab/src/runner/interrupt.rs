//! Ctrl-C: one process-wide stop flag, shared by the experiment runner (checked before each
//! cell, so an interrupted run stops at the next cell and writes nothing of the experiment it
//! was running) and by the core's [`Watch`] of a command that stops cooperatively
//! (`gradlab check`, and any other command that runs core computations under [`watch`]).
//!
//! A command like `gradlab check` uses it in three lines:
//!
//! ```no_run
//! use gradlab_lab::runner::interrupt;
//! interrupt::install_handler_with_deadline("gradlab check");
//! let watch = interrupt::watch(); // pass &watch to the core
//! // ... on Err(gradlab::Error::Interrupted(at)): say `at`, write nothing, exit with 130.
//! ```

use gradlab::watch::Watch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

/// The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Asks running experiments and watched computations to stop (what Ctrl-C does).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A [`Watch`] whose stop flag is Ctrl-C's, with its own work counter.
pub fn watch() -> Watch {
    Watch::with_stop_flag(Arc::clone(&STOP))
}

/// Installs the Ctrl-C handler that calls [`request_stop`] (for `gradlab run`, which stops at
/// the next cell however long the running cells take). Installing it twice (in tests) is
/// harmless.
pub fn install_handler() {
    let _ = ctrlc::set_handler(request_stop);
}

/// Installs the Ctrl-C handler of a command that stops cooperatively through [`watch`]: Ctrl-C
/// calls [`request_stop`], and if the process is still running
/// [`gradlab::policy::INTERRUPT_GRACE`] later (a step between checkpoints that takes longer, or
/// work that has none, such as generating a huge problem), it says so and exits with
/// [`EXIT_INTERRUPTED`]. Files are written atomically ([`gradlab::atomic`]), so even then no
/// partial file remains. `command` names the command in that message.
pub fn install_handler_with_deadline(command: &'static str) {
    let _ = ctrlc::set_handler(move || {
        request_stop();
        // The handler runs on its own thread: waiting here leaves the command free to stop.
        std::thread::sleep(gradlab::policy::INTERRUPT_GRACE);
        eprintln!(
            "interrupted: {command} did not reach a stopping point within {} s of Ctrl-C and was ended; no partial \
             file was written",
            gradlab::policy::INTERRUPT_GRACE.as_secs_f64()
        );
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    });
}
