"""``opaque``: a layer archcalc does not know, kept by ``--allow-unknown`` imports with its captured shape.

Its params, buffers, MACs and connections are unknown: they are stored as 0 but every record of it (and every
block and total above it) is marked ``unknown``, renderers show "?", and the passes that would need a number
(receptive field, deconv, the counting conventions, the torch builder) refuse it with one line.
"""

from __future__ import annotations

from typing import Any

from archcalc.errors import ArchcalcError, ShapeError, describe
from archcalc.frontend.argtypes import Arg, ArgError, ArgType, text
from archcalc.ops.registry import Args, Out, Shape, declare, fmt_shape
from archcalc.ops.symbolic import FastMath

OPAQUE = "opaque"


def _shape(v: Any) -> tuple[int, ...]:
    ok = isinstance(v, list) and v and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in v)
    if not ok:
        raise ArgError(f"expected the per-sample output shape as a list of whole numbers >= 1, got {describe(v)}")
    return tuple(v)


SHAPE = ArgType(
    "list of ints >= 1", _shape, {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}
)


def refusal(task: str, what: str, quantity: str) -> str:
    """The one line a pass gives for an opaque layer it cannot handle (the error adds "layer 'x': ")."""
    return f"{task}: an op archcalc does not know ({what}); its {quantity} is unknown"


def _no_build(k: Any, a: Args, rec: Any) -> Any:
    msg = refusal("build", a["what"], "torch module")
    raise ArchcalcError(msg, line=rec.line or None, layer=rec.path)


@declare(
    OPAQUE,
    {
        "shape": Arg(SHAPE, doc="the output shape the import captured, batch excluded"),
        "what": Arg(ArgType("text", text, {"type": "string"}), doc="what the op was in the source (nn.Upsample)"),
        "input_shape": Arg(SHAPE, None, doc="the shape of its (first) input when captured: at any other, it stops"),
    },
    summary=lambda a: a["what"],
    build=_no_build,
)
def opaque(a: Args, x: Any, m: Any) -> Out:
    """An op archcalc has no rule for (written by ``archcalc import --allow-unknown``): its output has the
    captured ``shape``; its params, buffers, MACs and connections are unknown ("?"), so every total above it
    is partial. Allowed in any spec; a hand-written one means "I do not know what this costs"."""
    if m.symbolic or not isinstance(m, FastMath):  # explain or formula: they would show 0 as if it were exact
        raise ShapeError(f"{a['what']} is an op archcalc does not know: it has no formula, its counts are unknown")
    seen = a["input_shape"]
    got = tuple(int(d) for d in (x[0] if isinstance(x, list) else x))
    if seen is not None and got != tuple(seen):  # not a ShapeError: a size search must not read it as "too small"
        raise ArchcalcError(
            f"{a['what']} is an op archcalc does not know: its output is known only at the input it was captured "
            f"at ({fmt_shape(tuple(seen))}), not at {fmt_shape(got)}"
        )
    shape: Shape = tuple(a["shape"])
    return Out(shape=shape)
