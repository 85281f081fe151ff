"""Options, parameter types and output shared by every command (kept free of torch and rich imports).

The CLI is written on click's public API only (ParamType, Argument, Command, option decorators), so
a click release within the pinned major range cannot break it. The help layout ('Arguments:' and
'Options:' sections, '<str>'-style metavars) and the error wording are archcalc's own, defined here
and in cli.py, rather than whatever the installed click happens to print.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Generic, TypeVar

import click

from archcalc.errors import ArchcalcError, show
from archcalc.frontend.argtypes import MAX_SIZE

E = TypeVar("E", bound=Enum)
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class DType(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int8 = "int8"


class Fmt(str, Enum):
    rich = "rich"
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


class TextFmt(str, Enum):
    """The formats of a command whose text is not a table (formula, minsize)."""

    text = "text"
    json = "json"
    html = "html"


# click >= 8.4 types ParamType by its value (ParamType[int]); older releases cannot be subscripted at run time.
class EnumType(click.ParamType, Generic[E]):  # type: ignore[type-arg]
    """An Enum member by its value (case-sensitive); a wrong value lists the allowed ones."""

    name = "choice"

    def __init__(self, enum: type[E]) -> None:
        self.enum = enum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> E:
        if isinstance(value, self.enum):
            return value
        for member in self.enum:
            if value == member.value:
                return member
        choices = ", ".join(show(m.value) for m in self.enum)
        self.fail(f"{show(value)} is not one of {choices}", param, ctx)


class WholeNumber(click.ParamType):  # type: ignore[type-arg]
    """ASCII digits with an optional '-' (int() would also take '+3', ' 3', '3_0' and '٣'), within ``bounds``."""

    name = "integer"

    def __init__(self, bounds: tuple[int, int] | None = None) -> None:
        self.bounds = bounds

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _WHOLE.fullmatch(value):
            number = int(value)
        else:
            self.fail(f"{show(value)} is not a whole number", param, ctx)
        if self.bounds is not None and not self.bounds[0] <= number <= self.bounds[1]:
            lo, hi = self.bounds
            self.fail(f"{number:,} is not a whole number from {lo:,} to {hi:,}", param, ctx)
        return number


_WHOLE = re.compile(r"-?[0-9]{1,30}")  # 30 digits: refused before int() works on thousands of them


class Text(click.ParamType):  # type: ignore[type-arg]
    """Text that must not be empty: an empty --plot or --convention would otherwise be silently ignored."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not str(value).strip():
            self.fail(f"{show(value)} is empty", param, ctx)
        return str(value)


class PathType(click.ParamType):  # type: ignore[type-arg]
    """A pathlib.Path, not empty ('' would mean the current folder); else unchecked (the command reports a
    missing file in its own words)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        return Path(TEXT.convert(value, param, ctx))


TEXT, INT, PATH = Text(), WholeNumber(), PathType()
# --batch of memory and sweep: one validator; the largest size torch or archcalc takes anywhere
BATCH = WholeNumber((1, MAX_SIZE))


class Arg(click.Argument):
    """A positional argument with help: 'spec <str>' in the Arguments section, {spec} or [layer] in usage."""

    def __init__(self, param_decls: Sequence[str], *, doc: str, label: str = "<str>", **attrs: Any) -> None:
        super().__init__(param_decls, **attrs)
        self.doc, self.label = doc, label
        shown = f"{{{self.name}}}" if self.required else f"[{self.name}]"
        self.metavar = shown + ("..." if self.nargs != 1 else "")

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return f"'{self.name}'"  # "Missing argument 'spec'.", not the usage metavar

    def row(self) -> tuple[str, str]:
        name = f"{self.name}{'...' if self.nargs != 1 else ''} {self.label}"
        return name, self.doc + ("  [required]" if self.required else "")


def usage_message(err: click.UsageError) -> str:
    """A usage error in archcalc's words, whatever click release raised it (from the exception's attributes)."""
    param = getattr(err, "param", None)
    if isinstance(err, click.MissingParameter) and param is not None:
        return f"Missing {param.param_type_name} {param.get_error_hint(err.ctx)}."
    if isinstance(err, click.BadParameter) and param is not None:
        return f"Invalid value for {param.get_error_hint(err.ctx)}: {err.message}"
    if isinstance(err, click.NoSuchOption):
        options = ", ".join(sorted(err.possibilities or []))
        return f"No such option: {err.option_name}" + (f" (Possible options: {options})" if options else "")
    return err.format_message()


def parse_reworded(
    parse: Callable[[click.Context, list[str]], list[str]], ctx: click.Context, args: list[str]
) -> list[str]:
    """Run click's parse_args; a usage error is raised again in archcalc's words (the same in main and CliRunner)."""
    try:
        return parse(ctx, args)
    except click.UsageError as err:
        raise click.UsageError(usage_message(err), err.ctx) from None


_EXAMPLE = re.compile(r"^([ \t]+)(archcalc .*)$", re.M)


class Command(click.Command):
    """A command whose --help has an Arguments section, and whose usage errors use archcalc's wording."""

    allow_extra_args = True  # refused in parse_args below, so that the message is ours

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:  # an example is one line to copy: click's '\b' paragraph marker keeps it from wrapping
            self.help = _EXAMPLE.sub(lambda m: f"\b\n{m[0]}", inspect.cleandoc(self.help))

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        params = self.get_params(ctx)
        args = [p.row() for p in params if isinstance(p, Arg)]
        opts = [r for p in params if isinstance(p, click.Option) and (r := p.get_help_record(ctx))]
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        self.format_epilog(ctx, formatter)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = parse_reworded(super().parse_args, ctx, args)
        if rest and not ctx.resilient_parsing:
            raise click.UsageError(f"Got unexpected extra argument(s) ({' '.join(rest)})", ctx)
        return rest


