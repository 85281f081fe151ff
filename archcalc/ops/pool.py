"""Pooling: max/avg (with ceil_mode), adaptive, and max-unpooling."""

from __future__ import annotations

import math
from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import BOOL, NAME, NONNEG_PAIR, OPT_POS_PAIR, POS_PAIR, Arg
from archcalc.ops.layout import DIMS, norm_dims
from archcalc.ops.registry import Args, Out, Shape, chw, declare, fits, fmt_shape, pair_text, prod
from archcalc.ops.symbolic import Num
from archcalc.ops.window import ksp_summary, window_out

_POOL_ARGS = {
    "kernel": Arg(POS_PAIR),
    "stride": Arg(POS_PAIR, None, doc="defaults to kernel"),
    "padding": Arg(NONNEG_PAIR, 0),
    "ceil_mode": Arg(BOOL, False),
}


def _stride(a: Args) -> tuple[int, int]:
    s: tuple[int, int] = a["stride"] or a["kernel"]
    return s


def _pool(a: Args, x: Shape, m: Any, op: str) -> tuple[Num, Num, Num]:
    c, h, w = chw(x, op)
    k, p, d = a["kernel"], a["padding"], a.get("dilation", (1, 1))
    for axis in (0, 1):
        if p[axis] > k[axis] // 2:
            raise ShapeError(f"padding {p[axis]} must be at most half the kernel {k[axis]} (torch)")
    s = _stride(a)
    ho = window_out(m, "H", h, k[0], s[0], (p[0], p[0]), d[0], a["ceil_mode"], pool=True)
    wo = window_out(m, "W", w, k[1], s[1], (p[1], p[1]), d[1], a["ceil_mode"], pool=True)
    return m.v("C", int(c)), ho, wo


def _pool_summary(a: Args) -> str:
    return ksp_summary({**a, "stride": _stride(a)})


def _build_maxpool(k: Any, a: Args, rec: Any) -> Any:
    """A pool whose switches a later unpool (or the DeconvNet mirror) reads records them."""
    kw = dict(kernel_size=a["kernel"], stride=_stride(a), padding=a["padding"], dilation=a["dilation"])
    if rec.path in k.switch_pools:
        return k.M.SwitchPool(rec.path, k.env, ceil_mode=a["ceil_mode"], **kw)
    return k.nn.MaxPool2d(ceil_mode=a["ceil_mode"], **kw)


def _build_unpool(k: Any, a: Args, rec: Any) -> Any:
    kw = dict(kernel_size=a["kernel"], stride=_stride(a), padding=a["padding"])
    return k.M.SwitchUnpool(a["pool"], k.env, a["output_size"], **kw)


@declare(
    "maxpool2d",
    {**_POOL_ARGS, "dilation": Arg(POS_PAIR, 1)},
    summary=_pool_summary,
    build=_build_maxpool,
)
def maxpool2d(a: Args, x: Shape, m: Any) -> Out:
    """Max pooling, torch.nn.MaxPool2d. No params, no MACs; connections = k_h*k_w per output unit."""
    c, ho, wo = _pool(a, x, m, "maxpool2d")
    fits("the max pool's int64 indices (one per output)", c * ho * wo, 8)
    kk = m.v("k_h", a["kernel"][0]) * m.v("k_w", a["kernel"][1])
    return Out(shape=(c, ho, wo), connections=kk * c * ho * wo)


@declare(
    "avgpool2d",
    {**_POOL_ARGS, "count_include_pad": Arg(BOOL, True)},
    summary=_pool_summary,
    build=lambda k, a, rec: k.nn.AvgPool2d(
        a["kernel"], _stride(a), a["padding"], a["ceil_mode"], a["count_include_pad"]
    ),
)
def avgpool2d(a: Args, x: Shape, m: Any) -> Out:
    """Average pooling, torch.nn.AvgPool2d. No params, no MACs; connections = k_h*k_w per output unit."""
    c, ho, wo = _pool(a, x, m, "avgpool2d")
    kk = m.v("k_h", a["kernel"][0]) * m.v("k_w", a["kernel"][1])
    return Out(shape=(c, ho, wo), connections=kk * c * ho * wo)


