//! What an experiment script uses on almost every line, in one `use gradlab::lab::prelude::*;`:
//! the [`Experiment`] trait and its [`Output`], figures and their series, tables, report
//! templates, the spread over seeds, the row derives and summaries, and the core types most
//! experiments set up a check with (problem, dtype, scheme, training).

pub use crate::error::Result;
pub use crate::exact::Decimal;
pub use crate::lab::plot::{
    category_ink, dtype_color, dtype_ink, scheme_color, scheme_ink, Figure, Ink, LegendPos, ALERT_RED, BLACK,
    DARK_GREY, DIM_GREY, LIGHT_GREY, MEDIUM_GREY, REFERENCE_GREY,
};
pub use crate::lab::report::{count_of, md_table};
pub use crate::lab::runner::{Experiment, Output};
pub use crate::lab::series::{dashed, line, median_with_range, points, reference};
pub use crate::lab::spread::{group_by, median_band, median_band_at, values, Spread};
pub use crate::lab::template::fill;
pub use crate::method::Scheme;
pub use crate::metrics::{median, quantile};
pub use crate::problem::Problem;
pub use crate::scalar::DType;
pub use crate::train::{InputGrad, TrainConfig};
pub use crate::{md_row, vars};
pub use serde::{Deserialize, Serialize};
