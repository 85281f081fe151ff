"""Named counting conventions computed from a Report's records by pure integer math (no torch).

``macs`` (torchvision _ops, the papers), ``flops`` (FlopCounterMode), ``fvcore``
(FlopCountAnalysis, eval mode), ``torchinfo`` (total_mult_adds), ``connections`` (LeCun), and one
training step: ``train`` (forward + backward, correct formulas) and ``train_fcm`` (FlopCounterMode's).
"""

from archcalc.analysis.conventions import rules, train  # noqa: F401  (registers the conventions)
from archcalc.analysis.conventions.core import CONVENTIONS, Convention, get, layer_values, names, total, totals

__all__ = ["CONVENTIONS", "Convention", "get", "layer_values", "names", "total", "totals"]
