"""Convolutions: conv2d (with LeCun's partial connection table) and conv_transpose2d."""

from __future__ import annotations

from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import (
    BOOL,
    NONNEG_PAIR,
    PADDING,
    POS_INT,
    POS_PAIR,
    TABLE,
    WEIGHTS,
    Arg,
    enum,
)
from archcalc.ops.registry import Args, Out, Shape, chw, declare, fits
from archcalc.ops.symbolic import Num
from archcalc.ops.window import ksp_summary, window_out

_CONV_ARGS = {
    "out": Arg(POS_INT, doc="output channels"),
    "kernel": Arg(POS_PAIR, doc="kernel size"),
    "stride": Arg(POS_PAIR, 1),
    "padding": Arg(PADDING, 0, doc="int, [h, w], 'same' or 'valid'"),
    "dilation": Arg(POS_PAIR, 1),
    "groups": Arg(POS_INT, 1),
    "bias": Arg(BOOL, True),
    "padding_mode": Arg(enum("zeros", "reflect", "replicate", "circular"), "zeros"),
    "table": Arg(TABLE, None, doc="partial connection table: input maps read by each output map"),
    "weights": Arg(WEIGHTS, None, doc="fixed filter values [out][in/groups][kh][kw]"),
    "trainable": Arg(BOOL, True, doc="false freezes the weights (requires_grad=False)"),
}


def pads(a: Args, axis: int) -> tuple[int, int]:
    """(low, high) padding along one axis of a conv's or a pool's validated args; 'same' splits like torch
    (the odd extra on the high side). The receptive-field and DeconvNet passes use it too."""
    p = a["padding"]
    if p == "valid":
        return 0, 0
    if p == "same":
        total = a["dilation"][axis] * (a["kernel"][axis] - 1)
        return total // 2, total - total // 2
    return p[axis], p[axis]


def _check_groups(c_in: int, a: Args) -> None:
    g = a["groups"]
    if c_in % g or a["out"] % g:
        raise ShapeError(f"groups={g} must divide both input channels {c_in} and output channels {a['out']}")
    if a["padding"] == "same" and a["stride"] != (1, 1):
        raise ShapeError("padding='same' is not supported for strided convolutions (torch)")


def _check_mode(a: Args, c: int, h: int, w: int) -> None:
    mode = a["padding_mode"]
    if mode == "zeros":
        return
    for axis, size in ((0, h), (1, w)):
        lo, hi = pads(a, axis)
        if mode == "reflect" and max(lo, hi) >= size:
            raise ShapeError(f"reflect padding {max(lo, hi)} must be smaller than the input size {size}")
        if mode == "circular" and max(lo, hi) > size:
            raise ShapeError(f"circular padding {max(lo, hi)} must not exceed the input size {size}")
    # torch pads into a new tensor before the convolution
    fits("the padded input", c * (h + sum(pads(a, 0))) * (w + sum(pads(a, 1))))


