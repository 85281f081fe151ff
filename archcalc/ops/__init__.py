"""Op rules, registered by name. Importing this package registers every op."""

from archcalc.ops import activations, conv, dense, layers, layout, norm, opaque, pool  # noqa: F401  (registration side effects)
from archcalc.ops.registry import OPS, OpDef, Out, Shape, fmt_shape, prod

__all__ = ["OPS", "OpDef", "Out", "Shape", "fmt_shape", "prod"]
