"""``archcalc explain``: every number of a layer (or of all layers) with its formula and arithmetic."""

from __future__ import annotations

import click

from archcalc.cli.commands.common import Fmt, argument, command, emit, fmt_opt, input_opt, set_opt, spec_arg


@command("explain")
@spec_arg
@argument("layer", "layer path (e.g. C1 or features.conv1), a unique name, a block path, or 'total'", required=False)
@input_opt
@set_opt
@fmt_opt
def explain_cmd(spec: str, layer: str | None, input: str | None, set: list[str] | None, fmt: Fmt) -> None:
    """Each number with its formula, then the values substituted.

    The formulas come from running the same op rule that computed the number, so
    they cannot disagree with 'archcalc table'. Without LAYER: every layer, every
    block, and the total.

    Examples:

      archcalc explain lenet5 C1

      archcalc explain lenet5 C3 --format markdown

      archcalc explain alexnet-227 features.conv1 --input 3x224x224

      archcalc explain resnet50 layer1.0 --format json
    """
    from archcalc.analysis.explain import explain
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render import explain_text

    report = analyze(spec, input, parse_sets(set or []))
    derivations = explain(report, layer)
    if fmt is Fmt.rich:
        explain_text.print_rich(report, derivations)
    elif fmt is Fmt.markdown:
        click.echo(explain_text.to_markdown(report, derivations), nl=False)
    else:
        emit(explain_text.to_grid(report, derivations), fmt, explain_text.to_data(report, derivations))


def register(app: click.Group) -> None:
    app.add_command(explain_cmd)
