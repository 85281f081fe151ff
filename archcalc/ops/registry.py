"""The op registry: one pure rule per op name, with its named arguments.

Each rule maps (validated args, input shape(s), math) to an ``Out``.  Counting
conventions, stated once for every rule:

* ``params``: elements of the module's parameters (torch ``numel``), trainable or not;
* ``trainable``: the subset with ``requires_grad`` (defaults to ``params``);
* ``buffers``: elements of registered buffers (running stats, fixed prototypes);
* ``macs``: multiply-accumulates of one forward pass for one sample, bias excluded;
* ``connections``: LeCun's count, (inputs per unit + 1 for a bias) x units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import Arg
from archcalc.ops.symbolic import Num

Shape = tuple[Num, ...]
Args = dict[str, Any]


# torch counts a tensor's bytes in an int64, so one float32 tensor holds at most this many elements
MAX_ELEMENTS = (2**63 - 1) // 4


def fits(what: str, n: Num, itemsize: int = 4) -> None:
    """Refuse a tensor torch cannot allocate ('Storage size calculation overflowed'), even for one sample;
    ``itemsize`` 8 for int64 (a max pool's indices)."""
    limit = (2**63 - 1) // itemsize
    if int(n) > limit:
        kind = "float32" if itemsize == 4 else "int64"
        raise ShapeError(
            f"{what} would hold {int(n):,} elements; torch allocates at most {limit:,} "
            f"(2^63 bytes of {kind}) even for one sample"
        )


@dataclass(slots=True)
class Out:
    """What a rule returns; numbers are ints (or ``Sym`` when explaining)."""

    shape: Shape
    params: Num = 0
    buffers: Num = 0
    connections: Num = 0
    macs: Num = 0
    trainable: Num | None = None

    def __post_init__(self) -> None:
        n = prod(self.shape)
        if n > MAX_ELEMENTS:  # the message is built only when needed: rules run per layer and per size
            fits(f"the output {fmt_shape(self.shape)}", n)


Rule = Callable[[Args, Any, Any], Out]
# (kit, validated args, the layer's record) -> nn.Module; the kit (archcalc.torch.builders.Kit) carries torch,
# torch.nn, archcalc's own modules and the build context, so no op module imports torch
Builder = Callable[[Any, Args, Any], Any]


def _never(a: Args) -> bool:
    return False


@dataclass(frozen=True)
class OpDef:
    """Everything about one op, declared once: arguments, rule, properties and torch builder.

    The passes take their defaults from the properties: a ``pointwise`` op keeps the shape and the
    receptive field and costs 0 in every convention (unless a convention has its own rule for it);
    ``alias`` ops return their input's storage (views, in-place) and allocate nothing; ``refs`` are
    arguments naming an earlier layer, which lowering turns into graph edges.
    """

    name: str
    rule: Rule
    args: dict[str, Arg]
    doc: str
    many_inputs: bool = False  # merges take a list of shapes
    summary: Callable[[Args], str] = field(default=lambda a: "")
    pointwise: bool = False
    alias: Callable[[Args], bool] = _never
    refs: tuple[str, ...] = ()
    build: Builder | None = None


OPS: dict[str, OpDef] = {}


def declare(
    name: str,
    args: dict[str, Arg],
    *,
    many_inputs: bool = False,
    summary: Callable[[Args], str] | None = None,
    pointwise: bool = False,
    alias: Callable[[Args], bool] = _never,
    refs: tuple[str, ...] = (),
    build: Builder | None = None,
) -> Callable[[Rule], Rule]:
    """Declare op ``name`` with ``rule``; the rule's docstring is the op's documentation."""

    def deco(rule: Rule) -> Rule:
        if name in OPS:
            raise RuntimeError(f"op '{name}' registered twice")
        doc = (rule.__doc__ or "").strip()
        OPS[name] = OpDef(name, rule, args, doc, many_inputs, summary or (lambda a: ""), pointwise, alias, refs, build)
        return rule

    return deco


def chw(x: Shape, op: str) -> tuple[Num, Num, Num]:
    """The (C, H, W) of a feature-map input, or a clear error."""
    if len(x) != 3:
        raise ShapeError(f"{op} needs a C x H x W input, got {fmt_shape(x)}")
    return x[0], x[1], x[2]


def fmt_shape(x: Shape) -> str:
    return "x".join(str(int(d)) for d in x)


def prod(xs: Shape) -> int:
    out = 1
    for d in xs:
        out *= int(d)
    return out


def pair_text(p: Any) -> str:
    if isinstance(p, str):
        return p
    h, w = p
    return str(h) if h == w else f"{h}x{w}"
