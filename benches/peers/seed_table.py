#!/usr/bin/env python3
"""The seed's own PyTorch check on gradlab's default problem, and where PyTorch and gradlab part.

Part 1 (``pytorch_seed.csv``): the loop of Cross Validated question 491171 run by PyTorch in
float32 and float64 on gradlab's exported default problem (``Problem::generate(10, 4, 2, 1)``):
10 epochs of SGD (lr 1e-3) with x.requires_grad, x.grad either accumulated over the epochs (the
question's code: only the optimizer's parameters are zeroed) or reset each epoch, then for
eps = 1e0 ... 1e-8 the question's double loop computing (lossp - lossn) / (2 * eps) from two
whole-loss evaluations (lossp and lossn are Python floats, so the quotient is float64, stored
into a tensor of the run's dtype), and the question's mean relative error.

Part 2 (``pytorch_parting.csv``): where gradlab's float32 table and PyTorch's part. The script
emulates gradlab's float32 arithmetic in numpy (every operation rounded to float32: pairwise sums
of the logits' products without FMA, exp and ln correctly rounded, the pairwise total of the
per-sample losses times 1/n rounded once, the quotient in float32), checks that the emulation
reproduces gradlab's own numbers (``--check-against``: a CSV of `gradlab check --format csv`),
then swaps one ingredient at a time for PyTorch's and records the table each variant gives:

- ``quotient64``: the quotient in float64 from the float32 losses, as the question's code does;
- ``torch_mean``: the total as PyTorch's CrossEntropyLoss computes it from the per-sample losses;
- ``torch_loss``: the per-sample losses as PyTorch computes them (its log-softmax), gradlab's total;
- ``torch_logits``: the logits as PyTorch's linear layer computes them (addmm);
- ``torch``: all of PyTorch (the same as Part 1's float32 accumulated row).

Writes both CSVs and ``pytorch_seed.json`` (versions, command) into ``--out`` (default
experiments/data/, where gradlab's seed_repro experiment reads them at build time). Needs numpy
and torch; gradlab itself never runs Python.

    cargo bench --bench check -- --list            # writes target/peer-problems/
    cargo run --release -- check --input-grad accumulate --format csv > /tmp/gradlab_seed.csv
    python3 benches/peers/seed_table.py --check-against /tmp/gradlab_seed.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.optim import SGD
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("seed_table.py needs PyTorch (pip install torch); it is not a gradlab dependency.")

REPO = Path(__file__).resolve().parents[2]
EPS = [f"1e-{e}" if e else "1e0" for e in range(9)]
F32 = np.float32


def load(folder: Path) -> dict[str, np.ndarray]:
    return {name: np.load(folder / f"{name}.npy") for name in ("x", "t", "weight", "bias")}


def relerr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The question's relative error |a - b| / max(|a|, |b|), in the arrays' dtype (0/0 as 0)."""
    num, den = np.abs(a - b), np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return np.where(den == 0, 0, r)


