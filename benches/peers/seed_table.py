#!/usr/bin/env python3
"""The seed's own PyTorch check on gradlab's default problem, where PyTorch and gradlab part, and
how much of it depends on the CPU code path.

Part 1 (``pytorch_seed.csv``): the loop of Cross Validated question 491171 run by PyTorch in
float32 and float64 on gradlab's exported default problem (``Problem::generate(10, 4, 2, 1)``):
10 epochs of SGD (lr 1e-3) with x.requires_grad, x.grad either accumulated over the epochs (the
question's code: only the optimizer's parameters are zeroed) or reset each epoch, then for
eps = 1e0 ... 1e-8 the question's double loop computing (lossp - lossn) / (2 * eps) from two
whole-loss evaluations (lossp and lossn are Python floats, so the quotient is float64, stored
into a tensor of the run's dtype), and the question's mean relative error.

Part 2 (``pytorch_parting.csv``): where gradlab's float32 table and PyTorch's part. The script
emulates gradlab's float32 arithmetic in numpy (every operation rounded to float32: pairwise sums
of the logits' products without FMA, exp and ln rounded to float32, the pairwise total of the
per-sample losses times 1/n rounded once, the quotient in float32), checks that the emulation
reproduces gradlab's own numbers (``--check-against``: a CSV of `gradlab check --format csv`),
then swaps ingredients for PyTorch's, in every combination (16 variants, named by the swapped
ingredients joined with ``+``; ``gradlab`` swaps none):

- ``torch_logits``: the logits as PyTorch's linear layer computes them (addmm);
- ``torch_loss``: the per-sample losses as CrossEntropyLoss computes them (log_softmax, then
  nll_loss without reduction);
- ``torch_mean``: the mean of the per-sample losses by CrossEntropyLoss's own reduction
  (nll_loss's mean, fed log-probabilities whose target entries are the negated losses);
- ``quotient64``: the quotient in float64 from the two losses, as the question's code does;
- ``torch``: all of PyTorch (``CrossEntropyLoss()(model(x), t)``; Part 1's float32 accumulated
  table). The script fails unless swapping all four ingredients gives torch's numeric gradient
  bit for bit at every step.

Each row carries a fingerprint of the numeric gradient (``numeric_sha``: the first 16 hex digits
of the SHA-256 of its float32 bytes) and the number of elements that differ from ``torch``'s and
from ``gradlab``'s, so a reader (and gradlab's tests) can see which swaps change what.

Code paths (``pytorch_paths.csv``): three libraries pick kernels by CPU, and each changes some of
PyTorch's numbers: MKL (the matrix product of nn.Linear; ``MKL_CBWR``), ATen's own vectorized
kernels (log_softmax, the SGD update; ``ATEN_CPU_CAPABILITY``) and glibc's libm (exp and log in
ATen's default kernels; ``GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA,...``). The committed
numbers use ``PORTABLE``: each library pinned to its baseline x86-64 (SSE2) kernel, which every
x86-64 processor runs, so the numbers depend on the versions of torch (with its MKL) and glibc,
not on the processor; plus one thread and oneDNN off. The script sets this environment itself
(every worker is a fresh Python process with the caller's MKL_*, ATEN_*, OMP_*, KMP_*, DNNL_*,
ONEDNN_*, GLIBC_TUNABLES and LD_PRELOAD removed), checks each setting took (MKL_VERBOSE's CNR
mode, torch's reported CPU capability), then reruns Part 1 on every code path this machine
offers (an MKL branch the processor does not offer falls back to another, which MKL_VERBOSE
shows; such paths are listed in the json, not run) and writes them all to ``pytorch_paths.csv``.

Writes the three CSVs and ``pytorch_seed.json`` (the settings, CPU model and flags, torch, numpy,
MKL, oneDNN and glibc versions, the MKL code path MKL reports, every path tried, the checks) into
``--out`` (default experiments/data/, where gradlab's experiments read them at build time). Needs
numpy and torch; gradlab itself never runs Python. Takes about a minute.

    cargo bench --bench check -- --list            # writes target/peer-problems/
    cargo run --release -- check --input-grad accumulate --format csv > /tmp/gradlab_seed.csv
    python3 benches/peers/seed_table.py --check-against /tmp/gradlab_seed.csv
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import hashlib
import itertools
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
EPS = [f"1e-{e}" if e else "1e0" for e in range(9)]
F32 = np.float32

# glibc's names for the features that select libm's FMA kernels: since 2.33, and before it.
LIBM_BASELINE = "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX2_Usable,-FMA_Usable,-FMA4_Usable"

# The committed numbers' code path: every library that picks a kernel by CPU on its baseline
# x86-64 kernel, one thread, oneDNN off.
PORTABLE = {"mkl_cbwr": "COMPATIBLE", "aten": "default", "libm": "baseline", "threads": 1, "mkldnn": "off"}

# What the spread tries: MKL's branches, ATen's capabilities, libm's kernels (only those this
# machine offers are run), then one thread count and oneDNN on at the portable setting.
MKL_BRANCHES = ["COMPATIBLE", "OFF", "AUTO", "SSE4_2", "AVX", "AVX2", "AVX512"]
ATEN_CAPABILITIES = ["default", "avx2", "avx512"]
LIBM_KERNELS = ["baseline", "native"]

# Variables of the caller's environment that would change the code path; removed from every worker.
STRIPPED_PREFIXES = ("MKL_", "ATEN_", "OMP_", "KMP_", "GOMP_", "DNNL_", "ONEDNN_")
STRIPPED_NAMES = ("GLIBC_TUNABLES", "LD_PRELOAD")

# Part 2's ingredients, in the order their names are joined.
INGREDIENTS = ["torch_logits", "torch_loss", "torch_mean", "quotient64"]


def fail(msg: str) -> None:
    sys.exit(f"seed_table.py: {msg}")


# ---------------------------------------------------------------- the driver


def path_name(p: dict) -> str:
    return f"mkl={p['mkl_cbwr']} aten={p['aten']} libm={p['libm']} threads={p['threads']} mkldnn={p['mkldnn']}"


def stripped_names() -> list[str]:
    return sorted(k for k in os.environ if k.startswith(STRIPPED_PREFIXES) or k in STRIPPED_NAMES)


def env_for(p: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in stripped_names()}
    if p["mkl_cbwr"] != "OFF":
        env["MKL_CBWR"] = p["mkl_cbwr"]
    env["ATEN_CPU_CAPABILITY"] = p["aten"]
    if p["libm"] == "baseline":
        env["GLIBC_TUNABLES"] = LIBM_BASELINE
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(p["threads"])
    return env


def setting_env(p: dict) -> dict:
    """The environment variables a path sets (for the json), besides the removed ones."""
    env = env_for(p)
    return {k: env[k] for k in sorted(env) if k.startswith(STRIPPED_PREFIXES) or k in STRIPPED_NAMES}


# The instructions each ATen capability's kernels use (torch does not check them: asked for avx512
# on a processor without it, it reports AVX512 and dies on the first kernel).
ATEN_NEEDS = {"default": set(), "avx2": {"avx2", "fma"}, "avx512": {"avx512f", "avx512vl", "avx512bw", "avx512dq", "fma"}}


def child(p: dict, mode: str, problem: Path, extra_env: dict | None = None) -> tuple[dict, str]:
    """Runs this script's `mode` (--worker or --probe) in a fresh process on path `p`: its json
    (written to a file, apart from what the libraries print) and its stdout."""
    env = env_for(p)
    env.update(extra_env or {})
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), mode, json.dumps(p), "--problem", str(problem),
               "--result", str(result)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"the {mode} on {path_name(p)} failed (exit {r.returncode}):\n{r.stderr}")
        return json.loads(result.read_text()), r.stdout


VERBOSE = {"MKL_VERBOSE": "1", "ONEDNN_VERBOSE": "1"}


def reported(p: dict, mode: str, problem: Path, verbose: bool = True) -> dict:
    """Runs `mode` (--worker or --probe) on path `p`, under MKL_VERBOSE and ONEDNN_VERBOSE unless
    `verbose` is false: the child's json and what MKL, oneDNN and torch report about the path."""
    out, stdout = child(p, mode, problem, VERBOSE if verbose else {})
    lines = stdout.splitlines()
    header = next((ln for ln in lines if ln.startswith("MKL_VERBOSE") and "Product build" in ln), "")
    calls = [ln for ln in lines if ln.startswith("MKL_VERBOSE") and "CNR:" in ln]
    out["report"] = {
        "mkl_verbose_header": header.removeprefix("MKL_VERBOSE ").strip(),
        "mkl_cnr": sorted({re.search(r"CNR:(\S+)", ln).group(1) for ln in calls}),
        "mkl_calls": sorted({ln.split()[1].split("(")[0] for ln in calls}),
        "onednn_exec_calls": sum(1 for ln in lines if ln.startswith("onednn_verbose") and ",exec," in ln),
        **out["seen"],
    } if verbose else out["seen"]
    return out


