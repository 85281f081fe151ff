"""The ``archcalc`` command line: a thin typer layer over analyze() and the renderers.

Nothing here imports torch; commands that build a model import it inside.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

try:  # typer >= 0.20 vendors click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover
    import click.exceptions as _cx  # type: ignore[no-redef]

from archcalc.commands.common import Fmt, FmtOpt, InputOpt, SetOpt, SpecArg, emit
from archcalc.errors import ArchcalcError
from archcalc.typerfast import install as _fast_params

app = typer.Typer(
    name="archcalc",
    help="Exact shapes, params, connections and MACs of convolutional networks, from YAML specs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.command("table")
def table_cmd(
    spec: SpecArg,
    input: InputOpt = None,
    set: SetOpt = None,
    fmt: FmtOpt = Fmt.rich,
    depth: Annotated[int | None, typer.Option(help="collapse blocks deeper than N into subtotal rows")] = None,
    convention: Annotated[
        str | None, typer.Option("--convention", "-c", help="add a column: macs, flops, fvcore, torchinfo, connections")
    ] = None,
    rf: Annotated[bool, typer.Option("--rf", help="add receptive-field columns: size, jump, start")] = False,
    plot: Annotated[str | None, typer.Option(help="also draw per-layer params and MACs bars to a .png/.svg")] = None,
) -> None:
    """Per-layer table: shapes, params, LeCun connections and MACs, with totals.

    Examples:

      archcalc table lenet5

      archcalc table alexnet-227 --input 3x227x227 --set num_classes=5

      archcalc table resnet50 --depth 1 --format markdown

      archcalc table resnet50 --convention fvcore
    """
    from archcalc.calc import analyze
    from archcalc.render.tabular import layer_grid
    from archcalc.spec import parse_sets

    report = analyze(spec, input, parse_sets(set or []))
    grid, data = layer_grid(report, depth), report.to_dict()
    if convention:
        from archcalc.conventions.column import add_column

        add_column(grid, report, convention, data)
    if rf:
        from archcalc.commands.rf import add_rf_columns

        add_rf_columns(grid, report, spec, input, parse_sets(set or []), depth, data)
    if plot:
        from archcalc.plot import layer_plot

        layer_plot(report, plot)
    emit(grid, fmt, data)


@app.command("list")
def list_cmd(fmt: FmtOpt = Fmt.rich) -> None:
    """Bundled specs, one line each: name, title, source, input and total params.

    Example:

      archcalc list --format markdown
    """
    from archcalc.calc import analyze
    from archcalc.render.tabular import Grid, n, shape_text
    from archcalc.spec import bundled_names

    rows, data = [], []
    for name in bundled_names():
        rep = analyze(name)
        rows.append([name, rep.title, rep.source, shape_text(rep.input), n(rep.totals.params)])
        data.append(
            {
                "name": name,
                "title": rep.title,
                "source": rep.source,
                "input": list(rep.input),
                "params": rep.totals.params,
            }
        )
    grid = Grid("bundled specs", ["name", "title", "source", "input", "params"], rows, {4}, one_line=True)
    emit(grid, fmt, data)


def _register_commands() -> None:
    """Each module in archcalc/commands/ (except common) adds its commands with register(app)."""
    import importlib
    import pkgutil

    from archcalc import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name != "common":
            importlib.import_module(f"archcalc.commands.{info.name}").register(app)


_register_commands()
_fast_params()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        code = app(args=argv, standalone_mode=False)  # click returns typer.Exit's code here
    except ArchcalcError as err:
        sys.stderr.write(f"archcalc: error: {err}\n")
        return 2
    except _cx.NoArgsIsHelpError as err:
        sys.stdout.write(err.ctx.get_help() + "\n" if err.ctx else "")
        return 0
    except _cx.UsageError as err:
        sys.stderr.write(f"archcalc: error: {' '.join(err.format_message().split())}\n")
        return 2
    except _cx.ClickException as err:
        sys.stderr.write(f"archcalc: error: {' '.join(err.format_message().split())}\n")
        return 1
    except typer.Exit as err:
        return int(err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return 1
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
