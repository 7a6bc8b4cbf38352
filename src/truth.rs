//! Ground truth: the exact gradient of the dtype's final loss, computed in MPFR at high precision
//! from the dtype's own rounded inputs and final parameters.
//!
//! The truth answers "what is the derivative of the function the dtype's numeric gradient
//! samples?". The conversion into MPFR is exact (the truth precision exceeds the dtype's, see
//! [`crate::policy::truth_prec`]), and the forward and backward passes at, say, 256 bits differ
//! from the exact real gradient by far less than any error measured here.

use crate::objective::cross_entropy::logits_grad;
use crate::objective::{Pass, Reduction, Wrt};
use crate::scalar::{Prec, Scalar};
use crate::train::Trained;
use ndarray::Array2;
use rug::Float;

/// The true gradient with respect to `wrt` of the reduced loss at the trained state, in MPFR
/// at `prec` bits.
pub fn truth_grad<T: Scalar>(tr: &Trained<T>, reduction: Reduction, wrt: Wrt, prec: Prec) -> Array2<Float> {
    let bits = prec.bits();
    let up = |a: &Array2<T>| a.map(|v| v.to_float(bits));
    let scale = reduction.scale::<Float>(tr.n(), prec);
    match wrt {
        // The loss as a function of the dtype's own final logits.
        Wrt::Logits => logits_grad(up(&tr.logits).view(), &tr.t, scale.as_ref(), prec),
        // The whole model, forward and backward, from the dtype's inputs and parameters.
        Wrt::Input => {
            let (x, w) = (up(&tr.x), up(&tr.weight));
            let b: Vec<Float> = tr.bias.iter().map(|v| v.to_float(bits)).collect();
            let mut pass = Pass::new(x.nrows(), x.ncols(), w.nrows(), prec);
            pass.run(x.view(), w.view(), &b, &tr.t, scale.as_ref());
            pass.grad_x
        }
    }
}
