//! Models of a finite-difference gradient's error against the step h.
//!
//! - [`bound`]: the textbook bound T h^p + R u / h, every rounding at its worst.
//! - [`expected`]: the expected error, element by element: truncation measured in MPFR, the
//!   input's own rounding (the effective step), and the loss's rounding noise measured once on
//!   the dtype's own loss, combined as the mean of a folded normal. It predicts both the optimal
//!   step and the minimal error, without a parameter fitted to the error curve it predicts.

pub mod bound;
pub mod expected;

pub use bound::{bound_model, BoundModel, TRUNCATION_PROBE_STEP};
pub use expected::{loss_noise, ExpectedModel};
