"""``archcalc table model.onnx`` (issue 11): spec -> export ONNX -> import gives the spec's counts, through the CLI.

Expected values: the torch model's own parameter count (``sum(p.numel())``), hand formulas written out below,
and the spec's own table (independently tested against torch, torchvision, fvcore and torchinfo elsewhere);
never the importer's output. Small ONNX graphs are built here with ``onnx.helper``, without torch.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import pytest

from archcalc.cli.app import main
from archcalc.frontend.spec import bundled_names

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def table(capsys: pytest.CaptureFixture[str], ref: str, *args: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "table", ref, "--format", "json", *args)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def export(capsys: pytest.CaptureFixture[str], tmp: Path, spec: str, *args: str) -> Path:
    path = tmp / f"{spec}.onnx"
    code, _, err = cli(capsys, "export", spec, "--onnx", str(path), *args)
    assert code == 0, err
    return path


def counted(data: dict[str, Any], with_paths: bool = True) -> list[tuple[Any, ...]]:
    """The layers that hold params or do MACs: (path,) shape, params, MACs, in order."""
    rows = [r for r in data["layers"] if r["params"] or r["macs"]]
    return [((r["path"],) if with_paths else ()) + (tuple(r["output_shape"]), r["params"], r["macs"]) for r in rows]


def torch_params(spec: str, input: str | None = None) -> int:
    from archcalc.torch import build

    return sum(p.numel() for p in build(spec, input).parameters())


@pytest.mark.parametrize("spec", ["edge-filters", "lenet"])
def test_roundtrip_same_layers(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No BatchNorm to fold: every counted layer comes back with its path, shape, params and MACs."""
    path = export(capsys, tmp_path, spec)
    got, want = table(capsys, str(path)), table(capsys, spec)
    assert counted(got) == counted(want)
    assert got["totals"]["params"] == torch_params(spec)
    assert got["totals"]["macs"] == want["totals"]["macs"]
    assert got["input"] == want["input"]


