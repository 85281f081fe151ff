"""Receptive fields (published and hand-derived values), memory, minimum input size and sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archcalc.analysis.memory import model_memory
from archcalc.analysis.records import analyze, resolve
from archcalc.analysis.rf import receptive_fields
from archcalc.analysis.sizes import SizePlan
from archcalc.analysis.sweep import min_size, parse_range, sweep
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError


def _rf(spec: str, path: str) -> int:
    root, rep = resolve(spec)
    row = next(r for r in receptive_fields(root, rep) if r.path == path)
    assert row.field.h.size == row.field.w.size
    return int(row.field.h.size)


def test_published_receptive_fields() -> None:
    # Araujo, Norris & Sim, "Computing receptive fields of CNNs", Distill 2019, table: alexnet_v2 195, vgg_16 212
    assert _rf("alexnet", "features.12") == 195
    assert _rf("vgg16", "features.30") == 212  # pool5: torchvision's features.30


def test_lenet5_c5_sees_the_whole_32x32_input() -> None:
    # C1 k5: 5; S2 k2: 5 + 1*1 = 6, jump 2; C3 k5: 6 + 4*2 = 14; S4 k2: 14 + 1*2 = 16, jump 4; C5 k5: 16 + 4*4
    assert _rf("lenet5", "C5") == 16 + 4 * 4 == 32


def test_branches_report_the_largest_field() -> None:
    root, rep = resolve("googlenet")
    row = next(r for r in receptive_fields(root, rep) if r.path == "inception_3a")
    # pool2 field 27, jump 8; the 5x5 branch adds (5-1)*8 = 32 to it, more than the 3x3 branch's (3-1)*8
    assert row.field.via == "inception_3a.b3" and row.field.h.size == 27 + 4 * 8


def test_vgg16_activation_sum_is_15_2m_not_cs231n_24m() -> None:
    rep = analyze("vgg16")
    listed = sum(r.activations for r in rep.layers if r.op in ("conv2d", "maxpool2d", "linear"))
    cs231n_rows = (
        224 * 224 * 3
        + 2 * 224 * 224 * 64 + 112 * 112 * 64
        + 2 * 112 * 112 * 128 + 56 * 56 * 128
        + 3 * 56 * 56 * 256 + 28 * 28 * 256
        + 3 * 28 * 28 * 512 + 14 * 14 * 512
        + 3 * 14 * 14 * 512 + 7 * 7 * 512
        + 4096 + 4096 + 1000
    )  # fmt: skip
    assert 224 * 224 * 3 + listed == cs231n_rows == 15_237_608


def test_vgg16_inference_peak_is_the_two_largest_maps() -> None:
    rep = analyze("vgg16")
    mem = model_memory("vgg16", rep, "float32", batch=2)
    # during conv1_2 its input (conv1_1's output, ReLU in place) and its output are both alive
    assert mem.peak_activation_bytes == 2 * (64 * 224 * 224) * 2 * 4
    assert mem.inference_peak_bytes == (rep.totals.params + rep.totals.buffers) * 4 + 2 * 3 * 224 * 224 * 4 + (
        2 * (64 * 224 * 224) * 2 * 4
    )
    assert mem.training_bytes["adam"] - mem.training_bytes["sgd_momentum"] == rep.totals.trainable_params * 4


LIVENESS = """
name: live
input: [1, 8, 8]
layers:
  - name: p
    branches:
      x: [{op: conv2d, out: 2, kernel: 1}]
      y: [{op: conv2d, out: 3, kernel: 1}]
    merge: concat
  - {name: a, op: conv2d, out: 2, kernel: 1}
  - {name: b, op: conv2d, out: 4, kernel: 1}
  - {name: r, op: relu, inplace: true}
  - {name: c, op: concat, from: [a, r]}
  - {name: f, op: flatten}
