//! What happened to one element of a numeric gradient at one step: [`Regime`] (the
//! predictions of where each regime begins are in [`crate::regimes`]).

crate::named_enum! {
    /// What happened to one element of a numeric gradient at one step.
    pub enum Regime("regime") {
        /// x + o_k h == x at every stencil point: the input did not move.
        InputDead = "input_dead",
        /// Some point moved x but every stencil point's loss was the same value.
        LossFlat = "loss_flat",
        /// The loss moved: the quotient measures something.
        Finite = "finite",
    }
}

impl Regime {
    /// The regime of an element whose input no stencil point moved (`input_dead`), and whose
    /// losses were (not) all equal.
    pub fn of(input_dead: bool, loss_flat: bool) -> Self {
        match (input_dead, loss_flat) {
            (true, _) => Regime::InputDead,
            (false, true) => Regime::LossFlat,
            (false, false) => Regime::Finite,
        }
    }
}
