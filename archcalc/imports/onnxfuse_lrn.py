"""torch's ``F.local_response_norm`` in ONNX, read back as one ``lrn`` layer.

torch (TorchScript exporter) writes it as arithmetic, for an N x C x H x W input x::

    Mul(x, x) -> Reshape(N, 1, C, H, -1) -> Pad(channels: size//2 before, (size-1)//2 after, zeros)
      -> AveragePool(size x 1 x 1, stride 1, count_include_pad) -> If(Squeeze axis 1 | Identity)
      -> Reshape(N, C, H, W) -> Mul(alpha) -> Add(k) -> Pow(beta) -> Div(x, .)

Every link is checked (op, attributes, constants, shapes, each intermediate read once) from the Div back to
Mul(x, x); any difference is no match, and the nodes stay what they were (unsupported ops, listed). An N x C x L
input is written with Unsqueeze and no Reshape back: shape inference cannot see through the If then, so the
reader stops before this match.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archcalc.imports.onnxfuse_chain import Fused, Graph, NoMatch, attrs
from archcalc.imports.onnxops import num

SOURCE = "onnx Mul+Reshape+Pad+AveragePool+Squeeze+Mul+Add+Pow+Div (F.local_response_norm)"


def lrn(g: Graph, div: Any) -> Fused:
    """``div`` = Div(x, Pow(...)) ending torch's LRN chain of x (module doc)."""
    if len(div.input) != 2 or div.domain not in ("", "ai.onnx"):
        raise NoMatch
    x, denom = div.input
    shape = g.dims(x)
    if len(shape) < 4 or g.dims(div.output[0]) != shape:
        raise NoMatch
    power = g.node(denom, "Pow")
    beta = g.scalar(power.input[1])
    k, scaled = g.scalar_and_other(g.node(power.input[0], "Add"))
    alpha, avg = g.scalar_and_other(g.node(scaled, "Mul"))
    back = g.node(avg, "Reshape")  # the pooled squares viewed back as x
    if g.dims(back.output[0]) != shape:
        raise NoMatch
    pooled = _squeezed(g, back.input[0])
    size = _pool(g.node(pooled, "AveragePool", reads=0))  # read only inside the If's branches
    expanded = g.node(_pad(g, g.producer[pooled].input[0], size), "Reshape")
    if g.dims(expanded.output[0]) != (*shape[:1], 1, *shape[1:3], int(np.prod(shape[3:]))):
        raise NoMatch
    square = g.node(expanded.input[0], "Mul")
    if list(square.input) != [x, x]:
        raise NoMatch
    return Fused(x, "lrn", "lrn", {"size": size, "alpha": num(alpha), "beta": num(beta), "k": num(k)}, SOURCE)


def _squeezed(g: Graph, tensor: str) -> str:
    """torch's ``squeeze(1)``: If(dim 1 == 1: Squeeze(axis 1), else Identity); the pooled tensor. The reader
    folds the condition (Shape, Gather, Equal of known dims) to a constant: it must say squeeze."""
    cond = g.node(tensor, "If")
    pooled = _branches(attrs(cond))
    if g.dims(pooled)[1] != 1 or cond.input[0] in g.producer:
        raise NoMatch
    if g.const(cond.input[0]).reshape(-1).tolist() != [True]:
        raise NoMatch
    return pooled


def _branches(a: dict[str, Any]) -> str:
    """then: Squeeze(p, axes [1]) (axes a Constant in the branch), else: Identity(p); p."""
    from onnx import numpy_helper

    then, other = a.get("then_branch"), a.get("else_branch")
    if then is None or other is None or [n.op_type for n in other.node] != ["Identity"]:
        raise NoMatch
    pooled = str(other.node[0].input[0])
    body = [n for n in then.node if n.op_type != "Constant"]
    consts = {n.output[0]: attrs(n).get("value") for n in then.node if n.op_type == "Constant"}
    if len(body) != 1 or body[0].op_type != "Squeeze" or list(body[0].input[:1]) != [pooled]:
        raise NoMatch
    axes = consts.get(body[0].input[1]) if len(body[0].input) > 1 else None
    if axes is None or numpy_helper.to_array(axes).reshape(-1).tolist() != [1]:
        raise NoMatch
    if [o.name for o in then.output] != list(body[0].output) or [o.name for o in other.output] != list(
        other.node[0].output
    ):
        raise NoMatch
    return pooled


def _pool(n: Any) -> int:
    """The window's size: AveragePool(size x 1 x 1) over channels, stride 1, no pads, zeros counted."""
    a = attrs(n)
    kernel = [int(d) for d in a.get("kernel_shape", [])]
    plain = (
        len(kernel) == 3
        and kernel[1:] == [1, 1]
        and kernel[0] >= 1
        and all(int(s) == 1 for s in a.get("strides", [1]))
        and all(int(p) == 0 for p in a.get("pads", [0]))
        and all(int(d) == 1 for d in a.get("dilations", [1]))
        and a.get("auto_pad", "NOTSET") in ("NOTSET", "VALID")
        and a.get("count_include_pad", 0) == 1
        and a.get("ceil_mode", 0) == 0
    )
    if not plain:
        raise NoMatch
    return kernel[0]


def _pad(g: Graph, padded: str, size: int) -> str:
    """Pad the 5-d squares by zeros on dim 2 only: size // 2 before, (size - 1) // 2 after, as torch's LRN."""
    n = g.node(padded, "Pad")
    a = attrs(n)
    begin, end = [0] * 5, [0] * 5
    begin[2], end[2] = size // 2, (size - 1) // 2
    if a.get("mode", "constant") != "constant" or (len(n.input) > 3 and n.input[3]):
        raise NoMatch
    if g.const(n.input[1]).tolist() != begin + end:
        raise NoMatch
    if len(n.input) > 2 and n.input[2] and g.const(n.input[2]).reshape(-1).tolist() != [0]:
        raise NoMatch
    return str(n.input[0])
