"""Issue 12, small things a user hits: --version, 'did you mean', a bad --input blamed on the option, minsize's
--format and --input, rf's JSON numbers. All through the CLI (main, or a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from archcalc.cli.app import main
from archcalc.ops import OPS

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Exit 2 and one 'archcalc: error:' line; returns the message after that prefix."""
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("archcalc: error: "), (code, err)
    return err[len("archcalc: error: ") : -1]


def json_out(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args)
    assert code == 0 and err == "", err
    return json.loads(out)


# ---------------------------------------------------------------- --version


def test_version_is_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    proc = subprocess.run([sys.executable, "-m", "archcalc", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"archcalc {version}\n", "")


def test_version_is_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--version" in out


# ---------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (
            ["explain", "resnet50", "layer1.0.cnov1"],
            "no layer 'layer1.0.cnov1' in resnet50; did you mean layer1.0.conv1?",
        ),
        (["explain", "lenet5", "c3"], "no layer 'c3' in lenet5; did you mean C3?"),
        (["explain", "googlenet", "inception3a"], "no layer 'inception3a' in googlenet; did you mean inception_3a?"),
        (
            ["explain", "resnet50", "layer1.0.conv4"],
            "no layer 'layer1.0.conv4' in resnet50; did you mean layer1.0.conv3, layer1.0.conv2, layer1.0.conv1?",
        ),
        (
            ["deconv", "zfnet", "--layer", "conv6"],
            "specs/zfnet.yaml: no layer 'conv6' in zfnet; did you mean features.conv5, features.conv4, features.conv3?",
        ),
        (["deconv", "alexnet-227", "--layer", "features.cnov2"], None),
    ],
)
def test_layer_typos_suggest_paths(args: list[str], want: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    line = error(capsys, *args)
    if want is None:
        assert line.endswith("; did you mean features.conv2?"), line
    else:
        assert line == want


def test_claim_layer_typo_suggests_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claims = tmp_path / "c.yaml"
    claims.write_text("claims:\n  - {spec: zfnet, layer: features.conv6, quantity: params, value: 1}\n")
    line = error(capsys, "check", str(claims))
    assert line == (
        f"{claims}:2: claim 1: no layer 'features.conv6' in zfnet; "
        "did you mean features.conv5, features.conv4, features.conv3?"
    )


def test_maps_layer_typo_suggests_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    args = ["maps", "edge-filters", "--image", str(ROOT / "examples/images/shapes.png"), "--out", str(tmp_path)]
    assert error(capsys, *args, "--layers", "conb").endswith("no layer 'conb' in edge-filters; did you mean conv?")


@pytest.mark.parametrize(
    ("op", "near"),
    [("relu7", "relu6"), ("conv3d", "conv2d"), ("maxpool", "maxpool2d"), ("lienar", "linear"), ("Sigmoid", "sigmoid")],
)
def test_op_typo_suggests_the_nearest_op(
    op: str, near: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\ninput: [3, 8, 8]\nlayers:\n  - {{name: a, op: relu}}\n  - {{name: b, op: {op}}}\n")
    assert error(capsys, "table", str(spec)) == f"{spec}:5: layer 'b': unknown op '{op}'; did you mean {near}?"


def test_op_near_nothing_lists_every_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [3, 8, 8]\nlayers:\n  - {name: a, op: xyzzy}\n")
    line = error(capsys, "table", str(spec))
    assert line == f"{spec}:4: layer 'a': unknown op 'xyzzy'; known ops: {', '.join(sorted(OPS))}"


# ---------------------------------------------------------------- --input


INPUT_COMMANDS = [
    ["table", "lenet5"],
    ["explain", "lenet5", "C1"],
    ["rf", "lenet5"],
    ["memory", "lenet5"],
    ["flops", "lenet5"],
    ["compare", "lenet5", "lenet"],
    ["deconv", "zfnet"],
    ["minsize", "lenet5"],
]


@pytest.mark.parametrize("args", INPUT_COMMANDS, ids=lambda a: a[0])
def test_bad_input_text_is_blamed_on_the_option(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert error(capsys, *args, "--input", "3xabc") == "--input: '3xabc' must look like 3x224x224"
    assert error(capsys, *args, "-i", "1x0x32") == "--input: sizes must be whole numbers >= 1, got 0"


@pytest.mark.parametrize("args", INPUT_COMMANDS[:-1], ids=lambda a: a[0])
def test_input_too_small_names_the_option_and_the_layer(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """LeNet-5 at 1x8x8: C1 (5x5) gives 4x4, S2 (2x2/2) 2x2, and C3's 5x5 kernel does not fit (zfnet: conv1
    7x7/2 and pool 3x3/2 leave 1x1 for conv2's 5x5)."""
    line = error(capsys, *args, "--input", "1x8x8" if "zfnet" not in args else "3x20x20")
    assert line.startswith("--input: 1x8x8 does not fit the network: specs/lenet5.yaml:") or line.startswith(
        "--input: 3x20x20 does not fit the network: specs/zfnet.yaml:"
    ), line
    assert "layer 'C3': kernel 5" in line or "layer 'features.conv2': kernel 5" in line


def test_a_spec_that_fails_at_its_own_input_is_blamed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [3, 4, 4]\nlayers:\n  - {name: c, op: conv2d, out: 2, kernel: 5}\n")
    line = error(capsys, "table", str(spec), "--input", "3x3x3")
    assert line.startswith(f"{spec}:4: layer 'c': kernel 5")


# ---------------------------------------------------------------- minsize


def test_minsize_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """VGG-16: five 2x2 stride-2 floor pools after 'same' convs need a side of 2**5 = 32 (31 leaves 0 after
    pool5). LeNet-5 backwards from C5's 5x5: S4 needs 10, C3 14, S2 28, C1 32."""
    code, out, _ = run(capsys, "minsize", "vgg16")
    assert code == 0 and out.splitlines()[:3] == [
        "vgg16: smallest square input 3x32x32",
        "  smallest height (width 224): 32",
        "  smallest width (height 224): 32",
    ]
    data = json_out(capsys, "minsize", "lenet5", "--format", "json")
    assert data["square"] == [1, 32, 32] and data["height"] == [1, 32, 32] and data["width"] == [1, 32, 32]
    assert data["input"] == [1, 32, 32] and data["gaps"] == [] and "layer 'C5'" in data["failure"]


def test_minsize_input_gives_channels_and_the_other_axis(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "minsize", "vgg16", "--input", "1x64x100")
    assert code == 0
    assert out.splitlines()[:3] == [
        "vgg16: smallest square input 1x32x32",
        "  smallest height (width 100): 32",
        "  smallest width (height 64): 32",
    ]
    data = json_out(capsys, "minsize", "resnet50", "-i", "3x320x160", "-f", "json")
    # every ResNet-50 conv and pool pads enough that 1 stays 1, and the head is adaptive
    assert (data["square"], data["height"], data["width"]) == ([3, 1, 1], [3, 1, 160], [3, 320, 1])
    assert data["failure"] is None
    assert error(capsys, "minsize", "vgg16", "-i", "3x64") == (
        "--input: minsize varies the height and width of a C x H x W input, got [3, 64]"
    )


# ---------------------------------------------------------------- rf --format json


def test_rf_json_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """AlexNet (torchvision layout) pool5: field 195, jump 32, start 31 -- integers. A 2x2 conv's unit 0
    covers pixels 0 and 1, so its centre is 1/2, and a stride-2 transposed conv halves the jump."""
    layers = json_out(capsys, "rf", "alexnet", "--format", "json")["layers"]
    pool5 = next(r for r in layers if r["path"] == "features.12")
    assert pool5["h"] == pool5["w"] == {"size": 195, "jump": 32, "start": 31}
    assert all(isinstance(r["h"][k], int) for r in layers for k in ("size", "jump", "start"))
    spec = tmp_path / "half.yaml"
    spec.write_text(
        "name: half\ninput: [1, 8, 8]\nlayers:\n  - {name: c, op: conv2d, out: 1, kernel: 2}\n"
        "  - {name: up, op: conv_transpose2d, out: 1, kernel: 2, stride: 2}\n"
    )
    c, up = json_out(capsys, "rf", str(spec), "-f", "json")["layers"]
    assert c["h"] == {"size": 2, "jump": 1, "start": "1/2"}
    assert up["h"]["jump"] == "1/2" and isinstance(up["h"]["size"], int)
