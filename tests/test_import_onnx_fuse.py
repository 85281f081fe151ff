"""ONNX import: chains of nodes that torch writes for one op, read back as that op (archcalc/imports/onnxfuse*.py).

Each file is written by torch.onnx.export (TorchScript exporter, opset 20, as ``archcalc export`` does) from a
small hand-built module; the expected args are the module's own attributes, the expected counts hand formulas.
Near misses are the same files with one link of the chain changed: they must stay unsupported ops, listed.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from archcalc.cli.app import main

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
import numpy as np  # noqa: E402
from onnx import numpy_helper  # noqa: E402


def exported(module: Any, shape: tuple[int, ...]) -> Any:
    module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(shape),), buf, dynamo=False, opset_version=20,
                          input_names=["input"], output_names=["output"])  # fmt: skip
    return onnx.load_from_string(buf.getvalue())


class ConvLrn(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.relu = torch.nn.ReLU()
        self.norm = torch.nn.LocalResponseNorm(4, alpha=2e-4, beta=0.5, k=2.0)  # even size: pads 2 before, 1 after

    def forward(self, x: Any) -> Any:
        return self.norm(self.relu(self.conv(x)))


TABLE = ((0, 1), (1, 2), (0, 1, 2))


class LeNetUnits(torch.nn.Module):  # type: ignore[misc]
    """LeNet-5's units as archcalc builds them (archcalc/torch/modules.py), on 3 x 10 x 10."""

    def __init__(self) -> None:
        from archcalc.torch.modules import RBF, ScaledTanh, Subsample, TableConv

        super().__init__()
        self.conv = TableConv(TABLE, kernel_size=3)  # 3 x 8 x 8
        self.act = ScaledTanh()
        self.pool = Subsample(3, 2)  # 3 x 4 x 4
        self.pool2 = Subsample(3, 2, bias=False)  # 3 x 2 x 2, no Add
        self.flatten = torch.nn.Flatten()
        self.out = RBF(12, 5)

    def forward(self, x: Any) -> Any:
        return self.out(self.flatten(self.pool2(self.pool(self.act(self.conv(x))))))


@pytest.fixture(scope="module")
def conv_lrn() -> Any:
    return exported(ConvLrn(), (1, 3, 10, 10))


@pytest.fixture(scope="module")
def lenet_units() -> Any:
    return exported(LeNetUnits(), (1, 3, 10, 10))


