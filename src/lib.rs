//! gradlab: numerical precision in gradient checking.
pub mod atomic;
pub mod check;
pub mod cli;
pub mod error;
pub mod exact;
pub mod experiment;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod numeric;
pub mod plot;
pub mod problem;
pub mod report;
pub mod scalar;
pub mod stencil;
pub mod theory;
pub mod train;
pub mod truth;

pub use error::{Error, Result};
