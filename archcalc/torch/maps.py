"""Feature maps by forward hooks, and the DeconvNet picture of a layer's strongest activation.

The model is the spec's own (random init; the spec's fixed weights, e.g. edge-filters; or a local state_dict
given with ``weights``, whose keys are the record paths, e.g. ``features.conv1.weight``). Images are scaled
to [0, 1] with no mean/std normalisation. Pictures are drawn by archcalc/render/pictures.py (Pillow, numpy).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from archcalc.analysis.deconv import DeconvPlan, find_layer
from archcalc.analysis.memory import human
from archcalc.analysis.records import analyze
from archcalc.analysis.report import Record, Report
from archcalc.errors import ArchcalcError, describe, show
from archcalc.frontend.spec import Spec
from archcalc.frontend.yamlio import read_regular_file
from archcalc.render import pictures
from archcalc.torch import build_deconv, build_with_report
from archcalc.torch.crosscheck import call_sites
from archcalc.torch.deconv import StopForward, Strongest, reconstruct_strongest

SpecRef = Spec | str
InputArg = str | tuple[int, ...] | list[int] | None


MAX_WEIGHTS_BYTES = 4 << 30  # a --weights file; every bundled network's checkpoint is far below
MAX_TORCH_BYTES = 8 << 30  # float32 params, buffers, input and layer outputs of one maps/deconv run


def image_tensor(path: Path | str, shape: tuple[int, ...], file: str | None = None) -> Tensor:
    """The image resized to the network input C x H x W, as a batch of one (``file``: the spec, for messages)."""
    if len(shape) != 3:
        raise ArchcalcError(f"--image needs a C x H x W network input, this one is {show(list(shape))}", file=file)
    return torch.from_numpy(pictures.load_image(path, *shape))[None]


def check_fits(report: Report, copies: int = 2) -> None:
    """Refuse before torch allocates: float32 params, buffers and input, and ``copies`` x every layer's output
    (the hooks' copies, or the mirror's own maps), must stay below MAX_TORCH_BYTES."""
    t = report.totals
    need = 4 * (t.params + t.buffers + prod(report.input) + copies * t.activations)
    if need > MAX_TORCH_BYTES:
        raise ArchcalcError(
            f"input {'x'.join(map(str, report.input))} needs about {human(need)} for the model and its maps "
            f"(float32); the limit is {human(MAX_TORCH_BYTES)}",
            file=report.file,
        )


def read_state(path: Path | str) -> dict[str, Tensor]:
    """A local state_dict (or a checkpoint dict holding one under 'state_dict'): names to tensors, loaded with
    ``weights_only=True`` from a regular file (a FIFO or /dev/zero is refused by the shared guard)."""
    display = str(path)
    data = read_regular_file(Path(path), display=display, limit=MAX_WEIGHTS_BYTES)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: the one line is ours
            warnings.simplefilter("ignore")
            state: Any = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as err:
        raise ArchcalcError(f"not a torch checkpoint of tensors: {_load_reason(err)}", file=display) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        got = "a single tensor" if isinstance(state, Tensor) else describe(state)
        raise ArchcalcError(f"expected a state_dict (parameter names to tensors), got {got}", file=display)
    for key, value in state.items():
        if not isinstance(key, str):
            raise ArchcalcError(f"state_dict keys must be parameter names (text), got {describe(key)}", file=display)
        if not isinstance(value, Tensor):
            raise ArchcalcError(f"state_dict entry '{key}' is {describe(value)}, not a tensor", file=display)
    return state


def _load_reason(err: Exception) -> str:
    """The useful line of torch.load's error (its weights-only message is a page of advice)."""
    text = str(err).split("WeightsUnpickler error:", 1)[-1]
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:200] or "the file is empty or cut short"


def load_weights(model: nn.Module, path: Path | str) -> None:
    """Load a local state_dict (or a checkpoint dict holding one under 'state_dict') into the model, strictly."""
    _load(model, read_state(path), path)


@contextmanager
def _allocating(report: Report) -> Iterator[None]:
    """Torch's allocation failures (a RuntimeError on CPU) as one line, in case the estimate was not enough."""
    try:
        yield
    except MemoryError:
        raise ArchcalcError("out of memory while building or running the model", file=report.file) from None
    except RuntimeError as err:
        if "allocate" not in str(err):
            raise
        raise ArchcalcError("out of memory while building or running the model", file=report.file) from None


