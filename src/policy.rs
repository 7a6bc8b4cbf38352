//! Every rule and threshold that decides a result, named, in one place, each with the reason for
//! its value: how precise the truth must be, which steps a dtype can take, when the check's
//! diagnosis calls an analytic gradient wrong or names a factor, and the tolerances of
//! `gradlab diagnose` ([`crate::diagnose`]).

use crate::error::{Error, Result};
use crate::exact::Decimal;
use crate::scalar::{DType, Prec, Scalar};

/// The truth's default precision in bits. 256 bits put the truth's own rounding (about 2^-256
/// relative, amplified by the few hundred operations of a pass) some 150 orders of magnitude below
/// anything a dtype of 128 bits or fewer can resolve, so the truth is exact for every comparison.
pub const TRUTH_BITS: u32 = 256;

/// The truth precision for checking `dtypes`: [`TRUTH_BITS`], or twice the widest dtype's
/// precision when that is [`TRUTH_BITS`] or more (so the truth keeps as many guard bits as the
/// dtype has). Every dtype can be checked: a dtype has at most [`DType::MPFR_MAX_BITS`] bits and
/// [`Prec::MAX`] is twice that.
pub fn truth_prec(dtypes: &[DType]) -> Prec {
    let widest = dtypes.iter().map(|d| d.value_bits()).max().unwrap_or(0);
    let bits = if widest >= TRUTH_BITS { widest.saturating_mul(2).min(Prec::MAX) } else { TRUTH_BITS };
    Prec::new(bits).unwrap_or_else(|_| unreachable!("{bits} bits is within Prec's range"))
}

/// Checks that a truth of `truth` bits can judge `dtypes`: it must be strictly more precise than
/// every one of them, or it would round like the dtype it is meant to judge (for a mixed dtype,
/// more precise than its compute type, [`DType::value_bits`]).
///
/// # Errors
/// [`Error::Value`] naming the truth precision and the widest dtype.
pub fn check_truth_prec(truth: Prec, dtypes: &[DType]) -> Result<()> {
    match dtypes.iter().max_by_key(|d| d.value_bits()) {
        Some(widest) if truth.bits() <= widest.value_bits() => Err(Error::value(
            "--truth-bits",
            truth.bits().to_string(),
            format!("more bits than the widest dtype checked ({widest}, {} bits)", widest.value_bits()),
        )),
        _ => Ok(()),
    }
}

/// Why a dtype cannot use a step ([`step_refusal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepRefusal {
    /// The step is 0 or negative.
    NotPositive,
    /// The step rounds to 0 in the dtype (f16 rounds steps below 3e-8 to 0: such a check cannot
    /// even be written down).
    RoundsToZero,
    /// The step rounds to infinity in the dtype.
    Overflows,
}

impl StepRefusal {
    /// What a usable step is instead, as the rest of "expected ...".
    pub fn expected(self, dtype: DType) -> String {
        match self {
            StepRefusal::NotPositive => "a positive number".into(),
            StepRefusal::RoundsToZero => format!("a step that does not round to 0 in {dtype}"),
            StepRefusal::Overflows => format!("a step that is finite in {dtype}"),
        }
    }

    /// What happens to such a step in `dtype`, as a verb phrase ("round to 0 in f16").
    pub fn what_happens(self, dtype: DType) -> String {
        match self {
            StepRefusal::NotPositive => "are not positive".into(),
            StepRefusal::RoundsToZero => format!("round to 0 in {dtype}"),
            StepRefusal::Overflows => format!("overflow {dtype}"),
        }
    }
}

/// Why the step `h` cannot be used in `dtype`, or `None` when it can: it must be positive,
/// and rounded into the dtype it must be neither 0 nor infinite.
pub fn step_refusal(h: &Decimal, dtype: DType) -> Option<StepRefusal> {
    if h.value().cmp0() != std::cmp::Ordering::Greater {
        return Some(StepRefusal::NotPositive);
    }
    let (finite, zero) = crate::with_dtype!(dtype, |T, ctx| {
        let v = T::from_rational(h.value(), ctx);
        (v.is_finite(), v.is_zero())
    });
    match (zero, finite) {
        (true, _) => Some(StepRefusal::RoundsToZero),
        (_, false) => Some(StepRefusal::Overflows),
        _ => None,
    }
}

