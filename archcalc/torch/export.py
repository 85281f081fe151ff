"""``archcalc export``: a spec's model (eval mode, seeded random init) to ONNX and TorchScript, each file verified.

ONNX goes through torch's TorchScript-based exporter (``dynamo=False``): it needs only ``onnx``, takes
``dynamic_axes`` (batch, height and width, as seed 004 exports), and is several times faster here than the
``torch.export`` exporter, which would also need onnxscript. In eval mode it folds each BatchNorm into the conv
before it (as torch does by default); ``keep_bn`` exports the BatchNormalization nodes instead.

Weights over protobuf's 2 GB limit for one file (regnet-y-128gf) go to one external data file beside the
.onnx, ``<name>.onnx.data``. torch's exporter switches to external data by itself there, but writes one file
per tensor (named after it, >1024 elements) into the .onnx's folder; ``_place`` gathers them into one.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from archcalc.analysis.report import Report
from archcalc.errors import ArchcalcError, ShapeError
from archcalc.torch import build_with_report

OPSET = 20  # Gelu is one node from 20 on (LayerNormalization from 17); onnxruntime >= 1.17 runs it
SEED = 0
INPUT_NAME = "input"
EXTERNAL_BYTES = 2**31 - 1  # weights above this go to one data file (protobuf's limit; a test lowers it)
_ALIGN = 4096  # each tensor's offset in the data file is page-aligned, so that a runtime can map it
_INLINE_BELOW = 1024  # bytes: smaller tensors (shapes, small biases) stay in the .onnx, as onnx.save_model keeps them


@dataclass
class Probe:
    """An input the files are checked on, and what it varies ('' for the traced one)."""

    x: Tensor
    why: str


def export(
    spec: str,
    onnx_path: Path | None,
    ts_path: Path | None,
    *,
    dynamic: bool = False,
    keep_bn: bool = False,
    input: str | None = None,
    sets: dict[str, Any] | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Build, export, verify; ``say`` gets one line per file written (and one per note)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model, report = build_with_report(spec, input, sets)
        model.eval()
        probes = _probes(spec, report, sets, dynamic)
    with torch.no_grad():
        if onnx_path is not None:
            say(write_onnx(model, report, onnx_path, probes, dynamic=dynamic, keep_bn=keep_bn))
            if not keep_bn and (note := _folded_note(model, onnx_path)):
                say(note)
        if ts_path is not None:
            say(write_torchscript(model, ts_path, probes))


def _probes(spec: str, report: Report, sets: dict[str, Any] | None, dynamic: bool) -> list[Probe]:
    """The traced input (batch 2); with ``dynamic`` also batch 3 at a larger size when the spec takes one."""
    from archcalc.analysis.records import analyze

    shape = tuple(report.input)
    probes = [Probe(torch.rand(2, *shape), "")]
    if not dynamic:
        return probes
    if len(shape) == 3:
        bigger = (shape[0], shape[1] + 32, shape[2] + 32)
        try:  # same params at the larger size: the built model runs there (a flatten into a linear does not)
            fits = analyze(spec, "x".join(map(str, bigger)), sets).totals.params == report.totals.params
        except ShapeError:
            fits = False
        if fits:
            probes.append(Probe(torch.rand(3, *bigger), "dynamic batch and size"))
            return probes
    probes.append(Probe(torch.rand(3, *shape), "dynamic batch; the network takes only its own size"))
    return probes


def _outputs(y: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [y] if isinstance(y, Tensor) else list(y)


def write_onnx(
    model: nn.Module, report: Report, path: Path, probes: list[Probe], *, dynamic: bool, keep_bn: bool
) -> str:
    import onnx

    names = ["output", *(n.replace(".", "_") for n in report.outputs[1:])]
    axes: dict[str, dict[int, str]] | None = None
    if dynamic:
        axes = (
            {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
            if len(report.input) == 3
            else {INPUT_NAME: {0: "batch"}}
        )
        axes.update({n: {0: "batch"} for n in names})
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
            raw = Path(tmp) / path.name  # torch's own files, kept apart from the user's folder until gathered
            _torch_export(model, report, probes[0].x, raw, names, axes, keep_bn=keep_bn, shown=path)
            data = _place(raw, path)
    except OSError as err:  # an unwritable folder, a full disk
        raise ArchcalcError(f"cannot write the file: {err.strerror or err}", file=str(path)) from None
    onnx.checker.check_model(str(path), full_check=True)  # the path form: it reads external data beside it
    diffs = _compare(path, model, probes, _run_onnx(path, optimize=not data))
    where = f" with its weights in {path.name}.data (ONNX external data, {_size(data)})" if data else ""
    return f"wrote {path}{where}: onnx.checker passed (opset {OPSET}); onnxruntime == torch {diffs}"


def _torch_export(
    model: nn.Module,
    report: Report,
    x: Tensor,
    raw: Path,
    names: list[str],
    axes: dict[str, dict[int, str]] | None,
    *,
    keep_bn: bool,
    shown: Path,
) -> None:
    """torch.onnx.export (TorchScript-based) to ``raw``; its failure as one line naming ``shown``."""
    _register_channel_shuffle()
    try:
        with warnings.catch_warnings(), _stdout_to_null():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (x,),
                str(raw),
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=names,
                opset_version=OPSET,
                dynamic_axes=axes,
                training=torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL,
            )
    except (torch.onnx.errors.OnnxExporterError, RuntimeError) as err:
        why = _first_line(err).split(" [Caused by")[0].split(" Please feel free")[0]
        if axes and "adaptive" in why:
            why += " (an adaptive pool needs a fixed input size: export without --dynamic)"
        raise ArchcalcError(f"torch.onnx cannot export {report.model}: {why}", file=str(shown)) from None


def _place(raw: Path, path: Path) -> int:
    """Move torch's file ``raw`` to ``path``; when its weights pass EXTERNAL_BYTES (or torch wrote them apart),
    every tensor of 1 KB or more goes to one data file ``<name>.data`` beside it. The data file's size, or 0."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    from archcalc.imports.onnxread import all_tensors

    data = path.with_name(path.name + ".data")
    model = onnx.load(str(raw), load_external_data=False)
    tensors = list(all_tensors(model.graph))
    if not any(uses_external_data(t) for t in tensors) and sum(len(t.raw_data) for t in tensors) <= EXTERNAL_BYTES:
        os.replace(raw, path)
        data.unlink(missing_ok=True)  # an earlier export's, under this name: it would look like this file's
        return 0
    gathered = raw.with_name(data.name)
    with gathered.open("wb") as out:
        for t in tensors:
            if not uses_external_data(t) and len(t.raw_data) < _INLINE_BELOW:
                continue
            out.seek(-out.tell() % _ALIGN, os.SEEK_CUR)  # the gap reads back as zeros
            offset = out.tell()
            if uses_external_data(t):  # torch's file for this tensor, streamed: never held in the proto
                info = ExternalDataInfo(t)
                _copy(raw.parent / info.location, int(info.offset or 0), info.length, out)
                (raw.parent / info.location).unlink()  # one copy on disk at a time
            else:
                out.write(t.raw_data)
                t.ClearField("raw_data")
            _point(t, data.name, offset, out.tell() - offset)
        size = out.tell()
    onnx.save_model(model, str(raw))  # the graph alone now: every tensor left holds under 1 KB
    os.replace(gathered, data)
    os.replace(raw, path)
    return size


