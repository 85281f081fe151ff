"""The modern activations (issue 10), each declared once with torch's semantics and argument names.

All are ``pointwise``: the shape and the receptive field are unchanged, and every convention counts 0 (none
has a MAC; FlopCounterMode and fvcore have no formula for them), except torchinfo for ``prelu``, whose
learnable slopes it counts (archcalc/analysis/conventions/rules.py). ``inplace: true`` makes the op an
alias of its input, as for ``relu``.
"""

from __future__ import annotations

from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import BOOL, NUMBER, POS_INT, Arg, enum
from archcalc.ops.layers import _inplace, _same
from archcalc.ops.registry import Args, Out, Shape, declare, fmt_shape


def _inplace_arg() -> dict[str, Arg]:
    return {"inplace": Arg(BOOL, False)}


def _inplace_activation(op: str, cls: str, doc: str) -> None:
    """An elementwise torch activation with only ``inplace``: one declaration from one table row."""
    _same(
        op,
        doc,
        _inplace_arg(),
        pointwise=True,
        alias=_inplace,
        build=lambda k, a, rec: getattr(k.nn, cls)(a["inplace"]),
    )


for _op, _cls, _doc in (
    ("relu6", "ReLU6", "torch.nn.ReLU6: min(max(0, x), 6), elementwise; no params, no MACs."),
    ("hardswish", "Hardswish", "torch.nn.Hardswish: x*relu6(x + 3)/6, elementwise; no params, no MACs."),
    ("hardsigmoid", "Hardsigmoid", "torch.nn.Hardsigmoid: relu6(x + 3)/6, elementwise; no params, no MACs."),
    ("silu", "SiLU", "torch.nn.SiLU (swish): x*sigmoid(x), elementwise; no params, no MACs."),
    ("mish", "Mish", "torch.nn.Mish: x*tanh(softplus(x)), elementwise; no params, no MACs."),
):
    _inplace_activation(_op, _cls, _doc)


_same(
    "gelu",
    "torch.nn.GELU: x*Phi(x) with the normal CDF Phi (approximate: none), or its tanh approximation "
    "(approximate: tanh), elementwise; no params, no MACs.",
    {"approximate": Arg(enum("none", "tanh"), "none", doc="'none' (exact erf) or 'tanh'")},
    summary=lambda a: "tanh" if a["approximate"] == "tanh" else "",
    pointwise=True,
    build=lambda k, a, rec: k.nn.GELU(approximate=a["approximate"]),
)
_same(
    "leaky_relu",
    "torch.nn.LeakyReLU: max(0, x) + negative_slope*min(0, x), elementwise; no params, no MACs.",
    {"negative_slope": Arg(NUMBER, 0.01), **_inplace_arg()},
    summary=lambda a: f"slope {a['negative_slope']:g}",
    pointwise=True,
    alias=_inplace,
    build=lambda k, a, rec: k.nn.LeakyReLU(a["negative_slope"], a["inplace"]),
)
_same(
    "elu",
    "torch.nn.ELU: x if x > 0 else alpha*(exp(x) - 1), elementwise; no params, no MACs.",
    {"alpha": Arg(NUMBER, 1.0), **_inplace_arg()},
    summary=lambda a: f"alpha {a['alpha']:g}",
    pointwise=True,
    alias=_inplace,
    build=lambda k, a, rec: k.nn.ELU(a["alpha"], a["inplace"]),
)


@declare(
    "prelu",
    {
        "num_parameters": Arg(POS_INT, 1, doc="1 (one slope shared by every channel) or C (one slope per channel)"),
        "init": Arg(NUMBER, 0.25, doc="initial value of the slopes"),
    },
    summary=lambda a: "1 slope" if a["num_parameters"] == 1 else f"{a['num_parameters']} slopes",
    pointwise=True,
    build=lambda k, a, rec: k.nn.PReLU(a["num_parameters"], a["init"]),
)
def prelu(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.PReLU: max(0, x) + a*min(0, x) with learnable slopes a, elementwise.

    params = num_parameters: 1 (shared) or C, one per channel (torch's dim 1: the first per-sample dim);
    no buffers, no MACs.
    """
    if not x:
        raise ShapeError("prelu needs an input with at least one dimension")
    n, c = a["num_parameters"], int(x[0])
    if n not in (1, c):
        raise ShapeError(
            f"prelu num_parameters must be 1 or the input's channels C = {c} (input {fmt_shape(x)}), got {n}"
        )
    if m.symbolic:
        m.note("params: one slope shared by every channel" if n == 1 else "params: one slope a per channel, trainable")
    return Out(shape=x, params=1 if n == 1 else m.v("C", c))
