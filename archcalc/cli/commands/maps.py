"""``archcalc maps SPEC --image IMG --out DIR``: one PNG grid of feature maps per layer, by forward hooks."""

from __future__ import annotations

from pathlib import Path

import click

from archcalc.cli.commands.common import (
    PATH,
    PICTURE_PACKAGES,
    command,
    echo_wrote,
    input_opt,
    repeated,
    require,
    set_opt,
    spec_arg,
)
from archcalc.errors import ArchcalcError, show


def register(app: click.Group) -> None:
    app.add_command(maps_cmd)


@command("maps")
@spec_arg
@click.option(
    "--image",
    type=PATH,
    required=True,
    metavar="<path>",
    help="the input image (resized to the network input; gray or RGB)",
)
@click.option(
    "--out", "-o", type=PATH, required=True, metavar="<path>", help="folder for the PNGs (created if missing)"
)
@repeated("--layers", "-l", help="layer paths or unique names, repeated or comma-separated (default: all)")
@click.option(
    "--weights", type=PATH, metavar="<path>", help="a local state_dict (.pt) for the model; default random init"
)
@input_opt
@set_opt
def maps_cmd(
    spec: str,
    image: Path,
    out: Path,
    layers: list[str] | None,
    weights: Path | None,
    input: str | None,
    set: list[str] | None,
) -> None:
    """Feature maps of one image: a PNG grid per layer, one tile per channel, each tile normalised to its
    own min..max, labelled with the layer, op and shape.

    The model is built from the spec: random init, or the spec's fixed weights (edge-filters), or --weights,
    a local state_dict whose keys are the layer paths (features.conv1.weight, ...). The image is converted to
    the input's channels, resized (bilinear) to its H x W and scaled to [0, 1], without mean/std. Files are
    DIR/NNN_<layer>.png, NNN the layer's position in 'archcalc table'.

    Examples:

      archcalc maps edge-filters --image examples/images/shapes.png --out maps/

      archcalc maps alexnet-227 --image examples/images/shapes.png --layers conv1,conv2 --out maps/
    """
    from archcalc.frontend.spec import parse_sets

    names = layer_names(layers)
    require("maps", PICTURE_PACKAGES, "maps")
    from archcalc.torch.maps import write_maps

    write_maps(spec, image, out, names, weights, input, parse_sets(set or []), wrote=echo_wrote)


def layer_names(layers: list[str] | None) -> list[str] | None:
    """'a,b' and repeated options as one list; an empty name would silently mean 'every layer'."""
    if layers is None:
        return None
    names = [name.strip() for item in layers for name in item.split(",")]
    if not all(names):
        raise ArchcalcError(f"--layers {show(','.join(layers))} has an empty layer name")
    return names
