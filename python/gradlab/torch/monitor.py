"""``gradlab.torch.Monitor``: the diagnosis inside a training loop, at optimizer steps."""

from __future__ import annotations

import warnings
from typing import Callable, List, Optional, Tuple

import torch
from torch import nn

from .diagnose_model import diagnose
from .report import Report


class GradientWarning(UserWarning):
    """The gradient of an optimizer step is not the gradient of the loss meant."""


class Monitor:
    """Checks the gradient at optimizer steps against the batches that produced it, and warns
    once (:class:`GradientWarning`, with the diagnosis) when it is wrong.

    Usage: create it with the model, the loss meant and the optimizer, and tell it each batch
    that went through ``loss.backward()``::

        monitor = gradlab.torch.Monitor(model, nn.CrossEntropyLoss(), optimizer, every=100)
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            monitor.observe(x, y)
            optimizer.step()          # checked here, every 100th step

    With gradient accumulation, ``observe`` each micro-batch: the step's micro-batches are the
    batches observed since the step before.

    **What it checks.** At every ``every``-th optimizer step (through
    ``optimizer.register_step_pre_hook``, before the parameters move) it calls
    :func:`gradlab.torch.diagnose` on the batches observed since the gradients were last zeroed:
    the step's micro-batches when they were (``microbatches`` = their sizes), or, when the
    gradients were *not* zeroed since the previous step, every batch since they were (the groups
    then stand for all of them: a gradient summed over E steps is E times their mean, named
    ``accumulated_over_steps``). Whether they were zeroed is read when the first gradient after a
    step reaches a parameter (a tensor hook, before it is added to ``.grad``): every ``.grad`` None
    or zero then (a forward outside the training step, an evaluation, does not count). A step whose gradients
    were not zeroed is checked whatever ``every`` says (the first such step only), so a forgotten
    ``zero_grad`` is caught at the second step.

    **Once.** After the first wrong step it warns and stops checking (``warned``); an inconclusive
    step is recorded in ``reports`` without a warning. A model the diagnosis refuses (dropout or
    batch norm in training mode: its gradient is no sum over samples) gets one warning that it
    cannot be checked, and the monitor stops.

    **Cost.** Observed batches are cloned (at most two steps' worth are kept); a check costs one
    diagnosis (the groups' gradients in float64: about the time of a float64 forward and backward
    per group, see docs/python-torch.md). Use ``every`` to space the checks.

    Args:
        model: the ``nn.Module`` trained.
        loss_fn: the loss meant (as :func:`gradlab.torch.diagnose` takes it).
        optimizer: the ``torch.optim`` optimizer whose steps are checked.
        every: check every ``every``-th step (1: every step).
        **options: passed on to :func:`gradlab.torch.diagnose` (``reduction``, ``dtype``,
            ``tolerance``, ``memory``, ``ignore_index``).

    Attributes:
        reports: ``(step, report)`` for every check, step counted from 1.
        warned: whether it has warned (and stopped).
        steps: the optimizer steps seen.
    """

    def __init__(
        self, model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, every: int = 1, **options
    ):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model is of type {type(model).__name__}; expected a torch.nn.Module")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer is of type {type(optimizer).__name__}; expected a torch.optim.Optimizer")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every is {every!r}; expected a whole number of steps, 1 or more")
        if "microbatches" in options or "grads" in options:
            raise ValueError(
                "the monitor reads the micro-batches and gradients itself; expected no microbatches or grads"
            )
        self.model, self.loss_fn, self.optimizer, self.every = model, loss_fn, optimizer, every
        self.options = options
        self.reports: List[Tuple[int, Report]] = []
        self.warned = False
        self.steps = 0
        self._window: List[Tuple[List[torch.Tensor], torch.Tensor]] = []
        self._step_start = 0  # index in _window of the current step's first batch
        self._stale = False  # the window reaches back over a step whose gradients were not zeroed
        self._pending = True  # zeroing not yet read since the last step
        self._busy = False
        self._forced = False  # a step whose gradients were not zeroed was checked already
        monitor = self

        def before_accumulate(grad):
            monitor._on_backward()

        def before_step(opt, args, kwargs):
            monitor._on_step()

        def after_step(opt, args, kwargs):
            monitor._after_step()

        self._handles = [p.register_hook(before_accumulate) for p in model.parameters() if p.requires_grad]
        self._handles += [
            optimizer.register_step_pre_hook(before_step),
            optimizer.register_step_post_hook(after_step),
        ]

    def observe(self, inputs, targets: torch.Tensor) -> None:
        """Records a batch that went through ``loss.backward()`` for the coming step (a tensor or
        a tuple of the model's positional inputs, and the targets)."""
        if self.warned:
            return
        xs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        self._window.append(([x.detach().clone() for x in xs], targets.detach().clone()))

    def close(self) -> None:
        """Removes the monitor's hooks from the model and the optimizer."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._window = []

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def report(self) -> Optional[Report]:
        """The last check's report (None before the first)."""
        return self.reports[-1][1] if self.reports else None

    def _on_backward(self) -> None:
        """At the first gradient reaching a parameter after a step (a tensor hook, called before
        it is added to ``.grad``): were the gradients zeroed since the step?"""
        if self._busy or not self._pending:
            return
        self._pending = False
        zeroed = all(p.grad is None or not bool(p.grad.any()) for p in self.model.parameters())
        self._stale = not zeroed and self.steps > 0
        if not self._stale or self._forced:
            # Batches before the last step are of no use any more: either the gradients were zeroed,
            # or a step like this one was checked already (the window would grow without end).
            del self._window[: self._step_start]
        self._step_start = 0

    def _on_step(self) -> None:
        if self.warned or self._busy:
            return
        step = self.steps + 1
        force = self._stale and not self._forced
        if not self._window or (step % self.every != 0 and not force):
            return
        self._forced = self._forced or force
        xs = [torch.cat([b[0][k] for b in self._window]) for k in range(len(self._window[0][0]))]
        ys = torch.cat([b[1] for b in self._window])
        sizes = [b[1].shape[0] for b in self._window]
        micro = sizes if len(sizes) > 1 and not self._stale else None
        self._busy = True
        try:
            report = diagnose(self.model, self.loss_fn, xs, ys, microbatches=micro, **self.options)
        except ValueError as e:
            self.warned = True
            warnings.warn(
                f"gradlab.torch.Monitor cannot check this training loop and stops: {e}", GradientWarning, stacklevel=3
            )
            return
        finally:
            self._busy = False
        self.reports.append((step, report))
        if report.verdict == "wrong":
            self.warned = True
            why = "the gradients were not zeroed since the previous step; " if self._stale else ""
            warnings.warn(
                f"gradlab.torch.Monitor: the gradient at optimizer step {step} is WRONG ({why}causes: "
                f"{', '.join(report.causes)}); it stops checking.\n{report}",
                GradientWarning,
                stacklevel=3,
            )

    def _after_step(self) -> None:
        self.steps += 1
        self._pending = True
        self._step_start = len(self._window)