def probe(p: dict, problem: Path) -> dict:
    """What MKL, oneDNN and torch report for one epoch and one loss on path `p`."""
    return reported(p, "--probe", problem)["report"]


def offered(p: dict, seen: dict, cpu_flags: set) -> str | None:
    """None when this machine runs path `p` as asked, else what happened instead."""
    if seen["mkl_cnr"] != [p["mkl_cbwr"]]:
        return f"MKL reports CNR:{','.join(seen['mkl_cnr'])}"
    if seen["aten_capability"].lower() != p["aten"]:
        return f"torch reports CPU capability {seen['aten_capability']}"
    if p["libm"] == "native" and not cpu_flags & {"fma", "fma4"}:
        return "without FMA, glibc's native libm kernels are the baseline ones"
    return None


def cpu_info() -> tuple[str, set]:
    model, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine()):
                model = value.strip()
            if key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model, flags


def write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def drive(a) -> None:
    problem = a.problem.resolve()
    for name in ("x", "t", "weight", "bias"):
        if not (problem / f"{name}.npy").is_file():
            fail(f"{problem / (name + '.npy')} is missing: run `cargo bench --bench check -- --list` first")
    model, flags = cpu_info()
    portable_seen = probe(PORTABLE, problem)
    why = offered(PORTABLE, portable_seen, flags)
    if why is not None:
        fail(f"the portable setting did not take: {why}")

    # Which of each library's code paths this machine offers, each probed with the others portable.
    tried, paths = [], []
    dims = [("mkl_cbwr", MKL_BRANCHES), ("aten", ATEN_CAPABILITIES), ("libm", LIBM_KERNELS)]
    offered_values = {}
    for key, values in dims:
        offered_values[key] = []
        for v in values:
            p = {**PORTABLE, key: v}
            lacking = sorted(ATEN_NEEDS[v] - flags) if key == "aten" else []
            if lacking:
                tried.append({"setting": f"{key}={v}", "env": setting_env(p), "offered": False,
                              "reported": f"not tried: the processor lacks {', '.join(lacking)}"})
                continue
            seen = portable_seen if p == PORTABLE else probe(p, problem)
            why = offered(p, seen, flags)
            tried.append({"setting": f"{key}={v}", "env": setting_env(p), "offered": why is None,
                          "reported": why or "as asked", "mkl_cnr": seen["mkl_cnr"],
                          "aten_capability": seen["aten_capability"]})
            if why is None:
                offered_values[key].append(v)
    for m, c, l in itertools.product(*(offered_values[k] for k, _ in dims)):
        paths.append({**PORTABLE, "mkl_cbwr": m, "aten": c, "libm": l})
    paths += [{**PORTABLE, "threads": 2}, {**PORTABLE, "mkldnn": "on"}]

    results = []
    for p in paths:
        print(f"running {path_name(p)}", file=sys.stderr)
        results.append(reported(p, "--worker", problem))
        why = offered(p, results[-1]["report"], flags)
        if why is not None:
            fail(f"{path_name(p)} did not run as asked: {why}")
    committed = results[0]
    assert committed["path"] == PORTABLE, "the first path run is the portable one"
    # Again, without the verbose output: the same numbers.
    again = reported(PORTABLE, "--worker", problem, verbose=False)
    if {k: v for k, v in again.items() if k != "report"} != {k: v for k, v in committed.items() if k != "report"}:
        fail("two runs on the portable path differ (the second without MKL_VERBOSE): it is not deterministic")

    checks = ["two runs on the portable path (one under MKL_VERBOSE and ONEDNN_VERBOSE, one not) are identical"]
    checks += [f"on every one of the {len(paths)} code paths run, {c}" for c in committed["checks"]]
    if a.check_against is not None:
        checks.append(check_gradlab(committed["parting"], a.check_against))

    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "pytorch_seed.csv", ["dtype", "variant", "eps", "relerr_mean", "numeric_zero"],
              [[r["dtype"], r["variant"], r["eps"], repr(r["relerr_mean"]), r["numeric_zero"]] for r in committed["seed"]])
    write_csv(a.out / "pytorch_parting.csv",
              ["variant", "eps", "relerr_mean", "numeric_zero", "differs_from_torch", "differs_from_gradlab", "numeric_sha"],
              [[r["variant"], r["eps"], repr(r["relerr_mean"]), r["numeric_zero"], r["differs_from_torch"],
                r["differs_from_gradlab"], r["numeric_sha"]] for r in committed["parting"]])
    write_csv(a.out / "pytorch_paths.csv",
              ["mkl_cbwr", "aten", "libm", "threads", "mkldnn", "dtype", "variant", "eps", "relerr_mean", "numeric_zero"],
              [[p["mkl_cbwr"], p["aten"], p["libm"], p["threads"], p["mkldnn"], r["dtype"], r["variant"], r["eps"],
                repr(r["relerr_mean"]), r["numeric_zero"]] for p, res in zip(paths, results) for r in res["seed"]])
    import torch  # only for its version strings; the driver computes nothing

    meta = {
        "script": "benches/peers/seed_table.py",
        "command": " ".join(["python3"] + [os.path.relpath(x, REPO) if x.startswith(str(REPO)) else x for x in sys.argv]),
        "problem": "Problem::generate(10, 4, 2, 1), exported by `cargo bench --bench check -- --list`",
        "cpu_model": model,
        "cpu_flags": sorted(flags & {"sse2", "sse4_2", "avx", "avx2", "fma", "fma4", "avx512f", "avx512vl", "avx512bw",
                                     "avx512dq", "avx512_bf16", "amx_tile"}),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "glibc": "-".join(platform.libc_ver()),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "mkl": committed["mkl_version"],
        "onednn": next((ln.split("v", 1)[1].split()[0] for ln in torch.__config__.show().splitlines()
                        if "MKL-DNN" in ln or "oneDNN" in ln), ""),
        "settings": {
            "path": PORTABLE,
            "env": setting_env(PORTABLE),
            "in_process": ["torch.set_num_threads(1)", "torch.backends.mkldnn.flags(enabled=False)"],
            "removed_from_caller_env": stripped_names(),
        },
        "code_path": committed["report"],
        "settings_tried": tried,
        "paths_run": [{"path": path_name(p), "env": setting_env(p), **res["report"]} for p, res in zip(paths, results)],
        "checks": checks,
    }
    (a.out / "pytorch_seed.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {a.out}: {len(paths)} code paths; " + "; ".join(checks), file=sys.stderr)


