"""``archcalc draw SPEC -o net.svg``: the network as a picture (render/layout.py, render/draw.py, render/svg.py)."""

from __future__ import annotations

from pathlib import Path

import click

from archcalc.cli.commands.common import INT, PATH, TEXT, command, echo_wrote, input_opt, set_opt, spec_arg


def register(app: click.Group) -> None:
    app.add_command(draw_cmd)


@command("draw")
@spec_arg
@click.option("--output", "-o", type=PATH, required=True, metavar="<path>", help="a .svg (or .png, with Chromium)")
@click.option(
    "--style", type=TEXT, metavar="<maps|graph>", help="maps: stacks of feature maps; graph: boxes and arrows"
)
@click.option("--depth", type=INT, metavar="<int>", help="collapse blocks deeper than N into one box with subtotals")
@click.option("--color", type=TEXT, metavar="<params|macs|activations>", help="fill each box by this count (log scale)")
@input_opt
@set_opt
def draw_cmd(
    spec: str,
    output: Path,
    style: str | None,
    depth: int | None,
    color: str | None,
    input: str | None,
    set: list[str] | None,
) -> None:
    """Draw the network: 'maps' (default for a chain) draws each layer's output as a stack of feature maps
    with CxHxW, kernel and stride, as in the LeNet-5 figure; 'graph' (default when it branches) draws boxes
    and arrows, branches side by side above their merge, a dense feed as one concatenation bus.

    Examples:

      archcalc draw lenet5 -o lenet5.svg

      archcalc draw googlenet -o googlenet.svg --depth 1 --color macs

      archcalc draw resnet50 --style graph --depth 2 -o out/resnet50.svg
    """
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.draw import draw
    from archcalc.render.svg import check_path, to_svg, write

    check_path(output)
    report = analyze(spec, input, parse_sets(set or []))
    write(to_svg(draw(report, style, depth, color)), output)
    echo_wrote(output)
