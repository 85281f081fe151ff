"""A compiled spec for many input sizes: totals, output shape and memory liveness, without records.

``analyze`` builds a Record per layer; a sweep needs only totals, a thousand times. A ``SizePlan`` lowers the
spec once, then runs ``SizePass`` over its graph with the same op rules and the same located errors as
``table`` (calc.py's helpers). Every layer is memoised by (op key, input shapes) and every *closed* scope (no
edge crosses its border except its input and its output) by (structural key, input shape): a hit jumps over
the whole scope (``Interpreter.skip``), so ResNet's identical bottlenecks are computed once per input size.
The tables this needs (keys, closedness, lifetimes) are computed once from the graph's edges, in
O(n log n): see liveness.py.

Memory liveness (elements, batch 1) follows the order the torch builder runs the graph in:
a container's input stays alive while it runs (the caller holds it); an output lives until its last reader
(``from`` included); side outputs live until the end of their list; branch outputs live until the merge; a
dense feed keeps every output plus the concatenated input of the running copy (its bus). Ops that return
their input's storage (``OpDef.alias``: flatten, identity, dropout at inference, in-place ReLU) allocate
nothing and extend their owner's life; ``add`` of more than two inputs allocates one extra partial sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archcalc.analysis.liveness import DENSE, PARALLEL, SEQ, ScopeTable, Tables, tables
from archcalc.analysis.records import bus_shape, check_refs, compile_spec, merge_shape, rule_result, shared
from archcalc.analysis.report import Shape, gc_paused
from archcalc.frontend.spec import Spec
from archcalc.graph.interp import Interpreter
from archcalc.graph.ir import GNode, Graph
from archcalc.ops import prod

N_COUNTS = 6  # params, trainable, buffers, connections, macs, activations (report.COUNT_KEYS order)


@dataclass(slots=True)
class Summary:  # never mutated once made (it is memoised); not frozen, which makes creation 3x slower
    shape: Shape
    counts: tuple[int, ...]
    peak: int  # most elements live at once inside the node, its inputs excluded, its output included
    fresh: int  # elements of the output's own storage (0: it shares an input's storage)
    allocated: int  # every element allocated during the node (what training keeps for backward)


class _Frame:
    """One running scope: its counters (``live``: elements it holds between its entries' steps)."""

    __slots__ = ("allocated", "cur", "live", "parts", "peak", "sizes", "table", "x")

    def __init__(self, table: ScopeTable, x: Shape) -> None:
        self.table, self.x = table, x
        self.parts: list[tuple[int, ...]] = []
        self.peak = self.live = self.allocated = 0
        self.sizes = [0] * table.n  # a chain: each entry's own storage
        self.cur = prod(x) if table.kind == DENSE else 0  # dense: the running bus; branches: the merge

    def step(self, i: int, s: Summary) -> None:
        """Entry ``i`` of this scope has run and produced ``s``."""
        raise NotImplementedError

    def finish(self, shape: Shape) -> Summary:
        raise NotImplementedError

    def counts(self) -> tuple[int, ...]:
        return tuple(map(sum, zip(*self.parts, strict=False))) if self.parts else (0,) * N_COUNTS


class _Chain(_Frame):
    """A chain: an entry's storage is held from its step to the step of its last reader."""

    __slots__ = ()

    def step(self, i: int, s: Summary) -> None:
        t, live, fresh = self.table, self.live, s.fresh
        if live + s.peak > self.peak:
            self.peak = live + s.peak
        self.sizes[i] = fresh
        if t.keep[i]:
            live += fresh
        dies = t.dies[i]
        if dies:
            sizes = self.sizes
            for o in dies:
                live -= sizes[o]
        self.live = live
        self.allocated += s.allocated
        self.parts.append(s.counts)

    def finish(self, shape: Shape) -> Summary:
        owner = self.table.out_owner
        return Summary(shape, self.counts(), self.peak, self.sizes[owner] if owner >= 0 else 0, self.allocated)


class _Dense(_Frame):
    """A dense feed: every output is held to the end; the bus an entry reads is alive (and allocated) for it."""

    __slots__ = ()

    def step(self, i: int, s: Summary) -> None:
        self.peak = max(self.peak, self.live + self.cur + s.peak)
        self.live += s.fresh
        self.allocated += self.cur + s.allocated
        self.parts.append(s.counts)

    def finish(self, shape: Shape) -> Summary:  # the final concat, beside every held output
        size = self.cur
        return Summary(shape, self.counts(), max(self.peak, self.live + size), size, self.allocated + size)


class _Branches(_Frame):
    """Parallel branches: each output is held until the merge."""

    __slots__ = ()

    def step(self, i: int, s: Summary) -> None:
        if self.live + s.peak > self.peak:
            self.peak = self.live + s.peak
        self.live += s.fresh
        self.allocated += s.allocated
        self.parts.append(s.counts)

    def finish(self, shape: Shape) -> Summary:
        return Summary(shape, self.counts(), self.peak, self.cur, self.allocated)


FRAMES: dict[str, type[_Frame]] = {SEQ: _Chain, DENSE: _Dense, PARALLEL: _Branches}


class SizePass(Interpreter[Shape]):
    """Totals and liveness of one input size; the memos persist across ``summary`` calls."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        self.t: Tables = tables(graph)
        self.pos = self.t.pos
        # one memo per key (input shape(s) -> Summary), shared by every scope or layer with that key
        self.memos: dict[tuple[str, int], dict[Any, Summary]] = {}
        self.scope_runs = [(t, FRAMES[t.kind], self._memo("scope", t.key) if t.closed else None) for t in self.t.scopes]
        self.layer_memo = [self._memo("layer", k) if k >= 0 else {} for k in self.t.layer_keys]
        self.frames: list[_Frame] = []
        self.result: Summary | None = None

    def _memo(self, kind: str, key: int) -> dict[Any, Summary]:
        return self.memos.setdefault((kind, key), {})

    def clear(self) -> None:
        """Forget every memoised result (benchmarks start cold)."""
        for memo in self.memos.values():
            memo.clear()

    @gc_paused
    def summary(self, shape: Shape) -> Summary:
        self.frames = []
        self.run(shape)
        assert self.result is not None
        return self.result

    def enter(self, node: GNode, args: Sequence[Shape]) -> Shape:
        x = args[0]
        table, frame, memo = self.scope_runs[node.scope]
        if memo is not None:
            hit = memo.get(x)
            if hit is not None:
                self.frames[-1].step(table.pos, hit)
                self.skip(node.scope, hit.shape)
                return x
        self.frames.append(frame(table, x))
        return x

    def exit(self, node: GNode, args: Sequence[Shape]) -> Shape:
        frame = self.frames.pop()
        s = frame.finish(args[0])
        table, _, memo = self.scope_runs[node.scope]
        if memo is not None:
            memo[frame.x] = s
        if self.frames:
            self.frames[-1].step(table.pos, s)
        else:
            self.result = s
        return args[0]

    def layer(self, node: GNode, args: Sequence[Shape]) -> Shape:
        i = node.index
        if node.refs:  # checked on every run: the referenced pool's shape is not part of the memo key
            check_refs(self.graph, node, args[0], self.env)
        memo = self.layer_memo[i]
        xs = args[0] if len(args) == 1 else tuple(args)
        s = memo.get(xs)
        if s is None:
            s = memo[xs] = self._layer(node, args)
        self.frames[-1].step(self.pos[i], s)
        return s.shape

    def _layer(self, node: GNode, args: Sequence[Shape]) -> Summary:
        shape, counts = rule_result(self.graph, node, args)
        if node.shares >= 0:
            counts = shared(self.graph, node, counts, self.env)
        if self.t.alias[node.index]:
            return Summary(shape, counts, 0, 0, 0)
        size = counts[5]
        extra = (
            size if node.op in ("add", "mul") and len(args) > 2 else 0
        )  # a + b + c: the old partial sum is alive too
        return Summary(shape, counts, size + extra, size, size + extra)

    def merge(self, node: GNode, args: Sequence[Shape]) -> Shape:
        shape = merge_shape(self.graph, node, node.op, args)
        frame = self.frames[-1]
        size = prod(shape)
        extra = size if frame.table.add3 else 0
        frame.peak = max(frame.peak, frame.live + size + extra)
        frame.allocated += size + extra
        frame.cur = size
        return shape

    def bus(self, node: GNode, args: Sequence[Shape]) -> Shape:
        shape = bus_shape(self.graph, node, self.env, args)
        self.frames[-1].cur = prod(shape)
        return shape


class SizePlan:
    """``SizePlan(spec).run(shape)`` -> Summary of the whole network for that input."""

    def __init__(self, spec_or_path: Spec | str, sets: dict[str, Any] | None = None) -> None:
        self.spec, _, graph = compile_spec(spec_or_path, sets)
        self.sets = dict(sets or {})
        self.graph = graph
        self.sizes = SizePass(graph)

    def run(self, shape: Shape) -> Summary:
        return self.sizes.summary(shape)

    def clear(self) -> None:
        """Forget every memoised result (benchmarks start cold)."""
        self.sizes.clear()
