"""gradlab from Python: the model-agnostic diagnosis of a training loop's gradient
(:func:`diagnose_groups`), and the finite-difference check of gradlab's built-in models
(:func:`check`, :func:`sweep`), all computed by the Rust core (the module ``gradlab._core``).

The PyTorch side is ``gradlab.torch`` (torch is imported only there). docs/python.md in the
repository documents every function.
"""

from . import _core
from .diagnosis import Diagnosis

__all__ = ["Diagnosis", "check", "diagnose_groups", "sweep", "__version__"]
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


def _list(value):
    """A comma-separated list of the command line from a string, a number or a sequence."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    return ",".join(v if isinstance(v, str) else repr(v) for v in value)


def _array(value):
    """``value`` as a numpy array (lists accepted), None kept."""
    if value is None:
        return None
    import numpy

    return numpy.asarray(value)


def check(
    x=None,
    t=None,
    weight=None,
    bias=None,
    *,
    n=10,
    d=4,
    k=2,
    seed=1,
    model="linear",
    hidden=None,
    dtype="f32",
    epochs=10,
    lr="1e-3",
    input_grad="reset",
    reduction="mean",
    scheme="central",
    eps=None,
    wrt="input",
    truth_bits=None,
    no_truth=False,
    naive=False,
    threads=None,
    max_memory=None,
):
    """Runs ``gradlab check`` on a built-in model: the finite-difference check of its gradient
    in each dtype against the analytic gradient and an MPFR ground truth.

    The problem is the arrays ``x`` (n x d inputs), ``t`` (n class indices), ``weight``
    (k x d) and ``bias`` (k), as ``gradlab check --data DIR`` reads them from x.npy, t.npy,
    weight.npy and bias.npy; or, when none is given, the generated problem of ``n``, ``d``,
    ``k`` and ``seed``. The model (``"linear"``, ``"mlp-tanh"``, ``"mlp-relu"``) is trained
    by ``epochs`` epochs of SGD first, as the command line does.

    Every option is the command line's (``gradlab check --help``): ``dtype`` and ``wrt`` take a
    string (``"f32,bf16"``) or a list; ``eps`` a list of steps, a string (``"1e-2,1e-4"``),
    ``"auto"`` or ``"none"`` (None: each dtype's default steps); ``lr`` a string or a number;
    ``scheme`` one of forward, backward, central, central5, complex, dual, ridders;
    ``max_memory`` a byte count or a size such as ``"2G"``.

    Returns:
        list of dict: one per row of ``gradlab check --format csv`` (each wrt, each dtype,
        each step), keyed by the CSV's columns (``dtype``, ``scheme``, ``wrt``,
        ``input_grad``, ``eps``, ``relerr_mean``, ..., ``truth_zero``); an empty field is None.
        ``pandas.DataFrame(rows)`` makes a table.

    Raises:
        ValueError: bad input, with the command line's sentence.
        TypeError: an array of the wrong dtype.

    Example:
        >>> rows = gradlab.check(dtype=["f32", "f64"], eps=[1e-2, 1e-6], input_grad="accumulate")
        >>> round(rows[0]["ratio_median"])  # x.grad summed over the 10 epochs
        10
    """
    return _core.check(
        _array(x),
        _array(t),
        _array(weight),
        _array(bias),
        n=n,
        d=d,
        k=k,
        seed=seed,
        model=model,
        hidden=hidden,
        dtype=_list(dtype),
        epochs=epochs,
        lr=_list(lr),
        input_grad=input_grad,
        reduction=reduction,
        scheme=scheme,
        eps=_list(eps),
        wrt=_list(wrt),
        truth_bits=truth_bits,
        no_truth=no_truth,
        naive=naive,
        threads=threads,
        max_memory=None if max_memory is None else str(max_memory),
    )


#: The dtypes :func:`sweep` checks by default: the four hardware formats.
SWEEP_DTYPES = ("f16", "bf16", "f32", "f64")


def sweep(x=None, t=None, weight=None, bias=None, *, dtypes=SWEEP_DTYPES, steps=None, schemes=("central",), **options):
    """Sweeps :func:`check` over dtypes, steps and schemes: every dtype in ``dtypes`` at every
    step in ``steps`` (None: each dtype's default steps, the seed's 1e0 ... 1e-8 less those
    it cannot hold), once per scheme in ``schemes``; the rows of all runs in one list.

    ``x``, ``t``, ``weight``, ``bias`` and ``options`` (model, wrt, epochs, input_grad,
    reduction, ...) are :func:`check`'s.

    Returns:
        list of dict: the rows of each scheme's check, in the order of ``schemes`` (each
        scheme's rows as :func:`check` gives them), with :func:`check`'s columns.

    Raises:
        ValueError: bad input, with the command line's sentence (checked for every scheme
            before any runs).

    Example:
        >>> rows = gradlab.sweep(dtypes=["bf16", "f32"], steps=[1e-1, 1e-3], schemes=["central", "forward"])
        >>> len(rows)  # 2 schemes x 2 dtypes x 2 steps
        8
    """
    for reserved in ("dtype", "eps", "scheme"):
        if reserved in options:
            raise TypeError(f"sweep takes dtypes, steps and schemes, not {reserved}=")
    schemes = [schemes] if isinstance(schemes, str) else list(schemes)
    if not schemes:
        raise ValueError("schemes is empty; expected at least one scheme such as central")
    rows = []
    for scheme in schemes:
        rows.extend(check(x, t, weight, bias, dtype=dtypes, eps=steps, scheme=scheme, **options))
    return rows
