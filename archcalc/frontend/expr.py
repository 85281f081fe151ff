"""Exact expressions over params in spec values: ``$c * $t``, ``make_divisible($c * $width, 8)``, ``not $project``.

A string value that holds ``$`` and is not a bare ``$name`` is an expression (frontend/params.py decides).
It is parsed with Python's ``ast`` (never ``eval``) and only a whitelist of node types is walked:

* numbers (``int`` and decimal ``float`` constants), ``true``/``false``, ``$name`` parameters;
* ``+ - * / // %``, unary ``- +``, comparisons (chains too), ``and``/``or``/``not``, parentheses;
* calls of the functions in ``FUNCTIONS`` with positional arguments.

Arithmetic is exact (``fractions.Fraction``): a float enters as its decimal value (``1.4`` is 7/5), ``/`` is
exact, and a whole result becomes an ``int``; a non-whole one a ``float``; a comparison a ``bool``. The text is
at most ``MAX_CHARS`` characters and every value at most ``MAX_VALUE`` (numerator and denominator), so no
small input can make unbounded work. Every evaluation gives a ``Derived`` line for ``archcalc explain``.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

MAX_CHARS = 300
MAX_VALUE = 10**30
MAX_DEPTH = 40  # nesting of the parsed tree (parentheses, unary operators, calls)
NAME = r"\$([A-Za-z_][A-Za-z0-9_]*)"
_NAME_RE = re.compile(NAME)
_BARE_RE = re.compile(NAME + r"\Z")
_MARK = "Ψ"  # '$x' becomes the identifier 'Ψx'; the text itself is ASCII, so no name of the user's starts with it

Value = Fraction | bool


class ExprError(ValueError):
    """A wrong expression; the caller adds file, line and layer."""


@dataclass(frozen=True, slots=True)
class Derived:
    """One derived value: ``name = expr = substituted = value`` (name: the key it was written under)."""

    name: str
    expr: str
    substituted: str
    value: Any

    def text(self) -> str:
        parts = [self.name, self.expr]
        for part in (self.substituted, self.value_text()):
            if part not in parts[1:]:
                parts.append(part)
        return " = ".join(parts)

    def value_text(self) -> str:
        return shown(self.value)

    def under(self, key: str) -> Derived:
        """The same line, named from the enclosing key (``args.c``, ``padding[0]``)."""
        sep = "" if self.name.startswith("[") else "."
        return replace(self, name=f"{key}{sep}{self.name}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expression": self.expr,
            "substituted": self.substituted,
            "value": self.value,
            "text": self.text(),
        }


def is_bare(text: str) -> bool:
    """``$name`` alone: a whole-value substitution, not an expression."""
    return _BARE_RE.match(text) is not None


def names(text: str) -> list[str]:
    """The ``$names`` an expression reads, in order."""
    return _NAME_RE.findall(text)


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else repr(float(value))
    return repr(value) if isinstance(value, float) else str(value)


def derive(name: str, text: str, env: Mapping[str, Any]) -> tuple[Any, Derived]:
    """The value of an expression and its explain line; ``ExprError`` for anything wrong."""
    tree = _compile(text)
    for n in names(text):
        if n not in env:
            known = ", ".join(f"${k}" for k in sorted(env)) or "none"
            raise ExprError(f"unknown parameter '${n}' (known: {known})")
    values = {n: _param(n, env[n]) for n in names(text)}
    result = _Eval(values).run(tree)
    value: Any = result if isinstance(result, bool) else _plain(result)
    substituted = _NAME_RE.sub(lambda m: shown(env[m.group(1)]), text)
    return value, Derived(name, text, substituted, value)


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    return derive("", text, env)[0]


def _plain(x: Fraction) -> int | float:
    return x.numerator if x.denominator == 1 else float(x)


def _param(name: str, v: Any) -> Value:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return _number(v, f"parameter '${name}'")
    kind = "text" if isinstance(v, str) else "a list" if isinstance(v, list) else "null" if v is None else "a value"
    raise ExprError(f"parameter '${name}' is {kind}; expressions take numbers and true/false")


def _number(v: int | float, what: str) -> Fraction:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ExprError(f"{what} is not finite")
        return _bounded(Fraction(repr(v)), what)
    return _bounded(Fraction(v), what)


def _bounded(x: Fraction, what: str = "a value") -> Fraction:
    if abs(x.numerator) > MAX_VALUE or x.denominator > MAX_VALUE:
        raise ExprError(f"{what} is larger than the limit 10**30 (or has a denominator above it)")
    return x


# ---- parsing and checking (once per text) ----------------------------------------------------------------------
_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
}
_SYMBOLS: dict[type[ast.AST], str] = {ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}
_SYMBOLS.update({ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not"})
_SYMBOLS.update({ast.In: "in", ast.NotIn: "not in"})
_WORDS = {"true": True, "false": False}
ALLOWED = "operators + - * / // % ( ), comparisons, and/or/not; functions " + ", ".join(
    ["make_divisible", "ceil", "floor", "round", "int", "min", "max", "abs"]
)


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> ast.expr:
    """The checked tree of an expression (the same text is checked once)."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"{len(text):,} characters; the limit is {MAX_CHARS}")
    if not text.isascii():
        raise ExprError("only ASCII characters are allowed in an expression")
    source = _NAME_RE.sub(lambda m: _MARK + m.group(1), text)
    if "$" in source:
        raise ExprError("'$' must be followed by a parameter name, like $width")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        hint = ""
        if text.count("(") != text.count(")"):
            hint = " (parentheses do not match; inside { } or [ ], quote an expression that has a comma)"
        raise ExprError(f"not a valid expression{hint}; allowed: {ALLOWED}") from None
    _check(tree, 0)
    return tree


