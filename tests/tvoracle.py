"""torchvision's CNN classifiers as the oracle of their bundled specs: names, builds, weights and tool runs.

Shared by tests/test_torchvision.py and scripts/tvtable.py. torchvision comes in through tests/tvshim.py;
nothing here reads archcalc's numbers to make an expected value: the models are torchvision's own, and the
tools (FlopCounterMode, torchinfo, fvcore) run on them. torch is imported where it is used, so that
tests/conftest.py can read the names without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from archcalc.analysis.conventions import layer_values
from archcalc.analysis.report import Report

if TYPE_CHECKING:
    import torch
    from torch import nn

# torchvision 0.28.0's classifiers (list_models(module=torchvision.models)) minus the transformers
# (vit_*, swin_*, maxvit_*): issue 10's 68 CNNs. A test checks this list against torchvision's own.
CNN_CLASSIFIERS = (
    "alexnet",
    *("convnext_tiny", "convnext_small", "convnext_base", "convnext_large"),
    *("densenet121", "densenet161", "densenet169", "densenet201"),
    *(f"efficientnet_b{i}" for i in range(8)),
    *("efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"),
    "googlenet",
    "inception_v3",
    *("mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"),
    *("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"),
    *(f"regnet_x_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
    *(f"regnet_y_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")),
    *("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
    *("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"),
    *("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"),
    *("squeezenet1_0", "squeezenet1_1"),
    *("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"),
    *("wide_resnet50_2", "wide_resnet101_2"),
)
NOT_CNN = ("vit_", "swin_", "maxvit_")

# A spec is named after its torchvision model with '_' -> '-'; the exceptions:
SPEC_EXCEPTIONS = {"googlenet": "googlenet-tv"}  # the bundled 'googlenet' is the paper's Caffe network


def spec_for(tv_name: str) -> str:
    return SPEC_EXCEPTIONS.get(tv_name, tv_name.replace("_", "-"))


TV_SPECS = {name: spec_for(name) for name in CNN_CLASSIFIERS}

# torchvision builder arguments: the published weights' layout (googlenet's weights drop the aux heads;
# inception_v3 keeps AuxLogits in its state_dict), and no init (meta tensors hold no values to initialise)
TV_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"init_weights": False},
}
# spec --set values under which the spec holds exactly what torchvision's eval forward runs (inception_v3's
# AuxLogits is in the state_dict and num_params, but only runs in training)
EVAL_SETS: dict[str, dict[str, Any]] = {"inception_v3": {"aux_logits": False}}
# the state_dict prefixes EVAL_SETS drops (the CPU run loads the rest strictly)
EVAL_DROPS: dict[str, tuple[str, ...]] = {"inception_v3": ("AuxLogits.",)}

# square input of the CPU runs (float64 outputs, fvcore): REDUCED_HW unless the network needs more to keep
# a feature map above 1x1 before its head
REDUCED_HW = 64
REDUCED_HW_FOR = {"alexnet": 127, "inception_v3": 139}


# the models the default test run checks: the smallest of each family (its variants share its blocks through
# `extends`); the others run under the slow marker (tests/conftest.py), which CI runs too
DEFAULT_RUN = {
    "alexnet",
    "convnext_tiny",
    "densenet121",
    "efficientnet_b0",
    "googlenet",
    "inception_v3",
    "mnasnet0_5",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "regnet_x_400mf",
    "regnet_y_400mf",
    "resnet18",
    "resnext50_32x4d",
    "shufflenet_v2_x0_5",
    "squeezenet1_1",
    "vgg11_bn",
}


def reduced_hw(tv_name: str) -> int:
    return REDUCED_HW_FOR.get(tv_name, REDUCED_HW)


def tv_model(tv: Any, name: str, device: str = "meta") -> nn.Module:
    """torchvision's model in eval mode, random init (weights=None: nothing is downloaded)."""
    import torch

    with torch.device(device), _regnet_widths_on_cpu(tv):
        return tv.models.get_model(name, weights=None, **TV_KWARGS.get(name, {})).eval()  # type: ignore[no-any-return]


