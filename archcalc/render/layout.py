"""Where each box of ``archcalc draw`` goes: a pass over the graph's series-parallel structure.

A scope's nodes are a contiguous range, so a ``seq`` scope stacks its children top to bottom and a
``parallel`` scope puts its branches side by side above their merge; no general graph-layout search is
needed. A dense feed's bus nodes sit in the stack between its layers, so the running concatenation is one
chain of edges (linear) rather than n^2 arrows. Edges are routed afterwards (``route``). This module
returns geometry only; ``render/svg.py`` writes it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archcalc.analysis.report import Record, Report
from archcalc.graph.ir import BUS, LAYER, MERGE, Graph, Scope

BOX_W, BOX_H, SMALL_W, SMALL_H = 200.0, 32.0, 64.0, 18.0
VGAP, HGAP, PAD, LABEL = 16.0, 14.0, 6.0, 13.0
INPUT = "input"


@dataclass(slots=True)
class Box:
    key: str  # a record path, "input", or a merge/bus node's path
    kind: str  # input | layer | block | merge | bus
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]
    record: Record | None = None
    slab: bool = False  # maps: a pointwise layer, drawn as a thin slab with its name along it

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(slots=True)
class Frame:
    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass(slots=True)
class Edge:
    src: str
    dst: str
    points: list[tuple[float, float]] = field(default_factory=list)
    bus: bool = False


@dataclass(slots=True)
class Part:
    """A laid-out piece, in its own coordinates from (0, 0)."""

    w: float
    h: float
    boxes: list[Box] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)

    def place(self, into: Part, dx: float, dy: float) -> None:
        for b in self.boxes:
            b.x += dx
            b.y += dy
            into.boxes.append(b)
        for f in self.frames:
            f.x += dx
            f.y += dy
            into.frames.append(f)


def collapsed(scope: Scope, depth: int | None) -> bool:
    """As ``table --depth``: a (non-flat) block on the deepest shown level is one box with its subtotals."""
    return depth is not None and scope.depth >= 0 and not scope.flat and scope.depth >= depth - 1


def children(graph: Graph, scope: Scope) -> list[tuple[str, int]]:
    """A scope's direct units in order: ('node', i) for its own layers, merges and buses; ('scope', s)."""
    units: list[tuple[str, int]] = []
    i = scope.enter + 1
    while i < scope.exit:
        node = graph.nodes[i]
        if node.scope != scope.index:
            inner = graph.scopes[node.scope]
            units.append(("scope", inner.index))
            i = inner.exit + 1
            continue
        if node.role in (LAYER, MERGE, BUS):
            units.append(("node", i))
        i += 1
    return units


