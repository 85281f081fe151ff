"""An ONNX file -> ImportedGraph -> an ordinary spec (``archcalc table model.onnx``; needs the ``onnx`` extra).

The file is checked with ``onnx.checker`` and its shapes come from ``onnx.shape_inference`` (with the input's
dynamic dims set from ``--input``). Layer paths are the module paths torch's exporter writes into node names
(``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``), so an exported spec keeps its layer names. Constant
subgraphs (shape arithmetic, initializer aliases) are no layers. The reading is in ``onnxread.py`` (imported
once onnx is known to be installed: it needs numpy), the op mapping in ``onnxops.py``, multi-node layers in
``onnxfuse.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import Spec, parse_input

if TYPE_CHECKING:
    from archcalc.imports.ir import ImportedGraph

_CACHE: dict[tuple[str, float, tuple[int, ...] | None, bool], Spec] = {}


def load_onnx(ref: str, input: Any = None) -> Spec:
    """The spec of an ONNX file (``input``: C, H, W for a file whose input has dynamic dims); memoised."""
    from archcalc.imports import spec_writer
    from archcalc.imports.torchload import ALLOW_UNKNOWN

    path, shape = _checked(ref, input)
    from archcalc.imports.onnxread import capture

    allow = ALLOW_UNKNOWN.get()
    key = (str(path.resolve()), path.stat().st_mtime, shape, allow)
    if key not in _CACHE:
        g = capture(path, ref, shape)
        for note in g.notes:
            sys.stderr.write(f"archcalc: note: {ref}: {note}\n")
        _CACHE[key] = spec_writer.load(g, allow)
    return _CACHE[key]


def imported_graph(ref: str, input: Any = None) -> ImportedGraph:
    """The ImportedGraph of an ONNX file, for ``archcalc import model.onnx``."""
    path, shape = _checked(ref, input)
    from archcalc.imports.onnxread import capture

    return capture(path, ref, shape)


def _checked(ref: str, input: Any) -> tuple[Path, tuple[int, ...] | None]:
    from archcalc.cli.commands.common import require

    require(ref, {"onnx": "onnx"}, "onnx")
    path = Path(ref)
    if not path.is_file():
        raise ArchcalcError(f"no such ONNX file '{ref}'")
    if input is None:
        return path, None
    return path, parse_input(list(input) if isinstance(input, tuple) else input, subject="--input:")
