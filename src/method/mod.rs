//! Differentiation methods: the finite-difference stencils with their exact weights, the step
//! constants rounded once into a dtype, and the one quotient that turns function values into a
//! derivative.

pub mod stencil;

pub use stencil::{quotient, Scheme, Stencil, StepConsts};
