"""``gradlab.torch.diagnose``: the step's gradient of any ``nn.Module`` against its groups'."""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .core import diagnose_blocks
from .gradients import as_float64, check_separable, float64_copy, group_gradients
from .layout import plan
from .losses import MeantLoss
from .report import Report
from .step_back import StepBack

#: The torch dtypes a gradient may be stored in, by the core's dtype name.
DTYPES = {torch.float64: "f64", torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}

#: The dtype names the core takes (the command line's ``--dtype``).
DTYPE_NAMES = ("f64", "f32", "bf16", "f16", "bf16+f32", "f16+f32")

#: The reductions meant.
REDUCTIONS = ("mean", "sum", "sequence-mean")

#: The default memory budget of the groups' gradients, in bytes (256 MiB).
MEMORY = 1 << 28

Tensors = Union[torch.Tensor, Sequence[torch.Tensor]]


def _inputs(inputs: Tensors) -> List[torch.Tensor]:
    """The model's positional inputs as a list, checked."""
    xs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs) if isinstance(inputs, (list, tuple)) else None
    if not xs or not all(isinstance(x, torch.Tensor) for x in xs):
        raise ValueError(
            f"inputs is of type {type(inputs).__name__}; expected a tensor, or a tuple of tensors (the model's positional "
            "inputs), batch first"
        )
    if any(x.dim() == 0 for x in xs):
        raise ValueError(
            "inputs holds a 0-dimensional tensor; expected batch-first tensors (samples on the first axis)"
        )
    n = xs[0].shape[0]
    for k, x in enumerate(xs):
        if x.shape[0] != n:
            raise ValueError(f"input {k} holds {x.shape[0]} samples and input 0 holds {n}; expected the same batch")
    if n == 0:
        raise ValueError("inputs hold no sample; expected at least one")
    return xs


def _microbatches(microbatches, n: int) -> Optional[List[int]]:
    """The micro-batch sizes, checked against the batch."""
    if microbatches is None:
        return None
    try:
        sizes = [int(s) for s in microbatches]
        ok = all(int(s) == s for s in microbatches)
    except (TypeError, ValueError):
        sizes, ok = [], False
    if not ok or not sizes or min(sizes) < 1:
        raise ValueError(
            f"microbatches is {microbatches!r}; expected the samples of each micro-batch of the step, in order "
            "(a list of positive whole numbers, like [3, 5, 8])"
        )
    if sum(sizes) != n:
        raise ValueError(
            f"microbatches {sizes} hold {sum(sizes)} samples; expected {n}, the samples in inputs (the step's "
            "micro-batches concatenated, in order)"
        )
    return sizes


