//! The token model: a linear head applied to every position of a [`TokenProblem`], softmax
//! cross-entropy over the counted tokens (targets -100 ignored, as PyTorch's
//! `CrossEntropyLoss(ignore_index=-100)`), reduced by a [`TokenReduction`].
//!
//! - **Loss** (over any [`Num`]): each counted token's loss from its logits (pairwise sums of the
//!   products, then + b, as the linear model), then for `mean` the pairwise sum over the tokens
//!   (sequence by sequence, position by position) times 1/N rounded once into the dtype; for
//!   `sum` that sum alone; for `sequence-mean` each sequence's pairwise sum times 1/L_s, their
//!   pairwise sum over sequences times 1/B (each factor rounded once).
//! - **Backward** (over any [`Scalar`]): one [`weighted_pass`] over the counted tokens with
//!   token j's loss gradient times its factor (1/N; none; 1/B times 1/L_s, that product rounded
//!   once), x's gradient zero at ignored positions.
//! - **Truth**: the backward over MPFR ([`super::backward_truth`]), checked against PyTorch in
//!   tests/tokens.rs.
//!
//! The tensors ([`TokenTensor`]) are 2-D like every model's: x as (B T) x d (row s T + p), the
//! weight k x d, the bias 1 x k. Mixed dtypes S+C store where the linear model does (the
//! logits, the loss gradient, the parameter and input gradients). The model does not train.
//!
//! In `gradlab check`'s registry as `--model tokens` ([`Registered`], built on a
//! [`TokenProblem`]: `gradlab check --tokens DIR` loads one, `--model tokens --sequences B
//! --positions T --lengths equal|uniform|long-tailed` generates one), with `--reduction
//! mean|sum|sequence-mean`; it does not train, so the plan refuses epochs of training for it
//! (docs/check.md, "Token sequences").

use super::registry::{Options, Registered, Visit};
use super::{LinearTensor, Model, TensorKind};
use crate::cost::Shape;
use crate::error::{Error, Result};
use crate::objective::tokens::{sum_num, token_losses_num, weighted_pass};
use crate::scalar::num::Num;
use crate::scalar::{Prec, Scalar};
use crate::tokens::weights::TokenReduction;
use crate::tokens::TokenProblem;
use crate::watch::Watch;
use ndarray::{Array2, ArrayView2};
use rug::Float;

crate::named_enum! {
    /// The token model's tensors.
    pub enum TokenTensor("--wrt") {
        /// The inputs x, (B T) x d.
        Input = "input",
        /// The head's weight W, k x d.
        Weight = "weight",
        /// The head's bias b, 1 x k.
        Bias = "bias",
    }
}

impl TensorKind for TokenTensor {
    fn name(self) -> &'static str {
        TokenTensor::name(self)
    }

    fn is_vector(self) -> bool {
        self == TokenTensor::Bias
    }
}

/// `--model tokens`: the linear head on a loaded (`--tokens DIR`) or generated token problem,
/// with the reduction `--reduction` gives.
impl Registered for TokenModel<'_> {
    type Tensor = TokenTensor;
    type Data = TokenProblem;
    const NAMES: &'static [&'static str] = &["tokens"];
    const TENSORS: &'static [TokenTensor] = TokenTensor::ALL;
    const MIXED: bool = true;

    fn check(options: &Options) -> Result<()> {
        match options.hidden {
            Some(h) => Err(Error::value(
                "--hidden",
                h.to_string(),
                "no hidden width with --model tokens (a linear head, no hidden layer)",
            )),
            None => Ok(()),
        }
    }

    /// With n the B T positions ([`crate::cost::Shape::of_tokens`]): x is n x d.
    fn elements(_: &Options, tensor: TokenTensor, (n, d, k): (usize, usize, usize)) -> usize {
        match tensor {
            TokenTensor::Input => n * d,
            TokenTensor::Weight => k * d,
            TokenTensor::Bias => k,
        }
    }

    /// The linear model on the B T positions as samples: its tensors are as large, and it
    /// evaluates at least as many losses (only the counted tokens are evaluated here).
    fn budget(_: &Options, tensor: TokenTensor, shape: Shape) -> (Shape, LinearTensor) {
        let like = match tensor {
            TokenTensor::Input => LinearTensor::Input,
            TokenTensor::Weight => LinearTensor::Weight,
            TokenTensor::Bias => LinearTensor::Bias,
        };
        (shape, like)
    }

    fn header(_: &Options) -> String {
        " model=tokens".to_string()
    }

    /// x's gradient as PyTorch's x.grad: B x T x d.
    fn torch_shape(tensor: TokenTensor, p: &TokenProblem, (rows, cols): (usize, usize)) -> Vec<usize> {
        match tensor {
            TokenTensor::Input => vec![p.b(), p.t_len(), p.d()],
            TokenTensor::Weight => vec![rows, cols],
            TokenTensor::Bias => vec![cols],
        }
    }

    fn visit<V: Visit>(options: &Options, problem: &TokenProblem, tensor: TokenTensor, v: V) -> Result<V::Out> {
        Ok(v.visit(&TokenModel::new(problem, options.reduction)?, tensor))
    }
}