def _check(node: ast.AST, depth: int) -> None:
    """Refuse every node type but the whitelist, unknown names and wrong arity."""
    if depth > MAX_DEPTH:
        raise ExprError(f"nested more than {MAX_DEPTH} deep")
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError(f"'{_SYMBOLS.get(type(node.op), '?')}' is not allowed; allowed: {ALLOWED}")
        children: list[ast.AST] = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
            raise ExprError(f"'{_SYMBOLS.get(type(node.op), '?')}' is not allowed; allowed: {ALLOWED}")
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare):
        bad = [op for op in node.ops if type(op) not in _CMPOPS]
        if bad:
            raise ExprError(f"'{_SYMBOLS.get(type(bad[0]), '?')}' is not allowed; allowed: {ALLOWED}")
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.Call):
        children = _check_call(node)
    elif isinstance(node, ast.Name):
        _check_name(node.id)
        children = []
    elif isinstance(node, ast.Constant):
        _check_constant(node.value)
        children = []
    else:
        raise ExprError(f"{_what(node)} is not allowed; allowed: {ALLOWED}")
    for child in children:
        _check(child, depth + 1)


def _check_call(node: ast.Call) -> list[ast.AST]:
    if not isinstance(node.func, ast.Name):
        raise ExprError(f"{_what(node.func)} is not allowed; allowed: {ALLOWED}")
    if node.func.id not in FUNCTIONS:
        raise ExprError(f"unknown function '{node.func.id}'; functions: {', '.join(FUNCTIONS)}")
    name = node.func.id
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise ExprError(f"{name}() takes positional arguments only")
    lo, hi = ARITY[name]
    if not lo <= len(node.args) <= (hi if hi is not None else len(node.args)):
        want = f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} or {hi}"
        raise ExprError(f"{name}() takes {want} argument{'' if want == '1' else 's'}, got {len(node.args)}")
    return list(node.args)


def _check_name(name: str) -> None:
    if name.startswith(_MARK) or name in _WORDS:
        return
    if name in FUNCTIONS:
        raise ExprError(f"function '{name}' must be called, like {name}(...)")
    raise ExprError(f"unknown name '{name}'; write parameters as ${name}, or use: {', '.join(FUNCTIONS)}")


def _check_constant(v: Any) -> None:
    if isinstance(v, bool | int | float):
        if not isinstance(v, bool):
            _number(v, f"the number {v!r}" if isinstance(v, float) or v.bit_length() < 200 else "a number")
        return
    kind = "text" if isinstance(v, str) else "null" if v is None else type(v).__name__
    raise ExprError(f"{kind} constants are not allowed (numbers and true/false only)")


def _what(node: ast.AST) -> str:
    names_ = {
        ast.Attribute: "attribute access ('.')",
        ast.Subscript: "indexing ('[...]')",
        ast.Lambda: "lambda",
        ast.IfExp: "'x if c else y'",
        ast.NamedExpr: "':='",
        ast.Await: "await",
    }
    for kind, text in names_.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return "a comprehension"
    if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict):
        return "a list, tuple, set or mapping"
    if isinstance(node, ast.JoinedStr | ast.FormattedValue):
        return "an f-string"
    return f"'{type(node).__name__}'"


