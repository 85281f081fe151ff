"""``archcalc maps SPEC --image IMG --out DIR``: one PNG grid of feature maps per layer, by forward hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archcalc.commands.common import InputOpt, SetOpt, SpecArg

ImageArg = Annotated[Path, typer.Option(help="the input image (resized to the network input; gray or RGB)")]
OutArg = Annotated[Path, typer.Option("--out", "-o", help="folder for the PNGs (created if missing)")]
LayersOpt = Annotated[
    list[str] | None,
    typer.Option("--layers", "-l", help="layer paths or unique names, repeated or comma-separated (default: all)"),
]
WeightsOpt = Annotated[Path | None, typer.Option(help="a local state_dict (.pt) for the model; default random init")]


def register(app: typer.Typer) -> None:
    app.command("maps")(maps_cmd)


def maps_cmd(
    spec: SpecArg,
    image: ImageArg,
    out: OutArg,
    layers: LayersOpt = None,
    weights: WeightsOpt = None,
    input: InputOpt = None,
    set: SetOpt = None,
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
    from archcalc.spec import parse_sets
    from archcalc.torch.maps import write_maps

    names = [n for item in layers or [] for n in item.split(",") if n]
    for path in write_maps(spec, image, out, names or None, weights, input, parse_sets(set or [])):
        typer.echo(f"wrote {path}")
