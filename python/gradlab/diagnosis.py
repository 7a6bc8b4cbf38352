"""The result of a model-agnostic diagnosis: :class:`Diagnosis`, built from the JSON and the
text the Rust core returns (the same as ``gradlab diagnose --grad g.npy --groups G.npy`` prints).
"""

import json as _json

__all__ = ["Diagnosis"]


class Diagnosis:
    """One diagnosis of a gradient against its groups' gradients.

    Every key of the command line's JSON is an attribute: ``verdict`` (``"correct"``,
    ``"wrong"`` or ``"inconclusive"``), ``causes`` (the named mistakes, closest first, such as
    ``"sum_instead_of_mean"``; empty unless wrong), ``factor`` (the least-squares factor of the
    gradient on the correct one), ``relerr`` (its relative distance from the correct one),
    ``residual`` (the best fit's relative residual), ``tolerance`` (the dtype's relative
    tolerance), ``weights`` (a dict: ``recovered``, ``correct`` and, for a named pattern,
    ``expected``, one weight per group), and, None when they do not apply, ``reason`` (why
    inconclusive), ``microbatch_sizes`` (items per micro-batch, for a micro-batch cause),
    ``worst`` (a dict: the group whose weight is furthest from the correct one),
    ``learning_rate`` (the step back of ``params_after_step``) and ``dtype`` (the dtype the
    gradient fits in, for ``dtype_mismatch``).

    ``str(d)`` is the command line's text, ``d.to_json()`` its JSON, ``d.to_dict()`` a dict.
    """

    __slots__ = ("_data", "_json", "_text")

    #: Keys the JSON leaves out when they do not apply (their attribute is then None).
    OPTIONAL = ("reason", "microbatch_sizes", "worst", "learning_rate", "dtype")

    def __init__(self, json_text, text):
        """Builds a diagnosis from the core's JSON (a string) and text."""
        self._json = json_text
        self._text = text
        self._data = _json.loads(json_text)

    def __getattr__(self, name):
        data = object.__getattribute__(self, "_data")
        try:
            return data[name]
        except KeyError:
            if name in Diagnosis.OPTIONAL:
                return None
            raise AttributeError(f"a Diagnosis has no attribute {name!r}; its keys are {', '.join(data)}") from None

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._data) | set(Diagnosis.OPTIONAL))

    @property
    def ok(self):
        """True when the verdict is ``correct``."""
        return self._data["verdict"] == "correct"

    def to_json(self):
        """The diagnosis as the command line's JSON (a string, one object)."""
        return self._json

    def to_dict(self):
        """The diagnosis as a dict (the parsed JSON; a copy)."""
        return _json.loads(self._json)

    def __str__(self):
        return self._text

    def __repr__(self):
        causes = ", ".join(self._data["causes"]) or "none"
        return (
            f"<Diagnosis {self._data['verdict']}: causes {causes}; factor {self._data['factor']:.6g}, "
            f"relerr {self._data['relerr']:.3g}, {len(self._data['weights']['recovered'])} groups>"
        )

    def __eq__(self, other):
        return isinstance(other, Diagnosis) and self._json == other._json

    __hash__ = None
