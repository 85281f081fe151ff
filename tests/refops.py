"""The torch reference's ops (tests/torchref.py): one torch module per op entry, and what torch refuses.

Torch's own modules where torch has the op; small modules of our own for the ops the spec language adds
(LeNet's subsample, scaled tanh and RBF output, DenseNet's compress), written from their published
definitions. Nothing here imports archcalc.

Three kinds of refusal, each with its own checker:

* ``language_refusal``: the spec language's own domain, where it is stricter than torch on purpose (the
  same in any spec, so found before anything runs): sizes are whole numbers up to 2**31 - 1, numbers are
  finite, dilations are >= 1 (torch's 1x1 transposed convolution takes 0), paddings are >= 0 (torch crops with a negative one in conv2d's non-zero padding modes), concat
  dims count from 1 (dim 0 is the batch), compress ratios lie in (0, 1], and an unpool's kernel and stride
  are >= 1, its padding >= 0 and its output_size >= 1 (torch takes a 0 stride there).
* ``static_refusal``: torch refuses the entry's arguments on every input. Asked of torch itself, on the
  CPU, with a probe input generous enough that only the arguments can fail (a rank-4 tensor, channels a
  multiple of the groups, a plane wider than any window or padding). archcalc may refuse such an entry
  before it runs the layers (argument types are checked while expanding), so it may name any of them.
* everything else is found by running the layers in order (tests/torchref.py).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MAX_SIZE = 2**31 - 1  # the language's cap on every whole number
PAIR_ARGS = ("kernel", "stride", "padding", "dilation", "output_padding")
PROBE_MAX = 64  # the CPU probe runs entries whose whole numbers are this small (out-of-range draws are)


def pair(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


class Subsample(nn.Module):
    """LeNet-5's S-layer: coefficient * (sum of a k x k block) + bias, one of each per map."""

    def __init__(self, channels: int, kernel: int, bias: bool) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(x, self.kernel) * (self.kernel**2) * self.weight.view(1, -1, 1, 1)
        return y + self.bias.view(1, -1, 1, 1) if self.bias is not None else y


class RBF(nn.Module):
    """LeNet-5's output: y_i = sum_j (x_j - w_ij)^2, fixed prototypes held as a buffer."""

    w: torch.Tensor

    def __init__(self, features: int, out: int) -> None:
        super().__init__()
        self.register_buffer("w", torch.zeros(out, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"rbf reads a flat input, got {tuple(x.shape[1:])}")
        return ((x.unsqueeze(1) - self.w) ** 2).sum(-1)


class ScaledTanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2 / 3))


