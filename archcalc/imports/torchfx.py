"""Capture an nn.Module into an ImportedGraph: torch.fx symbolic tracing, then shapes on the meta device.

Why fx: symbolic tracing records calls at the level a person wrote them (an ``nn.Conv2d`` is one node, with its
module path and attributes), keeps every module's path in ``nn_module_stack``, and needs no real arithmetic.
``torch.export`` and a dispatch-mode capture see aten ops (a conv is ``aten.convolution``, a linear an
``addmm`` after a ``t``), lose leaf modules and need pattern matching back to modules. fx fails loudly on
data-dependent control flow, which is the behaviour we want (one clear error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archcalc.errors import ArchcalcError
from archcalc.imports.ir import UNKNOWN, ImportedGraph, ImportedNode
from archcalc.imports.torchops import ALIAS, Call, callable_names, function_handler, module_handler
from archcalc.imports.torchtrace import SHAPE, node_where, propagate, trace

if TYPE_CHECKING:  # torch is imported in function bodies only: this module is loaded for module targets
    import torch.fx as fx
    from torch import nn


@dataclass
class Val:
    """What an fx node gives: a tensor ('t', made by ``path``), a parameter ('param'), the tuple of a chunk
    ('chunk'), or anything else ('other': sizes, ints)."""

    kind: str
    path: str = ""
    shape: tuple[int, ...] = ()
    extra: tuple[Any, ...] = ()


def capture(model: nn.Module, input: tuple[int, ...], origin: str, name: str = "") -> ImportedGraph:
    """Trace ``model`` and propagate meta shapes at batch 1; the module's weights are never touched."""
    modes = {m: m.training for m in model.modules()}
    model.eval()  # eval-mode code paths (no aux heads, dropout off), as the counts are for inference
    try:
        gm = trace(model, origin)
        propagate(gm, input, origin)
    finally:
        for m, training in modes.items():
            m.training = training
    return _Converter(gm, model, origin).run(input, name or type(model).__name__)


def _meta_shape(meta: Any) -> tuple[int, ...] | None:
    return meta if isinstance(meta, tuple) else None


