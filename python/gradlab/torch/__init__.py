"""gradlab for PyTorch: is the gradient your training loop produced the gradient of the loss you
meant, and if not, which summing-versus-averaging mistake made it? (torch is imported only in
this subpackage.)

- :func:`diagnose` (``gradlab.torch.diagnose(model, loss_fn, inputs, targets)``): the gradient
  left in each parameter's ``.grad`` (and an input's) against the groups' gradients gradlab
  recomputes in float64; returns a :class:`Report`.
- :class:`Monitor`: the same check inside a training loop, at optimizer steps, warning once when
  the gradient is wrong.

The analysis is the Rust core's (``gradlab._core``), the command line's ``gradlab diagnose
--groups``: docs/diagnose.md ("Any model") describes the fit, the tolerance and the patterns;
docs/python-torch.md this API.
"""

from .diagnose_model import diagnose
from .monitor import Monitor
from .report import Report

__all__ = ["diagnose", "Monitor", "Report"]
