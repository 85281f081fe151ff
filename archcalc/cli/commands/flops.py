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
    """Totals under every named convention (macs, flops, fvcore, torchinfo, connections, and one training
    step: train, train_fcm), one line each on what it counts and which tool or paper uses it, then the
    numbers people quote for this network.

    Examples:

      archcalc flops resnet50

      archcalc flops vgg16-bn --format markdown
    """
    from archcalc.analysis.conventions.famous import applicable_totals, famous_numbers, scale
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.tabular import Grid, n, shape_text

    report = analyze(spec, input, parse_sets(set or []))
    values, why = applicable_totals(report)
    unit, prefix = scale(values["macs"] or 0)  # the stored convention counts every op
    grid = Grid(
        f"{report.model}: counting conventions, per sample, input {shape_text(report.input)}",
        ["convention", "total", prefix, "unit", "what it counts, who uses it"],
        [_row(name, values[name], why.get(name), unit) for name in values],
        {1, 2},
    )
    famous = famous_numbers(report)
    fam_rows = [[f.shown, f.label, f.convention, "n/a" if f.value is None else n(f.value)] for f in famous]
    title = f"{report.model}: the numbers people quote ({prefix} = 10^{9 if prefix == 'G' else 6})"
    fam = Grid(title, [f"quoted ({prefix})", "by", "convention", "exact"], fam_rows, {0, 3})
    if fmt is Fmt.json:
        emit(grid, fmt, _json(report, values, why, famous))
        return
    emit(grid, fmt)
    sys.stdout.write("\n")
    emit(fam, fmt)


def _row(name: str, value: int | None, why: str | None, unit: int) -> list[str]:
    from archcalc.analysis.conventions import get
    from archcalc.render.tabular import n

    c = get(name)
    if value is None:  # the tool cannot run on this network: no number, and the reason instead
        return [name, "n/a", "n/a", c.unit, f"not applicable: {why}"]
    return [name, n(value), f"{value / unit:.3f}", c.unit, c.line]


def _json(report: Any, values: dict[str, int | None], why: dict[str, str], famous: list[Any]) -> dict[str, Any]:
    from archcalc.analysis.conventions import get

    return {
        "model": report.model,
        "input": list(report.input),
        "conventions": [
            {"name": name, "unit": get(name).unit, "total": value, "counts": get(name).line}
            for name, value in values.items()
        ],
        "totals": values,
        "not_applicable": why,
        "famous": [{"quoted": f.shown, "by": f.label, "convention": f.convention, "value": f.value} for f in famous],
    }


def register(app: click.Group) -> None:
    app.add_command(flops_cmd)
