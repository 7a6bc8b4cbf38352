//! What a check will take, known before it starts: the memory its arrays need ([`check_memory`],
//! refused beyond a limit by [`check_fits`]) and the work it will do ([`check_work`], in the
//! units a [`crate::watch::Watch`] counts).
//!
//! The memory estimate adds up, from the problem's size alone, every array a check allocates
//! (see [`dtype_memory`] for the list), so a size that cannot fit is refused with one sentence
//! instead of aborting in the allocator. Every product saturates, so no size overflows.
//!
//! Work is counted in *units*: the operations of the check's model ([`crate::cost::Ops`]: arithmetic, and
//! `exp`/`ln`) weighted by their relative cost in the dtype ([`crate::cost::op_costs`], an f32 addition = 1).
//! The core advances its watch by exactly these units as it goes (per sample of a pass, per SGD
//! step, per row of a numeric gradient), so a progress bar over [`check_work`]'s total ends at
//! 100 %; the weights keep its estimate of the time left roughly right when a check moves on
//! from a cheap stage or dtype to an expensive one.

use crate::check::CheckConfig;
use crate::cost::{loss_grad_row_ops, mul, pass_ops, sgd_step_ops, sum, to_u64, Shape};
use crate::error::{Error, Result};
use crate::numeric::cost::{numeric_row_ops, perturbed};
use crate::objective::LinearTensor;
use crate::scalar::DType;

/// Bytes of one MPFR value besides its significand: rug's `Float` (precision, sign, exponent
/// and limb pointer: 32 bytes on 64-bit targets) plus the allocator's header and rounding of
/// the limbs' heap block (16 bytes with glibc's malloc).
pub const MPFR_VALUE_OVERHEAD: u64 = 32 + 16;

/// Bytes of one value of an emulated format ([`crate::scalar::Emulated`]): the value as an f64
/// and a reference to its format's constants.
pub const EMULATED_VALUE_BYTES: u64 = 16;

/// Bytes one value of `dtype` takes in memory: 2, 4 or 8 for the hardware formats, 16 for the
/// emulated ones ([`EMULATED_VALUE_BYTES`]); for MPFR,
/// [`MPFR_VALUE_OVERHEAD`] plus the significand's 64-bit limbs (about 32 + p/8 bytes in all).
pub fn value_bytes(dtype: DType) -> u64 {
    match dtype {
        DType::F16 | DType::BF16 => 2,
        DType::F32 => 4,
        DType::F64 => 8,
        DType::Mpfr(p) => MPFR_VALUE_OVERHEAD + 8 * u64::from(p.bits().div_ceil(64)),
        DType::Ieee(_) => EMULATED_VALUE_BYTES,
        // A C value and a reference to S's constants (padded to 16 bytes).
        DType::Mixed { .. } => EMULATED_VALUE_BYTES,
    }
}

/// The number of worker buffers a numeric gradient keeps at once: one for a small check (it
/// runs on the calling thread, [`crate::numeric::SEQUENTIAL_BELOW`]), else one per thread.
fn workers(rows_times_cols: u128, threads: usize) -> u128 {
    if rows_times_cols < crate::numeric::SEQUENTIAL_BELOW as u128 || threads <= 1 {
        1
    } else {
        threads as u128
    }
}