@pytest.mark.slow
def test_folded_batchnorm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """torch's exporter folds each of ResNet-18's 20 BatchNorms into the bias-free conv before it: a BN's
    2*C params (weight, bias) go, a conv bias of C comes, so the file holds sum(C) fewer params; MACs are
    unchanged (archcalc counts a BN as no MACs, a conv bias as none either). A one-line note says so."""
    from torch import nn

    from archcalc.torch import build

    path = export(capsys, tmp_path, "resnet18", "--input", "3x64x64")
    code, out, err = cli(capsys, "table", str(path), "--format", "json")
    assert code == 0, err
    model = build("resnet18", "3x64x64")
    bns = [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 20
    got, want = json.loads(out), table(capsys, "resnet18", "--input", "3x64x64")
    assert got["totals"]["params"] == sum(p.numel() for p in model.parameters()) - sum(bns)
    assert got["totals"]["macs"] == want["totals"]["macs"]
    assert [r["op"] for r in got["layers"]].count("batchnorm2d") == 0
    notes = [line for line in err.splitlines() if "folded" in line]
    assert len(notes) == 1 and notes[0].startswith(f"archcalc: note: {path}: 20 convs look like BatchNorms folded")


def tiny_model(ops: list[str], *, dynamic: bool = False, batch: Any = 1) -> Any:
    """input 3xHxW -> Conv(4, k3, bias) -> each op in ``ops`` (unary, named after itself)."""
    dims: list[Any] = ["n", 3, "h", "w"] if dynamic else [batch, 3, 16, 16]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "conv.weight")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "conv.bias")
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["t0"], name="/conv/Conv", kernel_shape=[3, 3])
    ]
    for i, op in enumerate(ops):
        nodes.append(helper.make_node(op, [f"t{i}"], [f"t{i + 1}"], name=f"/{op.lower()}/{op}"))
    nodes.append(helper.make_node("Identity", [f"t{len(ops)}"], ["y"], name="/out/Identity"))
    graph = helper.make_graph(nodes, "tiny", [x], [y], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save(model: Any, path: Path) -> str:
    onnx.save(model, str(path))
    return str(path)


def test_dynamic_input_needs_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dynamic H/W: one line asking for --input; with it, the counts of Conv(3->4, k3) at 16x16 by hand."""
    ref = save(tiny_model(["Relu"], dynamic=True), tmp_path / "dyn.onnx")
    code, out, err = cli(capsys, "table", ref)
    assert (code, out) == (2, "") and err.splitlines() == [
        f"archcalc: error: {ref}: the input 3xhxw has dynamic dims: give --input CxHxW"
    ]
    data = table(capsys, ref, "--input", "3x16x16")
    conv, relu = data["layers"]
    assert (conv["path"], conv["op"], conv["output_shape"]) == ("conv", "conv2d", [4, 14, 14])
    assert conv["params"] == 4 * 3 * 3 * 3 + 4  # weights + bias
    assert conv["macs"] == 4 * 14 * 14 * (3 * 3 * 3)  # one MAC per weight per output unit
    assert (relu["path"], relu["op"]) == ("relu", "relu")
    only_batch = save(tiny_model(["Relu"], batch="n"), tmp_path / "batch.onnx")  # needs no --input
    assert [r["output_shape"] for r in table(capsys, only_batch)["layers"]] == [[4, 14, 14], [4, 14, 14]]


def test_unknown_ops_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ops archcalc has no rule for: the default error names every one and where it occurs."""
    ref = save(tiny_model(["Erf", "Relu", "Softplus"]), tmp_path / "unk.onnx")
    code, out, err = cli(capsys, "table", ref)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "2 unsupported op(s): onnx Erf at 'erf', onnx Softplus at 'softplus'" in err


def test_import_writes_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """archcalc import model.onnx -o spec.yaml: the written spec has the file's layers and the hand counts."""
    ref = save(tiny_model(["Relu", "Sigmoid"]), tmp_path / "tiny.onnx")
    spec = tmp_path / "tiny.yaml"
    code, _, err = cli(capsys, "import", ref, "-o", str(spec))
    assert code == 0, err
    data = table(capsys, str(spec))
    assert [(r["path"], r["op"], r["output_shape"]) for r in data["layers"]] == [
        ("conv", "conv2d", [4, 14, 14]),
        ("relu", "relu", [4, 14, 14]),
        ("sigmoid", "sigmoid", [4, 14, 14]),
    ]
    assert data["totals"]["params"] == 4 * 3 * 3 * 3 + 4


def test_decomposed_activations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At opset 13 torch writes GELU as Div/Erf/Add/Mul/Mul and Hardswish as x * HardSigmoid(x), SiLU as
    x * Sigmoid(x): each comes back as the one activation, and the params are torch's."""
    import torch
    from torch import nn

    layers = {"conv": nn.Conv2d(3, 8, 3), "gelu": nn.GELU(), "hswish": nn.Hardswish(), "silu": nn.SiLU()}
    model = nn.Sequential(OrderedDict({**layers, "flatten": nn.Flatten(), "fc": nn.Linear(288, 10)}))
    path = tmp_path / "acts.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(model.eval(), (torch.rand(1, 3, 8, 8),), str(path), dynamo=False, opset_version=13)
    data = table(capsys, str(path))
    assert [(r["path"], r["op"]) for r in data["layers"]] == [
        ("conv", "conv2d"),
        ("gelu", "gelu"),
        ("hswish", "hardswish"),
        ("silu", "silu"),
        ("flatten", "flatten"),
        ("fc", "linear"),
    ]
    assert data["totals"]["params"] == sum(p.numel() for p in model.parameters())


def test_missing_onnx_extra_is_one_line(tmp_path: Path) -> None:
    """Without onnx (nor numpy): 'archcalc table model.onnx' is one line naming archcalc[onnx], exit 2."""
    import subprocess
    import sys

    from test_export import BLOCKER, ROOT

    script = BLOCKER.replace('("onnx", "onnxruntime")', '("onnx", "onnxruntime", "numpy")')
    ref = save(tiny_model(["Relu"]), tmp_path / "t.onnx")
    proc = subprocess.run(
        [sys.executable, "-c", script, "table", ref], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines() == [f'archcalc: error: {ref} needs onnx: pip install "archcalc[onnx]"']


def test_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a model, a model the checker refuses, no such file: one line each, exit 2."""
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf" * 10)
    broken = tiny_model(["Relu"])
    broken.graph.node[1].input[0] = "nowhere"  # reads a value nothing defines
    cases = [
        (str(junk), "not an ONNX model"),
        (save(broken, tmp_path / "broken.onnx"), "onnx.checker"),
        (str(tmp_path / "missing.onnx"), "no such ONNX file"),
    ]
    for ref, words in cases:
        code, out, err = cli(capsys, "table", ref)
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1 and words in err, err


# The bundled specs torch.onnx (TorchScript-based exporter, opset 20) cannot export, or whose export is not a
# graph of layers archcalc imports, with the reason.
NOT_EXPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}
FUSED = ("lrn", "scaled_tanh", "subsample", "rbf")  # and a conv2d with a connection table


def _small_input(spec: str) -> list[str]:
    """--input Cx64x64 when the spec keeps its params there (global pooling), to keep the forwards cheap."""
    from archcalc.analysis.records import analyze
    from archcalc.errors import ArchcalcError

    own = analyze(spec)
    small = "x".join(map(str, (own.input[0], 64, 64)))
    if any(r.op.startswith("adaptive") and r.args.get("output") not in (1, [1, 1]) for r in own.layers):
        return []  # torch.onnx exports an adaptive pool only when its output size divides the input's
    try:
        return ["--input", small] if analyze(spec, small).totals.params == own.totals.params else []
    except ArchcalcError:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("spec", bundled_names())
def test_every_bundled_spec_roundtrips(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """spec -> export --keep-bn -> table model.onnx: the same totals, and the same (shape, params, MACs) per
    counted layer (as a multiset: a 'compress' or a flat container may be named differently)."""
    from archcalc.analysis.records import analyze

    skip = NOT_EXPORTED.get(spec) or NOT_IMPORTED.get(spec)
    if analyze(spec).totals.params * 4 >= 2**31:
        skip = "over 2 GB: ONNX external data, round-tripped by test_onnx_external.py::test_regnet_y_128gf_roundtrip"
    if skip:
        pytest.skip(skip)
    size = _small_input(spec)
    path = export(capsys, tmp_path, spec, "--keep-bn", *size)
    got, want = table(capsys, str(path)), table(capsys, spec, *size)
    assert Counter(counted(got, with_paths=False)) == Counter(counted(want, with_paths=False))
    assert got["totals"]["params"] == torch_params(spec, size[1] if size else None)
    assert got["totals"]["macs"] == want["totals"]["macs"]
    # the layers the import reads back from chains of nodes (onnxfuse_*.py): the same args too (LRN's alpha...)
    fused = [[(r.op, r.output_shape, r.args) for r in report.layers if r.op in FUSED or r.args.get("table")]
             for report in (analyze(str(path)), analyze(spec, *size[1:]))]  # fmt: skip
    assert fused[0] == fused[1]
