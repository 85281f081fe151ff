"""The records pass: shapes and counts of every node, in graph order, with pure integer math.

Loading, expansion and lowering happen once in ``resolve``; this pass (``ShapeProp``) runs each layer's
op rule on its input shapes and keeps one Record per layer and per scope, with subtotals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archcalc.analysis.report import Counts, Record, Report, Shape, gc_paused
from archcalc.errors import ArchcalcError, ShapeError
from archcalc.frontend.expand import expand
from archcalc.frontend.spec import Spec, apply_overrides, load_spec, parse_input
from archcalc.graph.interp import Interpreter
from archcalc.graph.ir import GNode, Graph
from archcalc.graph.lower import lower
from archcalc.ops import OPS, prod
from archcalc.ops.layers import MERGES
from archcalc.ops.opaque import OPAQUE
from archcalc.ops.symbolic import FAST

InputArg = str | tuple[int, ...] | list[int] | None


def analyze(
    spec_or_path: Spec | str | Any, input: InputArg = None, sets: dict[str, Any] | None = None, **overrides: Any
) -> Report:
    """Load (if needed), expand, lower and compute a spec; every count is a Python int. An ``nn.Module`` (or a
    module target ``pkg.module:attr``) is captured with torch.fx at ``input`` (C, H, W) first.

    ``sets`` and keyword ``overrides`` both set spec params (``analyze("lenet5", num_classes=5)``).
    """
    return resolve(spec_or_path, input, {**(sets or {}), **overrides})[1]


@gc_paused
def compile_spec(
    spec_or_path: Spec | str | Any, sets: dict[str, Any] | None = None, input: InputArg = None
) -> tuple[Spec, dict[str, Any], Graph]:
    """The validated spec, its params after ``sets``, and its graph (no shapes yet); an nn.Module or a module
    target (``pkg.module:attr``) is captured at ``input``."""
    spec = _load(spec_or_path, input)
    params = apply_overrides(spec, sets or {})
    return spec, params, lower(expand(spec, params), spec.name, spec.file)


@gc_paused
def resolve(
    spec_or_path: Spec | str | Any, input: InputArg = None, sets: dict[str, Any] | None = None
) -> tuple[Graph, Report]:
    """The graph and its report (the torch builder and the other passes need both)."""
    spec, params, graph = compile_spec(spec_or_path, sets, input)
    shape = spec.input if input is None else parse_input(list(input) if isinstance(input, tuple) else input)
    prop = ShapeProp(graph)
    prop.run(shape)
    assert prop.top is not None
    return graph, Report(
        model=spec.name,
        title=spec.title,
        source=spec.source,
        file=spec.origin,
        input=shape,
        params=params,
        records=prop.records,
        outputs=[_output_name(graph, i) for i in graph.outputs],
        totals=prop.top.counts,
        output_shape=prop.env[graph.output] or (),
        graph=graph,
    )


def _load(spec_or_path: Spec | str | Any, input: InputArg) -> Spec:
    if isinstance(spec_or_path, Spec):
        return spec_or_path
    if isinstance(spec_or_path, str):
        return load_spec(spec_or_path, input=input)
    from archcalc.imports.torchload import module_spec  # an nn.Module (torch is imported only here)

    return module_spec(spec_or_path, input)


def _output_name(graph: Graph, index: int) -> str:
    """The path that names an output: the network's is its last entry (the root scope has no name)."""
    node = graph.nodes[index]
    return graph.nodes[node.inputs[0]].path if index == graph.output else node.path


def located(graph: Graph, node: GNode, err: ArchcalcError) -> ArchcalcError:
    path, line = graph.where(node)
    return err.located(file=graph.file, line=line, layer=path or None)


def merge_shape(graph: Graph, node: GNode, how: str, shapes: Sequence[Shape]) -> Shape:
    try:
        out = MERGES[how](shapes, FAST)
    except ShapeError as err:
        raise located(graph, node, err) from None
    return tuple(int(d) for d in out.shape)


def bus_shape(graph: Graph, node: GNode, env: Sequence[Shape | None], args: Sequence[Shape]) -> Shape:
    """A dense bus: concat(previous bus, newest output); on a mismatch, report every feature so far."""
    prev, new = args
    if len(new) == len(prev) > 0 and new[1:] == prev[1:]:
        return (prev[0] + new[0], *prev[1:])
    scope = graph.scopes[node.scope]
    feats = [env[i] for i in scope.merged if env[i] is not None and i <= node.index]
    return merge_shape(graph, node, "concat", feats)  # type: ignore[arg-type]


def rule_result(graph: Graph, node: GNode, xs: Sequence[Shape]) -> tuple[Shape, tuple[int, ...]]:
    """Run a layer's op rule: its output shape and the Counts values in field order."""
    opdef = OPS[node.op]
    if node.op == OPAQUE:  # any inputs: its shape is the captured one (its rule checks the first)
        xs = xs[:1]
    if opdef.many_inputs and len(xs) < 2:
        raise located(graph, node, ArchcalcError(f"{node.op} needs 'from' with two or more layers"))
    if not opdef.many_inputs and len(xs) != 1:
        raise located(graph, node, ArchcalcError(f"{node.op} reads one input; 'from' lists {len(xs)}"))
    try:
        res = opdef.rule(node.args, list(xs) if opdef.many_inputs else xs[0], FAST)
    except ShapeError as err:
        raise located(graph, node, err) from None
    shape = tuple(int(d) for d in res.shape)
    params = int(res.params)
    trainable = params if res.trainable is None else int(res.trainable)
    values = (params, trainable, int(res.buffers), int(res.connections), int(res.macs), prod(shape))
    return shape, values


