"""The ``archcalc`` command line: a thin click layer over analyze() and the renderers.

Nothing here imports torch; commands that build a model import it inside. Only click's public API
is used (see commands/common.py); usage errors are worded here, from the exceptions' attributes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

import click

from archcalc import __version__
from archcalc.cli.commands.common import (
    INT,
    TEXT,
    Fmt,
    command,
    emit,
    fmt_opt,
    input_opt,
    parse_reworded,
    set_opt,
    spec_arg,
)
from archcalc.errors import ArchcalcError, printable, show

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

            close = ", ".join(show(m) for m in difflib.get_close_matches(name, list(self.commands)))
            raise click.UsageError(f"No such command {show(name)}." + (f" Did you mean {close}?" if close else ""), ctx)
        return super().resolve_command(ctx, args)


app = Group(
    name="archcalc",
    help="Exact shapes, params, connections and MACs of convolutional networks, from YAML specs.",
)
click.version_option(__version__, "--version", prog_name="archcalc", message="%(prog)s %(version)s")(app)


@command("table")
@spec_arg
@input_opt
@set_opt
@fmt_opt
@click.option("--depth", type=INT, metavar="<int>", help="collapse blocks deeper than N into subtotal rows")
@click.option(
    "--convention",
    "-c",
    type=TEXT,
    metavar="<str>",
    help="add a column: macs, flops, fvcore, torchinfo, connections, train, train_fcm",
)
@click.option("--rf", is_flag=True, help="add receptive-field columns: size, jump, start")
@click.option("--plot", type=TEXT, metavar="<str>", help="also draw per-layer params and MACs bars to a .png/.svg/.pdf")
@click.option(
    "--columns", type=TEXT, metavar="<str>", help="show only these columns, comma-separated: layer,params,MACs"
)
@click.option("--no-bars", is_flag=True, help="leave out the params and MACs share bars")
def table_cmd(
    spec: str,
    input: str | None,
    set: list[str] | None,
    fmt: Fmt,
    depth: int | None,
    convention: str | None,
    rf: bool,
    plot: str | None,
    columns: str | None,
    no_bars: bool,
) -> None:
    """Per-layer table: shapes, params, LeCun connections and MACs, with totals.

    In a terminal no number is cut: when the table is too wide, the share bars, then connections, then
    kernel/stride/pad are hidden (a line after the table says so) and long layer paths wrap.

    Examples:

      archcalc table lenet5

      archcalc table alexnet-227 --input 3x227x227 --set num_classes=5

      archcalc table resnet50 --depth 1 --format markdown

      archcalc table resnet50 --convention fvcore

      archcalc table resnet50 --columns layer,params,connections,MACs --no-bars
    """
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets
    from archcalc.render.tabular import layer_grid, select_columns

    if plot is not None:
        from archcalc.render.plot import check_path

        check_path(plot)
    report = analyze(spec, input, parse_sets(set or []))
    data = report.to_dict()
    extra: tuple[Column, ...] = ()
    if convention is not None:
        from archcalc.analysis.conventions.column import convention_column

        extra = convention_column(report, convention, data)
    if rf:
        from archcalc.cli.commands.rf import rf_columns

        extra += rf_columns(report, data)
    grid = layer_grid(report, depth, extra)
    if columns is not None:
        grid = select_columns(grid, columns.split(","))
    grid.bar_columns = not no_bars
    if fmt is Fmt.html:  # the page with the drawing and every layer's derivation, linked
        from archcalc.render.report_html import report_page

        sys.stdout.write(report_page(report, grid, spec, depth))
    else:
        emit(grid, fmt, data)
    if plot is not None:  # after the table: a plot that cannot be written leaves the numbers printed
        from archcalc.render.plot import layer_plot

        layer_plot(report, plot)


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
    grid.flex, grid.optional, grid.hint = "title", ("source",), "(--format markdown shows it)"
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
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback.

    Every message is passed through printable(): click echoes the user's arguments, which may hold
    ESC or NUL bytes that would drive the terminal.
    """
    try:
        code = app.main(args=argv, standalone_mode=False)  # returns ctx.exit()'s code, e.g. 1 from check
        sys.stdout.flush()  # a full disk shows here, not as 'Exception ignored' at exit
    except ArchcalcError as err:
        return _fail(str(err))
    except click.ClickException as err:  # UsageError and its kin: a bad option or argument
        return _fail(err.format_message())
    except MemoryError:  # a bound was not tight enough for this machine: still one line
        return _fail("out of memory")
    except (click.Abort, KeyboardInterrupt):
        return 1
    except OSError as err:
        if err.filename is not None:  # file errors are ArchcalcErrors by now; this one is a bug
            raise
        return _output_failed(err)
    return code if isinstance(code, int) else 0


def _fail(message: str) -> int:
    sys.stderr.write(f"archcalc: error: {printable(message)}\n")
    return 2


def _output_failed(err: OSError) -> int:
    """Standard output refused a write (a full disk, a closed pipe): one line at most, and the rest of the
    output goes to the null device, so that Python's flush at exit cannot print a second message."""
    with contextlib.suppress(OSError, ValueError):  # no real file descriptor (captured output)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if isinstance(err, BrokenPipeError):  # the reader stopped early ('| head'): not an error of the input
        return 1
    return _fail(f"cannot write the output: {err.strerror or err}")


def run() -> None:
    sys.exit(main())
