"""The five conventions, one small pure rule per op each, the convention in every docstring.

Counts are per sample (batch 1); fvcore, torchinfo and FlopCounterMode are all linear in
the batch.  Rules read a Record's op, args and shapes, never a torch module.
"""

from __future__ import annotations

from archcalc.analysis.conventions import modern
from archcalc.analysis.conventions.core import Convention, CountRule, add_convention
from archcalc.analysis.conventions.shapes import (
    bias_elems,
    compress_weights,
    conv_weights,
    in_shape,
    numel_in,
    prod,
    spatial_out,
    tconv_weights,
)
from archcalc.analysis.report import Record

# ---------------------------------------------------------------- macs, connections (the calculator's own)


def calc_macs(rec: Record) -> int:
    """The calculator's MACs: conv/linear weight multiply-accumulates, bias excluded (LeNet:
    one per subsample unit, F_in per RBF output)."""
    return rec.counts.macs


def calc_connections(rec: Record) -> int:
    """LeCun's connections, as the calculator's op rule counts them."""
    return rec.counts.connections


_MAC_OPS = ("conv2d", "conv_transpose2d", "compress", "linear", "subsample", "rbf")
_NO_MACS = "no multiply-adds in torchvision's _ops or the papers' count (only conv and linear layers are counted)"
_ALL_LAYER_OPS = (
    *_MAC_OPS,
    "batchnorm2d",
    "lrn",
    "relu",
    "sigmoid",
    "tanh",
    "scaled_tanh",
    "softmax",
    "dropout",
    "identity",
    "flatten",
    "maxpool2d",
    "avgpool2d",
    "adaptive_avgpool2d",
    "adaptive_maxpool2d",
    "max_unpool2d",
    "mean",
)
_MERGES = {
    "add": "an elementwise sum (residual): no weights",
    "mul": "an elementwise product (a squeeze-excitation gate): no weights, nothing accumulated",
    "concat": "a channel concatenation: no arithmetic",
}

add_convention(
    Convention(
        "macs",
        "MACs",
        "conv + linear multiply-accumulates, bias excluded: torchvision's _ops (labelled GFLOPS) and the "
        "papers' 'multiply-adds' (LeNet's subsample and RBF units included)",
        {op: calc_macs for op in _MAC_OPS},
        {**{op: _NO_MACS for op in _ALL_LAYER_OPS if op not in _MAC_OPS}, **modern.MACS_ZERO, **_MERGES},
        pointwise=_NO_MACS,
    )
)

# ---------------------------------------------------------------- flops = torch.utils.flop_counter.FlopCounterMode


def fcm_conv2d(rec: Record) -> int:
    """FlopCounterMode conv_flop: 2*C_out*(C_in/g)*k_h*k_w*H_out*W_out, bias excluded, any padding
    (string padding too). A connection table runs one conv per output map: the same sum."""
    return 2 * conv_weights(rec) * spatial_out(rec)


def fcm_conv_transpose2d(rec: Record) -> int:
    """FlopCounterMode conv_flop, transposed: 2*C_in*(C_out/g)*k_h*k_w*H_in*W_in (input size)."""
    return 2 * tconv_weights(rec) * prod(in_shape(rec)[1:])


def fcm_compress(rec: Record) -> int:
    """FlopCounterMode conv_flop on DenseNet's compression (a 1x1 Conv2d): 2*C_in*C_out*H*W."""
    return 2 * compress_weights(rec) * spatial_out(rec)


def fcm_linear(rec: Record) -> int:
    """FlopCounterMode addmm/mm (a >2-D input is flattened to 2-D first): 2*prod(x[:-1])*F_in*F_out, bias
    excluded."""
    x = in_shape(rec)
    return 2 * prod(x[:-1]) * x[-1] * int(rec.args["out"])


_FCM_NONE = "FlopCounterMode only counts mm/addmm/bmm/convolution/attention; this op dispatches to none of them"
_FCM_ZERO = {op: _FCM_NONE for op in _ALL_LAYER_OPS if op not in ("conv2d", "conv_transpose2d", "compress", "linear")}
_FCM_ZERO["subsample"] = "avg_pool2d, mul and add: none has a FlopCounterMode formula"
_FCM_ZERO["rbf"] = "sub, mul and sum: none has a FlopCounterMode formula"

add_convention(
    Convention(
        "flops",
        "FLOPs",
        "torch.utils.flop_counter.FlopCounterMode total: 2 FLOPs per conv/linear MAC; bias, BatchNorm, "
        "pooling, activations count 0",
        {
            "conv2d": fcm_conv2d,
            "conv_transpose2d": fcm_conv_transpose2d,
            "compress": fcm_compress,
            "linear": fcm_linear,
        },
        {**_FCM_ZERO, **modern.FCM_ZERO, **_MERGES},
        pointwise=_FCM_NONE,
    )
)