def train(p, dtype, accumulate: bool):
    """The question's training loop; returns the model, x (a leaf) and t."""
    n, d = p["x"].shape
    k = p["weight"].shape[0]
    m = nn.Linear(d, k).to(dtype)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(p["weight"]).to(dtype))
        m.bias.copy_(torch.from_numpy(p["bias"]).to(dtype))
    opt = SGD(m.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    x = torch.from_numpy(p["x"]).to(dtype).requires_grad_(True)
    t = torch.from_numpy(p["t"]).long()
    for i in range(10):
        opt.zero_grad()
        if not accumulate and x.grad is not None:
            x.grad.zero_()
        loss = crit(m(x), t)
        loss.backward()
        if i < 9:
            opt.step()
    return m, x, t


def torch_table(p, dtype, accumulate: bool):
    """Part 1: the question's numeric loop; (eps, mean relerr, zero numeric elements) per step."""
    m, x, t = train(p, dtype, accumulate)
    crit = nn.CrossEntropyLoss()
    rows = []
    for eps_text in EPS:
        eps = float(eps_text)
        grad_num = torch.zeros_like(x)
        with torch.no_grad():
            for j in range(x.shape[0]):
                for i in range(x.shape[1]):
                    xp = x.clone()
                    xp[j, i] += eps
                    lossp = crit(m(xp), t).item()
                    xn = x.clone()
                    xn[j, i] -= eps
                    lossn = crit(m(xn), t).item()
                    grad_num[j, i] = (lossp - lossn) / (2 * eps)
        r = relerr(grad_num.numpy(), x.grad.numpy())
        rows.append((eps_text, float(r.mean()), int((grad_num == 0).sum())))
    return rows


# ---- Part 2: gradlab's float32 arithmetic in numpy, one ingredient swapped at a time ----

def pairwise(v: list) -> F32:
    """gradlab's pairwise sum: sum of [0, len/2) plus sum of [len/2, len), every add in float32."""
    if len(v) == 1:
        return F32(v[0])
    mid = len(v) // 2
    return F32(pairwise(v[:mid]) + pairwise(v[mid:]))


def exp32(v: F32) -> F32:
    """exp correctly rounded to float32 (float64 exp rounded once: a double rounding can only
    differ at an exact float32 midpoint of the float64 result, which did not occur here)."""
    return F32(np.exp(np.float64(v)))


def ln32(v: F32) -> F32:
    return F32(np.log(np.float64(v)))


def gl_logits(x, w, b):
    """gradlab's logits: pairwise sum of the float32 products, then + b, no FMA."""
    n, d = x.shape
    k = w.shape[0]
    z = np.zeros((n, k), dtype=F32)
    for j in range(n):
        for c in range(k):
            z[j, c] = F32(pairwise([F32(x[j, i] * w[c, i]) for i in range(d)]) + b[c])
    return z


def gl_sample_losses(z, t):
    """gradlab's per-sample loss ln(sum exp(z - m)) - (z_t - m), class order, exp(0) = 1."""
    out = []
    for zj, tj in zip(z, t):
        m = max(zj)
        s = F32(0)
        for c, v in enumerate(zj):
            e = F32(1) if F32(v - m) == 0 else exp32(F32(v - m))
            s = e if c == 0 else F32(s + e)
        out.append(F32(ln32(s) - F32(zj[tj] - m)))
    return out


def gl_total(losses):
    """gradlab's mean: the pairwise total times 1/n rounded once."""
    return F32(pairwise(losses) * F32(1.0 / len(losses)))


def parting(p, check_against: Path | None):
    """Part 2: the float32 accumulated table for each variant."""
    m, x, t = train(p, torch.float32, accumulate=True)
    anal = x.grad.numpy()
    w = m.weight.detach().numpy()
    b = m.bias.detach().numpy()
    xv = x.detach().numpy()
    tv = t.numpy()
    crit = nn.CrossEntropyLoss()

    def loss(xx, variant):
        xt = torch.from_numpy(xx)
        if variant == "torch":
            return np.float64(crit(m(xt), t).item())
        z = m(xt).detach().numpy() if variant == "torch_logits" else gl_logits(xx, w, b)
        if variant == "torch_loss":
            per = list(F.cross_entropy(torch.from_numpy(z), t, reduction="none").numpy())
        else:
            per = gl_sample_losses(z, tv)
        if variant == "torch_mean":
            # CrossEntropyLoss's mean reduction of the per-sample losses, as PyTorch computes it.
            return np.float64(torch.from_numpy(np.array(per, dtype=F32)).mean().item())
        return gl_total(per)

    rows = []
    for variant in ["gradlab", "quotient64", "torch_mean", "torch_loss", "torch_logits", "torch"]:
        for eps_text in EPS:
            eps = float(eps_text)
            num = np.zeros_like(xv)
            for j in range(xv.shape[0]):
                for i in range(xv.shape[1]):
                    xp, xn = xv.copy(), xv.copy()
                    xp[j, i] = F32(xp[j, i] + F32(eps))
                    xn[j, i] = F32(xn[j, i] - F32(eps))
                    lp, ln_ = loss(xp, variant), loss(xn, variant)
                    if variant in ("gradlab", "torch_mean", "torch_loss", "torch_logits"):
                        num[j, i] = F32(F32(F32(lp) - F32(ln_)) / F32(F32(2) * F32(eps)))
                    else:
                        num[j, i] = F32((float(lp) - float(ln_)) / (2 * eps))
            rows.append((variant, eps_text, float(relerr(num, anal).mean()), int((num == 0).sum())))
    if check_against is not None:
        with open(check_against) as f:
            gl = {r["eps"]: float(r["relerr_mean"]) for r in csv.DictReader(f) if r["dtype"] == "f32"}
        mine = {e: v for var, e, v, _ in rows if var == "gradlab"}
        # gradlab's relerr is computed in f64 from the float32 gradients; ours in float32: compare
        # to float32's precision.
        bad = {e: (mine[e], gl[e]) for e in gl if abs(mine[e] - gl[e]) > 1e-6 * max(1.0, abs(gl[e]))}
        if bad:
            sys.exit(f"the numpy emulation does not reproduce gradlab's table: {bad}")
        print(f"emulation reproduces gradlab's float32 table at all {len(gl)} steps", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", type=Path, default=REPO / "target" / "peer-problems" / "seed_10x4_k2")
    ap.add_argument("--out", type=Path, default=REPO / "experiments" / "data")
    ap.add_argument("--check-against", type=Path, help="gradlab check --input-grad accumulate --format csv output")
    a = ap.parse_args()
    torch.set_num_threads(1)
    p = load(a.problem)
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "pytorch_seed.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["dtype", "variant", "eps", "relerr_mean", "numeric_zero"])
        for dtype, name in [(torch.float32, "f32"), (torch.float64, "f64")]:
            for variant in ["accumulate", "reset"]:
                for eps, r, z in torch_table(p, dtype, variant == "accumulate"):
                    w.writerow([name, variant, eps, repr(r), z])
    with open(a.out / "pytorch_parting.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["variant", "eps", "relerr_mean", "numeric_zero"])
        for variant, eps, r, z in parting(p, a.check_against):
            w.writerow([variant, eps, repr(r), z])
    meta = {
        "script": "benches/peers/seed_table.py",
        "command": " ".join(["python3"] + sys.argv),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "problem": "Problem::generate(10, 4, 2, 1), exported by `cargo bench --bench check -- --list`",
    }
    (a.out / "pytorch_seed.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
