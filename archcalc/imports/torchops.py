"""torch modules and functional calls -> archcalc ops (name and args as a spec writes them).

A handler gets a ``Call`` (the module or the bound arguments, and the captured per-sample shapes) and returns
``(op, args)``, ``ALIAS`` (the value passes through: ``contiguous``, a no-op reshape), or None (unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

ALIAS: tuple[str, dict[str, Any]] = ("", {})  # the call returns its (first) input: no layer
Shape = tuple[int, ...]
Result = tuple[str, dict[str, Any]] | None


@dataclass
class Call:
    """One call: ``module`` for a module, else ``args``/``kwargs`` as fx recorded them (tensors replaced by
    their ``Val``); ``shapes`` the tensor inputs' per-sample shapes; ``out`` the output's."""

    module: Any = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    shapes: list[Shape] = field(default_factory=list)
    out: Shape = ()
    name: str = ""

    def arg(self, i: int, key: str, default: Any = None) -> Any:
        if key in self.kwargs:
            return self.kwargs[key]
        return self.args[i] if i < len(self.args) else default


def pair(v: Any) -> Any:
    """An int for a square window, [h, w] otherwise; text ('same') as is."""
    if isinstance(v, (tuple, list)):
        return int(v[0]) if len(v) == 2 and v[0] == v[1] else [int(d) for d in v]
    return v


def _conv(m: nn.Conv2d) -> Result:
    return "conv2d", _conv_args(m)


def _conv_args(m: Any) -> dict[str, Any]:
    return {
        "out": m.out_channels,
        "kernel": pair(m.kernel_size),
        "stride": pair(m.stride),
        "padding": pair(m.padding),
        "dilation": pair(m.dilation),
        "groups": m.groups,
        "bias": m.bias is not None,
        **({"padding_mode": m.padding_mode} if m.padding_mode != "zeros" else {}),
    }


def _convt(m: nn.ConvTranspose2d) -> Result:
    if m.padding_mode != "zeros":
        return None
    a = {k: v for k, v in _conv_args(m).items() if k != "padding_mode"}
    return "conv_transpose2d", {**a, "output_padding": pair(m.output_padding)}


def _pool(m: nn.MaxPool2d | nn.AvgPool2d) -> Result:
    if type(m).__name__ == "MaxPool2d":
        if m.return_indices:
            return None
        extra: dict[str, Any] = {"dilation": pair(m.dilation)}
        op = "maxpool2d"
    else:
        if m.divisor_override is not None:
            return None
        extra, op = {"count_include_pad": m.count_include_pad}, "avgpool2d"
    return op, {"kernel": pair(m.kernel_size), "stride": pair(m.stride), "padding": pair(m.padding),
                "ceil_mode": m.ceil_mode, **extra}  # fmt: skip


def _bn(m: nn.BatchNorm2d) -> Result:
    if m.momentum is None:
        return None
    return "batchnorm2d", {"eps": m.eps, "momentum": m.momentum, "affine": m.affine,
                           "track_running_stats": m.track_running_stats}  # fmt: skip


def _ln(m: nn.LayerNorm, op: str = "layernorm") -> Result:
    if len(m.normalized_shape) != 1:
        return None
    return op, {"eps": m.eps, "elementwise_affine": m.elementwise_affine,
                "bias": getattr(m, "bias", None) is not None or not m.elementwise_affine}  # fmt: skip


def _adaptive(op: str) -> Callable[[Any], Result]:
    return lambda m: (op, {"output": pair(m.output_size)})


def _plain(op: str, *keys: str) -> Callable[[Any], Result]:
    return lambda m: (op, {k: getattr(m, k) for k in keys})


MODULES: dict[tuple[str, str], Callable[[Any], Result]] = {
    ("torch.nn.modules.conv", "Conv2d"): _conv,
    ("torch.nn.modules.conv", "ConvTranspose2d"): _convt,
    ("torch.nn.modules.linear", "Linear"): lambda m: ("linear", {"out": m.out_features, "bias": m.bias is not None}),
    ("torch.nn.modules.batchnorm", "BatchNorm2d"): _bn,
    ("torch.nn.modules.normalization", "LayerNorm"): _ln,
    ("archcalc.torch.modern", "LayerNorm2d"): lambda m: _ln(m, "layernorm2d"),
    ("torch.nn.modules.normalization", "GroupNorm"): lambda m: (
        "groupnorm",
        {"groups": m.num_groups, "eps": m.eps, "affine": m.affine},
    ),
    ("torch.nn.modules.instancenorm", "InstanceNorm2d"): lambda m: (
        "instancenorm2d",
        {"eps": m.eps, "momentum": m.momentum, "affine": m.affine, "track_running_stats": m.track_running_stats},
    ),
    ("torch.nn.modules.normalization", "LocalResponseNorm"): lambda m: (
        "lrn",
        {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k},
    ),
    ("torch.nn.modules.pooling", "MaxPool2d"): _pool,
    ("torch.nn.modules.pooling", "AvgPool2d"): _pool,
    ("torch.nn.modules.pooling", "AdaptiveAvgPool2d"): _adaptive("adaptive_avgpool2d"),
    ("torch.nn.modules.pooling", "AdaptiveMaxPool2d"): lambda m: (
        None if m.return_indices else ("adaptive_maxpool2d", {"output": pair(m.output_size)})
    ),
    ("torch.nn.modules.activation", "ReLU"): _plain("relu", "inplace"),
    ("torch.nn.modules.activation", "ReLU6"): _plain("relu6", "inplace"),
    ("torch.nn.modules.activation", "Hardswish"): _plain("hardswish", "inplace"),
    ("torch.nn.modules.activation", "Hardsigmoid"): _plain("hardsigmoid", "inplace"),
    ("torch.nn.modules.activation", "SiLU"): _plain("silu", "inplace"),
    ("torch.nn.modules.activation", "Mish"): _plain("mish", "inplace"),
    ("torch.nn.modules.activation", "Sigmoid"): _plain("sigmoid"),
    ("torch.nn.modules.activation", "Tanh"): _plain("tanh"),
    ("torch.nn.modules.activation", "GELU"): _plain("gelu", "approximate"),
    ("torch.nn.modules.activation", "LeakyReLU"): _plain("leaky_relu", "negative_slope", "inplace"),
    ("torch.nn.modules.activation", "ELU"): _plain("elu", "alpha", "inplace"),
    ("torch.nn.modules.activation", "PReLU"): lambda m: ("prelu", {"num_parameters": m.num_parameters}),
    ("torch.nn.modules.activation", "Softmax"): lambda m: None if m.dim is None else ("softmax", {"dim": m.dim}),
    ("torch.nn.modules.dropout", "Dropout"): _plain("dropout", "p", "inplace"),
    ("torch.nn.modules.linear", "Identity"): _plain("identity"),
    ("torch.nn.modules.flatten", "Flatten"): _plain("flatten", "start_dim", "end_dim"),
    ("torch.nn.modules.channelshuffle", "ChannelShuffle"): _plain("channel_shuffle", "groups"),
    ("archcalc.torch.modules", "Concat"): lambda m: ("concat", {"dim": m.dim}),
    ("archcalc.torch.modules", "Add"): _plain("add"),
    ("archcalc.torch.modules", "Mul"): _plain("mul"),
    ("archcalc.torch.modules", "Mean"): lambda m: ("mean", {"dims": list(m.dims), "keepdim": m.keepdim}),
    ("archcalc.torch.modules", "ScaledTanh"): _plain("scaled_tanh"),
    ("archcalc.torch.modules", "Subsample"): lambda m: ("subsample", {"kernel": m.kernel, "bias": m.bias is not None}),
    ("archcalc.torch.modules", "RBF"): lambda m: ("rbf", {"out": m.prototypes.shape[0]}),
    ("archcalc.torch.modules", "TableConv"): lambda m: (
        "conv2d",
        {
            **_conv_args(m.maps[0]),
            "out": len(m.table),
            "table": [list(r) for r in m.table],
        },
    ),
    ("archcalc.torch.modern", "Permute"): lambda m: ("permute", {"dims": list(m.dims)}),
    ("archcalc.torch.modern", "Chunk"): lambda m: ("chunk", {"chunks": m.chunks, "index": m.index, "dim": m.dim}),
    ("archcalc.torch.modern", "StochasticDepth"): lambda m: ("stochastic_depth", {"p": m.p, "mode": m.mode}),
}
# torchvision's classes, matched by name (archcalc never imports torchvision): module -> class -> handler
MODULES |= {
    ("torchvision.ops.stochastic_depth", "StochasticDepth"): MODULES[("archcalc.torch.modern", "StochasticDepth")],
    ("torchvision.ops.misc", "Permute"): MODULES[("archcalc.torch.modern", "Permute")],
    ("torchvision.models.convnext", "LayerNorm2d"): MODULES[("archcalc.torch.modern", "LayerNorm2d")],
}


def module_handler(m: nn.Module) -> Callable[[Any], Result] | None:
    """By the exact class (its module and name), so that no table needs torch imported."""
    return MODULES.get((type(m).__module__, type(m).__qualname__))


# ---- functional calls and tensor methods: handler(call) -> Result


def _act(op: str, *extra: tuple[int, str, Any]) -> Callable[[Call], Result]:
    def handle(c: Call) -> Result:
        args = {key: c.arg(i, key, d) for i, key, d in extra}
        if c.name.endswith("_") or c.arg(99, "inplace", False):
            args["inplace"] = True
        return op, args

    return handle


def _merge(op: str) -> Callable[[Call], Result]:
    def handle(c: Call) -> Result:
        if len(c.shapes) != 2 or any(not _is_tensor(a) for a in c.args[:2]):
            return None  # a scalar, a parameter or an alpha: not an archcalc merge
        if c.kwargs.get("alpha", 1) != 1:
            return None
        return op, {}

    return handle


def _is_tensor(v: Any) -> bool:
    return getattr(v, "kind", "") == "t"


def _dims(v: Any) -> list[int]:
    return [int(d) for d in v] if isinstance(v, (list, tuple)) else [int(v)]


def _flatten_like(c: Call) -> Result:
    """view / reshape / flatten: a flatten when the output merges a run of the input's dims."""
    x, y = c.shapes[0], c.out
    if x == y:
        return ALIAS
    for s in range(len(x)):
        for e in range(s + 1, len(x)):
            size = 1
            for d in x[s : e + 1]:
                size *= d
            if (*x[:s], size, *x[e + 1 :]) == y:
                return "flatten", {"start_dim": s + 1, "end_dim": -1 if e == len(x) - 1 else e + 1}
    return None


