"""An independent torch reference for small generated specs (used by the fuzz and regression tests).

It interprets the same entry dicts a spec holds (``{name, op, ...}``, ``{name, branches, merge}``)
straight into torch modules, layer by layer, reading each layer's input channels from the real
tensor. It never looks at archcalc's calculator, so a wrong shape rule there cannot leak in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class RefLayer:
    shape: tuple[int, ...]  # output, batch dropped
    params: int
    buffers: int
    macs: int  # FlopCounterMode FLOPs / 2 for this module alone


@dataclass
class RefRun:
    layers: dict[str, RefLayer] = field(default_factory=dict)
    blocks: dict[str, tuple[int, ...]] = field(default_factory=dict)
    error_at: str | None = None  # path of the first entry torch refused
    error: str = ""
    notes: list[str] = field(default_factory=list)  # where meta and CPU torch disagreed


def _pair(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def make_module(e: dict[str, Any], c_in: int, f_in: int) -> nn.Module:
    """One torch module for an op entry (torch defaults where the entry omits an argument)."""
    op = e["op"]
    if op == "conv2d":
        return nn.Conv2d(
            c_in,
            e["out"],
            _pair(e["kernel"]),
            stride=_pair(e.get("stride", 1)),
            padding=_pair(e.get("padding", 0)),
            dilation=_pair(e.get("dilation", 1)),
            groups=e.get("groups", 1),
            bias=e.get("bias", True),
            padding_mode=e.get("padding_mode", "zeros"),
        )
    if op == "conv_transpose2d":
        return nn.ConvTranspose2d(
            c_in,
            e["out"],
            _pair(e["kernel"]),
            stride=_pair(e.get("stride", 1)),
            padding=_pair(e.get("padding", 0)),
            output_padding=_pair(e.get("output_padding", 0)),
            groups=e.get("groups", 1),
            bias=e.get("bias", True),
            dilation=_pair(e.get("dilation", 1)),
        )
    if op == "maxpool2d":
        return nn.MaxPool2d(
            _pair(e["kernel"]),
            _pair(e.get("stride")),
            _pair(e.get("padding", 0)),
            _pair(e.get("dilation", 1)),
            ceil_mode=e.get("ceil_mode", False),
        )
    if op == "avgpool2d":
        return nn.AvgPool2d(
            _pair(e["kernel"]),
            _pair(e.get("stride")),
            _pair(e.get("padding", 0)),
            ceil_mode=e.get("ceil_mode", False),
            count_include_pad=e.get("count_include_pad", True),
        )
    if op == "adaptive_avgpool2d":
        return nn.AdaptiveAvgPool2d(_pair(e["output"]))
    if op == "adaptive_maxpool2d":
        return nn.AdaptiveMaxPool2d(_pair(e["output"]))
    if op == "batchnorm2d":
        return nn.BatchNorm2d(
            c_in, affine=e.get("affine", True), track_running_stats=e.get("track_running_stats", True)
        )
    if op == "linear":
        return nn.Linear(f_in, e["out"], bias=e.get("bias", True))
    if op == "flatten":
        return nn.Flatten()
    if op == "relu":
        return nn.ReLU()
    if op == "identity":
        return nn.Identity()
    raise ValueError(f"torchref does not know op {op!r}")


class _Refused(Exception):
    def __init__(self, path: str, msg: str) -> None:
        super().__init__(msg)
        self.path = path


def _numel(mod: nn.Module, which: str) -> int:
    if which == "params":
        return sum(p.numel() for p in mod.parameters())
    return sum(b.numel() for b in mod.buffers())


CPU_CHECK_NUMEL = 1 << 15  # inputs this small also run on the CPU kernels, whose checks are the real ones


def _call(e: dict[str, Any], x: torch.Tensor) -> tuple[nn.Module, torch.Tensor, int]:
    """The module for entry ``e``, its output, and its MACs per sample (FlopCounterMode FLOPs / 2 / N)."""
    with torch.device(x.device):
        mod = make_module(e, x.shape[1] if x.dim() > 1 else 0, x.shape[-1])
    mod.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = mod(x)
    return mod, y, fc.get_total_flops() // (2 * x.shape[0])


def _meta_gaps(run: RefRun, e: dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> None:
    """Checks the CPU kernels make and the meta kernels skip (torch 2.13), for inputs too big to run on CPU.

    A zero-size output is refused here even where a torch kernel lets it through: archcalc refuses it.

    * meta's convolution only refuses an output with *every* spatial size < 1; CPU refuses any size < 1.
    * meta's conv_transpose2d skips 'output padding must be smaller than either stride or dilation';
      that predicate does not depend on the input size, so a small CPU probe asks the real kernel.
    """
    if any(d < 1 for d in y.shape[2:]):
        run.notes.append("meta accepted a zero-size output")
        raise RuntimeError(f"Calculated output size per channel: {tuple(y.shape[2:])}. Output size is too small")
    if e["op"] == "conv_transpose2d":
        pad = max(_pair2(e.get("padding", 0)))
        side = max(8, 2 * pad + 2)
        try:
            _call(e, torch.zeros((1, x.shape[1], side, side)))
        except RuntimeError as err:
            if "output padding" in str(err):
                run.notes.append("meta skipped the output_padding check")
                raise


def _pair2(v: Any) -> tuple[int, int]:
    return (v[0], v[1]) if isinstance(v, list) else (v, v)


def _layer(run: RefRun, e: dict[str, Any], path: str, x: torch.Tensor) -> torch.Tensor:
    try:
        mod, y, macs = _call(e, x)
        if x.numel() <= CPU_CHECK_NUMEL:
            try:
                _call(e, torch.zeros(x.shape))
            except (RuntimeError, ValueError):
                run.notes.append("meta accepted what the CPU kernel refused")
                raise
        _meta_gaps(run, e, x, y)
    except (RuntimeError, ValueError) as err:
        raise _Refused(path, str(err)) from None
    params, buffers = _numel(mod, "params"), _numel(mod, "buffers")
    run.layers[path] = RefLayer(tuple(y.shape[1:]), params, buffers, macs)
    return y


def _seq(run: RefRun, entries: list[dict[str, Any]], prefix: str, x: torch.Tensor) -> torch.Tensor:
    for i, e in enumerate(entries):
        name = str(e.get("name", i))
        path = f"{prefix}.{name}" if prefix else name
        if "branches" in e:
            outs = [_seq(run, items or [], f"{path}.{b}", x) for b, items in e["branches"].items()]
            try:
                if e["merge"] == "concat":
                    x = torch.cat(outs, 1)
                else:
                    x = outs[0]
                    for o in outs[1:]:
                        x = x + o
            except RuntimeError as err:
                raise _Refused(path, str(err)) from None
            run.blocks[path] = tuple(x.shape[1:])
        elif "layers" in e:
            x = _seq(run, e["layers"], path, x)
            run.blocks[path] = tuple(x.shape[1:])
        else:
            x = _layer(run, e, path, x)
    return x


BATCH = 2  # batch norm without running stats refuses N*H*W == 1; archcalc counts per sample, any batch


def reference(input_shape: list[int], layers: list[dict[str, Any]], device: str = "meta") -> RefRun:
    """Run the entries through torch; stop at the first entry torch refuses and say which."""
    run = RefRun()
    try:
        _seq(run, layers, "", torch.zeros((BATCH, *input_shape), device=device))
    except _Refused as err:
        run.error_at, run.error = err.path, str(err)
    return run
