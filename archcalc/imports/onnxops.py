"""ONNX nodes -> archcalc ops (name and args as a spec writes them); the ``onnx`` package is not imported here.

A handler gets an ``OnnxCall`` (attributes, which inputs are constants and their values, per-sample shapes) and
returns ``(op, args)``, ``ALIAS`` (the value passes through), a list with one result per output (Split), or
None: unknown, with the reason in ``call.why`` when there is one worth saying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALIAS: tuple[str, dict[str, Any]] = ("", {})
Shape = tuple[int, ...]
Op = tuple[str, dict[str, Any]]
Result = Op | list[Op | None] | None


@dataclass
class OnnxCall:
    op_type: str
    attrs: dict[str, Any]
    inputs: list[str]  # the node's input names ("" for an omitted optional one)
    consts: dict[int, np.ndarray | None]  # input index -> its value, for inputs that are constants (None: not read)
    const_dims: dict[int, Shape]  # input index -> the constant's shape
    shapes: list[Shape]  # per-sample shapes of the activation inputs, in order
    outs: list[Shape]  # per-sample shapes of the outputs
    used: list[bool]  # whether each output is read by anything
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""

    def const(self, i: int) -> np.ndarray | None:
        return self.consts.get(i) if self.has(i) else None

    def is_const(self, i: int) -> bool:
        return self.has(i) and i in self.const_dims

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


def num(x: float) -> float:
    """A float32 attribute as the decimal a person wrote (0.8999999761581421 -> 0.9)."""
    return float(f"{x:.6g}")


def pair(v: list[int] | tuple[int, ...]) -> Any:
    return int(v[0]) if len(v) == 2 and v[0] == v[1] else [int(d) for d in v]


def _window(c: OnnxCall, kernel: list[int]) -> dict[str, Any] | None:
    """kernel, stride, padding, dilation of a 2-d window; None for asymmetric or automatic padding."""
    if len(kernel) != 2:
        c.why = "only 2-d windows"
        return None
    strides = [int(s) for s in c.attr("strides", [1, 1])]
    auto = c.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER") and strides == [1, 1]:  # torch's padding='same' (extra on one side)
        pads: Any = "same"
    elif auto not in ("NOTSET", "VALID"):
        c.why = f"auto_pad {auto} with a stride"
        return None
    else:
        pads = [int(p) for p in c.attr("pads", [0, 0, 0, 0])]
        if pads[:2] != pads[2:]:
            c.why = f"asymmetric pads {pads}"
            return None
    return {
        "kernel": pair(kernel),
        "stride": pair(strides),
        "padding": pads if pads == "same" else pair(pads[:2]),
        "dilation": pair(c.attr("dilations", [1, 1])),
    }


def _conv(c: OnnxCall) -> Result:
    dims = c.const_dims.get(1)
    if dims is None or len(dims) != 4:
        c.why = "weights that are not a 4-d constant"
        return None
    w = _window(c, list(c.attr("kernel_shape", dims[2:])))
    if w is None:
        return None
    groups = int(c.attr("group", 1))
    if c.op_type == "Conv":
        return "conv2d", {"out": dims[0], **w, "groups": groups, "bias": c.has(2)}
    if c.attr("output_shape") is not None or w["padding"] == "same":
        c.why = "output_shape or auto_pad SAME"
        return None
    extra = {"output_padding": pair(c.attr("output_padding", [0, 0]))}
    return "conv_transpose2d", {"out": dims[1] * groups, **w, "groups": groups, "bias": c.has(2), **extra}


def _linear(c: OnnxCall) -> Result:
    dims = c.const_dims.get(1)
    if dims is None or len(dims) != 2 or len(c.shapes) != 1:
        c.why = "a product of two activations"
        return None
    if c.op_type == "MatMul":
        return "linear", {"out": dims[1], "bias": False}
    if c.attr("transA", 0) or num(c.attr("alpha", 1.0)) != 1 or (c.has(2) and num(c.attr("beta", 1.0)) != 1):
        c.why = "transA, alpha or beta"
        return None
    return "linear", {"out": dims[0] if c.attr("transB", 0) else dims[1], "bias": c.has(2)}


def _bn(c: OnnxCall) -> Result:
    if len(c.shapes[0]) != 3:
        c.why = "only BatchNorm over CxHxW"
        return None
    momentum = num(1 - c.attr("momentum", 0.9))  # ONNX keeps the old value's share: torch's 0.1 is 0.9
    return "batchnorm2d", {"eps": num(c.attr("epsilon", 1e-5)), "momentum": momentum}


def _scalar(c: OnnxCall, i: int, key: str) -> float | None:
    v = c.const(i) if c.has(i) else c.attr(key)
    return None if v is None else float(np.asarray(v).reshape(-1)[0])


def _clip(c: OnnxCall) -> Result:
    lo, hi = _scalar(c, 1, "min"), _scalar(c, 2, "max")
    if lo == 0 and hi == 6:
        return "relu6", {}
    if lo == 0 and hi is None:
        return "relu", {}
    c.why = f"Clip({lo}, {hi})"
    return None


def _hardsigmoid(c: OnnxCall) -> Result:
    if abs(c.attr("alpha", 0.2) - 1 / 6) < 1e-6 and abs(c.attr("beta", 0.5) - 0.5) < 1e-6:
        return "hardsigmoid", {}
    c.why = "alpha/beta other than torch's 1/6, 1/2"
    return None


def _merge(op: str) -> Callable[[OnnxCall], Result]:
    def handle(c: OnnxCall) -> Result:
        if len(c.shapes) == 2:
            return op, {}
        dims = next(iter(c.const_dims.values()), None)
        x = c.shapes[0]
        if op == "mul" and dims is not None and len(x) == 3 and tuple(dims) in ((x[0], 1, 1), (1, x[0], 1, 1)):
            value = c.const(1 if 1 in c.const_dims else 0)
            init = num(float(value.reshape(-1)[0])) if value is not None and np.all(value == value.flat[0]) else 1e-6
            return "layer_scale", {"init": init}
        c.why = "an operand that is a constant"
        return None

    return handle


def _axis(c: OnnxCall, key: str = "axis", default: int = 1, rank: int | None = None) -> int:
    r = (len(c.shapes[0]) + 1) if rank is None else rank
    a = int(c.attr(key, default))
    return a + r if a < 0 else a


def _concat(c: OnnxCall) -> Result:
    dim = _axis(c, rank=len(c.outs[0]) + 1)
    return ("concat", {"dim": dim}) if dim >= 1 else None


def _flatten(c: OnnxCall) -> Result:
    if _axis(c) != 1:
        c.why = "axis other than 1 (ONNX Flatten folds the dims before it into the batch)"
        return None
    return "flatten", {}


def _reshape(c: OnnxCall) -> Result:
    """A reshape that merges a run of dims is a flatten; one that changes nothing is no layer."""
    x, y = c.shapes[0], c.outs[0]
    if x == y:
        return ALIAS
    for s in range(len(x)):
        for e in range(s + 1, len(x)):
            if (*x[:s], int(np.prod(x[s : e + 1])), *x[e + 1 :]) == y:
                return "flatten", {"start_dim": s + 1, "end_dim": -1 if e == len(x) - 1 else e + 1}
    c.why = f"{'x'.join(map(str, x))} -> {'x'.join(map(str, y))} is not a flatten"
    return None


def _transpose(c: OnnxCall) -> Result:
    perm = [int(d) for d in c.attr("perm", [])]
    if not perm or perm[0] != 0:
        c.why = "a permutation that moves the batch"
        return None
    return "permute", {"dims": perm}


def _pool(op: str) -> Callable[[OnnxCall], Result]:
    def handle(c: OnnxCall) -> Result:
        if len(c.used) > 1 and c.used[1]:
            c.why = "its indices output"
            return None
        w = _window(c, list(c.attr("kernel_shape", [])))
        if w is None or w["padding"] == "same":
            c.why = c.why or "auto_pad SAME"
            return None
        args = {**w, "ceil_mode": bool(c.attr("ceil_mode", 0))}
        if op == "avgpool2d":
            if args.pop("dilation") != 1:
                c.why = "dilations"
                return None
            args["count_include_pad"] = bool(c.attr("count_include_pad", 0))
        return op, args

    return handle


def _reduce_mean(c: OnnxCall) -> Result:
    axes = c.const(1) if c.has(1) else c.attr("axes")
    if axes is None:
        c.why = "axes that are not constant"
        return None
    rank = len(c.shapes[0]) + 1
    dims = sorted(int(a) % rank for a in np.asarray(axes).reshape(-1))
    if 0 in dims:
        return None
    return "mean", {"dims": dims, "keepdim": bool(c.attr("keepdims", 1))}


def _split(c: OnnxCall) -> Result:
    dim = _axis(c)
    sizes = {o[dim - 1] for o in c.outs}
    if dim < 1 or len(sizes) != 1:
        c.why = "unequal parts"
        return None
    n = len(c.outs)
    return [("chunk", {"chunks": n, "index": i, "dim": dim}) for i in range(n)]


def _slice(c: OnnxCall) -> Result:
    """One of n equal parts along one dim (torch's chunk): chunk(n, index)."""
    bounds = [c.const(i) for i in (1, 2, 3, 4)]
    starts, ends, axes, steps = (None if b is None else [int(v) for v in b.reshape(-1)] for b in bounds)
    rank = len(c.shapes[0]) + 1
    axes = axes if c.has(3) else list(range(len(starts or [])))
    if starts is None or ends is None or axes is None or len(axes) != 1 or (c.has(4) and steps != [1]):
        c.why = "bounds that are not constant, or more than one axis"
        return None
    dim = axes[0] % rank
    size, whole = c.outs[0][dim - 1], c.shapes[0][dim - 1]
    start = starts[0] + whole if starts[0] < 0 else min(starts[0], whole)
    if dim < 1 or size == 0 or whole % size or start % size:
        c.why = "not one of equal parts"
        return None
    return "chunk", {"chunks": whole // size, "index": start // size, "dim": dim}


def _dropout(c: OnnxCall) -> Result:
    if len(c.used) > 1 and c.used[1]:
        c.why = "its mask output"
        return None
    p = _scalar(c, 1, "ratio")
    return "dropout", {"p": num(0.5 if p is None else p)}


def _layernorm(c: OnnxCall) -> Result:
    if _axis(c, default=-1) != len(c.shapes[0]):
        c.why = "normalising more than the last dim"
        return None
    return "layernorm", {"eps": num(c.attr("epsilon", 1e-5)), "elementwise_affine": c.has(1), "bias": c.has(2)}


def _softmax(c: OnnxCall) -> Result:
    return "softmax", {"dim": _axis(c, default=-1)}


def _plain(op: str, **keys: tuple[str, Any]) -> Callable[[OnnxCall], Result]:
    """An op whose args are attributes: ``negative_slope=("alpha", 0.01)``."""
    return lambda c: (op, {k: num(c.attr(a, d)) for k, (a, d) in keys.items()})


HANDLERS: dict[str, Callable[[OnnxCall], Result]] = {
    "Conv": _conv,
    "ConvTranspose": _conv,
    "Gemm": _linear,
    "MatMul": _linear,
    "BatchNormalization": _bn,
    "Relu": _plain("relu"),
    "Clip": _clip,
    "Sigmoid": _plain("sigmoid"),
    "Tanh": _plain("tanh"),
    "HardSwish": _plain("hardswish"),
    "HardSigmoid": _hardsigmoid,
    "LeakyRelu": _plain("leaky_relu", negative_slope=("alpha", 0.01)),
    "Elu": _plain("elu", alpha=("alpha", 1.0)),
    "Gelu": lambda c: ("gelu", {"approximate": str(c.attr("approximate", "none"))}),
    "Mish": _plain("mish"),
    "Softmax": _softmax,
    "PRelu": lambda c: ("prelu", {"num_parameters": int(np.prod(c.const_dims.get(1, (1,))))}),
    "MaxPool": _pool("maxpool2d"),
    "AveragePool": _pool("avgpool2d"),
    "GlobalAveragePool": lambda c: ("adaptive_avgpool2d", {"output": 1}),
    "GlobalMaxPool": lambda c: ("adaptive_maxpool2d", {"output": 1}),
    "LRN": lambda c: (
        "lrn",
        {
            "size": int(c.attr("size")),
            "alpha": num(c.attr("alpha", 1e-4)),
            "beta": num(c.attr("beta", 0.75)),
            "k": num(c.attr("bias", 1.0)),
        },
    ),
    "LayerNormalization": _layernorm,
    "InstanceNormalization": lambda c: ("instancenorm2d", {"eps": num(c.attr("epsilon", 1e-5)), "affine": True}),
    "Concat": _concat,
    "Add": _merge("add"),
    "Mul": _merge("mul"),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _reshape,
    "Unsqueeze": _reshape,
    "Transpose": _transpose,
    "Split": _split,
    "Slice": _slice,
    "Dropout": _dropout,
    "Identity": lambda c: ALIAS,
    "ReduceMean": _reduce_mean,
}