# ---------------------------------------------------------------- fvcore FlopCountAnalysis, model in eval mode


def fv_conv2d(rec: Record) -> int:
    """fvcore conv_flop_jit (aten::_convolution): C_out*(C_in/g)*k_h*k_w*H_out*W_out, bias excluded.

    padding='same'/'valid' with padding_mode 'zeros' traces to aten::_convolution_mode, which
    fvcore has no handle for: 0 (listed in unsupported_ops). Other padding modes pad with F.pad
    and convolve with numeric padding 0, which fvcore counts."""
    a = rec.args
    if isinstance(a["padding"], str) and a["padding_mode"] == "zeros":
        return 0
    return conv_weights(rec) * spatial_out(rec)


def fv_conv_transpose2d(rec: Record) -> int:
    """fvcore conv_flop_jit, transposed: C_in*(C_out/g)*k_h*k_w*H_in*W_in (input spatial size)."""
    return tconv_weights(rec) * prod(in_shape(rec)[1:])


def fv_compress(rec: Record) -> int:
    """fvcore conv_flop_jit on DenseNet's compression (a 1x1 Conv2d, numeric padding 0): C_in*C_out*H*W."""
    return compress_weights(rec) * spatial_out(rec)


def fv_linear(rec: Record) -> int:
    """fvcore linear_flop_jit (aten::linear, any rank): numel(x)*F_out = prod(leading dims)*F_in*F_out,
    bias excluded: the true MACs on a channels-last H x W x C input too."""
    return numel_in(rec) * int(rec.args["out"])


def fv_batchnorm2d(rec: Record) -> int:
    """fvcore batchnorm_flop_jit, model in eval mode: running stats -> numel*(2 if affine else 1);
    track_running_stats=False uses batch statistics even in eval -> numel*(5 if affine else 4)."""
    a = rec.args
    if a["track_running_stats"]:
        return numel_in(rec) * (2 if a["affine"] else 1)
    return numel_in(rec) * (5 if a["affine"] else 4)


def fv_adaptive_avgpool2d(rec: Record) -> int:
    """fvcore elementwise_flop_counter(1, 0) on aten::adaptive_avg_pool2d: numel(input), any output size."""
    return numel_in(rec)


_FV_IGNORED = "in fvcore's _IGNORED_OPS (counted 0 without a warning)"
_FV_UNSUPPORTED = "no fvcore handle: 0, listed in unsupported_ops()"
_FV_ZERO = {
    "relu": _FV_IGNORED,
    "dropout": _FV_IGNORED,
    "flatten": _FV_IGNORED,
    "identity": "nn.Identity traces to no op",
    "sigmoid": _FV_UNSUPPORTED,
    "tanh": _FV_UNSUPPORTED,
    "softmax": _FV_UNSUPPORTED,
    "scaled_tanh": "mul and tanh: " + _FV_UNSUPPORTED,
    "maxpool2d": _FV_UNSUPPORTED,
    "avgpool2d": _FV_UNSUPPORTED,
    "adaptive_maxpool2d": _FV_UNSUPPORTED,
    "lrn": "decomposes into mul, pad, avg_pool3d, add, pow, div: " + _FV_UNSUPPORTED,
    "subsample": "avg_pool2d, mul and add: " + _FV_UNSUPPORTED,
    "rbf": "sub, mul and sum: " + _FV_UNSUPPORTED,
    "add": "aten::add: " + _FV_UNSUPPORTED,
    "mul": "aten::mul: " + _FV_UNSUPPORTED,
    "mean": "aten::mean: " + _FV_UNSUPPORTED,
    "concat": "aten::cat: " + _FV_IGNORED,
}

add_convention(
    Convention(
        "fvcore",
        "MACs",
        "fvcore FlopCountAnalysis(model.eval(), x).total(): 1 per conv/linear MAC, + BatchNorm (2 per element "
        "in eval), + layer/group/instance norm (5 per element, 4 without affine), + adaptive avg pool (1 per "
        "input element); string-padded convs count 0",
        {
            "conv2d": fv_conv2d,
            "conv_transpose2d": fv_conv_transpose2d,
            "compress": fv_compress,
            "linear": fv_linear,
            "batchnorm2d": fv_batchnorm2d,
            "adaptive_avgpool2d": fv_adaptive_avgpool2d,
            **modern.FV_RULES,
        },
        {**_FV_ZERO, **modern.FV_ZERO},
        {"max_unpool2d": "torch.jit.trace of nn.MaxUnpool2d fails (_unpool_output_size), so fvcore cannot run"},
        pointwise=_FV_UNSUPPORTED,
        live_only=True,
    )
)