def check_gradlab(parting: list, against: Path) -> str:
    """The emulation's `gradlab` rows against gradlab's own float32 table."""
    with open(against) as f:
        gl = {r["eps"]: float(r["relerr_mean"]) for r in csv.DictReader(f) if r["dtype"] == "f32"}
    mine = {r["eps"]: r["relerr_mean"] for r in parting if r["variant"] == "gradlab"}
    # gradlab's relerr is computed in f64 from the float32 gradients; ours in float32: compare
    # to float32's precision.
    bad = {e: (mine.get(e), gl[e]) for e in gl if e not in mine or abs(mine[e] - gl[e]) > 1e-6 * max(1.0, abs(gl[e]))}
    if bad:
        fail(f"the numpy emulation does not reproduce gradlab's table: {bad}")
    return f"the numpy emulation reproduces gradlab's float32 table at all {len(gl)} steps"


# ---------------------------------------------------------------- the worker (one code path)


def load(folder: Path) -> dict[str, np.ndarray]:
    return {name: np.load(folder / f"{name}.npy") for name in ("x", "t", "weight", "bias")}


def relerr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The question's relative error |a - b| / max(|a|, |b|), in the arrays' dtype (0/0 as 0)."""
    num, den = np.abs(a - b), np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return np.where(den == 0, 0, r)


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=F32).tobytes()).hexdigest()[:16]


def train(torch, p, dtype, accumulate: bool):
    """The question's training loop; returns the model, x (a leaf) and t."""
    n, d = p["x"].shape
    k = p["weight"].shape[0]
    m = torch.nn.Linear(d, k).to(dtype)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(p["weight"]).to(dtype))
        m.bias.copy_(torch.from_numpy(p["bias"]).to(dtype))
    opt = torch.optim.SGD(m.parameters(), lr=1e-3)
    crit = torch.nn.CrossEntropyLoss()
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


