"""The torch DeconvNet (Zeiler & Fergus 2014) attached to a built forward model.

The mirror's transposed convolutions share the forward convs' weight Parameters (same tensor, so loading a
state_dict into the forward model updates both), and its unpooling layers read the switches the forward
pass recorded (the forward model is built with ``switches=True``: every max pool is a SwitchPool).
Shapes and arguments come from the pure-math plan in archcalc/deconv.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from archcalc.analysis.deconv import DeconvPlan, MirrorStep, mirror_plan
from archcalc.analysis.records import resolve
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import Spec
from archcalc.torch import build_with_report
from archcalc.torch.crosscheck import call_sites
from archcalc.torch.modules import SwitchPool


class StopForward(Exception):
    """Raised by a forward hook once everything wanted is recorded, to skip the rest of the network."""


class MirrorUnpool(nn.MaxUnpool2d):
    """Max unpooling with the switches of one forward pool, landing on that pool's input size.

    Values whose switches coincide are summed. Overlapping pools (AlexNet's and ZFNet's 3x3 stride 2) record
    the same switch for neighbouring outputs, and torch's max_unpool2d then keeps one write at random
    (documented as nondeterministic for repeated indices): a zero from a neighbour can erase the one
    activation being projected. Summing is what max pooling's backward does, and equals max_unpool2d
    wherever the switches are distinct.
    """

    def __init__(self, pool: str, output_size: tuple[int, int], **kw: Any) -> None:
        super().__init__(**kw)
        self.pool, self.size = pool, output_size

    def forward(self, x: Tensor, switches: Tensor) -> Tensor:  # type: ignore[override]
        n, c = x.shape[:2]
        out = x.new_zeros(n, c, self.size[0] * self.size[1])
        out.scatter_add_(2, switches.flatten(2), x.flatten(2))
        return out.view(n, c, *self.size)


class DeconvNet(nn.Module):
    """The mirror of ``plan.layer`` back to the input.

    ``record(x)`` runs the forward model, keeps the switches of the pools on the path and returns the
    layer's activation; ``forward(signal)`` projects a signal shaped like that activation to pixel space.
    ``steps[i]`` is the module for ``plan.steps[i]``.
    """

    def __init__(
        self, net: nn.Module, plan: DeconvPlan, steps: list[nn.Module], site: tuple[str, int] | None = None
    ) -> None:
        super().__init__()
        self.net = net  # registered, so the shared filters appear once per owner in parameters()
        self.plan = plan
        self.site = site or (plan.layer, 0)  # the module computing the layer, and which of its calls
        self.steps = nn.ModuleList(steps)
        self.switches: dict[str, Tensor] = {}

    def record(self, x: Tensor) -> Tensor:
        """Forward pass without gradients; returns a copy of the layer's output (an in-place ReLU may follow)."""
        got: dict[str, Tensor] = {}

        def keep_switches(mod: nn.Module, args: object, out: Tensor) -> None:
            assert isinstance(mod, SwitchPool)
            self.switches[mod.path] = mod.env.switches[mod.path]

        calls = [0]

        def keep_activation(mod: nn.Module, args: object, out: Tensor) -> None:
            calls[0] += 1
            if calls[0] > self.site[1]:  # a layer reusing weights: its owner's module, called again
                got["act"] = out.detach().clone()
                raise StopForward  # every pool on the path ran before the layer: skip the rest of the network

        hooks = [
            self.net.get_submodule(step.source).register_forward_hook(keep_switches)
            for step in self.plan.steps
            if step.op == "max_unpool2d"
        ]  # before the activation hook, which stops the pass (the layer may be a pool itself)
        hooks.append(self.net.get_submodule(self.site[0]).register_forward_hook(keep_activation))
        try:
            with torch.no_grad():
                self.net(x)
        except StopForward:
            pass
        finally:
            for h in hooks:
                h.remove()
        return got["act"]

    def forward(self, signal: Tensor) -> Tensor:
        x = signal
        for step, mod in zip(self.plan.steps, self.steps, strict=True):
            x = mod(x, self.switches[step.source]) if isinstance(mod, MirrorUnpool) else mod(x)
        return x


def build_deconv(
    spec_or_path: Spec | str,
    layer: str | None = None,
    input: str | tuple[int, ...] | list[int] | None = None,
    sets: dict[str, Any] | None = None,
    *,
    model: nn.Module | None = None,
) -> DeconvNet:
    """The DeconvNet from ``layer`` (default: the deepest mirrorable conv) with filters tied to ``model``.

    ``model`` defaults to ``build_with_report(spec, ..., switches=True)`` in eval mode; a model passed in must
    be built that way from the same spec (its max pools must record switches).
    """
    graph, report = resolve(spec_or_path, input, sets)
    plan = mirror_plan(graph, report, layer)
    if model is None:
        model = build_with_report(spec_or_path, input, sets, switches=True)[0].eval()
    sites = call_sites(report)
    steps = [_module(step, model, report.file, sites[step.source][0]) for step in plan.steps]
    return DeconvNet(model, plan, steps, sites[plan.layer])


def _module(step: MirrorStep, net: nn.Module, file: str, owner: str) -> nn.Module:
    """The mirror module of one step; ``owner`` is the module computing its source (the same path, or the
    layer whose weights it reuses)."""
    a = step.args
    if step.op == "conv_transpose2d":
        conv = net.get_submodule(owner)
        if not isinstance(conv, nn.Conv2d):
            raise ArchcalcError(f"expected an nn.Conv2d at '{step.source}', got {type(conv).__name__}", file=file)
        # built on the meta device: the weight is replaced by the forward conv's Parameter right away
        t = nn.ConvTranspose2d(
            conv.out_channels,
            conv.in_channels,
            a["kernel"],
            stride=a["stride"],
            padding=a["padding"],
            output_padding=a["output_padding"],
            groups=a["groups"],
            bias=False,
            dilation=a["dilation"],
            device="meta",
        )
        t.weight = conv.weight  # tied: the same Parameter, shape (C_out, C_in/g, k_h, k_w) for both
        return t
    if step.op == "max_unpool2d":
        if not isinstance(net.get_submodule(step.source), SwitchPool):
            raise ArchcalcError(
                f"pool '{step.source}' records no switches: build the model with build_with_report(..., switches=True)",
                file=file,
            )
        return MirrorUnpool(
            step.source, a["output_size"], kernel_size=a["kernel"], stride=a["stride"], padding=a["padding"]
        )
    return nn.ReLU() if step.op == "relu" else nn.Identity()


@dataclass(frozen=True)
class Strongest:
    """The strongest activation of a layer and its projection to pixel space."""

    channel: int
    y: int
    x: int
    value: float
    image: Tensor  # C x H x W, the network input's shape


def reconstruct_strongest(deconv: DeconvNet, x: Tensor) -> Strongest:
    """Keep only the largest activation of the map with the largest maximum (Zeiler & Fergus), zero the rest,
    and run the mirror. ``x`` is one input with its batch dimension."""
    act = deconv.record(x)[0]
    flat = act.flatten(1)
    channel = int(flat.max(1).values.argmax())
    y, col = divmod(int(flat[channel].argmax()), act.shape[2])
    signal = torch.zeros_like(act)
    signal[channel, y, col] = act[channel, y, col]
    with torch.no_grad():
        image = deconv(signal[None])[0]
    return Strongest(channel, y, col, float(act[channel, y, col]), image)
