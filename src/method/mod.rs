//! Differentiation methods: the finite-difference stencils as weighted differences of paired
//! points, the step constants rounded once into a dtype, and the one quotient that turns function
//! values into a derivative ([`stencil`]); the number types of the complex step and of forward mode ([`crate::scalar::num`]);
//! Ridders' extrapolation ([`ridders`]); the steps a check asks for and a row was taken at
//! ([`steps`]); every method on a function of one variable
//! ([`univariate`]), on the linear model's gradient ([`crate::numeric::exotic`], with the complex step's and
//! dual numbers' fast path in `ad_fast`) and on any [`crate::objective::Objective`] ([`crate::numeric::generic`]).

pub mod ridders;
pub mod stencil;
pub mod steps;
pub mod univariate;

pub use stencil::{quotient, Combination, Difference, Scheme, Stencil, StepConsts};
pub use steps::{RowStep, StepGrid, Steps};
pub use univariate::{derivative, dual_derivative, Estimate, Univariate};