def _check_weights(a: Args, c_in: int) -> None:
    want = (a["out"], c_in // a["groups"], *a["kernel"])
    got: list[int] = []
    level: Any = a["weights"]
    while isinstance(level, tuple):
        got.append(len(level))
        level = level[0] if level else None
    if tuple(got) != want:
        raise ShapeError(f"weights must have shape {list(want)}, got {got}")
    if not _regular(a["weights"], want):  # the first rows fit, a later one does not
        raise ShapeError(f"weights must have shape {list(want)}, but some rows are shorter or longer (ragged)")


def _regular(w: Any, shape: tuple[int, ...]) -> bool:
    if not shape:
        return not isinstance(w, tuple)
    return isinstance(w, tuple) and len(w) == shape[0] and all(_regular(x, shape[1:]) for x in w)


def _build_conv2d(k: Any, a: Args, rec: Any) -> Any:
    """nn.Conv2d (or LeCun's TableConv), with the spec's fixed weights and trainable flag applied."""
    padding = a["padding"] if isinstance(a["padding"], str) else tuple(a["padding"])
    common = dict(kernel_size=a["kernel"], stride=a["stride"], padding=padding, dilation=a["dilation"])
    common.update(bias=a["bias"], padding_mode=a["padding_mode"])
    if a["table"] is not None:
        return k.M.TableConv(a["table"], **common)
    conv = k.nn.Conv2d(int(rec.input_shape[0]), a["out"], groups=a["groups"], **common)
    if a["weights"] is not None:
        with k.torch.no_grad():
            conv.weight.copy_(k.torch.tensor(a["weights"], dtype=conv.weight.dtype))
    conv.weight.requires_grad_(a["trainable"])
    if conv.bias is not None:
        conv.bias.requires_grad_(a["trainable"])
    return conv


@declare("conv2d", _CONV_ARGS, summary=ksp_summary, build=_build_conv2d)
def conv2d(a: Args, x: Shape, m: Any) -> Out:
    """2-D convolution, torch.nn.Conv2d semantics.

    params = (k_h*k_w*C_in/g + 1)*C_out (the + 1 is the bias); MACs = k_h*k_w*C_in/g*C_out*H_out*W_out;
    connections = (k_h*k_w*C_in/g + 1)*C_out*H_out*W_out.
    With a connection table, output map j reads |T_j| input maps: params = sum_j(k_h*k_w*|T_j| + 1).
    """
    c, h, w = chw(x, "conv2d")
    _check_groups(int(c), a)
    _check_mode(a, int(c), int(h), int(w))
    if a["table"] is not None:
        return _table_conv(a, (c, h, w), m)
    if a["weights"] is not None:
        _check_weights(a, int(c))
    ho = window_out(m, "H", h, a["kernel"][0], a["stride"][0], pads(a, 0), a["dilation"][0])
    wo = window_out(m, "W", w, a["kernel"][1], a["stride"][1], pads(a, 1), a["dilation"][1])
    cout, g = m.v("C_out", a["out"]), a["groups"]
    cin_g = m.v("C_in", int(c)) if g == 1 else m.exact_div(m.v("C_in", int(c)), m.v("g", g))
    # weights seen by one output unit; + 1 for its bias
    per_unit = m.v("k_h", a["kernel"][0]) * m.v("k_w", a["kernel"][1]) * cin_g
    fits("the weight", per_unit * cout)
    units = cout * ho * wo
    params = (per_unit + 1) * cout if a["bias"] else per_unit * cout
    return Out(
        shape=(cout, ho, wo),
        params=params,
        trainable=params if a["trainable"] else 0,
        macs=per_unit * units,
        connections=(per_unit + 1) * units if a["bias"] else per_unit * units,
    )


def _table_conv(a: Args, x: tuple[Num, Num, Num], m: Any) -> Out:
    c, h, w = x
    table = a["table"]
    if len(table) != a["out"]:
        raise ShapeError(f"connection table has {len(table)} rows but out={a['out']}")
    if a["groups"] != 1 or a["weights"] is not None:
        raise ShapeError("a connection table cannot be combined with groups or fixed weights")
    for j, row in enumerate(table):
        if max(row) >= int(c):
            raise ShapeError(f"connection table row {j} reads input map {max(row)}, but the input has {int(c)} maps")
    ho = window_out(m, "H", h, a["kernel"][0], a["stride"][0], pads(a, 0), a["dilation"][0])
    wo = window_out(m, "W", w, a["kernel"][1], a["stride"][1], pads(a, 1), a["dilation"][1])
    kk = m.v("k_h", a["kernel"][0]) * m.v("k_w", a["kernel"][1])
    fits("a connection-table map's weight", int(kk) * max(len(row) for row in table))
    maps = [m.v(f"|T_{j}|", len(row)) for j, row in enumerate(table)]
    if m.symbolic:
        m.note(_table_note(table))
    if a["bias"]:
        params = m.total("output maps j of (k_h*k_w*|T_j| + 1)", [kk * t + 1 for t in maps])
    else:
        params = m.total("output maps j of k_h*k_w*|T_j|", [kk * t for t in maps])
    weights = m.total("output maps j of k_h*k_w*|T_j|", [kk * t for t in maps])
    return Out(
        shape=(m.v("C_out", a["out"]), ho, wo),
        params=params,
        trainable=params if a["trainable"] else 0,
        macs=weights * ho * wo,
        connections=params * ho * wo,
    )


def _table_note(table: tuple[tuple[int, ...], ...]) -> str:
    """'maps 0-5 read 3 input maps each, 6-14 read 4, 15 reads 6' (runs of equal |T_j|)."""
    runs: list[tuple[int, int, int]] = []  # first map, last map, |T_j|
    for j, row in enumerate(table):
        if runs and runs[-1][2] == len(row) and runs[-1][1] == j - 1:
            runs[-1] = (runs[-1][0], j, len(row))
        else:
            runs.append((j, j, len(row)))
    parts = [f"{lo}-{hi} read {n}" if lo != hi else f"{lo} reads {n}" for lo, hi, n in runs]
    return "connection table: output maps " + ", ".join(parts) + " input maps"


_TCONV_ARGS = {k: v for k, v in _CONV_ARGS.items() if k not in ("table", "weights", "padding_mode")}
_TCONV_ARGS["padding"] = Arg(NONNEG_PAIR, 0)
_TCONV_ARGS["output_padding"] = Arg(NONNEG_PAIR, 0, doc="extra rows/cols on the high side")


def _build_conv_t(k: Any, a: Args, rec: Any) -> Any:
    conv = k.nn.ConvTranspose2d(
        int(rec.input_shape[0]),
        a["out"],
        a["kernel"],
        stride=a["stride"],
        padding=a["padding"],
        output_padding=a["output_padding"],
        groups=a["groups"],
        bias=a["bias"],
        dilation=a["dilation"],
    )
    conv.requires_grad_(a["trainable"])
    return conv


@declare("conv_transpose2d", _TCONV_ARGS, summary=ksp_summary, build=_build_conv_t)
def conv_transpose2d(a: Args, x: Shape, m: Any) -> Out:
    """Transposed convolution, torch.nn.ConvTranspose2d semantics.

    H_out = (H_in-1)*s - 2*p + d*(k-1) + output_padding + 1.
    MACs = C_in*(C_out/g)*k_h*k_w*H_in*W_in: every input pixel scatters one kernel (fvcore's rule).
    """
    c, h, w = chw(x, "conv_transpose2d")
    _check_groups(int(c), a)
    dims = []
    for axis, name, size in ((0, "H", h), (1, "W", w)):
        k, s, p, d = (a[key][axis] for key in ("kernel", "stride", "padding", "dilation"))
        op = a["output_padding"][axis]
        if op >= max(s, d):
            raise ShapeError(f"output_padding {op} must be smaller than stride {s} or dilation {d}")
        lo = name.lower()
        n = m.v(f"{name}_in", size)
        out = (n - 1) * m.v(f"s_{lo}", s) - 2 * m.v(f"p_{lo}", p) + m.v(f"d_{lo}", d) * (m.v(f"k_{lo}", k) - 1)
        out = out + m.v(f"op_{lo}", op) + 1
        if int(out) < 1:
            raise ShapeError(f"output size along {name} would be {int(out)}")
        dims.append(m.v(f"{name}_out", out))
    g = a["groups"]
    cout = m.v("C_out", a["out"])
    cout_g = cout if g == 1 else m.exact_div(cout, m.v("g", g))
    # every input value scatters one k_h x k_w kernel into C_out/g output maps
    per_input = m.v("k_h", a["kernel"][0]) * m.v("k_w", a["kernel"][1]) * cout_g
    cin = m.v("C_in", int(c))
    weight = per_input * cin
    fits("the weight", weight)
    bias = cout if a["bias"] else 0
    macs = weight * m.v("H_in", h) * m.v("W_in", w)
    units = cout * dims[0] * dims[1]
    return Out(
        shape=(cout, dims[0], dims[1]),
        params=weight + bias,
        trainable=(weight + bias) if a["trainable"] else 0,
        macs=macs,
        connections=macs + units if a["bias"] else macs,
    )
