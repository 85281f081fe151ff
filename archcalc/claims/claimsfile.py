"""Claims files: statements about a network's numbers, checked against the calculator.

A claim names a spec, a quantity (at a layer or the total) and a value; the value's matching rule is in
figure.py (documented in docs/commands.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcalc.claims.figure import Figure
from archcalc.errors import ArchcalcError, describe, show
from archcalc.frontend.spec import parse_input
from archcalc.frontend.yamlio import LList, LMap, load_text, read_text

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
    "input": "input CxHxW (default: the spec's); a value may also end in 'at CxHxW'",
    "ratio_to": "another input CxHxW: the value is the quantity at 'input' divided by it at this one (4x)",
    "set": "spec parameter overrides, a mapping",
    "layer": "layer path, or 'total' (default)",
    "quantity": "what is counted (default: from the value's unit)",
    "value": "the claimed value: integer, shape or figure",
    "ops": "total only: sum just these ops ('input' adds the input's values)",
    "source": "where the claim comes from",
    "note": "free text shown with the result",
}


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
    ratio_to: str | None = None  # the value is quantity(input) / quantity(ratio_to)
    at_size: bool = False  # the value said 'at CxHxW'


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
    out = ClaimsFile(path, _text(doc, None, "title", path) or "")
    for item in doc["claims"]:
        if not isinstance(item, LMap):
            raise ArchcalcError(
                f"each claim must be a mapping, got {describe(item)}", file=path, line=doc["claims"].line
            )
        out.claims.append(_claim(item, doc, path))
    if not out.claims:
        raise ArchcalcError("'claims' is empty", file=path, line=doc.line_of("claims"))
    return out


def _known(m: LMap, keys: dict[str, str], path: str) -> None:
    """Unknown keys and keys without a value are errors: neither may be silently ignored."""
    for key, value in m.items():
        if key not in keys:
            raise ArchcalcError(
                f"unknown key '{key}'; expected one of {', '.join(keys)}", file=path, line=m.line_of(key)
            )
        if value is None:
            raise ArchcalcError(f"'{key}' has no value", file=path, line=m.line_of(key))


def _pick(c: LMap, top: LMap | None, key: str) -> tuple[Any, int]:
    """A claim's key, else the file's default for it, with the line it was written on."""
    if key in c or top is None or key not in top:
        return c.get(key), c.line_of(key)
    return top[key], top.line_of(key)


def _text(c: LMap, top: LMap | None, key: str, path: str) -> str | None:
    """A free-text key: text or a number; a mapping, list or true/false is a mistake."""
    v, line = _pick(c, top, key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ArchcalcError(f"'{key}' must be text, got {describe(v)}", file=path, line=line)
    return str(v)


def _claim(c: LMap, top: LMap, path: str) -> Claim:
    from archcalc.claims.atsize import value_at_size

    _known(c, CLAIM_KEYS, path)
    spec = _spec_ref(c, top, path)
    if "value" not in c:
        raise ArchcalcError("claim needs 'value'", file=path, line=c.line)
    fig, at, ratio_to = value_at_size(c, path)
    quantity = c.get("quantity", fig.unit or ("output_shape" if fig.kind == "shape" else None))
    if "quantity" in c and not isinstance(quantity, str):
        raise ArchcalcError(f"'quantity' must be text, got {describe(quantity)}", file=path, line=c.line_of("quantity"))
    if not isinstance(quantity, str) or not quantity:
        raise ArchcalcError("claim needs 'quantity' (the value has no unit to infer it from)", file=path, line=c.line)
    _check_quantity(quantity, fig, path, c.line_of("quantity") if "quantity" in c else c.line)
    sets, line = _pick(c, top, "set")
    if not isinstance(sets, dict | None):
        raise ArchcalcError(
            f"'set' must be a mapping of parameter to value, got {describe(sets)}", file=path, line=line
        )
    layer = c.get("layer", "total")
    if isinstance(layer, bool) or not isinstance(layer, str | int):
        raise ArchcalcError(f"'layer' must be a layer path, got {describe(layer)}", file=path, line=c.line_of("layer"))
    ops = _ops(c, path)
    if ops is not None and str(layer) != "total":
        raise ArchcalcError("'ops' only applies to layer: total", file=path, line=c.line_of("ops"))
    where = f" at {at}" if at else ""
    if ratio_to:
        where = f" ({_input(c, top, path) or 'its input'} over {ratio_to})"
    return Claim(
        text=_text(c, None, "claim", path) or f"{spec} {layer} {quantity} = {fig.text}{where}",
        spec=spec,
        input=at or _input(c, top, path),
        sets=dict(sets or {}),
        layer=str(layer),
        quantity=quantity,
        figure=fig,
        source=_text(c, top, "source", path) or "",
        line=c.line,
        ops=ops,
        note=_text(c, None, "note", path) or "",
        ratio_to=ratio_to,
        at_size=at is not None,
    )


def _spec_ref(c: LMap, top: LMap, path: str) -> str:
    spec, line = _pick(c, top, "spec")
    if spec is None:
        raise ArchcalcError("claim needs 'spec' (here or at the top of the file)", file=path, line=c.line)
    if not isinstance(spec, str):
        raise ArchcalcError(f"'spec' must be a spec name or path, got {describe(spec)}", file=path, line=line)
    if ("/" in spec or spec.endswith((".yaml", ".yml"))) and not Path(spec).is_file():
        beside = Path(path).parent / spec  # spec files are found next to the claims file too
        spec = str(beside) if beside.is_file() else spec
    return spec


def _input(c: LMap, top: LMap | None, path: str, key: str = "input") -> str | None:
    """'CxHxW' or [C, H, W], checked here so that a mistake points at this line."""
    inp, line = _pick(c, top, key)
    if inp is None:
        return None
    if not isinstance(inp, str | list):
        raise ArchcalcError(f"'{key}' must look like 3x224x224, got {describe(inp)}", file=path, line=line)
    return "x".join(str(d) for d in parse_input(inp, file=path, line=line, subject=key))


def _ops(c: LMap, path: str) -> list[str] | None:
    """Op names to sum; an empty list or an unknown name would silently sum to 0."""
    if "ops" not in c:
        return None
    ops, line = c["ops"], c.line_of("ops")
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
        raise ArchcalcError(f"'ops' must be a non-empty list of op names, got {describe(ops)}", file=path, line=line)
    from archcalc.ops import OPS

    for op in ops:
        if op != "input" and op not in OPS:
            known = ", ".join(["input", *sorted(OPS)])
            raise ArchcalcError(f"unknown op '{op}' in 'ops'; expected one of {known}", file=path, line=line)
    return list(ops)


def quantities() -> list[str]:
    """The base quantities plus every convention name."""
    from archcalc.analysis.conventions import names

    return list(BASE_QUANTITIES) + [n for n in names() if n not in BASE_QUANTITIES]


def _check_quantity(q: str, fig: Figure, path: str, line: int) -> None:
    known = quantities()
    if q not in known:
        raise ArchcalcError(f"unknown quantity '{q}'; expected one of {', '.join(known)}", file=path, line=line)
    if (q == "output_shape") != (fig.kind == "shape"):
        raise ArchcalcError(f"quantity '{q}' does not fit the value {show(fig.text)}", file=path, line=line)
    if fig.unit and fig.unit != q and {fig.unit, q} != {"flops", "macs"} and q in BASE_QUANTITIES:
        raise ArchcalcError(f"the value {show(fig.text)} is in {fig.unit}, but quantity is '{q}'", file=path, line=line)