class GraphLayout:
    """Boxes and frames for every visible unit, and ``owner``: the box each graph node's value lives in."""

    def __init__(self, report: Report, depth: int | None, lines: LineMaker) -> None:
        self.report, self.graph, self.depth, self.lines = report, report.graph, depth, lines
        self.owner: list[str] = [INPUT] * len(self.graph.nodes)
        self.sources: dict[str, list[int]] = {}  # box key -> graph nodes whose values it reads

    def run(self) -> Part:
        graph = self.graph
        top = Part(BOX_W, BOX_H, [Box(INPUT, "input", 0, 0, BOX_W, BOX_H, self.lines.input(self.report))])
        body = self.scope(graph.scopes[0])
        whole = Part(max(top.w, body.w), top.h + VGAP + body.h)
        top.place(whole, (whole.w - top.w) / 2, 0)
        body.place(whole, (whole.w - body.w) / 2, top.h + VGAP)
        return whole

    def _alias(self, i: int) -> None:
        node = self.graph.nodes[i]
        if node.inputs:
            self.owner[i] = self.owner[node.inputs[0]]

    def scope(self, scope: Scope) -> Part:
        self._alias(scope.enter)
        units = children(self.graph, scope)
        parts = [self.unit(kind, i) for kind, i in units]
        self._alias(scope.exit)
        if scope.kind == "parallel":
            branches = [p for (kind, _), p in zip(units, parts, strict=True) if kind == "scope"]
            merges = [p for (kind, _), p in zip(units, parts, strict=True) if kind == "node"]
            part = self.side_by_side(branches, merges)
        else:
            part = self.stack(self.sides_beside(units, parts))
        if scope.depth >= 0 and not scope.flat and (scope.block or scope.dense or scope.kind == "parallel"):
            part = self.framed(part, f"{scope.name}" + (f" ({scope.block})" if scope.block else ""))
        return part

    def sides_beside(self, units: list[tuple[str, int]], parts: list[Part]) -> list[Part]:
        """A side output (an auxiliary head) goes to the right of the entry it reads, off the main column."""
        sides = set(self.graph.outputs[1:])
        out: list[Part] = []
        for (kind, i), part in zip(units, parts, strict=True):
            end = self.graph.scopes[i].exit if kind == "scope" else i
            if end in sides and out and part.boxes:
                prev = out.pop()
                row = Part(prev.w + 2 * HGAP + part.w, max(prev.h, part.h))
                prev.place(row, 0, 0)
                part.place(row, prev.w + 2 * HGAP, 0)
                part = row
            out.append(part)
        return out

    def unit(self, kind: str, i: int) -> Part:
        graph = self.graph
        if kind == "scope":
            s = graph.scopes[i]
            empty = all(graph.nodes[j].role != LAYER for j in range(s.enter, s.exit + 1))  # an identity: an alias
            if empty or not collapsed(s, self.depth):
                return self.scope(s)
            rec = self.report[s.path]
            for j in range(s.enter, s.exit + 1):
                self.owner[j] = s.path
            outside = {k for j in range(s.enter, s.exit + 1) for k in graph.nodes[j].inputs if k < s.enter}
            self.sources[s.path] = sorted(outside)
            return self.box(Box(s.path, "block", 0, 0, BOX_W, BOX_H, self.lines.block(rec), rec))
        node = graph.nodes[i]
        self.owner[i] = node.path
        self.sources[node.path] = list(node.inputs)
        if node.role == LAYER:
            rec = self.report[node.path]
            return self.box(Box(node.path, "layer", 0, 0, BOX_W, BOX_H, self.lines.layer(rec), rec))
        label = {"add": "+ add", "mul": "x mul"}.get(node.op, node.op)
        return self.box(Box(node.path, node.role, 0, 0, SMALL_W, SMALL_H, (label,)))

    @staticmethod
    def box(b: Box) -> Part:
        return Part(b.w, b.h, [b])

    @staticmethod
    def stack(parts: list[Part]) -> Part:
        shown = [p for p in parts if p.boxes]
        w = max((p.w for p in parts), default=0.0)
        whole = Part(w, 0.0)
        for p in shown:
            p.place(whole, (w - p.w) / 2, whole.h)
            whole.h += p.h + VGAP
        whole.h = max(whole.h - VGAP, 0.0)
        return whole

    def side_by_side(self, branches: list[Part], merges: list[Part]) -> Part:
        """Branches left to right (an empty branch, an identity, keeps a narrow lane), then the merge below."""
        widths = [p.w if p.boxes else 2 * HGAP for p in branches]
        row = Part(sum(widths) + HGAP * max(len(branches) - 1, 0), max((p.h for p in branches), default=0.0))
        x = 0.0
        for p, w in zip(branches, widths, strict=True):
            p.place(row, x + (w - p.w) / 2, 0)
            x += w + HGAP
        return self.stack([row, *merges]) if row.boxes else self.stack(merges)

    @staticmethod
    def framed(part: Part, label: str) -> Part:
        if not part.boxes:
            return part
        whole = Part(part.w + 2 * PAD, part.h + 2 * PAD + LABEL)
        part.place(whole, PAD, PAD + LABEL)
        whole.frames.append(Frame(label, 0, 0, whole.w, whole.h))
        return whole

    def edges(self) -> list[Edge]:
        """One edge per (source box, reader box), in the order the readers appear."""
        seen: set[tuple[str, str]] = set()
        out: list[Edge] = []
        for dst, sources in self.sources.items():
            for i in sources:
                src = self.owner[i]
                if src != dst and (src, dst) not in seen:
                    seen.add((src, dst))
                    out.append(Edge(src, dst))
        return out


class LineMaker:
    """The text lines of each kind of box (a hook so that the maps style can word them differently)."""

    def input(self, report: Report) -> tuple[str, ...]:
        return ("input", "x".join(map(str, report.input)))

    def layer(self, rec: Record) -> tuple[str, ...]:
        from archcalc.render.tabular import shape_text, summary_text

        k = summary_text(rec)
        return (f"{rec.name} · {rec.op}", shape_text(rec.output_shape) + (f" · {k}" if k else ""))

    def block(self, rec: Record) -> tuple[str, ...]:
        from archcalc.render.tabular import shape_text

        first = f"{rec.name} · {rec.block or rec.op}"
        if rec.unknown:  # holds an op archcalc does not know: its sums are unknown
            return (first, f"{shape_text(rec.output_shape)} · ? p · ? MACs")
        return (first, f"{shape_text(rec.output_shape)} · {short(rec.counts.params)} p · {short(rec.counts.macs)} MACs")


def short(n: int) -> str:
    for div, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}"
    return str(n)


def is_chain(boxes: list[Box], edges: list[Edge]) -> bool:
    """Every edge joins two consecutive boxes, and each box but the first reads exactly one."""
    order = {b.key: i for i, b in enumerate(boxes)}
    readers: dict[str, int] = {}
    for e in edges:
        if order[e.dst] != order[e.src] + 1:
            return False
        readers[e.dst] = readers.get(e.dst, 0) + 1
    return all(v == 1 for v in readers.values()) and len(readers) == len(boxes) - 1
