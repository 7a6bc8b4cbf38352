//! One validation, at the edge: a check's raw choices (the model by name, its hidden width, the
//! loss's reduction, the tensors by name, the dtypes, the scheme, the steps, the truth, the
//! training) become a [`Plan`] the core trusts, or the one sentence saying what is wrong
//! ([`plan`], [`plan_with_reduction`]). The registry of the models `gradlab check --model` knows
//! lives here ([`registry`]): a model's file implements [`Registered`], and its line in
//! [`registry`] makes it a choice of `--model`. A plan runs on the [`Data`] its model is built on
//! (samples, or token sequences for `--model tokens`); [`Plan::accepts`] says whether given data
//! are, before anything runs.
//!
//! Every check function below takes what this module (or [`Checked::new`] for one dtype)
//! returns, and validates nothing again: a model's tensor is its own type, and a
//! [`Checked`] configuration was checked against its dtype.

use crate::check::{auto_error, check_model, none_error, scheme_error, CheckConfig, Checked, DTypeCheck};
use crate::cost::Shape;
use crate::error::{Error, Result};
use crate::exact::Decimal;
use crate::method::Steps;
use crate::model::registry::{Data, DataKind, Options, Registered, Visit};
use crate::model::{LinearModel, LinearTensor, MlpModel, Model as ModelTrait, TensorKind, TokenModel};
use crate::objective::Reduction;
use crate::scalar::DType;
use crate::tokens::weights::TokenReduction;
use crate::tokens::TokenProblem;
use crate::train::InputGrad;
use crate::watch::Watch;

/// The registry: every model `gradlab check --model` knows, a line each (a model with variants,
/// the MLP, gives a name per variant).
pub fn registry() -> Vec<Model> {
    let mut models = Vec::new();
    add::<LinearModel<'static>>(&mut models);
    add::<MlpModel<'static>>(&mut models);
    add::<TokenModel<'static>>(&mut models);
    models
}

/// The names of [`registry`]'s models, in its order.
pub fn model_names() -> Vec<&'static str> {
    registry().iter().map(|m| m.name).collect()
}

/// The model of the registry named `name`, with no options yet.
///
/// # Errors
/// [`Error::Value`] listing the names ([`model_names`]).
pub fn model_named(name: &str) -> Result<Model> {
    registry()
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::value("--model", name, crate::text_serde::choices(&model_names())))
}

/// A model's [`Registered::torch_shape`] for its `i`-th tensor on data of its own kind (`None`
/// for data of the other kind).
type TorchShape = fn(usize, Data<'_>, (usize, usize)) -> Option<Vec<usize>>;

/// A model of the registry, by name, with the options the command line gave it; its tensors are
/// indices into its tensor list.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// The name `--model` takes.
    pub name: &'static str,
    options: Options,
    mixed: bool,
    trains: bool,
    data: &'static str,
    check: fn(&Options) -> Result<()>,
    tensors: fn() -> Vec<(&'static str, bool)>,
    elements: fn(&Options, usize, (usize, usize, usize)) -> usize,
    budget: fn(&Options, usize, Shape) -> (Shape, LinearTensor),
    header: fn(&Options) -> String,
    torch_shape: TorchShape,
    accepts: fn(&Options, Data<'_>) -> Result<()>,
    run: fn(&Options, Data<'_>, usize, &Checked, &Watch) -> Result<DTypeCheck>,
}

impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        (self.name, self.options) == (other.name, other.options)
    }
}

/// `R`'s names as models of the registry.
fn add<R: Registered>(models: &mut Vec<Model>) {
    for (variant, &name) in R::NAMES.iter().enumerate() {
        models.push(Model {
            name,
            options: Options { variant, hidden: None, seed: 0, reduction: TokenReduction::Mean },
            mixed: R::MIXED,
            trains: R::TRAINS,
            data: R::Data::WHAT,
            check: R::check,
            tensors: || R::TENSORS.iter().map(|t| (t.name(), t.is_vector())).collect(),
            elements: |o, i, ndk| R::elements(o, R::TENSORS[i], ndk),
            budget: |o, i, shape| R::budget(o, R::TENSORS[i], shape),
            header: R::header,
            torch_shape: |i, data, dim| R::Data::of(data).map(|d| R::torch_shape(R::TENSORS[i], d, dim)),
            accepts: accepts::<R>,
            run: run::<R>,
        });
    }
}

/// `data` as the kind `R` is built on.
///
/// # Errors
/// [`Error::Usage`] for data of the other kind.
fn data_of<'a, R: Registered>(o: &Options, data: Data<'a>) -> Result<&'a R::Data> {
    R::Data::of(data).ok_or_else(|| {
        Error::Usage(format!(
            "--model {} is built on {}, and the data given are {}",
            R::NAMES[o.variant],
            R::Data::WHAT,
            data.what()
        ))
    })
}