@contextmanager
def _regnet_widths_on_cpu(tv: Any) -> Iterator[None]:
    """RegNet's builder computes its stage widths with torch tensors (BlockParams.from_init_params ends in
    .tolist()), which a meta device cannot give: that one computation runs on the CPU."""
    import torch

    params = tv.models.regnet.BlockParams
    original = params.__dict__["from_init_params"]

    def on_cpu(cls: Any, *args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return original.__func__(cls, *args, **kwargs)

    params.from_init_params = classmethod(on_cpu)
    try:
        yield
    finally:
        params.from_init_params = original


def cpu_model(tv: Any, name: str, seed: int = 0) -> nn.Module:
    """torchvision's model on the CPU in float64 with every parameter and buffer randomised (see randomize):
    built on meta and materialised empty, so the builder's own init (slow for 100M+ weights) never runs."""
    import torch

    model = tv_model(tv, name).to(torch.float64).to_empty(device="cpu")
    randomize(model, seed)
    return model


POOL = 1_000_003  # a prime: the period of the random values never lines up with a tensor's dims


def randomize(model: nn.Module, seed: int) -> None:
    """Values that make every tensor visible in the output, at a scale a deep net carries in float64.

    Conv/linear weights have std 1/sqrt(fan_in); a [C,1,...] tensor (layer scale, 1x1 depthwise), every
    1-D ``weight`` (norm gammas) and every running variance are 1 + std 0.25, at least 0.5; other 1-D
    tensors (biases, running means) have std 0.1; integer buffers are 0. torchvision's own init leaves BatchNorm an
    identity (gamma 1, beta 0, mean 0, var 1) and ConvNeXt's layer scale at 1e-6, which would hide them.
    The values are windows of one pool of POOL standard normals (a fresh draw per weight would take
    longer than the forward), each tensor starting where the previous one ended.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    pool = torch.randn(2 * POOL, dtype=torch.float64, generator=g)
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    at = 0
    with torch.no_grad():
        for name in sorted(tensors):
            t = tensors[name]
            if not t.is_floating_point():
                t.zero_()
                continue
            gamma = t.dim() == 1 and name.endswith("weight")
            if gamma or name.endswith("running_var") or (t.dim() > 1 and t[0].numel() == 1):  # + layer scale
                shift, scale = 1.0, 0.25
            elif t.dim() <= 1:
                shift, scale = 0.0, 0.1
            else:
                shift, scale = 0.0, t[0].numel() ** -0.5
            flat = t.view(-1)
            for lo in range(0, flat.numel(), POOL):
                n = min(POOL, flat.numel() - lo)
                torch.add(pool[at : at + n], shift / scale, out=flat[lo : lo + n]).mul_(scale)
                at = (at + n) % POOL
            if shift:
                flat.clamp_(min=0.5)


def spec_model(spec: str, input: tuple[int, ...], sets: dict[str, Any] | None = None) -> nn.Module:
    """archcalc's model for the spec, constructed on the meta device (no init), in eval mode."""
    import torch

    from archcalc.torch import build

    with torch.device("meta"):
        return build(spec, input, sets).eval()


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def main_output(out: Any) -> torch.Tensor:
    """The logits: a spec with side outputs (inception's AuxLogits) returns them after the main one."""
    return out[0] if isinstance(out, tuple | list) else out  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the tools, run on torchvision's model


def flopcounter(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """FlopCounterMode total and per module path ('' for the root)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    per: dict[str, int] = {}
    for key, ops in counter.get_flop_counts().items():
        if key != "Global":
            path = key.split(".", 1)[1] if "." in key else ""
            per[path] = sum(int(v) for v in ops.values())
    return int(counter.get_total_flops()), per


def torchinfo_total(model: nn.Module, input: tuple[int, ...], device: str = "meta") -> tuple[int, dict[str, int]]:
    """torchinfo summary(...).total_mult_adds at batch 1, and its leaf layers' MACs by module path."""
    import torchinfo

    paths = {id(m): p for p, m in model.named_modules()}
    stats = torchinfo.summary(model, input_size=(1, *input), device=device, verbose=0)
    per: dict[str, int] = {}
    for info in stats.summary_list:
        if info.is_leaf_layer:
            path = paths.get(id(info.module), "?")
            per[path] = per.get(path, 0) + int(info.macs)
    return int(stats.total_mult_adds), per


def fvcore_total(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """fvcore FlopCountAnalysis(model.eval(), x).total() and by_module() (a CPU trace)."""
    import fvcore.nn

    analysis = fvcore.nn.FlopCountAnalysis(model.eval(), x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total()), {k: int(v) for k, v in analysis.by_module().items()}


def per_op_diff(report: Report, convention: str, tool: dict[str, int]) -> str:
    """Where archcalc's convention and the tool disagree, summed by archcalc op over the layer records whose
    path is a module in the tool's per-module counts ('op: tool N, archcalc M (k layers)'), then what
    archcalc counts on records that are no module of the tool's model (a torch function in a container's
    forward, a parameter on a container), which the tool may count elsewhere or not at all. For the failure
    message only."""
    ours = layer_values(report, convention)
    by_op: dict[str, list[int]] = {}
    outside: dict[str, list[int]] = {}
    for rec in report.layers:
        mine = ours[rec.path]
        if rec.path not in tool:
            row = outside.setdefault(rec.op, [0, 0])
            row[0], row[1] = row[0] + mine, row[1] + (1 if mine else 0)
        elif tool[rec.path] != mine:
            row = by_op.setdefault(rec.op, [0, 0, 0])
            row[0], row[1], row[2] = row[0] + tool[rec.path], row[1] + mine, row[2] + 1
    lines = [f"{op}: tool {t:,}, archcalc {o:,} ({n} layers)" for op, (t, o, n) in sorted(by_op.items())]
    lines += [
        f"{op} (no module in the tool's model): archcalc {o:,} ({n} layers)"
        for op, (o, n) in sorted(outside.items())
        if o
    ]
    return "; ".join(lines) or "every layer agrees; the difference is in no layer record"


@contextmanager
def _recording(model: nn.Module, into: dict[str, list[torch.Tensor]]) -> Iterator[None]:
    """Every tensor output of every named module, per call."""
    import torch

    def hook(name: str) -> Any:
        def keep(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                into.setdefault(name, []).append(out.detach().clone())

        return keep

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def first_divergence(ref: nn.Module, ours: nn.Module, x: torch.Tensor) -> str:
    """The first module (in our forward's order) whose output differs from torchvision's module of the same
    path: where a spec goes wrong. Modules called more than once (torchvision's BasicBlock runs one ReLU
    twice) are skipped. For the failure message only."""
    import torch

    want: dict[str, list[torch.Tensor]] = {}
    got: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad(), _recording(ref, want), _recording(ours, got):
        ref(x)
        ours(x)
    for path, outs in got.items():
        if len(outs) != 1 or len(want.get(path, ())) != 1:
            continue
        g, w = outs[0], want[path][0]
        if w.shape != g.shape:
            return f"first divergence at {path}: shape {tuple(g.shape)}, torchvision {tuple(w.shape)}"
        if not torch.allclose(g, w, rtol=1e-7, atol=1e-10 * float(w.abs().max())):
            return f"first divergence at {path}: max |diff| {float((g - w).abs().max()):.3g}"
    return "every module of the same path agrees (the difference is outside them)"
