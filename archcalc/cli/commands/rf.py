"""``archcalc rf``: receptive-field size, jump and start of every layer (pure math, no torch)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import click

from archcalc.cli.commands.common import Fmt, command, emit, fmt_opt, input_opt, set_opt, spec_arg

RF_COLUMNS = ["RF", "jump", "start"]


def rf_cells(row: Any) -> list[str]:
    """The three table cells of one RFRow: size, jump, start (HxW when the axes differ)."""
    from archcalc.analysis.rf import fmt_pair

    f = row.field
    size = fmt_pair(f.h.size, f.w.size) + ("" if f.exact else " (max)")
    if f.h.jump == 0:
        return [size + " (whole map)", "-", fmt_pair(f.h.start, f.w.start)]
    return [size, fmt_pair(f.h.jump, f.w.jump), fmt_pair(f.h.start, f.w.start)]


def rf_number(x: Fraction) -> int | str:
    """A whole value as a JSON integer; any other exact fraction as its text ('1/2', '-3/2')."""
    return x.numerator if x.denominator == 1 else str(x)


def rf_json(row: Any) -> dict[str, Any]:
    f = row.field

    def axis(a: Any) -> dict[str, int | str]:
        return {"size": rf_number(a.size), "jump": rf_number(a.jump), "start": rf_number(a.start)}

    return {"path": row.path, "op": row.op, "h": axis(f.h), "w": axis(f.w), "exact": f.exact, "via": f.via}


def register(app: click.Group) -> None:
    app.add_command(rf_cmd)


@command("rf")
@spec_arg
@input_opt
@set_opt
@fmt_opt
def rf_cmd(spec: str, input: str | None, set: list[str] | None, fmt: Fmt) -> None:
    """Receptive field per layer: size, jump (effective stride) and start (centre of unit 0's field), in
    input pixels, by the standard recurrence r' = r + (k_e-1)*j, j' = j*s, start' = start + ((k_e-1)/2 - p)*j.

    Merges (branches, concat, add, dense feeds) report the largest field and the input it comes from.
    '(max)' marks a per-unit maximum (after a transposed conv or an uneven adaptive pool).

    Examples:

      archcalc rf vgg16

      archcalc rf resnet50 --format csv
    """
    from archcalc.analysis.records import resolve
    from archcalc.analysis.rf import receptive_fields
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.tabular import Grid, shape_text

    graph, report = resolve(spec, input, parse_sets(set or []))
    rows = receptive_fields(graph, report)
    cells = [[r.path, r.op, shape_text(r.output_shape), *rf_cells(r), r.field.via] for r in rows]
    depths = [rec.depth for rec in report.records]
    grid = Grid(
        f"{report.model}: receptive fields",
        ["layer", "op", "output", *RF_COLUMNS, "largest from"],
        cells,
        depths=depths,
        caption=f"input {shape_text(report.input)} | field in input pixels; jump = effective stride; "
        "start = centre of unit 0's field (pixel centres at 0..N-1)",
    )
    emit(grid, fmt, {"model": report.model, "input": list(report.input), "layers": [rf_json(r) for r in rows]})


def rf_columns(report: Any, data: Any) -> tuple[Any, ...]:
    """``table --rf``: size, jump and start as data columns (a pass over the report's graph)."""
    from archcalc.analysis.report import Column
    from archcalc.analysis.rf import receptive_fields

    rows = receptive_fields(report.graph, report)
    cells = {r.path: rf_cells(r) for r in rows}
    if isinstance(data, dict):
        data["receptive_fields"] = [rf_json(r) for r in rows]
    return tuple(
        Column(title, {path: c[i] for path, c in cells.items()}, numeric=False) for i, title in enumerate(RF_COLUMNS)
    )