def run(tmp: Path, model: Any, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp / "m.onnx"
    onnx.save(model, str(path))
    code = main(["table", str(path), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def records(path: Path, op: str) -> list[tuple[str, tuple[int, ...], dict[str, Any]]]:
    from archcalc.analysis.records import analyze

    return [(r.path, tuple(r.output_shape), r.args) for r in analyze(str(path)).layers if r.op == op]


def test_lrn_read_back(conv_lrn: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """nn.LocalResponseNorm's ~20 nodes are one lrn layer with the module's size, alpha, beta, k."""
    code, out, err = run(tmp_path, conv_lrn, "--format", "json", capsys=capsys)
    assert code == 0, err
    data = json.loads(out)
    assert [(r["path"], r["op"], r["output_shape"]) for r in data["layers"]] == [
        ("conv", "conv2d", [8, 8, 8]),
        ("relu", "relu", [8, 8, 8]),
        ("norm", "lrn", [8, 8, 8]),
    ]
    assert data["totals"]["params"] == 8 * 3 * 3 * 3 + 8  # the conv's weights and bias; LRN has none
    assert data["totals"]["macs"] == 8 * 8 * 8 * (3 * 3 * 3)  # conv only: no MACs for LRN (a normalisation)
    norm = ConvLrn().norm
    want = {"size": norm.size, "alpha": norm.alpha, "beta": norm.beta, "k": norm.k}
    assert records(tmp_path / "m.onnx", "lrn") == [("norm", (8, 8, 8), want)]


def test_lenet_units_read_back(lenet_units: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Connection-table conv, scaled tanh, subsampling and RBF: one layer each, LeCun's counts by hand."""
    code, out, err = run(tmp_path, lenet_units, "--format", "json", capsys=capsys)
    assert code == 0, err
    data = json.loads(out)
    assert [(r["path"], r["op"], r["output_shape"]) for r in data["layers"]] == [
        ("conv", "conv2d", [3, 8, 8]),
        ("act", "scaled_tanh", [3, 8, 8]),
        ("pool", "subsample", [3, 4, 4]),
        ("pool2", "subsample", [3, 2, 2]),
        ("flatten", "flatten", [12]),
        ("out", "rbf", [5]),
    ]
    assert data["totals"]["params"] == sum(p.numel() for p in LeNetUnits().parameters())
    maps = sum(3 * 3 * len(row) + 1 for row in TABLE)
    assert data["totals"]["params"] == maps + 2 * 3 + 3  # coefficient and bias per map, then a coefficient only
    conv = 8 * 8 * 3 * 3 * sum(len(row) for row in TABLE)  # per unit of map j: 3 x 3 x |row j| weights
    assert data["totals"]["macs"] == conv + 3 * 4 * 4 + 3 * 2 * 2 + 12 * 5  # + one per subsampled unit + F_in x out
    path = tmp_path / "m.onnx"
    assert [args["table"] for _, _, args in records(path, "conv2d")] == [TABLE]
    assert records(path, "subsample") == [
        ("pool", (3, 4, 4), {"kernel": 2, "bias": True}),
        ("pool2", (3, 2, 2), {"kernel": 2, "bias": False}),
    ]
    assert records(path, "rbf") == [("out", (5,), {"out": 5})]


def _node(model: Any, op: str) -> Any:
    (node,) = [n for n in model.graph.node if n.op_type == op and n.name.startswith("/norm/")]
    return node


def _const(model: Any, name: str, value: Any) -> str:
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return name


def _no_zeros_counted(m: Any) -> None:
    (a,) = [a for a in _node(m, "AveragePool").attribute if a.name == "count_include_pad"]
    a.i = 0


def _pads_swapped(m: Any) -> None:  # 1 before, 2 after: the window one channel off torch's
    _node(m, "Pad").input[1] = _const(m, "swapped", np.array([0, 0, 1, 0, 0, 0, 0, 2, 0, 0], np.int64))


def _pads_by_one(m: Any) -> None:
    pad = _node(m, "Pad")
    del pad.input[2:]
    pad.input.append(_const(m, "one", np.array(1.0, np.float32)))


def _alpha_per_channel(m: Any) -> None:
    mul = [n for n in m.graph.node if n.op_type == "Mul" and n.name.startswith("/norm/")][1]
    mul.input[1] = _const(m, "alphas", np.full((1, 8, 1, 1), 2e-4, np.float32))


def _divides_another_tensor(m: Any) -> None:  # the squares are of relu's output, the Div reads conv's
    _node(m, "Div").input[0] = next(n for n in m.graph.node if n.op_type == "Conv").output[0]


def _scale_1_7(m: Any) -> None:  # 1.7 * tanh(2x/3) is not LeCun's function
    mul = next(n for n in m.graph.node if n.name == "/act/Mul_1")
    mul.input[1] = _const(m, "a", np.array(1.7, np.float32))


def _block_times_3(m: Any) -> None:  # a 2 x 2 average times 3 is not the block's sum
    mul = next(n for n in m.graph.node if n.name == "/pool/Mul")
    mul.input[1] = _const(m, "three", np.array(3.0, np.float32))


def _one_map_unbiased(m: Any) -> None:  # the maps' convs differ: no one conv2d with a table
    conv = next(n for n in m.graph.node if n.name == "/conv/maps.1/Conv")
    del conv.input[2:]


def _plus_prototypes(m: Any) -> None:  # (x + w)^2 summed is not the RBF's distance
    next(n for n in m.graph.node if n.name == "/out/Sub").op_type = "Add"


NEAR_MISSES = [
    ("conv_lrn", edit, "lrn", "onnx Div at 'norm.div'")
    for edit in (_no_zeros_counted, _pads_swapped, _pads_by_one, _alpha_per_channel, _divides_another_tensor)
] + [
    ("lenet_units", _scale_1_7, "scaled_tanh", "at 'act.mul_1'"),
    ("lenet_units", _block_times_3, "subsample", "at 'pool.mul'"),
    ("lenet_units", _plus_prototypes, "rbf", "onnx ReduceSum at 'out.reducesum'"),
]


@pytest.mark.parametrize(("model", "edit", "op", "listed"), NEAR_MISSES, ids=[m[1].__name__ for m in NEAR_MISSES])
def test_near_misses_are_not_fused(
    model: str, edit: Any, op: str, listed: str, request: pytest.FixtureRequest, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """One link changed: no fused layer in that module; its nodes stay unsupported ops, listed with their paths."""
    changed = onnx.ModelProto()
    changed.CopyFrom(request.getfixturevalue(model))
    edit(changed)
    code, out, err = run(tmp_path, changed, capsys=capsys)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "unsupported op(s)" in err and listed in err, err
    code, out, err = run(tmp_path, changed, "--allow-unknown", "--format", "json", capsys=capsys)
    assert code == 0, err
    unit = listed.split("'")[1].split(".")[0]  # the module the chain is in
    ops = [r["op"] for r in json.loads(out)["layers"] if r["path"].split(".")[0] == unit]
    assert op not in ops and "opaque" in ops


def test_unlike_maps_are_no_table(lenet_units: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One map's conv without a bias: no conv2d with a table; the Gathers stay layers of 'conv' between the maps
    of 'conv.maps', which the reader refuses in one line (as before there was a fusion)."""
    changed = onnx.ModelProto()
    changed.CopyFrom(lenet_units)
    _one_map_unbiased(changed)
    code, out, err = run(tmp_path, changed, "--allow-unknown", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"archcalc: error: {tmp_path / 'm.onnx'}: the calls of module 'conv.maps' are not "
                                "contiguous (it is called again after other layers)"]  # fmt: skip