def torch_table(torch, p, dtype, accumulate: bool):
    """Part 1: the question's numeric loop; (eps, mean relerr, zero elements, numeric gradient) per step."""
    m, x, t = train(torch, p, dtype, accumulate)
    crit = torch.nn.CrossEntropyLoss()
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
        num = grad_num.numpy()
        r = relerr(num, x.grad.numpy())
        rows.append((eps_text, float(r.mean()), int((num == 0).sum()), num.copy()))
    return rows


# ---- Part 2: gradlab's float32 arithmetic in numpy, ingredients swapped for PyTorch's ----

def pairwise(v: list) -> F32:
    """gradlab's pairwise sum: sum of [0, len/2) plus sum of [len/2, len), every add in float32."""
    if len(v) == 1:
        return F32(v[0])
    mid = len(v) // 2
    return F32(pairwise(v[:mid]) + pairwise(v[mid:]))


def exp32(v: F32) -> F32:
    """exp rounded to float32 through libm's float64 exp (a double rounding can only differ from
    gradlab's correctly rounded exp near an exact float32 midpoint; `--check-against` checks)."""
    return F32(math.exp(float(v)))


def ln32(v: F32) -> F32:
    return F32(math.log(float(v)))


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
    return np.array(out, dtype=F32)


def gl_total(losses) -> F32:
    """gradlab's mean: the pairwise total times 1/n rounded once."""
    return F32(pairwise(list(losses)) * F32(1.0 / len(losses)))


