//! What a check needs, in one `use gradlab::prelude::*;`: a problem, a dtype, a configuration
//! and the check that gives its rows.

pub use crate::check::{check_dtype, CheckConfig, CheckRow};
pub use crate::error::{Error, Result};
pub use crate::exact::{parse_list, Decimal};
pub use crate::method::{Scheme, Steps};
pub use crate::model::LinearTensor;
pub use crate::objective::Reduction;
pub use crate::problem::Problem;
pub use crate::scalar::{DType, Prec, Scalar};
pub use crate::train::{InputGrad, TrainConfig};
pub use crate::watch::Watch;
