"""One builder per op name: (validated args, resolved record, build context) -> nn.Module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archcalc.report import Record
from archcalc.torch import modules as M


@dataclass
class BuildCtx:
    env: M.Env
    switch_pools: set[str]
    referenced: set[str] = field(default_factory=set)  # outputs some later entry reads by path


Builder = Callable[[dict[str, Any], Record, BuildCtx], nn.Module]
BUILDERS: dict[str, Builder] = {}


def builder(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return deco


def _channels(rec: Record) -> int:
    return int(rec.input_shape[0])  # type: ignore[arg-type]


def _padding(p: Any) -> Any:
    return p if isinstance(p, str) else tuple(p)


@builder("conv2d")
def _conv2d(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    common = dict(
        kernel_size=a["kernel"],
        stride=a["stride"],
        padding=_padding(a["padding"]),
        dilation=a["dilation"],
        bias=a["bias"],
        padding_mode=a["padding_mode"],
    )
    if a["table"] is not None:
        return M.TableConv(a["table"], **common)
    conv = nn.Conv2d(_channels(rec), a["out"], groups=a["groups"], **common)
    if a["weights"] is not None:
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(a["weights"], dtype=conv.weight.dtype))
    conv.weight.requires_grad_(a["trainable"])
    if conv.bias is not None:
        conv.bias.requires_grad_(a["trainable"])
    return conv


@builder("compress")
def _compress(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.Conv2d(_channels(rec), int(rec.output_shape[0]), 1, bias=a["bias"])


@builder("conv_transpose2d")
def _conv_t(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    conv = nn.ConvTranspose2d(
        _channels(rec),
        a["out"],
        a["kernel"],
        stride=a["stride"],
        padding=a["padding"],
        output_padding=a["output_padding"],
        groups=a["groups"],
        bias=a["bias"],
        dilation=a["dilation"],
    )
    conv.requires_grad_(a["trainable"])
    return conv


@builder("maxpool2d")
def _maxpool(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    kw = dict(
        kernel_size=a["kernel"],
        stride=a["stride"] or a["kernel"],
        padding=a["padding"],
        dilation=a["dilation"],
        ceil_mode=a["ceil_mode"],
    )
    if rec.path in ctx.switch_pools:
        return M.SwitchPool(rec.path, ctx.env, **kw)
    return nn.MaxPool2d(**kw)


@builder("avgpool2d")
def _avgpool(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.AvgPool2d(a["kernel"], a["stride"] or a["kernel"], a["padding"], a["ceil_mode"], a["count_include_pad"])


@builder("adaptive_avgpool2d")
def _aavg(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.AdaptiveAvgPool2d(a["output"])


@builder("adaptive_maxpool2d")
def _amax(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.AdaptiveMaxPool2d(a["output"])


@builder("max_unpool2d")
def _unpool(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return M.SwitchUnpool(
        a["pool"],
        ctx.env,
        a["output_size"],
        kernel_size=a["kernel"],
        stride=a["stride"] or a["kernel"],
        padding=a["padding"],
    )


@builder("linear")
def _linear(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.Linear(int(rec.input_shape[-1]), a["out"], bias=a["bias"])  # type: ignore[arg-type]


@builder("batchnorm2d")
def _bn(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.BatchNorm2d(_channels(rec), a["eps"], a["momentum"], a["affine"], a["track_running_stats"])


@builder("lrn")
def _lrn(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"])


@builder("subsample")
def _subsample(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return M.Subsample(_channels(rec), a["kernel"], a["bias"])


@builder("rbf")
def _rbf(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return M.RBF(int(rec.input_shape[0]), a["out"])  # type: ignore[arg-type]


@builder("flatten")
def _flatten(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return nn.Flatten(a["start_dim"], a["end_dim"])


@builder("concat")
def _concat(a: dict[str, Any], rec: Record, ctx: BuildCtx) -> nn.Module:
    return M.Concat(a["dim"])


_SIMPLE: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "relu": lambda a: nn.ReLU(a["inplace"]),
    "sigmoid": lambda a: nn.Sigmoid(),
    "tanh": lambda a: nn.Tanh(),
    "scaled_tanh": lambda a: M.ScaledTanh(),
    "softmax": lambda a: nn.Softmax(a["dim"]),
    "dropout": lambda a: nn.Dropout(a["p"]),
    "identity": lambda a: nn.Identity(),
    "add": lambda a: M.Add(),
}


def _simple(make: Callable[[dict[str, Any]], nn.Module]) -> Builder:
    return lambda a, rec, ctx: make(a)


for _name, _make in _SIMPLE.items():
    BUILDERS[_name] = _simple(_make)
