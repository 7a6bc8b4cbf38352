//! [`Scalar`] for rug's MPFR [`Float`]: every operation, exp and ln included, is correctly
//! rounded to the value's own precision.
//!
//! rug rounds a mixed-precision operation to the precision of the destination; all values of one
//! computation are created with one [`Prec`], and debug builds assert that operands agree.

use super::{DType, Prec, Scalar};
use rug::float::Round;
use rug::ops::AssignRound;
use rug::{Assign, Float, Rational};
use std::cmp::Ordering;

#[inline(always)]
fn same_prec(a: &Float, b: &Float) {
    debug_assert_eq!(a.prec(), b.prec(), "mixed MPFR precisions");
}

impl Scalar for Float {
    type Ctx = Prec;

    fn dtype(ctx: Prec) -> DType {
        DType::Mpfr(ctx)
    }
    fn ctx(&self) -> Prec {
        // Every Float in gradlab is made through a Prec, so its precision is in range.
        Prec::new(self.prec()).unwrap_or_else(|_| unreachable!("Float made outside a Prec"))
    }
    fn from_rational(r: &Rational, ctx: Prec) -> Self {
        Float::with_val_round(ctx.bits(), r, Round::Nearest).0
    }
    fn from_float(x: &Float, ctx: Prec) -> Self {
        Float::with_val_round(ctx.bits(), x, Round::Nearest).0
    }
    fn from_f64(x: f64, ctx: Prec) -> Self {
        Float::with_val_round(ctx.bits(), x, Round::Nearest).0
    }
    fn from_int(n: i64, ctx: Prec) -> Self {
        Float::with_val_round(ctx.bits(), n, Round::Nearest).0
    }
    fn zero(ctx: Prec) -> Self {
        Float::new(ctx.bits())
    }
    fn to_f64(&self) -> f64 {
        Float::to_f64(self)
    }
    fn to_float(&self, prec: u32) -> Float {
        Float::with_val(prec, self)
    }
    #[inline]
    fn set(&mut self, src: &Self) {
        same_prec(self, src);
        self.assign(src);
    }
    #[inline]
    fn set_add(&mut self, a: &Self, b: &Self) {
        same_prec(a, b);
        self.assign_round(a + b, Round::Nearest);
    }
    #[inline]
    fn set_sub(&mut self, a: &Self, b: &Self) {
        same_prec(a, b);
        self.assign_round(a - b, Round::Nearest);
    }
    #[inline]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        same_prec(a, b);
        self.assign_round(a * b, Round::Nearest);
    }
    #[inline]
    fn set_div(&mut self, a: &Self, b: &Self) {
        same_prec(a, b);
        self.assign_round(a / b, Round::Nearest);
    }
    #[inline]
    fn add_assign(&mut self, a: &Self) {
        same_prec(self, a);
        *self += a;
    }
    #[inline]
    fn sub_assign(&mut self, a: &Self) {
        same_prec(self, a);
        *self -= a;
    }
    #[inline]
    fn mul_assign(&mut self, a: &Self) {
        same_prec(self, a);
        *self *= a;
    }
    #[inline]
    fn div_assign(&mut self, a: &Self) {
        same_prec(self, a);
        *self /= a;
    }
    #[inline]
    fn exp_mut(&mut self) {
        // Same bits as `Float::exp_mut`, faster at 53 bits and below (see mpfr_exp.rs).
        super::mpfr_exp::exp_mut(self);
    }
    #[inline]
    fn ln_mut(&mut self) {
        // Same bits as `Float::ln_mut`, faster at 53 bits and below (see mpfr_ln.rs).
        super::mpfr_ln::ln_mut(self);
    }
    #[inline]
    fn sqrt_mut(&mut self) {
        Float::sqrt_mut(self);
    }
    #[inline]
    fn sin_mut(&mut self) {
        self.sin_round(Round::Nearest);
    }
    #[inline]
    fn cos_mut(&mut self) {
        self.cos_round(Round::Nearest);
    }
    #[inline]
    fn tanh_mut(&mut self) {
        self.tanh_round(Round::Nearest);
    }
    #[inline]
    fn sinh_mut(&mut self) {
        self.sinh_round(Round::Nearest);
    }
    #[inline]
    fn cosh_mut(&mut self) {
        self.cosh_round(Round::Nearest);
    }
    #[inline]
    fn atan_mut(&mut self) {
        self.atan_round(Round::Nearest);
    }
    #[inline]
    fn neg_mut(&mut self) {
        rug::ops::NegAssign::neg_assign(self);
    }
    fn is_finite(&self) -> bool {
        Float::is_finite(self)
    }
    fn is_zero(&self) -> bool {
        Float::is_zero(self)
    }
    #[inline]
    fn partial_cmp_val(&self, other: &Self) -> Option<Ordering> {
        self.partial_cmp(other)
    }
}
