"""A compiled spec for many input sizes: totals, output shape and memory liveness, without records.

``analyze`` builds a Record per layer with located errors; a sweep needs only totals, a thousand times.
A Plan expands the spec once, then evaluates the node tree with the same op rules (FastMath), memoising
every op by (structure, input shapes) and every *closed* container (no ``from`` reference crosses its
border) the same way, so ResNet's identical bottlenecks are computed once per input size. Totals equal
analyze()'s (tests/test_sweep.py checks every spec at several sizes).

Memory liveness (elements, batch 1) follows the order the torch builder runs the graph in:
a container's input stays alive while it runs (the caller holds it); an output lives until its last reader
(``from`` included); branch outputs live until the merge; a dense feed keeps every output plus the
concatenated input of the running copy. Ops that return their input's storage (flatten, identity,
dropout at inference, in-place ReLU) allocate nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.errors import ArchcalcError, ShapeError
from archcalc.expand import Node, expand
from archcalc.ops import OPS
from archcalc.ops.layers import merge_add, merge_concat
from archcalc.report import Shape
from archcalc.spec import Spec, apply_overrides, load_spec
from archcalc.symbolic import FAST

# ops whose torch module (eval mode) returns a view or the very same tensor
ALIAS_OPS = {"flatten", "identity", "dropout"}
N_COUNTS = 6  # params, trainable, buffers, connections, macs, activations (report.COUNT_KEYS order)


def is_alias(node: Node) -> bool:
    return node.kind == "op" and (node.op in ALIAS_OPS or (node.op == "relu" and bool(node.args.get("inplace"))))


@dataclass(slots=True, frozen=True)
class Summary:
    shape: Shape
    counts: tuple[int, ...]
    peak: int  # most elements live at once inside the node, its inputs excluded, its output included
    fresh: int  # elements of the output's own storage (0: it shares an input's storage)
    allocated: int  # every element allocated during the node (what training keeps for backward)


def _numel(shape: Shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _rel(path: str, base: str) -> str:
    """A reference as seen from ``base``: translation-invariant, so equal blocks get equal keys."""
    a, b = path.split("."), base.split(".") if base else []
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return f"{len(b) - common}^" + ".".join(a[common:])


class Plan:
    """``Plan(spec).run(shape)`` -> Summary of the whole network for that input."""

    def __init__(self, spec_or_path: Spec | str, sets: dict[str, Any] | None = None) -> None:
        self.spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
        self.root = expand(self.spec, apply_overrides(self.spec, sets or {}))
        self.keys: dict[int, int] = {}  # id(node) -> structure id
        self.closed: set[int] = set()
        self.lifetimes: dict[int, list[tuple[int, int]]] = {}  # seq id -> per child (storage owner, last use)
        self.deaths: dict[int, list[list[int]]] = {}  # seq id -> per step, the storages freed after it
        self.memo: dict[tuple[int, Any], Summary] = {}
        self._interned: dict[Any, int] = {}
        refs = list(_refs(self.root))
        self._key(self.root, refs)
        self._lifetimes(self.root, refs)

    # ---- compile ------------------------------------------------------------------------------------------
    def _key(self, node: Node, refs: list[tuple[str, str]]) -> int:
        base = node.path.rpartition(".")[0]
        srcs = tuple(_rel(s, base) for s in node.sources or ())
        if node.kind == "op":
            args = {k: (_rel(v, base) if k == "pool" else v) for k, v in node.args.items()}
            raw: Any = ("op", node.op, repr(sorted(args.items())), srcs, node.side)
        else:
            kids = tuple(self._key(c, refs) for c in node.children)
            raw = (node.kind, node.merge, node.feed, srcs, node.side, kids, tuple(c.name for c in node.children))
            if _is_closed(node, refs):
                self.closed.add(id(node))
        key = self._interned.setdefault(raw, len(self._interned))
        self.keys[id(node)] = key
        if node.kind == "op" and node.op != "max_unpool2d":
            self.closed.add(id(node))
        return key

    def _lifetimes(self, node: Node, refs: list[tuple[str, str]]) -> None:
        for child in node.children:
            self._lifetimes(child, refs)
        if node.kind != "seq" or node.feed == "dense":
            return
        n = len(node.children)
        index = {c.path: i for i, c in enumerate(node.children)}
        last = [n if c.side else -1 for c in node.children]
        prev = -1  # -1: the seq's own input
        owner: list[int] = []
        for i, child in enumerate(node.children):
            reads = [index.get(s, -1) for s in child.sources] if child.sources else [prev]
            for j in reads:
                if j >= 0:
                    last[j] = max(last[j], i)
            owner.append(reads[0] if is_alias(child) and len(reads) == 1 else i)
            if not child.side:
                prev = i
        if prev >= 0:
            last[prev] = n
        for reader, src in refs:  # references from deeper inside a later child, or from outside (escape)
            if src in index:
                j = index[src]
                i = next((k for k, c in enumerate(node.children) if _inside(reader, c.path)), n)
                last[j] = max(last[j], i)
        for i in range(n):  # an alias keeps its owner's storage alive
            o = i
            while o >= 0 and owner[o] != o:
                o = owner[o]
            owner[i] = o
            if o >= 0:
                last[o] = max(last[o], last[i])
        life = [(owner[i], last[owner[i]] if owner[i] >= 0 else -1) for i in range(n)]
        dies: list[list[int]] = [[] for _ in range(n)]
        for o, (own, end) in enumerate(life):
            if own == o and o < end < n:
                dies[end].append(o)
        self.lifetimes[id(node)] = life
        self.deaths[id(node)] = dies

    # ---- evaluate -----------------------------------------------------------------------------------------
    def run(self, shape: Shape) -> Summary:
        self.env: dict[str, Shape] = {"@in": shape}
        return self._seq(self.root, [shape])

    def _node(self, node: Node, xs: list[Shape]) -> Summary:
        nid = id(node)
        cacheable = nid in self.closed
        if cacheable:
            hit = self.memo.get((self.keys[nid], xs[0] if len(xs) == 1 else tuple(xs)))
            if hit is not None:
                return hit
        if node.kind == "op":
            out = self._op(node, xs)
        elif len(xs) != 1:
            raise ArchcalcError(f"a {node.kind} container reads one input, got {len(xs)}", layer=node.path)
        elif node.kind == "parallel":
            out = self._parallel(node, xs[0])
        else:
            out = self._seq(node, xs)
        if cacheable:
            self.memo[(self.keys[nid], xs[0] if len(xs) == 1 else tuple(xs))] = out
        return out

    def _op(self, node: Node, xs: list[Shape]) -> Summary:
        opdef = OPS[node.op]
        if (opdef.many_inputs and len(xs) < 2) or (not opdef.many_inputs and len(xs) != 1):
            raise ArchcalcError(f"{node.op}: wrong number of inputs ({len(xs)})", layer=node.path)
        if node.op == "max_unpool2d" and self.env.get(node.args["pool"]) != xs[0]:
            raise ArchcalcError("max_unpool2d input does not match its pool's switches", layer=node.path)
        try:
            res = opdef.rule(node.args, xs if opdef.many_inputs else xs[0], FAST)
        except ShapeError as err:
            raise err.located(layer=node.path) from None
        shape = tuple(int(d) for d in res.shape)
        size = _numel(shape)
        params = int(res.params)
        trainable = params if res.trainable is None else int(res.trainable)
        counts = (params, trainable, int(res.buffers), int(res.connections), int(res.macs), size)
        if is_alias(node):
            return Summary(shape, counts, 0, 0, 0)
        extra = size if node.op == "add" and len(xs) > 2 else 0  # a + b + c: the old partial sum is alive too
        return Summary(shape, counts, size + extra, size, size + extra)

    def _seq(self, node: Node, xs: list[Shape]) -> Summary:
        x = xs[0]
        self.env[f"{node.path}@in"] = x
        if node.feed == "dense":
            return self._dense(node, x)
        life, dies = self.lifetimes[id(node)], self.deaths[id(node)]
        parts: list[tuple[int, ...]] = []
        sizes: list[int] = []
        live = peak = allocated = 0
        prev, last = x, -1
        for i, child in enumerate(node.children):
            ins = [self.env[s] for s in child.sources] if child.sources else [prev]
            s = self._node(child, ins)
            self.env[child.path] = s.shape
            peak = max(peak, live + s.peak)
            sizes.append(s.fresh)
            own, end = life[i]
            if own == i and end > i:
                live += s.fresh
            for o in dies[i]:
                live -= sizes[o]
            allocated += s.allocated
            parts.append(s.counts)
            if not child.side:
                prev, last = s.shape, i
        fresh = sizes[life[last][0]] if last >= 0 and life[last][0] >= 0 else 0
        return Summary(prev, _total(parts), peak, fresh, allocated)

    def _parallel(self, node: Node, x: Shape) -> Summary:
        self.env[f"{node.path}@in"] = x
        parts: list[tuple[int, ...]] = []
        outs: list[Shape] = []
        held = peak = allocated = 0
        for branch in node.children:
            s = self._seq(branch, [x])
            self.env[branch.path] = s.shape
            peak = max(peak, held + s.peak)
            held += s.fresh
            allocated += s.allocated
            outs.append(s.shape)
            parts.append(s.counts)
        shape = self._merge(node, node.merge, outs)
        size = _numel(shape)
        extra = size if node.merge == "add" and len(outs) > 2 else 0
        peak = max(peak, held + size + extra)
        return Summary(shape, _total(parts), peak, size, allocated + size + extra)

    def _dense(self, node: Node, x: Shape) -> Summary:
        parts: list[tuple[int, ...]] = []
        feats = [x]
        held = peak = allocated = 0
        for child in node.children:
            inp = self._merge(node, "concat", feats)
            cat = _numel(inp)
            s = self._node(child, [inp])
            self.env[child.path] = s.shape
            peak = max(peak, held + cat + s.peak)
            held += s.fresh
            allocated += cat + s.allocated
            feats.append(s.shape)
            parts.append(s.counts)
        shape = self._merge(node, "concat", feats)
        size = _numel(shape)
        return Summary(shape, _total(parts), max(peak, held + size), size, allocated + size)

    def _merge(self, node: Node, how: str, shapes: list[Shape]) -> Shape:
        try:
            out = merge_concat(shapes, FAST) if how == "concat" else merge_add(shapes, FAST)
        except ShapeError as err:
            raise err.located(layer=node.path) from None
        return tuple(int(d) for d in out.shape)


def _total(parts: list[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(map(sum, zip(*parts, strict=False))) if parts else (0,) * N_COUNTS


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + ".") or path == root + "@in"


def _refs(node: Node) -> Any:
    """(reader path, source path) for every ``from`` and every unpool's pool."""
    for s in node.sources or ():
        yield node.path, s
    if node.kind == "op" and node.op == "max_unpool2d":
        yield node.path, node.args["pool"]
    for child in node.children:
        yield from _refs(child)


def _is_closed(node: Node, refs: list[tuple[str, str]]) -> bool:
    """No reference crosses the border: everything read inside is inside, nothing inside is read from outside
    (reading the node's own output from outside is fine; reading its input by name is not)."""
    root = node.path
    if not root:
        return False
    for reader, src in refs:
        if reader == root:  # the node's own 'from' only selects its input
            continue
        r_in = reader.startswith(root + ".")
        s_in = src.startswith(root + ".") or src == root + "@in"
        if r_in != s_in:
            return False
    return True