/// Whether `R` can be built on `data` with the options `o` ([`Plan::accepts`]).
fn accepts<R: Registered>(o: &Options, data: Data<'_>) -> Result<()> {
    /// Builds the model and does nothing with it.
    struct Nothing;
    impl Visit for Nothing {
        type Out = ();
        fn visit<M: ModelTrait>(self, _: &M, _: M::Tensor) {}
    }
    R::visit(o, data_of::<R>(o, data)?, R::TENSORS[0], Nothing)
}

/// Checks `R`'s `i`-th tensor on `data` by [`check_model`].
fn run<R: Registered>(o: &Options, data: Data<'_>, i: usize, checked: &Checked, watch: &Watch) -> Result<DTypeCheck> {
    /// The check as a computation over any model.
    struct Check<'c> {
        checked: &'c Checked,
        watch: &'c Watch,
    }
    impl Visit for Check<'_> {
        type Out = Result<DTypeCheck>;
        fn visit<M: ModelTrait>(self, model: &M, tensor: M::Tensor) -> Self::Out {
            check_model(model, tensor, self.checked, self.watch)
        }
    }
    R::visit(o, data_of::<R>(o, data)?, R::TENSORS[i], Check { checked, watch })?
}

impl Model {
    /// The model with `hidden` (a hidden width, for a model that has one) and `seed` (its own
    /// parameters' draw), checked.
    ///
    /// # Errors
    /// [`Error::Value`] for an option the model does not take or out of range (a hidden width
    /// with the linear model or the token model, one of 0 or above
    /// [`crate::objective::mlp::MAX_HIDDEN`]).
    pub fn with(self, hidden: Option<usize>, seed: u64) -> Result<Self> {
        let options = Options { hidden, seed, ..self.options };
        (self.check)(&options)?;
        Ok(Model { options, ..self })
    }

    /// The model with its loss reduced by `reduction` (mean unless told), checked.
    ///
    /// # Errors
    /// [`Error::Value`] for sequence-mean with a model of samples.
    pub fn reduced_by(self, reduction: TokenReduction) -> Result<Self> {
        let options = Options { reduction, ..self.options };
        (self.check)(&options)?;
        Ok(Model { options, ..self })
    }

    /// The names of the model's tensors, as `--wrt` takes them.
    pub fn tensor_names(&self) -> Vec<&'static str> {
        (self.tensors)().into_iter().map(|(n, _)| n).collect()
    }

    /// Whether a mixed dtype S+C can run on the model.
    pub fn takes_mixed(&self) -> bool {
        self.mixed
    }

    /// Whether the model trains before the check ([`Registered::TRAINS`]).
    pub fn trains(&self) -> bool {
        self.trains
    }

    /// Whether the model is built on token sequences (a [`TokenProblem`]), not on samples.
    pub fn on_tokens(&self) -> bool {
        self.data == TokenProblem::WHAT
    }

    /// What a check's header says of the model (nothing for the linear model; the MLP's name and
    /// hidden width).
    pub fn header(&self) -> String {
        (self.header)(&self.options)
    }

    /// Checks the model's tensor named `tensor` on `data` (the model built on it: a
    /// [`crate::problem::Problem`] or a [`TokenProblem`]) by [`check_model`], with one dtype's
    /// checked configuration.
    ///
    /// # Errors
    /// [`Error::Value`] for a tensor the model does not have; [`Error::Usage`] for data the model
    /// is not built on or refuses ([`Registered::visit`]); [`Error::Interrupted`] when the watch
    /// was stopped.
    pub fn check<'d>(
        &self,
        data: impl Into<Data<'d>>,
        tensor: &str,
        checked: &Checked,
        watch: &Watch,
    ) -> Result<DTypeCheck> {
        let names = self.tensor_names();
        let i = names.iter().position(|n| *n == tensor).ok_or_else(|| {
            Error::value("tensor", tensor, format!("one of {} (what model {} has)", names.join(", "), self.name))
        })?;
        (self.run)(&self.options, data.into(), i, checked, watch)
    }
}