# ---------------------------------------------------------------- torchinfo summary(...).total_mult_adds


def ti_conv2d(rec: Record) -> int:
    """torchinfo, class name contains 'Conv': (weight + bias elements)*H_out*W_out, bias included.
    A connection table is a TableConv holding one Conv2d leaf per output map (|T_j|*k_h*k_w + bias):
    summed, the same formula; TableConv itself is not a leaf and adds 0."""
    return (conv_weights(rec) + bias_elems(rec)) * spatial_out(rec)


def ti_conv_transpose2d(rec: Record) -> int:
    """torchinfo, 'Conv' class: (C_in*(C_out/g)*k_h*k_w + bias)*H_out*W_out (the output size)."""
    return (tconv_weights(rec) + bias_elems(rec)) * spatial_out(rec)


def ti_compress(rec: Record) -> int:
    """torchinfo on DenseNet's compression (a 1x1 Conv2d leaf): (C_in*C_out + bias C_out)*H*W."""
    bias = rec.output_shape[0] if rec.args["bias"] else 0
    return (compress_weights(rec) + bias) * spatial_out(rec)


def ti_linear(rec: Record) -> int:
    """torchinfo, non-Conv class: weight + bias elements, times out[0] = the batch only: F_in*F_out + bias per
    sample whatever the rank. On an input with leading dims (a channels-last H x W x C map) it therefore
    undercounts the MACs prod(leading dims)*F_in*F_out by a factor of about prod(leading dims)."""
    return in_shape(rec)[-1] * int(rec.args["out"]) + bias_elems(rec)


def ti_batchnorm2d(rec: Record) -> int:
    """torchinfo, non-Conv class: weight + bias = 2*C if affine (no spatial factor), else 0."""
    return 2 * in_shape(rec)[0] if rec.args["affine"] else 0


def ti_subsample(rec: Record) -> int:
    """torchinfo on archcalc's Subsample module (class name without 'Conv', parameters named
    'weight' (C) and 'bias' (C)): (C + bias C) per sample."""
    c = in_shape(rec)[0]
    return c + (c if rec.args["bias"] else 0)


def ti_prelu(rec: Record) -> int:
    """torchinfo, non-Conv class: its parameter 'weight' (num_parameters slopes: 1 or C) x 1 per sample."""
    return int(rec.args["num_parameters"])


_TI_NO_PARAMS = "leaf module without parameters (torchinfo counts a leaf's weight/bias parameters only)"
_TI_ZERO = {op: _TI_NO_PARAMS for op in _ALL_LAYER_OPS}
for _op in ("conv2d", "conv_transpose2d", "compress", "linear", "batchnorm2d", "subsample"):
    del _TI_ZERO[_op]
_TI_ZERO["rbf"] = "archcalc's RBF holds its prototypes in a buffer, not a parameter"
_TI_ZERO["add"] = "archcalc's Add module has no parameters"
_TI_ZERO["mul"] = "archcalc's Mul module (and x * y in containers) has no parameters"
_TI_ZERO["concat"] = "archcalc's Concat module (and torch.cat in containers) has no parameters"
_TI_ZERO.update(modern.TI_ZERO)

_TI_RULES: dict[str, CountRule] = {
    "conv2d": ti_conv2d,
    "conv_transpose2d": ti_conv_transpose2d,
    "compress": ti_compress,
    "linear": ti_linear,
    "batchnorm2d": ti_batchnorm2d,
    "subsample": ti_subsample,
    "prelu": ti_prelu,
    **modern.TI_RULES,
}

add_convention(
    Convention(
        "torchinfo",
        "MACs",
        "torchinfo summary(...).total_mult_adds: each leaf module's weight+bias elements x its output "
        "positions (Conv) or x 1 (others): bias and the norms' 2C included",
        _TI_RULES,
        _TI_ZERO,
        pointwise=_TI_NO_PARAMS,
    )
)

# ---------------------------------------------------------------- connections (LeCun), last in the listing

add_convention(
    Convention(
        "connections",
        "connections",
        "LeCun's connections (LeNet-5 paper, 1998): (inputs per unit + 1 for the bias) x units, pooling windows included",
        {op: calc_connections for op in (*_ALL_LAYER_OPS, *modern.LAYER_OPS)},
        dict(_MERGES),
        pointwise=calc_connections,
    )
)
