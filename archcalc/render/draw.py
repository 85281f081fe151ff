"""``archcalc draw``: the two styles (``maps`` for chains, ``graph`` for branched networks) and edge routing.

``graph`` takes the boxes of ``render/layout.py`` as they are; ``maps`` (the LeNet-5 figure) puts the same
boxes, in the same order, on one row and draws each output as a stack of feature maps. Edges are routed
here: straight when two boxes share a column, with one bend when not, else along a lane beside every box
they pass (a shortcut, a dense bus, a ``from`` edge).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from archcalc.analysis.report import Report
from archcalc.errors import ArchcalcError, show
from archcalc.render.layout import BOX_H, VGAP, Box, Edge, Frame, GraphLayout, LineMaker, is_chain

STYLES = ("maps", "graph")
COLORS = ("params", "macs", "activations")
SHEET_MAX, SHEET_MIN, SHEET_STEP, MAX_SHEETS, SLAB_W, MAP_GAP = 72.0, 10.0, 5.0, 8, 16.0, 34.0
Point = tuple[float, float]


@dataclass
class Drawing:
    title: str
    caption: str
    style: str
    boxes: list[Box]
    frames: list[Frame]
    edges: list[Edge]
    color: str | None = None
    sheets: dict[str, tuple[int, float, float]] | None = None  # maps: box key -> (count, sheet w, sheet h)


def draw(report: Report, style: str | None = None, depth: int | None = None, color: str | None = None) -> Drawing:
    """The drawing of a report: ``style`` None picks ``maps`` for a chain and ``graph`` otherwise."""
    if depth is not None and depth < 1:
        raise ArchcalcError(f"--depth must be 1 or more, got {depth}")
    if style is not None and style not in STYLES:
        raise ArchcalcError(f"--style {show(style)} is not one of 'maps', 'graph'")
    if color is not None and color not in COLORS:
        raise ArchcalcError(f"--color {show(color)} is not one of 'params', 'macs', 'activations'")
    layout = GraphLayout(report, depth, LineMaker())
    whole = layout.run()
    edges = layout.edges()
    chain = is_chain(whole.boxes, edges)
    if style == "maps" and not chain:
        raise ArchcalcError(
            f"--style maps draws chains, and {report.model} branches: use --style graph, or a --depth that hides the branches"
        )
    style = style or ("maps" if chain else "graph")
    t = report.totals
    q = " + ?" if report.partial else ""  # ops archcalc does not know: their counts are not in these sums
    caption = f"params {t.params:,}{q} · MACs {t.macs:,}{q} · activations {t.activations:,}"
    title = f"{report.model}: {report.title}"
    if style == "maps":
        sheets = place_maps(whole.boxes, edges)
        return Drawing(title, caption, style, whole.boxes, [], edges, color, sheets)
    route(whole.boxes, edges)
    return Drawing(title, caption, style, whole.boxes, whole.frames, edges, color)


# ---- maps: one row of feature-map stacks ----------------------------------------------------------------------
def place_maps(boxes: list[Box], edges: list[Edge]) -> dict[str, tuple[int, float, float]]:
    """Each box becomes its output's stack (sides by sqrt of H and W); pointwise layers are thin slabs."""
    from archcalc.ops import OPS

    shapes = {b.key: (b.record.output_shape if b.record else None) for b in boxes}
    maps = [s for s in shapes.values() if s is not None and len(s) == 3]
    hmax = max((s[1] for s in maps), default=1) or 1
    wmax = max((s[2] for s in maps), default=1) or 1
    vmax = max((math.prod(s) for s in shapes.values() if s is not None and len(s) != 3), default=1) or 1
    sheets: dict[str, tuple[int, float, float]] = {}
    x = 0.0
    for b in boxes:
        shape = shapes[b.key]
        if b.kind == "input":
            shape = tuple(int(v) for v in b.lines[1].split("x"))
        if b.record is not None and b.kind == "layer" and OPS[b.record.op].pointwise:
            b.w, b.h, b.slab = SLAB_W, 56.0, True
        elif shape is not None and len(shape) == 3:
            n = min(shape[0], MAX_SHEETS)
            sw = SHEET_MIN + SHEET_MAX * math.sqrt(shape[2] / wmax)
            sh = SHEET_MIN + SHEET_MAX * math.sqrt(shape[1] / hmax)
            sheets[b.key] = (n, sw, sh)
            b.w, b.h = sw + SHEET_STEP * (n - 1), sh + SHEET_STEP * (n - 1)
        else:
            size = math.prod(shape) if shape is not None else 1
            b.w, b.h = 20.0, 20.0 + SHEET_MAX * math.sqrt(size / vmax)
        label = 0.0 if b.slab else max((len(t) for t in b.lines), default=0) * 5.9 + 6
        column = max(b.w, label)
        b.x, b.y = x + (column - b.w) / 2, -b.h / 2
        x += column + MAP_GAP
    by_key = {b.key: b for b in boxes}
    for e in edges:
        s, d = by_key[e.src], by_key[e.dst]
        e.points = [(s.x + s.w, s.cy), (d.x, d.cy)]
    return sheets


