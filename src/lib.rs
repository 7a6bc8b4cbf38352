//! gradlab: numerical precision in gradient checking.
pub mod atomic;
pub mod check;
pub mod error;
pub mod exact;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod numeric;
pub mod problem;
pub mod report;
pub mod scalar;
pub mod stencil;
pub mod train;
pub mod truth;

pub use error::{Error, Result};