def _mean(c: Call) -> Result:
    dim = c.arg(1, "dim")
    if dim is None or c.arg(3, "dtype") is not None:
        return None
    return "mean", {"dims": _dims(dim), "keepdim": bool(c.arg(2, "keepdim", False))}


def _cat(c: Call) -> Result:
    if len(c.shapes) == 1:  # torch.cat of one tensor (DenseNet's first layer): a copy of it
        return ALIAS
    dim = int(c.arg(1, "dim", 0))
    rank = len(c.out) + 1
    dim = dim + rank if dim < 0 else dim
    return ("concat", {"dim": dim}) if dim >= 1 else None


def _permute(c: Call) -> Result:
    dims = c.args[1:] if len(c.args) > 2 or not isinstance(c.arg(1, "dims"), (list, tuple)) else c.arg(1, "dims")
    return "permute", {"dims": _dims(dims)}


def _transpose(c: Call) -> Result:
    rank = len(c.shapes[0]) + 1
    a, b = (int(d) % rank for d in (c.arg(1, "dim0"), c.arg(2, "dim1")))
    dims = list(range(rank))
    dims[a], dims[b] = dims[b], dims[a]
    return "permute", {"dims": dims}


def _pool_fn(op: str) -> Callable[[Call], Result]:
    def handle(c: Call) -> Result:
        k = c.arg(1, "kernel_size")
        stride = c.arg(2, "stride") or k
        a = {"kernel": pair(k), "stride": pair(stride), "padding": pair(c.arg(3, "padding", 0))}
        if op == "maxpool2d":
            if c.arg(6, "return_indices", False):
                return None
            a |= {"dilation": pair(c.arg(4, "dilation", 1)), "ceil_mode": bool(c.arg(5, "ceil_mode", False))}
        else:
            if c.arg(6, "divisor_override") is not None:
                return None
            a |= {
                "ceil_mode": bool(c.arg(4, "ceil_mode", False)),
                "count_include_pad": c.arg(5, "count_include_pad", True),
            }
        return op, a

    return handle


