//! One validation, at the edge: a check's raw choices (the model by name, its hidden width, the
//! tensors by name, the dtypes, the scheme, the steps, the truth) become a [`Plan`] the core
//! trusts, or the one sentence saying what is wrong ([`plan`]). The registry of the models
//! `gradlab check --model` knows ([`ModelKind`]) lives here: adding one is its line in
//! [`ModelKind`] and its arm in [`Model::new`], [`Plan::run`] and the match of [`Tensors`].
//!
//! Every check function below takes what this module (or [`Checked::new`] for one dtype)
//! returns, and validates nothing again: a model's tensor is its own type, and a
//! [`Checked`] configuration was checked against its dtype.

use crate::check::{auto_error, check_model, none_error, scheme_error, CheckConfig, Checked, DTypeCheck};
use crate::cost::Shape;
use crate::error::{Error, Result};
use crate::exact::Decimal;
use crate::method::Steps;
use crate::model::{LinearModel, LinearTensor, MlpModel, MlpTensor, TensorKind};
use crate::objective::mlp;
use crate::problem::Problem;
use crate::scalar::DType;
use crate::watch::Watch;

crate::named_enum! {
    /// The model a check differentiates (`--model`): the registry of models that train like the
    /// seed.
    pub enum ModelKind("--model") {
        /// The seed's linear layer with softmax cross-entropy.
        Linear = "linear",
        /// A one-hidden-layer MLP with tanh ([`mlp`]).
        MlpTanh = "mlp-tanh",
        /// A one-hidden-layer MLP with relu ([`mlp`]).
        MlpRelu = "mlp-relu",
    }
}

/// A model of the registry with its settings: the linear layer, or an MLP of a hidden width whose
/// layers are drawn from a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// The seed's linear model (the problem's weight and bias).
    Linear,
    /// The MLP ([`mlp::MlpSpec`]).
    Mlp(mlp::MlpSpec),
}

impl Model {
    /// The model of `kind`; `hidden` (the MLP's width, [`mlp::DEFAULT_HIDDEN`] when `None`) and
    /// `seed` (its layers' draw) are for the MLP only.
    ///
    /// # Errors
    /// [`Error::Value`] for a hidden width given with the linear model, or one of 0 or above
    /// [`mlp::MAX_HIDDEN`].
    pub fn new(kind: ModelKind, hidden: Option<usize>, seed: u64) -> Result<Self> {
        let act = match kind {
            ModelKind::Linear => {
                return match hidden {
                    Some(h) => Err(Error::value(
                        "--hidden",
                        h.to_string(),
                        "no hidden width with --model linear (it has no hidden layer; use mlp-tanh or mlp-relu)",
                    )),
                    None => Ok(Model::Linear),
                }
            }
            ModelKind::MlpTanh => mlp::Activation::Tanh,
            ModelKind::MlpRelu => mlp::Activation::Relu,
        };
        let hidden = hidden.unwrap_or(mlp::DEFAULT_HIDDEN);
        if hidden == 0 || hidden > mlp::MAX_HIDDEN {
            return Err(Error::value(
                "--hidden",
                hidden.to_string(),
                format!("a hidden width from 1 to {}", mlp::MAX_HIDDEN),
            ));
        }
        Ok(Model::Mlp(mlp::MlpSpec { act, hidden, seed }))
    }

    /// The model's name as `--model` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Model::Linear => ModelKind::Linear.name(),
            Model::Mlp(s) => match s.act {
                mlp::Activation::Tanh => ModelKind::MlpTanh.name(),
                mlp::Activation::Relu => ModelKind::MlpRelu.name(),
            },
        }
    }

    /// The names of the model's tensors, as `--wrt` takes them.
    pub fn tensor_names(self) -> Vec<&'static str> {
        match self {
            Model::Linear => LinearTensor::ALL.iter().map(|t| t.name()).collect(),
            Model::Mlp(_) => MlpTensor::ALL.iter().map(|t| t.name()).collect(),
        }
    }
}

/// Every tensor name some model of the registry has, in the order `--wrt`'s help lists them.
pub fn tensor_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = LinearTensor::ALL.iter().map(|t| t.name()).collect();
    names.extend(MlpTensor::ALL.iter().map(|t| t.name()).filter(|n| !names.contains(n)).collect::<Vec<_>>());
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

/// The model's tensors a plan checks, each model's in its own type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tensors {
    /// The linear model's.
    Linear(Vec<LinearTensor>),
    /// The MLP's, with its settings.
    Mlp(mlp::MlpSpec, Vec<MlpTensor>),
}

/// A check's raw choices, as the command line gives them.
#[derive(Clone, Debug)]
pub struct Choices<'a> {
    /// The model (`--model`).
    pub model: ModelKind,
    /// The MLP's hidden width (`--hidden`), if given.
    pub hidden: Option<usize>,
    /// The seed the MLP's layers are drawn from.
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
    tensors: Tensors,
    checked: Vec<Checked>,
    left_out: Vec<Vec<(Decimal, crate::policy::StepRefusal)>>,
}

