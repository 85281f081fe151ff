"""Plain tables (header, rows, totals) and their text formats; no rich import here.

Renderers take a ``Grid``: the records are turned into cells once, and each
format (rich, markdown, csv) only lays the cells out.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from archcalc.analysis.report import Column, Record, Report, gc_paused
from archcalc.errors import ArchcalcError


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
    one_line: bool = False  # rich: one line per row, long cells end in an ellipsis
    # numeric series per row for share bars (rich) and charts (html); None = no value for that row.
    # "metric · group" names share one html chart panel; never rendered in markdown/csv/json.
    bars: dict[str, list[int | None]] = field(default_factory=dict)
    bar_columns: bool = True  # rich: add an inline share-bar column per series


def shape_text(shape: Any) -> str:
    if isinstance(shape, list):
        return " + ".join(shape_text(s) for s in shape)
    return "x".join(str(d) for d in shape) if shape else "-"


def n(value: int) -> str:
    return f"{value:,}"


LAYER_COLUMNS = ("layer", "op", "kernel/stride/pad", "output", "params", "connections", "MACs")


def summary_text(rec: Record) -> str:
    """'k5 s1 p0' and the like: made here from the record's raw args, not stored in the record."""
    from archcalc.ops import OPS

    return OPS[rec.op].summary(rec.args) if rec.kind == "layer" else ""


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
    bars: dict[str, list[int | None]] = {"params": [], "MACs": []}
    for rec in report.records:
        if depth is not None and rec.depth > depth:
            continue
        # a flat container's layers sit on its own level (module levels), so it is never a subtotal row
        counted = not (rec.kind == "block" and (depth is None or rec.depth < depth or rec.flat))
        bars["params"].append(rec.counts.params if counted else None)
        bars["MACs"].append(rec.counts.macs if counted else None)
        if not counted:
            row = [rec.path, rec.op, "", shape_text(rec.output_shape), "", "", ""]
        else:
            c = rec.counts
            row = [rec.path, rec.op, summary_text(rec), shape_text(rec.output_shape)]
            row += [n(c.params), n(c.connections), n(c.macs)]
            if rec.kind == "block":
                bold.add(len(rows))
        # an expanded block gets no number in any numeric column, so each column still sums to its total
        row += ["" if col.numeric and not counted else cell(col.values.get(rec.path, "")) for col in extra]
        rows.append(row)
        depths.append(rec.depth)
    t = report.totals
    footer = ["total", "", "", shape_text(report.output_shape), n(t.params), n(t.connections), n(t.macs)]
    caption = (
        f"input {shape_text(report.input)} | params {n(t.params)} (trainable {n(t.trainable_params)}, "
        f"buffers {n(t.buffers)}) | MACs {n(t.macs)} (2 x MACs = {n(t.flops)}) | "
        f"activations {n(t.activations)}"
    )
    numeric = {4, 5, 6} | {len(LAYER_COLUMNS) + i for i, col in enumerate(extra) if col.numeric}
    footer += ["" if col.total is None else cell(col.total) for col in extra]
    caption += "".join(f" | {col.caption}" for col in extra if col.caption)
    columns = [*LAYER_COLUMNS, *(col.title for col in extra)]
    grid = Grid(f"{report.model}: {report.title}", columns, rows, numeric, footer, depths, bold, caption)
    grid.bars = bars
    return grid


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
