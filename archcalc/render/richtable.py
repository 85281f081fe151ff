"""Lay a Grid out as a rich Table (rich is imported only when this format is asked for)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from archcalc.render.tabular import Grid


def to_rich(g: Grid) -> Table:
    table = Table(title=g.title, caption=g.caption or None, box=box.SIMPLE_HEAD, show_footer=bool(g.footer))
    for i, col in enumerate(g.columns):
        footer = g.footer[i] if g.footer else ""
        table.add_column(col, footer=footer, justify="right" if i in g.numeric else "left", no_wrap=i == 0)
    for r, row in enumerate(g.rows):
        cells = list(row)
        if g.depths:
            cells[0] = "  " * max(g.depths[r], 0) + cells[0]
        table.add_row(*cells, style="bold" if r in g.bold else None)
    return table


def print_rich(g: Grid, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: no terminal width to respect, never truncate numbers
            console = Console(width=max(console.width, 160))
    console.print(to_rich(g))
