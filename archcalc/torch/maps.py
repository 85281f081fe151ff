"""Feature maps by forward hooks, and the DeconvNet picture of a layer's strongest activation.

The model is the spec's own (random init; the spec's fixed weights, e.g. edge-filters; or a local state_dict
given with ``weights``, whose keys are the record paths, e.g. ``features.conv1.weight``). Images are scaled
to [0, 1] with no mean/std normalisation. Pictures are drawn by archcalc/render/pictures.py (Pillow, numpy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from archcalc.analysis.deconv import DeconvPlan, find_layer
from archcalc.analysis.report import Record, Report
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import Spec
from archcalc.render import pictures
from archcalc.torch import build_deconv, build_with_report
from archcalc.torch.deconv import StopForward, Strongest, reconstruct_strongest

SpecRef = Spec | str
InputArg = str | tuple[int, ...] | list[int] | None


def image_tensor(path: Path | str, shape: tuple[int, ...]) -> Tensor:
    """The image resized to the network input C x H x W, as a batch of one."""
    if len(shape) != 3:
        raise ArchcalcError(f"--image needs a C x H x W network input, this one is {shape}")
    return torch.from_numpy(pictures.load_image(path, *shape))[None]


def load_weights(model: nn.Module, path: Path | str) -> None:
    """Load a local state_dict (or a checkpoint dict holding one under 'state_dict') into the model, strictly."""
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as err:
        raise ArchcalcError(f"cannot load weights: {err}", file=str(path)) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ArchcalcError(f"expected a state_dict, got {type(state).__name__}", file=str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ArchcalcError(f"weights do not fit the spec's model: {err}", file=str(path)) from None


def map_layers(report: Report, names: list[str] | None) -> list[Record]:
    """The named layers (path or unique last component), or every layer with a C x H x W output."""
    if not names:
        return [r for r in report.layers if len(r.output_shape) == 3]
    out = []
    for name in names:
        rec = find_layer(report, name)
        if len(rec.output_shape) != 3:
            raise ArchcalcError(
                f"its output {rec.output_shape} is not a C x H x W feature map",
                file=report.file,
                line=rec.line,
                layer=rec.path,
            )
        out.append(rec)
    return out


def feature_maps(model: nn.Module, x: Tensor, paths: list[str]) -> dict[str, np.ndarray]:
    """The output of each module path for one input (batch of one), via forward hooks, copied before any
    in-place op that follows can change it."""
    got: dict[str, np.ndarray] = {}
    hooks = []
    for path in paths:

        def keep(mod: nn.Module, args: object, out: Tensor, path: str = path) -> None:
            got[path] = out[0].detach().to(torch.float32).cpu().numpy().copy()
            if len(got) == len(paths):
                raise StopForward

        hooks.append(model.get_submodule(path).register_forward_hook(keep))
    try:
        with torch.no_grad():
            model.eval()(x)
    except StopForward:
        pass
    finally:
        for h in hooks:
            h.remove()
    return got


def write_maps(
    spec: SpecRef,
    image: Path | str,
    out: Path | str,
    layers: list[str] | None = None,
    weights: Path | str | None = None,
    input: InputArg = None,
    sets: dict[str, Any] | None = None,
) -> list[Path]:
    """One PNG grid per layer: ``out/NNN_<path>.png`` (NNN = the layer's position in the report)."""
    model, report = build_with_report(spec, input, sets)
    if weights is not None:
        load_weights(model, weights)
    chosen = map_layers(report, layers)
    maps = feature_maps(model, image_tensor(image, report.input), [r.path for r in chosen])
    folder = _folder(out)
    index = {r.path: i for i, r in enumerate(report.layers)}
    written = []
    for rec in chosen:
        c, h, w = rec.output_shape
        label = f"{rec.path} ({rec.op}) {c}x{h}x{w}"
        path = folder / f"{index[rec.path]:03d}_{rec.path}.png"
        pictures.feature_grid(maps[rec.path], label).save(path)
        written.append(path)
    return written


@dataclass(frozen=True)
class Reconstruction:
    plan: DeconvPlan
    best: Strongest
    files: list[Path]


def write_reconstruction(
    spec: SpecRef,
    image: Path | str,
    out: Path | str,
    layer: str | None = None,
    weights: Path | str | None = None,
    input: InputArg = None,
    sets: dict[str, Any] | None = None,
) -> Reconstruction:
    """``out/deconv_<layer>.png``: the projection of the layer's strongest activation at the input size;
    ``out/deconv_<layer>_panel.png``: the input and the projection side by side, labelled."""
    deconv = build_deconv(spec, layer, input, sets)
    if weights is not None:
        load_weights(deconv.net, weights)  # the mirror shares these Parameters, so it follows
    x = image_tensor(image, deconv.plan.input)
    best = reconstruct_strongest(deconv, x)
    folder = _folder(out)
    name = deconv.plan.layer
    recon = pictures.picture(best.image.to(torch.float32).numpy())
    label = (
        f"{deconv.plan.model} {name}: channel {best.channel} at (y={best.y}, x={best.x}), "
        f"activation {best.value:.4g}; input | projection"
    )
    panel = pictures.side_by_side([pictures.picture(x[0].numpy()), recon], label)
    files = [folder / f"deconv_{name}.png", folder / f"deconv_{name}_panel.png"]
    recon.save(files[0])
    panel.save(files[1])
    return Reconstruction(deconv.plan, best, files)


def _folder(out: Path | str) -> Path:
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ArchcalcError(f"cannot create the output folder: {err}", file=str(folder)) from None
    return folder
