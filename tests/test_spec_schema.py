"""The spec-format JSON Schema: generated from the registry, committed, and valid for every bundled spec."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from archcalc.cli.app import main
from archcalc.errors import ArchcalcError
from archcalc.frontend.schema import schema_json, spec_schema
from archcalc.frontend.spec import parse_spec, specs_dir
from archcalc.frontend.yamlio import load_text
from archcalc.ops import OPS

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "archcalc-spec.schema.json"
HEADER = "# yaml-language-server: $schema=../archcalc-spec.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_file_is_the_command_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert out == schema_json()
    assert COMMITTED.read_text(encoding="utf-8") == out, "regenerate: archcalc schema > archcalc-spec.schema.json"


def test_every_bundled_spec_validates(spec_name: str, validator: jsonschema.Draft202012Validator) -> None:
    path = specs_dir() / f"{spec_name}.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]
    assert not errors


def test_docs_example_validates(validator: jsonschema.Draft202012Validator) -> None:
    doc = (ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    example = next(b for b in blocks if "layers:" in b)
    assert not list(validator.iter_errors(yaml.safe_load(example)))


def test_every_op_and_argument_is_described() -> None:
    entry = spec_schema()["$defs"]["entry"]
    assert entry["properties"]["op"]["anyOf"][0]["enum"] == sorted(OPS)
    rules = {r["if"]["properties"]["op"]["const"]: r["then"] for r in entry["then"]["allOf"]}
    assert set(rules) == set(OPS)
    for name, opdef in OPS.items():
        assert set(rules[name]["properties"]) == set(opdef.args)
        assert rules[name]["required"] if any(a.required for a in opdef.args.values()) else True
        assert all(p["description"] for p in rules[name]["properties"].values())


LENET = {"name": "t", "input": [1, 32, 32], "layers": [{"name": "C1", "op": "conv2d", "out": 6, "kernel": 5}]}


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(LENET)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()
BAD = {
    "misspelled argument": (["layers", 0, "kernal"], 5),
    "missing required argument": (["layers", 0, "kernel"], _DELETE),
    "unknown op": (["layers", 0, "op"], "conv3d"),
    "wrong type": (["layers", 0, "out"], "six"),
    "negative size": (["layers", 0, "out"], 0),
    "unknown header key": (["inputs"], [1, 32, 32]),
    "container key on an op": (["layers", 0, "merge"], "add"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_and_calculator_both_reject(case: str, validator: jsonschema.Draft202012Validator) -> None:
    """The schema rejects what the loader rejects at the key/type level (and the loader agrees)."""
    path, value = BAD[case]
    doc = _mutate(path, value)
    assert list(validator.iter_errors(doc)), case
    from archcalc.analysis.records import analyze

    with pytest.raises(ArchcalcError):
        analyze(parse_spec(load_text(json.dumps(doc), file="t.yaml"), "t.yaml"))


def test_params_and_null_defaults_are_accepted(validator: jsonschema.Draft202012Validator) -> None:
    doc = copy.deepcopy(LENET)
    doc["params"] = {"k": 5}
    doc["layers"][0]["kernel"] = "$k"
    doc["layers"].append({"op": "maxpool2d", "kernel": 2, "stride": None})
    assert not list(validator.iter_errors(doc))
