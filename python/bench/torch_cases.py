"""The test loops' diagnoses as a table (docs/python-torch.md): for each model (MLP, CNN, small
transformer) and loop (python/tests/torch_loops.py), in float32 and bfloat16, how many tensors
(parameters, and the input where it has a gradient) got each verdict and cause.

    python python/bench/torch_cases.py
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import Counter

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import gradlab.torch as gt  # noqa: E402
from torch_loops import cnn_case, mlp_case, run_loop, transformer_case  # noqa: E402

SIZES = [3, 5, 8]
LOOPS = [
    ("correct", None, {}),
    ("correct", SIZES, {}),
    ("sum_instead_of_mean", None, {}),
    ("mean_of_microbatch_means", SIZES, {}),
    ("sum_of_microbatch_means", SIZES, {}),
    ("accumulated_over_steps", None, {"lr": 0.0}),
    ("accumulated_over_steps", None, {"lr": 1e-4}),
]


def cell(report) -> str:
    """verdict/cause: tensors, most first."""
    c = Counter()
    for d in report.diagnoses.values():
        c[d.verdict if not d.causes else d.causes[0] + (" +" + ",".join(d.causes[1:]) if d.causes[1:] else "")] += 1
    return ", ".join(f"{k} {v}" for k, v in c.most_common())


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print("| loop | micro-batches | MLP f32 | CNN f32 | transformer f32 | MLP bf16 | CNN bf16 | transformer bf16 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for loop, sizes, kw in LOOPS:
        cells = []
        for dtype in (None, torch.bfloat16):
            for case in (mlp_case, cnn_case, transformer_case):
                if dtype is not None and loop == "accumulated_over_steps":
                    cells.append("")
                    continue
                model, x, y, loss_fn = case()
                if dtype is not None:
                    model = model.to(dtype)
                    x = x.to(dtype) if x.is_floating_point() else x
                x = run_loop(model, loss_fn, x, y, loop, sizes, input_grad=x.is_floating_point(), **kw)
                cells.append(cell(gt.diagnose(model, loss_fn, x, y, microbatches=sizes)))
        name = loop + (f" (lr {kw['lr']:g})" if kw else "")
        print(f"| {name} | {','.join(map(str, sizes)) if sizes else '-'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
