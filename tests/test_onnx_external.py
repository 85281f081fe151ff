"""ONNX external data both ways (issue 11): weights over protobuf's 2 GB single-file limit live in a data file
beside the .onnx. ``archcalc table`` reads only their dims; ``archcalc export`` writes one ``<name>.onnx.data``.

Expected values come from torch (``numel``, FlopCounterMode), onnx, onnxruntime, or the same model saved inline
by ``onnx.save_model``; never from the importer's own output.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from archcalc.cli.app import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx.external_data_helper import uses_external_data  # noqa: E402

from tests.test_import_onnx import counted  # noqa: E402

SMALL = 4096  # elements: onnxread reads constants up to this size (shapes, axes); larger tensors only by dims


class Net(torch.nn.Module):
    """Two convs, a pool and a linear; the reshape to a fixed shape becomes a small int64 constant in the file."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)  # 432 weights: small
        self.conv2 = torch.nn.Conv2d(16, 32, 3)  # 4,608 weights: over SMALL, never read
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(32 * 3 * 3, 10)  # 2,880 weights

    def forward(self, x: Any) -> Any:
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(self.pool(x).reshape(1, 32 * 3 * 3))


def torch_counts(model: Any, x: Any) -> tuple[int, int]:
    """params by numel, MACs as FlopCounterMode's FLOPs / 2 (convs and matmuls, bias adds not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def table(capsys: pytest.CaptureFixture[str], ref: str, *args: str) -> dict[str, Any]:
    code = main(["table", ref, "--format", "json", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    data: dict[str, Any] = json.loads(out.out)
    return data


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Any]:
    """The same exported model saved inline and with every tensor (constants too) as external data."""
    model, x = Net().eval(), torch.rand(1, 3, 16, 16)
    inline, ext = tmp_path / "inline" / "net.onnx", tmp_path / "ext" / "net.onnx"
    inline.parent.mkdir()
    ext.parent.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(inline), dynamo=False, opset_version=20)
    onnx.save_model(
        onnx.load(str(inline)),
        str(ext),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="net.onnx.data",
        size_threshold=0,
        convert_attribute=True,
    )
    return inline, ext, model


def test_external_reads_as_inline(
    files: tuple[Path, Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same layers and totals as inline and as torch counts them; the weights' bytes are never read (only the
    small constants are), and the data file is found beside the .onnx, not in the working folder."""
    import onnx.external_data_helper as edh

    inline, ext, model = files
    proto = onnx.load(str(ext), load_external_data=False)
    stored = {t.name: t for t in proto.graph.initializer}
    assert stored and all(uses_external_data(t) for t in stored.values())
    shapes = [a.t for n in proto.graph.node if n.op_type == "Constant" for a in n.attribute if a.HasField("t")]
    assert shapes and all(uses_external_data(t) for t in shapes)  # the reshape's target shape, external too
    read: list[tuple[str, int]] = []
    load = edh.load_external_data_for_tensor

    def spy(tensor: Any, base_dir: str) -> None:
        read.append((tensor.name, int(torch.tensor(list(tensor.dims)).prod())))
        load(tensor, base_dir)

    monkeypatch.setattr(edh, "load_external_data_for_tensor", spy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    got, want = table(capsys, str(ext)), table(capsys, str(inline))
    assert counted(got) == counted(want)
    assert got["totals"] == want["totals"]
    params, macs = torch_counts(model, torch.rand(1, 3, 16, 16))
    assert (got["totals"]["params"], got["totals"]["macs"]) == (params, macs)
    assert read and all(n <= SMALL for _, n in read)
    assert "conv2.weight" in stored and "conv2.weight" not in dict(read)


def test_missing_data_file_is_one_line(files: tuple[Path, Path, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _, ext, _ = files
    (ext.parent / "net.onnx.data").rename(ext.parent / "moved.data")
    code = main(["table", str(ext)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{ext}:" in err and "'net.onnx.data'" in err and "external data" in err


def _model_of(spec: str) -> Any:
    from archcalc.torch import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the command's documented seed
        return build(spec).eval()


def test_export_forced_to_external_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the threshold lowered, a small spec's weights go to one data file named after the .onnx; the files
    pass the checker, run in onnxruntime as torch, and read back with torch's parameter count."""
    import archcalc.torch.export as exporter

    monkeypatch.setattr(exporter, "EXTERNAL_BYTES", 0)
    path = tmp_path / "out" / "lenet.onnx"
    code = main(["export", "lenet", "--onnx", str(path), "--keep-bn"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.startswith(f"wrote {path} with its weights in lenet.onnx.data (ONNX external data, ")
    assert sorted(os.listdir(path.parent)) == ["lenet.onnx", "lenet.onnx.data"]  # torch's own files gone
    proto = onnx.load(str(path), load_external_data=False)
    big = [t for t in proto.graph.initializer if len(t.raw_data) >= 1024 or uses_external_data(t)]
    assert big and all(uses_external_data(t) for t in big)
    assert {e.value for t in big for e in t.external_data if e.key == "location"} == {"lenet.onnx.data"}
    assert path.stat().st_size < 10_000
    onnx.checker.check_model(str(path), full_check=True)
    model, x = _model_of("lenet"), torch.rand(2, 1, 28, 28)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(y), model(x), rtol=1e-3, atol=1e-5)
    assert table(capsys, str(path))["totals"]["params"] == sum(p.numel() for p in model.parameters())


def test_small_export_stays_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under the limit the .onnx holds its weights itself; a data file left by an earlier export is removed."""
    path = tmp_path / "lenet.onnx"
    (tmp_path / "lenet.onnx.data").write_bytes(b"stale")
    assert main(["export", "lenet", "--onnx", str(path), "--keep-bn"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {path}: onnx.checker passed")
    assert os.listdir(tmp_path) == ["lenet.onnx"]
    proto = onnx.load(str(path))
    assert not any(uses_external_data(t) for t in proto.graph.initializer)
    model = _model_of("lenet")
    weights = sum(p.numel() for p in model.parameters()) * 4
    assert weights < path.stat().st_size < weights + 100_000


@pytest.mark.slow
def test_regnet_y_128gf_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bundled spec over 2 GB: export --keep-bn writes external data, and table reads the file back with
    the spec's totals and per-layer (shape, params, MACs) multiset (as test_every_bundled_spec_roundtrips)."""
    size = ["--input", "3x64x64"]
    path = tmp_path / "regnet.onnx"
    code = main(["export", "regnet-y-128gf", "--onnx", str(path), "--keep-bn", *size])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "with its weights in regnet.onnx.data" in out.out
    data = path.with_name("regnet.onnx.data")
    assert data.stat().st_size > 2**31 > 100 * path.stat().st_size
    got, want = table(capsys, str(path)), table(capsys, "regnet-y-128gf", *size)
    assert got["totals"]["params"] == 644_812_894  # torchvision's published num_params
    assert (got["totals"]["params"], got["totals"]["macs"]) == (want["totals"]["params"], want["totals"]["macs"])
    assert Counter(counted(got, with_paths=False)) == Counter(counted(want, with_paths=False))
    shutil.rmtree(tmp_path)  # 2.6 GB of disk, freed now rather than at pytest's cleanup
