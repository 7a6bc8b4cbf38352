//! The steps of a check, typed once at the edge: [`Steps`] is what `--eps` asks for (a grid of
//! exact decimals, `auto`, or no step) and [`RowStep`] is the step one row of a check was taken
//! at (a step of the grid, `auto`'s median, or none for dual numbers). Neither carries a marker
//! value: a [`StepGrid`] holds only positive decimals written as numbers.
//!
//! Text forms: a [`Steps`] is written as its grid (`1e-3,1e-4`), `auto` or `none`, and
//! [`Steps::parse`] reads each back; a [`RowStep`] is written as the CSV's `eps` field: the
//! step's decimal (auto's median as its shortest f64 decimal) or an empty field for no step.

use crate::error::{Error, Result};
use crate::exact::{parse_list, Decimal};
use std::cmp::Ordering;
use std::fmt;

/// The text of `--eps auto`.
pub const AUTO: &str = "auto";

/// The text of [`Steps::None`] (and the table's eps column of a row without a step).
pub const NONE: &str = "none";

/// At least one positive step, each an exact decimal whose text is the number it holds (so
/// neither 0 nor a word such as `auto` can stand in a grid for something else).
#[derive(Clone, Debug, PartialEq)]
pub struct StepGrid(Vec<Decimal>);

impl StepGrid {
    /// The grid of `steps`, in order.
    ///
    /// # Errors
    /// [`Error::Value`] for an empty list, a step that is not positive, or a step whose text is
    /// not the decimal number it holds.
    pub fn new(steps: Vec<Decimal>) -> Result<Self> {
        if steps.is_empty() {
            return Err(Error::value("step list", "", "at least one step"));
        }
        for h in &steps {
            match Decimal::parse("step", h.text()) {
                Ok(p) if p.value() == h.value() => {}
                _ => return Err(Error::value("step", h.text(), "a decimal number, written as the step it is")),
            }
            if h.value().cmp0() != Ordering::Greater {
                return Err(Error::value("step", h.text(), "a positive number"));
            }
        }
        Ok(StepGrid(steps))
    }

    /// A comma-separated list of positive decimals (`1e-3,1e-4`).
    ///
    /// # Errors
    /// [`Error::Value`] naming the first item that is not a positive number, or an empty list.
    pub fn parse(text: &str) -> Result<Self> {
        Self::new(parse_list("step", text)?)
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Decimal] {
        &self.0
    }
}

/// What a check's steps are: a grid of exact decimals, `--eps auto` (a step per element from an
/// error model, [`crate::numeric::auto`]), or no step (dual numbers take none).
#[derive(Clone, Debug, PartialEq)]
pub enum Steps {
    /// Fixed steps, one row each.
    Grid(StepGrid),
    /// `--eps auto`: one row, at a step chosen per element.
    Auto,
    /// No step (dual numbers; a scheme that takes a step refuses it).
    None,
}

impl Steps {
    /// `auto`, `none`, or a comma-separated grid of positive decimals.
    ///
    /// # Errors
    /// [`Error::Value`] for `auto` or `none` listed with other items, or a grid
    /// [`StepGrid::parse`] refuses.
    pub fn parse(text: &str) -> Result<Self> {
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        for (word, steps) in [(AUTO, Steps::Auto), (NONE, Steps::None)] {
            if items.contains(&word) {
                return match items[..] {
                    [one] if one == word => Ok(steps),
                    _ => Err(Error::value(
                        "step list",
                        text,
                        format!("either {word} alone or a list of steps, not both"),
                    )),
                };
            }
        }
        StepGrid::parse(text).map(Steps::Grid)
    }

    /// The grid of `steps` ([`StepGrid::new`]).
    ///
    /// # Errors
    /// As [`StepGrid::new`].
    pub fn grid(steps: Vec<Decimal>) -> Result<Self> {
        StepGrid::new(steps).map(Steps::Grid)
    }

    /// The grid's steps; none for `auto` and no step.
    pub fn fixed(&self) -> &[Decimal] {
        match self {
            Steps::Grid(g) => g.steps(),
            Steps::Auto | Steps::None => &[],
        }
    }

    /// Whether this is `--eps auto`.
    pub fn is_auto(&self) -> bool {
        matches!(self, Steps::Auto)
    }
}

impl fmt::Display for Steps {
    /// The text [`Steps::parse`] reads: the grid's steps joined by commas, `auto` or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Steps::Grid(g) => {
                let texts: Vec<&str> = g.steps().iter().map(Decimal::text).collect();
                f.write_str(&texts.join(","))
            }
            Steps::Auto => f.write_str(AUTO),
            Steps::None => f.write_str(NONE),
        }
    }
}