/// The bytes one dtype's check allocates at its peak, apart from the gradients kept for saving
/// ([`kept_memory`]). With v the dtype's [`value_bytes`], t the truth's, m the number of
/// perturbed elements (n d or n k), S steps, P stencil points and T threads, the arrays are:
///
/// - the problem as f64 (nd + kd + k values and n targets: 8 bytes each), alive throughout;
/// - training: the cast data, the pass's buffers (logits and their gradient 2nk, dx nd, dW kd,
///   db k, d scratch), the accumulated dx, the weights being trained and the trained state's
///   copy of x: about (4nd + 3kd + 2nk) v;
/// - the truth: x, W and a whole pass at the truth's precision, (3nd + 2kd + 2nk) t for the input
///   (2nk t for the logits), then its m values kept;
/// - the numeric gradient: the loss tree (4n values and n indices), W transposed (kd), per
///   worker k product trees (4d values and d indices each) and the stage buffers
///   (d P (3 + k) values), and per step the gradient, the effective steps, the flags and the
///   regimes: S m (2v + 2) bytes, twice over while rows computed in parallel are gathered;
/// - the metrics' buffers: 2m f64.
pub fn dtype_memory(shape: Shape, wrt: LinearTensor, dtype: DType, cfg: &CheckConfig, threads: usize) -> u64 {
    let (n, d, k) = (shape.n as u128, shape.d as u128, shape.k as u128);
    let v = u128::from(value_bytes(dtype));
    let (rows, cols) = perturbed(shape, wrt);
    let m = mul(&[rows, cols]);
    let problem = sum(&[mul(&[8, sum(&[mul(&[n, d]), mul(&[k, d]), k, n])])]);
    let pass = |v: u128| mul(&[v, sum(&[mul(&[2, n, k]), mul(&[n, d]), mul(&[k, d]), k, d])]);
    let train_peak = sum(&[mul(&[v, sum(&[mul(&[3, n, d]), mul(&[2, k, d]), mul(&[2, k])])]), pass(v)]);
    let trained = mul(&[v, sum(&[mul(&[2, n, d]), mul(&[k, d]), k, mul(&[2, n, k])])]);
    let (truth_work, truth_kept) = match cfg.truth {
        None => (0, 0),
        Some(p) => {
            let t = u128::from(value_bytes(DType::Mpfr(p)));
            let work = match wrt {
                LinearTensor::Input | LinearTensor::Weight | LinearTensor::Bias => {
                    sum(&[mul(&[t, sum(&[mul(&[n, d]), mul(&[k, d]), k])]), pass(t)])
                }
                LinearTensor::Logits => mul(&[t, 2, n, k]),
            };
            (work, mul(&[t, m]))
        }
    };
    let points = cfg.scheme.stencil().offsets.len() as u128;
    let steps = cfg.engine_steps() as u128;
    let evaluator = sum(&[mul(&[v, sum(&[mul(&[4, n]), mul(&[k, d]), points])]), mul(&[8, n])]);
    let worker = match wrt {
        LinearTensor::Input => sum(&[
            mul(&[v, k, 4, d]),
            mul(&[8, k, d]),
            mul(&[v, d, points, sum(&[3, k])]),
            mul(&[v, sum(&[mul(&[2, d]), k, points, 8])]),
        ]),
        // n product trees over d leaves for the loaded class, the working logits and losses.
        LinearTensor::Weight => sum(&[
            mul(&[n, sum(&[mul(&[v, 4, d]), mul(&[8, d])])]),
            mul(&[v, sum(&[mul(&[n, k]), n, mul(&[2, k]), points, 8])]),
        ]),
        LinearTensor::Bias => mul(&[v, sum(&[mul(&[n, k]), n, mul(&[2, k]), points, 8])]),
        LinearTensor::Logits => mul(&[v, sum(&[mul(&[2, k]), points, 8])]),
    };
    // The bias's product sums, shared by the workers.
    let shared = if wrt == LinearTensor::Bias { mul(&[v, n, k]) } else { 0 };
    let outputs = mul(&[2, steps, m, sum(&[mul(&[2, v]), 2])]);
    let numeric = sum(&[evaluator, shared, mul(&[workers(m, threads), worker]), outputs, mul(&[2, 8, m])]);
    let after_training = sum(&[trained, truth_kept, truth_work.max(numeric)]);
    to_u64(sum(&[problem, train_peak.max(after_training)]))
}

