"""Dense, normalisation, activation, reshaping and merge ops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import BOOL, INT, NUMBER, POS_INT, PROB, Arg
from archcalc.ops.registry import Args, Out, Shape, chw, declare, fits, fmt_shape, prod
from archcalc.ops.symbolic import Num
from archcalc.ops.window import window_out


@declare(
    "linear",
    {"out": Arg(POS_INT, doc="output features"), "bias": Arg(BOOL, True)},
    summary=lambda a: f"{a['out']} out",
    build=lambda k, a, rec: k.nn.Linear(int(rec.input_shape[-1]), a["out"], bias=a["bias"]),
)
def linear(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.Linear on the last dimension.

    params = (F_in + 1)*F_out (the + 1 is the bias); MACs = F_in*F_out per position;
    connections = (F_in + 1)*F_out per position.
    """
    if not x:
        raise ShapeError("linear needs an input with at least one dimension")
    fin, fout = m.v("F_in", x[-1]), m.v("F_out", a["out"])
    rest = prod(x[:-1])
    positions = m.v("positions", _product(x[:-1])) if rest != 1 else 1
    weight = fin * fout
    fits("the weight", weight)
    per_unit = fin + 1 if a["bias"] else fin
    return Out(
        shape=(*x[:-1], fout),
        params=(fin + 1) * fout if a["bias"] else weight,
        macs=weight * positions if rest != 1 else weight,
        connections=per_unit * fout * positions if rest != 1 else per_unit * fout,
    )


def _product(xs: Shape) -> Num:
    """The product of dims, kept symbolic when they are (prod() gives an int)."""
    out: Num = 1
    for d in xs:
        out = out * d
    return out


