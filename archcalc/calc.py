"""The calculator: expanded nodes -> records, in forward order, with pure integer math."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.errors import ArchcalcError, ShapeError
from archcalc.expand import Node, expand
from archcalc.ops import OPS, prod
from archcalc.ops.layers import merge_add, merge_concat
from archcalc.report import Counts, Record, Report, Shape
from archcalc.spec import Spec, apply_overrides, load_spec, parse_input
from archcalc.symbolic import FAST


@dataclass
class Run:
    spec: Spec
    records: list[Record] = field(default_factory=list)
    env: dict[str, Shape] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def fail(self, err: ArchcalcError, node: Node) -> ArchcalcError:
        return err.located(file=self.spec.file, line=node.line, layer=node.path)


def analyze(
    spec_or_path: Spec | str,
    input: str | tuple[int, ...] | list[int] | None = None,
    sets: dict[str, Any] | None = None,
) -> Report:
    """Load (if needed), expand and compute a spec; every count is a Python int."""
    return resolve(spec_or_path, input, sets)[1]


def resolve(
    spec_or_path: Spec | str,
    input: str | tuple[int, ...] | list[int] | None = None,
    sets: dict[str, Any] | None = None,
) -> tuple[Node, Report]:
    """The expanded node tree and its report (the torch builder needs both)."""
    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
    params = apply_overrides(spec, sets or {})
    shape = spec.input if input is None else parse_input(list(input) if isinstance(input, tuple) else input)
    root = expand(spec, params)
    run = Run(spec)
    run.env["@in"] = shape
    out = _seq(run, root, [shape], -1)
    totals = Counts()
    for r in run.records:
        if r.kind == "layer":
            totals.add(r.counts)
    main = root.children[-1].path if root.children else "@in"
    del out
    return root, Report(
        model=spec.name,
        title=spec.title,
        source=spec.source,
        file=spec.file,
        input=shape,
        params=params,
        records=run.records,
        outputs=[main, *run.outputs],
        totals=totals,
    )


def _inputs(run: Run, node: Node, prev: Shape) -> list[Shape]:
    return [run.env[s] for s in node.sources] if node.sources else [prev]


def _run(run: Run, node: Node, xs: list[Shape], depth: int) -> Shape:
    if node.kind == "op":
        return _op(run, node, xs, depth)
    if len(xs) != 1:
        raise run.fail(ArchcalcError(f"a {node.kind} container reads one input, got {len(xs)}"), node)
    if node.kind == "parallel":
        return _parallel(run, node, xs[0], depth)
    return _seq(run, node, xs, depth)


def _block_record(run: Run, node: Node, x: Shape, depth: int) -> Record:
    rec = Record(
        node.path, node.name, node.block or node.kind, "block", depth, node.line, x, (), Counts(), block=node.block
    )
    if depth >= 0:
        run.records.append(rec)
    return rec


def _close(run: Run, rec: Record, start: int, out: Shape) -> Shape:
    rec.output_shape = out
    for r in run.records[start:]:
        if r.kind == "layer":
            rec.counts.add(r.counts)
    return out


def _seq(run: Run, node: Node, xs: list[Shape], depth: int) -> Shape:
    x = xs[0]
    rec = _block_record(run, node, x, depth)
    start = len(run.records)
    run.env[f"{node.path}@in"] = x
    if node.feed == "dense":
        return _close(run, rec, start, _dense(run, node, x, depth, rec))
    prev = x
    for child in node.children:
        out = _run(run, child, _inputs(run, child, prev), depth + 1)
        run.env[child.path] = out
        if child.side:
            run.outputs.append(child.path)
        else:
            prev = out
    return _close(run, rec, start, prev)


def _dense(run: Run, node: Node, x: Shape, depth: int, rec: Record) -> Shape:
    """Dense feed: copy i reads concat(input, out_0..out_{i-1}); the output concatenates all."""
    feats = [x]
    for child in node.children:
        inp = _merge(run, node, "concat", feats)
        out = _run(run, child, [inp], depth + 1)
        run.env[child.path] = out
        feats.append(out)
    rec.merged = feats
    return _merge(run, node, "concat", feats)


def _parallel(run: Run, node: Node, x: Shape, depth: int) -> Shape:
    rec = _block_record(run, node, x, depth)
    start = len(run.records)
    run.env[f"{node.path}@in"] = x
    outs = []
    for branch in node.children:
        out = _seq(run, branch, [x], depth + 1)
        run.env[branch.path] = out
        outs.append(out)
    rec.merged = outs
    return _close(run, rec, start, _merge(run, node, node.merge, outs))


def _merge(run: Run, node: Node, how: str, shapes: list[Shape]) -> Shape:
    try:
        out = merge_concat(shapes, FAST) if how == "concat" else merge_add(shapes, FAST)
    except ShapeError as err:
        raise run.fail(err, node) from None
    return tuple(int(d) for d in out.shape)


def _op(run: Run, node: Node, xs: list[Shape], depth: int) -> Shape:
    opdef = OPS[node.op]
    if opdef.many_inputs and len(xs) < 2:
        raise run.fail(ArchcalcError(f"{node.op} needs 'from' with two or more layers"), node)
    if not opdef.many_inputs and len(xs) != 1:
        raise run.fail(ArchcalcError(f"{node.op} reads one input; 'from' lists {len(xs)}"), node)
    if node.op == "max_unpool2d":
        _check_switches(run, node, xs[0])
    try:
        res = opdef.rule(node.args, xs if opdef.many_inputs else xs[0], FAST)
    except ShapeError as err:
        raise run.fail(err, node) from None
    shape = tuple(int(d) for d in res.shape)
    params = int(res.params)
    counts = Counts(
        params=params,
        trainable_params=params if res.trainable is None else int(res.trainable),
        buffers=int(res.buffers),
        connections=int(res.connections),
        macs=int(res.macs),
        activations=prod(shape),
    )
    inp: Shape | list[Shape] = list(xs) if opdef.many_inputs else xs[0]
    run.records.append(
        Record(
            node.path,
            node.name,
            node.op,
            "layer",
            depth,
            node.line,
            inp,
            shape,
            counts,
            opdef.summary(node.args),
            node.args,
        )
    )
    return shape


def _check_switches(run: Run, node: Node, x: Shape) -> None:
    """max_unpool2d reuses a maxpool2d's indices, so its input must have that pool's output shape."""
    pool = next((r for r in run.records if r.path == node.args["pool"]), None)
    if pool is None or pool.op != "maxpool2d":
        raise run.fail(ArchcalcError(f"pool '{node.args['pool']}' is not a maxpool2d layer"), node)
    if pool.output_shape != x:
        raise run.fail(
            ArchcalcError(
                f"input {x} does not match the switches of '{pool.path}' (its output is {pool.output_shape})"
            ),
            node,
        )