/// The linear head on a token problem, its loss reduced by `reduction`.
#[derive(Clone, Copy, Debug)]
pub struct TokenModel<'a> {
    /// The problem: inputs, targets (-100 ignored) and the head's parameters.
    pub problem: &'a TokenProblem,
    /// The reduction over the counted tokens.
    pub reduction: TokenReduction,
}

impl<'a> TokenModel<'a> {
    /// The model on a problem, refusing what the reduction cannot reduce.
    ///
    /// # Errors
    /// [`Error::Problem`] for an invalid problem ([`TokenProblem::validate`]);
    /// [`Error::Usage`] for `sequence-mean` with a sequence without counted tokens (its mean is
    /// 0/0).
    pub fn new(problem: &'a TokenProblem, reduction: TokenReduction) -> Result<Self> {
        problem.validate()?;
        if reduction == TokenReduction::SequenceMean {
            if let Some(s) = problem.lengths().iter().position(|&l| l == 0) {
                return Err(Error::Usage(format!(
                    "sequence {s} has no counted token, so its token mean is 0/0; the sequence-mean reduction \
                     needs at least one counted token in every sequence"
                )));
            }
        }
        Ok(TokenModel { problem, reduction })
    }
}

/// The token model's state at a dtype: the cast inputs and parameters, and the targets.
#[derive(Clone, Debug)]
pub struct TokenState<T: Scalar> {
    /// The precision context.
    pub ctx: T::Ctx,
    /// Inputs, (B T) x d.
    pub x: Array2<T>,
    /// The head's weight, k x d.
    pub weight: Array2<T>,
    /// The head's bias, 1 x k.
    pub bias: Array2<T>,
    /// Each position's class, `None` where ignored ((B T), row-major).
    pub targets: Vec<Option<usize>>,
    /// Positions per sequence T.
    pub t_len: usize,
    /// Counted tokens per sequence, B.
    pub lengths: Vec<usize>,
}

impl<T: Scalar> TokenState<T> {
    /// The counted positions (row, sequence, class) in order.
    fn counted(&self) -> Vec<(usize, usize, usize)> {
        self.targets.iter().enumerate().filter_map(|(r, c)| c.map(|c| (r, r / self.t_len, c))).collect()
    }
}

/// The rows `rows` of `x` as a new matrix.
fn select<N: Clone>(x: ArrayView2<N>, rows: &[(usize, usize, usize)]) -> Array2<N> {
    let d = x.ncols();
    let mut v = Vec::with_capacity(rows.len() * d);
    for &(r, _, _) in rows {
        v.extend(x.row(r).iter().cloned());
    }
    Array2::from_shape_vec((rows.len(), d), v).unwrap_or_else(|_| unreachable!("d values per row"))
}

impl TokenModel<'_> {
    /// Each counted token's factor on its loss gradient, in T: 1/N, none (the sum) or
    /// fl(fl(1/B) fl(1/L_s)).
    fn scales<T: Scalar>(&self, s: &TokenState<T>, rows: &[(usize, usize, usize)]) -> Option<Vec<T>> {
        let ctx = s.ctx;
        match self.reduction {
            TokenReduction::Sum => None,
            TokenReduction::Mean => Some(vec![T::from_ratio(1, rows.len() as u64, ctx); rows.len()]),
            TokenReduction::SequenceMean => {
                let inv_b = T::from_ratio(1, s.lengths.len() as u64, ctx);
                Some(rows.iter().map(|&(_, seq, _)| inv_b.mul(&T::from_ratio(1, s.lengths[seq] as u64, ctx))).collect())
            }
        }
    }
}