/// The bytes of the gradients one dtype's check keeps for `--save-grads` (when
/// `cfg.keep_grads`): the analytic gradient, the truth and every step's numeric gradient as f64
/// (m values each), and for MPFR every significant digit of the analytic gradient and the truth
/// as text (about p log10(2) + 2 characters in a 24-byte `String` each).
pub fn kept_memory(shape: Shape, wrt: LinearTensor, dtype: DType, cfg: &CheckConfig) -> u64 {
    if !cfg.keep_grads {
        return 0;
    }
    let (rows, cols) = perturbed(shape, wrt);
    let m = mul(&[rows, cols]);
    // One numeric gradient per fixed step (dual numbers are reckoned at their ignored grid), one
    // for `--eps auto`.
    let numerics = if cfg.steps.is_auto() { 1 } else { cfg.steps.fixed().len() };
    let arrays = mul(&[8, m, sum(&[numerics as u128, 2])]);
    let text = match dtype {
        DType::Mpfr(p) => mul(&[2, m, sum(&[u128::from(p.bits()) * 3 / 10, 2 + 24 + 16])]),
        _ => 0,
    };
    to_u64(sum(&[arrays, text]))
}

/// The bytes a check of `dtypes` needs at its peak: the dtypes run one after another, so the
/// largest [`dtype_memory`], plus the gradients every dtype keeps ([`kept_memory`]).
pub fn check_memory(shape: Shape, wrt: LinearTensor, dtypes: &[DType], cfg: &CheckConfig, threads: usize) -> u64 {
    let peak = dtypes.iter().map(|&dt| dtype_memory(shape, wrt, dt, cfg, threads)).max().unwrap_or(0);
    dtypes.iter().fold(peak, |a, &dt| a.saturating_add(kept_memory(shape, wrt, dt, cfg)))
}

/// How much memory a check may use, and where that figure came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// The limit in bytes.
    pub bytes: u64,
    /// Where it came from, as a noun phrase for messages ("the memory available (MemAvailable
    /// in /proc/meminfo)").
    pub source: String,
}

/// The fields of /proc/meminfo gradlab reads, in bytes (`None` where the file or a field is
/// missing, as on every system but Linux).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// MemAvailable: what new allocations can get without swapping.
    pub available: Option<u64>,
    /// MemTotal + SwapTotal: beyond this no allocation can succeed.
    pub total_with_swap: Option<u64>,
}

impl MemInfo {
    /// Reads /proc/meminfo (all fields `None` when it cannot be read).
    pub fn read() -> Self {
        std::fs::read_to_string("/proc/meminfo").map(|t| Self::parse(&t)).unwrap_or_default()
    }

    /// Parses the text of /proc/meminfo (lines such as `MemAvailable:   23141212 kB`).
    pub fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let rest = l.strip_prefix(name)?.strip_prefix(':')?;
                let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
                Some(kb.saturating_mul(1024))
            })
        };
        let total = field("MemTotal");
        MemInfo {
            available: field("MemAvailable"),
            total_with_swap: total.map(|t| t.saturating_add(field("SwapTotal").unwrap_or(0))),
        }
    }
}

/// The memory limit of a check: `max_memory` (a user's `--max-memory`) when given, else the
/// memory available ([`MemInfo::available`]), else [`crate::policy::DEFAULT_MEMORY_LIMIT`];
/// never more than the machine's memory and swap together, which no allocation can exceed.
pub fn memory_limit(max_memory: Option<u64>, info: MemInfo) -> MemoryLimit {
    let chosen = match (max_memory, info.available) {
        (Some(b), _) => MemoryLimit { bytes: b, source: "--max-memory".into() },
        (None, Some(b)) => {
            MemoryLimit { bytes: b, source: "the memory available, MemAvailable in /proc/meminfo".into() }
        }
        (None, None) => MemoryLimit {
            bytes: crate::policy::DEFAULT_MEMORY_LIMIT,
            source: "the default limit where the available memory cannot be read".into(),
        },
    };
    match info.total_with_swap {
        Some(total) if total < chosen.bytes => {
            MemoryLimit { bytes: total, source: "the machine's memory and swap (/proc/meminfo)".into() }
        }
        _ => chosen,
    }
}