/// Whether the step `h` can be used in `dtype` ([`step_refusal`]).
///
/// # Errors
/// [`Error::Value`] naming the step and what the dtype needs.
pub fn check_step(h: &Decimal, dtype: DType) -> Result<()> {
    match step_refusal(h, dtype) {
        Some(r) => Err(Error::value("step", h.text(), r.expected(dtype))),
        None => Ok(()),
    }
}

/// The steps of `steps` that `dtype` can use ([`check_step`]), in order.
pub fn usable_steps(steps: &[Decimal], dtype: DType) -> Vec<Decimal> {
    steps.iter().filter(|h| check_step(h, dtype).is_ok()).cloned().collect()
}

/// The seed's step grid, one step per decade from 1e0 down to 1e-8 (`gradlab check`'s default).
pub const SEED_STEPS: &str = "1e0,1e-1,1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8";

/// `gradlab check`'s default steps in `dtype`: the steps of [`SEED_STEPS`] that
/// `dtype` can use, in order, and those it leaves out with why ([`step_refusal`]).
///
/// The grid is the seed's in every dtype, less what the dtype cannot write down (f16 leaves out
/// 1e-8, e4m3 1e-4 to 1e-8), rather than a grid chosen per dtype: every dtype's rows then sit at
/// the same decimal steps, so a CSV of several dtypes lines up row by row and the dead and flat
/// zones show where the seed's grid meets them, and nothing is invented that the seed never
/// tried. Steps typed with `--eps` are never left out: a step a dtype cannot use is an error.
pub fn default_steps(dtype: DType) -> (Vec<Decimal>, Vec<(Decimal, StepRefusal)>) {
    let grid =
        crate::exact::parse_list("step", SEED_STEPS).unwrap_or_else(|_| unreachable!("SEED_STEPS is a valid list"));
    let (mut usable, mut left_out) = (Vec::new(), Vec::new());
    for h in grid {
        match step_refusal(&h, dtype) {
            None => usable.push(h),
            Some(r) => left_out.push((h, r)),
        }
    }
    (usable, left_out)
}

/// The memory limit of a check when the memory available cannot be read (systems without
/// /proc/meminfo): 4 GiB, which most machines that run gradlab have free, and which holds a
/// check of a million-by-hundred f64 problem.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

/// Worker threads beyond this many per core are refused: each thread of a check computes whole
/// rows on its own, so more threads than cores only share the cores (a few per core can hide
/// a stall), while every thread costs a stack and its worker buffers; tens of thousands took
/// minutes just to start.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The largest thread count accepted on a machine with `cores` cores ([`MAX_THREADS_PER_CORE`]).
pub fn max_threads(cores: usize) -> usize {
    cores.max(1).saturating_mul(MAX_THREADS_PER_CORE)
}

/// A command that stops cooperatively after Ctrl-C (at the next epoch, sample or row) is ended
/// by force when it has not stopped this long after the signal: its output files are written
/// atomically, so nothing partial remains, and the user is never kept waiting by a long row.
pub const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A progress bar appears only for work still running after this long: shorter checks print
/// their result without a bar flashing by.
pub const PROGRESS_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// An analytic gradient whose mean relative error against the truth exceeds this many unit
/// roundoffs is called wrong. A correct gradient computed in the dtype is accurate to a modest
/// multiple of u (a pass has tens of roundings, partly cancelling: the seed's problem shows about
/// 1.5 u in f32 and f16); a summing bug is off by a relative 0.5 or more. 1000 u separates them
/// by two orders of magnitude on each side for every dtype of 11 bits or more.
pub const WRONG_ANALYTIC_ULPS: f64 = 1e3;

/// The floor under u in [`WRONG_ANALYTIC_ULPS`] for very wide dtypes, so that a truth of finite
/// precision never calls a correct gradient wrong: 1000 * 1e-30 = 1e-27, far above the truth's
/// own rounding at 256 bits and far below any bug.
pub(crate) const WRONG_ANALYTIC_FLOOR_U: f64 = 1e-30;

