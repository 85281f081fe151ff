"""What a formula of H and W can follow: rules it refuses outright, and the guards a sweep evaluates.

Beside every layer's output size >= 1, a rule checks at each size things the formula must check too: the
inputs a merge compares must be equal (``Guards.equal``). Where a rule checks something else, the guards
are not ``complete`` and a sweep asks the calculator for every size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archcalc.analysis.polynomial import FormulaError, Poly, Term
from archcalc.graph.ir import GNode
from archcalc.ops.layout import norm_dims

Dims = tuple[Term, ...]


@dataclass
class Guards:
    """Beside every layer's output size >= 1, what the rules check at a size that the formula must too:
    inputs a merge compares must be equal. ``complete`` is False where a rule checks something else
    (an unpool's switches, reflect padding, a 1 x 1 instance norm, channels that are a size after a
    permute), so a sweep asks the calculator."""

    equal: list[tuple[Poly, Poly]]
    complete: bool = True


def unguarded(node: GNode, args: Sequence[Dims]) -> bool:
    a = node.args
    if node.refs or node.op == "max_unpool2d":
        return True
    if node.op in ("prelu", "channel_shuffle", "groupnorm") and args[0] and any(args[0][0].poly.keys() - {()}):
        return True  # they check the channels, here a size (after a permute)
    if node.op == "instancenorm2d" and not a.get("track_running_stats", True):
        return True
    return bool(a.get("padding_mode", "zeros") != "zeros")


def refuse(node: GNode, args: Sequence[Dims]) -> None:
    """Layers whose output size is not one expression of their input size: one clear line."""
    a = node.args
    if node.op in ("maxpool2d", "avgpool2d") and a.get("ceil_mode"):
        stride = a["stride"] or a["kernel"]
        for axis in (0, 1):
            k, s, p, d = a["kernel"][axis], stride[axis], a["padding"][axis], a.get("dilation", (1, 1))[axis]
            e = d * (k - 1) + 1
            if p >= e or (s >= 2 and p - e + s - 1 >= 0):
                raise FormulaError(
                    f"layer '{node.path}': ceil_mode with kernel {k}, stride {s}, padding {p} drops the last window "
                    "for some input sizes (torch), so its output size is not one expression of H and W"
                )
    if node.op == "chunk":
        x = args[0]
        got = norm_dims((a["dim"],), len(x) + 1)
        if got and got[0] >= 1 and any(x[got[0] - 1].poly.keys() - {()}):
            raise FormulaError(
                f"layer '{node.path}': chunk along a dim that depends on the input size; "
                "its pieces are not one expression of H and W"
            )
