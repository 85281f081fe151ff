"""The default table format when stdout is not a terminal: rich's layout in plain text, no rich import.

rich measures and wraps every cell; for a 669-row ResNet-152 table that costs more than the whole
analysis, and with a fixed console width it cuts long numbers to '118,013,9…'. Piped output has no
terminal width to respect, so here every column is as wide as its widest cell: nothing is ever cut.
The look follows rich's SIMPLE_HEAD box (title, header, rule, rows, footer, caption).
"""

from __future__ import annotations

from archcalc.analysis.report import gc_paused
from archcalc.render.tabular import Grid

BAR_WIDTH = 10  # characters for a 100% share
_EIGHTHS = " ▏▎▍▌▋▊▉"


def share_bar(value: int, total: int, width: int = BAR_WIDTH) -> str:
    """A unicode block bar of value/total (1/8-character steps) and the percentage; '' for 0."""
    if value <= 0 or total <= 0:
        return ""
    eighths = max(1, round(8 * width * value / total))  # a non-zero share never vanishes
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    pct = 100 * value / total
    label = "<0.1%" if pct < 0.1 else f"{pct:.1f}%"
    return f"{bar:<{width}} {label:>6}"


def cells(g: Grid) -> tuple[list[str], list[list[str]], set[int]]:
    """Header, body rows (indented by depth, with one share-bar column per series) and numeric columns."""
    series = list(g.bars.items()) if g.bar_columns else []
    totals = [sum(v for v in values if v) for _, values in series]
    header = [*g.columns, *(f"{name} share" for name, _ in series)]
    rows = []
    for r, row in enumerate(g.rows):
        out = list(row)
        if g.depths:
            out[0] = "  " * max(g.depths[r], 0) + out[0]
        for (_, values), total in zip(series, totals, strict=True):
            v = values[r] if r < len(values) else None
            out.append(share_bar(v, total) if v is not None else "")
        rows.append(out)
    return header, rows, set(g.numeric)


@gc_paused
def to_text(g: Grid) -> str:
    header, rows, numeric = cells(g)
    footer = [*g.footer, *[""] * (len(header) - len(g.footer))] if g.footer else None
    every = [header, *rows, *([footer] if footer else [])]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in every) for i in range(len(header))]

    def line(row: list[str]) -> str:
        parts = [
            (c.rjust(w) if i in numeric else c.ljust(w)) for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        return ("  " + "   ".join(parts)).rstrip()

    width = 2 + sum(widths) + 3 * (len(widths) - 1)
    out = [g.title.center(width).rstrip(), ""] if g.title else []
    out += [line(header), " " + "─" * (width - 1)]
    out += [line(r) for r in rows]
    if footer:
        out += ["", line(footer)]
    if g.caption:
        out += ["", g.caption.center(width).rstrip()]
    return "\n".join(out) + "\n"