def variant_name(swapped: tuple) -> str:
    return "+".join(swapped) if swapped else "gradlab"


def parting(torch, p):
    """Part 2: the float32 accumulated table for every combination of swapped ingredients and for
    all of PyTorch; the numeric gradients, keyed by variant and step."""
    F = torch.nn.functional
    m, x, t = train(torch, p, torch.float32, accumulate=True)
    anal = x.grad.numpy()
    w = m.weight.detach().numpy()
    b = m.bias.detach().numpy()
    xv = x.detach().numpy()
    tv = t.numpy()
    n, k = xv.shape[0], w.shape[0]
    crit = torch.nn.CrossEntropyLoss()

    def ce_mean(per: np.ndarray) -> F32:
        # CrossEntropyLoss's own reduction: it is nll_loss(log_softmax(z), t, reduction="mean"), so
        # feeding nll_loss log-probabilities whose target entries are -per reduces per as it does.
        logp = torch.zeros((n, k), dtype=torch.float32)
        logp[torch.arange(n), t] = -torch.from_numpy(per)
        return F32(F.nll_loss(logp, t, reduction="mean").item())

    def losses(xx) -> dict:
        """Every combination's loss at xx, and PyTorch's own."""
        xt = torch.from_numpy(xx)
        with torch.no_grad():
            out = {"torch": np.float64(crit(m(xt), t).item())}
            z = {False: gl_logits(xx, w, b), True: m(xt).numpy()}
            for tl in (False, True):
                for tloss in (False, True):
                    per = (F.cross_entropy(torch.from_numpy(z[tl]), t, reduction="none").numpy()
                           if tloss else gl_sample_losses(z[tl], tv))
                    for tmean in (False, True):
                        out[(tl, tloss, tmean)] = ce_mean(per) if tmean else gl_total(per)
        return out

    combos = [c for r in range(len(INGREDIENTS) + 1) for c in itertools.combinations(INGREDIENTS, r)]
    nums = {}
    for eps_text in EPS:
        eps = float(eps_text)
        num = {variant_name(c): np.zeros_like(xv) for c in combos}
        num["torch"] = np.zeros_like(xv)
        for j in range(xv.shape[0]):
            for i in range(xv.shape[1]):
                xp, xn = xv.copy(), xv.copy()
                xp[j, i] = F32(xp[j, i] + F32(eps))
                xn[j, i] = F32(xn[j, i] - F32(eps))
                lp, ln_ = losses(xp), losses(xn)
                num["torch"][j, i] = F32((float(lp["torch"]) - float(ln_["torch"])) / (2 * eps))
                for c in combos:
                    key = tuple(ing in c for ing in INGREDIENTS[:3])
                    if "quotient64" in c:
                        v = F32((float(lp[key]) - float(ln_[key])) / (2 * eps))
                    else:
                        v = F32(F32(F32(lp[key]) - F32(ln_[key])) / F32(F32(2) * F32(eps)))
                    num[variant_name(c)][j, i] = v
        for name, a in num.items():
            nums[(name, eps_text)] = a
    rows = []
    for name in [variant_name(c) for c in combos] + ["torch"]:
        for eps_text in EPS:
            a = nums[(name, eps_text)]
            rows.append({
                "variant": name,
                "eps": eps_text,
                "relerr_mean": float(relerr(a, anal).mean()),
                "numeric_zero": int((a == 0).sum()),
                "differs_from_torch": int((a != nums[("torch", eps_text)]).sum()),
                "differs_from_gradlab": int((a != nums[("gradlab", eps_text)]).sum()),
                "numeric_sha": sha(a),
            })
    return rows, nums