class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d (ConvNeXt), from its definition: layer norm over the channels, channels-last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class Call(nn.Module):
    """A tensor function with fixed arguments (permute, chunk), as a module without parameters."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)  # type: ignore[no-any-return]


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth at inference: it checks p and mode on every call, then returns x."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {self.p}")
        if self.mode not in ("batch", "row"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {self.mode}")
        return x


# FlopCounterMode counts no pooling or elementwise arithmetic: these ops' MACs by their papers' count
def own_macs(e: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> int:
    if e["op"] == "subsample":
        return y[0].numel()  # one multiply (the coefficient) per output unit
    if e["op"] == "rbf":
        return x.shape[-1] * y.shape[-1]  # one squared difference per input per prototype
    return 0


def make_module(e: dict[str, Any], c_in: int, f_in: int) -> nn.Module:
    """One torch module for an op entry (torch defaults where the entry omits an argument)."""
    op = e["op"]
    if op == "conv2d":
        return nn.Conv2d(
            c_in,
            e["out"],
            pair(e["kernel"]),
            stride=pair(e.get("stride", 1)),
            padding=pair(e.get("padding", 0)),
            dilation=pair(e.get("dilation", 1)),
            groups=e.get("groups", 1),
            bias=e.get("bias", True),
            padding_mode=e.get("padding_mode", "zeros"),
        )
    if op == "conv_transpose2d":
        return nn.ConvTranspose2d(
            c_in,
            e["out"],
            pair(e["kernel"]),
            stride=pair(e.get("stride", 1)),
            padding=pair(e.get("padding", 0)),
            output_padding=pair(e.get("output_padding", 0)),
            groups=e.get("groups", 1),
            bias=e.get("bias", True),
            dilation=pair(e.get("dilation", 1)),
        )
    if op == "compress":  # floor(theta * C) maps, theta the exact decimal written
        return nn.Conv2d(c_in, math.floor(Fraction(str(e["ratio"])) * c_in), 1, bias=e.get("bias", False))
    pool = _make_pool(e)
    return pool if pool is not None else _make_simple(e, c_in, f_in)


def _make_pool(e: dict[str, Any]) -> nn.Module | None:
    op = e["op"]
    if op == "maxpool2d":
        return nn.MaxPool2d(
            pair(e["kernel"]),
            pair(e.get("stride")),
            pair(e.get("padding", 0)),
            pair(e.get("dilation", 1)),
            ceil_mode=e.get("ceil_mode", False),
        )
    if op == "avgpool2d":
        return nn.AvgPool2d(
            pair(e["kernel"]),
            pair(e.get("stride")),
            pair(e.get("padding", 0)),
            ceil_mode=e.get("ceil_mode", False),
            count_include_pad=e.get("count_include_pad", True),
        )
    if op in ("adaptive_avgpool2d", "adaptive_maxpool2d"):
        kind = nn.AdaptiveAvgPool2d if op == "adaptive_avgpool2d" else nn.AdaptiveMaxPool2d
        return kind(pair(e["output"]))
    return None


def _make_simple(e: dict[str, Any], c_in: int, f_in: int) -> nn.Module:
    op = e["op"]
    if op == "batchnorm2d":
        return nn.BatchNorm2d(
            c_in,
            eps=e.get("eps", 1e-5),
            momentum=e.get("momentum", 0.1),
            affine=e.get("affine", True),
            track_running_stats=e.get("track_running_stats", True),
        )
    if op == "linear":
        return nn.Linear(f_in, e["out"], bias=e.get("bias", True))
    if op == "lrn":
        return nn.LocalResponseNorm(e["size"], e.get("alpha", 1e-4), e.get("beta", 0.75), e.get("k", 1.0))
    if op == "softmax":
        return nn.Softmax(e.get("dim", 1))
    if op == "dropout":
        return nn.Dropout(e.get("p", 0.5))
    if op == "flatten":
        return nn.Flatten(e.get("start_dim", 1), e.get("end_dim", -1))
    if op == "relu":
        return nn.ReLU(e.get("inplace", False))
    if op == "subsample":
        return Subsample(c_in, e.get("kernel", 2), e.get("bias", True))
    if op == "rbf":
        return RBF(f_in, e["out"])
    simple: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}
    simple["scaled_tanh"] = ScaledTanh
    if op in simple:
        return simple[op]()
    mod = _make_norm(e, c_in, f_in)
    return mod if mod is not None else _make_modern(e)


_INPLACE = {"relu6": nn.ReLU6, "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "silu": nn.SiLU}
_INPLACE["mish"] = nn.Mish


def _make_norm(e: dict[str, Any], c_in: int, f_in: int) -> nn.Module | None:
    op, eps = e["op"], e.get("eps", 1e-5)
    if op in ("layernorm", "layernorm2d"):
        cls = nn.LayerNorm if op == "layernorm" else LayerNorm2d
        return cls(f_in if op == "layernorm" else c_in, eps, e.get("elementwise_affine", True), e.get("bias", True))
    if op == "groupnorm":
        return nn.GroupNorm(e["groups"], c_in, eps, e.get("affine", True))
    if op == "instancenorm2d":
        stats = e.get("track_running_stats", False)
        return nn.InstanceNorm2d(c_in, eps, e.get("momentum", 0.1), e.get("affine", False), stats)
    return None


def _make_modern(e: dict[str, Any]) -> nn.Module:
    """Issue 10's activations and layout ops: torch's modules, or the torch function with fixed arguments."""
    op = e["op"]
    if op in _INPLACE:
        return _INPLACE[op](e.get("inplace", False))
    if op == "leaky_relu":
        return nn.LeakyReLU(e.get("negative_slope", 0.01), e.get("inplace", False))
    if op == "elu":
        return nn.ELU(e.get("alpha", 1.0), e.get("inplace", False))
    if op == "gelu":
        return nn.GELU(e.get("approximate", "none"))
    if op == "prelu":
        return nn.PReLU(e.get("num_parameters", 1), e.get("init", 0.25))
    if op == "permute":
        return Call(lambda x: torch.permute(x, e["dims"]))
    if op == "chunk":
        return Call(lambda x: torch.chunk(x, e["chunks"], e.get("dim", 1))[e["index"]])
    if op == "channel_shuffle":
        return nn.ChannelShuffle(e["groups"])
    if op == "stochastic_depth":
        return StochasticDepth(e["p"], e.get("mode", "row"))
    raise ValueError(f"torchref does not know op {op!r}")


# ---------------------------------------------------------------- refusals found before running


def _numbers(v: Any) -> list[Any]:
    return [y for x in v for y in _numbers(x)] if isinstance(v, list) else [v]


def _negative(v: Any) -> bool:
    return any(isinstance(n, int) and n < 0 for n in _numbers(v))


def language_refusal(e: dict[str, Any]) -> str | None:
    """Where the spec language is stricter than torch on purpose (see the module docstring)."""
    for key, v in e.items():
        for n in _numbers(v):
            if isinstance(n, int) and not isinstance(n, bool) and n > MAX_SIZE:
                return f"{key}: {n} is over the language's cap {MAX_SIZE}"
            if isinstance(n, float) and not math.isfinite(n):
                return f"{key}: numbers are finite"
    op = e["op"]
    if any(isinstance(n, int) and n < 1 for n in _numbers(e.get("dilation", 1))):
        return "dilation is >= 1 (torch skips that check for some 1x1 kernels)"
    if op == "conv2d" and e.get("padding_mode", "zeros") != "zeros" and _negative(e.get("padding", 0)):
        return "paddings are >= 0 (torch's non-zero padding modes crop with a negative one)"
    if op == "concat" and e.get("dim", 1) < 1:
        return "concat dims count from 1 (dim 0 is the batch)"
    if op == "compress" and not 0 < e["ratio"] <= 1:
        return "compress ratio lies in (0, 1]"
    # ranges of the ops whose verdict the probe cannot give (_NO_PROBE): torch refuses them too, but only when the
    # layer runs, and archcalc while it expands the spec
    low = {"chunk": {"chunks": 1, "index": 0}, "channel_shuffle": {"groups": 1}, "prelu": {"num_parameters": 1}}
    for key, lo in low.get(op, {}).items():
        if key in e and e[key] < lo:
            return f"{op} {key} must be >= {lo}"
    if op == "max_unpool2d":
        low = {"kernel": 1, "stride": 1, "padding": 0, "output_size": 1}
        for key, lo in low.items():
            if any(n < lo for n in _numbers(lo if e.get(key) is None else e[key])):
                return f"max_unpool2d {key} must be >= {lo}"
    return None


_PROBED: dict[str, str | None] = {}
_NO_PROBE = {"compress", "max_unpool2d", "concat", "add"}  # their verdict needs the real input
_NO_PROBE |= {"permute", "chunk", "channel_shuffle", "prelu"}  # the input's rank, channels or length decide


def static_refusal(e: dict[str, Any]) -> str | None:
    """torch's refusal of this entry on a generous CPU input (so: on every input), or None; memoised."""
    key = repr(sorted(e.items()))
    if key not in _PROBED:
        _PROBED[key] = _probe(e)
    return _PROBED[key]


def _probe(e: dict[str, Any]) -> str | None:
    ints = [n for v in e.values() for n in _numbers(v) if isinstance(n, int) and not isinstance(n, bool)]
    if e["op"] in _NO_PROBE or any(abs(n) > PROBE_MAX for n in ints):
        return None  # a huge size is in range: what torch says of it depends on the input
    side = 8 + 2 * sum(abs(n) for k in PAIR_ARGS if k in e for n in _numbers(e[k]) if isinstance(n, int))
    groups = e.get("groups", 1)
    c = groups if groups >= 1 else 1
    x = torch.zeros((2, 8 * c, side, side) if e["op"] != "rbf" and e["op"] != "linear" else (2, 8))
    try:
        mod = make_module(e, x.shape[1], x.shape[-1])
        mod.eval()
        with torch.no_grad():
            y = mod(x)
    except (RuntimeError, ValueError, TypeError, IndexError, ZeroDivisionError) as err:  # GroupNorm(0, C): C % 0
        return str(err).splitlines()[0]
    if y.numel() == 0:
        return "a zero-size output on any input"
    return None