impl Model for TokenModel<'_> {
    type Tensor = TokenTensor;
    type State<T: Scalar> = TokenState<T>;

    fn tensors(&self) -> &[TokenTensor] {
        TokenTensor::ALL
    }

    fn state<T: Scalar>(&self, ctx: T::Ctx) -> (TokenState<T>, usize) {
        let p = self.problem;
        let cast = p.cast::<T>(ctx);
        let state = TokenState {
            ctx,
            x: cast.x,
            weight: cast.weight,
            bias: super::row(cast.bias.to_vec()),
            targets: p.targets(),
            t_len: p.t_len(),
            lengths: p.lengths(),
        };
        (state, cast.rounded)
    }

    fn tensor<'s, T: Scalar>(&self, s: &'s TokenState<T>, which: TokenTensor) -> ArrayView2<'s, T> {
        match which {
            TokenTensor::Input => s.x.view(),
            TokenTensor::Weight => s.weight.view(),
            TokenTensor::Bias => s.bias.view(),
        }
    }

    fn loss<T: Scalar, N: Num<Real = T>>(&self, s: &TokenState<T>, which: TokenTensor, v: ArrayView2<N>) -> N {
        let ctx = s.ctx;
        let rows = s.counted();
        let lift = |a: ArrayView2<T>| a.map(|x| N::real(x.clone()));
        let (x, w, b) = match which {
            TokenTensor::Input => (select(v, &rows), lift(s.weight.view()), lift(s.bias.view())),
            TokenTensor::Weight => (select(lift(s.x.view()).view(), &rows), v.to_owned(), lift(s.bias.view())),
            TokenTensor::Bias => (select(lift(s.x.view()).view(), &rows), lift(s.weight.view()), v.to_owned()),
        };
        let t: Vec<usize> = rows.iter().map(|&(_, _, c)| c).collect();
        let losses = token_losses_num(x.view(), w.view(), &b.row(0).to_vec(), &t);
        match self.reduction {
            TokenReduction::Sum => sum_num(&losses),
            TokenReduction::Mean => sum_num(&losses).scale(&T::from_ratio(1, losses.len() as u64, ctx)),
            TokenReduction::SequenceMean => {
                let mut start = 0;
                let per_seq: Vec<N> = s
                    .lengths
                    .iter()
                    .map(|&l| {
                        let m = sum_num(&losses[start..start + l]).scale(&T::from_ratio(1, l as u64, ctx));
                        start += l;
                        m
                    })
                    .collect();
                sum_num(&per_seq).scale(&T::from_ratio(1, s.lengths.len() as u64, ctx))
            }
        }
    }

    fn backward<T: Scalar>(&self, s: &TokenState<T>, which: TokenTensor, watch: &Watch) -> Result<Array2<T>> {
        let rows = s.counted();
        let x = select(s.x.view(), &rows);
        let t: Vec<usize> = rows.iter().map(|&(_, _, c)| c).collect();
        let scales = self.scales(s, &rows);
        let b = s.bias.row(0).to_vec();
        let g = weighted_pass(x.view(), s.weight.view(), &b, &t, scales.as_deref(), s.ctx, watch)?;
        Ok(match which {
            TokenTensor::Input => {
                let mut out = Array2::from_elem(s.x.dim(), T::zero(s.ctx));
                for (j, &(r, _, _)) in rows.iter().enumerate() {
                    out.row_mut(r).assign(&g.x.row(j));
                }
                out
            }
            TokenTensor::Weight => g.weight,
            TokenTensor::Bias => super::row(g.bias),
        })
    }

    /// The backward over MPFR (checked against PyTorch in tests/tokens.rs).
    fn truth<T: Scalar>(
        &self,
        s: &TokenState<T>,
        which: TokenTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<Array2<Float>> {
        super::backward_truth(self, s, which, prec, watch)
    }

    fn to_mpfr<T: Scalar>(
        &self,
        s: &TokenState<T>,
        _: TokenTensor,
        prec: Prec,
        watch: &Watch,
    ) -> Result<TokenState<Float>> {
        watch.checkpoint(|| "the truth".to_string())?;
        let bits = prec.bits();
        let up = |a: &Array2<T>| a.map(|v| v.to_float(bits));
        Ok(TokenState {
            ctx: prec,
            x: up(&s.x),
            weight: up(&s.weight),
            bias: up(&s.bias),
            targets: s.targets.clone(),
            t_len: s.t_len,
            lengths: s.lengths.clone(),
        })
    }
}
