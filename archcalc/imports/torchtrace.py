"""torch.fx's half of a capture: trace with archcalc's known modules as leaves, then shapes on the meta device.

torchfx.py turns the traced graph into an ImportedGraph; this module only traces and measures.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from functools import cache
from typing import TYPE_CHECKING, Any

from archcalc.errors import ArchcalcError
from archcalc.imports.torchops import module_handler

if TYPE_CHECKING:  # torch is imported in function bodies only: this module is loaded for module targets
    import torch.fx as fx
    from torch import nn

# helper functions of torchvision that fx should keep as one call (looked up only if torchvision is loaded)
_AUTOWRAP = (("torchvision.models.shufflenetv2", "channel_shuffle"),)


@cache
def _tracer_class() -> type[fx.Tracer]:
    import torch.fx as fx

    class Tracer(fx.Tracer):
        """Keeps the modules archcalc knows as leaves; traces through the rest (containers, user blocks)."""

        def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
            if module_handler(m) is not None:
                return True
            return bool(super().is_leaf_module(m, module_qualified_name))

    return Tracer


def trace(model: nn.Module, origin: str) -> fx.GraphModule:
    import torch.fx as fx

    wraps = [getattr(sys.modules[mod], fn) for mod, fn in _AUTOWRAP if mod in sys.modules]
    tracer = _tracer_class()(autowrap_functions=tuple(wraps))
    try:
        graph = tracer.trace(model)
    except Exception as err:  # fx raises TraceError, TypeError, AttributeError...: all mean "cannot capture"
        where = ", ".join(_where(tracer, err))
        what = f"{type(err).__name__}: {err}".splitlines()[0]
        raise ArchcalcError(
            f"cannot capture the forward with torch.fx ({where}): {what}; data-dependent control flow, "
            ".item() and Python loops over tensor values cannot be traced",
            file=origin,
        ) from None
    return fx.GraphModule(tracer.root, graph)


def _where(tracer: fx.Tracer, err: Exception) -> list[str]:
    out = []
    if tracer.module_stack:  # left as it was when the error escaped
        path, kind = list(tracer.module_stack.values())[-1]
        out.append(f"in module '{path}' ({getattr(kind, '__name__', kind)})" if path else "in the top module")
    frames = [f for f in traceback.extract_tb(err.__traceback__) if "/torch/" not in f.filename.replace("\\", "/")]
    if frames:
        out.append(f"at {frames[-1].filename}:{frames[-1].lineno}")
    return out or ["in the forward"]


SHAPE = "archcalc_shape"  # node.meta key: a tensor's shape, a tuple of tensors' shapes, or None


@cache
def _prop_class() -> type[nn.Module]:
    """ShapeProp's loop, keeping only shapes: its TensorMetadata (strides, memory formats, quantization)
    doubled the time of a resnet50 capture."""
    import torch.fx as fx
    from torch import Tensor, nn

    class Shapes(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            out = super().run_node(n)
            n.meta[SHAPE] = _shapes(out)
            return out

        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            m = self.fetch_attr(target)
            if type(m).__name__ == "BatchNorm2d" and not kwargs and len(args) == 1:
                return _batchnorm_shape(m, args[0])
            return super().call_module(target, args, kwargs)

    class Prop(nn.Module):
        """Runs the shapes pass inside torch.func.functional_call, so the weights it sees are meta copies."""

        def __init__(self, gm: fx.GraphModule) -> None:
            super().__init__()
            self.gm = gm

        def forward(self, x: Tensor) -> Tensor:
            Shapes(self.gm).run(x)
            return x

    return Prop


def _batchnorm_shape(m: Any, x: Any) -> Any:
    """What eval-mode BatchNorm2d gives on meta, with torch's checks, without its Python meta kernel (0.37 s of
    resnet50's 0.43 s forward on meta)."""
    if x.dim() != 4:
        raise ValueError(f"expected 4D input (got {x.dim()}D input)")
    if x.shape[1] != m.num_features:
        raise RuntimeError(f"running_mean should contain {x.shape[1]} elements not {m.num_features}")
    return x.new_empty(x.shape)


def _shapes(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return tuple(int(d) for d in out.shape)
    if isinstance(out, (tuple, list)) and out and all(isinstance(t, torch.Tensor) for t in out):
        return [tuple(int(d) for d in t.shape) for t in out]
    return None


def propagate(gm: fx.GraphModule, input: tuple[int, ...], origin: str) -> None:
    import torch
    from torch.func import functional_call

    prop = _prop_class()(gm)
    tensors = [*prop.parameters(), *prop.buffers()]
    if all(t.device.type == "meta" for t in tensors):  # built on meta (the CLI does): no swap needed
        x = torch.empty((1, *input), device="meta")
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            try:
                prop(x)
                return
            except Exception as err:
                raise _run_error(gm, input, origin, err) from None
    state = {
        name: torch.empty_like(t, device="meta")
        for named in (prop.named_parameters(remove_duplicate=False), prop.named_buffers(remove_duplicate=False))
        for name, t in named
    }
    x = torch.empty((1, *input), device="meta")
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):  # the interpreter may print a traceback
            functional_call(prop, state, (x,))
    except Exception as err:
        raise _run_error(gm, input, origin, err) from None


def _run_error(gm: fx.GraphModule, input: tuple[int, ...], origin: str, err: Exception) -> ArchcalcError:
    cause = err.__cause__ or err
    shown = "x".join(map(str, input))
    what = f"{type(cause).__name__}: {cause}".splitlines()[0]
    node = next((n for n in gm.graph.nodes if n.op != "placeholder" and SHAPE not in n.meta), None)
    at = f" at '{node_where(node)}'" if node is not None else ""
    return ArchcalcError(f"the model does not run at input {shown}{at}: {what}", file=origin)


def node_where(n: fx.Node) -> str:
    """A node as the user knows it: the module it calls, or the module around a functional call."""
    if n.op == "call_module":
        return str(n.target)
    stack = list(n.meta.get("nn_module_stack", {}).values())
    name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", n.name)
    return f"{stack[-1][0]}.{name}" if stack and stack[-1][0] else str(name)
