//! Numbers made outside gradlab that the experiments set beside their own: the question's
//! published float32 tables (experiments/data/published_seed.csv, copied from Cross Validated
//! question 491171) and PyTorch's own run of the question's code on gradlab's problem
//! (experiments/data/pytorch_*.csv and .json, made by benches/peers/seed_table.py). They are
//! compiled in, so a run needs neither the internet nor Python.

use crate::exact::Decimal;
use crate::lab::runner::output::from_csv;
use crate::lab::runner::Output;
use serde::Deserialize;

const PUBLISHED: &str = include_str!("../../experiments/data/published_seed.csv");
const PYTORCH_SEED: &str = include_str!("../../experiments/data/pytorch_seed.csv");
const PYTORCH_PARTING: &str = include_str!("../../experiments/data/pytorch_parting.csv");
const PYTORCH_META: &str = include_str!("../../experiments/data/pytorch_seed.json");

/// One published number: which check (`input_accumulated` or `logits`), the step, the mean relerr.
#[derive(Clone, Debug, Deserialize)]
pub struct Published {
    /// `input_accumulated` (x.grad summed over the epochs) or `logits` (y.grad).
    pub check: String,
    /// The step.
    pub eps: Decimal,
    /// The published mean relative error.
    pub relerr_mean: f64,
}

/// One row of PyTorch's run: dtype (`f32`, `f64`), `accumulate` or `reset`, step, mean relerr,
/// and how many numeric elements were exactly 0.
#[derive(Clone, Debug, Deserialize)]
pub struct TorchRow {
    /// `f32` or `f64`.
    pub dtype: String,
    /// `accumulate` or `reset`.
    pub variant: String,
    /// The step.
    pub eps: Decimal,
    /// The question's mean relative error.
    pub relerr_mean: f64,
    /// Elements whose numeric gradient was exactly 0.
    pub numeric_zero: usize,
}

/// One row of the swap-one-ingredient runs: the variant, the step, the mean relerr and the
/// elements whose numeric gradient was exactly 0.
#[derive(Clone, Debug, Deserialize)]
pub struct PartingRow {
    /// `gradlab`, `quotient64`, `torch_loss`, `torch_mean`, `torch_logits` or `torch`.
    pub variant: String,
    /// The step.
    pub eps: Decimal,
    /// The mean relative error.
    pub relerr_mean: f64,
    /// Elements whose numeric gradient was exactly 0.
    pub numeric_zero: usize,
}

/// The question's published table for `check`, in step order.
pub fn published(check: &str) -> Vec<Published> {
    from_csv::<Published>(PUBLISHED.as_bytes()).unwrap_or_default().into_iter().filter(|r| r.check == check).collect()
}

/// PyTorch's run of the question's code on gradlab's problem.
pub fn pytorch() -> Vec<TorchRow> {
    from_csv(PYTORCH_SEED.as_bytes()).unwrap_or_default()
}

/// The swap-one-ingredient runs of benches/peers/seed_table.py.
pub fn parting() -> Vec<PartingRow> {
    from_csv(PYTORCH_PARTING.as_bytes()).unwrap_or_default()
}

/// The torch version PyTorch's numbers were made with.
pub fn torch_version() -> String {
    serde_json::from_str::<serde_json::Value>(PYTORCH_META)
        .ok()
        .and_then(|m| m["torch"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Copies PyTorch's CSVs and their meta into an experiment's folder, beside the results that use
/// them.
///
/// # Errors
/// [`crate::Error::Write`] when a file cannot be written.
pub fn write_pytorch(out: &mut Output) -> crate::Result<()> {
    for (name, text) in [
        ("pytorch_seed.csv", PYTORCH_SEED),
        ("pytorch_parting.csv", PYTORCH_PARTING),
        ("pytorch_seed.json", PYTORCH_META),
    ] {
        out.file(name, text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_tables_parse_whole() {
        assert_eq!(published("input_accumulated").len(), 9);
        assert_eq!(published("logits").len(), 6);
        assert_eq!(pytorch().len(), 36);
        assert_eq!(parting().len(), 54);
        assert!(torch_version().starts_with('2'));
    }
}
