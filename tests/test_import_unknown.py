"""``--allow-unknown`` (issue 11, "Unknown ops are never silently 0"): ops archcalc does not know become opaque
layers with their captured shape and "?" counts, and every total above them is marked partial.

The module is tests/data/usermodels.py's ``Unknown``: Conv2d(3, 4, 3, padding=1) -> ``y - y.mean`` (sub) ->
nn.Upsample(x2) -> Conv2d(4, 2, 1). Expected values: torch ``numel`` of the known layers and hand formulas
written out below; never archcalc's own output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

torch = pytest.importorskip("torch")

from archcalc.cli.app import main  # noqa: E402
from archcalc.imports.torchload import ALLOW_UNKNOWN  # noqa: E402
from archcalc.testing import assert_counts  # noqa: E402
from tests.test_json_schema import schema  # noqa: E402

MODELS = Path(__file__).parent / "data" / "usermodels.py"
UNKNOWN = f"{MODELS}:Unknown"
INPUT = ("--input", "3x8x8")
# hand formulas at a 3x8x8 input: conv keeps 8x8 (k3 p1), the upsample doubles it to 16x16
CONV_MACS = 4 * 8 * 8 * (3 * 3 * 3)  # one MAC per weight per output unit
HEAD_MACS = 2 * 16 * 16 * 4
ACTIVATIONS = 4 * 8 * 8 + 4 * 1 * 1 + 4 * 8 * 8 + 4 * 16 * 16 + 2 * 16 * 16  # conv, mean, sub, up, head outputs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def known_params() -> int:
    from tests.data.usermodels import Unknown

    model = Unknown()
    return sum(p.numel() for m in (model.conv, model.head) for p in m.parameters())


def test_default_error_names_every_op_and_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", UNKNOWN, *INPUT)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.rstrip().endswith(
        "2 unsupported op(s): sub at 'sub', nn.Upsample at 'up' (--allow-unknown shows the rest with these counts as '?')"
    )


def test_table_text_shows_question_marks_and_partial(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", UNKNOWN, *INPUT, "--allow-unknown", "--format", "markdown")
    assert code == 0, err
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()[4:9]}
    assert rows["sub"][1:2] + rows["sub"][4:] == ["opaque", "?", "?", "?"]
    assert rows["up"][1:] == ["opaque", "nn.Upsample", "4x16x16", "?", "?", "?"]
    assert rows["conv"][4] == f"{4 * 27 + 4:,}" and rows["conv"][6] == f"{CONV_MACS:,}"
    total = next(line for line in out.splitlines() if "total (partial)" in line)
    assert f"{CONV_MACS + HEAD_MACS:,} + ?" in total
    assert "partial: 2 layers unknown (sub, up)" in out


def test_json_partial_and_known_counts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", UNKNOWN, *INPUT, "--allow-unknown", "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    jsonschema.validate(data, schema("table"))
    assert data["partial"] is True and data["unknown_layers"] == ["sub", "up"]
    layers = {r["path"]: r for r in data["layers"]}
    assert layers["up"]["output_shape"] == [4, 16, 16] and layers["up"]["unknown"] is True
    assert layers["up"]["params"] is None and layers["up"]["macs"] is None
    assert layers["sub"]["input_shape"] == [4, 8, 8]
    assert data["totals"]["params"] == known_params()  # the known layers' part, by torch numel
    assert data["totals"]["macs"] == CONV_MACS + HEAD_MACS
    assert data["totals"]["activations"] == ACTIVATIONS  # shapes are known, so activations are exact


def test_check_on_a_partial_total_cannot_be_decided(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claims = tmp_path / "c.yaml"
    claims.write_text(
        "claims:\n"
        f"  - {{spec: '{UNKNOWN}', input: 3x8x8, quantity: params, value: {known_params()}}}\n"
        f"  - {{spec: '{UNKNOWN}', input: 3x8x8, layer: conv, quantity: macs, value: {CONV_MACS}}}\n"
        f"  - {{spec: '{UNKNOWN}', input: 3x8x8, quantity: activations, value: {ACTIVATIONS}}}\n"
    )
    code, out, err = run(capsys, "check", str(claims), "--allow-unknown", "--format", "json")
    assert code == 1, err  # an undecided claim does not pass
    jsonschema.validate(json.loads(out), schema("check"))
    verdicts = [(r["verdict"], r["holds"]) for r in json.loads(out)["results"]]
    assert verdicts == [("cannot be decided", False), ("holds", True), ("holds", True)]
    assert "sub, up" in json.loads(out)["results"][0]["why"]


def test_passes_that_need_a_number_refuse_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rf", UNKNOWN, *INPUT, "--allow-unknown")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "layer 'sub': rf: an op archcalc does not know (sub); its receptive field is unknown" in err
    code, out, err = run(capsys, "flops", UNKNOWN, *INPUT, "--allow-unknown")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "its count is unknown" in err
    code, out, err = run(capsys, "sweep", f"{UNKNOWN}@3x8x8", "--input", "8:16:8", "--allow-unknown")
    assert (code, out) == (2, "") and "sweep: 2 layer(s) are ops archcalc does not know (sub, up)" in err
    code, out, err = run(capsys, "formula", f"{UNKNOWN}@3x8x8", "--allow-unknown")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "layer 'sub': sub is an op archcalc does not know: it has no formula, its counts are unknown" in err


def test_assert_counts_on_a_partial_target_says_so() -> None:
    token = ALLOW_UNKNOWN.set(True)
    try:
        with pytest.raises(AssertionError, match=r"partial: 2 layer\(s\) are ops archcalc does not know \(sub, up\)"):
            assert_counts(f"{UNKNOWN}@3x8x8", params=known_params())
    finally:
        ALLOW_UNKNOWN.reset(token)


def test_onnx_unknown_op_with_allow_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from tests.test_import_onnx import save, tiny_model

    ref = save(tiny_model(["Erf", "Relu"]), tmp_path / "erf.onnx")
    code, out, err = run(capsys, "table", ref, "--format", "json")
    assert (code, out) == (2, "") and "(--allow-unknown shows the rest" in err
    code, out, err = run(capsys, "table", ref, "--format", "json", "--allow-unknown")
    assert code == 0, err
    data = json.loads(out)
    assert data["partial"] is True and data["unknown_layers"] == ["erf"]
    assert [r["op"] for r in data["layers"]] == ["conv2d", "opaque", "relu"]
    assert data["layers"][1]["output_shape"] == [4, 14, 14]
    assert data["totals"]["params"] == 4 * 3 * 3 * 3 + 4  # Conv(3 -> 4, k3) weights + bias


def test_compare_marks_partial_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "compare", UNKNOWN, UNKNOWN, *INPUT, "--allow-unknown", "--format", "json")
    assert code == 0, err
    jsonschema.validate(json.loads(out), schema("compare"))
    net = json.loads(out)["networks"][1]
    assert net["partial"] is True and net["unknown_layers"] == ["sub", "up"]
    assert net["ratios"]["macs"] is None and net["ratios"]["activations"] == 1.0
    assert net["totals"]["macs"] == CONV_MACS + HEAD_MACS


def test_an_imported_opaque_layer_holds_only_at_its_captured_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "unknown.yaml"
    code, _, err = run(capsys, "import", UNKNOWN, *INPUT, "--allow-unknown", "-o", str(spec))
    assert code == 0, err
    code, out, err = run(capsys, "memory", str(spec), "--format", "json")
    assert code == 0, err
    jsonschema.validate(json.loads(out), schema("memory"))
    assert json.loads(out)["unknown_layers"] == ["sub", "up"]
    code, out, err = run(capsys, "table", str(spec), "--input", "3x16x16")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "known only at the input it was captured at (4x8x8), not at 4x16x16" in err


def test_html_page_marks_partial(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", UNKNOWN, *INPUT, "--allow-unknown", "--format", "html")
    assert code == 0, err
    assert "partial: 2 layers unknown (sub, up)" in out
    assert f"MACs {CONV_MACS + HEAD_MACS:,} + ?" in out  # the summary line and the drawing's caption
    assert "nn.Upsample: an op archcalc does not know; its counts are unknown" in out  # no derivation for it
