"""``archcalc check CLAIMS.yaml``: verify published numbers; exit 0 all hold, 1 any fails, 2 invalid file."""

from __future__ import annotations

from typing import Any

import click

from archcalc.cli.commands.common import TEXT, Fmt, argument, command, emit, fmt_opt


@command("check")
@argument("files", "one or more claims files (YAML)", label="<list[str]>", nargs=-1, required=True, type=TEXT)
@fmt_opt
def check_cmd(files: tuple[str, ...], fmt: Fmt) -> None:
    """Check each claim (spec, layer or total, quantity, claimed value) against archcalc.

    A figure such as 60M or 15.5 GFLOPs holds when the actual value, rounded at the
    figure's last significant digit, equals it; '~' also accepts 5%. A wrong claim
    shows the correct value and its derivation. Exit code 0: all hold; 1: any fails;
    2: a file is invalid (one line, file:line).

    Examples:

      archcalc check examples/claims/seed-004-classic-cnns.yaml

      archcalc check examples/claims/*.yaml --format markdown
    """
    from archcalc.claims.claimsfile import load_claims
    from archcalc.claims.verdict import UNDECIDED, check_file
    from archcalc.render.tabular import Grid

    results = []
    for path in files:
        results += check_file(load_claims(path))
    rows = [[str(i), r.claim.text, r.claim.figure.text, r.actual_text, r.verdict] for i, r in enumerate(results, 1)]
    failed = sum(not r.ok for r in results)
    undecided = sum(r.verdict == UNDECIDED for r in results)
    grid = Grid("claims", ["#", "claim", "claimed", "actual", "verdict"], rows, {0})
    fails = failed - undecided
    grid.caption = f"{len(results) - failed} of {len(results)} claims hold" + (f", {fails} fail" if fails else "")
    grid.caption += f", {undecided} cannot be decided (partial: unknown ops)" if undecided else ""
    data: dict[str, Any] = {"holds": not failed, "results": [r.to_dict() for r in results]}
    if fmt is Fmt.rich:
        _rich(grid, results)
    elif fmt is Fmt.markdown:
        emit(grid, fmt, data)
        click.echo(_details_markdown(results), nl=False)
    else:
        emit(grid, fmt, data)
    if failed:
        click.get_current_context().exit(1)


def _detail_items(results: list[Any]) -> list[tuple[int, Any]]:
    return [(i, r) for i, r in enumerate(results, 1) if r.why or r.derivation]


def _details_markdown(results: list[Any]) -> str:
    out = []
    for i, r in _detail_items(results):
        c = r.claim
        out += ["", f"**{i}. {r.verdict}**: {c.text} ({c.spec}, {c.layer}, {c.quantity}; line {c.line})", ""]
        if r.why:
            out.append(f"- {r.why}")
        out += [f"- `{line}`" for line in r.derivation]
        out += [f"- note: {c.note}"] if c.note else []
        out += [f"- source: {c.source}"] if c.source else []
    return "\n".join(out) + ("\n" if out else "")


def _rich(grid: Any, results: list[Any]) -> None:
    from rich.console import Console
    from rich.text import Text

    from archcalc.render.richtable import to_rich

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(width=max(console.width, 160), highlight=False)
    table = to_rich(grid)
    for col in (3, 4):
        table.columns[col].no_wrap = True
    console.print(table)
    for i, r in _detail_items(results):
        c = r.claim
        style = "bold red" if not r.ok else "bold yellow"
        console.print(Text(f"{i}. {r.verdict}: {c.text}", style=style))
        console.print(Text(f"   {c.spec} | {c.layer} | {c.quantity} | line {c.line}", style="dim"))
        if r.why:
            console.print(Text(f"   {r.why}"))
        for line in r.derivation:
            console.print(Text(f"   {line}", style="cyan"))
        if c.note:
            console.print(Text(f"   note: {c.note}", style="dim"))
        if c.source:
            console.print(Text(f"   source: {c.source}", style="dim"))


def register(app: click.Group) -> None:
    app.add_command(check_cmd)