/// Whether an analytic gradient with mean relative error `anal_vs_truth` against the truth is
/// wrong in `dtype` ([`WRONG_ANALYTIC_ULPS`]).
pub(crate) fn analytic_is_wrong(anal_vs_truth: f64, dtype: DType) -> bool {
    anal_vs_truth > WRONG_ANALYTIC_ULPS * dtype.unit_roundoff().max(WRONG_ANALYTIC_FLOOR_U)
}

/// An analytic/numeric ratio r names a whole factor c = round(r) >= 2 when |r - c| is below this
/// fraction of c. SGD drift between accumulated epochs moves the seed's ratio to 10.03 (0.3 %);
/// 5 % admits that drift and rejects ratios halfway between whole numbers.
pub const FACTOR_TOLERANCE: f64 = 0.05;

/// The whole factor a ratio names ([`FACTOR_TOLERANCE`]), if any.
pub(crate) fn whole_factor(ratio: f64) -> Option<f64> {
    let c = ratio.round();
    (ratio.is_finite() && c >= 2.0 && (ratio - c).abs() < FACTOR_TOLERANCE * c).then_some(c)
}

/// The calibrated constant of `gradlab diagnose`'s tolerance: the standard deviation sigma of a
/// correct element's rounding error is this times the statistical model's scale s
/// ([`crate::diagnose::tolerance`]). Calibrated on every committed correct gradient made by
/// PyTorch's own CPU kernels (float32 with MKL's blocked sums, bfloat16 and float16, n from 10 to
/// 4096: tests/fixtures/diagnose/calibration and the correct fixtures beside it) and by gradlab in
/// f16, bf16, f32 and f64 (`cargo run --release --example calibrate_tolerance` prints them): the
/// root mean square of |given - truth| / s over a tensor is at most 1.01 (PyTorch's float16
/// b.grad at n = 4096: its 4096 logits gradients are f16 subnormals of similar size, whose
/// roundings partly add up instead of averaging out), 0.54 for every other tensor, and the
/// largest single ratio is 2.46 (bfloat16 x.grad at n = 4096). 1.5 makes sigma at least 1.25
/// times every tensor's root mean square and keeps every element within half of its level
/// ([`crate::diagnose::power::z_elements`]); tests/diagnose_power.rs asserts both.
pub const TOLERANCE_SIGMA: f64 = 1.5;

/// The false-alarm rate of the element test: each |given - truth| / sigma must be at most
/// sqrt(2 ln(N / alpha)) for N elements, the level the largest of N independent standard normal
/// errors stays below with probability 1 - alpha: 5.2 at N = 48, 6.1 at N = 7840, 7.5 at
/// N = 3.2 million (an MNIST batch's x.grad).
pub const FALSE_ALARM: f64 = 1e-4;

/// The z of the pooled tests (the scale, the chi-square of all elements, each named
/// alternative): a one-sided normal tail of 3e-5. An alternative is visible when it lies at least
/// 2 z standard errors from the truth, so that the given gradient, within rounding of one of
/// them, is at most z from it and at least z from the other.
pub const Z_TEST: f64 = 4.0;

/// A scale within this many unit roundoffs of 1 is never called a mistake, however many elements
/// resolve it: a correct computation can carry a few roundings of one common factor (1/n
/// rounded into the dtype, a loss scale, the mean's division), which move every element alike.
pub const SCALE_FLOOR_ULPS: f64 = 4.0;

/// The accumulation model (a gradient summed over c SGD steps: c g + a g', first order in the
/// learning rate) names `accumulated_over_steps` only when it leaves at most this fraction of
/// the departure from c g unexplained (in the L2 norm over elements). In this problem family the
/// first-order law leaves under 1 % at the seed's lr = 1e-3 and E = 10 (sum_vs_mean measures it
/// across seeds, E and lr); a quarter admits a visible second-order term while rejecting
/// departures the drift does not predict (a reweighting, a wrong element).
pub(crate) const DRIFT_UNEXPLAINED_MAX: f64 = 0.25;

/// The share of the departure the first-order drift law may leave before its learning rate is
/// checked by the exact replay of plain SGD (when no replay matches, the cause is named without
/// a count or a learning rate: sum_vs_mean's counts so found were up to tens of steps off). The
/// seed's loop (lr 1e-3, 10 epochs) leaves 0.15 % and its estimate is 0.4 % off; a referee's
/// PyTorch loops leaving 13 % and 23 % had estimates 29 % and 73 % off, which the replay makes
/// exact. 2 % keeps the law where its first order is accurate.
pub(crate) const LAW_FIRST_ORDER_MAX: f64 = 0.02;

