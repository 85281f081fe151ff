"""Reading an ONNX file into an ImportedGraph: checker, shape inference (constants folded where it needs them),
torch's scope names as layer paths, one node per layer (see onnxin.py for the entry points)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archcalc.errors import ArchcalcError
from archcalc.imports.ir import UNKNOWN, ImportedGraph, ImportedNode
from archcalc.imports.onnxfuse import Fusions, Item
from archcalc.imports.onnxops import ALIAS, HANDLERS, OnnxCall, Op

if TYPE_CHECKING:
    import onnx

NET_INPUT = "input"
SMALL = 4096  # constants read for their value (axes, clip bounds, a layer scale); weights are only measured


def read_model(path: Path, origin: str, shape: tuple[int, ...] | None) -> onnx.ModelProto:
    """The checked model with every shape inferred, the input's dims fixed (batch kept, or 1)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and kin: the file is not a model
        raise ArchcalcError(f"not an ONNX model: {_line(err)}", file=origin) from None
    external = _external_data(model, path, origin)
    try:  # the path form finds external data beside the file (the in-memory one looks in the cwd)
        onnx.checker.check_model(str(path) if external else model)
    except onnx.checker.ValidationError as err:
        raise ArchcalcError(f"onnx.checker: {_line(err)}", file=origin) from None
    inputs = _activation_inputs(model)
    if len(inputs) != 1:
        raise ArchcalcError(f"the graph has {len(inputs)} inputs; archcalc takes one", file=origin)
    dims = inputs[0].type.tensor_type.shape.dim
    fixed = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    if shape is None:
        if None in fixed[1:] or len(fixed) < 2:
            shown = "x".join(str(d.dim_value) if d.HasField("dim_value") else d.dim_param or "?" for d in dims[1:])
            raise ArchcalcError(f"the input {shown} has dynamic dims: give --input CxHxW", file=origin)
        shape = tuple(int(d) for d in fixed[1:] if d is not None)  # a dynamic batch alone: run it at 1
    if len(shape) != len(fixed) - 1:
        raise ArchcalcError(
            f"--input has {len(shape)} dims; the file's input has {len(fixed) - 1} per sample", file=origin
        )
    for d, size in zip(dims, [fixed[0] or 1, *shape], strict=True):
        d.Clear()
        d.dim_value = size
    return _infer_folded(model, origin)


def _external_data(model: onnx.ModelProto, path: Path, origin: str) -> bool:
    """Whether tensors are ONNX external data (weights over 2 GB, in a file beside the .onnx). Their bytes are
    never read, only their dims, except for constants of SMALL elements at most (shapes, axes), read in. The data
    file must be there all the same: onnx.checker checks it, and a file without its data is incomplete."""
    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_tensor, uses_external_data

    tensors = [t for t in all_tensors(model.graph) if uses_external_data(t)]
    for loc in sorted({ExternalDataInfo(t).location for t in tensors}):
        if not (path.parent / loc).is_file():
            raise ArchcalcError(
                f"its weights are ONNX external data in '{loc}', which is not beside it (archcalc reads only "
                "their shapes, but onnx.checker needs the file)",
                file=origin,
            )
    for t in tensors:
        if int(np.prod(t.dims)) <= SMALL:
            try:
                load_external_data_for_tensor(t, str(path.parent))
            except Exception as err:  # onnx's ValidationError, or an OSError: the data file is not the right one
                raise ArchcalcError(f"cannot read the external data of '{t.name}': {_line(err)}", file=origin) from None
    return bool(tensors)


