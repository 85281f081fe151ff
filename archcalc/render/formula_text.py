"""``archcalc formula`` as text and as a JSON document (archcalc/schemas/formula.schema.json)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from archcalc.analysis.formula import COUNTS, Formula
from archcalc.analysis.polynomial import Coef, H, Poly, Var, W, padd, show_poly

LABELS = {"params": "params", "macs": "MACs", "activations": "activations"}


def decimal(c: Coef) -> str:
    """An exact decimal when there is one (8315/2 -> 4,157.5), else 6 significant digits."""
    f = Fraction(c)
    if f.denominator == 1:
        return f"{f.numerator:,}"
    for digits in range(1, 7):
        scaled = f * 10**digits
        if scaled.denominator == 1:
            return f"{float(f):,.{digits}f}"
    return f"{float(f):,.6g}"


def leading_text(p: Poly) -> str:
    """'81,456·H·W' (the highest-degree terms, middle dots)."""
    if not p:
        return "0"
    parts = []
    for mono in sorted(p):
        names = "·".join("HW"[i] for i in mono)
        parts.append(decimal(p[mono]) + (f"·{names}" if names else ""))
    return " + ".join(parts).replace("+ -", "- ")


PEAK = "peak activations"
PEAK_NOTE = "the most activations alive at once in a forward pass, as 'archcalc memory' counts them"


def peak_text(peak: list[Poly], names: list[str]) -> str:
    shown = [show_poly(p, names) for p in peak]
    return shown[0] if len(shown) == 1 else "max(" + ", ".join(shown) + ")"


def _peak_lines(peak: list[Poly], names: list[str], indent: str) -> list[str]:
    if len(peak) == 1:
        return [f"{indent}{PEAK} = {show_poly(peak[0], names)}"]
    head = f"{indent}{PEAK} = max(  # the largest of {len(peak)} live sets"
    return [head, *(f"{indent}    {show_poly(p, names)}," for p in peak), f"{indent})"]


def fixed_elements(f: Formula) -> Poly:
    """params + buffers + the input: the inference peak's part outside the live set (batch 1)."""
    input_elems: Poly = {(H, W): f.channels}
    return padd(padd(f.counts["params"], f.memory["buffers"]), input_elems)


def peak_leading_text(f: Formula) -> str:
    tops = f.peak_leading()
    if not tops:
        return "none (no closed form)"
    return leading_text(tops[0]) if len(tops) == 1 else "max(" + ", ".join(leading_text(t) for t in tops) + ")"


def _names(f: Formula) -> list[str]:
    return [v.name for v in f.space.vars]


def _mirrored(f: Formula) -> bool:
    """The W sizes are the H sizes with W written for H (a square-symmetric network)."""
    hs = [v for v in f.space.vars[2:] if v.axes == {H}]
    ws = [v for v in f.space.vars[2:] if v.axes == {W}]
    if len(hs) != len(ws) or len(hs) + len(ws) != len(f.space.vars) - 2:
        return False
    for a, b in zip(hs, ws, strict=True):
        if a.name.replace("H", "W") != b.name or _defn(f, a).replace("H", "W") != _defn(f, b):
            return False
    return True


def _defn(f: Formula, v: Var) -> str:
    return f.space.definition(v)


def _shape(f: Formula, polys: tuple[Poly, ...], names: list[str]) -> str:
    return " x ".join(show_poly(p, names) for p in polys)


