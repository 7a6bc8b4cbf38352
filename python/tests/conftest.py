"""Shared helpers of the numpy-level tests: the command-line binary to compare with, and
synthetic groups' gradients."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def gradlab_binary():
    """The built ``gradlab`` binary: $GRADLAB_BIN, else target/{release,debug}/gradlab under
    $CARGO_TARGET_DIR or the repository; None when there is none."""
    given = os.environ.get("GRADLAB_BIN")
    if given:
        return pathlib.Path(given)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / "gradlab"
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture
def cli():
    """The ``gradlab`` binary; the test is skipped without one, unless $GRADLAB_REQUIRE_BIN is
    set (.ci/test sets it, so that CI never skips the comparison)."""
    path = gradlab_binary()
    if path is None or not path.is_file():
        if os.environ.get("GRADLAB_REQUIRE_BIN"):
            pytest.fail(f"no gradlab binary at {path}; build it with cargo build or set GRADLAB_BIN")
        pytest.skip("no built gradlab binary (cargo build, or set GRADLAB_BIN)")
    return path


def synthetic_groups(counts, p=500, seed=0):
    """J groups' gradients (J x P, float64): each the sum of its c_j items' gradients, random
    normal items, so that the groups are linearly independent."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.normal(size=(c, p)).sum(axis=0) for c in counts])


def microbatch_items(counts, microbatches):
    """Each group's micro-batch index and each micro-batch's item count."""
    of, items, start = [], [], 0
    for b, size in enumerate(microbatches):
        of.extend([b] * size)
        items.append(sum(counts[start : start + size]))
        start += size
    return of, items
