"""ONNX import of weights used by several nodes: a module called more than once (spec 'shares', issue 11).

Expected values: the hand formulas of test_shares.py, and torch's own ``numel`` of the exported modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archcalc.cli.app import main
from tests.test_shares import BUFFERS, MACS, PARAMS, SPEC

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")


def _table(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    assert main(["table", *args, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def test_exported_shared_spec_reads_back_shared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "shared.yaml"
    spec.write_text(SPEC)
    path = tmp_path / "shared.onnx"
    assert main(["export", str(spec), "--onnx", str(path), "--keep-bn"]) == 0
    capsys.readouterr()
    got, _ = _table(capsys, str(path))
    totals = got["totals"]
    assert (totals["params"], totals["buffers"], totals["macs"]) == (PARAMS, BUFFERS, MACS)
    sharers = [r for r in got["layers"] if r.get("shares")]
    assert sorted(r["op"] for r in sharers) == ["batchnorm2d", "conv2d", "conv2d"]
    assert all(r["params"] == 0 and r["buffers"] == 0 for r in sharers)
    owners = {r["path"]: r for r in got["layers"]}
    assert all(owners[r["shares"]]["params"] > 0 and not owners[r["shares"]].get("shares") for r in sharers)


class _Twice(torch.nn.Module):  # type: ignore[misc]
    """A conv called twice, and two BatchNorms whose fresh values are equal (torch.onnx deduplicates equal
    initializers through Identity nodes: those are not shared weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.bn2 = torch.nn.BatchNorm2d(4)

    def forward(self, x: Any) -> Any:
        return self.bn2(self.conv(self.bn(self.conv(x))))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.onnx's own
def test_equal_values_are_not_shared_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _Twice().eval()
    path = tmp_path / "twice.onnx"
    torch.onnx.export(
        model, (torch.randn(1, 4, 8, 8),), str(path), dynamo=False, training=torch.onnx.TrainingMode.PRESERVE
    )
    got, _ = _table(capsys, str(path))
    params = sum(p.numel() for p in model.parameters())  # each module's weights once: torch's own count
    buffers = sum(b.numel() for b in model.buffers())
    assert (got["totals"]["params"], got["totals"]["buffers"]) == (params, buffers)
    assert [r["op"] for r in got["layers"] if r.get("shares")] == ["conv2d"]
    assert got["totals"]["macs"] == 4 * 4 * 9 * 8 * 8 * 2  # C_in*C_out*k*k*H*W, twice


def test_same_weights_other_args_are_counted_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(torch.randn(4, 4, 3, 3).numpy(), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="/one/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w"], ["y"], name="/two/Conv", pads=[1, 1, 1, 1], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
        [w],
    )
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    got, err = _table(capsys, str(path))
    assert got["totals"]["params"] == 2 * 4 * 4 * 9  # the file's one weight, read by two different convs
    assert not any(r.get("shares") for r in got["layers"])
    assert "'two' reads the weights of 'one' as a conv2d with other arguments" in err