def to_text(f: Formula) -> str:
    names = _names(f)
    lines = [f"{f.model}: cost as an exact function of the input size {f.channels} x H x W", ""]
    sizes = f.space.vars[2:]
    if sizes:
        lines.append("sizes (each distinct one named once):")
        mirrored = _mirrored(f)
        for v in sizes:
            if not (mirrored and v.axes == {W}):
                lines.append(f"  {v.name} = {_defn(f, v)}")
        if mirrored:
            ws = [v.name for v in sizes if v.axes == {W}]
            lines.append(
                f"  {ws[0]}..{ws[-1]}: the same with W for H" if len(ws) > 1 else f"  {ws[0]}: the same with W for H"
            )
        lines.append("")
    lines.append(f"output shape = {_shape(f, f.output, names)}")
    for key in COUNTS:
        lines.append(f"{LABELS[key]} = {show_poly(f.counts[key], names)}")
    lines += ["", "inference memory, batch 1 (live activations as 'archcalc memory' counts them, input excluded):"]
    lines += _peak_lines(f.peak, names, "  ")
    lines.append(f"  inference peak bytes (float32) = 4*({show_poly(fixed_elements(f), names)} + {PEAK})")
    lines += ["", "leading terms (large H, W):"]
    lines += [f"  {LABELS[k]} ≈ {leading_text(f.leading(k))}" for k in COUNTS]
    lines.append(f"  {PEAK} ≈ {peak_leading_text(f)}")
    c = f.closed
    lines.append("")
    if c is None:
        lines.append("closed form: none found (no multiple of the moduli up to 4096 is accepted)")
    else:
        hw = ["H", "W"]
        lines.append(
            f"closed form, exact for H ≡ 0 (mod {c.mod[0]}), W ≡ 0 (mod {c.mod[1]}), "
            f"H ≥ {c.least[0]}, W ≥ {c.least[1]}:"
        )
        lines.append(f"  output shape = {_shape(f, c.output, hw)}")
        lines += [f"  {LABELS[k]} = {show_poly(c.counts[k], hw)}" for k in COUNTS]
        lines += _peak_lines(c.peak, hw, "  ")
    return "\n".join(lines) + "\n"


def to_grids(f: Formula) -> list[Any]:
    """The same content as tables, for ``--format html``: the sizes, then each quantity's formula."""
    from archcalc.render.tabular import Grid

    names = _names(f)
    title = f"{f.model}: cost as an exact function of the input size {f.channels} x H x W"
    sizes = Grid(
        "sizes (each distinct one named once)",
        ["size", "definition"],
        [[v.name, _defn(f, v)] for v in f.space.vars[2:]],
    )
    rows = [["output shape", _shape(f, f.output, names), "", ""]]
    c = f.closed
    if c is not None:
        rows[0][3] = _shape(f, c.output, ["H", "W"])
    for k in COUNTS:
        closed = show_poly(c.counts[k], ["H", "W"]) if c is not None else ""
        rows.append([LABELS[k], show_poly(f.counts[k], names), leading_text(f.leading(k)), closed])
    closed_peak = peak_text(c.peak, ["H", "W"]) if c is not None else ""
    rows.append([f"{PEAK} ({PEAK_NOTE})", peak_text(f.peak, names), peak_leading_text(f), closed_peak])
    caption = (
        "closed form: none found (no multiple of the moduli up to 4096 is accepted)"
        if c is None
        else f"closed form exact for H ≡ 0 (mod {c.mod[0]}), W ≡ 0 (mod {c.mod[1]}), H ≥ {c.least[0]}, W ≥ {c.least[1]}"
    )
    counts = Grid(title, ["quantity", "exact formula", "leading terms", "closed form"], rows, caption=caption)
    return [counts, sizes] if sizes.rows else [counts]


def _coef(c: Coef) -> int | str:
    return c if isinstance(c, int) else f"{c.numerator}/{c.denominator}"


def _terms(p: Poly) -> list[dict[str, Any]]:
    return [{"coefficient": _coef(co), "monomial": "*".join("HW"[i] for i in m) or "1"} for m, co in sorted(p.items())]


def to_data(f: Formula) -> dict[str, Any]:
    names = _names(f)
    c = f.closed
    return {
        "model": f.model,
        "input": [f.channels, "H", "W"],
        "sizes": [{"name": v.name, "definition": _defn(f, v)} for v in f.space.vars[2:]],
        "output_shape": [show_poly(p, names) for p in f.output],
        "counts": {k: show_poly(f.counts[k], names) for k in COUNTS},
        "peak_activations": [show_poly(p, names) for p in f.peak],
        "fixed_elements": show_poly(fixed_elements(f), names),
        "leading": {
            **{k: _terms(f.leading(k)) for k in COUNTS},
            "peak_activations": [_terms(t) for t in f.peak_leading()],
        },
        "closed_form": None
        if c is None
        else {
            "modulus": list(c.mod),
            "least": list(c.least),
            "output_shape": [show_poly(p, ["H", "W"]) for p in c.output],
            "counts": {k: show_poly(c.counts[k], ["H", "W"]) for k in COUNTS},
            "peak_activations": [show_poly(p, ["H", "W"]) for p in c.peak],
        },
    }