def shared(graph: Graph, node: GNode, values: tuple[int, ...], env: Sequence[Shape | None]) -> tuple[int, ...]:
    """A layer reusing another's weights (spec 'shares'): they count at their owner, so 0 here; its MACs and
    activations count per call. The weights must fit: the owner's rule gives the same counts at its input."""
    owner = graph.nodes[node.shares]
    xs = [env[i] for i in owner.inputs]
    if all(x is not None for x in xs):  # (a memoised scope of the sweep may have skipped the owner)
        own = rule_result(graph, owner, xs)[1]  # type: ignore[arg-type]
        if own[0] == own[2] == 0:
            msg = f"'shares: {owner.path}': a {owner.op} layer has no weights to reuse; leave 'shares' out"
            raise located(graph, node, ArchcalcError(msg))
        if own[:3] != values[:3]:
            msg = (
                f"reuses the weights of '{owner.path}' ({own[0]:,} params, {own[2]:,} buffers), but its input "
                f"needs {values[0]:,} params, {values[2]:,} buffers"
            )
            raise located(graph, node, ArchcalcError(msg))
    return (0, 0, 0, *values[3:])


def check_refs(graph: Graph, node: GNode, x: Shape, env: Sequence[Shape | None]) -> None:
    """max_unpool2d reuses a maxpool2d's indices, so its input must have that pool's output shape."""
    for ref in node.refs.values():
        pool = graph.nodes[ref]
        if pool.op != "maxpool2d":
            raise located(graph, node, ArchcalcError(f"pool '{pool.path}' is not a maxpool2d layer"))
        if env[ref] != x:
            msg = f"input {x} does not match the switches of '{pool.path}' (its output is {env[ref]})"
            raise located(graph, node, ArchcalcError(msg))
        _check_unpool_size(graph, node, x, env[pool.inputs[0]])


def _check_unpool_size(graph: Graph, node: GNode, x: Shape, before: Shape | None) -> None:
    """torch's switches index the pool's input plane; a smaller unpool output makes most of them invalid
    ("invalid max index" on real data), so the unpool must land on exactly that size."""
    try:
        out = OPS[node.op].rule(node.args, x, FAST).shape
    except ShapeError:
        return  # the rule itself reports it, located, when the layer runs
    if before is not None and tuple(int(d) for d in out[1:]) != tuple(before[1:]):
        size = "x".join(str(d) for d in before[1:])
        got = "x".join(str(int(d)) for d in out[1:])
        msg = f"unpooling gives {got}, but the pool's switches index a {size} input; set output_size: [{size.replace('x', ', ')}]"
        raise located(graph, node, ArchcalcError(msg))


class ShapeProp(Interpreter[Shape]):
    """Records and subtotals: a scope's record opens at its 'in' node and closes at its 'out' node."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.records: list[Record] = []
        self.open: list[Record] = []  # innermost last: a layer adds to it, a closing scope adds to its parent
        self.top: Record | None = None
        self.done: dict[tuple[Any, ...], tuple[Shape, tuple[int, ...]]] = {}

    def enter(self, node: GNode, args: Sequence[Shape]) -> Shape:
        s = self.graph.scopes[node.scope]
        x = args[0]
        rec = Record(s.path, s.name, s.block or s.kind, "block", s.depth, s.line, x, (), Counts(), block=s.block)
        rec.flat = s.flat
        rec.parent = self.open[-1].path if self.open else ""
        rec.derived = s.derived
        if s.depth >= 0:
            self.records.append(rec)
        else:
            self.top = rec
        self.open.append(rec)
        return x

    def exit(self, node: GNode, args: Sequence[Shape]) -> Shape:
        rec = self.open.pop()
        rec.output_shape = args[0]
        s = self.graph.scopes[node.scope]
        if s.merged:
            rec.merged = [self.env[i] for i in s.merged]  # type: ignore[misc]
        if self.open:
            self.open[-1].counts.add(rec.counts)
        return args[0]

    def merge(self, node: GNode, args: Sequence[Shape]) -> Shape:
        return merge_shape(self.graph, node, node.op, args)

    def bus(self, node: GNode, args: Sequence[Shape]) -> Shape:
        return bus_shape(self.graph, node, self.env, args)

    def layer(self, node: GNode, args: Sequence[Shape]) -> Shape:
        opdef = OPS[node.op]
        if node.refs:
            check_refs(self.graph, node, args[0], self.env)
        memo = (node.key, *args) if node.key is not None else None
        hit = self.done.get(memo) if memo is not None else None
        if hit is None:
            hit = rule_result(self.graph, node, args)
            if memo is not None:
                self.done[memo] = hit
        shape, values = hit
        if node.shares >= 0:
            values = shared(self.graph, node, values, self.env)
        counts = Counts(*values)
        self.open[-1].counts.add(counts)
        inp: Shape | list[Shape] = list(args) if opdef.many_inputs else args[0]
        s = self.graph.scopes[node.scope]
        rec = Record(node.path, node.name, node.op, "layer", s.inner_depth, node.line, inp, shape, counts, node.args)
        rec.parent = s.path
        rec.derived = node.derived
        if node.shares >= 0:
            rec.shares = self.graph.nodes[node.shares].path
        if node.op == OPAQUE:  # its counts are unknown, and so is every subtotal above it
            rec.unknown = True
            for block in self.open:
                block.unknown = True
        self.records.append(rec)
        return shape
