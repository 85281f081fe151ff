"""Measure a built model with torch itself: per-path output shapes (forward hooks) and numel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    sites = call_sites(report)
    calls: dict[str, list[str]] = {}
    for path, (owner, _) in sites.items():
        calls.setdefault(owner, []).append(path)  # the paths a module's calls stand for, in call order
    for rec in report.records:
        if rec.flat:  # a logical scope only: its layers are its parent's submodules
            continue
        owner, call = sites[rec.path]
        own = call == 0  # a later call of a shared module ('shares') holds no weights of its own
        mod = _owner(model, owner)
        if isinstance(mod, nn.Parameter):  # layer_scale: no module, so no hook
            out.params[rec.path] = out.trainable[rec.path] = mod.numel() if own else 0
            out.buffers[rec.path] = 0
            continue
        out.params[rec.path] = sum(p.numel() for p in mod.parameters()) if own else 0
        out.trainable[rec.path] = sum(p.numel() for p in mod.parameters() if p.requires_grad) if own else 0
        out.buffers[rec.path] = sum(b.numel() for b in mod.buffers() if _persistent(mod, b)) if own else 0
        if own:
            hooks.append(mod.register_forward_hook(_hook(out.shapes, calls[owner])))
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


def call_sites(report: Report) -> dict[str, tuple[str, int]]:
    """Per record path: the module that computes it and which call of that module it is (0 but for a layer
    that reuses another's weights: its owner's module, called again)."""
    sites: dict[str, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    for rec in report.records:
        owner = rec.shares or rec.path
        sites[rec.path] = (owner, seen.get(owner, 0))
        seen[owner] = seen.get(owner, 0) + 1
    return sites


def _hook(shapes: dict[str, tuple[int, ...]], paths: list[str]) -> Any:
    """A forward hook storing each call's output shape under the next of ``paths``."""
    count = [0]

    def hook(m: nn.Module, args: object, result: torch.Tensor) -> None:
        if count[0] < len(paths):
            shapes[paths[count[0]]] = tuple(result.shape[1:])
        count[0] += 1

    return hook


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
