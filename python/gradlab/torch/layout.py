"""Which groups gradlab.torch computes gradients for, chosen by the memory they take.

The finest groups make the strongest diagnosis (every sample's weight is recovered), but their
gradients take J x P float64 values. :func:`plan` picks, for a memory budget:

1. **one group per sample** (per sequence for token losses) when J x P x 8 bytes fit;
2. else, for sample losses, **runs** of s consecutive samples inside each micro-batch, s the
   smallest run length that fits (never across a micro-batch boundary, so every micro-batch
   mistake stays expressible);
3. else **one group per micro-batch** (memory O(micro-batches x P), over the budget if need be).

Token losses take sequences or whole micro-batches only: a run of several sequences is neither,
and the core's sequence patterns need one group per sequence. Samples with no counted item
(every target equal to ``ignore_index``) contribute nothing to any loss and are left out.

This module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

#: Bytes of one float64 value.
F64 = 8


@dataclass(frozen=True)
class Layout:
    """The groups of one diagnosis.

    Attributes:
        groups: the samples (indices into the batch, in order) of each group.
        counts: the counted items (samples or tokens) of each group.
        microbatches: the number of groups in each micro-batch, in order, as the core's
            ``microbatches`` takes it; ``None`` when the step had no micro-batches.
        kind: ``"samples"``, ``"sequences"``, ``"runs of s samples"`` or ``"micro-batches"``.
        over_budget: the groups take more than the budget (micro-batches cannot be split).
    """

    groups: tuple
    counts: tuple
    microbatches: Optional[tuple]
    kind: str
    over_budget: bool = False

    @property
    def per_sample(self) -> bool:
        """Every group holds one sample (or sequence)."""
        return all(len(g) == 1 for g in self.groups)

    def bytes(self, columns: int) -> int:
        """The memory the groups' gradients take for ``columns`` values each."""
        return len(self.groups) * columns * F64


def plan(
    items: Sequence[int],
    microbatches: Optional[Sequence[int]],
    columns: int,
    budget: int,
    unit: str,
) -> Layout:
    """The groups for a batch whose samples count ``items`` items each.

    Args:
        items: the counted items of each sample of the batch (0: left out).
        microbatches: the samples of each micro-batch, in order, adding up to ``len(items)``,
            or ``None``.
        columns: the values of one group's gradient (parameters diagnosed, plus the input's).
        budget: the bytes the groups' gradients may take.
        unit: ``"samples"`` or ``"tokens"``.

    Raises:
        ValueError: a micro-batch with no counted item, no counted item at all, or token
            groups that do not fit the budget with no micro-batches to fall back on.
    """
    n = len(items)
    sizes = list(microbatches) if microbatches is not None else [n]
    batches = []
    start = 0
    for b, size in enumerate(sizes):
        kept = [i for i in range(start, start + size) if items[i] > 0]
        if not kept:
            what = f"micro-batch {b} (samples {start} to {start + size - 1})" if microbatches else "the batch"
            raise ValueError(
                f"{what} has no counted item (every target equals ignore_index): its loss is 0/0; "
                "expected at least one counted item per micro-batch"
            )
        batches.append(kept)
        start += size
    per_group = max(1, columns) * F64
    most = max(1, budget // per_group)
    longest = max(len(k) for k in batches)

    def runs(s: int) -> list:
        """The groups of each micro-batch, for runs of ``s`` samples."""
        return [[tuple(k[i : i + s]) for i in range(0, len(k), s)] for k in batches]

    run = None
    for s in range(1, longest + 1):
        if sum(-(-len(k) // s) for k in batches) <= most:
            run = s
            break
    if unit == "tokens" and run is not None and 1 < run < longest:
        # Token groups are sequences or whole micro-batches, nothing in between.
        run = longest if microbatches is not None else None
    if run is None and unit == "tokens" and microbatches is None:
        raise ValueError(
            f"the {n} sequences' gradients take {n * per_group} bytes, more than memory={budget}; "
            "expected a larger memory budget, or microbatches to diagnose by micro-batch"
        )
    over = run is None
    run = longest if run is None else run
    per_batch = runs(run)
    if run == 1:
        kind = "sequences" if unit == "tokens" else "samples"
    elif all(len(b) == 1 for b in per_batch) and microbatches is not None:
        kind = "micro-batches"
    else:
        kind = f"runs of up to {run} samples"
    groups = tuple(g for b in per_batch for g in b)
    counts = tuple(sum(items[i] for i in g) for g in groups)
    mb = tuple(len(b) for b in per_batch) if microbatches is not None else None
    return Layout(groups, counts, mb, kind, over)
