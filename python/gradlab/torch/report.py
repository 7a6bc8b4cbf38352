"""The report of :func:`gradlab.torch.diagnose`: one diagnosis per tensor and the overall verdict.

This module does not import torch.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Dict, List, Optional

#: The overall verdict's order: any ``wrong`` tensor makes the step wrong, else any
#: ``inconclusive`` makes it inconclusive.
SEVERITY = {"correct": 0, "inconclusive": 1, "wrong": 2}


def _as_dict(d) -> dict:
    """A diagnosis's JSON as a dict."""
    return d.to_dict()


class Report:
    """What :func:`gradlab.torch.diagnose` found, per parameter (and input) and overall.

    Attributes:
        parameters: parameter name to its :class:`gradlab.Diagnosis` (in the model's order).
        inputs: ``"input"`` (or ``"input[k]"`` for the k-th of several inputs) to its diagnosis,
            for the inputs whose ``.grad`` was given.
        skipped: tensor name to why it was not diagnosed (no ``.grad``, not in ``grads``).
        groups: how the groups were formed: ``kind`` (samples, sequences, runs, micro-batches),
            ``count``, ``items``, ``unit``, ``reduction``, ``microbatches``, ``method`` (torch.func
            or one backward per group), ``bytes`` (their gradients' memory).
    """

    def __init__(self, parameters: Dict[str, object], inputs: Dict[str, object], skipped: Dict[str, str], groups: dict):
        self.parameters = parameters
        self.inputs = inputs
        self.skipped = skipped
        self.groups = groups

    @property
    def diagnoses(self) -> Dict[str, object]:
        """Every diagnosis, parameters first, then inputs."""
        return {**self.parameters, **self.inputs}

    @property
    def verdict(self) -> str:
        """``wrong`` if any tensor is wrong, else ``inconclusive`` if any is, else ``correct``."""
        worst = "correct"
        for d in self.diagnoses.values():
            if SEVERITY[d.verdict] > SEVERITY[worst]:
                worst = d.verdict
        return worst

    @property
    def causes(self) -> List[str]:
        """Every cause named, once each: the most tensors naming it first, then in the order the
        tensors (and their diagnoses, closest first) name them."""
        seen: Dict[str, int] = {}
        counts: Counter = Counter()
        for d in self.diagnoses.values():
            for c in d.causes:
                seen.setdefault(c, len(seen))
                counts[c] += 1
        return sorted(seen, key=lambda c: (-counts[c], seen[c]))

    def cause_counts(self) -> Dict[str, int]:
        """How many tensors name each cause, in :attr:`causes`' order."""
        counts: Counter = Counter(c for d in self.diagnoses.values() for c in d.causes)
        return {c: counts[c] for c in self.causes}

    def tensors(self, verdict: Optional[str] = None) -> List[str]:
        """The tensors diagnosed (with ``verdict`` only, when given)."""
        return [n for n, d in self.diagnoses.items() if verdict is None or d.verdict == verdict]

    def to_dict(self) -> dict:
        """The report as plain Python objects: ``verdict``, ``causes``, ``cause_counts``,
        ``groups``, ``parameters`` and ``inputs`` (name to the diagnosis's JSON object, the
        command line's keys) and ``skipped``."""
        return {
            "verdict": self.verdict,
            "causes": self.causes,
            "cause_counts": self.cause_counts(),
            "groups": self.groups,
            "parameters": {n: _as_dict(d) for n, d in self.parameters.items()},
            "inputs": {n: _as_dict(d) for n, d in self.inputs.items()},
            "skipped": dict(self.skipped),
        }

    def to_json(self, indent: Optional[int] = 2) -> str:
        """The report as JSON text (:meth:`to_dict`): the overall verdict and causes, then each
        tensor's diagnosis with the command line's keys (``verdict``, ``causes``, ``factor``,
        ``relerr``, ``weights``, ...)."""
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """The first lines of :meth:`__str__`: the overall verdict, the causes with how many
        tensors name them, the groups."""
        n = len(self.diagnoses)
        head = f"gradlab.torch: {self.verdict.upper() if self.verdict == 'wrong' else self.verdict}"
        head += f" over {n} tensor{'s' if n != 1 else ''}"
        per = {v: len(self.tensors(v)) for v in ("wrong", "inconclusive", "correct")}
        head += " (" + ", ".join(f"{k} {v}" for k, v in per.items() if v) + ")"
        if self.causes:
            head += "; causes: " + ", ".join(f"{c} ({k})" for c, k in self.cause_counts().items())
        g = self.groups
        lines = [
            head,
            f"groups: {g['count']} {g['kind']} of {g['items']} {g['unit']} in all, reduction {g['reduction']}"
            + (f", micro-batches of {','.join(map(str, g['microbatches']))} groups" if g.get("microbatches") else "")
            + f"; {g['method']}",
        ]
        for name, why in self.skipped.items():
            lines.append(f"skipped: {name}: {why}")
        return "\n".join(lines)

    def __str__(self) -> str:
        """The summary, then each tensor's diagnosis as ``gradlab diagnose --groups`` prints it."""
        parts = [self.summary()]
        for name, d in self.diagnoses.items():
            parts.append(f"\n== {name}: {d.verdict} ==\n{str(d).rstrip()}")
        return "\n".join(parts) + "\n"

    def __repr__(self) -> str:
        return f"<gradlab.torch.Report verdict={self.verdict} causes={self.causes} tensors={len(self.diagnoses)}>"