/// The one validation of a check's choices, in the order the command line's errors are said:
/// the model and its hidden width ([`Model::new`]), each tensor the model has, the scheme against
/// the dtypes ([`scheme_error`]: the complex step and dual numbers with a mixed dtype), the steps
/// against the scheme (`auto` with a scheme that is not a stencil, [`auto_error`]; `none` with a
/// scheme that takes a step, [`none_error`]), a mixed dtype with a model other than the linear one;
/// then each dtype's configuration ([`Checked::new`]: its steps and the truth's precision).
///
/// # Errors
/// [`Error::Usage`] for choices that contradict each other (a wrong `--hidden` or `--wrt`, a
/// scheme or dtype the model or the dtypes cannot run); [`Error::Value`] for a step or a truth
/// precision a dtype refuses.
pub fn plan(c: &Choices<'_>) -> Result<Plan> {
    let usage = |e: Error| Error::Usage(e.to_string());
    let model = Model::new(c.model, c.hidden, c.seed).map_err(usage)?;
    // Each name's tensor in the model's own type, before anything else is said.
    let tensors = match model {
        Model::Linear => Tensors::Linear(tensors_of(LinearTensor::ALL, c.wrts, model)?),
        Model::Mlp(spec) => Tensors::Mlp(spec, tensors_of(MlpTensor::ALL, c.wrts, model)?),
    };
    if let Some(e) = scheme_error(c.cfg.scheme, c.dtypes) {
        return Err(e);
    }
    if let Some(dt) = c.dtypes.iter().find(|d| d.storage().is_some()).filter(|_| model != Model::Linear) {
        return Err(Error::Usage(format!(
            "invalid --dtype {dt} with --model {}: mixed precision stores where the linear model stores, so it \
             needs --model linear",
            model.name()
        )));
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
        checked.push(Checked::new(CheckConfig { steps, ..c.cfg.clone() }, dt)?);
        left_out.push(out);
    }
    Ok(Plan { model, tensors, checked, left_out })
}

/// The tensors of `all` named by `wrts`, in their order.
///
/// # Errors
/// [`Error::Usage`] naming the first name `model` does not have, and its choices.
fn tensors_of<T: TensorKind>(all: &[T], wrts: &[String], model: Model) -> Result<Vec<T>> {
    wrts.iter()
        .map(|w| {
            all.iter().copied().find(|t| t.name() == w.trim()).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|t| t.name()).collect();
                let choices = format!("one of {} (what --model {} has)", names.join(", "), model.name());
                Error::Usage(Error::value("--wrt", w.as_str(), choices).to_string())
            })
        })
        .collect()
}

impl Plan {
    /// The model.
    pub fn model(&self) -> Model {
        self.model
    }

    /// The tensors checked, in the model's own type.
    pub fn tensors(&self) -> &Tensors {
        &self.tensors
    }

    /// How many tensors are checked.
    pub fn len(&self) -> usize {
        match &self.tensors {
            Tensors::Linear(v) => v.len(),
            Tensors::Mlp(_, v) => v.len(),
        }
    }

    /// Whether no tensor is checked (never, for a plan of [`plan`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        match &self.tensors {
            Tensors::Linear(v) => v[i].name(),
            Tensors::Mlp(_, v) => v[i].name(),
        }
    }

    /// Whether the `i`-th tensor is 1-D in PyTorch (a bias), though held as one row.
    pub fn is_vector(&self, i: usize) -> bool {
        match &self.tensors {
            Tensors::Linear(v) => v[i].is_vector(),
            Tensors::Mlp(_, v) => v[i].is_vector(),
        }
    }

    /// The number of elements of the `i`-th tensor for a problem of n samples, d features and k
    /// classes.
    pub fn elements(&self, i: usize, (n, d, k): (usize, usize, usize)) -> usize {
        match &self.tensors {
            Tensors::Linear(v) => v[i].shape(n, d, k).iter().product(),
            Tensors::Mlp(spec, v) => {
                let h = spec.hidden;
                match v[i] {
                    MlpTensor::Input => n * d,
                    MlpTensor::Logits => n * k,
                    MlpTensor::Weight => k * h,
                    MlpTensor::Bias => k,
                    MlpTensor::HiddenWeight => h * d,
                    MlpTensor::HiddenBias => h,
                }
            }
        }
    }

    /// What the memory and work estimates ([`crate::budget`], which know the linear model) take
    /// for the `i`-th tensor on a problem of `shape`: the linear model's, or for the MLP a linear
    /// model with max(k, H) classes (its tensors are at most that large), the hidden layer's
    /// weight and bias estimated as the weight and bias.
    pub fn budget(&self, i: usize, shape: Shape) -> (Shape, LinearTensor) {
        match &self.tensors {
            Tensors::Linear(v) => (shape, v[i]),
            Tensors::Mlp(spec, v) => {
                let wide = Shape { k: shape.k.max(spec.hidden), ..shape };
                let like = match v[i] {
                    MlpTensor::Input => LinearTensor::Input,
                    MlpTensor::Weight | MlpTensor::HiddenWeight => LinearTensor::Weight,
                    MlpTensor::Bias | MlpTensor::HiddenBias => LinearTensor::Bias,
                    MlpTensor::Logits => LinearTensor::Logits,
                };
                (wide, like)
            }
        }
    }

    /// Checks the `i`-th tensor on `problem` with one of the plan's configurations
    /// ([`Plan::checked`]), by [`check_model`]: the linear model, or the MLP (its layers drawn
    /// from its spec's seed, trained on the problem's x and t; every scheme by the per-element
    /// engine [`crate::numeric::generic`]). The rows are the same kind for every model.
    ///
    /// # Errors
    /// [`Error::Interrupted`], saying where the check stopped, when the watch was stopped.
    pub fn run(&self, problem: &Problem, i: usize, checked: &Checked, watch: &Watch) -> Result<DTypeCheck> {
        let reduction = checked.cfg().train.reduction;
        match &self.tensors {
            Tensors::Linear(v) => check_model(&LinearModel { problem, reduction }, v[i], checked, watch),
            Tensors::Mlp(spec, v) => check_model(&MlpModel { problem, spec: *spec, reduction }, v[i], checked, watch),
        }
    }
}
