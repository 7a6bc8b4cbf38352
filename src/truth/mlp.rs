//! The MLP's truth: its backward pass at the trained state, in MPFR.

use crate::error::Result;
use crate::objective::cross_entropy::logits_grad_into;
use crate::objective::mlp::MlpTensor;
use crate::objective::mlp::{pick, MlpPass};
use crate::objective::Reduction;
use crate::scalar::{Prec, Scalar};
use crate::train::mlp::MlpTrained;
use crate::watch::Watch;
use ndarray::Array2;
use rug::Float;

/// The true gradient with respect to `wrt` of the MLP's reduced loss at the trained state, in
/// MPFR at `prec` (the state converted exactly; the biases as one row): the backward pass above
/// at `prec`, or for the logits the loss gradient of the dtype's own final logits.
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn truth_grad<T: Scalar>(
    tr: &MlpTrained<T>,
    reduction: Reduction,
    wrt: MlpTensor,
    prec: Prec,
    watch: &Watch,
) -> Result<Array2<Float>> {
    let bits = prec.bits();
    let up = |v: &T| v.to_float(bits);
    let scale = reduction.scale::<Float>(tr.n(), prec);
    watch.checkpoint(|| "the truth".to_string())?;
    if wrt == MlpTensor::Logits {
        let z = tr.logits.map(up);
        let mut out = Array2::from_elem(z.dim(), Float::new(bits));
        logits_grad_into(z.view(), &tr.t, scale.as_ref(), prec, &mut out, watch)?;
        return Ok(out);
    }
    let (x, p) = (tr.x.map(up), tr.params.map(up));
    let mut pass = MlpPass::new(x.nrows(), x.ncols(), p.hidden(), p.w2.nrows(), prec);
    pass.run(x.view(), &p, tr.act, &tr.t, scale.as_ref(), watch)?;
    Ok(pick(wrt, &pass.grad_x, &pass.grads, &pass.grad_logits).to_owned())
}
