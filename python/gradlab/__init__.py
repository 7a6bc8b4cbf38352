"""gradlab from Python: the model-agnostic diagnosis of a training loop's gradient
(:func:`diagnose_groups`), and the finite-difference check of gradlab's built-in models
(:func:`check`, :func:`sweep`), all computed by the Rust core (the module ``gradlab._core``).

The PyTorch side is ``gradlab.torch`` (torch is imported only there). docs/python.md in the
repository documents every function.
"""

from . import _core
from .diagnosis import Diagnosis

__all__ = ["Diagnosis", "diagnose_groups", "__version__"]
__version__ = _core.__version__


def diagnose_groups(
    g,
    groups,
    counts,
    *,
    unit="samples",
    reduction="mean",
    microbatches=None,
    accumulation=None,
    ranks=None,
    dtype="f64",
    tolerance=None,
):
    """Diagnoses a gradient against its groups' gradients, whatever the model.

    The correct gradient is a weighted sum of the groups' gradients (samples, sequences,
    micro-batches or ranks) with known weights; a wrong training loop uses other weights. This
    recovers the weights ``g`` used and names the pattern they follow.

    Args:
        g: the user's gradient, a float64 (or float32, widened exactly) numpy array of P values
            (any shape; flattened in C order).
        groups: the groups' gradients, a float64 numpy array of shape (J, P): row j is the
            gradient of group j's *summed* loss at the same parameters, flattened like ``g``.
            Another float64 layout is copied; another dtype raises TypeError.
        counts: the items (samples or counted tokens) of each group, a list of J ints >= 1.
        unit: what the counts count, ``"samples"`` or ``"tokens"`` (the command line's
            ``--unit``).
        reduction: the loss meant: ``"mean"``, ``"sum"`` or ``"sequence-mean"`` (the mean over
            sequences of each one's token mean).
        microbatches: how many consecutive groups each micro-batch of the optimizer step holds
            (a list of ints adding up to J), or None.
        accumulation: the configured gradient accumulation steps K, or None (the micro-batches
            given).
        ranks: R data-parallel ranks, each holding J / R consecutive groups, or None.
        dtype: the dtype ``g`` was computed in: ``"f64"``, ``"f32"``, ``"bf16"``, ``"f16"``,
            ``"tf32"``, ``"e5m2"``, ``"e4m3"``, ``"ieee:E:M"``, ``"mpfr:BITS"`` or a mixed
            ``"S+C"`` such as ``"bf16+f32"``.
        tolerance: a relative tolerance replacing the dtype's (for a model whose own rounding is
            larger), or None.

    Returns:
        Diagnosis: ``verdict``, ``causes``, ``factor``, ``relerr``, ``weights``, ... as the
        command line's JSON; ``str()`` is its text.

    Raises:
        ValueError: bad input, with the command line's sentence (sizes that do not match,
            non-finite values, counts or micro-batches that do not add up, an unknown dtype).
        TypeError: an array of the wrong dtype.

    Example:
        >>> import numpy as np, gradlab
        >>> G = np.random.default_rng(0).normal(size=(4, 10))  # 4 samples' gradients
        >>> gradlab.diagnose_groups(G.sum(axis=0), G, [1, 1, 1, 1]).causes
        ['sum_instead_of_mean']
    """
    json_text, text = _core.diagnose_groups(
        g,
        groups,
        list(counts),
        unit=unit,
        reduction=reduction,
        microbatches=None if microbatches is None else list(microbatches),
        accumulation=accumulation,
        ranks=ranks,
        dtype=dtype,
        tolerance=tolerance,
    )
    return Diagnosis(json_text, text)
