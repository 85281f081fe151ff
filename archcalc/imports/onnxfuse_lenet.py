"""LeNet-5's units in ONNX (as torch writes archcalc's modules), read back as their archcalc ops.

- scaled_tanh: Mul(x, 2/3) -> Tanh -> Mul(1.7159)
- subsample(k): AveragePool(k, stride k) -> Mul(k*k) -> Mul(1 x C x 1 x 1 coefficients) [-> Add(1 x C x 1 x 1
  biases), merged by the reader as a bias]
- conv2d with a connection table: per output map Gather(x, row, axis 1) -> Conv(1 out), then Concat(axis 1)
- rbf(out): Unsqueeze(x, 1) -> Sub(1 x out x F prototypes) -> Mul(d, d) -> ReduceSum(last axis)

Each matcher gets the chain's last node and raises NoMatch on any difference (constants to float32 exactness).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archcalc.imports.onnxfuse_chain import Fused, Graph, Matcher, NoMatch, attrs


def _is(value: float, want: float) -> bool:
    return bool(np.float32(value) == np.float32(want))


def scaled_tanh(g: Graph, node: Any) -> Fused:
    """``node`` = Mul(Tanh(Mul(x, 2/3)), 1.7159)."""
    outer, t = g.scalar_and_other(node)
    tanh = g.node(t, "Tanh")
    inner, x = g.scalar_and_other(g.node(tanh.input[0], "Mul"))
    if not (_is(outer, 1.7159) and _is(inner, 2.0 / 3.0)):
        raise NoMatch
    return Fused(x, "scaled_tanh", "scaled_tanh", {}, "onnx Mul+Tanh+Mul")


def subsample(g: Graph, node: Any) -> Fused:
    """``node`` = Mul(Mul(AveragePool(x, k, stride k), k*k), coefficients 1 x C x 1 x 1); without its bias,
    which the reader merges from the Add after it."""
    out = g.dims(node.output[0])
    _, scaled = g.const_and_other(node, (1, out[1], 1, 1))
    times, avg = g.scalar_and_other(g.node(scaled, "Mul"))
    pool = g.node(avg, "AveragePool")
    a = attrs(pool)
    kernel = [int(d) for d in a.get("kernel_shape", [])]
    plain = (
        len(kernel) == 2
        and kernel[0] == kernel[1]
        and [int(s) for s in a.get("strides", [1, 1])] == kernel
        and all(int(p) == 0 for p in a.get("pads", [0]))
        and a.get("auto_pad", "NOTSET") in ("NOTSET", "VALID")
        and a.get("ceil_mode", 0) == 0
        and _is(times, kernel[0] * kernel[0])
    )
    if not plain:
        raise NoMatch
    return Fused(str(pool.input[0]), "subsample", "subsample", {"kernel": kernel[0], "bias": False},
                 "onnx AveragePool+Mul+Mul")  # fmt: skip


def table_conv(g: Graph, concat: Any) -> Fused:
    """``concat`` = Concat(axis 1) of Conv(Gather(x, row_j, axis 1)) per map j; args {"table": rows}: the
    convs' own args (all alike, one output map each) are taken from their layers by the caller."""
    if attrs(concat).get("axis") != 1 or len(concat.input) < 2:
        raise NoMatch
    rows, sources = [], set()
    for t in concat.input:
        conv = g.node(t, "Conv")
        gather = g.node(conv.input[0], "Gather")
        row = g.const(gather.input[1])
        if attrs(gather).get("axis", 0) != 1 or row.ndim != 1 or row.dtype.kind != "i":
            raise NoMatch
        rows.append([int(i) for i in row])
        sources.add(str(gather.input[0]))
    if len(sources) != 1:
        raise NoMatch
    return Fused(sources.pop(), "conv", "conv2d", {"table": rows}, "onnx Gather+Conv per map, Concat")


def rbf(g: Graph, node: Any) -> Fused:
    """``node`` = ReduceSum(Mul(d, d), last axis) with d = Sub(Unsqueeze(x, 1), prototypes 1 x out x F)."""
    a = attrs(node)
    if len(node.input) != 2 or a.get("keepdims", 1) != 0 or a.get("noop_with_empty_axes", 0) != 0:
        raise NoMatch
    square = g.node(node.input[0], "Mul")
    if square.input[0] != square.input[1]:
        raise NoMatch
    sub = g.node(square.input[0], "Sub", reads=2)
    unsqueeze = g.node(sub.input[0], "Unsqueeze")
    x = str(unsqueeze.input[0])
    flat, out = g.dims(x), g.dims(node.output[0])
    if len(flat) != 2 or len(out) != 2 or out[0] != flat[0] or g.const_dims.get(sub.input[1]) != (1, out[1], flat[1]):
        raise NoMatch
    if g.const(unsqueeze.input[1]).reshape(-1).tolist() != [1]:
        raise NoMatch
    if g.const(node.input[1]).reshape(-1).tolist() not in ([-1], [2]):
        raise NoMatch
    return Fused(x, "rbf", "rbf", {"out": out[1]}, "onnx Unsqueeze+Sub+Mul+ReduceSum")


CHAINS: dict[str, list[Matcher]] = {"Mul": [scaled_tanh, subsample], "Concat": [table_conv], "ReduceSum": [rbf]}
