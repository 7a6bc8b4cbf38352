"""The loss meant at other parameters, for the core's ``params_after_step``.

A gradient taken before ``optimizer.step()`` and diagnosed after it belongs to the parameters
one step back. The groups alone cannot show that; the core asks an object that has the model
(:class:`StepBack`) for the loss meant's gradient at ``theta + lr v`` (``v``: each parameter's
given gradient, the step plain SGD took) and for its derivative in ``lr``, and searches ``lr``
itself (docs/diagnose.md, "params_after_step"). Everything here runs in float64 on the copy of
the model; the user's model is never touched.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch
from torch import nn

from .layout import Layout
from .losses import MeantLoss


class StepBack:
    """Evaluates the loss meant on the float64 copy of the model at ``theta + lr v``.

    Args:
        twin: the float64 copy of the model (its parameters are moved and put back).
        loss: the loss meant.
        inputs: the model's positional inputs in float64, batch first.
        targets: the targets, batch first.
        layout: the groups (the weights the core passes are one per group).
        names: the parameters diagnosed, in the blocks' order.
        input_slots: the inputs diagnosed, in the blocks' order after the parameters.
        steps: each parameter's given gradient (the step's direction ``v``), by name, float64.
    """

    def __init__(
        self,
        twin: nn.Module,
        loss: MeantLoss,
        inputs: Sequence[torch.Tensor],
        targets: torch.Tensor,
        layout: Layout,
        names: Sequence[str],
        input_slots: Sequence[int],
        steps: Dict[str, torch.Tensor],
    ):
        self.twin = twin
        self.loss = loss
        self.inputs = list(inputs)
        self.targets = targets
        self.layout = layout
        self.names = list(names)
        self.slots = list(input_slots)
        params = dict(twin.named_parameters())
        self.params = [params[n] for n in self.names]
        self.theta = [p.detach().clone() for p in self.params]
        self.v = [steps[n].reshape(p.shape).to(torch.float64) for n, p in zip(self.names, self.params)]

    def _loss(self, weights: Sequence[float], xs: List[torch.Tensor]) -> torch.Tensor:
        """sum_j weights[j] (group j's summed loss), one forward per distinct weight."""
        by_weight: Dict[float, List[int]] = {}
        for w, members in zip(weights, self.layout.groups):
            by_weight.setdefault(float(w), []).extend(members)
        total = None
        for w, members in by_weight.items():
            idx = torch.tensor(sorted(members), dtype=torch.long, device=self.targets.device)
            part = self.loss.summed(self.twin(*[x.index_select(0, idx) for x in xs]), self.targets.index_select(0, idx))
            total = w * part if total is None else total + w * part
        return total

    def _at(self, lr: float) -> None:
        with torch.no_grad():
            for p, t, v in zip(self.params, self.theta, self.v):
                p.copy_(t + lr * v)

    def _wrt(self) -> List[torch.Tensor]:
        xs = list(self.inputs)
        for k in self.slots:
            xs[k] = xs[k].detach().clone().requires_grad_(True)
        return xs

    @staticmethod
    def _flat(grads, like) -> List[np.ndarray]:
        return [
            (torch.zeros_like(t) if g is None else g).detach().reshape(-1).cpu().numpy().astype(np.float64)
            for g, t in zip(grads, like)
        ]

    def gradient_at(self, lr: float, weights: Sequence[float]) -> List[np.ndarray]:
        """The loss meant's gradient at ``theta + lr v``, one flat array per tensor diagnosed."""
        try:
            self._at(lr)
            xs = self._wrt()
            wrt = self.params + [xs[k] for k in self.slots]
            grads = torch.autograd.grad(self._loss(weights, xs), wrt, allow_unused=True)
            return self._flat(grads, wrt)
        finally:
            self._at(0.0)

    def derivative(self, weights: Sequence[float]) -> List[np.ndarray]:
        """The derivative of :meth:`gradient_at` in ``lr`` at 0: the Hessian times ``v`` by double
        backward, or a central difference where the model has no second derivative."""
        self._at(0.0)
        xs = self._wrt()
        wrt = self.params + [xs[k] for k in self.slots]
        try:
            first = torch.autograd.grad(self._loss(weights, xs), wrt, create_graph=True, allow_unused=True)
            dot = sum((g * v).sum() for g, v in zip(first[: len(self.params)], self.v) if g is not None)
            second = torch.autograd.grad(dot, wrt, allow_unused=True)
            return self._flat(second, wrt)
        except RuntimeError:
            scale = max(float(torch.linalg.vector_norm(torch.cat([t.reshape(-1) for t in self.theta]))), 1.0)
            size = max(float(torch.linalg.vector_norm(torch.cat([v.reshape(-1) for v in self.v]))), 1e-300)
            h = 1e-6 * scale / size
            up, down = self.gradient_at(h, weights), self.gradient_at(-h, weights)
            return [(a - b) / (2.0 * h) for a, b in zip(up, down)]