def _dtype_name(dtype, what: str) -> str:
    """The core's name of ``dtype`` (a torch dtype or a name)."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES:
            raise ValueError(f"{what} is stored as {dtype}; expected float64, float32, bfloat16 or float16")
        return DTYPES[dtype]
    if isinstance(dtype, str) and dtype in DTYPE_NAMES:
        return dtype
    raise ValueError(
        f"dtype is {dtype!r}; expected None (read from the gradients), a torch dtype, or one of "
        f"{', '.join(DTYPE_NAMES)}"
    )


def _user_gradients(model: nn.Module, grads: Optional[Mapping]) -> tuple:
    """The gradients to diagnose by parameter name, and the parameters skipped with why."""
    params = dict(model.named_parameters())
    if grads is not None:
        if not isinstance(grads, Mapping):
            raise ValueError(f"grads is of type {type(grads).__name__}; expected a dict of parameter name to gradient")
        unknown = [k for k in grads if k not in params]
        if unknown:
            raise ValueError(
                f"grads names {unknown[0]!r}, which is no parameter of the model; expected names from "
                "model.named_parameters()"
            )
    found: Dict[str, torch.Tensor] = {}
    skipped: Dict[str, str] = {}
    for name, p in params.items():
        if not p.requires_grad:
            continue
        if grads is not None:
            g = grads.get(name)
            if g is None:
                skipped[name] = "not in grads"
                continue
            g = torch.as_tensor(g)
        else:
            g = p.grad
            if g is None:
                skipped[name] = "no .grad (it took no part in the backward, or the gradients were zeroed)"
                continue
        if g.numel() != p.numel():
            raise ValueError(
                f"the gradient of {name} holds {g.numel()} values; expected {p.numel()}, the parameter's "
                f"{tuple(p.shape)}"
            )
        found[name] = g.detach()
    return found, skipped


def _as_numpy(g: torch.Tensor) -> np.ndarray:
    """A gradient flattened to float64 (exactly: every dtype gradlab takes widens exactly)."""
    return g.detach().to(torch.float64).cpu().reshape(-1).numpy()


def diagnose(
    model: nn.Module,
    loss_fn: Callable,
    inputs: Tensors,
    targets: torch.Tensor,
    grads: Optional[Mapping[str, torch.Tensor]] = None,
    microbatches: Optional[Sequence[int]] = None,
    reduction: str = "mean",
    dtype=None,
    *,
    accumulation: Optional[int] = None,
    ranks: Optional[int] = None,
    tolerance: Optional[float] = None,
    ignore_index: int = -100,
    memory: int = MEMORY,
    vmap: bool = True,
) -> Report:
    """Diagnoses the gradient a training loop left in ``model``: is it the gradient of the loss
    meant, and if not, which summing-versus-averaging mistake made it?

    gradlab recomputes, in float64 on a deep copy of the model, the gradient of each group's
    summed loss (each sample, or each sequence for a token loss; runs of samples or whole
    micro-batches when the samples' gradients would not fit ``memory``), recovers the weights the
    user's gradient gives them, and names the pattern (the Rust core's model-agnostic diagnosis,
    ``gradlab diagnose --groups``), once per parameter and once for each input whose ``.grad`` is
    set. Call it after the step's last ``loss.backward()`` and before ``optimizer.step()`` (the
    groups must be computed at the parameters the gradient was).

    Args:
        model: the ``nn.Module`` (untouched). Its forward must treat the samples independently:
            batch norm in training mode and active dropout are refused (use ``model.eval()`` or
            dropout 0 for the step diagnosed).
        loss_fn: the loss meant, on ``(model(*inputs), targets)``: an ``nn`` loss module
            (``nn.CrossEntropyLoss()``, ``nn.MSELoss()``) or a function taking a ``reduction``
            keyword (``F.cross_entropy``, ``def loss(out, y, reduction="mean")``). Its own
            reduction is ignored: gradlab sums it per group.
        inputs: the step's whole batch (every micro-batch, in order), batch first: a tensor or a
            tuple of tensors (the model's positional inputs). An input that requires grad and has
            a ``.grad`` is diagnosed too (``report.inputs``).
        targets: the targets, batch first. Integer targets are class indices (``ignore_index``
            counts no item; several per sample make a token loss, the groups sequences and the
            counts their tokens); floating targets count the loss's elements per sample.
        grads: the gradients to diagnose by parameter name (tensors or arrays of the parameter's
            size); default: each parameter's ``.grad``.
        microbatches: the samples in each micro-batch of the step, in order (``[3, 5, 8]``).
        reduction: the loss meant: ``"mean"`` over the step's items, ``"sum"``, or
            ``"sequence-mean"`` (the mean of the sequences' token means).
        dtype: the dtype the gradient was computed in: ``None`` reads each gradient's dtype
            (float32 -> ``"f32"``, bfloat16 -> ``"bf16"``, ...); under autocast pass the autocast
            dtype (``"bf16"``); ``"bf16+f32"`` for bf16 storage with float32 computation.
        accumulation: the configured accumulation steps K, when more than the micro-batches given
            (a partial last window).
        ranks: data-parallel ranks holding equal consecutive shares of the groups.
        tolerance: a relative tolerance replacing the dtype's (a model whose own rounding is larger).
        ignore_index: the target value that counts no item, when ``loss_fn`` does not carry one.
        memory: bytes the groups' gradients may take (default 256 MiB): samples as groups when
            they fit, else runs of samples, else micro-batches.
        vmap: compute the samples' gradients with ``torch.func`` (``vmap(grad)``; a forward it
            cannot batch falls back on one backward per sample). ``False``: one backward per
            sample, which avoids the one-time import of ``torch._dynamo`` that ``torch.func.grad``
            triggers (about 3 s on first use in a process) and is as fast for wide layers, but
            8 to 20 times slower for small models (docs/python-torch.md).

    Returns:
        a :class:`~gradlab.torch.Report`: ``verdict`` (wrong if any tensor is, inconclusive if any
        is, else correct), ``causes``, ``parameters`` (name to diagnosis), ``inputs``,
        ``skipped``, ``to_json()``; ``print(report)`` prints each tensor as the command line does.

    Raises:
        ValueError: with one sentence, for arguments that do not fit together, a model whose
            gradient is no sum over samples, or no gradient to diagnose.

    Example:
        >>> loss = F.cross_entropy(model(x), y, reduction="sum")   # the bug
        >>> loss.backward()
        >>> report = gradlab.torch.diagnose(model, nn.CrossEntropyLoss(), x, y)
        >>> report.verdict, report.causes
        ('wrong', ['sum_instead_of_mean'])
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model is of type {type(model).__name__}; expected a torch.nn.Module")
    xs = _inputs(inputs)
    n = xs[0].shape[0]
    if not isinstance(targets, torch.Tensor) or targets.dim() == 0 or targets.shape[0] != n:
        if isinstance(targets, torch.Tensor) and targets.dim():
            what = f"a tensor of {targets.shape[0]} samples"
        else:
            what = f"of type {type(targets).__name__}"
        raise ValueError(f"targets is {what}; expected a batch-first tensor of the {n} samples in inputs")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction is {reduction!r}; expected one of {', '.join(REDUCTIONS)} (the loss meant)")
    sizes = _microbatches(microbatches, n)
    if not isinstance(memory, int) or memory < 1:
        raise ValueError(f"memory is {memory!r}; expected a positive number of bytes")
    fixed_dtype = None if dtype is None else _dtype_name(dtype, "dtype")
    loss = MeantLoss(loss_fn, ignore_index)
    check_separable(model)

    user, skipped = _user_gradients(model, grads)
    slots = [k for k, x in enumerate(xs) if x.requires_grad and x.grad is not None]
    input_names = ["input" if len(xs) == 1 else f"input[{k}]" for k in slots]
    for k, x in enumerate(xs):
        if x.requires_grad and x.grad is None:
            skipped["input" if len(xs) == 1 else f"input[{k}]"] = "requires grad but has no .grad"
    if not user and not slots:
        raise ValueError(
            "no parameter of the model has a .grad and no input has one (nor was grads given); expected diagnose "
            "after the step's loss.backward() and before optimizer.zero_grad()"
        )

    twin = float64_copy(model)
    xs64 = [as_float64(x) for x in xs]
    targets64 = as_float64(targets)
    with torch.no_grad():
        output = twin(*xs64)
    items, unit = loss.items(output, targets64)
    if reduction == "sequence-mean" and unit != "tokens":
        raise ValueError(
            "reduction 'sequence-mean' needs a token loss (integer targets of several tokens per sample); "
            "expected reduction 'mean' or 'sum' for these targets"
        )
    names = list(user)
    columns = sum(twin.get_parameter(nm).numel() for nm in names) + sum(xs[k].numel() for k in slots)
    layout = plan(items, sizes, columns, memory, unit)
    G, G_in, method = group_gradients(twin, loss, xs64, targets64, layout, names, slots, vmap=vmap)

    blocks = [(name, _as_numpy(user[name]), G[name], fixed_dtype or _dtype_name(user[name].dtype, name)) for name in names]
    blocks += [
        (name, _as_numpy(xs[k].grad), Gk, fixed_dtype or _dtype_name(xs[k].grad.dtype, name))
        for name, k, Gk in zip(input_names, slots, G_in)
    ]
    steps = {name: as_float64(user[name]) for name in names}
    back = StepBack(twin, loss, xs64, targets64, layout, names, slots, steps)
    done = diagnose_blocks(
        blocks,
        layout.counts,
        unit=unit,
        reduction=reduction,
        microbatches=layout.microbatches,
        accumulation=accumulation,
        ranks=ranks,
        tolerance=tolerance,
        step_back=back,
    )
    parameters = dict(zip(names, done[: len(names)]))
    inputs_done = dict(zip(input_names, done[len(names) :]))
    groups = {
        "kind": layout.kind,
        "count": len(layout.groups),
        "items": int(sum(layout.counts)),
        "unit": unit,
        "reduction": reduction,
        "microbatches": list(layout.microbatches) if layout.microbatches is not None else None,
        "method": method,
        "bytes": layout.bytes(columns),
        "over_budget": layout.over_budget,
    }
    return Report(parameters, inputs_done, skipped, groups)