/// Every tensor name some model of the registry has, in the order `--wrt`'s help lists them.
pub fn tensor_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for m in registry() {
        for n in m.tensor_names() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// `name` if some model of the registry has a tensor of that name (surrounding spaces ignored).
///
/// # Errors
/// [`Error::Value`] listing every name ([`tensor_names`]).
pub fn tensor_name(name: &str) -> Result<&'static str> {
    let names = tensor_names();
    names
        .iter()
        .find(|n| **n == name.trim())
        .copied()
        .ok_or_else(|| Error::value("--wrt", name, crate::text_serde::choices(&names)))
}

/// A check's raw choices, as the command line gives them (the loss's reduction is
/// `cfg.train.reduction`, or [`plan_with_reduction`]'s for sequence-mean).
#[derive(Clone, Debug)]
pub struct Choices<'a> {
    /// The model (`--model`, [`model_named`]).
    pub model: Model,
    /// The hidden width (`--hidden`), if given.
    pub hidden: Option<usize>,
    /// The seed a model's own parameters are drawn from (the MLP's layers; the token model has
    /// none).
    pub seed: u64,
    /// The tensors by name (`--wrt`), at least one.
    pub wrts: &'a [String],
    /// The dtypes (`--dtype`), at least one.
    pub dtypes: &'a [DType],
    /// The steps typed (`--eps`), or `None` for each dtype's default steps
    /// ([`crate::policy::default_steps`]).
    pub steps: Option<&'a Steps>,
    /// The rest of the settings (scheme, truth, training, ...); its `steps` are not read.
    pub cfg: &'a CheckConfig,
}

/// A check validated: the model with its tensors, and for each dtype its [`Checked`]
/// configuration (with the steps it takes) and the default steps it left out.
#[derive(Clone, Debug)]
pub struct Plan {
    model: Model,
    tensors: Vec<usize>,
    checked: Vec<Checked>,
    left_out: Vec<Vec<(Decimal, crate::policy::StepRefusal)>>,
}

/// The one validation of a check's choices, with the loss reduced by `c.cfg.train.reduction`
/// ([`plan_with_reduction`]).
///
/// # Errors
/// As [`plan_with_reduction`].
pub fn plan(c: &Choices<'_>) -> Result<Plan> {
    let reduction = match c.cfg.train.reduction {
        Reduction::Mean => TokenReduction::Mean,
        Reduction::Sum => TokenReduction::Sum,
    };
    plan_with_reduction(c, reduction)
}

