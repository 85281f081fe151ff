"""The worked example in docs/spec-format.md is real: it is examples/tiny-resnet.yaml and it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc.analysis.records import analyze

ROOT = Path(__file__).resolve().parent.parent


def _doc_yaml() -> str:
    text = (ROOT / "docs" / "spec-format.md").read_text()
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_example_file_is_the_documented_one() -> None:
    assert (ROOT / "examples" / "tiny-resnet.yaml").read_text() == _doc_yaml()


def test_example_numbers_match_the_doc() -> None:
    r = analyze(str(ROOT / "examples" / "tiny-resnet.yaml"))
    conv = r["stage2.0.main.conv1"]
    assert (conv.input_shape, conv.output_shape) == ((16, 32, 32), (32, 16, 16))
    assert conv.params == 3 * 3 * 16 * 32
    assert r["stage2.0"].output_shape == (32, 16, 16)
    assert analyze(str(ROOT / "examples" / "tiny-resnet.yaml"), sets={"num_classes": 100}).output_shape == (100,)


def test_example_builds_in_torch() -> None:
    pytest.importorskip("torch")
    from archcalc.torch import build_with_report
    from archcalc.torch.crosscheck import measure

    model, report = build_with_report(str(ROOT / "examples" / "tiny-resnet.yaml"))
    got = measure(model, report)
    assert all(got.shapes[r.path] == r.output_shape for r in report.records)
    assert got.total_params == report.totals.params
