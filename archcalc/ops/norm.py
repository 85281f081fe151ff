"""The normalisation layers of issue 10: layernorm, layernorm2d, groupnorm, instancenorm2d.

Each follows its torch module (torchvision's LayerNorm2d for ``layernorm2d``) in shape, arguments, errors and
parameter/buffer counts. MACs are 0 under the stored convention, as for ``batchnorm2d``: the stored count is
conv + linear multiply-accumulates (torchvision's _ops, the papers); a tool that counts normalisation says so
in its convention (fvcore: 5 per input element with an affine map, 4 without; torchinfo: the weight and bias
elements once per sample). Connections are 0, as for ``batchnorm2d``.
"""

from __future__ import annotations

from typing import Any

from archcalc.errors import ShapeError
from archcalc.frontend.argtypes import BOOL, NUMBER, POS_INT, Arg
from archcalc.ops.registry import Args, Out, Shape, chw, declare, fmt_shape
from archcalc.ops.symbolic import Num

_NO_MACS = "MACs: 0 (normalisation is not counted under the conv + linear convention, as for batchnorm2d)"


def _ln_args() -> dict[str, Arg]:
    return {
        "eps": Arg(NUMBER, 1e-5),
        "elementwise_affine": Arg(BOOL, True, doc="a learnable weight (gamma) per normalised element"),
        "bias": Arg(BOOL, True, doc="with elementwise_affine: a learnable bias (beta) too"),
    }


def _ln_params(a: Args, c: Num, m: Any) -> Num:
    """nn.LayerNorm(C): weight C if elementwise_affine, bias C if elementwise_affine and bias."""
    if m.symbolic:
        m.note(_NO_MACS)
        if not a["elementwise_affine"]:
            m.note("params: none (elementwise_affine=false)")
        else:
            m.note("params: weight (gamma)" + (" and bias (beta), C each" if a["bias"] else " C, no bias (bias=false)"))
    if not a["elementwise_affine"]:
        return 0
    return 2 * c if a["bias"] else c


def _summary_ln(a: Args) -> str:
    if not a["elementwise_affine"]:
        return "no affine"
    return "" if a["bias"] else "no bias"


@declare(
    "layernorm",
    _ln_args(),
    summary=_summary_ln,
    build=lambda k, a, rec: k.nn.LayerNorm(int(rec.input_shape[-1]), a["eps"], a["elementwise_affine"], a["bias"]),
)
def layernorm(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.LayerNorm(C) over the last dimension (C = its size; channels-last after a permute).

    params = 2*C (weight and bias; C with bias: false, 0 with elementwise_affine: false); no buffers;
    MACs 0 (as batchnorm2d); shape unchanged.
    """
    if not x:
        raise ShapeError("layernorm needs an input with at least one dimension")
    c = m.v("C", x[-1])
    return Out(shape=(*x[:-1], c), params=_ln_params(a, c, m))


@declare(
    "layernorm2d",
    _ln_args(),
    summary=_summary_ln,
    build=lambda k, a, rec: k.M10.LayerNorm2d(int(rec.input_shape[0]), a["eps"], a["elementwise_affine"], a["bias"]),
)
def layernorm2d(a: Args, x: Shape, m: Any) -> Out:
    """torchvision's LayerNorm2d: layer norm over the channels of each position of a C x H x W map (permute to
    channels-last, F.layer_norm over C, permute back); keys weight and bias, as nn.LayerNorm(C).

    params = 2*C (C with bias: false, 0 with elementwise_affine: false); no buffers; MACs 0 (as batchnorm2d).
    """
    c, h, w = chw(x, "layernorm2d")
    cc = m.v("C", int(c))
    return Out(shape=(cc, h, w), params=_ln_params(a, cc, m))


@declare(
    "groupnorm",
    {
        "groups": Arg(POS_INT, doc="channel groups, each normalised on its own"),
        "eps": Arg(NUMBER, 1e-5),
        "affine": Arg(BOOL, True),
    },
    summary=lambda a: f"{a['groups']} groups",
    build=lambda k, a, rec: k.nn.GroupNorm(a["groups"], int(rec.input_shape[0]), a["eps"], a["affine"]),
)
def groupnorm(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.GroupNorm(groups, C): statistics over each group of C/groups channels and every position.

    groups must divide C. params = 2*C (weight and bias, per channel) if affine; no buffers; MACs 0 (as
    batchnorm2d). (torch refuses a batch of one sample whose groups hold one element each, (C/groups)*H*W = 1:
    a matter of the batch, which archcalc does not model, as for batchnorm2d without running stats.)
    """
    if not x:
        raise ShapeError("groupnorm needs a C x ... input (channels first), got a scalar")
    c, g = int(x[0]), a["groups"]
    if c % g:
        raise ShapeError(f"groupnorm groups={g} must divide the input channels C = {c} (input {fmt_shape(x)})")
    cc = m.v("C", c)
    if m.symbolic:
        m.note(_NO_MACS)
        m.note("params: weight (gamma) and bias (beta), C each" if a["affine"] else "params: none (affine=false)")
    return Out(shape=(cc, *x[1:]), params=2 * cc if a["affine"] else 0)


@declare(
    "instancenorm2d",
    {
        "eps": Arg(NUMBER, 1e-5),
        "momentum": Arg(NUMBER, 0.1),
        "affine": Arg(BOOL, False),
        "track_running_stats": Arg(BOOL, False),
    },
    summary=lambda a: " ".join(
        s for s, on in (("affine", a["affine"]), ("running stats", a["track_running_stats"])) if on
    ),
    build=lambda k, a, rec: k.nn.InstanceNorm2d(
        int(rec.input_shape[0]), a["eps"], a["momentum"], a["affine"], a["track_running_stats"]
    ),
)
def instancenorm2d(a: Args, x: Shape, m: Any) -> Out:
    """torch.nn.InstanceNorm2d: each channel of each sample normalised over its H x W positions.

    params = 2*C (weight and bias) if affine; buffers running_mean, running_var (C each) and
    num_batches_tracked (1) if track_running_stats; MACs 0 (as batchnorm2d). Without running stats torch
    normalises with the map's own statistics even at inference and refuses a 1 x 1 map.
    """
    c, h, w = chw(x, "instancenorm2d")
    if not a["track_running_stats"] and int(h) * int(w) == 1:
        raise ShapeError(
            f"instancenorm2d needs more than 1 spatial element (torch), got {fmt_shape(x)}; "
            "only track_running_stats: true normalises a 1 x 1 map"
        )
    cc = m.v("C", int(c))
    if m.symbolic:
        m.note(_NO_MACS)
        m.note("params: weight (gamma) and bias (beta), C each" if a["affine"] else "params: none (affine=false)")
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
