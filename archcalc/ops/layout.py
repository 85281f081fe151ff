"""Layout ops of issue 10 (permute, channel_shuffle, chunk) and stochastic_depth, with torch's semantics.

Dims in ``dims``/``dim`` count the batch as dim 0, as in torch code; the batch stays where it is (archcalc's
shapes are per sample). None of them has parameters, buffers, MACs or connections.
"""

from __future__ import annotations

from typing import Any

from archcalc.errors import ShapeError, describe
from archcalc.frontend.argtypes import INT, NONNEG_INT, POS_INT, PROB, Arg, ArgError, ArgType, any_int, enum
from archcalc.ops.registry import Args, Out, Shape, declare, fmt_shape
from archcalc.ops.symbolic import Num


def _dims(v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise ArgError(f"expected a list of dims such as [0, 2, 3, 1], got {describe(v)}")
    return tuple(any_int(d) for d in v)


DIMS = ArgType(
    "list of dims, the batch (0) first", _dims, {"type": "array", "items": {"type": "integer"}, "minItems": 1}
)


def _always(a: Args) -> bool:
    return True


def norm_dims(dims: tuple[int, ...], rank: int) -> tuple[int, ...] | None:
    """Dims of a rank-``rank`` tensor (the batch included) with negatives resolved; None if one is out of range."""
    if any(not -rank <= d < rank for d in dims):
        return None
    return tuple(d + rank if d < 0 else d for d in dims)


@declare(
    "permute",
    {"dims": Arg(DIMS, doc="the new order of the dims, the batch (0) first, e.g. [0, 2, 3, 1] for channels-last")},
    summary=lambda a: "(" + ", ".join(str(d) for d in a["dims"]) + ")",
    alias=_always,
    build=lambda k, a, rec: k.M10.Permute(a["dims"]),
)
def permute(a: Args, x: Shape, m: Any) -> Out:
    """torch.permute(x, dims): a view with the dims reordered (dim 0, the batch, stays first); no counts."""
    n = len(x) + 1
    dims = norm_dims(a["dims"], n)
    shown = list(a["dims"])
    if len(a["dims"]) != n or dims is None:
        raise ShapeError(
            f"permute dims {shown} do not fit input {fmt_shape(x)}: expected {n} dims (the batch included), "
            f"each from {-n} to {n - 1}"
        )
    if sorted(dims) != list(range(n)):
        raise ShapeError(f"permute dims {shown} are not a permutation of 0..{n - 1} (a dim is repeated)")
    if dims[0] != 0:
        raise ShapeError(f"permute dims {shown} move the batch (dim 0): it must stay first")
    if m.symbolic:
        m.note(f"output dim i is input dim dims[i]: {fmt_shape(x)} -> dims {shown}; a view, nothing is copied")
    return Out(shape=tuple(x[d - 1] for d in dims[1:]))


@declare(
    "channel_shuffle",
    {"groups": Arg(POS_INT, doc="channel groups to interleave")},
    summary=lambda a: f"g{a['groups']}",
    build=lambda k, a, rec: k.nn.ChannelShuffle(a["groups"]),
)
def channel_shuffle(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.ChannelShuffle(groups) (ShuffleNet; torchvision's channel_shuffle): the C channels, read as
    groups x C/groups, are transposed to C/groups x groups. groups must divide C; no counts."""
    if len(x) < 2:  # torch: 'channel_shuffle expects input with > 2 dims' (the batch included)
        raise ShapeError(f"channel_shuffle needs a C x ... input with at least 2 dims, got {fmt_shape(x)}")
    c, g = int(x[0]), a["groups"]
    if c % g:
        raise ShapeError(f"channel_shuffle groups={g} must divide the input channels C = {c}")
    if m.symbolic:
        m.note(f"channel i*{c // g} + j moves to j*{g} + i (groups x C/groups transposed); shape unchanged")
    return Out(shape=x)


@declare(
    "chunk",
    {
        "chunks": Arg(POS_INT, doc="pieces asked of torch.chunk"),
        "index": Arg(NONNEG_INT, doc="which piece (from 0)"),
        "dim": Arg(INT, 1, doc="the dim to split, the batch counted as 0 (default 1: channels)"),
    },
    summary=lambda a: f"{a['index']} of {a['chunks']}" + (f" dim {a['dim']}" if a["dim"] != 1 else ""),
    alias=_always,
    build=lambda k, a, rec: k.M10.Chunk(a["chunks"], a["index"], a["dim"]),
)
def chunk(a: Args, x: Shape, m: Any) -> Out:
    """torch.chunk(x, chunks, dim)[index]: pieces of ceil(L/chunks) along dim (length L), the last one
    smaller; torch returns only ceil(L/size) pieces, which may be fewer than chunks (chunk(5, 4): 2, 2, 1),
    and an index past the last piece is refused. A view; no counts."""
    n = len(x) + 1
    got = norm_dims((a["dim"],), n)
    if got is None or got[0] == 0:
        why = "dim 0 is the batch" if got is not None else f"expected 1..{n - 1} or {1 - n}..-1"
        raise ShapeError(f"chunk dim {a['dim']} does not fit input {fmt_shape(x)}: {why}")
    d = got[0] - 1
    length, k, i = int(x[d]), a["chunks"], a["index"]
    size = -(-length // k)
    pieces = -(-length // size)
    if i >= pieces:
        few = f" (torch returns {pieces}, not {k}: pieces of {size})" if pieces < k else ""
        raise ShapeError(
            f"chunk index {i} does not exist: torch.chunk of {length} into {k} gives pieces 0..{pieces - 1}{few}"
        )
    ll = m.v("L", length)
    piece: Num = m.v("size", m.ceil_div(ll, m.v("chunks", k)))
    if i == pieces - 1 and length % size:
        piece = m.v("last", ll - m.v("index", i) * piece)
        if m.symbolic:
            m.note(f"the last piece holds what is left: {length} - {i}*{size}")
    return Out(shape=(*x[:d], piece, *x[d + 1 :]))


@declare(
    "stochastic_depth",
    {
        "p": Arg(PROB, doc="probability of dropping the input (zeroing it) in training"),
        "mode": Arg(enum("row", "batch"), "row", doc="'row': per sample; 'batch': the whole batch at once"),
    },
    summary=lambda a: f"p {a['p']:g} {a['mode']}",
    pointwise=True,
    alias=_always,
    build=lambda k, a, rec: k.M10.StochasticDepth(a["p"], a["mode"]),
)
def stochastic_depth(a: Args, x: Shape, m: Any) -> Out:
    """torchvision.ops.StochasticDepth(p, mode): the identity at inference (returns its input); in training it
    zeroes whole samples (row) or the whole batch (batch) with probability p and scales the rest by 1/(1 - p).
    No counts."""
    if m.symbolic:
        m.note("the identity at inference: returns its input")
    return Out(shape=x)
