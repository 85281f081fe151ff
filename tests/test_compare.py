"""`archcalc compare`: alignment by conv/fc position, stage sums, ratios, every format."""

from __future__ import annotations

import html
import json

import pytest

from archcalc.analysis.compare import compare, stages_of
from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.frontend.spec import bundled_names


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_alexnet_vs_zfnet_conv1(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's example: conv1 11x11/4 (AlexNet) against 7x7/2 (ZFNet), both on 3x227x227."""
    code, out, _ = run(["compare", "alexnet-227", "zfnet-227", "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    conv1 = next(s for s in data["stages"] if s["stage"] == "conv1")["networks"]
    a, z = conv1["alexnet-227"], conv1["zfnet-227"]
    assert a["summary"] == "k11 s4 p0" and z["summary"] == "k7 s2 p0"
    ho_a, ho_z = (227 - 11) // 4 + 1, (227 - 7) // 2 + 1  # 55 and 111
    assert a["output_shape"] == [96, ho_a, ho_a] and z["output_shape"] == [96, ho_z, ho_z]
    assert a["macs"] == 96 * ho_a * ho_a * 3 * 11 * 11  # pools and ReLU in the stage add no MACs
    assert z["macs"] == 96 * ho_z * ho_z * 3 * 7 * 7
    assert a["params"] == 96 * 3 * 11 * 11 + 96 and z["params"] == 96 * 3 * 7 * 7 + 96
    assert a["layers"] == ["features.conv1", "features.relu1", "features.pool1"]
    keys = [s["stage"] for s in data["stages"]]
    assert keys == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3"]
    fc1 = next(s for s in data["stages"] if s["stage"] == "fc1")["networks"]
    assert fc1["alexnet-227"]["params"] == 256 * 6 * 6 * 4096 + 4096
    assert fc1["zfnet-227"]["params"] == 256 * 6 * 6 * 2048 + 2048


def test_ratios_are_to_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare", "lenet5", "lenet", "-f", "json"], capsys)
    assert code == 0
    nets = json.loads(out)["networks"]
    assert nets[0]["ratios"]["params"] == 1.0
    base, other = analyze("lenet5").totals, analyze("lenet").totals
    assert nets[1]["ratios"]["macs"] == other.macs / base.macs
    assert nets[1]["totals"]["flops"] == 2 * other.macs
    assert nets[1]["ratios"]["buffers"] == 0.0  # lenet has no buffers; lenet5's rbf prototypes are 84*10
    assert nets[0]["totals"]["buffers"] == 84 * 10


def test_missing_stage_and_zero_base(capsys: pytest.CaptureFixture[str]) -> None:
    """lenet has two convs, LeNet-5 three: conv3 exists on one side only; lenet's buffers are 0."""
    code, out, _ = run(["compare", "lenet", "lenet5", "-f", "json"], capsys)
    data = json.loads(out)
    conv3 = next(s for s in data["stages"] if s["stage"] == "conv3")["networks"]
    assert conv3["lenet"] is None and conv3["lenet5"]["path"] == "C5"
    assert data["networks"][1]["ratios"]["buffers"] is None
    code, out, _ = run(["compare", "lenet", "lenet5", "-f", "markdown"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("| conv3 "))
    assert row.startswith("| conv3 | - | - | - | k5 s1 p0 -> 120x1x1 | 48,120 | 48,000 | - |")
    assert "| buffers | 0 | 840 | n/a |" in out


def test_lenet5_stage_holds_the_following_layers() -> None:
    st = stages_of(analyze("lenet5"))
    assert list(st) == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    assert st["conv1"].paths == ["C1", "C1_act", "S2", "S2_act"]
    assert st["conv1"].counts.params == (5 * 5 + 1) * 6 + 2 * 6  # C1 plus S2's coefficient and bias per map
    assert st["fc2"].head is not None and st["fc2"].head.op == "rbf"


def test_stages_sum_to_totals_for_every_spec() -> None:
    reports = [analyze(name) for name in bundled_names()]
    cmp = compare(reports)
    for rep, stages in zip(cmp.reports, cmp.stages, strict=True):
        for key in ("params", "buffers", "connections", "macs", "activations"):
            assert sum(getattr(s.counts, key) for s in stages.values()) == getattr(rep.totals, key), rep.model
        layers = [p for s in stages.values() for p in s.paths]
        assert layers == [r.path for r in rep.layers]  # every layer in exactly one stage, in order


def test_same_spec_twice_gets_unique_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare", "lenet5", "lenet5", "--input", "1x36x36", "-f", "json"], capsys)
    assert code == 0
    nets = json.loads(out)["networks"]
    assert [n["name"] for n in nets] == ["lenet5", "lenet5#2"]


@pytest.mark.parametrize("fmt", ["rich", "markdown", "csv", "html"])
def test_text_formats(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare", "alexnet-227", "zfnet-227", "--format", fmt], capsys)
    assert code == 0
    out = html.unescape(out) if fmt == "html" else out
    assert "k11 s4 p0 -> 96x55x55" in out and "k7 s2 p0 -> 96x111x111" in out
    if fmt == "csv":
        assert "params,62378344,28848232,0.46x" in out.replace(" ", "")
    else:
        assert "62,378,344" in out


def test_needs_two_specs(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["compare", "lenet5"], capsys)
    assert code == 2
    assert err.strip() == "archcalc: error: compare needs at least two specs"
