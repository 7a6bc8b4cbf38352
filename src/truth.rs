//! Ground truth: the exact gradient of the dtype's final loss, computed in MPFR at high precision
//! from the dtype's own rounded inputs and final parameters.
//!
//! The truth answers "what is the derivative of the function the dtype's numeric gradient
//! samples?". The conversion into MPFR is exact (the truth precision exceeds the dtype's, see
//! [`crate::policy::truth_prec`]), and the forward and backward passes at, say, 256 bits differ
//! from the exact real gradient by far less than any error measured here.

use crate::error::Result;
use crate::objective::cross_entropy::logits_grad_into_watched;
use crate::objective::{Pass, Reduction, Wrt};
use crate::scalar::{Prec, Scalar};
use crate::train::Trained;
use crate::watch::Watch;
use ndarray::Array2;
use rug::Float;

/// The true gradient with respect to `wrt` of the reduced loss at the trained state, in MPFR
/// at `prec` bits.
pub fn truth_grad<T: Scalar>(tr: &Trained<T>, reduction: Reduction, wrt: Wrt, prec: Prec) -> Array2<Float> {
    // A new watch is never stopped.
    truth_grad_watched(tr, reduction, wrt, prec, &Watch::unwatched()).unwrap_or_else(|_| unreachable!("never stopped"))
}

/// [`truth_grad`], checking `watch` before every sample of its pass and advancing it by the
/// pass's work ([`crate::budget::pass_ops`] for the input, the loss gradient's for the logits,
/// at MPFR's cost for `prec`).
///
/// # Errors
/// [`crate::Error::Interrupted`] when the watch was stopped.
pub fn truth_grad_watched<T: Scalar>(
    tr: &Trained<T>,
    reduction: Reduction,
    wrt: Wrt,
    prec: Prec,
    watch: &Watch,
) -> Result<Array2<Float>> {
    let bits = prec.bits();
    // Exact conversions into MPFR, row by row so that a stop is noticed during large ones.
    let up = |a: &Array2<T>| -> Result<Array2<Float>> {
        let mut v = Vec::with_capacity(a.len());
        for (j, row) in a.rows().into_iter().enumerate() {
            watch.checkpoint(|| format!("the truth, converting row {} of {}", j + 1, a.nrows()))?;
            v.extend(row.iter().map(|x| x.to_float(bits)));
        }
        Ok(Array2::from_shape_vec(a.dim(), v).unwrap_or_else(|_| unreachable!("one value per element")))
    };
    let scale = reduction.scale::<Float>(tr.n(), prec);
    match wrt {
        // The loss as a function of the dtype's own final logits.
        Wrt::Logits => {
            let z = up(&tr.logits)?;
            let mut out = Array2::from_elem(z.dim(), Float::new(bits));
            logits_grad_into_watched(z.view(), &tr.t, scale.as_ref(), prec, &mut out, watch)?;
            Ok(out)
        }
        // The whole model, forward and backward, from the dtype's inputs and parameters.
        Wrt::Input => {
            let (x, w) = (up(&tr.x)?, up(&tr.weight)?);
            let b: Vec<Float> = tr.bias.iter().map(|v| v.to_float(bits)).collect();
            let mut pass = Pass::new(x.nrows(), x.ncols(), w.nrows(), prec);
            pass.run_watched(x.view(), w.view(), &b, &tr.t, scale.as_ref(), watch)?;
            Ok(pass.grad_x)
        }
    }
}
