"""JSON output against the shipped JSON Schemas (archcalc/schemas/), and docs/json.md naming every key.

Every command with ``--format json`` has a schema and a section in docs/json.md; its real output, through the
CLI, is validated for every bundled spec where that is cheap and for chosen cases elsewhere."""

from __future__ import annotations

import glob
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archcalc.cli.app import app, main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "json.md"
SCHEMAS = sorted(
    p.name.removesuffix(".schema.json")
    for p in resources.files("archcalc").joinpath("schemas").iterdir()
    if p.name.endswith(".schema.json")
)


def schema(name: str) -> dict[str, Any]:
    text = resources.files("archcalc").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8")
    data = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(data)
    return dict(data)


def json_out(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_table_json_matches_schema(spec_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema.validate(json_out(["table", spec_name], capsys), schema("table"))


def test_list_and_compare_match_schema(capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema.validate(json_out(["list"], capsys), schema("list"))
    jsonschema.validate(json_out(["compare", "lenet", "lenet5", "alexnet-227"], capsys), schema("compare"))


def test_schema_rejects_an_undocumented_key(capsys: pytest.CaptureFixture[str]) -> None:
    """Stability has teeth: a key added to the output without the schema (and this doc) fails."""
    data = json_out(["table", "lenet5"], capsys)
    data["layers"][0]["gflops"] = 2 * data["layers"][0]["macs"] / 1e9
    with pytest.raises(jsonschema.ValidationError, match="gflops"):
        jsonschema.validate(data, schema("table"))
    data = json_out(["table", "lenet5"], capsys)
    del data["totals"]["connections"]
    with pytest.raises(jsonschema.ValidationError, match="connections"):
        jsonschema.validate(data, schema("table"))


def _keys(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found |= set(value)
            found |= _keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= _keys(item)
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_docs_name_every_key(name: str) -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text(encoding="utf-8")))
    missing = _keys(schema(name)) - documented
    assert not missing, f"docs/json.md does not document {sorted(missing)}"


def json_commands() -> list[str]:
    """The commands whose --format takes json."""
    out = []
    for name, cmd in app.commands.items():
        fmt = next((p for p in cmd.params if p.name == "fmt"), None)
        if fmt is not None and "json" in [m.value for m in getattr(fmt.type, "enum", [])]:
            out.append(name)
    return sorted(out)


def test_every_json_command_has_a_schema_and_a_section() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    commands = json_commands()
    assert {"table", "rf", "minsize", "explain", "check", "deconv"} <= set(commands)
    for name in commands:
        assert name in SCHEMAS, f"no archcalc/schemas/{name}.schema.json"
        assert f"## `archcalc {name} " in docs, f"docs/json.md has no section for {name}"
        assert f"archcalc/schemas/{name}.schema.json" in docs


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str], codes: tuple[int, ...] = (0,)) -> Any:
    code = main([*args, "--format", "json"])
    out, err = capsys.readouterr()
    assert code in codes and err == "", (code, err)
    return json.loads(out)


def test_cheap_commands_match_their_schemas_on_every_spec(spec_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("rf", "flops", "memory", "deconv"):
        jsonschema.validate(cli_json([command, spec_name], capsys), schema(command))


HALF = "name: half\ninput: [1, 8, 8]\nlayers:\n  - {name: c, op: conv2d, out: 1, kernel: 2}\n" + (
    "  - {name: up, op: conv_transpose2d, out: 1, kernel: 2, stride: 2}\n"
)

CASES = [
    ["explain", "lenet5"],
    ["explain", "mobilenet-v2", "features.1"],
    ["explain", "googlenet", "inception_3a"],
    ["explain", "densenet121", "total"],
    ["rf", "{half}"],
    ["memory", "resnet50", "--dtype", "float16", "--batch", "8"],
    ["sweep", "lenet5", "--input", "4:40:4"],
    ["sweep", "resnet50", "--input", "32:256:32", "--dtype", "bfloat16"],
    ["minsize", "googlenet"],
    ["minsize", "resnet50", "--input", "3x320x160"],
    ["deconv", "zfnet", "--layer", "conv2"],
    ["flops", "tests/bad/unpool-convention.yaml"],
    ["table", "resnet18", "--rf"],
    ["table", "{half}", "--rf"],
    ["table", "lenet5", "--convention", "fvcore"],
    ["table", "googlenet", "--convention", "flops", "--rf"],
    ["table", "resnet50", "--convention", "torchinfo"],
    ["table", "mobilenet-v2", "--convention", "train"],
    ["table", "lenet5", "--convention", "train_fcm"],
]


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_chosen_cases_match_their_schemas(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "half.yaml").write_text(HALF)
    monkeypatch.chdir(ROOT)
    argv = [a.replace("{half}", str(tmp_path / "half.yaml")) for a in args]
    jsonschema.validate(cli_json(argv, capsys), schema(args[0]))


def test_check_matches_its_schema(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    data = cli_json(["check", *sorted(glob.glob("examples/claims/*.yaml"))], capsys, codes=(1,))
    jsonschema.validate(data, schema("check"))
    assert not data["holds"] and {r["verdict"] for r in data["results"]} == {"holds", "holds as MACs", "FAILS"}
    assert any(isinstance(r["actual"], list) for r in data["results"])


def test_minsize_schema_rejects_text_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    data = cli_json(["minsize", "lenet5"], capsys)
    data["square"] = "1x32x32"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema("minsize"))
