"""The ``archcalc`` command line: a thin click layer over analyze() and the renderers.

Nothing here imports torch; commands that build a model import it inside. Only click's public API
is used (see commands/common.py); usage errors are worded here, from the exceptions' attributes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from archcalc.cli.commands.common import INT, Fmt, command, emit, fmt_opt, input_opt, parse_reworded, set_opt, spec_arg
from archcalc.errors import ArchcalcError

if TYPE_CHECKING:
    from archcalc.analysis.report import Column


class Group(click.Group):
    """Commands listed in the order they were added; no arguments prints the help (exit 0)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # click's own no_args_is_help differs between 8.1 and 8.2
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()
        return parse_reworded(super().parse_args, ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not name.startswith("-") and not ctx.resilient_parsing:
            import difflib

            close = ", ".join(repr(m) for m in difflib.get_close_matches(name, list(self.commands)))
            raise click.UsageError(f"No such command {name!r}." + (f" Did you mean {close}?" if close else ""), ctx)
        return super().resolve_command(ctx, args)


app = Group(
    name="archcalc",
    help="Exact shapes, params, connections and MACs of convolutional networks, from YAML specs.",
)


@command("table")
@spec_arg
@input_opt
@set_opt
@fmt_opt
@click.option("--depth", type=INT, metavar="<int>", help="collapse blocks deeper than N into subtotal rows")
@click.option("--convention", "-c", metavar="<str>", help="add a column: macs, flops, fvcore, torchinfo, connections")
@click.option("--rf", is_flag=True, help="add receptive-field columns: size, jump, start")
@click.option("--plot", metavar="<str>", help="also draw per-layer params and MACs bars to a .png/.svg")
def table_cmd(
    spec: str,
    input: str | None,
    set: list[str] | None,
    fmt: Fmt,
    depth: int | None,
    convention: str | None,
    rf: bool,
    plot: str | None,
) -> None:
    """Per-layer table: shapes, params, LeCun connections and MACs, with totals.

    Examples:

      archcalc table lenet5

      archcalc table alexnet-227 --input 3x227x227 --set num_classes=5

      archcalc table resnet50 --depth 1 --format markdown

      archcalc table resnet50 --convention fvcore
    """
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.tabular import layer_grid

    report = analyze(spec, input, parse_sets(set or []))
    data = report.to_dict()
    extra: tuple[Column, ...] = ()
    if convention:
        from archcalc.analysis.conventions.column import convention_column

        extra = convention_column(report, convention, data)
    if rf:
        from archcalc.cli.commands.rf import rf_columns

        extra += rf_columns(report, data)
    grid = layer_grid(report, depth, extra)
    if plot:
        from archcalc.render.plot import layer_plot

        layer_plot(report, plot)
    emit(grid, fmt, data)


@command("list")
@fmt_opt
def list_cmd(fmt: Fmt) -> None:
    """Bundled specs, one line each: name, title, source, input and total params.

    Example:

      archcalc list --format markdown
    """
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import bundled_names
    from archcalc.render.tabular import Grid, n, shape_text

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
    """table and list, then each module in archcalc/cli/commands/ (except common) adds its commands with register(app)."""
    import importlib
    import pkgutil

    from archcalc.cli import commands

    app.add_command(table_cmd)
    app.add_command(list_cmd)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name != "common":
            importlib.import_module(f"archcalc.cli.commands.{info.name}").register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        code = app.main(args=argv, standalone_mode=False)  # returns ctx.exit()'s code, e.g. 1 from check
    except ArchcalcError as err:
        sys.stderr.write(f"archcalc: error: {err}\n")
        return 2
    except click.UsageError as err:
        sys.stderr.write(f"archcalc: error: {' '.join(err.format_message().split())}\n")
        return 2
    except click.ClickException as err:
        sys.stderr.write(f"archcalc: error: {' '.join(err.format_message().split())}\n")
        return 1
    except (click.Abort, KeyboardInterrupt):
        return 1
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
