"""``archcalc export SPEC --onnx FILE [--dynamic] --torchscript FILE`` through the real CLI (issue 11).

Each file is checked here on its own terms, not through the command's own verification: onnx.checker,
onnxruntime against the torch model built from the same spec with the same seed, torch.jit.load against it
too. The expected outputs come from torch (archcalc.torch.build), never from the exporter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archcalc.cli.app import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
SEED = 0  # the command's documented seed: random init with torch.manual_seed(0)


def model_of(spec: str, input: str | None = None) -> torch.nn.Module:
    from archcalc.torch import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return build(spec, input).eval()


def run_onnx(path: Path, x: torch.Tensor) -> list[torch.Tensor]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [torch.from_numpy(y) for y in session.run(None, {name: x.numpy()})]


def close(got: torch.Tensor, want: torch.Tensor) -> bool:
    return got.shape == want.shape and torch.allclose(
        got, want, rtol=1e-3, atol=1e-5 * max(1.0, float(want.abs().max()))
    )


def input_dims(path: Path) -> list[int | str]:
    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param if d.dim_param else d.dim_value for d in dims]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_lenet5_onnx_and_torchscript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """LeNet-5 (a flatten into F6, so only the batch can vary): both files, each verified independently."""
    onnx_file, ts_file = tmp_path / "lenet5.onnx", tmp_path / "lenet5.pt"
    code = main(["export", "lenet5", "--onnx", str(onnx_file), "--torchscript", str(ts_file), "--dynamic"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split(":")[0] for line in out] == [f"wrote {onnx_file}", f"wrote {ts_file}"]
    assert "onnx.checker passed" in out[0] and "torch.jit.load ok" in out[1]
    onnx.checker.check_model(str(onnx_file), full_check=True)
    assert input_dims(onnx_file) == ["batch", 1, "height", "width"]
    model, loaded = model_of("lenet5"), torch.jit.load(str(ts_file))
    with torch.no_grad():
        for batch in (1, 5):  # two batch sizes through the dynamic axis
            x = torch.rand(batch, 1, 32, 32)
            want = model(x)
            assert close(run_onnx(onnx_file, x)[0], want)
            assert close(loaded(x), want)


@pytest.mark.slow
def test_resnet18_dynamic_two_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ResNet-18 --dynamic: onnxruntime equals torch at two batches and two sizes (global pooling)."""
    onnx_file = tmp_path / "resnet18.onnx"
    assert main(["export", "resnet18", "--onnx", str(onnx_file), "--dynamic"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"wrote {onnx_file}: ") and "dynamic batch and size" in out[0]
    assert out[1].startswith(f"note: {onnx_file}: the exporter folded 20 BatchNorm layers")
    # torchvision's 11,689,512, less sum(C) over the 20 BNs (2C params each become a conv bias of C)
    folded = 11_689_512 - (64 * 5 + 128 * 5 + 256 * 5 + 512 * 5)
    assert f"the file holds {folded:,} params, the spec 11,689,512" in out[1]
    onnx.checker.check_model(str(onnx_file), full_check=True)
    assert input_dims(onnx_file) == ["batch", 3, "height", "width"]
    model = model_of("resnet18")
    with torch.no_grad():
        for shape in ((1, 3, 224, 224), (2, 3, 160, 192)):
            x = torch.rand(*shape)
            assert close(run_onnx(onnx_file, x)[0], model(x))


@pytest.mark.slow
def test_keep_bn_keeps_batchnorm_nodes(tmp_path: Path) -> None:
    """--keep-bn: 20 BatchNormalization nodes (torchvision's resnet18 has 20 BatchNorm2d), weights under their names."""
    onnx_file = tmp_path / "r18.onnx"
    assert main(["export", "resnet18", "--onnx", str(onnx_file), "--keep-bn", "--input", "3x64x64"]) == 0
    graph = onnx.load(str(onnx_file)).graph
    assert sum(n.op_type == "BatchNormalization" for n in graph.node) == 20
    assert "layer1.0.conv1.weight" in {t.name for t in graph.initializer}
    model = model_of("resnet18", "3x64x64")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert close(run_onnx(onnx_file, x)[0], model(x))


@pytest.mark.slow
def test_unexportable_is_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """AlexNet's adaptive pool (6x6) cannot take a dynamic size in torch's exporter: one line, exit 2, and
    nothing on the process's stdout (capfd: the exporter's C++ log of the graph goes to fd 1)."""
    assert main(["export", "alexnet", "--onnx", str(tmp_path / "a.onnx"), "--dynamic"]) == 2
    err = capfd.readouterr()
    assert err.out == ""
    assert "torch.onnx cannot export alexnet" in err.err and "export without --dynamic" in err.err
    assert len(err.err.splitlines()) == 1


@pytest.mark.slow
def test_shufflenet_channel_shuffle(tmp_path: Path) -> None:
    """aten::channel_shuffle has no symbolic in torch's exporter; export adds one (reshape-transpose-reshape):
    onnxruntime equals torch at two sizes."""
    onnx_file = tmp_path / "s.onnx"
    assert main(["export", "shufflenet-v2-x0-5", "--onnx", str(onnx_file), "--dynamic", "--input", "3x64x64"]) == 0
    model = model_of("shufflenet-v2-x0-5", "3x64x64")
    with torch.no_grad():
        for shape in ((1, 3, 64, 64), (2, 3, 96, 128)):
            x = torch.rand(*shape)
            assert close(run_onnx(onnx_file, x)[0], model(x))


@pytest.mark.parametrize(
    "args, message",
    [
        (["lenet5"], "give --onnx FILE, --torchscript FILE or both"),
        (["lenet5", "--torchscript", "x.pt", "--dynamic"], "--dynamic and --keep-bn apply to --onnx"),
        (["lenet5", "--onnx", "README.md/x.onnx"], "README.md/x.onnx: README.md is not a folder"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", *args]) == 2
    err = capsys.readouterr()
    assert err.out == "" and message in err.err and len(err.err.splitlines()) == 1


def test_missing_folders_are_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a" / "b" / "edge.pt"
    assert main(["export", "edge-filters", "--torchscript", str(target)]) == 0
    assert target.is_file() and torch.jit.load(str(target)) is not None
    assert capsys.readouterr().out.startswith(f"wrote {target}")


BLOCKER = """\
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("onnx", "onnxruntime"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.argv = ["archcalc", *sys.argv[1:]]
from archcalc.cli.app import run
run()
"""


def test_missing_onnx_extra_is_one_line(tmp_path: Path) -> None:
    """Without onnx/onnxruntime: one line naming archcalc[onnx], exit 2, and torch is never imported."""
    script = BLOCKER.replace("run()", "try:\n    run()\nfinally:\n    print('torch' in sys.modules, file=sys.stderr)")
    proc = subprocess.run(
        [sys.executable, "-c", script, "export", "lenet5", "--onnx", str(tmp_path / "x.onnx")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and proc.stdout == ""
    assert lines[0] == 'archcalc: error: export --onnx needs onnx, onnxruntime: pip install "archcalc[onnx]"'
    assert lines[1:] == ["False"]
