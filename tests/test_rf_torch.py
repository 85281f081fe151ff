"""Receptive fields against torch gradients, for every bundled spec.

How the gradient is made to cover the whole field (the rule the recurrence assumes):
* float64, every weight 1 and every bias 0 (batch norm: weight 1, bias 0, running mean 0, var 1, eval mode);
  all coefficients are then positive, so gradients along different paths cannot cancel;
* ReLU, sigmoid, tanh, scaled tanh, softmax over channels, LRN, dropout and layer norm (ConvNeXt's, over the
  channels) are replaced by Identity: they act at one position (LRN and layer norm mix channels only), so they
  cannot change the spatial field, and a saturated tanh or a ReLU at 0 would otherwise hide pixels (a layer
  norm's gradient sums to 0 over the channels it normalises: with all-ones weights and inputs it cancels);
* max pooling keeps its forward but its backward is replaced (custom autograd function WindowRoute) by a
  depthwise transposed convolution with a ones kernel of the pool's exact geometry (kernel, stride, padding,
  dilation, ceil_mode cropping): every element of every window gets the gradient, not only the arg-max;
  adaptive max pooling is swapped for adaptive average pooling (same windows);
* after every module the incoming gradient is replaced by its support (g != 0) as 0/1: with all-ones weights
  the magnitudes otherwise overflow or underflow float64 over 150 layers, and with positive weights the
  support is exactly what plain back-propagation gives.
The measured extent (first to last input row/column with a non-zero gradient, for output channel 0 at the
centre unit) must equal the calculator's interval, clipped to the input.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as Fn  # noqa: E402
from torch import nn  # noqa: E402

from archcalc.analysis.records import resolve  # noqa: E402
from archcalc.analysis.rf import RF_RULES, RFRow, receptive_fields, unit_interval  # noqa: E402
from archcalc.analysis.sizes import SizePlan  # noqa: E402
from archcalc.analysis.sweep import min_size  # noqa: E402
from archcalc.torch import build  # noqa: E402
from archcalc.torch import modules as M  # noqa: E402

MAX_SIDE = 64  # reduced input where the spec allows: keeps float64 forward/backward short
# elementwise (or across channels at one position): an identity for the field; a saturating one (ReLU6,
# hardswish at the all-ones fill) would otherwise cut the gradient the test reads
TRANSPARENT = (
    *(nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.Mish, nn.ELU),
    *(nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softmax, nn.LocalResponseNorm, nn.Dropout, M.ScaledTanh, nn.LayerNorm),
)


class WindowRoute(torch.autograd.Function):
    """Max pooling forward; backward sends each output's gradient to every element of its window."""

    @staticmethod
    def forward(ctx: Any, x: Any, pool: nn.MaxPool2d) -> Any:
        ctx.geom = (x.shape, pool)
        out = Fn.max_pool2d(x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode)
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        shape, pool = ctx.geom
        k, s, p, d = (_pair(v) for v in (pool.kernel_size, pool.stride, pool.padding, pool.dilation))
        ones = torch.ones(shape[1], 1, *k, dtype=g.dtype)
        full = Fn.conv_transpose2d(g, ones, stride=s, dilation=d, groups=shape[1])  # padded coordinates
        full = Fn.pad(full, (0, max(0, p[1] + shape[3] - full.shape[3]), 0, max(0, p[0] + shape[2] - full.shape[2])))
        return full[:, :, p[0] : p[0] + shape[2], p[1] : p[1] + shape[3]], None


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class RoutedMaxPool(nn.Module):
    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: Any) -> Any:
        out = WindowRoute.apply(x, self.pool)
        if isinstance(self.pool, M.SwitchPool):  # keep the switches a later unpool reads
            self.pool.env.switches[self.pool.path] = Fn.max_pool2d(
                x,
                self.pool.kernel_size,
                self.pool.stride,
                self.pool.padding,
                self.pool.dilation,
                self.pool.ceil_mode,
                return_indices=True,
            )[1]
        return out


def _swap(model: nn.Module) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if isinstance(child, TRANSPARENT):
                parent._modules[name] = nn.Identity()
            elif isinstance(child, nn.MaxPool2d):
                parent._modules[name] = RoutedMaxPool(child)
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                parent._modules[name] = nn.AdaptiveAvgPool2d(child.output_size)


def _binarise_grads(model: nn.Module) -> None:
    def hook(mod: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda g: (g != 0).to(g.dtype))

    for mod in model.modules():
        if not list(mod.children()) or isinstance(mod, RoutedMaxPool):
            mod.register_forward_hook(hook)


def _prepare(spec: str, shape: tuple[int, ...], stop: str) -> nn.Module:
    """Build on the meta device and materialise only the layers up to ``stop`` (the big linear layers of
    VGG or AlexNet never run here, so they are never allocated); the test halts the forward after ``stop``."""
    with torch.device("meta"):
        model = build(spec, shape)
    needed = _prefix(model, stop)
    for mod in model.modules():
        own = [*mod.parameters(recurse=False), *mod.buffers(recurse=False)]
        if id(mod) in needed and own:
            mod.to_empty(device="cpu", recurse=False)
            _fill(mod)
    model.double().eval()
    _swap(model)
    _binarise_grads(model)
    return model


class _Stop(Exception):
    pass


def _halt(mod: nn.Module, args: Any, out: Any) -> None:
    raise _Stop


def _prefix(model: nn.Module, stop: str) -> set[int]:
    """Modules registered up to and including ``stop`` (registration order = forward order for specs)."""
    out: set[int] = set()
    for name, mod in model.named_modules():
        out.add(id(mod))
        if name == stop:
            out.update(id(m) for m in mod.modules())
            break
    return out