# ---- graph: edge routing ----------------------------------------------------------------------------------------
def route(boxes: list[Box], edges: list[Edge]) -> None:
    by_key = {b.key: b for b in boxes}
    order = sorted(boxes, key=lambda b: b.y)
    ys = [b.y for b in order]
    tallest = max((b.h for b in boxes), default=BOX_H)
    lanes: list[tuple[float, float, float]] = []
    for e in edges:
        s, d = by_key[e.src], by_key[e.dst]
        e.bus = s.kind == "bus" and d.kind == "bus"
        lo, hi = min(s.y, d.y), max(s.y + s.h, d.y + d.h)
        near = [b for b in order[bisect.bisect_left(ys, lo - tallest) : bisect.bisect_right(ys, hi)] if b not in (s, d)]
        near = [b for b in near if b.y < hi and b.y + b.h > lo]
        for points in candidates(s, d, e.bus):
            if not any(crosses(points, b) for b in near):
                break
        else:
            points = lane(s, d, near, lanes, left=e.bus)
        e.points = points


def candidates(s: Box, d: Box, bus: bool) -> list[list[Point]]:
    if not bus and d.x >= s.x + s.w and d.y < s.y + s.h and s.y < d.y + d.h:  # side by side: left to right
        mid = (s.x + s.w + d.x) / 2
        return [[(s.x + s.w, s.cy), (mid, s.cy), (mid, d.cy), (d.x, d.cy)]]
    if bus or d.y < s.y + s.h:
        return []
    sy, dy = s.y + s.h, d.y
    if abs(s.cx - d.cx) < 0.5:
        return [[(s.cx, sy), (d.cx, dy)]]
    below, above = sy + VGAP / 2, dy - VGAP / 2
    fan_out = [(s.cx, sy), (s.cx, below), (d.cx, below), (d.cx, dy)]
    fan_in = [(s.cx, sy), (s.cx, above), (d.cx, above), (d.cx, dy)]
    return [fan_in, fan_out] if d.kind in ("merge", "bus") else [fan_out, fan_in]


def lane(s: Box, d: Box, near: list[Box], lanes: list[tuple[float, float, float]], *, left: bool) -> list[Point]:
    """Out of the source's side, along a lane beside every box in between, into the reader's side."""
    every = [*near, s, d]
    step = -6.0 if left else 6.0
    x = min(b.x for b in every) - 10 if left else max(b.x + b.w for b in every) + 10
    sy, dy = s.y + 0.7 * s.h, d.y + 0.3 * d.h  # a box that both reads and feeds a lane keeps the two apart
    lo, hi = min(sy, dy), max(sy, dy)
    while any(abs(lx - x) < 3 and ly < hi and lh > lo for lx, ly, lh in lanes):
        x += step
    lanes.append((x, lo, hi))
    sx, dx = (s.x, d.x) if left else (s.x + s.w, d.x + d.w)
    return [(sx, sy), (x, sy), (x, dy), (dx, dy)]


def crosses(points: list[Point], b: Box) -> bool:
    """Whether an axis-parallel polyline passes through a box's inside."""
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        across = min(x1, x2) < b.x + b.w - 0.5 and max(x1, x2) > b.x + 0.5
        if across and min(y1, y2) < b.y + b.h - 0.5 and max(y1, y2) > b.y + 0.5:
            return True
    return False
