"""Named counting conventions computed from a Report's records by pure integer math (no torch).

``macs`` (torchvision _ops, the papers), ``flops`` (FlopCounterMode), ``fvcore``
(FlopCountAnalysis, eval mode), ``torchinfo`` (total_mult_adds) and ``connections`` (LeCun).
"""

from archcalc.analysis.conventions import rules  # noqa: F401  (registers the conventions)
from archcalc.analysis.conventions.core import CONVENTIONS, Convention, get, layer_values, names, total, totals

__all__ = ["CONVENTIONS", "Convention", "get", "layer_values", "names", "total", "totals"]
