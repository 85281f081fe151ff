"""Plain tables (header, rows, totals) and their text formats; no rich import here.

Renderers take a ``Grid``: the records are turned into cells once, and each
format (rich, markdown, csv) only lays the cells out.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from typing import Any

from archcalc.analysis.report import Column, Record, Report, gc_paused
from archcalc.errors import ArchcalcError, show


@dataclass
class Grid:
    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns
    footer: list[str] | None = None
    depths: list[int] = field(default_factory=list)  # indentation per row
    bold: set[int] = field(default_factory=set)  # subtotal rows
    caption: str = ""
    one_line: bool = False  # rich: long text cells end in an ellipsis (the flex column, below, wraps)
    # numeric series per row for share bars (rich) and charts (html); None = no value for that row.
    # "metric · group" names share one html chart panel; never rendered in markdown/csv/json.
    bars: dict[str, list[int | None]] = field(default_factory=dict)
    bar_columns: bool = True  # rich: add an inline share-bar column per series
    # rich in a terminal (render/fit.py): ``flex`` names the one column that wraps into the width left over
    # (never a number); ``optional`` the columns hidden, in this order after the share bars, when the table
    # is wider than the terminal; ``squeeze`` text columns that then wrap after a '_' to leave flex more
    # room; ``hint`` ends the one-line note that names what was hidden
    flex: str = ""
    optional: tuple[str, ...] = ()
    squeeze: tuple[str, ...] = ()
    hint: str = ""
    paths: list[str] = field(default_factory=list)  # html: each row's record path (a data-path attribute)


def shape_text(shape: Any) -> str:
    if isinstance(shape, list):
        return " + ".join(shape_text(s) for s in shape)
    return "x".join(str(d) for d in shape) if shape else "-"


def n(value: int) -> str:
    return f"{value:,}"


UNKNOWN = "?"  # the count of an op archcalc does not know (an opaque layer), and of every subtotal above it


def known_part(value: int) -> str:
    """A partial total: the known layers' sum plus the unknown ones."""
    return f"{value:,} + ?"


def partial_text(report: Report) -> str:
    """' | partial: 2 layers unknown (sub, up)' for a report with opaque layers, else ''."""
    paths = report.unknown_layers
    if not paths:
        return ""
    shown = ", ".join(paths[:10]) + (", ..." if len(paths) > 10 else "")
    return f" | partial: {len(paths)} layer{'s' if len(paths) != 1 else ''} unknown ({shown})"


LAYER_COLUMNS = ("layer", "op", "kernel/stride/pad", "output", "params", "connections", "MACs")
LAYER_HINT = "(see --columns, --no-bars)"


def summary_text(rec: Record) -> str:
    """'k5 s1 p0' and the like: made here from the record's raw args, not stored in the record."""
    from archcalc.ops import OPS

    if rec.kind != "layer":
        return ""
    text = OPS[rec.op].summary(rec.args)
    return f"{text} · shares {rec.shares}".lstrip(" ·") if rec.shares else text