def _window_sum(m: Any, axis: str, n: int, o: int) -> Num:
    """Sum of torch's adaptive window lengths: window i is [floor(i*n/o), ceil((i+1)*n/o)) for i < o.

    The sum is n + o - gcd(n, o): the o - gcd(n, o) boundaries that cut an input position read it twice.
    The windows are listed only when explaining a few of them, so a huge output size costs no time.
    """
    a = axis.lower()
    if not m.symbolic or o > 64:
        total: Num = m.v(f"sum_win_{a}", n + o - math.gcd(n, o))
        return total
    lengths = [-(-(i + 1) * n // o) - (i * n // o) for i in range(o)]
    name = f"windows i of ceil((i+1)*{axis}_in/{axis}_out) - floor(i*{axis}_in/{axis}_out)"
    total = m.v(f"sum_win_{a}", m.total(name, lengths))
    return total


def _adaptive(a: Args, x: Shape, m: Any, op: str) -> Out:
    """Adaptive output size; connections sum torch's (possibly overlapping) windows exactly."""
    c, h, w = chw(x, op)
    oh, ow = (i if o is None else o for o, i in zip(a["output"], (h, w), strict=True))
    cc = m.v("C", int(c))
    reads = cc * _window_sum(m, "H", int(h), int(oh)) * _window_sum(m, "W", int(w), int(ow))
    return Out(shape=(cc, m.v("H_out", oh), m.v("W_out", ow)), connections=reads)


_ADAPTIVE_ARGS = {"output": Arg(OPT_POS_PAIR, doc="output size; null keeps the input size")}


def _adaptive_summary(a: Args) -> str:
    return "out " + pair_text(tuple(-1 if v is None else v for v in a["output"]))


@declare(
    "adaptive_avgpool2d",
    _ADAPTIVE_ARGS,
    summary=_adaptive_summary,
    build=lambda k, a, rec: k.nn.AdaptiveAvgPool2d(a["output"]),
)
def adaptive_avgpool2d(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.AdaptiveAvgPool2d: the output size is given; any input size >= 1 works."""
    return _adaptive(a, x, m, "adaptive_avgpool2d")


@declare(
    "adaptive_maxpool2d",
    _ADAPTIVE_ARGS,
    summary=_adaptive_summary,
    build=lambda k, a, rec: k.nn.AdaptiveMaxPool2d(a["output"]),
)
def adaptive_maxpool2d(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.AdaptiveMaxPool2d: the output size is given; any input size >= 1 works."""
    out = _adaptive(a, x, m, "adaptive_maxpool2d")
    fits("the max pool's int64 indices (one per output)", prod(out.shape), 8)
    return out


@declare(
    "max_unpool2d",
    {
        "pool": Arg(NAME, doc="the maxpool2d layer whose switches (indices) are used"),
        "kernel": Arg(POS_PAIR),
        "stride": Arg(POS_PAIR, None, doc="defaults to kernel"),
        "padding": Arg(NONNEG_PAIR, 0),
        "output_size": Arg(POS_PAIR, None, doc="exact output H, W (e.g. the pool's input size)"),
    },
    summary=_pool_summary,
    refs=("pool",),
    build=_build_unpool,
)
def max_unpool2d(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.MaxUnpool2d: H_out = (H_in-1)*s - 2*p + k unless output_size is given.

    Each input value is written to one output position: no params, no MACs.
    """
    c, h, w = chw(x, "max_unpool2d")
    k, s, p = a["kernel"], _stride(a), a["padding"]
    dims: list[Num] = []
    for axis, name, n in ((0, "H", h), (1, "W", w)):
        lo = name.lower()
        default = (m.v(f"{name}_in", n) - 1) * m.v(f"s_{lo}", s[axis]) - 2 * m.v(f"p_{lo}", p[axis])
        default = default + m.v(f"k_{lo}", k[axis])
        if a["output_size"] is None:
            dims.append(m.v(f"{name}_out", default))
            continue
        want = a["output_size"][axis]
        if not int(default) - s[axis] < want < int(default) + s[axis]:
            raise ShapeError(
                f"output_size {want} along {name} must lie strictly between "
                f"{int(default) - s[axis]} and {int(default) + s[axis]}"
            )
        m.note(f"output_size fixes {name} to {want} (the default would be {int(default)})")
        dims.append(m.v(f"{name}_out", want))
    if int(dims[0]) < 1 or int(dims[1]) < 1:
        raise ShapeError(f"output size would be {int(dims[0])}x{int(dims[1])}")
    cc = m.v("C", int(c))
    return Out(shape=(cc, dims[0], dims[1]), connections=cc * m.v("H_in", h) * m.v("W_in", w))


@declare(
    "mean",
    {
        "dims": Arg(DIMS, doc="the dims to average, the batch as 0: [2, 3] is the global pool x.mean([2, 3])"),
        "keepdim": Arg(BOOL, False, doc="keep each averaged dim as size 1"),
    },
    summary=lambda a: "dims (" + ", ".join(str(d) for d in a["dims"]) + ")" + (" keepdim" if a["keepdim"] else ""),
    build=lambda k, a, rec: k.M.Mean(a["dims"], a["keepdim"]),
)
def mean(a: Args, x: Shape, m: Any) -> Out:
    """torch.mean(x, dims, keepdim): a moduleless global pool such as ShuffleNet V2's and MNASNet's
    ``x.mean([2, 3])``. No params, no MACs; connections = the input elements (each read once)."""
    rank = len(x) + 1
    dims = norm_dims(a["dims"], rank)
    if dims is None or 0 in dims or len(set(dims)) != len(dims):
        shown = list(a["dims"])
        raise ShapeError(
            f"mean dims {shown} must be distinct dims 1..{rank - 1} of the {rank}-d input (0 is the batch)"
        )
    out = tuple((1 if a["keepdim"] else None) if i + 1 in dims else d for i, d in enumerate(x))
    shape = tuple(d for d in out if d is not None)
    if m.symbolic:
        m.note(f"averages dims {sorted(dims)} (the batch is dim 0): {fmt_shape(x)} -> {fmt_shape(shape)}")
    return Out(shape=shape, connections=prod(x))