def map_layers(report: Report, names: list[str] | None) -> list[Record]:
    """The named layers (path or unique last component), or every layer with a C x H x W output."""
    if not names:
        return [r for r in report.layers if len(r.output_shape) == 3]
    out = []
    for name in names:
        rec = find_layer(report, name)
        if len(rec.output_shape) != 3:
            raise ArchcalcError(
                f"its output {show(list(rec.output_shape))} is not a C x H x W feature map",
                file=report.file,
                line=rec.line,
                layer=rec.path,
            )
        out.append(rec)
    return list({rec.path: rec for rec in out}.values())  # a layer named twice (by name and path) once


def feature_maps(
    model: nn.Module, x: Tensor, paths: list[str], sites: dict[str, tuple[str, int]] | None = None
) -> dict[str, np.ndarray]:
    """The output of each module path for one input (batch of one), via forward hooks, copied before any
    in-place op that follows can change it. ``sites`` (crosscheck.call_sites) maps a layer that reuses
    another's weights to its owner's module and call."""
    got: dict[str, np.ndarray] = {}
    hooks = []
    wanted: dict[str, dict[int, str]] = {}  # module path -> {call index: the layer path it computes}
    for path in paths:
        owner, call = (sites or {}).get(path, (path, 0))
        wanted.setdefault(owner, {})[call] = path
    for owner, at in wanted.items():
        count = [0]

        def keep(mod: nn.Module, args: object, out: Tensor, at: dict[int, str] = at, count: list[int] = count) -> None:
            path = at.get(count[0])
            count[0] += 1
            if path is not None:
                got[path] = out[0].detach().to(torch.float32).cpu().numpy().copy()
            if len(got) == len(paths):
                raise StopForward

        hooks.append(model.get_submodule(owner).register_forward_hook(keep))
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
    wrote: Callable[[Path], None] | None = None,
) -> list[Path]:
    """One PNG grid per layer: ``out/NNN_<path>.png`` (NNN = the layer's position in the report).

    Cheap checks first (layers, sizes, image, weights file), then the model; ``wrote`` hears of each file
    as soon as it is written, so a later failure still leaves the list of what was written.
    """
    report = analyze(spec, input, sets)
    chosen = map_layers(report, layers)
    check_fits(report)
    x = image_tensor(image, report.input, report.file)
    state = read_state(weights) if weights is not None else None
    with _allocating(report):
        model = build_with_report(spec, input, sets)[0]
        if state is not None:
            _load(model, state, weights)
        maps = feature_maps(model, x, [r.path for r in chosen], call_sites(report))
    folder = _folder(out)
    index = {r.path: i for i, r in enumerate(report.layers)}
    written = []
    for rec in chosen:
        c, h, w = rec.output_shape
        label = f"{rec.path} ({rec.op}) {c}x{h}x{w}"
        path = folder / f"{index[rec.path]:03d}_{rec.path}.png"
        _save(pictures.feature_grid(maps[rec.path], label), path, wrote)
        written.append(path)
    return written


def _load(model: nn.Module, state: dict[str, Tensor], path: Path | str | None) -> None:
    """Strictly: a missing, extra or wrongly shaped entry is an error, never a silently random weight."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ArchcalcError(f"weights do not fit the spec's model: {err}", file=str(path)) from None


def _save(img: Any, path: Path, wrote: Callable[[Path], None] | None) -> None:
    try:
        img.save(path, format="PNG")
    except OSError as err:  # e.g. a layer path longer than the file system's name limit
        raise ArchcalcError(f"cannot write the picture: {err.strerror or err}", file=str(path)) from None
    if wrote is not None:
        wrote(path)


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
    wrote: Callable[[Path], None] | None = None,
) -> Reconstruction:
    """``out/deconv_<layer>.png``: the projection of the layer's strongest activation at the input size;
    ``out/deconv_<layer>_panel.png``: the input and the projection side by side, labelled."""
    report = analyze(spec, input, sets)
    check_fits(report, copies=3)  # forward maps, switches and the mirror's maps
    x = image_tensor(image, report.input, report.file)
    state = read_state(weights) if weights is not None else None
    with _allocating(report):
        deconv = build_deconv(spec, layer, input, sets)
        if state is not None:
            _load(deconv.net, state, weights)  # the mirror shares these Parameters, so it follows
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
    _save(recon, files[0], wrote)
    _save(panel, files[1], wrote)
    return Reconstruction(deconv.plan, best, files)


def _folder(out: Path | str) -> Path:
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ArchcalcError(f"cannot create the output folder: {err.strerror or err}", file=str(folder)) from None
    return folder
