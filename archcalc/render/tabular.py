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

from archcalc.errors import ArchcalcError
from archcalc.report import Record, Report

FORMATS = ("rich", "markdown", "csv", "json")


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


def layer_grid(report: Report, depth: int | None = None) -> Grid:
    """Rows for every layer, or, with ``depth``, only ``depth`` levels of the hierarchy.

    Like torchinfo's depth: depth 1 lists the top-level entries, and a block on the
    deepest shown level becomes one subtotal row of everything inside it.  Expanded
    blocks get no numbers, so each numeric column still sums to the totals.
    """
    if depth is not None:
        if depth < 1:
            raise ArchcalcError(f"--depth must be 1 or more, got {depth}")
        depth -= 1  # records count depth from 0 (the top-level entries)
    rows, depths, bold = [], [], set()
    bars: dict[str, list[int | None]] = {"params": [], "MACs": []}
    for rec in report.records:
        if depth is not None and rec.depth > depth:
            continue
        counted = not (rec.kind == "block" and (depth is None or rec.depth < depth))
        bars["params"].append(rec.counts.params if counted else None)
        bars["MACs"].append(rec.counts.macs if counted else None)
        if not counted:
            rows.append([_label(rec), rec.op, "", shape_text(rec.output_shape), "", "", ""])
        else:
            c = rec.counts
            rows.append(
                [
                    _label(rec),
                    rec.op,
                    rec.summary,
                    shape_text(rec.output_shape),
                    n(c.params),
                    n(c.connections),
                    n(c.macs),
                ]
            )
            if rec.kind == "block":
                bold.add(len(rows) - 1)
        depths.append(rec.depth)
    t = report.totals
    footer = ["total", "", "", shape_text(report.output_shape), n(t.params), n(t.connections), n(t.macs)]
    caption = (
        f"input {shape_text(report.input)} | params {n(t.params)} (trainable {n(t.trainable_params)}, "
        f"buffers {n(t.buffers)}) | MACs {n(t.macs)} (2 x MACs = {n(t.flops)}) | "
        f"activations {n(t.activations)}"
    )
    grid = Grid(f"{report.model}: {report.title}", list(LAYER_COLUMNS), rows, {4, 5, 6}, footer, depths, bold, caption)
    grid.bars = bars
    return grid


def _label(rec: Record) -> str:
    return rec.path


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


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
