//! `gradlab check`'s notes and warnings on one dtype's rows: default steps the dtype leaves out,
//! training that turned non-finite, and `--eps auto` leaving most of the loss flat. Each is one
//! sentence, printed on stderr (in both output formats) and under the dtype's heading in the
//! table; none changes the rows or the exit status.

use gradlab::check::DTypeCheck;
use gradlab::exact::Decimal;
use gradlab::policy::StepRefusal;
use gradlab::scalar::DType;
use gradlab::train::NonFinite;

/// The note for the default steps `dtype` leaves out ([`gradlab::policy::default_steps`]), or
/// `None` when it keeps all of them.
pub fn left_out_steps(dtype: DType, left_out: &[(Decimal, StepRefusal)]) -> Option<String> {
    if left_out.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for why in [StepRefusal::RoundsToZero, StepRefusal::Overflows, StepRefusal::NotPositive] {
        let steps: Vec<&str> = left_out.iter().filter(|(_, r)| *r == why).map(|(h, _)| h.text()).collect();
        if !steps.is_empty() {
            let verb = why.what_happens(dtype);
            parts.push(match steps.len() {
                // "rounds to 0" for one step, "round to 0" for several.
                1 => format!("{} ({})", steps[0], singular(&verb)),
                _ => format!("{} ({verb})", steps.join(", ")),
            });
        }
    }
    let plural = if left_out.len() == 1 { "step" } else { "steps" };
    Some(format!("note: {dtype} leaves out the default {plural} {}; --eps chooses the steps", parts.join(" and ")))
}

/// "round to 0" as "rounds to 0", "overflow f16" as "overflows f16", "are" as "is".
fn singular(verb: &str) -> String {
    match verb.split_once(' ') {
        Some(("are", rest)) => format!("is {rest}"),
        Some((v, rest)) => format!("{v}s {rest}"),
        None => format!("{verb}s"),
    }
}

/// The sentence saying that training in `dtype` turned non-finite, naming the epoch; it ends
/// by saying whether the rows compare non-finite values (`rows_nonfinite`: some row's status is
/// `nonfinite`) or not.
pub fn nonfinite_training(dtype: DType, at: NonFinite, rows_nonfinite: bool) -> String {
    let rows = match rows_nonfinite {
        true => "the rows compare non-finite values",
        false => "yet every row is finite",
    };
    if at.epochs == 0 {
        return format!(
            "warning: the {dtype} pass at the given parameters (--epochs 0, no training) gave an inf or NaN logit or \
             gradient; {rows}"
        );
    }
    let what = match at.in_step {
        true => "its SGD step made a weight or bias inf or NaN".to_string(),
        false if at.epoch == 1 => {
            "its forward and backward pass gave an inf or NaN logit or gradient, before any SGD step".to_string()
        }
        false => format!(
            "its forward and backward pass gave an inf or NaN logit or gradient, after {} SGD {}",
            at.epoch - 1,
            if at.epoch == 2 { "step" } else { "steps" }
        ),
    };
    format!("warning: training in {dtype} turned non-finite at epoch {} of {}: {what}; {rows}", at.epoch, at.epochs)
}

/// More than this fraction of the elements flat or dead under `--eps auto` draws a warning.
pub const AUTO_FLAT_MAJORITY: f64 = 0.5;

/// The warning for `--eps auto` rows (one per check) where the chosen steps left the loss
/// unchanged for most elements (flat: every perturbed loss rounded to one value; dead: x + h
/// == x), so that most of the numeric gradient is 0; `None` otherwise. `elements` is the
/// number of elements checked.
pub fn auto_flat(dtype: DType, r: &DTypeCheck, elements: usize) -> Option<String> {
    let row = r.rows.iter().find(|row| row.eps.is_auto())?;
    let unchanged = row.loss_flat + row.dead_zone;
    (elements > 0 && unchanged as f64 > AUTO_FLAT_MAJORITY * elements as f64).then(|| {
        format!(
            "warning: --eps auto left the loss unchanged for {unchanged} of {elements} elements in {dtype} ({} flat, {} \
             dead), so its numeric gradient is 0 there; fixed steps (--eps) may do better",
            row.loss_flat, row.dead_zone
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_left_out_note_names_each_step_and_why() {
        let d = |s: &str| Decimal::parse("step", s).unwrap();
        assert_eq!(left_out_steps(DType::F32, &[]), None);
        assert_eq!(
            left_out_steps(DType::F16, &[(d("1e-8"), StepRefusal::RoundsToZero)]).unwrap(),
            "note: f16 leaves out the default step 1e-8 (rounds to 0 in f16); --eps chooses the steps"
        );
        let both = [
            (d("1e5"), StepRefusal::Overflows),
            (d("1e-8"), StepRefusal::RoundsToZero),
            (d("1e-9"), StepRefusal::RoundsToZero),
        ];
        assert_eq!(
            left_out_steps(DType::F16, &both).unwrap(),
            "note: f16 leaves out the default steps 1e-8, 1e-9 (round to 0 in f16) and 1e5 (overflows f16); --eps \
             chooses the steps"
        );
    }

    #[test]
    fn the_nonfinite_sentence_names_the_epoch_and_what_failed() {
        let s = |epoch, epochs, in_step| nonfinite_training(DType::F16, NonFinite { epoch, epochs, in_step }, true);
        assert!(s(3, 10, true).contains("training in f16 turned non-finite at epoch 3 of 10: its SGD step"));
        assert!(s(1, 10, false).contains("before any SGD step"));
        assert!(s(4, 10, false).contains("after 3 SGD steps"));
        assert!(s(1, 0, false).contains("--epochs 0, no training"));
        assert!(s(3, 10, true).ends_with("the rows compare non-finite values"));
        let finite = nonfinite_training(DType::F16, NonFinite { epoch: 3, epochs: 10, in_step: true }, false);
        assert!(finite.ends_with("; yet every row is finite"), "{finite}");
    }
}
