"""A model's tensors diagnosed by the Rust core together, as :class:`gradlab.Diagnosis` objects
(``gradlab._core.diagnose_model``, the binding of ``gradlab::diagnose::groups::step_back``)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np


def diagnose_blocks(
    blocks: Sequence[Tuple[str, np.ndarray, np.ndarray, str]],
    counts: Sequence[int],
    *,
    unit: str,
    reduction: str,
    microbatches: Optional[Sequence[int]],
    accumulation: Optional[int],
    ranks: Optional[int],
    tolerance: Optional[float],
    step_back=None,
) -> List:
    """The core's diagnosis of each ``(name, g, groups, dtype)`` block (``g``: P values,
    ``groups``: J x P float64), with ``step_back`` (a :class:`~gradlab.torch.step_back.StepBack`)
    for ``params_after_step``; one :class:`gradlab.Diagnosis` per block, in order."""
    from gradlab import Diagnosis, _core

    done = _core.diagnose_model(
        list(blocks),
        list(counts),
        unit=unit,
        reduction=reduction,
        microbatches=None if microbatches is None else list(microbatches),
        accumulation=accumulation,
        ranks=ranks,
        tolerance=tolerance,
        step_back=step_back,
    )
    return [Diagnosis(json_text, text) for json_text, text in done]