/// The one validation of a check's choices, the loss reduced by `reduction` (mean, sum, or
/// sequence-mean for the token model; it replaces `c.cfg.train.reduction`), in the order the
/// command line's errors are said: the model's options ([`Model::with`]: the hidden width;
/// [`Model::reduced_by`]: the reduction), each tensor the model has, the scheme against the dtypes ([`scheme_error`]: the
/// complex step and dual numbers with a mixed dtype), a mixed dtype with a model that does not
/// take one, training asked of a model that does not train (epochs, or x.grad accumulated over
/// them), the steps against the scheme (`auto` with a scheme that is not a stencil,
/// [`auto_error`]; `none` with a scheme that takes a step, [`none_error`]); then each dtype's
/// configuration ([`Checked::new`]: its steps and the truth's precision).
///
/// # Errors
/// [`Error::Usage`] for choices that contradict each other (a wrong `--hidden`, `--reduction` or
/// `--wrt`, a scheme or dtype the model or the dtypes cannot run, `--epochs` above 0 with the
/// token model); [`Error::Value`] for a step or a truth precision a dtype refuses.
pub fn plan_with_reduction(c: &Choices<'_>, reduction: TokenReduction) -> Result<Plan> {
    let usage = |e: Error| Error::Usage(e.to_string());
    let model = c.model.with(c.hidden, c.seed).and_then(|m| m.reduced_by(reduction)).map_err(usage)?;
    // Each name's tensor, before anything else is said.
    let tensors = tensors_of(&model, c.wrts)?;
    if let Some(e) = scheme_error(c.cfg.scheme, c.dtypes) {
        return Err(e);
    }
    if let Some(dt) = c.dtypes.iter().find(|d| d.storage().is_some()).filter(|_| !model.takes_mixed()) {
        let mixed: Vec<&str> = registry().iter().filter(|m| m.takes_mixed()).map(|m| m.name).collect();
        return Err(Error::Usage(format!(
            "invalid --dtype {dt} with --model {}: mixed precision stores where the linear model stores, so it \
             needs --model {}",
            model.name,
            crate::text_serde::choices(&mixed)
        )));
    }
    if !model.trains() {
        let train = &c.cfg.train;
        if train.epochs > 0 {
            return Err(Error::Usage(format!(
                "invalid --epochs {} with --model {}: the model does not train (it is checked at the parameters \
                 given), so it takes --epochs 0",
                train.epochs, model.name
            )));
        }
        if train.input_grad == InputGrad::Accumulate {
            return Err(Error::Usage(format!(
                "invalid --input-grad accumulate with --model {}: x.grad accumulates over epochs of training, and \
                 the model does not train",
                model.name
            )));
        }
    }
    match c.steps {
        Some(Steps::Auto) => {
            if let Some(e) = auto_error(c.cfg.scheme) {
                return Err(e);
            }
        }
        Some(Steps::None) if c.cfg.scheme.has_step() => return Err(none_error(c.cfg.scheme)),
        _ => {}
    }
    let mut checked = Vec::with_capacity(c.dtypes.len());
    let mut left_out = Vec::with_capacity(c.dtypes.len());
    for &dt in c.dtypes {
        let (steps, out) = match c.steps {
            Some(steps) => (steps.clone(), Vec::new()),
            None => {
                let (usable, out) = crate::policy::default_steps(dt);
                (Steps::grid(usable)?, out)
            }
        };
        // The training's reduction is the loss's for a model of samples (the token model does not
        // train).
        let train_reduction = model.options.sample_reduction(model.name).unwrap_or(c.cfg.train.reduction);
        let train = crate::train::TrainConfig { reduction: train_reduction, ..c.cfg.train.clone() };
        checked.push(Checked::new(CheckConfig { steps, train, ..c.cfg.clone() }, dt)?);
        left_out.push(out);
    }
    Ok(Plan { model, tensors, checked, left_out })
}

/// The indices of the model's tensors named by `wrts`, in their order.
///
/// # Errors
/// [`Error::Usage`] naming the first name `model` does not have, and its choices.
fn tensors_of(model: &Model, wrts: &[String]) -> Result<Vec<usize>> {
    let names = model.tensor_names();
    wrts.iter()
        .map(|w| {
            names.iter().position(|n| *n == w.trim()).ok_or_else(|| {
                let choices = format!("one of {} (what --model {} has)", names.join(", "), model.name);
                Error::Usage(Error::value("--wrt", w.as_str(), choices).to_string())
            })
        })
        .collect()
}

impl Plan {
    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// How many tensors are checked.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether no tensor is checked (never, for a plan of [`plan`]).
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Each dtype's checked configuration, in the order of the choices' dtypes.
    pub fn checked(&self) -> &[Checked] {
        &self.checked
    }

    /// The default steps the `j`-th dtype left out (none when the steps were typed), each with
    /// why.
    pub fn left_out(&self, j: usize) -> &[(Decimal, crate::policy::StepRefusal)] {
        &self.left_out[j]
    }

