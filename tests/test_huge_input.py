"""Exact integers at any size: VGG-16 on a 3 x 100000 x 100000 input, through the real CLI.

The expected numbers are hand formulas: VGG-16's 3x3 convs (padding 1) keep the size, each 2x2/2
pool halves it (100000 -> 50000 -> 25000 -> 12500 -> 6250 -> 3125), the adaptive pool brings it
back to 7x7, so the classifier and the parameter count do not change (torchvision: 138,357,544).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.xdist_group("test_huge_input")  # its module fixture runs every case once

ROOT = Path(__file__).resolve().parent.parent
N = 100_000
# (C_in, C_out) of each conv, stage by stage, and the stage's spatial size
STAGES = [
    ([(3, 64), (64, 64)], N),
    ([(64, 128), (128, 128)], N // 2),
    ([(128, 256), (256, 256), (256, 256)], N // 4),
    ([(256, 512), (512, 512), (512, 512)], N // 8),
    ([(512, 512), (512, 512), (512, 512)], N // 16),
]
FC = [(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "archcalc", "table", "vgg16", "--input", f"3x{N}x{N}", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_first_conv_exact(doc: dict[str, Any]) -> None:
    conv = doc["layers"][0]
    assert conv["output_shape"] == [64, N, N]
    assert conv["macs"] == 64 * 3 * 3 * 3 * N * N == 17_280_000_000_000
    assert conv["connections"] == (3 * 3 * 3 + 1) * 64 * N * N
    assert conv["activations"] == 64 * N * N


def test_totals_exact(doc: dict[str, Any]) -> None:
    conv_macs = sum(cout * cin * 9 * size * size for convs, size in STAGES for cin, cout in convs)
    fc_macs = sum(fin * fout for fin, fout in FC)
    assert doc["totals"]["macs"] == conv_macs + fc_macs
    assert doc["totals"]["params"] == 138_357_544
    assert all(isinstance(v, int) for v in doc["totals"].values())
    last_pool = [r for r in doc["layers"] if r["op"] == "maxpool2d"][-1]
    assert last_pool["output_shape"] == [512, N // 32, N // 32]


def test_torch_meta_agrees_on_shapes() -> None:
    torch = pytest.importorskip("torch")
    from archcalc.torch import build_with_report
    from archcalc.torch.crosscheck import measure

    with torch.device("meta"):
        model, report = build_with_report("vgg16", f"3x{N}x{N}")
    got = measure(model, report, device="meta")
    # a flat scope (vgg16's stages) has no module of its own; its layers are checked
    checked = [rec for rec in report.records if not rec.flat]
    assert len(checked) > len(report.records) // 2
    for rec in checked:
        assert got.shapes[rec.path] == rec.output_shape, rec.path