def all_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph: its initializers and the Constant values in its nodes (and subgraphs)."""
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            yield from ([a.t] if a.HasField("t") else [])
            yield from a.tensors
            for g in [a.g] if a.HasField("g") else a.graphs:
                yield from all_tensors(g)


def _infer_folded(model: onnx.ModelProto, origin: str) -> onnx.ModelProto:
    """Shapes inferred; where some stay unknown (a Slice whose bounds torch computes from Shape, as a chunk's),
    the computable constants become initializers and inference runs again, until nothing more folds."""
    inferred = _infer(model, origin)
    for _ in range(len(model.graph.node)):
        if _all_shapes_known(inferred) or not _fold_pass(inferred):
            break
        inferred = _infer(inferred, origin)
    return inferred


def _all_shapes_known(model: onnx.ModelProto) -> bool:
    g = model.graph
    known = {v.name for v in [*g.value_info, *g.input, *g.output] if all(d.HasField("dim_value") for d in
             v.type.tensor_type.shape.dim) and v.type.tensor_type.HasField("shape")}  # fmt: skip
    read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    return all(o in known for n in g.node if n.op_type != "Constant" for o in n.output if o in read)


def _fold_pass(model: onnx.ModelProto) -> int:
    """Replace each node whose outputs are known constants (shape arithmetic) by initializers; how many."""
    from onnx import numpy_helper

    r = _Reader(model, "")
    keep, folded = [], 0
    for node in model.graph.node:
        live = [i for i in node.input if i and i not in r.const_dims]
        if live and node.op_type not in ("Shape", "Size"):
            keep.append(node)
            continue
        r.read(node)
        values = [r.consts.get(o) for o in node.output]
        if node.op_type == "Constant" or any(v is None for v in values):
            keep.append(node)
            continue
        for out, t in zip(node.output, values, strict=True):
            assert t is not None
            model.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(t), out))
        folded += 1
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return folded


def _infer(model: onnx.ModelProto, origin: str) -> onnx.ModelProto:
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as err:
        raise ArchcalcError(f"onnx shape inference failed: {_line(err)}", file=origin) from None


def _activation_inputs(model: onnx.ModelProto) -> list[Any]:
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


class _Reader(Fusions):
    def __init__(self, model: onnx.ModelProto, origin: str) -> None:
        from onnx import TensorProto, numpy_helper

        self.origin, self.to_array = origin, numpy_helper.to_array
        g = model.graph
        self.consts: dict[str, Any] = {t.name: t for t in g.initializer}  # TensorProto, or None (value not kept)
        self.const_dims: dict[str, tuple[int, ...]] = {t.name: tuple(t.dims) for t in g.initializer}
        self.shapes = {v.name: v.type.tensor_type.shape for v in [*g.input, *g.value_info, *g.output]}
        self.alias: dict[str, str] = {}
        self.items: list[Item] = []
        self.uses: dict[str, int] = {}
        self.producer = {out: node for node in g.node for out in node.output}  # onnxfuse walks chains back
        # weights, by name: torch writes a module called twice as two nodes reading the same initializers (equal
        # values of different tensors are deduplicated through Identity nodes, so they get other names)
        floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)
        self.weights = {t.name for t in g.initializer if t.data_type in floats and len(t.dims) > 0}
        for node in g.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for out in g.output:
            self.uses[out.name] = self.uses.get(out.name, 0) + 1

    def shape(self, tensor: str, node: Any) -> tuple[int, ...]:
        """The per-sample shape of an activation (the batch dim removed)."""
        proto = self.shapes.get(tensor)
        if proto is None or not proto.dim or not all(d.HasField("dim_value") for d in proto.dim):
            where = ".".join(p for p in _scope(node.name, node.op_type) if p)
            raise ArchcalcError(
                f"onnx shape inference gives no fixed shape for '{tensor}' (at {node.op_type} '{where}'); archcalc "
                "needs the shape of every activation (a graph with If/Loop or data-dependent shapes is not imported)",
                file=self.origin,
            )
        return tuple(int(d.dim_value) for d in proto.dim)[1:]

    def read(self, node: Any) -> None:
        from onnx import helper, numpy_helper

        live = [i for i in node.input if i and i not in self.const_dims]
        if node.op_type == "Constant":  # a tensor, or value_float/value_ints/... made into one
            value = helper.get_attribute_value(node.attribute[0])
            t = value if hasattr(value, "dims") else numpy_helper.from_array(np.asarray(value))
            self.consts[node.output[0]] = t
            self.const_dims[node.output[0]] = tuple(t.dims)
            return
        if not live or node.op_type in ("Shape", "Size"):  # constant arithmetic: no layer
            values = self._fold(node)
            for i, out in enumerate(node.output):
                v = values[i] if values is not None and i < len(values) else None
                self.consts[out] = None if v is None else numpy_helper.from_array(np.asarray(v))
                self.const_dims[out] = tuple(np.shape(v)) if v is not None else self._dims(out, i)
            return
        self.layer(node, live)

    def _fold(self, node: Any) -> list[Any] | None:
        """The values of a constant node's outputs (a chunk's slice bounds are computed from Shape), by onnx's
        reference evaluator; None when an input is not known or large."""
        if node.op_type in ("Shape", "Size"):
            proto = self.shapes.get(node.input[0])
            if proto is None or not all(d.HasField("dim_value") for d in proto.dim):
                return None
            dims = np.array([d.dim_value for d in proto.dim], np.int64)
            if node.op_type == "Size":
                return [np.array(np.prod(dims), np.int64)]
            attrs = {a.name: a.i for a in node.attribute}
            return [dims[attrs.get("start", 0) : attrs.get("end", len(dims))]]
        feeds = {n: self.value(n) for n in node.input if n}
        if any(v is None for v in feeds.values()) or node.domain not in ("", "ai.onnx"):
            return None
        from onnx.reference import ReferenceEvaluator

        try:
            return list(ReferenceEvaluator(node).run(None, feeds))
        except Exception:  # an op the evaluator lacks: the value stays unknown, as before
            return None

    def _dims(self, out: str, i: int) -> tuple[int, ...]:
        proto = self.shapes.get(out)
        return tuple(d.dim_value for d in proto.dim) if proto is not None else ()

    def layer(self, node: Any, live: list[str]) -> None:
        from onnx import helper

        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        call = OnnxCall(
            op_type=node.op_type,
            attrs=attrs,
            inputs=list(node.input),
            consts={i: self.value(n) for i, n in enumerate(node.input) if n in self.const_dims},
            const_dims={i: self.const_dims[n] for i, n in enumerate(node.input) if n in self.const_dims},
            shapes=[self.shape(n, node) for n in live],
            outs=[self.shape(o, node) for o in node.output if self.uses.get(o)],
            used=[bool(self.uses.get(o)) for o in node.output],
        )
        if self._fused(node, live, call):
            return
        handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        result = handler(call) if handler is not None else None
        outputs = [o for o in node.output if self.uses.get(o)]
        scope, name = _scope(node.name, node.op_type)
        source = f"onnx {node.op_type}" + (f" ({call.why})" if call.why else "")
        if result == ALIAS:
            self.alias[node.output[0]] = live[0]
            return
        results: list[Op | None] = result if isinstance(result, list) else [result] * len(outputs)
        for k, (out, res) in enumerate(zip(outputs, results, strict=False)):
            op, args = res if res is not None else (UNKNOWN, {})
            part = name if len(outputs) == 1 else f"{name}_{k}"
            held = tuple(n for n in node.input if n in self.weights) if op != UNKNOWN else ()
            self.items.append(Item(scope, part, op, args, live, out, self.shape(out, node), source, held))

    def value(self, name: str) -> np.ndarray | None:
        t = self.consts.get(name)
        if t is None or int(np.prod(t.dims)) > SMALL:
            return None
        return np.asarray(self.to_array(t))


def _scope(name: str, op_type: str) -> tuple[str, str]:
    """torch's node names: '/layer1/layer1.0/conv1/Conv' -> ('layer1.0.conv1', 'conv'); a repeated scope
    segment carries its parent's name ('layer1.0' under 'layer1'), other exporters' names are one segment."""
    parts = [p for p in name.split("/") if p] or [op_type]
    path: list[str] = []
    prev = ""
    for seg in parts[:-1]:
        path.append(seg[len(prev) + 1 :] if prev and seg.startswith(prev + ".") else seg)
        prev = seg
    return ".".join(_ident(p) for q in path for p in q.split(".")), _ident(parts[-1].lower())


def _ident(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"
    return s if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*|[0-9]+", s) else "_" + s


def capture(path: Path, origin: str, shape: tuple[int, ...] | None = None) -> ImportedGraph:
    """The ImportedGraph of an ONNX file: one node per layer, paths from the exporter's scope names."""
    model = read_model(path, origin, shape)
    r = _Reader(model, origin)
    for node in model.graph.node:
        r.read(node)
    items = r.items
    net_in = _activation_inputs(model)[0].name
    paths = _paths(items)
    producer: dict[str, str] = {net_in: NET_INPUT}
    nodes = []
    for item, p in zip(items, paths, strict=True):
        inputs = [producer[_follow(r.alias, t)] for t in item.inputs]
        producer[item.output] = p
        nodes.append(ImportedNode(p, item.op, item.args, inputs, item.shape, item.source))
    outputs = [producer[_follow(r.alias, o.name)] for o in model.graph.output]
    name = model.graph.name if model.graph.name not in ("", "main_graph", "torch_jit") else path.stem
    notes = _shared(items, nodes) + _bn_note(model, items)
    return ImportedGraph(name, _input_shape(r, net_in), nodes, outputs, origin, notes)


