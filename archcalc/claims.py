"""Claims files: statements about a network's numbers, checked against the calculator.

Matching rule for a claimed value (documented in docs/commands.md):

* an exact integer (``156``, ``122,304``) must equal the actual value;
* a shape (``6x28x28``, ``[6, 28, 28]``, ``6@28x28``) must equal the output shape;
* a figure (with a decimal point, an exponent or a multiplier: ``60M``, ``15.5 GFLOPs``,
  ``3.8e9``, ``1.8 billion``) holds when the actual value, rounded half up at the place of
  the figure's last significant digit, equals it.  Trailing zeros of a whole mantissa are not
  significant: ``60M`` covers [55M, 65M); write ``60.0M`` for [59.95M, 60.05M);
* ``~`` (or ``≈``, ``about``) also accepts anything within 5% of the figure.

A ``FLOPs`` figure that misses 2 x MACs but matches MACs holds *as MACs*: the verdict says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from archcalc.errors import ArchcalcError
from archcalc.yamlio import LList, LMap, load_text, read_text

BASE_QUANTITIES = (
    "output_shape",
    "params",
    "trainable_params",
    "buffers",
    "connections",
    "macs",
    "flops",
    "activations",
)
TOP_KEYS = {
    "title": "what the file checks",
    "source": "default source",
    "spec": "default spec",
    "input": "default input",
    "set": "default --set overrides",
    "claims": "the list of claims",
}
CLAIM_KEYS = {
    "claim": "the statement, as a human wrote it",
    "spec": "bundled spec name or path (default: the file's)",
    "input": "input CxHxW (default: the spec's)",
    "set": "spec parameter overrides, a mapping",
    "layer": "layer path, or 'total' (default)",
    "quantity": "what is counted (default: from the value's unit)",
    "value": "the claimed value: integer, shape or figure",
    "ops": "total only: sum just these ops ('input' adds the input's values)",
    "source": "where the claim comes from",
    "note": "free text shown with the result",
}
TILDE = 0.05  # '~' accepts a relative error up to 5%
_MULT = {
    "k": 3,
    "thousand": 3,
    "m": 6,
    "mn": 6,
    "million": 6,
    "g": 9,
    "b": 9,
    "bn": 9,
    "billion": 9,
    "t": 12,
    "trillion": 12,
}
_UNITS = {
    "flops": "flops", "flop": "flops",
    "macs": "macs", "mac": "macs", "multiply-adds": "macs", "mult-adds": "macs", "madds": "macs",
    "params": "params", "parameters": "params", "weights": "params",
    "connections": "connections", "activations": "activations",
}  # fmt: skip
_NUM = re.compile(r"^(?P<m>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|\.\d+)(?:e(?P<e>[+-]?\d+))?\s*(?P<rest>.*)$", re.I)
_SHAPE = re.compile(r"^\[?\s*\d+(?:\s*(?:[x\u00d7,@])\s*\d+)+\s*\]?$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")


@dataclass(frozen=True)
class Figure:
    """A parsed claimed value."""

    text: str
    kind: str  # 'exact', 'shape' or 'figure'
    exact: int = 0
    shape: tuple[int, ...] = ()
    value: Fraction = Fraction(0)
    quantum: Fraction = Fraction(1)  # place value of the last significant digit
    power: int = 0  # the multiplier's power of ten (G -> 9), for showing actual values alike
    tilde: bool = False
    unit: str | None = None

    def holds(self, actual: int | tuple[int, ...]) -> bool:
        if self.kind == "shape" or isinstance(actual, tuple):
            return self.kind == "shape" and tuple(actual) == self.shape  # type: ignore[arg-type]
        if self.kind == "exact":
            return actual == self.exact
        q = self.quantum
        rounded = ((Fraction(actual) / q) + Fraction(1, 2)).__floor__() * q
        if rounded == self.value:
            return True
        return self.tilde and abs(Fraction(actual) - self.value) <= TILDE * abs(self.value)

    def alike(self, actual: int) -> str:
        """The actual value written the way the claim was (30.9G for a '15.5 GFLOPs' claim)."""
        if self.kind != "figure" or not self.power:
            return f"{actual:,}"
        p = self.power
        decimals = max(1, p - _exp10(self.quantum))
        suffix = {3: "K", 6: "M", 9: "G", 12: "T"}.get(p, f"e{p}")
        return f"{actual / 10**p:.{decimals}f}{suffix}"


def _exp10(q: Fraction) -> int:
    e = 0
    while Fraction(10) ** e < q:
        e += 1
    while Fraction(10) ** e > q:
        e -= 1
    return e


def parse_value(raw: Any, where: tuple[str, int]) -> Figure:
    """An int, a list of ints (shape), or text: a shape, an exact integer or a figure with units."""
    file, line = where
    if isinstance(raw, bool) or raw is None:
        raise ArchcalcError(f"value must be a number, shape or figure, got {raw!r}", file=file, line=line)
    if isinstance(raw, int):
        return Figure(str(raw), "exact", exact=raw)
    if isinstance(raw, LList | list):
        if not raw or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in raw):
            raise ArchcalcError(f"a shape must list positive integers, got {list(raw)!r}", file=file, line=line)
        return Figure(str(list(raw)), "shape", shape=tuple(raw))
    text = str(raw).strip()
    if _SHAPE.match(text) and not _THOUSANDS.match(text):
        return Figure(text, "shape", shape=tuple(int(d) for d in re.findall(r"\d+", text)))
    body, tilde = text, False
    for lead in ("~", "≈", "about ", "approx. ", "approximately ", "around "):
        if body.lower().startswith(lead):
            body, tilde = body[len(lead) :].strip(), True
    m = _NUM.match(body)
    if not m:
        raise ArchcalcError(
            f"cannot read claimed value {text!r}: write an integer (122,304), a shape (6x28x28) "
            "or a figure (60M, ~138M, 15.5 GFLOPs, 3.8e9, 1.8 billion)",
            file=file,
            line=line,
        )
    mant, exp, rest = m["m"].replace(",", ""), int(m["e"] or 0), m["rest"].strip().lower()
    power, unit = _suffix(rest, text, where)
    if "." not in mant and not m["e"] and power == 0 and not tilde:
        return Figure(text, "exact", exact=int(mant), unit=unit)
    digits = mant.split(".")[1] if "." in mant else ""
    last = -len(digits) if digits else len(mant) - len(mant.rstrip("0")) if mant.strip("0") else 0
    scale = Fraction(10) ** (exp + power)
    return Figure(
        text,
        "figure",
        value=Fraction(mant) * scale,
        quantum=Fraction(10) ** last * scale,
        power=power or exp,
        tilde=tilde,
        unit=unit,
    )


def _suffix(rest: str, text: str, where: tuple[str, int]) -> tuple[int, str | None]:
    """'G FLOPs', 'gflops', 'million', 'M params' -> (power of ten, unit)."""
    words = rest.replace("\u00d710^", "e").split()
    power = 0
    if words and words[0] in _MULT:
        power, words = _MULT[words.pop(0)], words
    elif words and words[0][:1] in _MULT and words[0][1:] in _UNITS:
        power, words[0] = _MULT[words[0][:1]], words[0][1:]
    unit = None
    if words:
        unit = _UNITS.get(" ".join(words)) or _UNITS.get(words[0])
        if unit is None or len(words) > 1:
            raise ArchcalcError(f"unknown unit in {text!r}: {rest!r}", file=where[0], line=where[1])
    return power, unit


@dataclass
class Claim:
    text: str
    spec: str
    input: str | None
    sets: dict[str, Any]
    layer: str
    quantity: str
    figure: Figure
    source: str
    line: int
    ops: list[str] | None = None
    note: str = ""


@dataclass
class ClaimsFile:
    file: str
    title: str
    claims: list[Claim] = field(default_factory=list)


def load_claims(path: str) -> ClaimsFile:
    """Read and validate a claims file; every problem is an ArchcalcError at file:line."""
    doc = load_text(read_text(Path(path), display=path), file=path)
    if not isinstance(doc, LMap) or not isinstance(doc.get("claims"), LList):
        raise ArchcalcError("a claims file is a mapping with a 'claims:' list", file=path, line=getattr(doc, "line", 1))
    _known(doc, TOP_KEYS, path)
    out = ClaimsFile(path, str(doc.get("title", "")))
    for item in doc["claims"]:
        if not isinstance(item, LMap):
            raise ArchcalcError("each claim must be a mapping", file=path, line=doc["claims"].line)
        out.claims.append(_claim(item, doc, path))
    if not out.claims:
        raise ArchcalcError("'claims' is empty", file=path, line=doc.line_of("claims"))
    return out


def _known(m: LMap, keys: dict[str, str], path: str) -> None:
    for key in m:
        if key not in keys:
            raise ArchcalcError(
                f"unknown key '{key}'; expected one of {', '.join(keys)}", file=path, line=m.line_of(key)
            )


def _claim(c: LMap, top: LMap, path: str) -> Claim:
    _known(c, CLAIM_KEYS, path)
    spec = c.get("spec", top.get("spec"))
    if not isinstance(spec, str):
        raise ArchcalcError("claim needs 'spec' (here or at the top of the file)", file=path, line=c.line)
    if ("/" in spec or spec.endswith((".yaml", ".yml"))) and not Path(spec).is_file():
        beside = Path(path).parent / spec  # spec files are found next to the claims file too
        spec = str(beside) if beside.is_file() else spec
    if "value" not in c:
        raise ArchcalcError("claim needs 'value'", file=path, line=c.line)
    fig = parse_value(c["value"], (path, c.line_of("value")))
    quantity = c.get("quantity", fig.unit or ("output_shape" if fig.kind == "shape" else None))
    if not isinstance(quantity, str) or not quantity:
        raise ArchcalcError("claim needs 'quantity' (the value has no unit to infer it from)", file=path, line=c.line)
    _check_quantity(quantity, fig, path, c.line_of("quantity") if "quantity" in c else c.line)
    sets = c.get("set", top.get("set", {}))
    if not isinstance(sets, dict):
        raise ArchcalcError("'set' must be a mapping of parameter to value", file=path, line=c.line_of("set"))
    ops = c.get("ops")
    if ops is not None and (not isinstance(ops, list) or not all(isinstance(o, str) for o in ops)):
        raise ArchcalcError("'ops' must be a list of op names", file=path, line=c.line_of("ops"))
    layer = str(c.get("layer", "total"))
    if ops is not None and layer != "total":
        raise ArchcalcError("'ops' only applies to layer: total", file=path, line=c.line_of("ops"))
    inp = c.get("input", top.get("input"))
    return Claim(
        text=str(c.get("claim", "")) or f"{spec} {layer} {quantity} = {fig.text}",
        spec=spec,
        input=None if inp is None else "x".join(str(d) for d in inp) if isinstance(inp, list) else str(inp),
        sets=dict(sets),
        layer=layer,
        quantity=quantity,
        figure=fig,
        source=str(c.get("source", top.get("source", ""))),
        line=c.line,
        ops=list(ops) if ops is not None else None,
        note=str(c.get("note", "")),
    )


def quantities() -> list[str]:
    """The base quantities plus every convention name, when the conventions module is present."""
    try:
        from archcalc.conventions import names
    except ImportError:  # pragma: no cover - conventions ship with archcalc
        return list(BASE_QUANTITIES)
    return list(BASE_QUANTITIES) + [n for n in names() if n not in BASE_QUANTITIES]


def _check_quantity(q: str, fig: Figure, path: str, line: int) -> None:
    known = quantities()
    if q not in known:
        raise ArchcalcError(f"unknown quantity '{q}'; expected one of {', '.join(known)}", file=path, line=line)
    if (q == "output_shape") != (fig.kind == "shape"):
        raise ArchcalcError(f"quantity '{q}' does not fit the value {fig.text!r}", file=path, line=line)
    if fig.unit and fig.unit != q and {fig.unit, q} != {"flops", "macs"} and q in BASE_QUANTITIES:
        raise ArchcalcError(f"the value {fig.text!r} is in {fig.unit}, but quantity is '{q}'", file=path, line=line)
