"""``archcalc table --depth N``: N levels like torchinfo's depth, collapsed blocks as subtotal rows."""

from __future__ import annotations

import pytest

from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError
from archcalc.render.tabular import layer_grid

NUMERIC = {"params": 4, "connections": 5, "MACs": 6}


def _column_sum(rows: list[list[str]], col: int) -> int:
    return sum(int(row[col].replace(",", "")) for row in rows if row[col])


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "googlenet-tv", "vgg16-bn", "alexnet-2gpu"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, None])
def test_rows_sum_to_totals(name: str, depth: int | None) -> None:
    report = analyze(name)
    grid = layer_grid(report, depth)
    t = report.totals
    totals = {"params": t.params, "connections": t.connections, "MACs": t.macs}
    for column, col in NUMERIC.items():
        assert _column_sum(grid.rows, col) == totals[column], (column, depth)


def test_depth_one_is_the_top_level_like_torchinfo() -> None:
    grid = layer_grid(analyze("resnet50"), 1)
    names = [row[0] for row in grid.rows]
    top = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    assert names == top
    layer1 = grid.rows[names.index("layer1")]
    # three bottlenecks, hand formula: 1x1 + 3x3 + 1x1 convs and BNs, plus the projection in the first
    per_block = 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)
    first = 64 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256) + 64 * 256 + 2 * 256
    assert layer1[4] == f"{first + 2 * per_block:,}"
    assert names.index("layer1") in grid.bold


@pytest.mark.parametrize("name", ["resnet50", "googlenet-tv", "densenet121"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_rows_are_torchinfo_rows_of_the_built_model(name: str, depth: int) -> None:
    """torchinfo.summary(model, depth=N) shows the modules N or fewer levels below the model, each with
    its recursive parameter count: the same rows and numbers as the table (a flat container is a logical
    row with no module, so it is left out)."""
    pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    from archcalc.torch import build_with_report

    model, report = build_with_report(name)
    info = torchinfo.summary(model, input_size=(1, *report.input), depth=depth, verbose=0, device="meta")
    shown = [(layer.depth, layer.num_params) for layer in info.summary_list if 1 <= layer.depth <= depth]
    rows = layer_grid(report, depth).rows
    by_path = {r.path: r for r in report.records}
    ours = [by_path[row[0]] for row in rows]
    assert [(r.depth + 1, r.params) for r in ours if not r.flat] == shown


def test_depth_two_expands_one_level() -> None:
    report = analyze("densenet121")
    names = [row[0] for row in layer_grid(report, 2).rows]
    assert "features" in names and "features.denseblock1" in names and "features.transition1" in names
    assert not any(n.startswith("features.denseblock1.") for n in names)
    deeper = [row[0] for row in layer_grid(report, 3).rows]
    assert "features.denseblock1.denselayer6" in deeper and "features.denseblock1.denselayer6.conv2" not in deeper


def test_no_depth_lists_every_record() -> None:
    report = analyze("resnet18")
    assert len(layer_grid(report).rows) == len(report.records)


def test_depth_below_one_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ArchcalcError):
        layer_grid(analyze("lenet5"), 0)
    assert main(["table", "lenet5", "--depth", "0"]) == 2
    assert "--depth must be 1 or more" in capsys.readouterr().err