# ---- evaluation ------------------------------------------------------------------------------------------------
class _Eval:
    def __init__(self, values: Mapping[str, Value]) -> None:
        self.values = values

    def run(self, node: ast.AST) -> Value:
        if isinstance(node, ast.Constant):
            v = node.value
            assert isinstance(v, bool | int | float)  # _check allowed nothing else
            return v if isinstance(v, bool) else _number(v, "a number")
        if isinstance(node, ast.Name):
            return _WORDS[node.id] if node.id in _WORDS else self.values[node.id[len(_MARK) :]]
        if isinstance(node, ast.BinOp):
            return _binop(type(node.op), self.num(node.left), self.num(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return not self.flag(node.operand)
            x = self.num(node.operand)
            return -x if isinstance(node.op, ast.USub) else x
        if isinstance(node, ast.BoolOp):
            flags = [self.flag(v) for v in node.values]  # all of them: a type error is never skipped
            return all(flags) if isinstance(node.op, ast.And) else any(flags)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # _check allowed nothing else
        name = node.func.id
        if name == "int":  # int(true) = 1, int(false) = 0, as Python's int(True): a count from a flag
            arg = self.run(node.args[0])
            return Fraction(int(arg)) if isinstance(arg, bool) else _bounded(FUNCTIONS[name](arg))
        return _bounded(FUNCTIONS[name](*(self.num(a, f"{name}() argument") for a in node.args)))

    def num(self, node: ast.AST, what: str = "arithmetic") -> Fraction:
        v = self.run(node)
        if isinstance(v, bool):
            raise ExprError(f"{what} takes numbers, got {shown(v)}")
        return v

    def flag(self, node: ast.AST) -> bool:
        v = self.run(node)
        if not isinstance(v, bool):
            raise ExprError(f"and/or/not take true/false, got {shown(v)} (compare it, like $n > 0)")
        return v

    def compare(self, node: ast.Compare) -> bool:
        left, ok = self.run(node.left), True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.run(right_node)
            ordered = not isinstance(op, ast.Eq | ast.NotEq)
            if isinstance(left, bool) != isinstance(right, bool) or (ordered and isinstance(left, bool)):
                raise ExprError(f"cannot compare {shown(left)} with {shown(right)}")
            ok = _CMPOPS[type(op)](left, right) and ok
            left = right
        return ok


def _binop(op: type[ast.operator], a: Fraction, b: Fraction) -> Fraction:
    if op in (ast.Div, ast.FloorDiv, ast.Mod) and b == 0:
        raise ExprError(f"division by zero ({shown(a)} {_BINOPS[op]} 0)")
    if op is ast.Add:
        out = a + b
    elif op is ast.Sub:
        out = a - b
    elif op is ast.Mult:
        out = a * b
    elif op is ast.Div:
        out = a / b
    elif op is ast.FloorDiv:
        out = Fraction(a // b)
    else:
        out = a % b
    return _bounded(out)


# ---- functions -------------------------------------------------------------------------------------------------
def _whole(x: Fraction, what: str) -> int:
    if x.denominator != 1:
        raise ExprError(f"{what} must be a whole number, got {shown(x)}")
    return x.numerator


def make_divisible(v: Fraction, divisor: Fraction, min_value: Fraction | None = None) -> Fraction:
    """torchvision's ``_make_divisible`` (models/_utils.py), computed exactly: the multiple of ``divisor``
    nearest ``v`` (halves up), at least ``min_value`` (default ``divisor``), and never below 90% of ``v``."""
    d = _whole(divisor, "make_divisible()'s divisor")
    if d < 1:
        raise ExprError(f"make_divisible()'s divisor must be 1 or more, got {d}")
    low = d if min_value is None else _whole(min_value, "make_divisible()'s min_value")
    new_v = max(low, math.trunc(v + Fraction(d, 2)) // d * d)
    if new_v < Fraction(9, 10) * v:
        new_v += d
    return Fraction(new_v)


def _minmax(pick: Callable[..., Fraction]) -> Callable[..., Fraction]:
    return lambda *xs: pick(xs)


FUNCTIONS: dict[str, Callable[..., Fraction]] = {
    "make_divisible": make_divisible,
    "ceil": lambda x: Fraction(math.ceil(x)),
    "floor": lambda x: Fraction(math.floor(x)),
    "round": lambda x: Fraction(round(x)),  # half to even, like Python's round() in torchvision's code
    "int": lambda x: Fraction(math.trunc(x)),  # toward zero, like int()
    "min": _minmax(min),
    "max": _minmax(max),
    "abs": lambda x: abs(x),
}
ARITY: dict[str, tuple[int, int | None]] = {
    "make_divisible": (2, 3),
    "ceil": (1, 1),
    "floor": (1, 1),
    "round": (1, 1),
    "int": (1, 1),
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
}
