"""The groups' gradients of the loss meant, in float64, on a copy of the model.

:func:`float64_copy` deep-copies the model to float64 (the user's model, its parameters and
their ``.grad`` are never touched). :func:`group_gradients` computes, for each group of a
:class:`~gradlab.torch.layout.Layout`, the gradient of the group's summed loss with respect to
the parameters diagnosed (and the inputs diagnosed), each parameter's stored as a (J, P_k)
float64 numpy array:

- one group per sample: ``torch.func`` per-sample gradients (``functional_call`` + ``vmap(grad)``),
  in chunks of samples whose gradients take at most :data:`CHUNK_BYTES`; if the model's forward
  cannot be vmapped (an op without a batching rule, data-dependent control flow), one backward
  per sample instead;
- larger groups: one backward per group.

Models whose gradient is not a sum over samples are refused (:func:`check_separable`): batch
normalisation in training mode couples the samples, and active dropout draws a random mask the
recomputation cannot replay.
"""

from __future__ import annotations

import copy
import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .layout import Layout
from .losses import MeantLoss

#: The most bytes one vmapped chunk's per-sample gradients take (its activations come on top).
CHUNK_BYTES = 1 << 26


def check_separable(model: nn.Module) -> None:
    """Refuses a model whose gradient is not a sum of the samples' gradients.

    Raises:
        ValueError: batch normalisation in training mode, or dropout with p > 0 in training mode.
    """
    for name, m in model.named_modules():
        if not m.training:
            continue
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                f"{name or 'the model'} is a {type(m).__name__} in training mode: its batch statistics couple the "
                "samples, so the gradient is no sum of the samples' gradients; expected model.eval() for the step "
                "diagnosed (or a per-sample norm: LayerNorm, GroupNorm)"
            )
        p = getattr(m, "p", None) if isinstance(m, nn.modules.dropout._DropoutNd) else getattr(m, "dropout", None)
        if isinstance(m, (nn.modules.dropout._DropoutNd, nn.MultiheadAttention)) and p:
            raise ValueError(
                f"{name or 'the model'} drops out with p = {p} in training mode: the gradient depends on a random mask "
                "gradlab cannot replay; expected model.eval() or dropout 0 for the step diagnosed"
            )


def float64_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in float64, without gradients."""
    twin = copy.deepcopy(model).to(torch.float64)
    for p in twin.parameters():
        p.grad = None
    return twin


def as_float64(t: torch.Tensor) -> torch.Tensor:
    """``t`` detached, in float64 when floating (integer tensors, token ids, are kept)."""
    t = t.detach()
    return t.to(torch.float64) if torch.is_floating_point(t) else t


def group_gradients(
    twin: nn.Module,
    loss: MeantLoss,
    inputs: Sequence[torch.Tensor],
    targets: torch.Tensor,
    layout: Layout,
    names: Sequence[str],
    input_slots: Sequence[int],
    vmap: bool = True,
) -> Tuple[Dict[str, np.ndarray], List[np.ndarray], str]:
    """The groups' gradients of the summed loss meant.

    Args:
        twin: the float64 copy of the model.
        loss: the loss meant.
        inputs: the model's positional inputs in float64, batch first.
        targets: the targets, batch first.
        layout: the groups.
        names: the parameters to differentiate (names in ``twin.named_parameters()``).
        input_slots: the positions in ``inputs`` whose gradient is diagnosed.
        vmap: per-sample groups by ``torch.func`` (else one backward per sample).

    Returns:
        the parameters' (J, P_k) arrays by name, the inputs' (J, numel) arrays in
        ``input_slots`` order, and how they were computed (for the report).
    """
    params = dict(twin.named_parameters())
    j = len(layout.groups)
    out = {n: np.zeros((j, params[n].numel())) for n in names}
    ins = [np.zeros((j, inputs[k].numel())) for k in input_slots]
    method = "one backward per group"
    if layout.per_sample and not vmap:
        method = "one backward per sample"
    elif layout.per_sample:
        try:
            _per_sample(twin, loss, inputs, targets, layout, names, input_slots, out, ins)
            return out, ins, "torch.func per-sample gradients (vmap)"
        except Exception:  # an op vmap cannot batch: fall back on one backward per sample
            for a in list(out.values()) + ins:
                a.fill(0.0)
            method = "one backward per sample (the forward does not vmap)"
    _per_group(twin, loss, inputs, targets, layout, names, input_slots, out, ins)
    return out, ins, method


def _per_group(twin, loss, inputs, targets, layout, names, input_slots, out, ins) -> None:
    """One backward per group."""
    params = dict(twin.named_parameters())
    wrt = [params[n] for n in names]
    for row, members in enumerate(layout.groups):
        idx = torch.tensor(members, dtype=torch.long, device=targets.device)
        xs = [x.index_select(0, idx) for x in inputs]
        for k in input_slots:
            xs[k] = xs[k].clone().requires_grad_(True)
        value = loss.summed(twin(*xs), targets.index_select(0, idx))
        grads = torch.autograd.grad(value, wrt + [xs[k] for k in input_slots], allow_unused=True)
        for n, g in zip(names, grads):
            if g is not None:
                out[n][row] = g.reshape(-1).cpu().numpy()
        for s, (k, g) in enumerate(zip(input_slots, grads[len(names) :])):
            if g is not None:
                block = ins[s][row].reshape(inputs[k].shape)
                block[list(members)] = g.cpu().numpy()


def _per_sample(twin, loss, inputs, targets, layout, names, input_slots, out, ins) -> None:
    """torch.func per-sample gradients, in chunks of samples."""
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in twin.named_parameters()}
    wanted = {n: params[n] for n in names}
    fixed = {n: p for n, p in params.items() if n not in wanted}
    buffers = {n: b.detach() for n, b in twin.named_buffers()}
    slots = list(input_slots)

    def one(w, diff, rest, y):
        xs = list(rest)
        for k, x in zip(slots, diff):
            xs[k] = x
        state = {**fixed, **w, **buffers}
        output = functional_call(twin, state, tuple(x.unsqueeze(0) for x in xs))
        return loss.summed(output, y.unsqueeze(0))

    per = max(1, sum(p.numel() for p in wanted.values()) + sum(inputs[k][0].numel() for k in slots)) * 8
    chunk = max(1, min(len(layout.groups), CHUNK_BYTES // per))
    order = [g[0] for g in layout.groups]
    fn = vmap(grad(one, argnums=(0, 1)), in_dims=(None, 0, 0, 0))
    for start in range(0, len(order), chunk):
        rows = order[start : start + chunk]
        idx = torch.tensor(rows, dtype=torch.long, device=targets.device)
        rest = tuple(x.index_select(0, idx) for x in inputs)
        diff = tuple(rest[k] for k in slots)
        with warnings.catch_warnings():
            # vmap's note that an op (attention's fused kernel) runs unbatched, one sample at a time
            warnings.filterwarnings("ignore", message="There is a performance drop")
            gw, gx = fn(wanted, diff, rest, targets.index_select(0, idx))
        for n in names:
            out[n][start : start + len(rows)] = gw[n].reshape(len(rows), -1).cpu().numpy()
        for s, (k, g) in enumerate(zip(slots, gx)):
            view = ins[s].reshape((len(layout.groups),) + tuple(inputs[k].shape))
            for r, i in enumerate(rows):
                view[start + r, i] = g[r].cpu().numpy()
