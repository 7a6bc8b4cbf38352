//! The lab: what turns the core's checks into experiments, figures and a report (behind the
//! default `lab` feature, so that a library user of the core does not build plotters, clap,
//! indicatif, ctrlc or png).

pub mod blocks;
pub mod claims;
pub mod cli;
pub mod grid;
pub mod peers;
pub mod plot;
pub mod prelude;
pub mod progress;
pub mod report;
pub mod runner;
pub mod series;
pub mod spread;
pub mod template;
