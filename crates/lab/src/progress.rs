//! A progress bar on stderr for a long core computation: it reads the work counter of the
//! computation's [`Watch`] against the stages planned for it (from [`gradlab::budget`]), shows the
//! stage running, the share done, the time spent and an estimate of the time left, and appears
//! only when the work is still running [`gradlab::policy::PROGRESS_DELAY`] after it started and
//! stderr is a terminal (never in tests or pipes).
//!
//! Any command can use it the way `gradlab check` does:
//!
//! ```no_run
//! use gradlab_lab::progress::WorkBar;
//! # let (watch, stages) = (gradlab::watch::Watch::new(), Vec::new());
//! let bar = WorkBar::start(&watch, stages); // stages: Vec<gradlab::budget::Stage>
//! // ... the computation advances `watch` ...
//! bar.finish(); // before printing results
//! ```
//!
//! The bar runs on its own thread and only reads the counter, so the computation pays nothing
//! for it beyond its watch's one relaxed atomic addition per row. The thread waits by parking
//! (with a timeout of one tick), and [`WorkBar::finish`] wakes it: a check that ends before the
//! bar's delay pays the thread's start and join (tens of microseconds), not a tick.

use gradlab::budget::Stage;
use gradlab::watch::Watch;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the bar reads the counter (finishing wakes the bar at once, so a tick is never
/// waited out at the end).
const TICK: Duration = Duration::from_millis(100);

/// A progress bar following a [`Watch`]; [`WorkBar::finish`] (or dropping it) removes it.
#[derive(Debug)]
pub struct WorkBar {
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WorkBar {
    /// Starts following `watch` through `stages` (run in that order; the bar's length is their
    /// total units) on stderr, hidden unless stderr is a terminal.
    pub fn start(watch: &Watch, stages: Vec<Stage>) -> Self {
        Self::start_on(watch, stages, ProgressDrawTarget::stderr())
    }

    /// [`WorkBar::start`] on a given draw target (tests draw to a hidden one).
    pub fn start_on(watch: &Watch, stages: Vec<Stage>, target: ProgressDrawTarget) -> Self {
        let finished = Arc::new(AtomicBool::new(false));
        let (flag, watch) = (Arc::clone(&finished), watch.clone());
        let thread = std::thread::spawn(move || follow(&watch, &stages, target, &flag));
        WorkBar { finished, thread: Some(thread) }
    }

    /// Removes the bar (call before printing results).
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.finished.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // An unpark before the thread parks makes that park return at once, so the flag set
            // above is seen whether the thread is parked, drawing or not yet started.
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for WorkBar {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The stage whose units hold `done` (`None` once every stage is done).
fn stage_at(stages: &[Stage], done: u64) -> Option<&Stage> {
    let mut end = 0u64;
    stages.iter().find(|s| {
        end = end.saturating_add(s.units);
        done < end
    })
}

/// The bar's thread: waits out the delay, then draws until told to finish. It waits parked
/// ([`std::thread::park_timeout`]), so [`WorkBar::finish`]'s unpark ends either wait at once; a
/// park may also return early for no reason, so the flag and the clock are checked each time.
fn follow(watch: &Watch, stages: &[Stage], target: ProgressDrawTarget, finished: &AtomicBool) {
    let start = Instant::now();
    loop {
        if finished.load(Ordering::SeqCst) {
            return;
        }
        match gradlab::policy::PROGRESS_DELAY.checked_sub(start.elapsed()) {
            Some(left) if !left.is_zero() => std::thread::park_timeout(left),
            _ => break,
        }
    }
    let total = stages.iter().fold(0u64, |a, s| a.saturating_add(s.units)).max(1);
    // Elapsed time counts from the start of the work, not from the bar's appearance.
    let bar = ProgressBar::with_draw_target(Some(total), target).with_elapsed(start.elapsed());
    bar.set_style(
        ProgressStyle::with_template("{msg:<28} [{bar:30}] {percent:>3}% {elapsed_precise} elapsed, about {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    while !finished.load(Ordering::SeqCst) {
        let done = watch.done().min(total);
        bar.set_position(done);
        if let Some(s) = stage_at(stages, done) {
            bar.set_message(s.label.clone());
        }
        std::thread::park_timeout(TICK);
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_follows_the_units_done() {
        let stages = vec![
            Stage { label: "a".into(), units: 10 },
            Stage { label: "b".into(), units: 0 },
            Stage { label: "c".into(), units: 5 },
        ];
        assert_eq!(stage_at(&stages, 0).map(|s| s.label.as_str()), Some("a"));
        assert_eq!(stage_at(&stages, 10).map(|s| s.label.as_str()), Some("c"));
        assert_eq!(stage_at(&stages, 15), None);
    }

    /// Finishing stops the bar's thread both before it draws and while it draws.
    #[test]
    fn a_bar_finishes_whether_or_not_it_was_drawn() {
        let watch = Watch::new();
        WorkBar::start_on(&watch, vec![Stage { label: "x".into(), units: 3 }], ProgressDrawTarget::hidden()).finish();
        let bar = WorkBar::start_on(&watch, vec![Stage { label: "x".into(), units: 3 }], ProgressDrawTarget::hidden());
        std::thread::sleep(gradlab::policy::PROGRESS_DELAY + TICK);
        watch.advance(3);
        bar.finish();
    }
}
