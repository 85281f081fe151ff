"""Validation of an op entry's named arguments against the op registry."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from archcalc.errors import ArchcalcError, close_matches, did_you_mean, show
from archcalc.frontend.argtypes import REQUIRED, ArgError
from archcalc.frontend.yamlio import LList, LMap
from archcalc.ops import OPS

Fail = Callable[[str, int | None], ArchcalcError]
# the keys an op entry may carry beside its arguments (expand._op rejects the others; the schema lists them)
NOT_ARGS = (
    "name",
    "op",
    "from",
    "shares",
    "when",
    "side",
    "doc",
    "repeat",
    "first",
    "feed",
    "flat",
    "index_from",
    "name_prefix",
)


def typed_key(v: Any) -> Any:
    """A hashable key for a raw YAML value that keeps its type (1, 1.0 and true check differently)."""
    if type(v) in (int, bool, str) or v is None:
        return (type(v), v)
    if type(v) is float:
        return (float, repr(v))  # repr: -0.0 and nan compare unlike their checked values
    if type(v) in (list, LList):
        return (type(v), tuple(typed_key(x) for x in v))
    raise TypeError  # anything else is validated afresh


def check_op_args(e: LMap, op: Any, entry_keys: Collection[str], fail: Fail) -> dict[str, Any]:
    """The validated, defaulted arguments of one op entry; ``fail(msg, line)`` builds the located error."""
    opdef = OPS.get(op) if isinstance(op, str) else None
    if opdef is None:
        near = close_matches(op, OPS) if isinstance(op, str) else []
        hint = did_you_mean(near) or f"; known ops: {', '.join(sorted(OPS))}"
        raise fail(f"unknown op {show(op)}{hint}", e.line_of("op"))
    args: dict[str, Any] = {}
    for key, value in e.items():
        if key in entry_keys and key != "op":
            if key in NOT_ARGS:
                continue
            raise fail(f"key '{key}' does not apply to an op entry", e.line_of(key))
        if key == "op":
            continue
        arg = opdef.args.get(key)
        if arg is None:
            expected = ", ".join(opdef.args) or "none"
            raise fail(f"unknown argument '{key}' for {op} (expected: {expected})", e.line_of(key))
        try:
            args[key] = None if value is None and arg.default is None else arg.type.check(value)
        except ArgError as err:
            raise fail(f"{op} argument '{key}': {err}", e.line_of(key)) from None
    for key, arg in opdef.args.items():
        if key not in args:
            if arg.default is REQUIRED:
                raise fail(f"{op} needs argument '{key}'", e.line)
            args[key] = arg.type.check(arg.default) if arg.default is not None else None
    return args
