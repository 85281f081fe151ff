"""Claims at other input sizes: ``value: 16.4 GMACs at 3x448x448``, and ratios between two input sizes
(``input: 3x448x448``, ``ratio_to: 3x224x224``, ``value: ~4x``: the quantity at ``input`` divided by the
quantity at ``ratio_to``, same spec and overrides). Both are computed by the calculator at each size.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from archcalc.errors import ArchcalcError, describe, show
from archcalc.frontend.spec import parse_input
from archcalc.frontend.yamlio import LMap

if TYPE_CHECKING:
    from archcalc.claims.figure import Figure

_AT = re.compile(r"^(?P<value>.*\S)\s+at\s+(?P<input>\S+)$", re.S)
_TIMES = re.compile(r"^(?P<num>.*?\d)\s*(?:x|\u00d7|times)(?:\s+(?P<unit>\S.*))?$", re.I | re.S)


def split_at(raw: Any) -> tuple[Any, str | None]:
    """'16.4 GMACs at 3x448x448' -> ('16.4 GMACs', '3x448x448'); anything else unchanged, None."""
    if not isinstance(raw, str):
        return raw, None
    m = _AT.match(raw.strip())
    return (m["value"], m["input"]) if m else (raw, None)


def ratio_text(raw: Any, where: tuple[str, int]) -> str:
    """A ratio as written ('4x', '~4.0x', '4 times', 3.9985) -> the figure text without the 'x'."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ArchcalcError(f"a ratio must look like 4x or ~4x, got {describe(raw)}", file=where[0], line=where[1])
    text = str(raw).strip()
    m = _TIMES.match(text)
    if m:
        return m["num"] + (f" {m['unit']}" if m["unit"] else "")
    if re.search(r"[a-wyz]", text, re.I):  # a unit without the 'x': '4 MACs' is no ratio
        raise ArchcalcError(f"a ratio must look like 4x or ~4x, got {show(text)}", file=where[0], line=where[1])
    return text


def ratio_decimal(r: Fraction, digits: int = 4) -> str:
    """3.9985..., rounded half up to ``digits`` decimals, exactly."""
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(r.numerator) / Decimal(r.denominator)
        return f"{d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):f}"


def convention_text(q: str) -> str:
    """How quantity ``q`` is counted, for verdicts: the convention's own line, or the plain count."""
    from archcalc.analysis.conventions import CONVENTIONS, names

    if q in names():
        return f"{q}: {CONVENTIONS[q].line}"
    return f"{q} (as 'archcalc table' counts it)"


def value_at_size(c: LMap, path: str) -> tuple[Figure, str | None, str | None]:
    """A claim's figure, its 'at CxHxW' input (or None), and its ratio_to input (or None)."""
    from archcalc.claims.claimsfile import _input
    from archcalc.claims.figure import parse_figure, parse_value

    where = (path, c.line_of("value"))
    raw, at = split_at(c["value"])
    if at is not None:
        if "input" in c or "ratio_to" in c:
            raise ArchcalcError(
                "a value 'at CxHxW' cannot be combined with 'input' or 'ratio_to'", file=path, line=where[1]
            )
        at = "x".join(str(d) for d in parse_input(at, file=path, line=where[1]))
    if "ratio_to" not in c:
        return parse_value(raw, where), at, None
    ratio_to = _input(c, None, path, "ratio_to")
    fig = parse_figure(ratio_text(raw, where), where)
    return replace(fig, text=str(raw).strip()), at, ratio_to
