"""The sliding-window output size shared by convolution and pooling (torch's rule)."""

from __future__ import annotations

from typing import Any

from archcalc.errors import ShapeError
from archcalc.ops.registry import Args, pair_text
from archcalc.ops.symbolic import Num


def window_out(
    m: Any,
    axis: str,
    size: Num,
    k: int,
    s: int,
    pads: tuple[int, int],
    d: int = 1,
    ceil: bool = False,
    pool: bool = False,
) -> Num:
    """floor((in + pads - d*(k-1) - 1)/s) + 1, or torch's ceil_mode variant.

    With ceil_mode torch drops the last window when it would start at or past
    ``in + left padding``: if (out-1)*s >= in + p_left then out -= 1.
    """
    a = axis.lower()
    n = m.v(f"{axis}_in", size)  # not int(): a formula keeps its symbols
    kk, ss, dd = m.v(f"k_{a}", k), m.v(f"s_{a}", s), m.v(f"d_{a}", d)
    if pads[0] == pads[1]:
        padded = n + 2 * m.v(f"p_{a}", pads[0])
    else:
        padded = n + m.v(f"p_{a}_lo", pads[0]) + m.v(f"p_{a}_hi", pads[1])
    span = padded - dd * (kk - 1) - 1
    if int(span) < 0 and not pool:
        raise ShapeError(
            f"kernel {k} (dilation {d}) is larger than the padded input along {axis}: "
            f"{int(size)} + padding {pads[0] + pads[1]} = {int(padded)} < {d * (k - 1) + 1}"
        )
    out: Num
    if not ceil:
        out = span // ss + 1
    else:
        out = m.ceil_div(span, ss) + 1
        if (int(out) - 1) * s >= int(size) + pads[0]:
            m.note(
                f"ceil_mode along {axis}: the last window would start at {(int(out) - 1) * s} >= "
                f"input + left padding = {int(size) + pads[0]}, so torch drops it"
            )
            out = out - 1
    if int(out) < 1:
        raise ShapeError(
            f"output size along {axis} would be {int(out)}: input {int(size)} is too small "
            f"for kernel {k}, stride {s}, padding {pads[0]}, dilation {d}"
        )
    named: Num = m.v(f"{axis}_out", out)
    return named


def ksp_summary(a: Args) -> str:
    """The table's kernel/stride/padding column, e.g. 'k5 s1 p0' or 'k3 s1 p1 d2 g32'."""
    parts = [f"k{pair_text(a['kernel'])}"]
    if "stride" in a:
        parts.append(f"s{pair_text(a['stride'])}")
    if "padding" in a:
        parts.append(f"p{pair_text(a['padding'])}")
    if a.get("output_padding", (0, 0)) != (0, 0):
        parts.append(f"op{pair_text(a['output_padding'])}")
    if a.get("dilation", (1, 1)) != (1, 1):
        parts.append(f"d{pair_text(a['dilation'])}")
    if a.get("groups", 1) != 1:
        parts.append(f"g{a['groups']}")
    if a.get("ceil_mode"):
        parts.append("ceil")
    if a.get("table"):
        parts.append("table")
    return " ".join(parts)
