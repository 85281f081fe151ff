"""``archcalc formula``: output shape and counts as exact expressions of the input size H x W."""

from __future__ import annotations

import click

from archcalc.cli.commands.common import TextFmt, choice, command, set_opt, spec_arg


@command("formula")
@spec_arg
@set_opt
@choice("--format", "-f", "fmt", enum=TextFmt, default="text", help="output format")
def formula_cmd(spec: str, set: list[str] | None, fmt: TextFmt) -> None:
    """Output shape, params, MACs and activations as exact functions of the input's H and W.

    Each layer's own rule runs again on symbols: every floor division is named once, stage by
    stage (H1 = floor((H - 1)/2) + 1), and reused. Also the leading terms (growth for large inputs)
    and a closed form: the sizes (H and W multiples of a modulus) where every floor is exact, with
    the counts as polynomials in H and W there. The formula is checked against the calculator at
    several sizes before it is printed.

    Examples:

      archcalc formula resnet50

      archcalc formula lenet5 --format json

      archcalc formula resnet50 --format html > resnet50-formula.html
    """
    from archcalc.analysis.formula import formula
    from archcalc.frontend.spec import parse_sets
    from archcalc.render import formula_text
    from archcalc.render.tabular import to_json

    f = formula(spec, parse_sets(set or []))
    if fmt is TextFmt.json:
        click.echo(to_json(formula_text.to_data(f)), nl=False)
    elif fmt is TextFmt.html:
        from archcalc.render.html import to_html

        grids = formula_text.to_grids(f)
        click.echo(to_html(grids, title=grids[0].title), nl=False)
    else:
        click.echo(formula_text.to_text(f), nl=False)


def register(app: click.Group) -> None:
    app.add_command(formula_cmd)
