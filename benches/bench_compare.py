#!/usr/bin/env python3
"""Runs two builds of benches/check.rs alternately (before, after, before, after, ...) and prints
each benchmark's median per run and the after/before ratio of the medians of medians.

    python3 benches/bench_compare.py BEFORE_EXE AFTER_EXE [--rounds 2] [--filter REGEX]

BEFORE_EXE and AFTER_EXE are the bench executables `cargo bench --bench check --no-run` prints
(target/release/deps/check-HASH) for each commit. Each run gets its own CRITERION_HOME, so the
two builds never compare against each other's saved baselines."""
import argparse, json, os, pathlib, statistics, subprocess, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("before"); ap.add_argument("after")
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--filter", default="central_input_check|seed_table_f32")
ap.add_argument("--measurement-time", default="3")
a = ap.parse_args()

def run(exe):
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, CRITERION_HOME=home)
        subprocess.run([exe, "--bench", a.filter, "--warm-up-time", "1", "--measurement-time",
                        a.measurement_time, "--noplot"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = {}
        for est in pathlib.Path(home).rglob("new/estimates.json"):
            bench = json.loads((est.parent / "benchmark.json").read_text())["full_id"]
            out[bench] = json.loads(est.read_text())["median"]["point_estimate"]
        return out

runs = {"before": [], "after": []}
for r in range(a.rounds):
    for side in ("before", "after"):
        runs[side].append(run(getattr(a, side)))
        print(f"round {r + 1}: {side} done", flush=True)

def fmt(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"

names = sorted(set(runs["before"][0]) & set(runs["after"][0]))
print(f"| benchmark | before ({a.rounds} runs) | after ({a.rounds} runs) | after / before |")
print("| --- | --- | --- | --- |")
for n in names:
    b = [x[n] for x in runs["before"]]; f = [x[n] for x in runs["after"]]
    ratio = statistics.median(f) / statistics.median(b)
    print(f"| {n} | {' / '.join(fmt(v) for v in b)} | {' / '.join(fmt(v) for v in f)} | {ratio:.3f} |")
