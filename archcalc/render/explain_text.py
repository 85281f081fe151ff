"""Lay derivations out as markdown, a plain Grid (csv) or rich text; rich is imported lazily."""

from __future__ import annotations

from typing import Any

from archcalc.analysis.explain import LABELS, Derivation, Step, clip
from archcalc.analysis.report import Report
from archcalc.render.tabular import Grid, shape_text

LIMIT = 240  # display only: long sums are clipped with a term count (json and csv keep them whole)


def lines(d: Derivation) -> list[tuple[str, Step]]:
    """(label, step) pairs to show: square H/W steps share one line, zero counts are left out."""
    by_name = {s.name: s for s in d.steps}
    out: list[tuple[str, Step]] = []
    skip: set[str] = set()
    for s in d.steps:
        if s.name in skip:
            continue
        twin = by_name.get("W" + s.name[1:]) if s.name.startswith("H") else None
        if twin is not None and twin.substituted == s.substituted and twin.value == s.value:
            out.append((f"{s.name} = {twin.name}", s))
            skip.add(twin.name)
        else:
            out.append((s.name, s))
    return out + [(LABELS.get(s.name, s.name), s) for s in d.shown_counts()]


def heading(d: Derivation) -> str:
    if d.kind == "total":
        return f"total  {shape_text(d.input_shape)} -> {shape_text(d.output_shape)}"
    what = " ".join(p for p in (d.op, d.summary) if p)
    return f"{d.path}  {what}  {shape_text(d.input_shape)} -> {shape_text(d.output_shape)}"


def tail(d: Derivation) -> list[str]:
    """Shape formula, zero counts and the rule's notes, as short sentences (after the derived values)."""
    out = [derived_text(d, path, x) for path, x in d.derived]
    if d.kind == "layer" and any(ch.isalpha() for ch in d.shape_formula):
        out.append(f"output {shape_text(d.output_shape)} = {d.shape_formula}")
    zeros = d.zero_counts()
    if zeros and d.kind == "layer":
        out.append(f"{', '.join(zeros)}: 0")
    return out + d.notes


def derived_text(d: Derivation, path: str, x: Any) -> str:
    """A spec expression's value: 'derived: out = $c * $t = 16 * 6 = 96' ('derived in <block>:' for a block's)."""
    where = "" if path == d.path else f" in {path}"
    return f"derived{where}: {x.text()}"


def to_markdown(report: Report, ds: list[Derivation]) -> str:
    out = [f"**{report.model}: {report.title}** (input {shape_text(report.input)})", ""]
    for d in ds:
        out.append(f"#### `{d.path}` {' '.join(p for p in (d.op, d.summary) if p)}".rstrip())
        out.append(f"{shape_text(d.input_shape)} → {shape_text(d.output_shape)}")
        out.append("")
        for label, s in lines(d):
            rhs = "".join(f" = `{clip(p, LIMIT)}`" for p in s.parts())
            out.append(f"- **{label}** {s.value:,}{rhs}")
        out += [f"- {t}" for t in tail(d)]
        out.append("")
    return "\n".join(out)


def to_grid(report: Report, ds: list[Derivation]) -> Grid:
    """One row per number: layer, quantity, value, formula, substituted (whole, never clipped)."""
    rows = []
    for d in ds:
        for path, x in d.derived:
            rows.append([path, f"derived {x.name}", x.value_text(), x.expr, x.substituted])
        for s in [*d.steps, *d.counts.values()]:
            rows.append([d.path, s.name, str(s.value), s.formula, s.substituted])
    cols = ["layer", "quantity", "value", "formula", "substituted"]
    return Grid(f"{report.model}: derivations", cols, rows, {2})


def to_data(report: Report, ds: list[Derivation]) -> dict[str, Any]:
    return {"model": report.model, "input": list(report.input), "derivations": [d.to_dict() for d in ds]}


def print_rich(report: Report, ds: list[Derivation]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(width=max(console.width, 160), highlight=False)
    console.print(Text(f"{report.model}: {report.title} (input {shape_text(report.input)})", style="bold"))
    for d in ds:
        console.print()
        console.print(Text(heading(d), style="bold cyan"))
        for label, s in lines(d):
            t = Text("  ")
            t.append(label, style="bold")
            t.append(f" {s.value:,}", style="green")
            parts = [clip(p, LIMIT) for p in s.parts()]
            for i, part in enumerate(parts):
                t.append("\n      = " if i else " = ", style="dim")
                t.append(part, style="italic" if i < len(parts) - 1 else None)
            console.print(t)
        for note in tail(d):
            console.print(Text(f"  {note}", style="dim"))
