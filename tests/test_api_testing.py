"""Python API (archcalc.analyze), archcalc.testing.assert_counts and the pytest plugin's fixture."""

from __future__ import annotations

import importlib.metadata
import json
import tomllib
from pathlib import Path

import pytest

import archcalc
from archcalc.testing import assert_counts

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

# LeNet-5 by hand (LeCun et al. 1998, Sec. II-B): C3 reads 6*3 + 9*4 + 1*6 = 60 S2 maps in total
LENET5_MACS = (
    5 * 5 * 1 * 6 * 28 * 28  # C1
    + 6 * 14 * 14  # S2: one multiply per unit
    + 60 * 5 * 5 * 10 * 10  # C3
    + 16 * 5 * 5  # S4
    + 16 * 5 * 5 * 120  # C5
    + 120 * 84  # F6
    + 84 * 10  # RBF output
)
LENET5_PARAMS = 156 + 12 + 1516 + 32 + 48120 + 10164  # = 60,000 trainable; the RBF prototypes are buffers


def test_analyze_report_access() -> None:
    report = archcalc.analyze("lenet5")
    assert report["C1"].params == (5 * 5 * 1 + 1) * 6
    assert report["C1"].connections == (5 * 5 * 1 + 1) * 6 * 28 * 28
    assert report["C1"].macs == 5 * 5 * 1 * 6 * 28 * 28
    assert report.totals.macs == LENET5_MACS
    assert report.totals.params == LENET5_PARAMS == 60_000
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert data["totals"]["macs"] == LENET5_MACS
    assert [layer["path"] for layer in data["layers"]][:3] == ["C1", "C1_act", "S2"]
    with pytest.raises(KeyError, match="no layer 'C9'"):
        report["C9"]


def test_analyze_input_and_overrides() -> None:
    report = archcalc.analyze("lenet5", num_classes=5)
    assert report.output_shape == (5,) and report.totals.buffers == 84 * 5
    big = archcalc.analyze("alexnet-227", input=(3, 259, 259))
    side = (259 - 11) // 4 + 1  # 63
    assert big["features.conv1"].output_shape == (96, side, side)
    with pytest.raises(archcalc.ArchcalcError, match="unknown parameter"):
        archcalc.analyze("lenet5", classes=5)


def test_assert_counts_on_a_spec() -> None:
    got = assert_counts("lenet5", params=60_000, macs=LENET5_MACS, flops=2 * LENET5_MACS, connections=340_908)
    assert got["buffers"] == 84 * 10
    assert_counts("lenet5", params=59_500, tolerance=0.01)  # 0.84% off: inside 1%
    assert_counts("lenet5", num_classes=5, buffers=84 * 5)


def test_docs_ci_example_numbers() -> None:
    """docs/ci.md's bundled-spec line: torchvision's 25,557,032 params; FlopCounterMode 8,178,368,512 / 2."""
    assert_counts("resnet50", params=25_557_032, macs=8_178_368_512 // 2)


def test_failure_is_a_readable_diff() -> None:
    with pytest.raises(AssertionError) as info:
        assert_counts("lenet5", params=61_706, macs=LENET5_MACS)
    msg = str(info.value)
    assert "archcalc counts of lenet5 (input 1x32x32) differ (1 of 2 outside tolerance: exact)" in msg
    lines = msg.splitlines()
    assert lines[1].split() == ["quantity", "expected", "actual", "difference"]
    assert lines[2].split() == ["FAIL", "params", "61,706", "60,000", "-1,706", "(-2.76%)"]
    assert lines[3].split()[:2] == ["ok", "macs"]
    assert "convention: params = parameter elements" in msg and "bias excluded, batch 1" in msg


torch = pytest.importorskip("torch")
nn = torch.nn


class TutorialNet(nn.Module):
    """The PyTorch CIFAR-10 tutorial network, written from scratch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(16)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.bn(self.conv2(x))))
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


TUTORIAL_PARAMS = (3 * 25 * 6 + 6) + (6 * 25 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
TUTORIAL_MACS = 6 * 3 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10 + 400 * 120 + 120 * 84 + 84 * 10


def test_assert_counts_on_a_module() -> None:
    model = TutorialNet()  # train mode, on the CPU
    got = assert_counts(model, input=(3, 32, 32), params=TUTORIAL_PARAMS + 2 * 16, macs=TUTORIAL_MACS)
    assert TUTORIAL_PARAMS == 62_006 and TUTORIAL_MACS == 651_720
    assert got["buffers"] == 2 * 16 + 1  # BN running mean and var, num_batches_tracked
    assert model.training and model.conv1.weight.device.type == "cpu"  # left as it was
    assert int(model.bn.num_batches_tracked) == 0
    model.conv1.weight.requires_grad_(False)
    assert_counts(model, trainable_params=TUTORIAL_PARAMS + 2 * 16 - 3 * 25 * 6)


def test_module_errors_are_clear() -> None:
    with pytest.raises(TypeError, match="needs input=\\(C, H, W\\)"):
        assert_counts(TutorialNet(), macs=TUTORIAL_MACS)
    with pytest.raises(TypeError, match="connections can be checked on specs only"):
        assert_counts(TutorialNet(), input=(3, 32, 32), connections=1)
    with pytest.raises(AssertionError, match=r"FAIL\s+macs\s+650,000\s+651,720\s+\+1,720"):
        assert_counts(TutorialNet(), input="3x32x32", params=TUTORIAL_PARAMS + 32, macs=650_000, tolerance=0.001)


def test_spec_and_its_torch_model_agree() -> None:
    """Pure math on the spec and FlopCounterMode on the built model give the same counts (conv/linear spec)."""
    from archcalc.torch import build_with_report

    model, report = build_with_report("zfnet-227")
    assert_counts(model, input=report.input, params=report.totals.params, macs=report.totals.macs)


def test_entry_point_declared() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["entry-points"]["pytest11"] == {"archcalc": "archcalc.pytest_plugin"}


def test_plugin_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_ok(archcalc_counts):
            archcalc_counts("lenet5", params=60_000)

        def test_grew(archcalc_counts):
            archcalc_counts("lenet5", params=59_000, tolerance=0.01)
        """
    )
    installed = any(ep.value == "archcalc.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
    # installed: pytest loads it through the entry point; from a source tree: the same module, by name
    result = pytester.runpytest() if installed else pytester.runpytest("-p", "archcalc.pytest_plugin")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAIL*params*59,000*60,000*+1,000 (+1.69%)*", "*convention: params =*"])
