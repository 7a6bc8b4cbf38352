//! What `gradlab check --model` needs of a model beyond [`Model`]: its names, the options it
//! takes, the sizes of its tensors, and how to build it on a problem ([`Registered`]). Each
//! model implements it in its own file; [`crate::plan::registry`] lists each in one line.

use super::{LinearTensor, Model, TensorKind};
use crate::cost::Shape;
use crate::error::Result;
use crate::objective::Reduction;
use crate::problem::Problem;

/// What the command line gives a model of the registry besides the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The variant chosen by name: an index into [`Registered::NAMES`] (the MLP's activation).
    pub variant: usize,
    /// The hidden width (`--hidden`), if given.
    pub hidden: Option<usize>,
    /// The seed the model's own parameters are drawn from (the problem's seed).
    pub seed: u64,
}

/// A computation over any model and one of its tensors, which [`Registered::visit`] hands the
/// model it builds (the check is one, in [`crate::plan`]).
pub trait Visit {
    /// What the computation returns.
    type Out;
    /// Runs on `model` and its tensor `tensor`.
    fn visit<M: Model>(self, model: &M, tensor: M::Tensor) -> Self::Out;
}

/// A model `gradlab check --model` can build on a problem. Implemented on the model's type (the
/// registry names it with any lifetime, `LinearModel<'static>`; [`Registered::visit`] builds the
/// model on the problem it is given).
pub trait Registered {
    /// The model's tensors.
    type Tensor: TensorKind;
    /// The names `--model` takes, one per variant (the MLP has one per activation).
    const NAMES: &'static [&'static str];
    /// The tensors `--wrt` can name, in the order `--help` lists them.
    const TENSORS: &'static [Self::Tensor];
    /// Whether a mixed dtype S+C can run (the model marks its storage points, as the linear
    /// model does).
    const MIXED: bool = false;

    /// The options checked.
    ///
    /// # Errors
    /// [`crate::Error::Value`] naming an option the model does not take or a value out of range.
    fn check(options: &Options) -> Result<()>;

    /// The number of elements of `tensor` on a problem of n samples, d features and k classes.
    fn elements(options: &Options, tensor: Self::Tensor, n_d_k: (usize, usize, usize)) -> usize;

    /// What the memory and work estimates ([`crate::budget`], which know the linear model) take
    /// for `tensor` on a problem of `shape`: a linear model at least as large.
    fn budget(options: &Options, tensor: Self::Tensor, shape: Shape) -> (Shape, LinearTensor);

    /// What a check's header says of the model beyond its dtype and tensor (nothing by default).
    fn header(options: &Options) -> String {
        let _ = options;
        String::new()
    }

    /// Builds the model on `problem` with the loss reduced by `reduction`, and runs `v` on it and
    /// its `tensor`.
    fn visit<V: Visit>(
        options: &Options,
        problem: &Problem,
        reduction: Reduction,
        tensor: Self::Tensor,
        v: V,
    ) -> V::Out;
}