def mkl_version() -> str:
    try:
        import torch
        buf = ctypes.create_string_buffer(256)
        ctypes.CDLL(torch._C.__file__).MKL_Get_Version_String(buf, len(buf))
        return buf.value.decode()
    except (OSError, AttributeError):
        return ""


def quiet_mkldnn_flags(torch, enabled: bool):
    """torch.backends.mkldnn.flags without its warning about TF32 on Intel GPUs."""
    import warnings

    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
    return torch.backends.mkldnn.flags(enabled=enabled)


def seen_by_torch(torch) -> dict:
    return {
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
    }


def worker(p: dict, problem: Path, result: Path) -> None:
    """Parts 1 and 2 on this process's code path, with the checks that must hold on every path;
    writes a json object to `result`."""
    import torch

    torch.set_num_threads(p["threads"])
    data = load(problem)
    with quiet_mkldnn_flags(torch, p["mkldnn"] == "on"):
        seen = seen_by_torch(torch)
        seed, f32_acc = [], None
        for dtype, name in [(torch.float32, "f32"), (torch.float64, "f64")]:
            for variant in ["accumulate", "reset"]:
                rows = torch_table(torch, data, dtype, variant == "accumulate")
                if (name, variant) == ("f32", "accumulate"):
                    f32_acc = rows
                for eps, r, z, _ in rows:
                    seed.append({"dtype": name, "variant": variant, "eps": eps, "relerr_mean": r, "numeric_zero": z})
        part, nums = parting(torch, data)
    checks = []
    # The question's loop (torch's own x +- eps) and Part 2's `torch` (numpy's x +- eps) agree.
    for eps, _, _, num in f32_acc:
        if not np.array_equal(num, nums[("torch", eps)]):
            fail(f"Part 1's float32 accumulated numeric gradient and Part 2's `torch` differ at {eps}")
    checks.append("the question's loop and Part 2's `torch` give the same numeric gradient at every step")
    # The swaps add up: all four together are PyTorch, element for element.
    every = variant_name(tuple(INGREDIENTS))
    for eps in EPS:
        diff = np.argwhere(nums[(every, eps)] != nums[("torch", eps)])
        if len(diff):
            fail(f"{every} differs from torch at {eps} in elements {diff.tolist()}")
    checks.append(f"{every} gives torch's numeric gradient bit for bit at every step")
    result.write_text(json.dumps({"path": p, "seen": seen, "mkl_version": mkl_version(), "seed": seed,
                                  "parting": part, "checks": checks}))


def probe_worker(p: dict, problem: Path, result: Path) -> None:
    """One epoch and one loss evaluation (for MKL_VERBOSE and ONEDNN_VERBOSE); writes what torch
    reports to `result`."""
    import torch

    torch.set_num_threads(p["threads"])
    data = load(problem)
    with quiet_mkldnn_flags(torch, p["mkldnn"] == "on"):
        m, x, t = train(torch, data, torch.float32, accumulate=False)
        with torch.no_grad():
            torch.nn.CrossEntropyLoss()(m(x), t)
        seen = seen_by_torch(torch)
    result.write_text(json.dumps({"seen": seen}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", type=Path, default=REPO / "target" / "peer-problems" / "seed_10x4_k2")
    ap.add_argument("--out", type=Path, default=REPO / "experiments" / "data")
    ap.add_argument("--check-against", type=Path, help="gradlab check --input-grad accumulate --format csv output")
    ap.add_argument("--worker", metavar="PATH_JSON", help=argparse.SUPPRESS)
    ap.add_argument("--probe", metavar="PATH_JSON", help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the machine
        fail("needs PyTorch (pip install torch); it is not a gradlab dependency.")
    if a.worker:
        worker(json.loads(a.worker), a.problem, a.result)
    elif a.probe:
        probe_worker(json.loads(a.probe), a.problem, a.result)
    else:
        drive(a)


if __name__ == "__main__":
    main()
