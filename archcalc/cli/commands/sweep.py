"""``archcalc sweep`` (cost against input size, optional plot) and ``archcalc minsize``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from archcalc.cli.commands.common import (
    INT,
    TEXT,
    DType,
    Fmt,
    TextFmt,
    batch_opt,
    choice,
    command,
    dtype_opt,
    emit,
    fmt_opt,
    input_opt,
    set_opt,
    spec_arg,
)

if TYPE_CHECKING:
    from archcalc.analysis.sizes import SizePlan
    from archcalc.analysis.sweep import Point
    from archcalc.render.tabular import Grid


def _progress(total: int):  # type: ignore[no-untyped-def]
    """A rich progress bar on stderr for long sweeps, only when stderr is a terminal."""
    if total < 200 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True)


def register(app: click.Group) -> None:
    app.add_command(sweep_cmd)
    app.add_command(minsize_cmd)


@command("sweep")
@spec_arg
@click.option(
    "--input", "-i", required=True, type=TEXT, metavar="<str>", help="square sides START:STOP:STEP, e.g. 32:1024:32"
)
@set_opt
@fmt_opt
@click.option("--plot", type=TEXT, metavar="<str>", help="write a plot: out.png, out.svg or out.pdf")
@dtype_opt
@batch_opt("batch size for the memory columns")
def sweep_cmd(
    spec: str, input: str, set: list[str] | None, fmt: Fmt, plot: str | None, dtype: DType, batch: int
) -> None:
    """MACs, activations, memory and output shape for each square input size (at most 10,000 sizes).

    Sizes the network refuses are listed with the calculator's reason. Memory is the inference peak and
    the Adam training estimate of 'archcalc memory' (docs/memory.md). The rows come from the network's
    formula ('archcalc formula'), compiled once; the calculator answers the sizes the formula does not
    vouch for, with the same numbers (docs/performance.md).

    Examples:

      archcalc sweep resnet50 --input 32:1024:32

      archcalc sweep vgg16 --input 64:512:64 --format csv --plot vgg16.png
    """
    from archcalc.analysis.sizes import SizePlan
    from archcalc.analysis.sweep import parse_range, points_json
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.plot import check_path

    sizes = parse_range(input)
    if plot is not None:
        check_path(plot)
    plan = SizePlan(spec, parse_sets(set or []))
    _refuse_partial(plan)
    points = _run(plan, sizes, dtype.value, batch)
    emit(
        _grid(plan, points, fmt),
        fmt,
        {"model": plan.spec.name, "dtype": dtype.value, "batch": batch, "points": points_json(points)},
    )
    if plot is not None:  # after the table: a plot that cannot be written leaves the numbers printed
        from archcalc.render.plot import sweep_plot

        sweep_plot(points, plot, f"{plan.spec.name}: cost against input size ({dtype.value}, batch {batch})")


def _refuse_partial(plan: SizePlan) -> None:
    """Ops archcalc does not know (--allow-unknown) have no MACs or memory at any size: no row would be exact."""
    from archcalc.analysis.records import analyze
    from archcalc.errors import ArchcalcError

    report = analyze(plan.spec, None, plan.sets)
    if report.partial:
        paths = ", ".join(report.unknown_layers[:10])
        raise ArchcalcError(
            f"sweep: {len(report.unknown_layers)} layer(s) are ops archcalc does not know ({paths}); "
            "their MACs and memory are unknown at every size",
            file=report.file,
        )


def _run(plan: SizePlan, sizes: list[int], dtype: str, batch: int) -> list[Point]:
    from archcalc.analysis.sweep import sweep

    bar = _progress(len(sizes))
    if bar is None:
        return sweep(plan, sizes, dtype, batch)
    with bar:
        task = bar.add_task(f"sweeping {len(sizes)} sizes", total=len(sizes))
        return sweep(plan, sizes, dtype, batch, tick=lambda: bar.advance(task))


def _grid(plan: SizePlan, points: list[Point], fmt: Fmt) -> Grid:
    from archcalc.analysis.memory import human
    from archcalc.render.tabular import Grid, n, shape_text

    rows = [
        [
            shape_text((plan.spec.input[0], *p.size)),
            shape_text(p.output) if p.output is not None else "refused",
            n(p.macs),
            n(p.activations),
            human(p.inference_bytes) if fmt is Fmt.rich else str(p.inference_bytes),
            human(p.training_adam_bytes) if fmt is Fmt.rich else str(p.training_adam_bytes),
            p.error,
        ]
        for p in points
    ]
    cols = ["input", "output", "MACs", "activations", "inference bytes", "training bytes (Adam)", "error"]
    return Grid(f"{plan.spec.name}: sweep", cols, rows, {2, 3, 4, 5})


@command("minsize")
@spec_arg
@input_opt
@set_opt
@choice("--format", "-f", "fmt", enum=TextFmt, default="text", help="output format")
@click.option(
    "--limit", type=INT, default=4096, show_default=True, metavar="<int>", help="largest size tried (at most 10,000)"
)
def minsize_cmd(spec: str, input: str | None, set: list[str] | None, fmt: TextFmt, limit: int) -> None:
    """Smallest input for which every layer has a positive output: square, and per axis (the other axis
    at the input's size: the spec's, or --input's, which also gives the channels), with the layer that
    fails first just below. Pure math.

    Examples:

      archcalc minsize googlenet

      archcalc minsize resnet50 --input 3x320x160 --format json
    """
    from archcalc.analysis.sizes import SizePlan
    from archcalc.analysis.sweep import min_size, min_size_json
    from archcalc.frontend.spec import parse_input, parse_sets
    from archcalc.render.tabular import to_json

    plan = SizePlan(spec, parse_sets(set or []))
    m = min_size(plan, limit, base=None if input is None else parse_input(input))
    if fmt is TextFmt.json:
        sys.stdout.write(to_json(min_size_json(plan, m, limit)))
        return
    c, h, w = m.base
    if fmt is TextFmt.html:
        from archcalc.render.html import to_html
        from archcalc.render.tabular import Grid

        rows = [["square", f"{c}x{m.square}x{m.square}"], ["height", f"{m.height} (width {w})"]]
        rows.append(["width", f"{m.width} (height {h})"])
        if m.failure:
            rows.append([f"fails at {m.square - 1}x{m.square - 1}", m.failure])
        if m.gaps:
            rows.append(["not monotonic: larger square sizes that fail again", str(m.gaps)])
        sys.stdout.write(to_html([Grid(f"{plan.spec.name}: smallest input", ["smallest", "size"], rows)]))
        return
    out = sys.stdout
    out.write(f"{plan.spec.name}: smallest square input {c}x{m.square}x{m.square}\n")
    out.write(f"  smallest height (width {w}): {m.height}\n  smallest width (height {h}): {m.width}\n")
    if m.failure:
        out.write(f"  at {m.square - 1}x{m.square - 1}: {m.failure}\n")
    if m.gaps:
        out.write(f"  not monotonic: larger square sizes that fail again: {m.gaps}\n")