def _shuffle(c: Call) -> Result:
    return "channel_shuffle", {"groups": int(c.arg(1, "groups"))}


def _dropout(c: Call) -> Result:
    return "dropout", {"p": float(c.arg(1, "p", 0.5))}


def _softmax(c: Call) -> Result:
    dim = c.arg(1, "dim")
    return None if dim is None or c.arg(3, "dtype") is not None else ("softmax", {"dim": int(dim)})


FUNCTIONS: dict[str, Callable[[Call], Result]] = {
    "relu": _act("relu"),
    "relu6": _act("relu6"),
    "hardswish": _act("hardswish"),
    "hardsigmoid": _act("hardsigmoid"),
    "silu": _act("silu"),
    "mish": _act("mish"),
    "sigmoid": _act("sigmoid"),
    "tanh": _act("tanh"),
    "gelu": _act("gelu", (1, "approximate", "none")),
    "leaky_relu": _act("leaky_relu", (1, "negative_slope", 0.01)),
    "elu": _act("elu", (1, "alpha", 1.0)),
    "softmax": _softmax,
    "dropout": _dropout,
    "add": _merge("add"),
    "mul": _merge("mul"),
    "cat": _cat,
    "concat": _cat,
    "flatten": _flatten_like,
    "view": _flatten_like,
    "reshape": _flatten_like,
    "mean": _mean,
    "permute": _permute,
    "transpose": _transpose,
    "adaptive_avg_pool2d": lambda c: ("adaptive_avgpool2d", {"output": pair(c.arg(1, "output_size"))}),
    "adaptive_max_pool2d": lambda c: (
        None if c.arg(2, "return_indices", False) else ("adaptive_maxpool2d", {"output": pair(c.arg(1, "output_size"))})
    ),
    "max_pool2d": _pool_fn("maxpool2d"),
    "avg_pool2d": _pool_fn("avgpool2d"),
    "channel_shuffle": _shuffle,
    "native_channel_shuffle": _shuffle,
    "contiguous": lambda c: ALIAS,
    "clone": lambda c: ALIAS,
}


