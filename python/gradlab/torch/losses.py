"""The loss meant, summed over each group's items, and the items each sample counts.

gradlab's convention (docs/diagnose.md "Any model"): a group's gradient is the gradient of its
*summed* loss. The user's ``loss_fn`` is recomputed with ``reduction="sum"``:

- an ``nn`` loss module with a ``reduction`` attribute (``nn.CrossEntropyLoss()``, ``nn.MSELoss()``)
  is deep-copied, moved to float64 and given ``reduction="sum"``;
- a function is called with the keyword ``reduction="sum"`` (as ``torch.nn.functional``'s losses,
  or ``def loss(out, y, reduction="mean"): ...``).

The ``reduction`` of ``loss_fn`` itself does not matter (it may be the bug being diagnosed): the
reduction *meant* is ``diagnose``'s own ``reduction`` argument.

**Items.** The mean of a loss divides its sum by the items it counts. Integer (class index)
targets count the elements not equal to ``ignore_index`` (a token loss when a sample holds more
than one target: unit ``tokens``); floating targets count the loss's elements per sample,
read from the ratio of the summed and the mean loss over the batch (``nn.MSELoss`` on (n, d)
outputs: d per sample; a soft-label cross-entropy: 1). Either way the ratio over the batch is
checked against the items counted: a loss whose mean divides by anything else (class weights)
is refused with one sentence.
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Callable, List, Tuple

import torch
from torch import nn


def _accepts_reduction(fn: Callable) -> bool:
    """``fn`` takes a ``reduction`` keyword (or any keyword)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "reduction" or p.kind == p.VAR_KEYWORD for p in params)


class MeantLoss:
    """The user's loss function recomputed with ``reduction="sum"`` (and ``"mean"``) in float64.

    Args:
        loss_fn: an ``nn`` loss module with a ``reduction`` attribute, or a function
            ``loss_fn(output, target, reduction=...)``.
        ignore_index: the target value that counts no item, when ``loss_fn`` does not say
            (a module's or a ``functools.partial``'s own ``ignore_index`` wins).

    Raises:
        ValueError: ``loss_fn`` is neither.
    """

    def __init__(self, loss_fn: Callable, ignore_index: int = -100):
        self.ignore_index = ignore_index
        if isinstance(loss_fn, nn.Module):
            if not hasattr(loss_fn, "reduction"):
                raise ValueError(
                    f"loss_fn is a {type(loss_fn).__name__} module with no reduction attribute; expected an nn loss "
                    "module (nn.CrossEntropyLoss()) or a function taking a reduction keyword ('sum' or 'mean')"
                )
            if getattr(loss_fn, "weight", None) is not None:
                raise ValueError(
                    "loss_fn has class weights: its mean divides by the targets' total weight, not by an item "
                    "count; expected a loss without weight= (gradlab counts items)"
                )
            self.ignore_index = getattr(loss_fn, "ignore_index", ignore_index)
            self._sum = copy.deepcopy(loss_fn).to(torch.float64)
            self._sum.reduction = "sum"
            self._mean = copy.deepcopy(loss_fn).to(torch.float64)
            self._mean.reduction = "mean"
        elif callable(loss_fn):
            if not _accepts_reduction(loss_fn):
                raise ValueError(
                    "loss_fn takes no reduction keyword; expected an nn loss module (nn.CrossEntropyLoss()) or a "
                    "function loss_fn(output, target, reduction='mean') that honours reduction='sum'"
                )
            if isinstance(loss_fn, functools.partial) and "ignore_index" in loss_fn.keywords:
                self.ignore_index = loss_fn.keywords["ignore_index"]
            self._sum = functools.partial(loss_fn, reduction="sum")
            self._mean = functools.partial(loss_fn, reduction="mean")
        else:
            raise ValueError(f"loss_fn is of type {type(loss_fn).__name__}; expected an nn loss module or a function")

    def summed(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss summed over the items of ``output`` and ``target`` (a group)."""
        return self._sum(output, target)

    def mean(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss averaged over the items of ``output`` and ``target``."""
        return self._mean(output, target)

    def items(self, output: torch.Tensor, target: torch.Tensor) -> Tuple[List[int], str]:
        """The items each sample of the batch counts, and the unit (``"samples"`` or ``"tokens"``).

        ``output`` is the float64 model's output on the whole batch.

        Raises:
            ValueError: the loss's mean does not divide its sum by the items counted.
        """
        n = target.shape[0]
        with torch.no_grad():
            total = float(self.summed(output, target))
            mean = float(self.mean(output, target))
        if not torch.is_floating_point(target) and not torch.is_complex(target):
            counted = (target != self.ignore_index).reshape(n, -1).sum(dim=1)
            items = [int(c) for c in counted]
            unit = "tokens" if target[0].numel() > 1 else "samples"
            expected = sum(items)
            if mean != 0.0 and expected > 0 and abs(total / mean - expected) > 1e-6 * expected:
                raise ValueError(
                    f"loss_fn's mean divides its sum by {total / mean:.6g}, not by the {expected} items counted "
                    f"(targets not equal to ignore_index={self.ignore_index}); expected a mean over the counted items "
                    "(no class weights; pass ignore_index= if the loss ignores another value)"
                )
            return items, unit
        if mean == 0.0:
            raise ValueError(
                "the loss is 0 on this batch, so its items cannot be read from its mean; expected a batch with a "
                "nonzero loss"
            )
        ratio = total / mean / n
        per = round(ratio)
        if per < 1 or abs(ratio - per) > 1e-6 * per:
            raise ValueError(
                f"loss_fn's mean divides its sum by {total / mean:.6g}, not by a whole number of items per sample "
                f"for the {n} samples; expected a mean over the loss's elements"
            )
        return [per] * n, "samples"
