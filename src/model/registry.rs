//! What `gradlab check --model` needs of a model beyond [`Model`]: its names, the options it
//! takes, the data it is built on, the sizes of its tensors, and how to build it on its data
//! ([`Registered`]). Each model implements it in its own file; [`crate::plan::registry`] lists
//! each in one line.
//!
//! A check runs on [`Data`]: samples with a target each (a [`Problem`]: the linear model, the
//! MLP) or token sequences (a [`TokenProblem`]: the token model). A model names the kind it is
//! built on ([`Registered::Data`], a [`DataKind`]); the plan refuses data of the other kind with
//! one sentence.

use super::{LinearTensor, Model, TensorKind};
use crate::cost::Shape;
use crate::error::{Error, Result};
use crate::objective::Reduction;
use crate::problem::Problem;
use crate::tokens::weights::TokenReduction;
use crate::tokens::TokenProblem;

/// What the command line gives a model of the registry besides the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The variant chosen by name: an index into [`Registered::NAMES`] (the MLP's activation).
    pub variant: usize,
    /// The hidden width (`--hidden`), if given.
    pub hidden: Option<usize>,
    /// The seed the model's own parameters are drawn from (the problem's seed).
    pub seed: u64,
    /// The loss's reduction (`--reduction`): mean or sum for every model, sequence-mean for a
    /// model of token sequences.
    pub reduction: TokenReduction,
}

impl Options {
    /// The reduction of a model of samples: mean or sum.
    ///
    /// # Errors
    /// [`Error::Value`] for sequence-mean, which needs sequences (`model` names the model in the
    /// sentence).
    pub fn sample_reduction(&self, model: &str) -> Result<Reduction> {
        match self.reduction {
            TokenReduction::Mean => Ok(Reduction::Mean),
            TokenReduction::Sum => Ok(Reduction::Sum),
            TokenReduction::SequenceMean => Err(Error::value(
                "--reduction",
                "sequence-mean",
                format!(
                    "mean or sum with --model {model}: its data are samples, not sequences (sequence-mean needs \
                     --model tokens)"
                ),
            )),
        }
    }
}

/// The data a check runs on.
#[derive(Clone, Copy, Debug)]
pub enum Data<'a> {
    /// Samples with a target each.
    Samples(&'a Problem),
    /// Token sequences, some positions ignored.
    Tokens(&'a TokenProblem),
}

impl<'a> From<&'a Problem> for Data<'a> {
    fn from(p: &'a Problem) -> Self {
        Data::Samples(p)
    }
}

impl<'a> From<&'a TokenProblem> for Data<'a> {
    fn from(p: &'a TokenProblem) -> Self {
        Data::Tokens(p)
    }
}

impl Data<'_> {
    /// What the data are, as a sentence names them.
    pub fn what(&self) -> &'static str {
        match self {
            Data::Samples(_) => Problem::WHAT,
            Data::Tokens(_) => TokenProblem::WHAT,
        }
    }

    /// The size the memory and work estimates and the tensors' sizes take: n samples, or the
    /// B T positions of token sequences (every position has an input row); d features; k classes.
    pub fn shape(&self) -> Shape {
        match self {
            Data::Samples(p) => Shape::of(p),
            Data::Tokens(p) => Shape::of_tokens(p),
        }
    }
}

/// A kind of data a model of the registry is built on: [`Problem`] or [`TokenProblem`].
pub trait DataKind {
    /// What the data are, as a sentence names them ("samples", "token sequences").
    const WHAT: &'static str;
    /// `data` when it is of this kind.
    fn of<'a>(data: Data<'a>) -> Option<&'a Self>;
}

impl DataKind for Problem {
    const WHAT: &'static str = "samples";
    fn of<'a>(data: Data<'a>) -> Option<&'a Self> {
        match data {
            Data::Samples(p) => Some(p),
            Data::Tokens(_) => None,
        }
    }
}

impl DataKind for TokenProblem {
    const WHAT: &'static str = "token sequences";
    fn of<'a>(data: Data<'a>) -> Option<&'a Self> {
        match data {
            Data::Tokens(p) => Some(p),
            Data::Samples(_) => None,
        }
    }
}

/// A computation over any model and one of its tensors, which [`Registered::visit`] hands the
/// model it builds (the check is one, in [`crate::plan`]).
pub trait Visit {
    /// What the computation returns.
    type Out;
    /// Runs on `model` and its tensor `tensor`.
    fn visit<M: Model>(self, model: &M, tensor: M::Tensor) -> Self::Out;
}

/// A model `gradlab check --model` can build on its data. Implemented on the model's type (the
/// registry names it with any lifetime, `LinearModel<'static>`; [`Registered::visit`] builds the
/// model on the data it is given).
pub trait Registered {
    /// The model's tensors.
    type Tensor: TensorKind;
    /// The data the model is built on.
    type Data: DataKind;
    /// The names `--model` takes, one per variant (the MLP has one per activation).
    const NAMES: &'static [&'static str];
    /// The tensors `--wrt` can name, in the order `--help` lists them.
    const TENSORS: &'static [Self::Tensor];
    /// Whether a mixed dtype S+C can run (the model marks its storage points, as the linear
    /// model does).
    const MIXED: bool = false;
    /// Whether the model trains before the check ([`Model::train`]); one that does not is
    /// checked at the parameters given, and the plan refuses epochs of training for it.
    const TRAINS: bool = false;

    /// The options checked.
    ///
    /// # Errors
    /// [`crate::Error::Value`] naming an option the model does not take or a value out of range.
    fn check(options: &Options) -> Result<()>;

    /// The number of elements of `tensor` on data of n samples (or positions), d features and k
    /// classes ([`Data::shape`]).
    fn elements(options: &Options, tensor: Self::Tensor, n_d_k: (usize, usize, usize)) -> usize;

    /// What the memory and work estimates ([`crate::budget`], which know the linear model) take
    /// for `tensor` on data of `shape` ([`Data::shape`]): a linear model at least as large.
    fn budget(options: &Options, tensor: Self::Tensor, shape: Shape) -> (Shape, LinearTensor);

    /// What a check's header says of the model beyond its dtype and tensor (nothing by default).
    fn header(options: &Options) -> String {
        let _ = options;
        String::new()
    }

    /// The shape PyTorch gives `tensor` on `data` (the files `--save-grads` writes), for the 2-D
    /// gradient of `rows` x `cols` the check holds: by default `[cols]` for a vector (a bias),
    /// `[rows, cols]` otherwise.
    fn torch_shape(tensor: Self::Tensor, data: &Self::Data, (rows, cols): (usize, usize)) -> Vec<usize> {
        let _ = data;
        match tensor.is_vector() {
            true => vec![cols],
            false => vec![rows, cols],
        }
    }

    /// Builds the model on `data` with `options` (its reduction among them), and runs `v` on it
    /// and its `tensor`.
    ///
    /// # Errors
    /// The model's own refusal of the data (the token model's sequence-mean with a sequence
    /// without counted tokens: [`Error::Usage`]).
    fn visit<V: Visit>(options: &Options, data: &Self::Data, tensor: Self::Tensor, v: V) -> Result<V::Out>;
}
