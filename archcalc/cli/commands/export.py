"""``archcalc export SPEC --onnx FILE [--dynamic] [--torchscript FILE]``: the spec's model as files, each verified."""

from __future__ import annotations

from pathlib import Path

import click

from archcalc.cli.commands.common import PATH, command, input_opt, require, set_opt, spec_arg
from archcalc.errors import ArchcalcError

# import name -> pip package; the ONNX file is written by torch, checked by onnx and run by onnxruntime
ONNX_PACKAGES = {"onnx": "onnx", "onnxruntime": "onnxruntime"}


def register(app: click.Group) -> None:
    app.add_command(export_cmd)


@command("export")
@spec_arg
@click.option("--onnx", "onnx_path", type=PATH, metavar="<path>", help="write the model as ONNX to this file")
@click.option("--torchscript", "ts_path", type=PATH, metavar="<path>", help="write a TorchScript trace to this file")
@click.option("--dynamic", is_flag=True, help="ONNX with dynamic batch, height and width")
@click.option("--keep-bn", is_flag=True, help="keep BatchNormalization nodes (default: folded into the convs)")
@input_opt
@set_opt
def export_cmd(
    spec: str,
    onnx_path: Path | None,
    ts_path: Path | None,
    dynamic: bool,
    keep_bn: bool,
    input: str | None,
    set: list[str] | None,
) -> None:
    """Export the spec's model (eval mode, random init with seed 0) to ONNX and/or TorchScript, then verify
    each file: ONNX passes onnx.checker and onnxruntime's output equals torch's (with --dynamic also at batch 3
    and a larger size, when the network takes one); the TorchScript file loads and gives the same output.

    ONNX uses torch's TorchScript-based exporter (opset 20), which folds each BatchNorm into the conv before it,
    as torch does by default: the file then has fewer params than the spec (a note says how many).

    Examples:

      archcalc export squeezenet1-1 --onnx squeezenet.onnx --dynamic

      archcalc export lenet5 --onnx lenet5.onnx --torchscript lenet5.pt
    """
    from archcalc.frontend.spec import parse_sets

    if onnx_path is None and ts_path is None:
        raise click.UsageError("give --onnx FILE, --torchscript FILE or both")
    if (dynamic or keep_bn) and onnx_path is None:
        raise click.UsageError("--dynamic and --keep-bn apply to --onnx")
    for path in (onnx_path, ts_path):
        if path is not None:  # missing folders are created, as draw, import and --plot do
            if path.parent.exists() and not path.parent.is_dir():
                raise ArchcalcError(f"{path.parent} is not a folder", file=str(path))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ArchcalcError(f"cannot create its folder: {err.strerror or err}", file=str(path)) from None
    sets = parse_sets(set or [])
    require("export", {"torch": "torch"}, "torch")
    if onnx_path is not None:
        require("export --onnx", ONNX_PACKAGES, "onnx")
    from archcalc.torch.export import export

    export(spec, onnx_path, ts_path, dynamic=dynamic, keep_bn=keep_bn, input=input, sets=sets, say=click.echo)