/// The step one row of a check was taken at.
#[derive(Clone, Debug, PartialEq)]
pub enum RowStep {
    /// A step of the grid.
    Fixed(Decimal),
    /// `--eps auto`: the median of the steps chosen per element
    /// ([`crate::numeric::auto`], `median_step`).
    AutoMedian(Decimal),
    /// No step (dual numbers).
    None,
}

impl RowStep {
    /// The step in the CSV's `eps` column: the fixed step or auto's median; `None` without one.
    pub fn decimal(&self) -> Option<&Decimal> {
        match self {
            RowStep::Fixed(h) | RowStep::AutoMedian(h) => Some(h),
            RowStep::None => None,
        }
    }

    /// [`RowStep::decimal`] rounded to f64; NaN without a step.
    pub fn to_f64(&self) -> f64 {
        self.decimal().map_or(f64::NAN, Decimal::to_f64)
    }

    /// Whether the step was `--eps auto`'s.
    pub fn is_auto(&self) -> bool {
        matches!(self, RowStep::AutoMedian(_))
    }

    /// The table's eps column: the fixed step ([`Decimal::label`]), `auto` or `none`.
    pub fn label(&self) -> String {
        match self {
            RowStep::Fixed(h) => h.label(),
            RowStep::AutoMedian(_) => AUTO.to_string(),
            RowStep::None => NONE.to_string(),
        }
    }

    /// The CSV's `eps` field: an empty field reads as no step, anything else as a fixed step
    /// (the CSV does not say whether a step was auto's median).
    ///
    /// # Errors
    /// [`Error::Value`] for a field that is neither empty nor a decimal number.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            "" => Ok(RowStep::None),
            t => Decimal::parse("step", t).map(RowStep::Fixed),
        }
    }
}

impl fmt::Display for RowStep {
    /// The CSV's `eps` field: the step's decimal, or nothing without a step.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decimal() {
            Some(h) => write!(f, "{h}"),
            None => Ok(()),
        }
    }
}

impl serde::Serialize for RowStep {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RowStep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        RowStep::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writing a parsed step list gives back its text: a grid, auto and none.
    #[test]
    fn steps_round_trip_through_their_text() {
        for text in ["1e-3,1e-4", "1,0.5,2.5E-2", "1e-3", "auto", "none"] {
            let steps = Steps::parse(text).unwrap();
            assert_eq!(steps.to_string(), text);
            assert_eq!(Steps::parse(&steps.to_string()).unwrap(), steps);
        }
        assert_eq!(Steps::parse(" auto ").unwrap(), Steps::Auto);
        assert_eq!(Steps::parse("none").unwrap(), Steps::None);
        assert_eq!(Steps::parse("1e-3, 1e-4").unwrap().fixed().len(), 2);
        assert!(Steps::parse("1e-3").unwrap().fixed()[0].text() == "1e-3");
    }

    /// A row's step written as the CSV field and read back: a fixed step, no step; auto's
    /// median reads back as the fixed step it is written as.
    #[test]
    fn row_steps_round_trip_through_the_csv_field() {
        let h = Decimal::parse("step", "1e-3").unwrap();
        for step in [RowStep::Fixed(h.clone()), RowStep::None] {
            assert_eq!(RowStep::parse(&step.to_string()).unwrap(), step);
        }
        assert_eq!(RowStep::None.to_string(), "");
        assert_eq!(RowStep::AutoMedian(h.clone()).to_string(), "1e-3");
        assert_eq!(RowStep::parse("1e-3").unwrap(), RowStep::Fixed(h));
        assert_eq!(RowStep::None.label(), "none");
        assert!(RowStep::None.to_f64().is_nan());
        assert!(RowStep::parse("auto").is_err());
    }

    /// A grid holds neither marker: not 0 (or any step that is not positive), not `auto` or
    /// `none`, not a decimal whose text is not its value; `auto` and `none` are not list items.
    #[test]
    fn a_grid_cannot_hold_the_markers() {
        let zero = Decimal::parse("step", "0").unwrap();
        let word = |w: &str| Decimal::from_rational(w, rug::Rational::from(1));
        for bad in [vec![zero], vec![word(AUTO)], vec![word(NONE)], vec![word("2")], vec![]] {
            assert!(StepGrid::new(bad.clone()).is_err(), "{bad:?}");
        }
        for bad in ["0", "-1e-3", "auto,1e-3", "1e-3,auto", "none,1e-3", "auto,auto", "", "nan"] {
            assert!(Steps::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Steps::parse("0").unwrap_err().to_string(), "invalid step \"0\": expected a positive number");
        assert_eq!(
            Steps::parse("auto,1e-3").unwrap_err().to_string(),
            "invalid step list \"auto,1e-3\": expected either auto alone or a list of steps, not both"
        );
    }
}