/// The nonzero values a gradient needs before `dtype_mismatch` is named from them being numbers
/// of a narrower dtype (groups diagnosis): a value of f32 is a bf16 number with probability
/// 2^-16 by chance, so 8 such values happen by chance with probability below 2^-128, while a
/// bias of 2 or 4 values is no evidence of the dtype it was computed in at all.
pub(crate) const DTYPE_MISMATCH_MIN_VALUES: usize = 8;

/// The largest relative misfit ||G - s g|| / ||G|| at which one whole factor s names an
/// accumulation over steps that SGD's drift law does not describe (momentum, Adam, a large learning
/// rate): "within a few percent". PyTorch's seed loop under Adam at lr 1e-3 over 5 epochs
/// (tests/fixtures/diagnose/adam_accumulate) leaves 1.1 % (crates/lab/tests/diagnose.rs).
pub(crate) const ONE_FACTOR_ACCUMULATION_MAX: f64 = 0.05;

/// The exact SGD replay (`diagnose`'s count E and learning rate of an accumulation beyond the
/// drift law's range) tries the counts within this many of the least-squares factor: the sum of
/// E gradients along SGD is E times the truth to within the drift, which moved PyTorch's seed
/// loop at lr 0.1 over 5 epochs to 5.43 (tests/fixtures/diagnose/sgd_large_lr); 3 either side
/// covers that and keeps the work to 7 replays.
pub(crate) const REPLAY_STEPS_AROUND: usize = 3;

/// The largest count E the replay tries: each replay walks E - 1 steps back, and a loop that
/// summed more epochs than this is left to the drift law and the one-factor count.
pub(crate) const REPLAY_MAX_STEPS: usize = 64;

/// The most fixed-point iterations of one step back of the replay (q = theta + lr grad L(q)):
/// each gains a factor lr times the loss's curvature, so 200 reach f64's rounding for any
/// contraction down to 0.84; a step back that has not converged then is not a contraction at
/// this lr and the replay stops there.
pub(crate) const REPLAY_FIXED_POINT_ITERATIONS: usize = 200;

/// The most Gauss-Newton steps on the replay's learning rate: started from the first-order
/// law's estimate, the one-parameter fit converges in a few (the test fixtures' converge well
/// within this).
pub(crate) const REPLAY_LR_ITERATIONS: usize = 20;

/// The replay's work limit in multiply-adds, n d k per f64 forward pass of the linear model:
/// 1e9. PyTorch's seed loops (n = 10) need 1 100 to 1 700 passes and n = 2000, d = 16, k = 5 at
/// lr 0.5 over 4 epochs 1 330 (1 s on this 2-core machine under load) of the 6 250 this allows;
/// an MNIST batch of 1000 (d = 784, k = 10) gets 127 passes, so the replay stops early rather
/// than keep `diagnose` waiting minutes (the gradient is then left to the causes after it).
pub(crate) const REPLAY_MAX_WORK: f64 = 1e9;

/// How many of the screened counts (each at the law's learning rate) the replay refines: the
/// best and the runner-up, whose fit the evidence reports to show the count is resolved.
pub(crate) const REPLAY_REFINED: usize = 2;

/// Micro-batch sizes recovered from per-sample weights w_j = 1/(K n_b) must make K n_b within
/// this of a whole number for every sample. The weights come from exact truths and the user's
/// rounded gradient, so K n_b is off by about its size times the gradient's relative rounding
/// error (1e-6 in f32 at K n_b = 1000, 1e-3 at 1e6 samples); 0.1 accepts that and rejects a
/// size halfway between two whole numbers. The sizes are then confirmed by recomputing the
/// mean of micro-batch means exactly and comparing it with the gradient within rounding.
pub(crate) const MICROBATCH_WHOLE_TOLERANCE: f64 = 0.1;

/// Least squares for per-sample weights (from weight and bias gradients) treats a column as
/// dependent on the others when its pivot falls below this fraction of the largest: beyond
/// that, rounding of the gradient (1e-7 relative in f32) would be amplified past the 1/n-sized
/// differences between micro-batch weights.
pub const LSTSQ_RANK_TOLERANCE: f64 = 1e-9;

