"""The time a Python call adds to a diagnosis (issue #22: at most 5 ms).

For each size (J groups x P parameters), times ``gradlab.diagnose_groups`` from Python (the
median of REPEATS calls, the numpy arrays in and the Diagnosis object out) and the core's own
time for the same diagnosis measured inside Rust (``gradlab._core.time_diagnose_groups``: the
median of REPEATS runs of the core's diagnosis and the formatting of its JSON and text), and
prints the difference. Usage: ``python3 python/bench/overhead.py`` (after ``pip install ./python``).
"""

import statistics
import sys
import time

import numpy as np

import gradlab
from gradlab import _core

SIZES = [(16, 1_000), (16, 100_000), (8, 1_000_000)]
REPEATS = 21
LIMIT_MS = 5.0


def main():
    print(f"gradlab {gradlab.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}")
    print(f"{'J':>4} {'P':>9} {'python_ms':>10} {'core_ms':>9} {'added_ms':>9}")
    worst = 0.0
    for j, p in SIZES:
        rng = np.random.default_rng(0)
        groups = rng.normal(size=(j, p))
        counts = [1 + (i * 7) % 5 for i in range(j)]
        g = (np.full(j, 1.0 / sum(counts)) @ groups).astype(np.float32)  # a float32 .grad
        gradlab.diagnose_groups(g, groups, counts, dtype="f32")  # warm up
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            gradlab.diagnose_groups(g, groups, counts, dtype="f32")
            times.append(time.perf_counter() - start)
        python = statistics.median(times)
        core = _core.time_diagnose_groups(g, groups, counts, REPEATS, dtype="f32")
        added = (python - core) * 1e3
        worst = max(worst, added)
        print(f"{j:>4} {p:>9} {python * 1e3:>10.3f} {core * 1e3:>9.3f} {added:>9.3f}")
    print(f"largest added time {worst:.3f} ms ({'within' if worst <= LIMIT_MS else 'above'} the {LIMIT_MS:g} ms limit)")
    return 0 if worst <= LIMIT_MS else 1


if __name__ == "__main__":
    sys.exit(main())