@cache
def callable_names() -> dict[int, str]:
    """The callables fx records as call_function targets, by the names above (in-place forms end in '_')."""
    import operator

    import torch
    import torch.nn.functional as F

    pairs: list[tuple[Any, str]] = [
        (F.relu, "relu"), (torch.relu, "relu"), (F.relu_, "relu_"), (torch.relu_, "relu_"), (F.relu6, "relu6"),
        (F.hardswish, "hardswish"), (F.hardsigmoid, "hardsigmoid"), (F.silu, "silu"), (F.mish, "mish"),
        (torch.sigmoid, "sigmoid"), (F.sigmoid, "sigmoid"), (torch.tanh, "tanh"), (F.tanh, "tanh"),
        (F.gelu, "gelu"), (F.leaky_relu, "leaky_relu"), (F.elu, "elu"), (F.softmax, "softmax"),
        (torch.softmax, "softmax"), (F.dropout, "dropout"), (operator.add, "add"), (operator.iadd, "add_"),
        (torch.add, "add"), (operator.mul, "mul"), (operator.imul, "mul_"), (torch.mul, "mul"),
        (torch.cat, "cat"), (torch.concat, "cat"), (torch.flatten, "flatten"), (torch.reshape, "reshape"),
        (torch.mean, "mean"), (torch.permute, "permute"), (torch.transpose, "transpose"),
        (F.adaptive_avg_pool2d, "adaptive_avg_pool2d"), (F.adaptive_max_pool2d, "adaptive_max_pool2d"),
        (F.max_pool2d, "max_pool2d"), (F.avg_pool2d, "avg_pool2d"), (F.channel_shuffle, "channel_shuffle"),
        (torch.channel_shuffle, "channel_shuffle"),
    ]  # fmt: skip
    return {id(f): name for f, name in pairs}


def function_handler(name: str) -> Callable[[Call], Result] | None:
    return FUNCTIONS.get(name) or FUNCTIONS.get(name.rstrip("_"))
