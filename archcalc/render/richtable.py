"""Lay a Grid out as a rich Table (rich is imported only when this format is asked for)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archcalc.render.fit import Fit, fit
from archcalc.render.plaintext import BAR_WIDTH, cells, share_bar  # noqa: F401  (re-exported)
from archcalc.render.tabular import Grid

_BAR_STYLES = ("cyan", "magenta", "green", "yellow")


def _cap(g: Grid, i: int) -> int | None:
    """In one-line grids, long text columns are cut (with an ellipsis) instead of wrapped."""
    long = max((len(r[i]) for r in g.rows), default=0) > 48
    return 48 if g.one_line and i and long else None


def to_rich(g: Grid, fitted: Fit | None = None) -> Table:
    """Every string becomes a Text: user text (a title, a claim) is never read as markup ('[/x]') or emoji.

    With ``fitted`` (render/fit.py) every column gets the width found there and only its flex column wraps.
    """
    table = Table(
        title=Text(g.title, style="table.title") if g.title else None,
        caption=Text(g.caption, style="table.caption") if g.caption else None,
        box=box.SIMPLE_HEAD,
        show_footer=bool(g.footer),
    )
    for i, col in enumerate(g.columns):
        footer = g.footer[i] if g.footer else ""
        table.add_column(
            Text(col),
            footer=Text(footer),
            justify="right" if i in g.numeric else "left",
            **_sizing(g, i, fitted),
        )
    _, rows, _ = cells(g)  # the same body rows (indent, share bars) as the plain-text layout
    for k, (name, _) in enumerate(g.bars.items() if g.bar_columns else []):
        width = None if fitted is None else fitted.widths[len(g.columns) + k]
        table.add_column(Text(f"{name} share"), no_wrap=True, style=_BAR_STYLES[k % len(_BAR_STYLES)], width=width)
    for r, row in enumerate(rows):
        table.add_row(*map(Text, row), style="bold" if r in g.bold else None)
    return table


def _sizing(g: Grid, i: int, fitted: Fit | None) -> dict[str, Any]:
    if fitted is None:
        return {"no_wrap": i == 0 or g.one_line, "max_width": _cap(g, i)}
    flex = i == fitted.flex
    return {"width": fitted.widths[i], "no_wrap": not flex, "overflow": "fold" if flex else "ellipsis"}


def print_rich(g: Grid, console: Console | None = None) -> None:
    """A grid with a flex column is fitted to the console's width (render/fit.py): no number is cut, and
    a line after the table names the columns hidden to fit."""
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: no terminal width to respect, never truncate numbers
            console = Console(width=max(console.width, 160))
    if not g.flex:
        console.print(to_rich(g))
        return
    fitted = fit(g, console.width)
    if fitted.width > console.width:  # even the narrowest layout is wider: print it whole, the terminal wraps
        console = Console(
            file=console.file,
            width=fitted.width,
            color_system=console.color_system,  # type: ignore[arg-type]
            force_terminal=console.is_terminal,
        )
    console.print(to_rich(fitted.grid, fitted))
    if fitted.note:
        console.print(Text(fitted.note))
