"""Measure a built model with torch itself: per-path output shapes (forward hooks) and numel."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from archcalc.analysis.report import Report


@dataclass
class Measured:
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # path -> output shape, batch dropped
    params: dict[str, int] = field(default_factory=dict)  # path -> parameter numel (recursive)
    trainable: dict[str, int] = field(default_factory=dict)
    buffers: dict[str, int] = field(default_factory=dict)  # path -> buffer numel (recursive)
    total_params: int = 0
    total_trainable: int = 0


def measure(model: nn.Module, report: Report, device: str = "meta", batch: int = 1) -> Measured:
    """Run one forward pass (meta device by default: no memory, exact shapes) with hooks on every record."""
    out = Measured()
    hooks = []
    for rec in report.records:
        if rec.flat:  # a logical scope only: its layers are its parent's submodules
            continue
        bare = _owner(model, rec.path)
        if isinstance(bare, nn.Parameter):  # layer_scale: no module, so no hook
            out.params[rec.path] = out.trainable[rec.path] = bare.numel()
            out.buffers[rec.path] = 0
            continue
        mod = model.get_submodule(rec.path)
        out.params[rec.path] = sum(p.numel() for p in mod.parameters())
        out.trainable[rec.path] = sum(p.numel() for p in mod.parameters() if p.requires_grad)
        out.buffers[rec.path] = sum(b.numel() for b in mod.buffers() if _persistent(mod, b))

        def hook(m: nn.Module, args: object, result: torch.Tensor, path: str = rec.path) -> None:
            out.shapes[path] = tuple(result.shape[1:])

        hooks.append(mod.register_forward_hook(hook))
    out.total_params = sum(p.numel() for p in model.parameters())
    out.total_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    try:
        model = model.to(device).eval()
        with torch.no_grad():
            model(torch.zeros((batch, *report.input), device=device))
    finally:
        for h in hooks:
            h.remove()
    return out


def _owner(model: nn.Module, path: str) -> nn.Module | nn.Parameter:
    head, _, name = path.rpartition(".")
    found = getattr(model.get_submodule(head), name)
    return found  # type: ignore[no-any-return]


def _persistent(mod: nn.Module, buf: torch.Tensor) -> bool:
    """Buffers saved in the state_dict (index helpers registered persistent=False are not counted)."""
    for m in mod.modules():
        for name, b in m.named_buffers(recurse=False):
            if b is buf:
                return name not in m._non_persistent_buffers_set
    return True
