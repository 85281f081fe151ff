"""Modules torch lacks (LeNet-5's layers) and the containers that run a spec's graph, one per scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# a step's argument: one node's value, or a dense bus: torch.cat of these nodes' values (the features)
Arg = int | tuple[int, ...]
CALL, CAT, ADD, MUL, ALIAS, SCALE, SHARED = "call", "cat", "add", "mul", "alias", "scale", "shared"


@dataclass
class Env:
    """What every container of one model shares: the values by node index during a forward pass (None
    outside one), the switches of max pools by path, and where the network's side outputs are."""

    size: int = 0
    sides: tuple[int, ...] = ()
    values: list[Tensor | None] | None = None
    switches: dict[str, Tensor] = field(default_factory=dict)
    # a layer reusing another's weights (spec 'shares'), by node index: the owner's module, registered only
    # at the owner, so parameters() and state_dict() hold the weights once
    shared: dict[int, nn.Module | nn.Parameter] = field(default_factory=dict)


class SliceStep(NamedTuple):
    """One node of a scope's slice: a layer or a child scope (CALL its module), or a branches merge."""

    node: int  # where the result is stored (a child scope: its 'out' node)
    action: str  # CALL | CAT | ADD | MUL | ALIAS | SCALE (a bare parameter times the input) | SHARED
    name: str  # CALL: the submodule; SHARED: the node index in Env.shared
    args: tuple[Arg, ...]
    free: tuple[int, ...]  # values read here for the last time
    keep: bool  # a later node reads the result, or it is a network output


@dataclass(frozen=True)
class Steps:
    """A scope's slice of the graph: its 'in' node, the steps between, and what its 'out' node returns."""

    enter: int
    keep_enter: bool
    free_enter: tuple[int, ...]  # the 'in' node is the last reader of its source
    body: tuple[SliceStep, ...]
    result: Arg
    free_result: tuple[int, ...]


def _value(values: list[Tensor | None], arg: Arg) -> Tensor:
    if isinstance(arg, int):
        return values[arg]  # type: ignore[return-value]
    return torch.cat([values[j] for j in arg], 1)  # type: ignore[misc]  # like torchvision's DenseNet


class Slice(nn.Module):
    """A container running its scope's slice of the graph; values live in the model's shared Env."""

    def __init__(self, path: str, env: Env, steps: Steps, children: dict[str, nn.Module | nn.Parameter]) -> None:
        super().__init__()
        self.path, self.env, self.steps = path, env, steps
        for name, child in children.items():
            if isinstance(child, nn.Parameter):  # layer_scale: a parameter of this container, as in torchvision
                self.register_parameter(name, child)
            else:
                self.add_module(name, child)

    def forward(self, x: Tensor) -> Tensor:
        values = self.env.values
        if values is not None:
            return self.run(values, x)
        self.env.values = [None] * self.env.size  # called on its own, not from the model
        try:
            return self.run(self.env.values, x)
        finally:
            self.env.values = None

    def run(self, values: list[Tensor | None], x: Tensor) -> Tensor:
        st, mods = self.steps, self._modules
        if st.keep_enter:
            values[st.enter] = x
        for j in st.free_enter:
            values[j] = None
        for node, action, name, args, free, keep in st.body:
            xs = [_value(values, a) for a in args]
            if action == CALL:
                out = mods[name](*xs)  # type: ignore[misc]
            elif action == CAT:
                out = torch.cat(xs, 1)
            elif action == ALIAS:  # a flat child scope's input or output: the same tensor
                out = xs[0]
            elif action == MUL:
                out = _product(xs)
            elif action == SCALE:
                out = getattr(self, name) * xs[0]
            elif action == SHARED:
                out = _call_shared(self.env.shared[int(name)], xs)
            else:
                out = _sum(xs)
            if keep:
                values[node] = out
            for j in free:
                values[j] = None
            del xs, out  # a dense bus is freed before the next one is made
        result = _value(values, st.result)
        for j in st.free_result:
            values[j] = None
        return result


def _call_shared(owner: nn.Module | nn.Parameter, xs: list[Tensor]) -> Tensor:
    if isinstance(owner, nn.Parameter):  # a layer scale reused: the same parameter times the input
        return owner * xs[0]
    return owner(*xs)  # type: ignore[no-any-return]


def _sum(xs: Sequence[Tensor]) -> Tensor:
    """a + b + c, out of place (an in-place sum would write into a branch's output)."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def _product(xs: Sequence[Tensor]) -> Tensor:
    """a * b * c with broadcasting, out of place (as torchvision's SqueezeExcitation: scale * input)."""
    total = xs[0]
    for x in xs[1:]:
        total = total * x
    return total


class Seq(Slice):
    """A list of layers, a block or a repeat (a chain or a dense feed)."""


class Parallel(Slice):
    """Branches that all read the scope's input, merged by concat (channels) or add."""


class SpecNet(Slice):
    """The root: runs the whole graph; returns (main, *side outputs) when there are sides."""

    def __init__(self, env: Env, steps: Steps, children: dict[str, nn.Module | nn.Parameter], name: str) -> None:
        super().__init__("", env, steps, children)
        self.spec_name = name

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:  # type: ignore[override]
        env = self.env
        values: list[Tensor | None] = [None] * env.size
        env.values = values
        env.switches.clear()
        try:
            out = self.run(values, x)
            sides = tuple(values[i] for i in env.sides)
        finally:
            env.values = None
            env.switches.clear()
        return (out, *sides) if sides else out  # type: ignore[arg-type]


class Concat(nn.Module):
    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, self.dim)


class Add(nn.Module):
    def forward(self, *xs: Tensor) -> Tensor:
        return _sum(xs)


class Mul(nn.Module):
    def forward(self, *xs: Tensor) -> Tensor:
        return _product(xs)


def layer_scale(shape: Sequence[int], init: float) -> nn.Parameter:
    """ConvNeXt's layer scale: one value per channel (dim 0 of the sample), broadcast over the rest."""
    return nn.Parameter(torch.full((int(shape[0]), *(1 for _ in shape[1:])), float(init)))


class Mean(nn.Module):
    """torch.mean over fixed dims (the batch counted as 0), as ShuffleNet V2's x.mean([2, 3])."""

    def __init__(self, dims: Sequence[int], keepdim: bool) -> None:
        super().__init__()
        self.dims, self.keepdim = list(dims), keepdim

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(self.dims, keepdim=self.keepdim)


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