class _Converter:
    """fx nodes -> ImportedNodes, naming functional calls '<enclosing module>.<op>[_k]'."""

    def __init__(self, gm: fx.GraphModule, model: nn.Module, origin: str) -> None:
        self.gm, self.origin, self.root = gm, origin, model
        self.modules = dict(model.named_modules())
        self.vals: dict[fx.Node, Val] = {}
        self.nodes: list[ImportedNode] = []
        self.used: set[str] = {p for p in self.modules if p} | {n for n, _ in model.named_parameters()}
        self.calls: dict[str, int] = {}

    def run(self, input: tuple[int, ...], name: str) -> ImportedGraph:
        outputs: list[str] = []
        for node in self.gm.graph.nodes:
            if node.op == "output":
                outputs = [self._tensor(v, node).path for v in _flat(node.args[0], self.vals)]
            else:
                self.vals[node] = self._node(node)
        g = ImportedGraph(name, input, self.nodes, outputs, self.origin)
        unused = self._unused()
        if unused:
            g.notes.append(f"not called by forward in eval mode, so not imported: {unused}")
        return g

    def _unused(self) -> str:
        """The modules holding parameters that no call used (inception_v3's AuxLogits in eval)."""
        used = [str(n.target) for n in self.gm.graph.nodes if n.op in ("call_module", "get_attr")]
        left: dict[str, int] = {}
        for name, p in self._params():
            if not any(name == u or name.startswith(u + ".") for u in used):
                head = _unused_head(name, used)
                left[head] = left.get(head, 0) + p
        return ", ".join(f"{k} ({v:,} params)" for k, v in list(left.items())[:10])

    def _params(self) -> list[tuple[str, int]]:
        return [(n, p.numel()) for n, p in self.root.named_parameters()]

    def _node(self, n: fx.Node) -> Val:
        shape = _meta_shape(n.meta.get(SHAPE))
        if n.op == "placeholder":
            if n.args:  # an argument with a default (mask=None): left at its default
                return Val("other")
            if self.vals:
                raise ArchcalcError(
                    "forward takes more than one input; archcalc imports one-input models", file=self.origin
                )
            return Val("t", "input", shape or ())
        if n.op == "get_attr":
            return Val("param", n.target if isinstance(n.target, str) else "", shape or ())
        if shape is None:
            return self._other(n)
        if not shape or shape[0] != 1:
            msg = f"'{node_where(n)}' changes the batch dimension: its output is {shape} at batch 1"
            raise ArchcalcError(msg, file=self.origin)
        args, kwargs = self._map(n.args), self._map(n.kwargs)
        tensors = [v for v in _flat((args, kwargs), None) if isinstance(v, Val) and v.kind in ("t", "param")]
        call = Call(args=tuple(args), kwargs=dict(kwargs), shapes=[t.shape for t in tensors], out=shape[1:])
        return self._call(n, call, [t for t in tensors if t.kind == "t"], tensors)

    def _map(self, v: Any) -> Any:
        """fx args with every node replaced by its Val."""
        from torch.fx import Node

        if isinstance(v, Node):
            return self.vals[v]
        if isinstance(v, (tuple, list)):
            return type(v)(self._map(x) for x in v)
        if isinstance(v, dict):
            return {k: self._map(x) for k, x in v.items()}
        return v

    def _other(self, n: fx.Node) -> Val:
        """A chunk's tuple is kept for the getitem that picks a piece; sizes and ints pass as 'other'."""
        meta = n.meta.get(SHAPE)
        name = self._fname(n)
        if name == "chunk" and isinstance(meta, (tuple, list)):
            x = self.vals[n.args[0]]  # type: ignore[index]
            chunks = n.kwargs.get("chunks", n.args[1] if len(n.args) > 1 else None)
            dim = n.kwargs.get("dim", n.args[2] if len(n.args) > 2 else 0)
            return Val("chunk", x.path, x.shape, (chunks, dim, n))
        if meta is not None:  # a tuple of tensors from an op archcalc does not know (torch.split, ...)
            inputs = [
                v.path
                for v in _flat((self._map(n.args), self._map(n.kwargs)), None)
                if isinstance(v, Val) and v.kind == "t"
            ]
            source = name if n.op == "call_function" else f"Tensor.{name}"
            return Val("tuple", self._emit(n, UNKNOWN, {}, inputs, (), source).path)
        return Val("other")

    def _call(self, n: fx.Node, call: Call, inputs: list[Val], tensors: list[Val]) -> Val:
        out = call.out
        if (
            n.op == "call_function"
            and n.target is _getitem()
            and isinstance(call.args[0], Val)
            and call.args[0].kind == "chunk"
        ):
            piece = call.args[0]
            chunks, dim, fxnode = piece.extra
            args = {"chunks": int(chunks), "index": int(call.args[1]), "dim": int(dim)}
            return self._emit(n, "chunk", args, [piece.path], out, "torch.chunk", fxnode)
        if n.op == "call_function" and n.target is _getitem() and getattr(call.args[0], "kind", "") == "tuple":
            return Val("t", call.args[0].path, out)  # a piece of an unknown op's tuple: that op is reported
        if n.op == "call_module":
            m = self.gm.get_submodule(str(n.target))
            handler = module_handler(m)
            res = handler(m) if handler is not None else None
            src = _class_name(type(m))
            return self._emit(n, *(res or (UNKNOWN, {})), [v.path for v in inputs], out, src)
        name = self._fname(n)
        call.name = name
        if name in ("mul", "mul_") and len(tensors) == 2 and {t.kind for t in tensors} == {"t", "param"}:
            return self._layer_scale(n, tensors, out)
        handler = function_handler(name)
        res = handler(call) if handler is not None and inputs else None
        src = name if n.op == "call_function" else f"Tensor.{name}"
        if res is ALIAS and inputs:
            return Val("t", inputs[0].path, out)
        return self._emit(n, *(res or (UNKNOWN, {})), [v.path for v in inputs], out, src)

    def _layer_scale(self, n: fx.Node, tensors: list[Val], out: tuple[int, ...]) -> Val:
        p = next(t for t in tensors if t.kind == "param")
        x = next(t for t in tensors if t.kind == "t")
        ok = p.shape[:1] == x.shape[:1] and all(d == 1 for d in p.shape[1:]) and len(p.shape) == len(x.shape)
        if not ok:
            return self._emit(n, UNKNOWN, {}, [x.path], out, "parameter * tensor")
        node = ImportedNode(p.path, "layer_scale", {}, [x.path], out, "parameter * tensor (layer scale)")
        self.nodes.append(node)
        return Val("t", p.path, out)

    def _fname(self, n: fx.Node) -> str:
        if n.op == "call_method":
            return str(n.target)
        return callable_names().get(id(n.target), getattr(n.target, "__name__", str(n.target)))

    def _emit(self, n: fx.Node, op: str, args: dict[str, Any], inputs: list[str], out: tuple[int, ...],
              source: str, at: fx.Node | None = None) -> Val:  # fmt: skip
        path, shares = self._path(n if at is None else at, op, n.op == "call_module")
        self.nodes.append(ImportedNode(path, op, args, inputs, out, source, shares))
        return Val("t", path, out)

    def _path(self, n: fx.Node, op: str, module: bool) -> tuple[str, str | None]:
        stack = list(n.meta.get("nn_module_stack", {}).items())
        if module:
            target = str(n.target)
            k = self.calls.get(target, 0)
            self.calls[target] = k + 1
            if k == 0:
                return target, None
            m = self.modules[target]
            weights = any(True for _ in m.parameters()) or any(True for _ in m.buffers())
            return self._fresh(_parent(target), target.rpartition(".")[2]), target if weights else None
        scope = stack[-1][1][0] if stack else ""
        base = {"?": _base(n)}.get(op, _base(n))
        return self._fresh(scope, base), None

    def _fresh(self, scope: str, base: str) -> str:
        name, k = base, 0
        while _join(scope, name) in self.used:
            k += 1
            name = f"{base}_{k}" if not base.isdigit() else f"_{base}_{k}"  # '0_1' is not a layer name
        path = _join(scope, name)
        self.used.add(path)
        return path

    def _tensor(self, v: Any, at: fx.Node) -> Val:
        if not isinstance(v, Val) or v.kind != "t":
            raise ArchcalcError("the model returns something other than tensors", file=self.origin)
        return v