def command(name: str) -> Callable[[Callable[..., Any]], Command]:
    """``@command("table")``: the function's docstring is its --help text. Commands that read a model also
    take ``--allow-unknown``."""
    make = click.command(name, cls=Command)
    if name in ("list", "schema"):
        return make
    return lambda f: make(_allow_unknown_opt(f))


def _set_allow_unknown(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    from archcalc.imports.torchload import ALLOW_UNKNOWN  # no torch: the flag is read where a module is loaded

    ALLOW_UNKNOWN.set(bool(value))  # set either way, so one process running two commands does not keep it


_allow_unknown_opt = click.option(
    "--allow-unknown",
    is_flag=True,
    expose_value=False,
    callback=_set_allow_unknown,
    help="import ops archcalc does not know as opaque layers: their counts show '?', totals are partial",
)


def argument(name: str, doc: str, *, label: str = "<str>", **attrs: Any) -> Decorator:
    return click.argument(name, cls=Arg, doc=doc, label=label, **attrs)


def _listed(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str] | None:
    return list(value) or None  # a repeated option arrives as a tuple; commands take list | None


def repeated(*decls: str, help: str) -> Decorator:
    """An option that may be given several times: a list of strings, or None when absent."""
    return click.option(*decls, multiple=True, callback=_listed, metavar="<list[str]>", help=help)


def choice(*decls: str, enum: type[Enum], default: str, help: str) -> Decorator:
    metavar = "<" + "|".join(str(m.value) for m in enum) + ">"
    return click.option(*decls, type=EnumType(enum), default=default, show_default=True, metavar=metavar, help=help)


spec_arg = argument("spec", "bundled spec name (see 'archcalc list') or path to a .yaml spec", required=True)
_input_option = click.option(
    "--input", "-i", "input", type=TEXT, metavar="<str>", help="input size CxHxW, e.g. 3x227x227"
)


def input_opt(f: Callable[..., Any]) -> Callable[..., Any]:
    """The --input option; the command runs under blame_input, so a bad value is blamed on the option."""

    @functools.wraps(f)  # keeps the click parameters declared below this decorator, and the help text
    def run(*args: Any, **kwargs: Any) -> Any:
        specs = kwargs.get("specs") or [kwargs.get("spec")]
        with blame_input(kwargs.get("input"), [s for s in specs if s], kwargs.get("set")):
            return f(*args, **kwargs)

    return _input_option(run)


@contextmanager
def blame_input(text: str | None, specs: Sequence[str], sets: list[str] | None) -> Iterator[None]:
    """--input is checked first ('--input: ...'), and a shape error it causes names it, not only the spec's line:
    '--input: 1x8x8 does not fit the network: specs/lenet5.yaml:18: layer 'C3': kernel 5 ...'.

    The error is the option's when every spec works at its own input (else the spec is at fault, as reported)."""
    from archcalc.errors import ShapeError
    from archcalc.frontend.spec import parse_input

    if text is None:
        yield
        return
    shape = parse_input(text, subject="--input:")
    try:
        yield
    except ShapeError as err:
        if not _fit_own_inputs(specs, sets):
            raise
        size = "x".join(map(str, shape))
        raise ArchcalcError(f"--input: {size} does not fit the network: {err}") from None


def _fit_own_inputs(specs: Sequence[str], sets: list[str] | None) -> bool:
    from archcalc.analysis.records import analyze
    from archcalc.frontend.spec import parse_sets

    try:
        for spec in specs:
            analyze(spec, None, parse_sets(sets or []))
    except ArchcalcError:
        return False
    return True


set_opt = repeated("--set", "-s", "set", help="override a spec parameter: key=value")
fmt_opt = choice("--format", "-f", "fmt", enum=Fmt, default="rich", help="output format")
dtype_opt = choice("--dtype", enum=DType, default="float32", help="element type of params and activations")


def batch_opt(help: str) -> Decorator:
    return click.option("--batch", type=BATCH, default=1, show_default=True, metavar="<int>", help=help)


# import name -> pip package of the commands that draw pictures with torch; all three come with archcalc[maps]
PICTURE_PACKAGES = {"torch": "torch", "numpy": "numpy", "PIL": "pillow"}


def require(what: str, packages: dict[str, str], extra: str) -> None:
    """One line naming what is missing and the extra that installs it, found without importing:
    'maps needs torch: pip install "archcalc[maps]"'."""
    from importlib.util import find_spec

    missing = []
    for module, package in packages.items():
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a broken install, or a module set to None in sys.modules
            found = False
        if not found:
            missing.append(package)
    if missing:
        raise ArchcalcError(f'{what} needs {", ".join(missing)}: pip install "archcalc[{extra}]"')


def echo_wrote(path: Path) -> None:
    click.echo(f"wrote {path}")


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
