"""DenseNet's channel arithmetic: the transition's compression, as one named op.

The spec language has no expressions, and the growth inside a dense block needs
none (``feed: dense`` concatenates, and every conv reads its input channels from
the shape).  Only the transition's ``floor(theta * C)`` depends on a channel count
that the spec does not spell out, so it is an op with its own rule and builder.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import BOOL, Arg, ArgError, ArgType, number
from archcalc.ops.registry import Args, Out, Shape, chw, declare, fits


def _ratio(v: Any) -> float:
    r = number(v)
    if not 0.0 < r <= 1.0:
        raise ArgError(f"expected a compression factor in (0, 1], got {r}")
    return r


RATIO = ArgType("number in (0, 1]", _ratio, {"type": "number", "exclusiveMinimum": 0, "maximum": 1})


def theta(ratio: float) -> Fraction:
    """The factor as the exact decimal written in the spec (0.5 -> 1/2), so no float rounding enters."""
    return Fraction(str(ratio))


@declare(
    "compress",
    {
        "ratio": Arg(RATIO, doc="compression factor theta: C_out = floor(theta*C_in)"),
        "bias": Arg(BOOL, False),
    },
    summary=lambda a: f"1x1 theta {a['ratio']:g}",
    build=lambda k, a, rec: k.nn.Conv2d(int(rec.input_shape[0]), int(rec.output_shape[0]), 1, bias=a["bias"]),
)
def compress(a: Args, x: Shape, m: Any) -> Out:
    """DenseNet-BC transition compression: a 1x1 convolution (stride 1) to floor(theta*C_in) maps.

    theta = p/q exactly as written (0.5 -> 1/2; torchvision computes C // 2).
    C_out = floor(C_in*p/q); params = C_in*C_out (+ C_out bias); MACs = C_in*C_out*H*W;
    connections = (C_in + bias)*C_out*H*W.  Built as torch.nn.Conv2d(C_in, C_out, 1).
    """
    c, h, w = chw(x, "compress")
    t = theta(a["ratio"])
    cin = m.v("C_in", int(c))
    cout = cin * m.v("theta_num", t.numerator) // m.v("theta_den", t.denominator)
    if int(cout) < 1:
        raise ShapeError(f"compression {a['ratio']:g} of {int(c)} channels leaves no output channel")
    hh, ww = m.v("H", h), m.v("W", w)
    weight = cin * cout
    fits("the weight", weight)
    units = cout * hh * ww
    return Out(
        shape=(cout, hh, ww),
        params=weight + cout if a["bias"] else weight,
        macs=cin * units,
        connections=(cin + 1) * units if a["bias"] else cin * units,
    )
