"""gradlab.torch.diagnose's time and memory on this machine (issue #22's numbers).

(a) an MLP 784-128-10 (101,770 parameters) at batch 256, samples as groups (the 256 samples'
    gradients by torch.func, or by one backward per sample with vmap=False, then the core once
    per parameter), the user's gradient the batch mean (correct): bar 5 s.
(b) an MLP 1024-768-256-10 (986,634 parameters), a step of 8 micro-batches (16, 24, 32, 40, 24,
    40, 48, 32 samples: 256) whose gradient is the mean of the micro-batch means (a mistake), with
    the default memory budget (runs of samples inside each micro-batch) and with the micro-batches
    as groups (memory=64 MiB): bar 10 s and 1 GB.

Each case runs in a fresh process (its peak resident memory, ru_maxrss, is its own: Python,
torch, the model, the user's step and the diagnosis). torch.func.grad imports torch._dynamo on
first use (once per process, seconds, and about 150 MiB): the rows whose groups are samples (the
only ones that use torch.func) import it before the first call and report its time apart. The table gives the first call, the median of the next ``--repeats``, the time
in the core (the Rust diagnosis of every tensor, ``gradlab.diagnose_groups``), and the peak RSS
before and after the diagnoses.

    python python/bench/torch_speed.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

SMALL = [784, 128, 10]
LARGE = [1024, 768, 256, 10]
MICRO = [16, 24, 32, 40, 24, 40, 48, 32]
CASES = {
    "a": dict(label="(a) 100k MLP, batch 256, torch.func", sizes=SMALL, micro=None, memory=None, vmap=True),
    "a-loop": dict(label="(a) 100k MLP, batch 256, vmap=False", sizes=SMALL, micro=None, memory=None, vmap=False),
    "b": dict(label="(b) 1M MLP, 8 micro-batches, default memory", sizes=LARGE, micro=MICRO, memory=None, vmap=True),
    "b-mb": dict(
        label="(b) 1M MLP, 8 micro-batches, memory=64 MiB", sizes=LARGE, micro=MICRO, memory=1 << 26, vmap=True
    ),
}
BATCH = 256


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one(case: str, threads: int, repeats: int) -> dict:
    """Runs one case in this process and returns its row."""
    import torch
    from torch import nn

    import gradlab.torch as gt
    from gradlab.torch import diagnose_model

    torch.set_num_threads(threads)
    c = CASES[case]
    torch.manual_seed(0)
    layers = []
    for a, b in zip(c["sizes"], c["sizes"][1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    x = torch.randn(BATCH, c["sizes"][0])
    y = torch.randint(0, c["sizes"][-1], (BATCH,))
    loss_fn = nn.CrossEntropyLoss()
    micro = c["micro"]
    # The user's step: the mean of micro-batch means (a mistake), or the batch's mean.
    if micro:
        for xb, yb in zip(torch.split(x, micro), torch.split(y, micro)):
            (loss_fn(model(xb), yb) / len(micro)).backward()
    else:
        loss_fn(model(x), y).backward()
    before = peak_mb()
    core = [0.0]
    inner = diagnose_model.diagnose_blocks

    def timed(*args, **kw):
        t = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            core[0] += time.perf_counter() - t

    diagnose_model.diagnose_blocks = timed
    kw = {"vmap": c["vmap"]} if c["memory"] is None else {"memory": c["memory"], "vmap": c["vmap"]}
    start = time.perf_counter()
    # Only samples as groups use torch.func (micro-batch runs take one backward each), so only
    # those rows import what torch.func.grad imports on first use.
    per_sample = c["vmap"] and c["micro"] is None
    if per_sample:
        import torch._dynamo  # noqa: F401
    dynamo = time.perf_counter() - start
    times, cores = [], []
    for _ in range(repeats + 1):
        core[0] = 0.0
        t = time.perf_counter()
        report = gt.diagnose(model, loss_fn, x, y, microbatches=micro, **kw)
        times.append(time.perf_counter() - t)
        cores.append(core[0])
    rest = sorted(times[1:])
    return {
        "case": case,
        "label": c["label"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "groups": f"{report.groups['count']} {report.groups['kind']}",
        "verdict": report.verdict,
        "causes": report.causes,
        "dynamo_import_s": dynamo if per_sample else None,
        "first_s": times[0],
        "median_s": rest[len(rest) // 2],
        "core_s": sorted(cores[1:])[len(rest) // 2],
        "rss_before_mb": before,
        "rss_peak_mb": peak_mb(),
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls after the first (default 3)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(one(args.case, args.threads, args.repeats)))
        return
    rows = []
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--threads", str(args.threads), "--repeats", str(args.repeats)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"gradlab.torch.diagnose, torch threads {args.threads}, median of {args.repeats} after a first call")
    print(
        "| case | parameters | groups | verdict | torch._dynamo import (s) | first (s) | median (s) | in the core (s) "
        "| peak RSS before / after (MiB) |"
    )
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        verdict = r["verdict"] + (f" ({', '.join(r['causes'])})" if r["causes"] else "")
        print(
            f"| {r['label']} | {r['parameters']:,} | {r['groups']} | {verdict} | "
            f"{'-' if r['dynamo_import_s'] is None else format(r['dynamo_import_s'], '.2f')} | {r['first_s']:.2f} | "
            f"{r['median_s']:.2f} | {r['core_s']:.2f} | {r['rss_before_mb']:.0f} / {r['rss_peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