def _copy(src: Path, offset: int, length: int | None, out: Any) -> None:
    """Bytes of ``src`` from ``offset`` (all, or ``length``) appended to ``out``, 16 MB at a time: protobuf
    never frees the bytes once set in a tensor (its arena grows), which would hold every weight twice."""
    left = -1 if length is None else int(length)
    with src.open("rb") as f:
        f.seek(offset)
        while left and (chunk := f.read(1 << 24 if left < 0 else min(left, 1 << 24))):
            out.write(chunk)
            left -= len(chunk) if left > 0 else 0


def _point(t: Any, location: str, offset: int, length: int) -> None:
    """The tensor's data at ``location`` (onnx's set_external_data, which wants the bytes in the tensor)."""
    import onnx

    del t.external_data[:]
    t.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 10**8 else f"{n / 1e6:.2f} MB"


def _run_onnx(path: Path, *, optimize: bool = True) -> Callable[[Tensor], list[Tensor]]:
    """An onnxruntime session on the file. Without ``optimize`` it runs the graph as written: its optimizer
    (fusing each kept BatchNorm into its conv) copies the weights, 4.8 GB and 14 s instead of 2.6 GB and 0.1 s
    for regnet-y-128gf's 2.6 GB of external data."""
    import onnxruntime  # type: ignore[import-untyped]

    options = onnxruntime.SessionOptions()
    if not optimize:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph kinds
        raise ArchcalcError(f"onnxruntime cannot load the file: {_first_line(err)}", file=str(path)) from None

    def run(x: Tensor) -> list[Tensor]:
        try:
            ys = session.run(None, {INPUT_NAME: x.numpy()})
        except Exception as err:
            size = "x".join(map(str, x.shape))
            raise ArchcalcError(
                f"onnxruntime cannot run the file at {size}: {_first_line(err)}", file=str(path)
            ) from None
        return [torch.from_numpy(y) for y in ys]

    return run


