"""Modules torch lacks (LeNet-5's layers) and the graph containers that run a spec."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Env:
    """Outputs by path during one forward pass, shared by every container of a model."""

    values: dict[str, Tensor] = field(default_factory=dict)
    switches: dict[str, Tensor] = field(default_factory=dict)
    sides: list[Tensor] = field(default_factory=list)

    def clear(self) -> None:
        self.values.clear()
        self.switches.clear()
        self.sides.clear()


@dataclass(frozen=True)
class Step:
    name: str
    path: str
    sources: tuple[str, ...]
    side: bool
    keep: bool = True  # a later entry reads this output by path; others are freed as soon as possible


class Seq(nn.Module):
    """A sequence whose entries may read earlier outputs by path (``from``)."""

    def __init__(
        self, path: str, env: Env, steps: list[Step], children: list[nn.Module], dense: bool, keep_input: bool = True
    ) -> None:
        super().__init__()
        self.path, self.env, self.steps, self.dense, self.keep_input = path, env, steps, dense, keep_input
        for step, child in zip(steps, children, strict=True):
            self.add_module(step.name, child)

    def forward(self, x: Tensor) -> Tensor:
        values = self.env.values
        if self.keep_input:
            values[f"{self.path}@in"] = x
        if self.dense:
            feats = [x]
            for step in self.steps:
                out = self._modules[step.name](torch.cat(feats, 1))  # type: ignore[misc]
                if step.keep:
                    values[step.path] = out
                feats.append(out)
            return torch.cat(feats, 1)
        prev = x
        for step in self.steps:
            inputs = [values[s] for s in step.sources] if step.sources else [prev]
            out = self._modules[step.name](*inputs)  # type: ignore[misc]
            if step.keep:
                values[step.path] = out
            if step.side:
                self.env.sides.append(out)
            else:
                prev = out
        return prev


class Parallel(nn.Module):
    """Branches that all read the same input, merged by concat (channels) or add."""

    def __init__(self, branches: dict[str, nn.Module], merge: str) -> None:
        super().__init__()
        self.merge = merge
        for name, branch in branches.items():
            self.add_module(name, branch)

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.children()]
        if self.merge == "concat":
            return torch.cat(outs, 1)
        total: Tensor = outs[0]
        for o in outs[1:]:
            total = total + o
        return total


class SpecNet(nn.Module):
    """The root: runs the top-level sequence; returns (main, *side outputs) when there are sides."""

    def __init__(self, body: Seq, env: Env, name: str) -> None:
        super().__init__()
        self.env, self.spec_name = env, name
        for child_name, child in body.named_children():
            self.add_module(child_name, child)
        self.steps, self.dense, self.keep_input = body.steps, body.dense, body.keep_input

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        self.env.clear()
        try:
            out = Seq.forward(self, x)  # type: ignore[arg-type]
            sides = tuple(self.env.sides)
        finally:
            self.env.clear()
        return (out, *sides) if sides else out

    @property
    def path(self) -> str:
        return ""


class Concat(nn.Module):
    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, self.dim)


class Add(nn.Module):
    def forward(self, *xs: Tensor) -> Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total


class ScaledTanh(nn.Module):
    """LeCun's squashing function 1.7159 * tanh(2x/3)."""

    def forward(self, x: Tensor) -> Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsample(nn.Module):
    """LeNet-5 S-layer: coefficient * (k x k block sum) + bias, one coefficient and bias per map."""

    def __init__(self, channels: int, kernel: int, bias: bool = True) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel
        summed = F.avg_pool2d(x, k) * float(k * k)
        out = summed * self.weight.view(1, -1, 1, 1)
        return out + self.bias.view(1, -1, 1, 1) if self.bias is not None else out


class TableConv(nn.Module):
    """A partially connected convolution: output map j is a 1-map conv over the input maps in row j."""

    def __init__(self, table: tuple[tuple[int, ...], ...], **conv: int | tuple[int, int] | str | bool) -> None:
        super().__init__()
        self.table = table
        self.maps = nn.ModuleList(nn.Conv2d(len(row), 1, **conv) for row in table)  # type: ignore[arg-type]
        for j, row in enumerate(table):
            self.register_buffer(f"_index{j}", torch.tensor(row), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        outs = [conv(x.index_select(1, getattr(self, f"_index{j}"))) for j, conv in enumerate(self.maps)]
        return torch.cat(outs, 1)


class RBF(nn.Module):
    """LeNet-5 output: y_i = sum_j (x_j - w_ij)^2 with fixed +-1 prototypes held as a buffer."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        protos = torch.randint(0, 2, (out_features, in_features), generator=gen).float() * 2 - 1
        self.register_buffer("prototypes", protos)

    prototypes: Tensor

    def forward(self, x: Tensor) -> Tensor:
        diff = x.unsqueeze(1) - self.prototypes.unsqueeze(0)
        return (diff * diff).sum(-1)


class SwitchPool(nn.MaxPool2d):
    """A max pool that also records its switches (indices) for a later max_unpool2d."""

    def __init__(self, path: str, env: Env, **kw: object) -> None:
        super().__init__(return_indices=True, **kw)  # type: ignore[arg-type]
        self.path, self.env = path, env

    def forward(self, x: Tensor) -> Tensor:
        out, idx = super().forward(x)
        self.env.switches[self.path] = idx
        return out  # type: ignore[no-any-return]


class SwitchUnpool(nn.MaxUnpool2d):
    """Max unpooling with the switches recorded by the named pool."""

    def __init__(self, pool: str, env: Env, output_size: tuple[int, int] | None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.pool, self.env, self.size = pool, env, output_size

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        size = list(self.size) if self.size is not None else None
        return super().forward(x, self.env.switches[self.pool], size)
