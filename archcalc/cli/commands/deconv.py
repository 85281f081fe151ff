"""``archcalc deconv SPEC --layer L``: the DeconvNet mirror from L back to the input; with --image, its picture."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from archcalc.cli.commands.common import (
    PATH,
    PICTURE_PACKAGES,
    TEXT,
    Fmt,
    command,
    echo_wrote,
    emit,
    fmt_opt,
    input_opt,
    require,
    set_opt,
    spec_arg,
)

if TYPE_CHECKING:
    from archcalc.analysis.deconv import DeconvPlan, MirrorStep
    from archcalc.render.tabular import Grid

WEIGHTS_HELP = "a local state_dict (.pt) for the model; default random init"


def register(app: click.Group) -> None:
    app.add_command(deconv_cmd)


@command("deconv")
@spec_arg
@click.option(
    "--layer",
    "-l",
    type=TEXT,
    metavar="<str>",
    help="layer path or unique name (default: the mirrorable conv with the longest path back to the input)",
)
@input_opt
@set_opt
@fmt_opt
@click.option("--image", type=PATH, metavar="<path>", help="an image: write the projection of the strongest activation")
@click.option("--out", "-o", type=PATH, metavar="<path>", help="folder for the PNGs (with --image)")
@click.option("--weights", type=PATH, metavar="<path>", help=WEIGHTS_HELP)
def deconv_cmd(
    spec: str,
    layer: str | None,
    input: str | None,
    set: list[str] | None,
    fmt: Fmt,
    image: Path | None,
    out: Path | None,
    weights: Path | None,
) -> None:
    """The DeconvNet mirror (Zeiler & Fergus) from a layer back to the input, step by step.

    conv2d becomes a transposed conv with the same filters and no bias (output_padding restores rows the
    forward floor division dropped), maxpool2d becomes max-unpooling with the recorded switches
    (output_size = the pool's input size), ReLU stays ReLU; LRN, dropout, batch norm and identity are passed
    through; linear, flatten, average/adaptive pooling and merges (concat, add) are errors.

    With --image and --out: run the model (random init unless --weights), keep only the largest activation
    of the strongest map, zero the rest, project it to pixel space and write deconv_<layer>.png (input size)
    and deconv_<layer>_panel.png (input | projection).

    Examples:

      archcalc deconv zfnet --layer conv2

      archcalc deconv alexnet-227 --layer conv1 --format json

      archcalc deconv edge-filters --layer pool --image examples/images/shapes.png --out out/
    """
    from archcalc.analysis.deconv import plan_deconv
    from archcalc.errors import ArchcalcError
    from archcalc.frontend.spec import parse_sets

    sets = parse_sets(set or [])
    if image is None:
        if out is not None or weights is not None:
            raise ArchcalcError("--out and --weights need --image")
        plan = plan_deconv(spec, layer, input, sets)
        emit(plan_grid(plan), fmt, plan.to_dict())
        return
    if out is None:
        raise ArchcalcError("--image needs --out DIR for the pictures")
    require("deconv --image", PICTURE_PACKAGES, "maps")
    from archcalc.torch.maps import write_reconstruction

    done = write_reconstruction(spec, image, out, layer, weights, input, sets, wrote=echo_wrote)
    b = done.best
    click.echo(f"{done.plan.layer}: channel {b.channel} at (y={b.y}, x={b.x}), activation {b.value:.6g}")


def plan_grid(plan: DeconvPlan) -> Grid:
    from archcalc.render.tabular import Grid, shape_text

    rows = [
        [
            str(i),
            s.source,
            s.source_op,
            s.op,
            shape_text(s.input_shape),
            shape_text(s.output_shape),
            _fit(s),
            "; ".join(s.notes),
        ]
        for i, s in enumerate(plan.steps, 1)
    ]
    columns = ["step", "mirrors", "forward op", "deconv op", "input", "output", "fit", "note"]
    title = f"{plan.model}: DeconvNet mirror of {plan.layer} ({shape_text(plan.start_shape)}) to the input"
    caption = "fit: output_padding of the transposed conv, or output_size of the unpooling (default size in ())"
    return Grid(title, columns, rows, caption=caption)


def _fit(s: MirrorStep) -> str:
    from archcalc.ops.registry import pair_text

    if s.op == "conv_transpose2d":
        return f"output_padding {pair_text(s.fit)}"
    if s.op == "max_unpool2d":
        size = s.args["output_size"]
        default = (size[0] - s.fit[0], size[1] - s.fit[1])
        return f"output_size {pair_text(size)}" + (f" ({pair_text(default)})" if s.fit != (0, 0) else "")
    return ""
