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
    # the block records still open, innermost last: each layer adds its counts to the innermost one only
    # and a block adds its subtotal to its parent when it closes, so subtotals cost O(n), not O(n x depth)
    open: list[Record] = field(default_factory=list)
    top: Record | None = None  # the root's block record (not listed in records)
    # (node.key, input shapes) -> (output shape, counts, summary): repeated blocks repeat identical layers
    done: dict[tuple[Any, ...], tuple[Shape, tuple[int, ...], str]] = field(default_factory=dict)

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
    assert run.top is not None  # _seq made the root's record
    totals = run.top.counts  # the root's subtotal: the sum over every layer record
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
    elif run.top is None:
        run.top = rec
    run.open.append(rec)
    return rec


def _close(run: Run, rec: Record, out: Shape) -> Shape:
    rec.output_shape = out
    run.open.pop()
    if run.open:
        run.open[-1].counts.add(rec.counts)
    return out


def _seq(run: Run, node: Node, xs: list[Shape], depth: int) -> Shape:
    x = xs[0]
    rec = _block_record(run, node, x, depth)
    run.env[f"{node.path}@in"] = x
    if node.feed == "dense":
        return _close(run, rec, _dense(run, node, x, depth, rec))
    prev = x
    for child in node.children:
        out = _run(run, child, _inputs(run, child, prev), depth + 1)
        run.env[child.path] = out
        if child.side:
            run.outputs.append(child.path)
        else:
            prev = out
    return _close(run, rec, prev)


def _dense(run: Run, node: Node, x: Shape, depth: int, rec: Record) -> Shape:
    """Dense feed: copy i reads concat(input, out_0..out_{i-1}); the output concatenates all."""
    feats = [x]
    channels = x[0] if x else 0
    for child in node.children:
        # the concat of feats so far, kept incrementally: merge_concat over the whole list made a dense
        # block quadratic; a mismatch still goes through _merge, for its error message
        last = feats[-1]
        ok = len(last) == len(x) > 0 and last[1:] == x[1:]
        inp = (channels, *x[1:]) if ok else _merge(run, node, "concat", feats)
        out = _run(run, child, [inp], depth + 1)
        channels += out[0] if out else 0
        run.env[child.path] = out
        feats.append(out)
    rec.merged = feats
    return _merge(run, node, "concat", feats)


def _parallel(run: Run, node: Node, x: Shape, depth: int) -> Shape:
    rec = _block_record(run, node, x, depth)
    run.env[f"{node.path}@in"] = x
    outs = []
    for branch in node.children:
        out = _seq(run, branch, [x], depth + 1)
        run.env[branch.path] = out
        outs.append(out)
    rec.merged = outs
    return _close(run, rec, _merge(run, node, node.merge, outs))


def _merge(run: Run, node: Node, how: str, shapes: list[Shape]) -> Shape:
    try:
        out = merge_concat(shapes, FAST) if how == "concat" else merge_add(shapes, FAST)
    except ShapeError as err:
        raise run.fail(err, node) from None
    return tuple(int(d) for d in out.shape)


def _op(run: Run, node: Node, xs: list[Shape], depth: int) -> Shape:
    opdef = OPS[node.op]
    memo = (node.key, *xs) if node.key is not None else None
    hit = run.done.get(memo) if memo is not None else None
    if hit is None:
        hit = _rule(run, node, opdef, xs)
        if memo is not None:
            run.done[memo] = hit
    shape, values, summary = hit
    counts = Counts(*values)
    run.open[-1].counts.add(counts)
    inp: Shape | list[Shape] = list(xs) if opdef.many_inputs else xs[0]
    run.records.append(
        Record(node.path, node.name, node.op, "layer", depth, node.line, inp, shape, counts, summary, node.args)
    )
    return shape


def _rule(run: Run, node: Node, opdef: Any, xs: list[Shape]) -> tuple[Shape, tuple[int, ...], str]:
    """Run the op's rule: output shape, the Counts values in field order, and the summary."""
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
    trainable = params if res.trainable is None else int(res.trainable)
    values = (params, trainable, int(res.buffers), int(res.connections), int(res.macs), prod(shape))
    return shape, values, opdef.summary(node.args)


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
