#!/usr/bin/env python3
"""gradlab's mixed dtype `bf16+f32` against PyTorch's own CPU autocast in bfloat16.

The script makes a problem whose values are all bfloat16 numbers (numpy, seeded), saves it as
x.npy, t.npy, weight.npy, bias.npy, and runs on it:

- PyTorch: x a bfloat16 leaf (requires_grad), an nn.Linear with float32 master parameters,
  CrossEntropyLoss (mean), SGD (lr 1e-3 by default) for E epochs with no step after the last (the
  seed's loop as gradlab runs it), every forward and loss under
  ``torch.autocast("cpu", dtype=torch.bfloat16)``; x.grad reset each epoch; the logits' gradient
  through ``retain_grad``;
- gradlab: ``gradlab check --data DIR --dtype bf16+f32 --wrt input,weight,bias,logits
  --save-grads OUT`` (the analytic gradients it saves are x.grad, W.grad, b.grad and the logits'
  gradient after the same training);

and compares the four gradients element by element (and, as a control showing the comparison
can tell the semantics apart, gradlab's pure `bf16`, every operation rounded to bf16, against the
same PyTorch run): how many are bitwise equal, the largest
difference in bfloat16 ulps (of the larger magnitude), and the mean relative difference. It
prints a table and writes it as JSON (``--json``). Needs numpy, ml_dtypes and torch; gradlab
itself never runs Python.

    cargo build --release
    python3 benches/peers/autocast_compare.py                      # default: n=64 d=32 k=10
    python3 benches/peers/autocast_compare.py --n 10 --d 4 --k 2   # the seed's size
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    import ml_dtypes
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("autocast_compare.py needs numpy, ml_dtypes and torch; they are not gradlab dependencies.")

REPO = Path(__file__).resolve().parents[2]
BF16 = ml_dtypes.bfloat16


def problem(n: int, d: int, k: int, seed: int) -> dict[str, np.ndarray]:
    """x standard normal, weight and bias uniform in +-1/sqrt(d) like nn.Linear, all rounded to bf16."""
    rng = np.random.default_rng(seed)
    bf = lambda a: a.astype(BF16).astype(np.float64)
    return {
        "x": bf(rng.standard_normal((n, d))),
        "t": rng.integers(0, k, n).astype(np.int64),
        "weight": bf(rng.uniform(-1, 1, (k, d)) / np.sqrt(d)),
        "bias": bf(rng.uniform(-1, 1, k) / np.sqrt(d)),
    }


def torch_autocast(p: dict[str, np.ndarray], epochs: int, lr: float, manual_sgd: bool):
    """x.grad, W.grad, b.grad and the logits' gradient after training under CPU autocast (bf16)."""
    n, d = p["x"].shape
    k = p["weight"].shape[0]
    m = nn.Linear(d, k)  # float32 master parameters
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(p["weight"]).float())
        m.bias.copy_(torch.from_numpy(p["bias"]).float())
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    crit = nn.CrossEntropyLoss()
    x = torch.from_numpy(p["x"]).to(torch.bfloat16).requires_grad_(True)
    t = torch.from_numpy(p["t"])
    info = {}
    for epoch in range(max(epochs, 1)):
        opt.zero_grad()
        if x.grad is not None:
            x.grad.zero_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
            y.retain_grad()
            loss = crit(y, t)
        info = {"logits_dtype": str(y.dtype), "loss_dtype": str(loss.dtype), "loss": loss.item()}
        loss.backward()
        if epoch + 1 < epochs:
            if manual_sgd:
                # gradlab's update: lr rounded to float32, then the product and the difference
                # each rounded (torch's SGD computes w + (-lr) g in one fused kernel).
                with torch.no_grad():
                    for q in m.parameters():
                        q.sub_(torch.tensor(lr, dtype=torch.float32) * q.grad)
            else:
                opt.step()
    grads = {
        "input": x.grad.float().numpy().astype(np.float64),
        "weight": m.weight.grad.numpy().astype(np.float64),
        "bias": m.bias.grad.numpy().astype(np.float64),
        "logits": y.grad.float().numpy().astype(np.float64),
    }
    return grads, info