def write_torchscript(model: nn.Module, path: Path, probes: list[Probe]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # check_trace re-runs the trace (10 s for LeNet-5 here); the comparison below checks the saved file
        traced = torch.jit.trace(model, probes[0].x, check_trace=False)  # type: ignore[no-untyped-call]
        traced.save(str(path))
        loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]
    diffs = _compare(path, model, probes, lambda x: _outputs(loaded(x)))
    return f"wrote {path}: torch.jit.load ok; same output as the model {diffs}"


def _compare(path: Path, model: nn.Module, probes: list[Probe], run: Callable[[Tensor], list[Tensor]]) -> str:
    """Every output of ``run`` close to the model's on every probe; the inputs and largest differences, as text."""
    said = []
    for probe in probes:
        want, got = _outputs(model(probe.x)), run(probe.x)
        size = "x".join(map(str, probe.x.shape))
        if len(want) != len(got) or any(w.shape != g.shape for w, g in zip(want, got, strict=False)):
            raise ArchcalcError(
                f"the file gives {[tuple(g.shape) for g in got]}, torch {[tuple(w.shape) for w in want]} at {size}",
                file=str(path),
            )
        worst = max(float((w - g).abs().max()) for w, g in zip(want, got, strict=True))
        if not all(
            torch.allclose(g, w, rtol=1e-3, atol=1e-5 * max(1.0, float(w.abs().max())))
            for w, g in zip(want, got, strict=True)
        ):
            raise ArchcalcError(
                f"the file's output differs from torch's at {size}: max |diff| {worst:.3g}", file=str(path)
            )
        said.append(f"at {size}" + (f" ({probe.why})" if probe.why else "") + f", max |diff| {worst:.1e}")
    return "; ".join(said)


def _folded_note(model: nn.Module, path: Path) -> str:
    """One line when the exporter folded BatchNorms into convs: the file's params then differ from the spec's."""
    import onnx

    bns = sum(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in model.modules())
    graph = onnx.load(str(path), load_external_data=False).graph
    kept = sum(n.op_type == "BatchNormalization" for n in graph.node)
    if kept >= bns:
        return ""
    size = {t.name: math.prod(t.dims) for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    for n in graph.node:  # the exporter shares equal initializers (all-zero folded biases) through Identity
        if n.op_type == "Identity" and n.input[0] in size:
            size[n.output[0]] = size[n.input[0]]
    in_file = sum(  # per use, as each layer holds its own; a kept BN's running mean and var are buffers
        size.get(name, 0)
        for n in graph.node
        if n.op_type != "Identity"
        for name in (n.input[:3] if n.op_type == "BatchNormalization" else n.input)
    )
    ours = sum(p.numel() for p in model.parameters())
    return (
        f"note: {path}: the exporter folded {bns - kept} BatchNorm layers into the convs before them; "
        f"the file holds {in_file:,} params, the spec {ours:,} (--keep-bn keeps them)"
    )


_REGISTERED: list[bool] = []


def _register_channel_shuffle() -> None:
    """The exporter has no symbolic for aten::channel_shuffle (ShuffleNet V2): torch's documented way to add one,
    as torchvision's reshape-transpose-reshape, which archcalc's ONNX import reads back as channel_shuffle."""
    if _REGISTERED:
        return
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "i")
    def shuffle(g: Any, x: Any, groups: int) -> Any:
        def const(v: list[int]) -> Any:
            return g.op("Constant", value_t=torch.tensor(v, dtype=torch.int64))

        hw = g.op("Slice", g.op("Shape", x), const([2]), const([4]))
        split = g.op("Reshape", x, g.op("Concat", const([0, groups, -1]), hw, axis_i=0))
        return g.op("Reshape", g.op("Transpose", split, perm_i=[0, 2, 1, 3, 4]), g.op("Shape", x))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.register_custom_op_symbolic("aten::channel_shuffle", shuffle, OPSET)  # type: ignore[attr-defined]
    _REGISTERED.append(True)


@contextlib.contextmanager
def _stdout_to_null() -> Iterator[None]:
    """The exporter logs its whole graph to the process's stdout (fd 1, from C++) when an export fails: its
    log switch tests a function object, so it is always on. Keep that off our output."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
