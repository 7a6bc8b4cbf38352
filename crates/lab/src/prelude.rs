//! What an experiment script uses on almost every line, in one `use gradlab_lab::prelude::*;`:
//! the [`Experiment`] trait and its [`Output`], figures and their series, tables, report
//! templates, the spread over seeds, the row derives and summaries, and the core types most
//! experiments set up a check with (problem, dtype, scheme, training).

pub use crate::plot::{
    category_ink, dtype_color, dtype_ink, scheme_color, scheme_ink, Figure, Ink, LegendPos, ALERT_RED, BLACK,
    DARK_GREY, DIM_GREY, LIGHT_GREY, MEDIUM_GREY, REFERENCE_GREY,
};
pub use crate::report::{count_of, md_table};
pub use crate::runner::{Experiment, Output};
pub use crate::series::{dashed, line, median_with_range, points, reference};
pub use crate::spread::{group_by, median_band, median_band_at, values, Spread};
pub use crate::template::fill;
pub use crate::{md_row, vars};
pub use gradlab::error::Result;
pub use gradlab::exact::Decimal;
pub use gradlab::method::{Scheme, Steps};
pub use gradlab::metrics::{median, quantile};
pub use gradlab::problem::Problem;
pub use gradlab::scalar::DType;
pub use gradlab::train::{InputGrad, TrainConfig};
pub use serde::{Deserialize, Serialize};
