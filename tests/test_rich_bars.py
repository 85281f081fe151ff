"""Inline share bars in the rich table, and none in markdown, csv or json."""

from __future__ import annotations

import pytest

from archcalc.cli.app import main
from archcalc.render.richtable import share_bar

BLOCKS = set("▏▎▍▌▋▊▉█")


def cell(bar: str, pct: str, width: int = 10) -> str:
    """The layout: the bar left-aligned in ``width`` cells, a space, the percentage right-aligned in 6."""
    return bar + " " * (width - len(bar)) + " " + pct.rjust(6)


def test_share_bar_eighths() -> None:
    assert share_bar(1, 2, width=10) == cell("█████", "50.0%")  # 40 eighths = 5 full cells
    assert share_bar(1, 16, width=10) == cell("▋", "6.2%")  # 80/16 = 5 eighths; 6.25% shown as 6.2%
    assert share_bar(1, 10**6, width=10) == cell("▏", "<0.1%")  # tiny but non-zero: still visible
    assert share_bar(0, 10) == "" and share_bar(5, 0) == ""
    assert share_bar(7, 7, width=4) == cell("████", "100.0%", width=4)


def test_lenet5_rich_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "lenet5"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    # C5: 48,120 of LeNet-5's 60,000 params = 80.2% -> round(80 * 0.802) = 64 eighths = 8 full cells
    assert cell("████████", "80.2%") in rows["C5"]
    # C3 MACs: 150,000 of 328,096 = 45.7% -> round(80 * 0.4572) = 37 eighths = 4 full cells + 5/8
    assert cell("████▋", "45.7%") in rows["C3"]
    assert not BLOCKS & set(rows["C1_act"])  # zero params and MACs: no bar


@pytest.mark.parametrize("fmt", ["markdown", "csv", "json"])
def test_no_bars_outside_rich(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "resnet50", "--depth", "1", "--format", fmt]) == 0
    assert not BLOCKS & set(capsys.readouterr().out)


def test_collapsed_rows_carry_the_bars(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "resnet50", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    layer4 = next(line for line in out.splitlines() if line.strip().startswith("layer4 "))
    assert "%" in layer4 and BLOCKS & set(layer4)