"""


def test_liveness_follows_from_references(tmp_path: Path) -> None:
    spec = tmp_path / "live.yaml"
    spec.write_text(LIVENESS)
    s = SizePlan(str(spec)).run((1, 8, 8))
    hw = 8 * 8
    branches = 2 * hw + (2 * hw + 3 * hw) + 5 * hw  # x and y held, plus the concat: 640
    step_c = 2 * hw + 4 * hw + 6 * hw  # a kept for c; r is b in place; c itself: 768
    assert s.peak == max(branches, 5 * hw + 2 * hw, step_c) == 768
    assert s.allocated == (2 + 3 + 5) * hw + (2 + 4 + 6) * hw  # relu in place and flatten allocate nothing


def test_plan_totals_equal_analyze(spec_name: str) -> None:
    plan = SizePlan(spec_name)
    c, h, _ = plan.spec.input
    for n in (h, 17, 64, 161):
        try:
            rep = analyze(spec_name, (c, n, n))
        except ArchcalcError:
            with pytest.raises(ArchcalcError):
                plan.run((c, n, n))
            continue
        s = plan.run((c, n, n))
        t = rep.totals
        assert s.shape == rep.output_shape
        assert s.counts == (t.params, t.trainable_params, t.buffers, t.connections, t.macs, t.activations)


def test_parse_range() -> None:
    assert parse_range("32:128:32") == [32, 64, 96, 128]
    assert parse_range("224") == [224]
    for bad in ("0:10", "10:5", "a:b", "1:2:0"):
        with pytest.raises(ArchcalcError):
            parse_range(bad)


def test_sweep_marks_refused_sizes() -> None:
    points = sweep(SizePlan("alexnet-paper"), [63, 227])
    assert points[0].output is None and "pool" in points[0].error
    assert points[1].macs == analyze("alexnet-paper").totals.macs


MINSIZE_SPECS = ["alexnet-paper", "googlenet", "lenet5", "zfnet", "vgg16", "resnet50", "densenet121"]


@pytest.mark.parametrize("spec", MINSIZE_SPECS)
def test_minsize_against_torch(spec: str) -> None:
    torch = pytest.importorskip("torch")
    from archcalc.torch import build

    m = min_size(SizePlan(spec), check_above=8)
    c, _h, w = analyze(spec).input
    for ok, bad in (((m.square, m.square), (m.square - 1, m.square - 1)), ((m.height, w), (m.height - 1, w))):
        with torch.device("meta"):
            model = build(spec, (c, *ok)).eval()
        with torch.no_grad():
            model(torch.zeros((1, c, *ok), device="meta"))
            if bad[0] >= 1:
                with pytest.raises(RuntimeError):
                    model(torch.zeros((1, c, *bad), device="meta"))
    if m.square > 1:
        assert m.failure  # the calculator names the layer that fails just below


def test_minsize_values() -> None:
    # vgg16: five 2x2 stride-2 pools, floor each time: side 32 -> 1; 31 leaves 0 after pool5
    assert min_size(SizePlan("vgg16"), check_above=8).square == 2**5
    # resnet50: every conv and pool pads enough that a 1x1 input stays 1x1, and the head is adaptive
    assert min_size(SizePlan("resnet50"), check_above=8).square == 1


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_cli_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = _cli(capsys, "rf", "alexnet", "--format", "csv")
    assert "features.12,maxpool2d,256x6x6,195,32,31," in out
    data = json.loads(_cli(capsys, "memory", "lenet5", "--dtype", "float16", "--batch", "4", "--format", "json"))
    assert data["layers"][0]["bytes"] == 6 * 28 * 28 * 4 * 2
    assert "smallest square input 3x32x32" in _cli(capsys, "minsize", "vgg16")
    csv_out = _cli(
        capsys, "sweep", "lenet5", "--input", "32:64:32", "--format", "csv", "--plot", str(tmp_path / "s.svg")
    )
    assert csv_out.splitlines()[1].startswith("1x32x32,10,")
    assert (tmp_path / "s.svg").stat().st_size > 1000
    table = _cli(capsys, "table", "lenet5", "--rf", "--format", "csv", "--plot", str(tmp_path / "l.png"))
    assert table.splitlines()[0].endswith(",RF,jump,start")
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["memory", "lenet5", "--dtype", "float64"]) == 2
