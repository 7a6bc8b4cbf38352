//! Ground truth: the exact gradient of the dtype's final loss, computed in MPFR at high precision
//! from the dtype's own rounded inputs and final parameters.
//!
//! The truth answers "what is the derivative of the function the dtype's numeric gradient
//! samples?". The conversion into MPFR is exact (the truth precision exceeds the dtype's), and
//! the forward and backward passes at, say, 256 bits differ from the exact real gradient by far
//! less than any error measured here.

use crate::loss::{backprop, logits_grad, Reduction};
use crate::model::logits;
use crate::numeric::Wrt;
use crate::scalar::{Prec, Scalar};
use crate::train::Trained;
use ndarray::Array2;
use rug::Float;

/// The true gradient with respect to `wrt` of the reduced loss at the trained state, in MPFR
/// at `prec` bits.
pub fn truth_grad<T: Scalar>(tr: &Trained<T>, reduction: Reduction, wrt: Wrt, prec: Prec) -> Array2<Float> {
    let bits = prec.bits();
    let up = |a: &Array2<T>| a.map(|v| v.to_float(bits));
    match wrt {
        Wrt::Input => {
            let x = up(&tr.x);
            let w = up(&tr.weight);
            let b: Vec<Float> = tr.bias.iter().map(|v| v.to_float(bits)).collect();
            let z = logits(x.view(), w.view(), &b);
            let gz = logits_grad(z.view(), &tr.t, reduction);
            backprop(gz.view(), x.view(), w.view()).0
        }
        Wrt::Logits => logits_grad(up(&tr.logits).view(), &tr.t, reduction),
    }
}