/// Checks that a check of `dtypes` on a problem of `shape` fits in `limit`, before anything is
/// allocated; returns the estimate ([`check_memory`]).
///
/// # Errors
/// [`Error::Memory`] naming the size and the memory it would need.
pub fn check_fits(
    shape: Shape,
    wrt: LinearTensor,
    dtypes: &[DType],
    cfg: &CheckConfig,
    threads: usize,
    limit: &MemoryLimit,
) -> Result<u64> {
    let need = check_memory(shape, wrt, dtypes, cfg, threads);
    if need > limit.bytes {
        let names: Vec<String> = dtypes.iter().map(|d| d.name()).collect();
        return Err(Error::Memory {
            what: format!("a check of {shape} in {}", names.join(",")),
            need: format_bytes(need),
            limit: format!("{} ({})", format_bytes(limit.bytes), limit.source),
        });
    }
    Ok(need)
}

/// The bytes `gradlab diagnose` needs at its peak for gradients of `wrts` on a problem of
/// `shape`, all in f64 values ([`crate::diagnose::exact`] keeps double-doubles as two f64). With m
/// the given elements (over every wrt):
///
/// - the problem as loaded (nd + kd + k);
/// - the exact pass: the inputs and weight with their splits for exact products (3nd + 3kd), the
///   logits and residuals as double-doubles, the probabilities and the softmax's rows
///   (8nk + n); the tolerance's logit magnitudes (nk), and |x| and x^2 for weight gradients (2nd);
/// - per given element: the gradient as read and as analysed, the truth as a double-double, the
///   standard deviation, deviations and fits in the causes (12 values);
/// - the causes: a second exact pass (the parameters one SGD step back), and the per-sample
///   contribution matrix of the micro-batch cause with its QR copy or prefix sums (2 m n values,
///   built only up to [`crate::policy::MICROBATCH_MAX_VALUES`]) when no input gradient is given.
pub fn diagnose_memory(shape: Shape, wrts: &[LinearTensor]) -> u64 {
    let (n, d, k) = (shape.n as u128, shape.d as u128, shape.k as u128);
    let data = sum(&[mul(&[n, d]), mul(&[k, d]), k]);
    let exact = sum(&[mul(&[3, n, d]), mul(&[3, k, d]), mul(&[8, n, k]), n]);
    let weight = if wrts.contains(&LinearTensor::Weight) { mul(&[2, n, d]) } else { 0 };
    let rounding = sum(&[mul(&[n, k]), weight]);
    let m = sum(&wrts.iter().map(|&w| mul(&[perturbed(shape, w).0, perturbed(shape, w).1])).collect::<Vec<_>>());
    let contributions = if wrts.contains(&LinearTensor::Input) {
        0
    } else {
        mul(&[2, mul(&[m, n]).min(crate::policy::MICROBATCH_MAX_VALUES as u128)])
    };
    to_u64(mul(&[8, sum(&[data, exact, rounding, mul(&[12, m]), exact, contributions])]))
}

/// Checks that `gradlab diagnose` of `wrts` on a problem of `shape` fits in `limit` before the
/// exact model is built; returns the estimate ([`diagnose_memory`]).
///
/// # Errors
/// [`Error::Memory`] naming the size and the memory it would need.
pub fn diagnose_fits(shape: Shape, wrts: &[LinearTensor], limit: &MemoryLimit) -> Result<u64> {
    let need = diagnose_memory(shape, wrts);
    if need > limit.bytes {
        return Err(Error::Memory {
            what: format!("a diagnosis of {shape}"),
            need: format_bytes(need),
            limit: format!("{} ({})", format_bytes(limit.bytes), limit.source),
        });
    }
    Ok(need)
}

/// A byte count in binary units, e.g. `512 B`, `1.5 KiB`, `72.8 TiB` (3 significant digits;
/// `u64::MAX` bytes, the saturated count, reads "16.0 EiB").
pub(crate) fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else if v < 10.0 {
        format!("{v:.2} {}", UNITS[u])
    } else if v < 100.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