    /// The name of the `i`-th tensor (as the rows' `wrt` carry it).
    pub fn name(&self, i: usize) -> &'static str {
        (self.model.tensors)()[self.tensors[i]].0
    }

    /// Whether the `i`-th tensor is 1-D in PyTorch (a bias), though held as one row.
    pub fn is_vector(&self, i: usize) -> bool {
        (self.model.tensors)()[self.tensors[i]].1
    }

    /// The number of elements of the `i`-th tensor for data of n samples (or positions), d
    /// features and k classes ([`Data::shape`]).
    pub fn elements(&self, i: usize, n_d_k: (usize, usize, usize)) -> usize {
        (self.model.elements)(&self.model.options, self.tensors[i], n_d_k)
    }

    /// What the memory and work estimates ([`crate::budget`], which know the linear model) take
    /// for the `i`-th tensor on data of `shape` ([`Data::shape`], [`Registered::budget`]).
    pub fn budget(&self, i: usize, shape: Shape) -> (Shape, LinearTensor) {
        (self.model.budget)(&self.model.options, self.tensors[i], shape)
    }

    /// The shape PyTorch gives the `i`-th tensor on `data` ([`Registered::torch_shape`]: a bias
    /// 1-D, the token model's x B x T x d), for its 2-D gradient of `dim` = (rows, columns).
    pub fn torch_shape<'d>(&self, i: usize, data: impl Into<Data<'d>>, dim: (usize, usize)) -> Vec<usize> {
        let vector = self.is_vector(i);
        (self.model.torch_shape)(self.tensors[i], data.into(), dim).unwrap_or_else(|| match vector {
            true => vec![dim.1],
            false => vec![dim.0, dim.1],
        })
    }

    /// Whether the plan's model can be built on `data` (a [`crate::problem::Problem`] or a
    /// [`TokenProblem`]), asked once the data are loaded and before anything runs.
    ///
    /// # Errors
    /// [`Error::Usage`] for data of the other kind, or data the model refuses with its options
    /// (sequence-mean with a sequence that has no counted token).
    pub fn accepts<'d>(&self, data: impl Into<Data<'d>>) -> Result<()> {
        (self.model.accepts)(&self.model.options, data.into())
    }

    /// Checks the `i`-th tensor on `data` (a [`crate::problem::Problem`], or a [`TokenProblem`]
    /// for the token model) with one of the plan's configurations ([`Plan::checked`]), by
    /// [`check_model`] on the model built on the data (the MLP's layers drawn from its seed,
    /// trained on the problem's x and t). The rows are the same kind for every model.
    ///
    /// # Errors
    /// [`Error::Usage`] as [`Plan::accepts`]; [`Error::Interrupted`], saying where the check
    /// stopped, when the watch was stopped.
    pub fn run<'d>(&self, data: impl Into<Data<'d>>, i: usize, checked: &Checked, watch: &Watch) -> Result<DTypeCheck> {
        (self.model.run)(&self.model.options, data.into(), self.tensors[i], checked, watch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_the_registry_is_found_and_a_wrong_one_lists_them() {
        assert_eq!(model_names(), ["linear", "mlp-tanh", "mlp-relu", "tokens"]);
        for name in model_names() {
            assert_eq!(model_named(name).unwrap().name, name);
        }
        let e = model_named("mlp").unwrap_err().to_string();
        assert!(e.contains("mlp") && e.contains("linear, mlp-tanh, mlp-relu or tokens"), "{e}");
    }

    #[test]
    fn each_model_checks_its_own_options_and_says_what_it_is() {
        let linear = model_named("linear").unwrap();
        assert!(linear.with(Some(4), 1).unwrap_err().to_string().contains("no hidden width"));
        assert_eq!(linear.with(None, 1).unwrap().header(), "");
        assert!(linear.takes_mixed());
        let relu = model_named("mlp-relu").unwrap();
        assert!(relu.with(Some(0), 1).is_err());
        assert_eq!(relu.with(Some(5), 1).unwrap().header(), " model=mlp-relu H=5");
        assert!(!relu.takes_mixed());
        assert!(relu.tensor_names().contains(&"hidden-weight"));
        assert!(!linear.tensor_names().contains(&"hidden-weight"));
        // The union, each name once, in the registry's order.
        assert_eq!(tensor_names(), ["input", "weight", "bias", "logits", "hidden-weight", "hidden-bias"]);
    }

    #[test]
    fn a_plan_knows_each_tensors_size_and_budget_through_its_model() {
        let cfg = CheckConfig::seed(crate::method::Scheme::Central, Steps::parse("1e-3").unwrap());
        let wrts = ["hidden-bias".to_string(), "weight".to_string()];
        let c = Choices {
            model: model_named("mlp-tanh").unwrap(),
            hidden: Some(6),
            seed: 1,
            wrts: &wrts,
            dtypes: &[DType::F64],
            steps: None,
            cfg: &cfg,
        };
        let p = plan(&c).unwrap();
        assert_eq!((p.len(), p.name(0), p.name(1)), (2, "hidden-bias", "weight"));
        assert!(p.is_vector(0) && !p.is_vector(1));
        assert_eq!((p.elements(0, (10, 4, 3)), p.elements(1, (10, 4, 3))), (6, 18));
        assert_eq!(p.budget(1, Shape { n: 10, d: 4, k: 3 }), (Shape { n: 10, d: 4, k: 6 }, LinearTensor::Weight));
        let bad = ["hidden-bias".to_string()];
        let e = plan(&Choices { model: model_named("linear").unwrap(), hidden: None, wrts: &bad, ..c }).unwrap_err();
        assert!(matches!(e, Error::Usage(_)) && e.to_string().contains("what --model linear has"), "{e}");
    }
}
