"""The JSON Schema of the spec format, generated from the op registry, ENTRY_KEYS and HEADER_KEYS.

Editors use it for completion and inline errors (yaml-language-server reads the first-line comment
``# yaml-language-server: $schema=...``). The calculator stays the authority: the schema accepts every valid
spec and catches unknown keys, unknown ops, unknown or missing op arguments and wrongly typed values, but not
what needs the network itself (shapes, whether a 'from' names an earlier layer, block params).
"""

from __future__ import annotations

import json
from typing import Any

from archcalc.frontend.argtypes import REQUIRED, Arg
from archcalc.frontend.opargs import NOT_ARGS
from archcalc.frontend.spec import HEADER_KEYS
from archcalc.frontend.tree import ENTRY_KEYS
from archcalc.ops import OPS

PARAM_REF = {"$ref": "#/$defs/param"}
NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$|^[0-9]+$"
MERGES = ("concat", "add", "mul")
_BRANCH = {
    "type": "object",
    "description": "a branch written as a mapping, e.g. to make it flat",
    "properties": {"layers": {"$ref": "#/$defs/layers"}, "flat": {"type": "boolean"}, "doc": {"type": "string"}},
    "additionalProperties": False,
}


def _p(schema: dict[str, Any]) -> dict[str, Any]:
    """A value that may also be a '$param' substitution or an expression over params."""
    return {"anyOf": [schema, PARAM_REF]}


def _entry_props() -> dict[str, dict[str, Any]]:
    names = {"anyOf": [{"type": "string", "pattern": NAME_PATTERN}, {"type": "integer", "minimum": 0}, PARAM_REF]}
    schemas: dict[str, dict[str, Any]] = {
        "name": names,
        "op": _p({"enum": sorted(OPS)}),  # a whole-value $param may name the op (op: $activation)
        "layers": {"$ref": "#/$defs/layers"},
        "branches": {
            "type": "object",
            "additionalProperties": {"anyOf": [{"$ref": "#/$defs/layers"}, {"type": "null"}, _BRANCH]},
        },
        "merge": _p({"enum": list(MERGES)}),
        "block": {"type": "string"},
        "args": {"type": "object"},
        "repeat": _p({"type": "integer", "minimum": 1}),
        "first": {"type": "object"},
        "feed": _p({"enum": ["chain", "dense"]}),
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "shares": {"type": "string"},
        "when": _p({"type": "boolean"}),
        "side": _p({"type": "boolean"}),
        "doc": {"type": "string"},
        "flat": _p({"type": "boolean"}),
        "index_from": _p({"type": "integer", "minimum": 0}),
        "name_prefix": {"type": "string"},
    }
    missing = set(ENTRY_KEYS) ^ set(schemas)
    if missing:  # a new entry key must get a schema here
        raise RuntimeError(f"spec schema out of date with ENTRY_KEYS: {sorted(missing)}")
    return {k: {**schemas[k], "description": ENTRY_KEYS[k]} for k in ENTRY_KEYS}


def _arg_schema(arg: Arg) -> dict[str, Any]:
    base = dict(arg.type.schema)
    options: list[dict[str, Any]] = [base, PARAM_REF]
    if arg.default is None:
        options.append({"type": "null"})
    out: dict[str, Any] = {"anyOf": options}
    desc = arg.type.name + (f": {arg.doc}" if arg.doc else "")
    if arg.default is not REQUIRED and arg.default is not None:
        desc += f" (default {arg.default!r})"
        out["default"] = arg.default
    out["description"] = desc
    return out


def _op_rule(name: str) -> dict[str, Any]:
    """if op == name: only its arguments (typed) and the op-entry keys, required arguments present."""
    opdef = OPS[name]
    props = {k: _arg_schema(a) for k, a in opdef.args.items()}
    then: dict[str, Any] = {
        "description": opdef.doc,
        "properties": props,
        "propertyNames": {"enum": [*NOT_ARGS, *opdef.args]},
    }
    required = [k for k, a in opdef.args.items() if a.required]
    if required:
        # a repeat's 'first' may supply them only together with the base entry, so they stay required here
        then["required"] = required
    return {"if": {"properties": {"op": {"const": name}}, "required": ["op"]}, "then": then}


def _entry() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "one layer (op + its arguments) or a container (layers, branches + merge, or block)",
        "properties": _entry_props(),
        "oneOf": [{"required": [k]} for k in ("op", "layers", "branches", "block")],
        "if": {"required": ["op"]},
        "then": {"allOf": [_op_rule(name) for name in sorted(OPS)]},
        "else": {"propertyNames": {"enum": list(ENTRY_KEYS)}},
    }


def _block() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "a reusable block: params (null = required) and layers, or branches + merge",
        "properties": {
            "params": {"type": "object", "description": "block parameters with defaults; null means required"},
            "doc": {"type": "string"},
            "layers": {"$ref": "#/$defs/layers"},
            "branches": _entry_props()["branches"],
            "merge": _entry_props()["merge"],
            "feed": _entry_props()["feed"],
        },
        "additionalProperties": False,
        "oneOf": [{"required": ["layers"]}, {"required": ["branches", "merge"]}],
    }


def _header() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "source": {"type": "string"},
        "input": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 3},
        "params": {"type": "object"},
        "blocks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/block"}},
        "layers": {"$ref": "#/$defs/layers", "minItems": 1},
        "published": {"type": "object"},
        "notes": {"type": "string"},
        "extends": {"type": "string"},
    }
    missing = set(HEADER_KEYS) ^ set(schemas)
    if missing:
        raise RuntimeError(f"spec schema out of date with HEADER_KEYS: {sorted(missing)}")
    return {k: {**schemas[k], "description": HEADER_KEYS[k]} for k in HEADER_KEYS}


def spec_schema() -> dict[str, Any]:
    """The whole schema (JSON Schema draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "archcalc network spec",
        "description": "A CNN architecture for archcalc: header keys, reusable blocks and the layer list.",
        "type": "object",
        "anyOf": [{"required": ["name", "input", "layers"]}, {"required": ["name", "extends"]}],
        "properties": _header(),
        "additionalProperties": False,
        "$defs": {
            "param": {
                "type": "string",
                "pattern": "\\$",
                "description": "a spec or block parameter ($width), or an exact expression over them "
                "($c * $t, make_divisible($c * $width, 8), $stride == 1 and not $project)",
            },
            "layers": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
            "entry": _entry(),
            "block": _block(),
        },
    }


def schema_json() -> str:
    """Stable text: sorted keys, two-space indent, trailing newline (the committed file is this text)."""
    return json.dumps(spec_schema(), indent=2, sort_keys=True) + "\n"
