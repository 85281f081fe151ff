"""JSON output against the shipped JSON Schemas (archcalc/schemas/), and docs/json.md naming every key."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archcalc.cli.app import main

DOCS = Path(__file__).resolve().parent.parent / "docs" / "json.md"


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
    data["layers"][0]["flops"] = 2 * data["layers"][0]["macs"]
    with pytest.raises(jsonschema.ValidationError, match="flops"):
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


@pytest.mark.parametrize("name", ["table", "list", "compare"])
def test_docs_name_every_key(name: str) -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOCS.read_text(encoding="utf-8")))
    missing = _keys(schema(name)) - documented
    assert not missing, f"docs/json.md does not document {sorted(missing)}"
