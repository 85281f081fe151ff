"""``archcalc explain``: every number of a layer (or of all layers) with its formula and arithmetic."""

from __future__ import annotations

from typing import Annotated

import typer

from archcalc.commands.common import Fmt, FmtOpt, InputOpt, SetOpt, SpecArg, emit

LayerArg = Annotated[
    str | None,
    typer.Argument(help="layer path (e.g. C1 or features.conv1), a unique name, a block path, or 'total'"),
]


def explain_cmd(
    spec: SpecArg, layer: LayerArg = None, input: InputOpt = None, set: SetOpt = None, fmt: FmtOpt = Fmt.rich
) -> None:
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
    from archcalc.calc import analyze
    from archcalc.explain import explain
    from archcalc.render import explain_text
    from archcalc.spec import parse_sets

    report = analyze(spec, input, parse_sets(set or []))
    derivations = explain(report, layer)
    if fmt is Fmt.rich:
        explain_text.print_rich(report, derivations)
    elif fmt is Fmt.markdown:
        typer.echo(explain_text.to_markdown(report, derivations), nl=False)
    else:
        emit(explain_text.to_grid(report, derivations), fmt, explain_text.to_data(report, derivations))


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
