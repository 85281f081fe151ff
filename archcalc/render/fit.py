"""Fit a Grid into a terminal's width without cutting a number (the rich layout; plain text is never cut).

Every column but one keeps its natural width (its widest cell, header or footer), so numbers, shapes and
kernel summaries are printed whole. The grid's ``flex`` column (a layer path, a spec's title) takes the
width left over and wraps. When that would leave it less than ``ROOM`` characters, the share bars and then
the grid's ``optional`` columns are hidden, in that order, and ``Fit.note`` names them in one line. A tree
(layer paths indented by depth) that still does not fit shows each path's last part under its parent, the
``squeeze`` columns (op names) wrap after a '_', and a path still too long wraps under its first line. A
table that cannot fit even so is printed at its own width: the terminal wraps its lines, no number is cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rich.cells import cell_len

from archcalc.render.plaintext import cells
from archcalc.render.tabular import Grid, keep_columns

ROOM = 24  # the flex column keeps this much (or all it needs) before a column is hidden
NARROWEST = 8  # the flex column never gets narrower; the table gets wider than the terminal instead
CAP = 48  # one-line grids: a long text column (not the first, not flex) ends in an ellipsis at this width


@dataclass(frozen=True)
class Fit:
    grid: Grid  # the grid as shown: hidden columns removed, paths maybe shortened to their last part
    widths: list[int]  # content width of every shown column, share bars included (rich adds the padding)
    flex: int | None  # the index of the column that wraps
    hidden: list[str]  # what was hidden to fit, in the order it was hidden
    width: int  # the table's width on the screen

    @property
    def note(self) -> str:
        return f"not shown: {', '.join(self.hidden)} {self.grid.hint}".rstrip() if self.hidden else ""


def table_width(widths: list[int]) -> int:
    """rich's SIMPLE_HEAD table: one space of padding each side of a cell, a one-space rule between
    columns and one at each edge."""
    return sum(widths) + 3 * len(widths) + 1


def fit(g: Grid, width: int) -> Fit:
    g, hidden = _hide(g, width)
    header, rows, _ = cells(g)
    widths = _natural(g, header, rows)
    flex = g.columns.index(g.flex) if g.flex in g.columns else None
    if flex is not None:
        g = _make_room(g, widths, flex, width)
    return Fit(g, widths, flex, hidden, table_width(widths))


def _room(widths: list[int], flex: int, width: int) -> int:
    """The width the flex column may take in a table ``width`` wide."""
    return width - table_width(widths[:flex] + widths[flex + 1 :]) - 3


def _make_room(g: Grid, widths: list[int], flex: int, width: int) -> Grid:
    """Set ``widths[flex]`` to the room left over, after shortening paths to their last part and wrapping the
    squeeze columns if the flex column would have less than it needs; the grid with its cells rewrapped."""
    tree = flex == 0 and bool(g.depths)
    if tree and _room(widths, flex, width) < widths[flex]:
        g = _leaves(g)
        widths[flex] = _widest(g, flex)
    for name in g.squeeze:
        short = min(widths[flex], ROOM) - _room(widths, flex, width)
        if short > 0:
            i = g.columns.index(name)
            least = max(cell_len(piece) for row in g.rows for piece in re.split("(?<=_)", row[i]))
            widths[i] = max(least, widths[i] - short, cell_len(g.columns[i]))
            g = replace(g, rows=[[*r[:i], "\n".join(_wrap(r[i], widths[i], "_")), *r[i + 1 :]] for r in g.rows])
    natural = widths[flex]
    widths[flex] = max(min(natural, _room(widths, flex, width)), min(natural, NARROWEST))
    return _hang(g, widths[flex]) if tree and widths[flex] < natural else g


def _widest(g: Grid, i: int) -> int:
    header, rows, _ = cells(g)
    return _natural(g, header, rows)[i]


def _wrap(text: str, room: int, seps: str) -> list[str]:
    """``text`` in lines of at most ``room`` characters, each ending after one of ``seps`` where one falls
    in the second half of the line, else cut at ``room``."""
    lines = []
    while cell_len(text) > room:
        cut = max(text.rfind(c, 0, room) for c in seps) + 1
        cut = cut if cut > room // 2 else room
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text]


def _natural(g: Grid, header: list[str], rows: list[list[str]]) -> list[int]:
    footer = g.footer or []
    widths = []
    for i, title in enumerate(header):
        w = max([cell_len(title), *(cell_len(r[i]) for r in rows), cell_len(footer[i]) if i < len(footer) else 0])
        capped = g.one_line and 0 < i < len(g.columns) and i not in g.numeric and g.columns[i] != g.flex
        widths.append(min(w, CAP) if capped else w)
    return widths


def _hide(g: Grid, width: int) -> tuple[Grid, list[str]]:
    """Hide the share bars, then each optional column, until the flex column has ``ROOM`` (or all it needs)."""
    header, rows, _ = cells(g)
    natural = _natural(g, header, rows)
    n = len(g.columns)
    flex = g.columns.index(g.flex) if g.flex in g.columns else None
    shown = list(range(len(header)))
    steps = [("share bars", list(range(n, len(header))))] if len(header) > n else []
    steps += [(name, [g.columns.index(name)]) for name in g.optional if name in g.columns]
    hidden: list[str] = []
    for label, drop in steps:
        need = [min(natural[i], ROOM) if i == flex else natural[i] for i in shown]
        if table_width(need) <= width:
            break
        shown = [i for i in shown if i not in drop]
        hidden.append(label)
    if not hidden:
        return g, hidden
    if "share bars" in hidden:
        g = replace(g, bar_columns=False)
    return keep_columns(g, [i for i in shown if i < n]), hidden


def _leaves(g: Grid) -> Grid:
    """Each path (column 0) without the path of the row it is indented under: 'layer1.0.conv1' under
    'layer1.0' shows as 'conv1'."""
    above: list[tuple[int, str]] = []  # (depth, path) of the rows this one may sit under
    rows = []
    for row, depth in zip(g.rows, g.depths, strict=True):
        path = row[0]
        while above and above[-1][0] >= depth:
            above.pop()
        parent = above[-1][1] + "." if above else ""
        label = path[len(parent) :] if parent and path.startswith(parent) else path
        rows.append([label, *row[1:]])
        above.append((depth, path))
    return replace(g, rows=rows)


def _hang(g: Grid, width: int) -> Grid:
    """Paths longer than ``width`` wrap after a '.', '_' or '-' where they can, each further line indented
    as the first (cells() indents only the first)."""
    rows = []
    for row, depth in zip(g.rows, g.depths, strict=True):
        indent = 2 * max(depth, 0)
        lines = _wrap(row[0], max(width - indent, 4), "._-")
        rows.append([("\n" + " " * indent).join(lines), *row[1:]])
    return replace(g, rows=rows)