def cell(value: Any) -> str:
    return n(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


@gc_paused
def layer_grid(report: Report, depth: int | None = None, extra: tuple[Column, ...] = ()) -> Grid:
    """Rows for every layer, or, with ``depth``, only ``depth`` levels of the hierarchy.

    Like torchinfo's depth: depth 1 lists the top-level entries, and a block on the
    deepest shown level becomes one subtotal row of everything inside it.  Expanded
    blocks get no numbers, so each numeric column still sums to the totals.
    """
    if depth is not None:
        if depth < 1:
            raise ArchcalcError(f"--depth must be 1 or more, got {depth}")
        depth -= 1  # records count depth from 0 (the top-level entries)
    rows: list[list[str]] = []
    depths: list[int] = []
    bold: set[int] = set()
    paths: list[str] = []
    bars: dict[str, list[int | None]] = {"params": [], "MACs": []}
    for rec in report.records:
        if depth is not None and rec.depth > depth:
            continue
        # a flat container's layers sit on its own level (module levels), so it is never a subtotal row
        counted = not (rec.kind == "block" and (depth is None or rec.depth < depth or rec.flat))
        bars["params"].append(rec.counts.params if counted and not rec.unknown else None)
        bars["MACs"].append(rec.counts.macs if counted and not rec.unknown else None)
        if not counted:
            row = [rec.path, rec.op, "", shape_text(rec.output_shape), "", "", ""]
        else:
            c = rec.counts
            row = [rec.path, rec.op, summary_text(rec), shape_text(rec.output_shape)]
            row += [UNKNOWN if rec.unknown else n(v) for v in (c.params, c.connections, c.macs)]
            if rec.kind == "block":
                bold.add(len(rows))
        # an expanded block gets no number in any numeric column, so each column still sums to its total
        row += ["" if col.numeric and not counted else cell(col.values.get(rec.path, "")) for col in extra]
        rows.append(row)
        depths.append(rec.depth)
        paths.append(rec.path)
    t = report.totals
    k = known_part if report.partial else n
    label = "total (partial)" if report.partial else "total"
    footer = [label, "", "", shape_text(report.output_shape), k(t.params), k(t.connections), k(t.macs)]
    caption = (
        f"input {shape_text(report.input)} | params {k(t.params)} (trainable {k(t.trainable_params)}, "
        f"buffers {k(t.buffers)}) | MACs {k(t.macs)} (2 x MACs = {k(t.flops)}) | "
        f"activations {n(t.activations)}" + partial_text(report)
    )
    numeric = {4, 5, 6} | {len(LAYER_COLUMNS) + i for i, col in enumerate(extra) if col.numeric}
    footer += ["" if col.total is None else cell(col.total) for col in extra]
    caption += "".join(f" | {col.caption}" for col in extra if col.caption)
    columns = [*LAYER_COLUMNS, *(col.title for col in extra)]
    grid = Grid(f"{report.model}: {report.title}", columns, rows, numeric, footer, depths, bold, caption)
    grid.bars, grid.paths = bars, paths
    grid.flex, grid.optional, grid.squeeze = "layer", ("connections", "kernel/stride/pad"), ("op",)
    grid.hint = LAYER_HINT
    return grid


def keep_columns(g: Grid, keep: list[int]) -> Grid:
    """The grid with only the columns at ``keep`` (in that order); rows, footer and numeric follow."""
    numeric = {k for k, i in enumerate(keep) if i in g.numeric}
    rows = [[row[i] for i in keep] for row in g.rows]
    footer = [g.footer[i] for i in keep] if g.footer else g.footer
    columns = [g.columns[i] for i in keep]
    flex = g.flex if g.flex in columns else ""
    optional = tuple(c for c in g.optional if c in columns)
    squeeze = tuple(c for c in g.squeeze if c in columns)
    return replace(
        g, columns=columns, rows=rows, numeric=numeric, footer=footer, flex=flex, optional=optional, squeeze=squeeze
    )


def select_columns(g: Grid, names: list[str]) -> Grid:
    """``--columns``: the named columns in the table's order; a name is a column's title (any case) or
    the start of exactly one.  Nothing the user chose is hidden to fit a terminal (the share bars may be)."""
    keep = {_column_index(g.columns, name.strip()) for name in names if name.strip()}
    if not keep:
        raise ArchcalcError(f"--columns names no column; the columns are {', '.join(g.columns)}")
    return replace(keep_columns(g, sorted(keep)), optional=())


def _column_index(columns: list[str], name: str) -> int:
    folded = [c.casefold() for c in columns]
    if name.casefold() in folded:
        return folded.index(name.casefold())
    starts = [i for i, c in enumerate(folded) if c.startswith(name.casefold())]
    if len(starts) == 1:
        return starts[0]
    what = "is the start of more than one column" if starts else "is not a column"
    raise ArchcalcError(f"--columns: {show(name)} {what}; the columns are {', '.join(columns)}")


def to_markdown(g: Grid) -> str:
    lines = [f"**{g.title}**", ""] if g.title else []
    lines.append("| " + " | ".join(g.columns) + " |")
    lines.append("|" + "|".join("---:" if i in g.numeric else "---" for i in range(len(g.columns))) + "|")
    for row in g.rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    if g.footer:
        lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in g.footer) + " |")
    if g.caption:
        lines += ["", g.caption]
    return "\n".join(lines) + "\n"


def to_csv(g: Grid) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(g.columns)
    for row in [*g.rows, *([g.footer] if g.footer else [])]:
        w.writerow([c.replace(",", "") if i in g.numeric else c for i, c in enumerate(row)])
    return buf.getvalue()


@gc_paused
def to_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