def _unused_head(name: str, used: list[str]) -> str:
    """The outermost module around parameter ``name`` that no call touches."""
    parts = name.split(".")
    for k in range(1, len(parts)):
        head = ".".join(parts[:k])
        if not any(u == head or u.startswith(head + ".") or head.startswith(u + ".") for u in used):
            return head
    return name


def _class_name(t: type) -> str:
    """'nn.Conv2d' for torch.nn's classes, else 'package.Class'."""
    head = "nn" if t.__module__.startswith("torch.nn") else t.__module__.split(".")[0]
    return f"{head}.{t.__qualname__}"


def _getitem() -> Callable[..., Any]:
    import operator

    return operator.getitem


def _base(n: fx.Node) -> str:
    t = n.target
    name = t if isinstance(t, str) else callable_names().get(id(t), getattr(t, "__name__", "op"))
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in str(name)).strip("_") or "op"
    return name if not name[0].isdigit() else f"op_{name}"


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _join(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def _flat(v: Any, vals: dict[fx.Node, Val] | None) -> list[Any]:
    """The leaves of nested tuples, lists and dicts (fx nodes looked up in ``vals`` when given)."""
    if isinstance(v, (tuple, list)):
        return [x for item in v for x in _flat(item, vals)]
    if isinstance(v, dict):
        return [x for item in v.values() for x in _flat(item, vals)]
    from torch.fx import Node

    if vals is not None and isinstance(v, Node):
        return [vals[v]]
    return [v]
