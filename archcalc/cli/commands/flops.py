"""``archcalc flops SPEC``: every counting convention side by side, then the famous numbers.

Pure math on the calculator's records: no torch import, so it is as fast as ``table``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from archcalc.cli.commands.common import Fmt, command, emit, fmt_opt, input_opt, set_opt, spec_arg


@command("flops")
@spec_arg
@input_opt
@set_opt
@fmt_opt
def flops_cmd(spec: str, input: str | None, set: list[str] | None, fmt: Fmt) -> None:
    """Totals under every named convention (macs, flops, fvcore, torchinfo, connections), one line each
    on what it counts and which tool or paper uses it, then the numbers people quote for this network.

    Examples:

      archcalc flops resnet50

      archcalc flops vgg16-bn --format markdown
    """
    from archcalc.analysis.conventions import get, names, totals
    from archcalc.analysis.conventions.famous import famous_numbers, scale
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.tabular import Grid, n, shape_text

    report = analyze(spec, input, parse_sets(set or []))
    values = totals(report)
    unit, prefix = scale(values["macs"])
    rows, conv_data = [], []
    for name in names():
        c = get(name)
        rows.append([name, n(values[name]), f"{values[name] / unit:.3f}", c.unit, c.line])
        conv_data.append({"name": name, "unit": c.unit, "total": values[name], "counts": c.line})
    head = f"{report.model}: counting conventions, per sample, input {shape_text(report.input)}"
    grid = Grid(head, ["convention", "total", prefix, "unit", "what it counts, who uses it"], rows, {1, 2})
    famous = famous_numbers(report)
    fam_rows = [[f.shown, f.label, f.convention, n(f.value)] for f in famous]
    title = f"{report.model}: the numbers people quote ({prefix} = 10^{9 if prefix == 'G' else 6})"
    fam = Grid(title, [f"quoted ({prefix})", "by", "convention", "exact"], fam_rows, {0, 3})
    data: dict[str, Any] = {
        "model": report.model,
        "input": list(report.input),
        "conventions": conv_data,
        "famous": [{"quoted": f.shown, "by": f.label, "convention": f.convention, "value": f.value} for f in famous],
    }
    if fmt is Fmt.json:
        emit(grid, fmt, data)
        return
    emit(grid, fmt)
    sys.stdout.write("\n")
    emit(fam, fmt)


def register(app: click.Group) -> None:
    app.add_command(flops_cmd)
