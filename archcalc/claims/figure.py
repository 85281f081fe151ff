"""A claimed value: an exact integer, a shape or a rounded figure, and when it holds.

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

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any

from archcalc.errors import ArchcalcError, describe, show

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
# ASCII digits only: \d would also take '٣' (and int() would read it as 3)
_NUM = re.compile(
    r"^(?P<m>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|\.\d+)(?:e(?P<e>[+-]?\d+))?\s*(?P<rest>.*)$", re.I | re.ASCII | re.S
)
_SHAPE = re.compile(r"^\[?\s*\d+(?:\s*(?:[x\u00d7,@])\s*\d+)+\s*\]?$", re.ASCII)
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$", re.ASCII)
MAX_DIGITS = 30  # digits in a claimed number; no published figure has more
MAX_EXP = 30  # a figure's power of ten (exponent and multiplier together) lies in -30..30
_SUFFIX = {3: "K", 6: "M", 9: "G", 12: "T"}


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
    place: int = 0  # quantum == 10**place

    def holds(self, actual: int | tuple[int, ...] | Fraction) -> bool:
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
        """The actual value written the way the claim was (30.9G for a '15.5 GFLOPs' claim).

        Rounded half up, like ``holds``, and never to 0: a value far below the claim's scale is
        written in its own scientific notation (6.0e4 against a '6e30' claim).
        """
        if self.kind != "figure" or not self.power:
            return f"{actual:,}"
        p = self.power
        decimals = max(1, p - self.place)
        lead = len(str(abs(actual))) - 1  # the power of ten of actual's leading digit
        if actual and not -3 <= lead - p <= 6:  # far from the claim's scale: its own scientific notation
            return _rounded(actual, lead, max(1, min(5, p - self.place))) + f"e{lead}"
        if actual:
            decimals = max(decimals, 1 - (lead - p))  # at least two significant digits
        return _rounded(actual, p, decimals) + _SUFFIX.get(p, f"e{p}")


def _rounded(actual: int, shift: int, decimals: int) -> str:
    """actual / 10**shift with ``decimals`` decimals, rounded half up, exactly."""
    with localcontext() as ctx:
        ctx.prec = len(str(abs(actual))) + abs(shift) + decimals + 2
        d = Decimal(actual).scaleb(-shift)
        return f"{d.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):f}"


def parse_value(raw: Any, where: tuple[str, int]) -> Figure:
    """An int, a list of ints (shape), or text: a shape, an exact integer or a figure with units."""
    file, line = where
    if isinstance(raw, bool) or raw is None or isinstance(raw, dict):
        raise ArchcalcError(f"value must be a number, shape or figure, got {describe(raw)}", file=file, line=line)
    if isinstance(raw, int):
        _digits(str(abs(raw)), str(raw), where)
        return Figure(str(raw), "exact", exact=raw)
    if isinstance(raw, list):
        if not raw or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in raw):
            raise ArchcalcError(f"a shape must list positive integers, got {show(raw)}", file=file, line=line)
        for d in raw:
            _digits(str(d), show(raw), where)
        return Figure(str(list(raw)), "shape", shape=tuple(raw))
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ArchcalcError(f"value must be a finite number, got {show(raw)}", file=file, line=line)
    text = str(raw).strip()
    if _SHAPE.match(text) and not _THOUSANDS.match(text):
        dims = re.findall(r"[0-9]+", text)
        for d in dims:
            _digits(d, text, where)
        return Figure(text, "shape", shape=tuple(int(d) for d in dims))
    return parse_figure(text, where)


def parse_figure(text: str, where: tuple[str, int]) -> Figure:
    """'60M', '~138M', '15.5 GFLOPs', '3.8e9', '122,304': an exact integer or a rounded figure."""
    body, tilde = text, False
    for lead in ("~", "≈", "about ", "approx. ", "approximately ", "around "):
        if body.lower().startswith(lead):
            body, tilde = body[len(lead) :].strip(), True
    m = _NUM.match(body)
    if not m:
        raise ArchcalcError(
            f"cannot read claimed value {show(text)}: write an integer (122,304), a shape (6x28x28) "
            "or a figure (60M, ~138M, 15.5 GFLOPs, 3.8e9, 1.8 billion)",
            file=where[0],
            line=where[1],
        )
    mant, rest = m["m"].replace(",", ""), m["rest"].strip().lower()
    _digits(mant.replace(".", ""), text, where)
    power, unit = _suffix(rest, text, where)
    if "." not in mant and not m["e"] and power == 0 and not tilde:
        return Figure(text, "exact", exact=int(mant), unit=unit)
    exp = _exponent(m["e"] or "0", power, text, where)
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
        place=last + exp + power,
    )


def _digits(digits: str, text: str, where: tuple[str, int]) -> None:
    """Refuse numbers longer than MAX_DIGITS before any arithmetic on them."""
    n = len(digits.lstrip("0"))
    if n > MAX_DIGITS:
        raise ArchcalcError(
            f"claimed value {show(text)} has {n:,} digits; the limit is {MAX_DIGITS}", file=where[0], line=where[1]
        )


def _exponent(e: str, power: int, text: str, where: tuple[str, int]) -> int:
    """The 'e' exponent; with the multiplier it must stay in -MAX_EXP..MAX_EXP (1e100000 would take minutes)."""
    short = len(e.lstrip("+-").lstrip("0")) <= 3  # int() of a long exponent is already slow
    exp = int(e) if short else 0
    if not short or not -MAX_EXP <= exp + power <= MAX_EXP:
        raise ArchcalcError(
            f"claimed value {show(text)} is out of range: its power of ten (exponent and multiplier together) "
            f"must be between -{MAX_EXP} and {MAX_EXP}",
            file=where[0],
            line=where[1],
        )
    return exp


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
            raise ArchcalcError(f"unknown unit in {show(text)}: {show(rest)}", file=where[0], line=where[1])
    return power, unit