def gradlab(data: Path, out: Path, epochs: int, lr: str, binary: Path, dtype: str) -> dict[str, np.ndarray]:
    cmd = [str(binary), "check", "--data", str(data), "--dtype", dtype, "--wrt", "input,weight,bias,logits",
           "--epochs", str(epochs), "--lr", lr, "--eps", "1e-1", "--no-truth", "--format", "csv",
           "--save-grads", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return {w: np.load(out / f"analytic_{w}_{dtype}.npy") for w in ("input", "weight", "bias", "logits")}


def bf16_ulp(v: np.ndarray) -> np.ndarray:
    """The spacing of bf16 numbers at |v| (normal range; 2^-133 below it)."""
    e = np.floor(np.log2(np.maximum(np.abs(v), 2.0 ** -126)))
    return 2.0 ** (e - 7)


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    a, b = a.ravel(), b.ravel()
    diff = np.abs(a - b)
    ulps = diff / bf16_ulp(np.maximum(np.abs(a), np.abs(b)))
    den = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(den == 0, 0.0, diff / np.where(den == 0, 1, den))
    return {
        "elements": int(a.size),
        "bitwise_equal": int((a == b).sum()),
        "max_bf16_ulps": float(ulps.max()),
        "within_1_ulp": int((ulps <= 1).sum()),
        "mean_relative_difference": float(rel.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", default="1e-3")
    ap.add_argument("--gradlab", type=Path, default=REPO / "target" / "release" / "gradlab")
    ap.add_argument("--json", type=Path, help="write the comparison here")
    ap.add_argument("--manual-sgd", action="store_true",
                    help="update the master weights as gradlab does (w -= lr * g, two roundings) instead of torch's SGD")
    a = ap.parse_args()
    torch.set_num_threads(1)
    p = problem(a.n, a.d, a.k, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "out"
        data.mkdir()
        out.mkdir()
        for name, arr in p.items():
            np.save(data / f"{name}.npy", arr)
        ours = gradlab(data, out, a.epochs, a.lr, a.gradlab, "bf16+f32")
        # The control: gradlab's pure bf16 (every operation rounded to bf16) on the same problem.
        pure = gradlab(data, out, a.epochs, a.lr, a.gradlab, "bf16")
    theirs, info = torch_autocast(p, a.epochs, float(a.lr), a.manual_sgd)
    result = {
        "problem": {"n": a.n, "d": a.d, "k": a.k, "seed": a.seed, "epochs": a.epochs, "lr": a.lr},
        "manual_sgd": a.manual_sgd,
        "torch": torch.__version__,
        "autocast": info,
        "gradients": {w: compare(ours[w], theirs[w]) for w in ("input", "weight", "bias", "logits")},
        "control_pure_bf16": {w: compare(pure[w], theirs[w]) for w in ("input", "weight", "bias", "logits")},
    }
    print(f"n={a.n} d={a.d} k={a.k} seed={a.seed} E={a.epochs} lr={a.lr}; torch {torch.__version__}; "
          f"under autocast: logits {info['logits_dtype']}, loss {info['loss_dtype']}")
    print(f"{'gradient':<16}{'elements':>10}{'bitwise equal':>16}{'within 1 ulp':>14}{'max bf16 ulps':>15}"
          f"{'mean rel diff':>15}")
    rows = [(f"{w}", r) for w, r in result["gradients"].items()]
    rows += [(f"{w} (bf16)", r) for w, r in result["control_pure_bf16"].items()]
    for w, r in rows:
        print(f"{w:<16}{r['elements']:>10}{r['bitwise_equal']:>16}{r['within_1_ulp']:>14}"
              f"{r['max_bf16_ulps']:>15.3g}{r['mean_relative_difference']:>15.3e}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