def _fill(mod: nn.Module) -> None:
    """All weights 1, biases 0; batch-norm statistics mean 0, var 1; table-conv index buffers rebuilt."""
    with torch.no_grad():
        for name, p in mod.named_parameters(recurse=False):
            p.fill_(0.0 if name == "bias" else 1.0)
        for name, b in mod.named_buffers(recurse=False):
            if isinstance(mod, M.TableConv) and name.startswith("_index"):
                b.copy_(torch.tensor(mod.table[int(name.removeprefix("_index"))]))
            elif name == "running_var":
                b.fill_(1.0)
            elif name in ("running_mean", "num_batches_tracked"):
                b.zero_()
            else:
                raise AssertionError(f"no fill rule for buffer {name} of {type(mod).__name__}")


def _extent(mask: Any) -> tuple[int, int]:
    idx = torch.nonzero(mask).flatten()
    return int(idx.min()), int(idx.max())


def _checked(rows: list[RFRow], size: tuple[int, int]) -> list[RFRow]:
    """Exact spatial layers whose centre unit's field lies inside the input: the deepest, the middle one, and
    the last spatial layer of the network when its field fits (it does for LeNet, AlexNet, ZFNet, VGG at 128)."""
    spatial = [
        r
        for r in rows
        if r.kind == "layer" and len(r.output_shape) == 3 and r.field.exact and r.field.h.jump and r.field.hw == (1, 2)
    ]
    inside = [r for r in spatial if _inside(r, size)]
    assert inside, "no layer has its whole field inside the input"
    picks = [inside[-1], inside[len(inside) // 2]]
    return list({r.path: r for r in picks}.values())


def _inside(r: RFRow, size: tuple[int, int]) -> bool:
    _, ho, wo = r.output_shape
    lo_h, hi_h = unit_interval(r.field.h, ho // 2)
    lo_w, hi_w = unit_interval(r.field.w, wo // 2)
    return lo_h >= 0 and lo_w >= 0 and hi_h <= size[0] - 1 and hi_w <= size[1] - 1


def test_every_op_has_a_rule() -> None:
    """Each op has a receptive-field rule, or is declared pointwise (the field is unchanged)."""
    from archcalc.analysis.rf import rule_for
    from archcalc.ops import OPS

    assert sorted(op for op in OPS if rule_for(op) is None) == []
    assert rule_for("relu") is not None and "relu" not in RF_RULES


def _test_shape(spec: str) -> tuple[int, int, int]:
    """The spec's input reduced to MAX_SIDE, but never below the smallest size the network accepts."""
    c, h, w = resolve(spec)[1].input
    smallest = min_size(SizePlan(spec), check_above=0).square
    return c, min(h, max(MAX_SIDE, smallest)), min(w, max(MAX_SIDE, smallest))


def test_receptive_field_matches_torch_gradient(spec_name: str) -> None:
    shape = _test_shape(spec_name)
    root, report = resolve(spec_name, shape)
    checks = _checked(receptive_fields(root, report), shape[1:])
    model = _prepare(spec_name, shape, stop=checks[0].path)
    outs: dict[str, Any] = {}
    for row in checks:
        model.get_submodule(row.path).register_forward_hook(lambda m, a, o, p=row.path: outs.__setitem__(p, o))
    model.get_submodule(checks[0].path).register_forward_hook(_halt)  # after the capture hooks: they run first
    x = torch.ones((1, *shape), dtype=torch.float64, requires_grad=True)
    with pytest.raises(_Stop):
        model(x)
    for row in checks:
        _, ho, wo = row.output_shape
        (grad,) = torch.autograd.grad(outs[row.path][0, 0, ho // 2, wo // 2], x, retain_graph=True)
        support = grad[0].abs().sum(0) != 0
        got = (_extent(support.any(1)), _extent(support.any(0)))
        want = tuple(_exact(unit_interval(axis, n // 2)) for axis, n in ((row.field.h, ho), (row.field.w, wo)))
        assert got == want, f"{row.path}: torch gradient covers rows/cols {got}, calculator says {want}"
        assert got[0][1] - got[0][0] + 1 == row.field.h.size and got[1][1] - got[1][0] + 1 == row.field.w.size


def _exact(iv: tuple[Fraction, Fraction]) -> tuple[int, int]:
    lo, hi = iv
    assert lo.denominator == 1 and hi.denominator == 1, iv
    return int(lo), int(hi)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ARCHCALC_SLOW"), reason="full-size float64 backward; set ARCHCALC_SLOW=1")
@pytest.mark.parametrize(
    ("spec", "path"),
    [("alexnet-227", "features.pool5"), ("zfnet", "features.pool5"), ("vgg16", "features.30")],
)
def test_last_pool_at_full_size(spec: str, path: str) -> None:
    """The last spatial layer at the spec's own input (its field fits there), which the reduced test cannot reach."""
    shape = resolve(spec)[1].input
    root, report = resolve(spec)
    row = next(r for r in receptive_fields(root, report) if r.path == path)
    assert _inside(row, shape[1:])
    model = _prepare(spec, shape, stop=path)
    outs: dict[str, Any] = {}
    model.get_submodule(path).register_forward_hook(lambda m, a, o: outs.__setitem__(path, o))
    model.get_submodule(path).register_forward_hook(_halt)
    x = torch.ones((1, *shape), dtype=torch.float64, requires_grad=True)
    with pytest.raises(_Stop):
        model(x)
    _, ho, wo = row.output_shape
    (grad,) = torch.autograd.grad(outs[path][0, 0, ho // 2, wo // 2], x)
    support = grad[0].abs().sum(0) != 0
    got = (_extent(support.any(1)), _extent(support.any(0)))
    assert got == (_exact(unit_interval(row.field.h, ho // 2)), _exact(unit_interval(row.field.w, wo // 2)))