def _shared(items: list[Item], nodes: list[ImportedNode]) -> list[str]:
    """A layer reading the very initializers of an earlier one with the same op and args reuses its weights
    (spec 'shares': counted once). With other args (F.conv2d(x, w, stride=2) on a module's weight) they are
    counted twice, and a note says so."""
    owner: dict[tuple[str, ...], ImportedNode] = {}
    notes = []
    for item, node in zip(items, nodes, strict=True):
        first = owner.setdefault(item.weights, node) if item.weights else node
        if first is node:
            continue
        if (first.op, first.args) == (node.op, node.args):
            node.shares = first.path
        else:
            notes.append(
                f"'{node.path}' reads the weights of '{first.path}' as a {node.op} with other arguments: "
                "they are counted at both"
            )
    return notes


def _input_shape(r: _Reader, name: str) -> tuple[int, ...]:
    proto = r.shapes[name]
    return tuple(int(d.dim_value) for d in proto.dim)[1:]


def _follow(alias: dict[str, str], t: str) -> str:
    while t in alias:
        t = alias[t]
    return t


def _paths(items: list[Item]) -> list[str]:
    """A scope holding exactly one layer and nothing deeper is that layer ('layer1.0.conv1'); otherwise each
    layer is '<scope>.<op segment>' ('layer1.0.add', 'C1_act.mul_1'). Clashes get a '_k' suffix."""
    count: dict[str, int] = {}
    for item in items:
        count[item.scope] = count.get(item.scope, 0) + 1
    parents = {".".join(item.scope.split(".")[:k]) for item in items for k in range(1, item.scope.count(".") + 1)}
    paths: list[str] = []
    used: set[str] = set()
    for item in items:
        alone = item.scope and count[item.scope] == 1 and item.scope not in parents
        path = item.scope if alone else (f"{item.scope}.{item.name}" if item.scope else item.name)
        base, k = path, 1
        while path in used or path == NET_INPUT:
            path, k = f"{base}_{k}", k + 1
        used.add(path)
        paths.append(path)
    return paths


def _bn_note(model: onnx.ModelProto, items: list[Item]) -> list[str]:
    """torch's exporter folds each BatchNorm into the conv before it (eval mode): no BatchNormalization node is
    left, and the folded convs have a bias and weights named 'onnx::Conv_*' instead of the module's name."""
    if any(n.op_type == "BatchNormalization" for n in model.graph.node):
        return []
    weight = {n.output[0]: n.input[1] for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 2}
    folded = sum(1 for w in weight.values() if w.startswith("onnx::"))
    if not folded:
        return []
    return [
        f"{folded} convs look like BatchNorms folded into them on export (a bias and weights named 'onnx::Conv_*'): "
        "their params count the conv's new bias instead of the BatchNorm's 2 per channel"
    ]