@declare(
    "batchnorm2d",
    {
        "eps": Arg(NUMBER, 1e-5),
        "momentum": Arg(NUMBER, 0.1),
        "affine": Arg(BOOL, True),
        "track_running_stats": Arg(BOOL, True),
    },
    build=lambda k, a, rec: k.nn.BatchNorm2d(
        int(rec.input_shape[0]), a["eps"], a["momentum"], a["affine"], a["track_running_stats"]
    ),
)
def batchnorm2d(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.BatchNorm2d: trainable weight and bias (2*C); buffers running mean, var (2*C)
    and num_batches_tracked (1).  No MACs under the conv+linear convention."""
    c, h, w = chw(x, "batchnorm2d")
    _check_eps(a)
    cc = m.v("C", int(c))
    if m.symbolic:
        m.note(
            "params: weight (gamma) and bias (beta), C each, trainable"
            if a["affine"]
            else "params: none (affine=false)"
        )
        m.note(
            "buffers: running_mean and running_var (C each) + num_batches_tracked (1); not trainable"
            if a["track_running_stats"]
            else "buffers: none (track_running_stats=false)"
        )
    return Out(
        shape=(cc, h, w),
        params=2 * cc if a["affine"] else 0,
        buffers=2 * cc + 1 if a["track_running_stats"] else 0,
    )


def _check_eps(a: Args) -> None:
    """torch's F.batch_norm: eps >= 0; without running stats it always normalises with batch statistics,
    where eps must be > 0."""
    eps = a["eps"]
    if eps < 0:
        raise ShapeError(f"batchnorm2d eps must be >= 0 (torch), got {eps:g}")
    if eps == 0 and not a["track_running_stats"]:
        raise ShapeError("batchnorm2d eps must be > 0 with track_running_stats: false (batch statistics), got 0")


@declare(
    "lrn",
    {
        "size": Arg(POS_INT, doc="channels in the normalisation window"),
        "alpha": Arg(NUMBER, 1e-4),
        "beta": Arg(NUMBER, 0.75),
        "k": Arg(NUMBER, 1.0),
    },
    summary=lambda a: f"size {a['size']}",
    build=lambda k, a, rec: k.nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"]),
)
def lrn(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.LocalResponseNorm across channels; no params."""
    if len(x) < 2:  # torch normalises across dim 1 of a 3-d or larger tensor (the batch included)
        raise ShapeError(f"lrn needs a C x L or C x H x W input, got {fmt_shape(x)}")
    return Out(shape=x)


def _same(op: str, doc: str, args: dict[str, Arg] | None = None, **props: Any) -> None:
    def rule(a: Args, x: Shape, m: Any) -> Out:
        return Out(shape=x)

    rule.__doc__ = doc
    declare(op, args or {}, **props)(rule)


def _inplace(a: Args) -> bool:
    return bool(a.get("inplace"))


def _always(a: Args) -> bool:
    return True


_same(
    "relu",
    "torch.nn.ReLU, elementwise; no params, no MACs.",
    {"inplace": Arg(BOOL, False)},
    pointwise=True,
    alias=_inplace,
    build=lambda k, a, rec: k.nn.ReLU(a["inplace"]),
)
_same("sigmoid", "torch.nn.Sigmoid, elementwise.", pointwise=True, build=lambda k, a, rec: k.nn.Sigmoid())
_same("tanh", "torch.nn.Tanh, elementwise.", pointwise=True, build=lambda k, a, rec: k.nn.Tanh())
_same(
    "scaled_tanh",
    "LeCun's squashing function f(a) = 1.7159*tanh(2a/3), elementwise; no params.",
    pointwise=True,
    build=lambda k, a, rec: k.M.ScaledTanh(),
)


@declare("softmax", {"dim": Arg(INT, 1)}, build=lambda k, a, rec: k.nn.Softmax(a["dim"]))
def softmax(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.Softmax over dim (default 1: channels/features)."""
    r = len(x)
    if not -(r + 1) <= a["dim"] <= r:  # torch counts the batch: a rank r + 1 tensor
        raise ShapeError(
            f"softmax dim {a['dim']} does not fit input {fmt_shape(x)}: expected {-(r + 1)}..{r} (dim 0 is the batch)"
        )
    return Out(shape=x)


_same(
    "dropout",
    "torch.nn.Dropout; identity at inference.",
    {"p": Arg(PROB, 0.5), "inplace": Arg(BOOL, False)},
    pointwise=True,
    alias=_always,
    build=lambda k, a, rec: k.nn.Dropout(a["p"], a["inplace"]),
)
_same("identity", "torch.nn.Identity.", pointwise=True, alias=_always, build=lambda k, a, rec: k.nn.Identity())


@declare(
    "flatten",
    {"start_dim": Arg(INT, 1), "end_dim": Arg(INT, -1)},
    alias=_always,
    build=lambda k, a, rec: k.nn.Flatten(a["start_dim"], a["end_dim"]),
)
def flatten(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.Flatten; dims count the batch as dim 0, so the default flattens C*H*W."""
    n = len(x) + 1
    lo, hi = (d + n if d < 0 else d for d in (a["start_dim"], a["end_dim"]))
    if not 1 <= lo <= hi < n:
        raise ShapeError(
            f"flatten dims {a['start_dim']}..{a['end_dim']} do not fit input {fmt_shape(x)}: start_dim and end_dim "
            f"must be 1..{n - 1} or {1 - n}..-1 (dim 0, the batch, stays), start_dim not after end_dim"
        )
    inner = x[lo - 1 : hi]
    names = ("C", "H", "W") if len(inner) == 3 else tuple(f"d_{i}" for i in range(lo, hi + 1))
    size: Num = m.v(names[0], inner[0])
    for name, d in zip(names[1:], inner[1:], strict=True):
        size = size * m.v(name, d)
    return Out(shape=(*x[: lo - 1], size, *x[hi:]))


def merge_concat(xs: Sequence[Shape], m: Any, dim: int = 1) -> Out:
    """Concatenate along channels: C = sum of the inputs' C, other dims must match."""
    first = xs[0]
    if not 1 <= dim <= len(first):
        raise ShapeError(f"concat dim {dim} does not fit input {fmt_shape(first)}")
    for x in xs[1:]:
        if len(x) != len(first) or any(
            int(p) != int(q) for i, (p, q) in enumerate(zip(x, first, strict=True)) if i != dim - 1
        ):
            shapes = ", ".join(fmt_shape(s) for s in xs)
            raise ShapeError(f"concat needs equal sizes outside dim {dim}, got {shapes}")
    size = m.total("inputs i of C_i", [x[dim - 1] for x in xs])
    return Out(shape=(*first[: dim - 1], size, *first[dim:]))


def broadcast(xs: Sequence[Shape], what: str) -> Shape:
    """torch's broadcasting, per sample: inputs of one rank, each dim equal or 1 (stretched). Different
    ranks are refused: per sample they would align differently from the batched tensors torch sees."""
    rank = max(len(x) for x in xs)
    if any(len(x) != rank for x in xs):  # per sample: torch would align the batch dim of the shorter one
        shapes = ", ".join(fmt_shape(s) for s in xs)
        raise ShapeError(f"{what} needs inputs of one rank (a batch of them broadcasts otherwise), got {shapes}")
    out = []
    for i in range(rank):
        # int -> the dim itself, so a symbolic dim (archcalc formula) keeps its formula
        dims = {int(x[len(x) - rank + i]): x[len(x) - rank + i] for x in xs if len(x) - rank + i >= 0}
        big = set(dims) - {1}
        if len(big) > 1:
            shapes = ", ".join(fmt_shape(s) for s in xs)
            raise ShapeError(f"{what} needs shapes that broadcast (equal, or 1 in a dim), got {shapes}")
        out.append(dims[big.pop()] if big else 1)
    return tuple(out)


def merge_add(xs: Sequence[Shape], m: Any, what: str = "add") -> Out:
    """Elementwise sum (or product), with torch's broadcasting: [C,1,1] with [C,H,W] gives [C,H,W]."""
    shape = broadcast(xs, what)
    if m.symbolic:
        kind = "sum" if what == "add" else "product"
        same = all(tuple(x) == shape for x in xs)
        how = (
            f"of equal shape {fmt_shape(shape)}: the shape is unchanged"
            if same
            else (f"{', '.join(fmt_shape(x) for x in xs)}: broadcast (dims of 1 stretch) to {fmt_shape(shape)}")
        )
        m.note(f"elementwise {kind} of {len(xs)} inputs {how}")
    return Out(shape=shape)


def merge_mul(xs: Sequence[Shape], m: Any) -> Out:
    return merge_add(xs, m, "mul")


@declare("concat", {"dim": Arg(POS_INT, 1)}, many_inputs=True, build=lambda k, a, rec: k.M.Concat(a["dim"]))
def concat(a: Args, xs: list[Shape], m: Any) -> Out:
    """torch.cat along dim (default 1, channels) of the listed inputs; no params."""
    return merge_concat(xs, m, a["dim"])


@declare("add", {}, many_inputs=True, build=lambda k, a, rec: k.M.Add())
def add(a: Args, xs: list[Shape], m: Any) -> Out:
    """Elementwise sum of the listed inputs (torch's broadcasting); no params, no MACs."""
    return merge_add(xs, m)


@declare("mul", {}, many_inputs=True, build=lambda k, a, rec: k.M.Mul())
def mul(a: Args, xs: list[Shape], m: Any) -> Out:
    """Elementwise product of the listed inputs (torch's broadcasting, e.g. a squeeze-excitation scale
    [C,1,1] times [C,H,W]); no params; no MACs (a product with nothing accumulated)."""
    return merge_mul(xs, m)


MERGES: dict[str, Callable[[Sequence[Shape], Any], Out]] = {"concat": merge_concat, "add": merge_add, "mul": merge_mul}


@declare(
    "layer_scale",
    {"init": Arg(NUMBER, 1e-6, doc="initial value of every scale")},
    summary=lambda a: f"init {a['init']:g}",
    pointwise=True,
    build=lambda k, a, rec: k.M.layer_scale(rec.input_shape, a["init"]),
)
def layer_scale(a: Args, x: Shape, m: Any) -> Out:
    """A learnable scale per channel (dim 0 of the sample), as ConvNeXt's CNBlock.layer_scale: its
    parameter, of shape [C,1,1] for a CxHxW input, is registered on the enclosing module under the
    layer's own name (torchvision's key ``features.1.0.layer_scale``), not on a module of its own.

    params = C; no buffers; no MACs (a product with nothing accumulated).
    """
    if not x:
        raise ShapeError("layer_scale needs an input with at least one dimension")
    c = x[0]
    if m.symbolic:
        m.note(f"one learnable scale per channel, broadcast over the other dims: params = C = {c}")
    return Out(shape=x, params=c)


@declare(
    "subsample",
    {"kernel": Arg(POS_INT, 2), "bias": Arg(BOOL, True)},
    summary=lambda a: f"k{a['kernel']} s{a['kernel']}",
    build=lambda k, a, rec: k.M.Subsample(int(rec.input_shape[0]), a["kernel"], a["bias"]),
)
def subsample(a: Args, x: Shape, m: Any) -> Out:
    """LeNet-5 subsampling: each unit = coefficient * (sum of a k x k block) + bias, per map.

    params = 2*C; connections = (k*k + 1)*C*H_out*W_out; MACs = C*H_out*W_out (one multiply per unit).
    """
    c, h, w = chw(x, "subsample")
    k = a["kernel"]
    ho = window_out(m, "H", h, k, k, (0, 0), pool=True)
    wo = window_out(m, "W", w, k, k, (0, 0), pool=True)
    cc = m.v("C", int(c))
    units = cc * ho * wo
    per_unit = m.v("k_h", k) * m.v("k_w", k)
    b = 1 if a["bias"] else 0
    return Out(
        shape=(cc, ho, wo),
        params=(1 + b) * cc,
        macs=units,
        connections=(per_unit + b) * units,
    )


@declare(
    "rbf",
    {"out": Arg(POS_INT, doc="number of classes (prototypes)")},
    summary=lambda a: f"{a['out']} out",
    build=lambda k, a, rec: k.M.RBF(int(rec.input_shape[0]), a["out"]),
)
def rbf(a: Args, x: Shape, m: Any) -> Out:
    """LeNet-5 Euclidean RBF output: y_i = sum_j (x_j - w_ij)^2 with fixed prototypes w.

    The prototypes are a buffer (0 trainable params); connections = F_in*out; MACs = F_in*out.
    """
    if len(x) != 1:
        raise ShapeError(f"rbf needs a flat input, got {fmt_shape(x)}; add flatten first")
    fin, out = m.v("F_in", x[0]), m.v("F_out", a["out"])
    fits("the prototypes", fin * out)
    if m.symbolic:
        m.note("the F_in x F_out prototypes are fixed (a buffer): 0 params; each output reads every input")
    return Out(shape=(out,), buffers=fin * out, connections=fin * out, macs=fin * out)
