"""One tensor's diagnosis by the Rust core, as a :class:`gradlab.Diagnosis`
(:func:`gradlab.diagnose_groups`, the binding of ``gradlab::diagnose::groups``)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def diagnose_tensor(
    g: np.ndarray,
    groups: np.ndarray,
    counts: Sequence[int],
    *,
    unit: str,
    reduction: str,
    microbatches: Optional[Sequence[int]],
    accumulation: Optional[int],
    ranks: Optional[int],
    dtype: str,
    tolerance: Optional[float],
):
    """The core's diagnosis of ``g`` (P values) against ``groups`` (J x P float64)."""
    from gradlab import diagnose_groups

    return diagnose_groups(
        g,
        groups,
        counts,
        unit=unit,
        reduction=reduction,
        microbatches=microbatches,
        accumulation=accumulation,
        ranks=ranks,
        dtype=dtype,
        tolerance=tolerance,
    )
