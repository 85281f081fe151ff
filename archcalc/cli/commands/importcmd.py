"""``archcalc import``: capture an nn.Module (or an ONNX file) and write it as a spec."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from archcalc.cli.commands.common import PATH, argument, command, echo_wrote, input_opt
from archcalc.errors import ArchcalcError

if TYPE_CHECKING:
    from archcalc.imports.ir import ImportedGraph


@command("import")
@argument("target", "pkg.module:attr, path/to/net.py:Name (an nn.Module, its class or a factory) or model.onnx")
@input_opt
@click.option("--out", "-o", type=PATH, metavar="<path>", help="write the spec here (default: standard output)")
def import_cmd(target: str, input: str | None, out: Path | None) -> None:
    """Write a module's layers as a spec: nested layers per module, named as named_modules() names them.

    The written spec re-analyses to the same records, and archcalc.torch.build(spec) loads the
    module's state_dict. Every captured shape is checked against archcalc's rules first.

    Examples:

      archcalc import ./examples/usernet.py:Net --input 3x64x64 -o usernet.yaml

      archcalc import ./examples/usernet.py:Net@3x32x32
    """
    from archcalc.imports import spec_writer
    from archcalc.imports.torchload import ALLOW_UNKNOWN

    text = spec_writer.to_yaml(_graph(target, input), ALLOW_UNKNOWN.get(), fold=True)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ArchcalcError(f"cannot write the spec: {err.strerror or err}", file=str(out)) from None
    echo_wrote(out)


def _graph(target: str, input: str | None) -> ImportedGraph:
    """The ImportedGraph of a target, checked: its spec is analysed once and compared shape by shape."""
    from archcalc.imports import spec_writer
    from archcalc.imports.torchload import ALLOW_UNKNOWN, TARGET_RE, capture_target

    if target.endswith(".onnx"):
        from archcalc.imports import onnxin

        graph_of = getattr(onnxin, "imported_graph", None)
        if graph_of is None:
            raise ArchcalcError("importing an ONNX file into a spec file is not available yet", file=target)
        g: ImportedGraph = graph_of(target, input)
    elif TARGET_RE.match(target):
        g = capture_target(target, input)
    else:
        raise ArchcalcError("expected pkg.module:attr, path/to/net.py:Name or model.onnx", file=target)
    spec_writer.load(g, ALLOW_UNKNOWN.get())  # the shape check
    return g


def register(app: click.Group) -> None:
    app.add_command(import_cmd)