/// The diagnosis lists at most this many elements as the worst (furthest from the truth in
/// units of their tolerance).
pub const WORST_ELEMENTS: usize = 10;

/// The largest per-sample contribution matrix (given elements x samples, f64) `gradlab diagnose`
/// builds to recover micro-batch weights from weight or bias gradients: 8 million values
/// (64 MB, and its QR copy or prefix sums), so that a diagnosis of an MNIST-sized batch stays
/// within 500 MB. Beyond it the micro-batch cause is not tested from W.grad or b.grad, and the
/// diagnosis says why (x.grad, one row per sample, always determines the weights).
pub const MICROBATCH_MAX_VALUES: usize = 8_000_000;

/// The most floating-point operations (given elements x samples^2) the least squares for
/// per-sample weights may take: 4e9, about two seconds. Beyond it the weights are not solved
/// for, and the diagnosis says why.
pub(crate) const MICROBATCH_MAX_FLOPS: f64 = 4e9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_is_wider_than_every_dtype() {
        let f = |names: &str| truth_prec(&DType::parse_list(names).unwrap()).bits();
        assert_eq!(f("f16,f64"), 256);
        assert_eq!(f("mpfr:255"), 256);
        assert_eq!(f("mpfr:256"), 512);
        assert_eq!(f("mpfr:40000"), 80_000);
        assert_eq!(f(&format!("mpfr:{}", DType::MPFR_MAX_BITS)), Prec::MAX);
        assert!(check_truth_prec(
            truth_prec(&[DType::parse("mpfr:65536").unwrap()]),
            &[DType::parse("mpfr:65536").unwrap()]
        )
        .is_ok());
        assert!(check_truth_prec(Prec::new(53).unwrap(), &[DType::F64]).is_err());
        assert!(check_truth_prec(Prec::new(54).unwrap(), &[DType::F64]).is_ok());
    }

    #[test]
    fn steps_that_vanish_or_overflow_are_refused() {
        let d = |s: &str| Decimal::parse("step", s).unwrap();
        assert!(check_step(&d("1e-8"), DType::F16).is_err());
        assert!(check_step(&d("1e-7"), DType::F16).is_ok());
        assert!(check_step(&d("1e5"), DType::F16).is_err());
        assert!(check_step(&d("0"), DType::F64).is_err());
        assert_eq!(usable_steps(&[d("1e-3"), d("1e-9"), d("1e-7")], DType::F16).len(), 2);
    }

    /// The default grid leaves out exactly the steps a dtype rounds to 0, and every dtype keeps
    /// at least 1e0.
    #[test]
    fn the_default_grid_leaves_out_what_a_dtype_cannot_hold() {
        let left = |name: &str| -> Vec<String> {
            let (usable, out) = default_steps(DType::parse(name).unwrap());
            assert!(usable.first().is_some_and(|h| h.text() == "1e0"), "{name}");
            assert!(out.iter().all(|(_, r)| *r == StepRefusal::RoundsToZero), "{name}");
            out.iter().map(|(h, _)| h.text().to_string()).collect()
        };
        assert!(left("f32").is_empty() && left("bf16").is_empty() && left("bf16+f32").is_empty());
        assert_eq!(left("f16"), ["1e-8"]);
        assert_eq!(left("e4m3"), ["1e-4", "1e-5", "1e-6", "1e-7", "1e-8"]);
        assert_eq!(left("e5m2"), ["1e-6", "1e-7", "1e-8"]);
        assert_eq!(left("ieee:2:1").len(), 8);
        assert_eq!(step_refusal(&Decimal::parse("step", "1e5").unwrap(), DType::F16), Some(StepRefusal::Overflows));
    }

    #[test]
    fn factors_are_whole_numbers_within_tolerance() {
        assert_eq!(whole_factor(10.028), Some(10.0));
        assert_eq!(whole_factor(9.5), None);
        assert_eq!(whole_factor(1.02), None);
        assert_eq!(whole_factor(f64::NAN), None);
        assert!(analytic_is_wrong(0.9, DType::F32));
        assert!(!analytic_is_wrong(1e-7, DType::F32));
    }
}
