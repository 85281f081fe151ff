"""Options and output shared by every command (kept free of torch and rich imports)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

import typer


class Fmt(str, Enum):
    rich = "rich"
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


SpecArg = Annotated[str, typer.Argument(help="bundled spec name (see 'archcalc list') or path to a .yaml spec")]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="input size CxHxW, e.g. 3x227x227")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="override a spec parameter: key=value")]
FmtOpt = Annotated[Fmt, typer.Option("--format", "-f", help="output format")]


def emit(grid: Any, fmt: Fmt, data: Any = None) -> None:
    """Write a Grid (or a list of Grids, one after the other) in the chosen format; ``data`` is the JSON document."""
    from archcalc.render import tabular

    grids = grid if isinstance(grid, list) else [grid]
    if fmt is Fmt.json:
        sys.stdout.write(tabular.to_json(data))
    elif fmt is Fmt.html:
        from archcalc.render.html import to_html

        sys.stdout.write(to_html(grids))
    elif fmt is Fmt.markdown:
        sys.stdout.write("\n".join(tabular.to_markdown(g) for g in grids))
    elif fmt is Fmt.csv:
        sys.stdout.write("\n".join(tabular.to_csv(g) for g in grids))
    elif not sys.stdout.isatty():  # piped: rich's layout in plain text, fast and never cut (render/plaintext.py)
        from archcalc.render.plaintext import to_text

        sys.stdout.write("\n".join(to_text(g) for g in grids))
    else:
        from archcalc.render.richtable import print_rich

        for g in grids:
            print_rich(g)
