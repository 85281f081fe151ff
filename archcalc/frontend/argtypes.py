"""Typed, named layer arguments: validation, defaults and JSON Schema from one table."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archcalc.errors import describe

MAX_SIZE = 2**31 - 1  # torch stores sizes as int64, but nothing real is this large
REQUIRED = object()


class ArgError(ValueError):
    """A single argument is wrong; the caller adds file, line and layer."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v: Any, lo: int, what: str) -> int:
    if isinstance(v, str):
        raise ArgError(f"expected {what}, got text '{v}'")
    if not _is_int(v):
        raise ArgError(f"expected {what}, got {describe(v)}")
    if v < lo:
        raise ArgError(f"expected {what}, got {v}")
    if v > MAX_SIZE:
        raise ArgError(f"{v:,} is larger than the limit {MAX_SIZE:,}")
    return int(v)


@dataclass(frozen=True)
class ArgType:
    """How one kind of argument is checked, normalised and described."""

    name: str
    check: Callable[[Any], Any]
    schema: dict[str, Any]


@dataclass(frozen=True)
class Arg:
    type: ArgType
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] = field(default=())

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def pos_int(v: Any) -> int:
    return _int(v, 1, "a whole number >= 1")


def nonneg_int(v: Any) -> int:
    return _int(v, 0, "a whole number >= 0")


def any_int(v: Any) -> int:
    if not _is_int(v):
        raise ArgError(f"expected a whole number, got {describe(v)}")
    return int(v)


def _pair(v: Any, one: Callable[[Any], int]) -> tuple[int, int]:
    if isinstance(v, list):
        if len(v) != 2:
            raise ArgError(f"expected a number or a pair [h, w], got a list of {len(v)}")
        return one(v[0]), one(v[1])
    n = one(v)
    return n, n


def pos_pair(v: Any) -> tuple[int, int]:
    return _pair(v, pos_int)


def nonneg_pair(v: Any) -> tuple[int, int]:
    return _pair(v, nonneg_int)


def padding(v: Any) -> tuple[int, int] | str:
    if isinstance(v, str):
        if v in ("same", "valid"):
            return v
        raise ArgError(f"padding must be a number, a pair, 'same' or 'valid', got '{v}'")
    return nonneg_pair(v)


def opt_pos_pair(v: Any) -> tuple[int | None, int | None]:
    """Adaptive pooling output: null keeps that input size, as in torch."""
    items = v if isinstance(v, list) else [v, v]
    if len(items) != 2:
        raise ArgError(f"expected a number or a pair [h, w], got a list of {len(items)}")
    h, w = (None if i is None else pos_int(i) for i in items)
    return h, w


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ArgError(f"expected true or false, got {describe(v)}")
    return v


def number(v: Any) -> float:
    if isinstance(v, str):
        hint = " (YAML reads 1e-5 as text; write 1.0e-5)" if "e" in v.lower() else ""
        raise ArgError(f"expected a number, got text '{v}'{hint}")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ArgError(f"expected a number, got {describe(v)}")
    if not math.isfinite(v):
        raise ArgError(f"expected a finite number, got {describe(v)}")
    return float(v)


def probability(v: Any) -> float:
    p = number(v)
    if not 0.0 <= p <= 1.0:
        raise ArgError(f"expected a probability in [0, 1], got {p}")
    return p


def text(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ArgError(f"expected a name, got {describe(v)}")
    return v


def table(v: Any) -> tuple[tuple[int, ...], ...]:
    if not isinstance(v, list) or not v:
        raise ArgError("connection table must be a list with one list of input maps per output map")
    rows = []
    for i, row in enumerate(v):
        if not isinstance(row, list) or not row:
            raise ArgError(f"connection table row {i} must be a non-empty list of input map indices")
        idx = tuple(nonneg_int(x) for x in row)
        if len(set(idx)) != len(idx):
            raise ArgError(f"connection table row {i} lists an input map twice")
        rows.append(idx)
    return tuple(rows)


def weights(v: Any) -> tuple[Any, ...]:
    """Fixed weight values as nested lists of numbers; shape is checked by the op."""
    if isinstance(v, list):
        return tuple(weights(x) for x in v)
    return number(v)  # type: ignore[return-value]


_INT = {"type": "integer"}
_PAIR_SCHEMA = {"oneOf": [_INT, {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}]}

POS_INT = ArgType("int>=1", pos_int, {"type": "integer", "minimum": 1})
NONNEG_INT = ArgType("int>=0", nonneg_int, {"type": "integer", "minimum": 0})
INT = ArgType("int", any_int, _INT)
POS_PAIR = ArgType("int or [h, w]", pos_pair, _PAIR_SCHEMA)
NONNEG_PAIR = ArgType("int or [h, w]", nonneg_pair, _PAIR_SCHEMA)
PADDING = ArgType(
    "int, [h, w], 'same' or 'valid'", padding, {"oneOf": [*_PAIR_SCHEMA["oneOf"], {"enum": ["same", "valid"]}]}
)
OPT_POS_PAIR = ArgType(
    "int or [h, w] (null keeps the input size)",
    opt_pos_pair,
    {"oneOf": [_INT, {"type": "array", "items": {"type": ["integer", "null"]}, "minItems": 2, "maxItems": 2}]},
)
BOOL = ArgType("bool", boolean, {"type": "boolean"})
NUMBER = ArgType("number", number, {"type": "number"})
PROB = ArgType("number in [0, 1]", probability, {"type": "number", "minimum": 0, "maximum": 1})
NAME = ArgType("layer name", text, {"type": "string"})
TABLE = ArgType(
    "list of lists of input-map indices",
    table,
    {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}},
)
WEIGHTS = ArgType("nested lists of numbers", weights, {"type": "array"})


def enum(*values: str) -> ArgType:
    def check(v: Any) -> str:
        if v not in values:
            raise ArgError(f"expected one of {', '.join(values)}; got {describe(v)}")
        return str(v)

    return ArgType(" | ".join(values), check, {"enum": list(values)})