/// Parses a memory size: a positive decimal number of bytes, optionally followed by K, M, G or
/// T (or KiB, MiB, GiB, TiB): powers of 1024. `2G`, `1.5GiB`, `512M`, `1000000`.
///
/// # Errors
/// [`Error::Value`] naming the text, for anything else (a negative or zero size, `2GB`, `2 G`,
/// a size beyond 16 EiB).
pub fn parse_size(text: &str) -> Result<u64> {
    let bad = || Error::value("memory size", text, "a positive size such as 2G, 512M, 1.5GiB or 1000000 (bytes)");
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit {
        "" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(bad()),
    };
    let digits_ok = !number.is_empty() && number.matches('.').count() <= 1 && number != ".";
    if !digits_ok {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (value * (1u64 << shift) as f64).floor();
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// One stage of a check and the units of work it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// What the stage does, e.g. "f32 training".
    pub label: String,
    /// Its units of work ([`crate::cost::Ops::units`]).
    pub units: u64,
}

/// The stages of checking one dtype, in the order they run (training, truth, numeric
/// gradient), with their units of work: what [`crate::check::check_dtype`] advances its
/// watch by.
pub fn check_work(shape: Shape, wrt: LinearTensor, dtype: DType, cfg: &CheckConfig) -> Vec<Stage> {
    // One pass per epoch (one with no training) and an SGD step between epochs.
    let passes = pass_ops(shape).times(cfg.train.epochs.max(1) as u128);
    let steps = sgd_step_ops(shape.d, shape.k).times(cfg.train.epochs.saturating_sub(1) as u128);
    let mut stages = vec![Stage { label: format!("{dtype} training"), units: passes.plus(steps).units(dtype) }];
    if let Some(p) = cfg.truth {
        let ops = match wrt {
            LinearTensor::Input | LinearTensor::Weight | LinearTensor::Bias => pass_ops(shape),
            LinearTensor::Logits => loss_grad_row_ops(shape.k).times(shape.n as u128),
        };
        stages.push(Stage { label: format!("{dtype} truth"), units: ops.units(DType::Mpfr(p)) });
    }
    let rows = perturbed(shape, wrt).0;
    let row = numeric_row_ops(shape, &cfg.scheme.stencil(), cfg.engine_steps(), wrt, cfg.naive);
    // Each row's units are counted as the computation counts them, then summed.
    let numeric = mul(&[rows, u128::from(row.units(dtype))]);
    stages.push(Stage { label: format!("{dtype} numeric gradient"), units: to_u64(numeric) });
    stages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Prec;

    #[test]
    fn sizes_parse_strictly() {
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1000000").unwrap(), 1_000_000);
        for bad in ["", "G", "2GB", "2 G", "-1G", "0", "0.1", "1e9", "2g", "1..5G", ".", "99999999999T"] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(format_bytes(80_000_000_000_000), "72.8 TiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn meminfo_fields_and_the_limit_they_give() {
        let info = MemInfo::parse(
            "MemTotal:       24683656 kB\nMemFree: 1 kB\nMemAvailable:   23141212 kB\nSwapTotal: 0 kB\n",
        );
        assert_eq!(info.available, Some(23_141_212 * 1024));
        assert_eq!(info.total_with_swap, Some(24_683_656 * 1024));
        assert_eq!(memory_limit(None, info).bytes, 23_141_212 * 1024);
        assert_eq!(memory_limit(Some(1 << 30), info).bytes, 1 << 30);
        // Never beyond memory and swap together, even when asked.
        assert_eq!(memory_limit(Some(1 << 50), info).bytes, 24_683_656 * 1024);
        assert_eq!(memory_limit(None, MemInfo::default()).bytes, crate::policy::DEFAULT_MEMORY_LIMIT);
    }

    #[test]
    fn mpfr_values_take_their_limbs_and_a_header() {
        assert_eq!(value_bytes(DType::Mpfr(Prec::new(53).unwrap())), 56);
        assert_eq!(value_bytes(DType::Mpfr(Prec::new(256).unwrap())), 80);
        assert_eq!(value_bytes(DType::F16), 2);
    }
}
