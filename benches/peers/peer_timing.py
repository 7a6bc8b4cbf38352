#!/usr/bin/env python3
"""Wall times of PyTorch peers of gradlab's benchmarks, on the same problems.

(a) ``seed``: the loop of the Cross Validated question 491171 in float32 -- 10 epochs of SGD
    (lr 1e-3) on a linear layer with cross-entropy, x.requires_grad, then the 9-step
    central-difference table eps = 1e0 ... 1e-8, perturbing every element of x and
    re-evaluating the whole loss (lossp - lossn) / (2 eps). Compare with gradlab's
    ``seed_table_f32`` (benches/check.rs).
(b) ``gradcheck``: ``torch.autograd.gradcheck`` in float64 of the loss as a function of x
    (the problem's initial weight and bias), on the 256x64 k=10 problem. Like gradlab's
    naive path it re-evaluates the whole loss for every perturbation; compare with
    ``central_input_check/naive_256x64_k10/f64`` and ``central_input_check/256x64_k10/f64``.

Problem folders hold x.npy (n x d), t.npy (n, int64), weight.npy (k x d) and bias.npy (k) as
written by ``gradlab::problem::Problem::save``; ``cargo bench --bench check -- --list`` writes
them to target/peer-problems/ (see README.md next to this script).

Prints the median wall time over ``--repeats`` timed runs (after one untimed warm-up run).
Not used by gradlab's tests; needs numpy and torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn as nn
    from torch.optim import SGD
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("peer_timing.py needs PyTorch (pip install torch); it is not a gradlab dependency.")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SEED_DIR = REPO / "target" / "peer-problems" / "seed_10x4_k2"
DEFAULT_GRADCHECK_DIR = REPO / "target" / "peer-problems" / "256x64_k10"


def load_problem(folder: Path) -> dict[str, np.ndarray]:
    """The four arrays of a problem folder, checked for consistent shapes."""
    arrays = {name: np.load(folder / f"{name}.npy") for name in ("x", "t", "weight", "bias")}
    n, d = arrays["x"].shape
    k = arrays["weight"].shape[0]
    if arrays["weight"].shape != (k, d) or arrays["bias"].shape != (k,) or arrays["t"].shape != (n,):
        sys.exit(f"{folder}: inconsistent shapes {({a: v.shape for a, v in arrays.items()})}")
    return arrays


def relerr(g1: torch.Tensor, g2: torch.Tensor) -> np.ndarray:
    """The question's relative error |g1 - g2| / max(|g1|, |g2|) (cs231n)."""
    a, b = g1.numpy(), g2.numpy()
    return np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))


def seed_run(p: dict[str, np.ndarray], nepochs: int = 10) -> list[tuple[float, float]]:
    """One run of the question's protocol in float32; returns (eps, mean relerr) per step."""
    n, d = p["x"].shape
    k = p["weight"].shape[0]
    m = nn.Linear(d, k)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(p["weight"]).float())
        m.bias.copy_(torch.from_numpy(p["bias"]).float())
    opt = SGD(m.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    x = torch.from_numpy(p["x"]).float().requires_grad_(True)
    t = torch.from_numpy(p["t"]).long()

    # Train for a short while. opt.zero_grad() zeroes the parameters' gradients only, so
    # x.grad accumulates over the epochs, exactly as in the question.
    for i in range(nepochs):
        opt.zero_grad()
        y = m(x)
        loss = crit(y, t)
        loss.backward()
        if i < nepochs - 1:
            opt.step()

    # Numerical approximation of the input gradient for several step sizes eps.
    table = []
    for eps in [10 ** (-e) for e in range(0, 9)]:
        grad_num = torch.zeros(n, d)
        for j in range(n):
            for i in range(d):
                xp = x.clone()
                xp[j, i] += eps
                y = m(xp)
                lossp = crit(y, t).item()

                xn = x.clone()
                xn[j, i] -= eps
                y = m(xn)
                lossn = crit(y, t).item()

                grad_num[j, i] = (lossp - lossn) / (2 * eps)
        table.append((eps, float(relerr(x.grad, grad_num).mean())))
    return table


def gradcheck_run(p: dict[str, np.ndarray]) -> bool:
    """torch.autograd.gradcheck (defaults: eps 1e-6, central differences) of the float64 loss
    as a function of x, at the problem's weight and bias."""
    d = p["x"].shape[1]
    k = p["weight"].shape[0]
    m = nn.Linear(d, k).double()
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(p["weight"]))
        m.bias.copy_(torch.from_numpy(p["bias"]))
    crit = nn.CrossEntropyLoss()
    x = torch.from_numpy(p["x"]).double().requires_grad_(True)
    t = torch.from_numpy(p["t"]).long()
    return torch.autograd.gradcheck(lambda xx: crit(m(xx), t), (x,))


def median_time(label: str, fn, repeats: int):
    """Runs fn once untimed, then `repeats` timed runs; prints and returns the median seconds."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    med = statistics.median(times)
    spread = f" (min {min(times):.6g} s, max {max(times):.6g} s)" if len(times) > 1 else ""
    print(f"{label}: median {med:.6g} s over {repeats} runs{spread}")
    return med, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed-problem", type=Path, default=DEFAULT_SEED_DIR,
                    help="problem folder for (a), the seed's float32 table (default: %(default)s)")
    ap.add_argument("--gradcheck-problem", type=Path, default=DEFAULT_GRADCHECK_DIR,
                    help="problem folder for (b), float64 gradcheck (default: %(default)s)")
    ap.add_argument("--only", choices=["seed", "gradcheck"], help="run only one of the two timings")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (default: 5)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: PyTorch's choice; gradlab's rayon pool uses one per core)")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} intra-op threads")

    if args.only in (None, "seed"):
        p = load_problem(args.seed_problem)
        n, d = p["x"].shape
        _, table = median_time(
            f"seed table float32 ({args.seed_problem.name}, n={n} d={d} k={p['weight'].shape[0]}, "
            f"10 epochs + 9 steps x {n * d} elements x 2 losses)",
            lambda: seed_run(p),
            args.repeats,
        )
        for eps, err in table:
            print(f"  {eps:.0e} {err:e}")

    if args.only in (None, "gradcheck"):
        p = load_problem(args.gradcheck_problem)
        n, d = p["x"].shape
        _, ok = median_time(
            f"torch.autograd.gradcheck float64 ({args.gradcheck_problem.name}, n={n} d={d} k={p['weight'].shape[0]})",
            lambda: gradcheck_run(p),
            args.repeats,
        )
        print(f"  gradcheck passed: {ok}")


if __name__ == "__main__":
    main()
