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
    if op == "max_unpool2d":
        low = {"kernel": 1, "stride": 1, "padding": 0, "output_size": 1}
        for key, lo in low.items():
            if any(n < lo for n in _numbers(lo if e.get(key) is None else e[key])):
                return f"max_unpool2d {key} must be >= {lo}"
    return None


_PROBED: dict[str, str | None] = {}
_NO_PROBE = {"compress", "max_unpool2d", "concat", "add"}  # their verdict needs the real input


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
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        return str(err).splitlines()[0]
    if y.numel() == 0:
        return "a zero-size output on any input"
    return None
