"""The conventions' rules for issue 10's normalisation and layout ops (rules.py merges them into its tables).

Read from the tools' source: fvcore 0.1.5 (fvcore/nn/flop_count.py, jit_handles.py, jit_analysis.py's
_IGNORED_OPS) and torchinfo 1.8.0 (torchinfo/layer_info.py, LayerInfo.calculate_macs). Per sample.
"""

from __future__ import annotations

from archcalc.analysis.conventions.core import CountRule
from archcalc.analysis.conventions.shapes import in_shape, numel_in
from archcalc.analysis.report import Record

NORMS = ("layernorm", "layernorm2d", "groupnorm", "instancenorm2d")
LAYOUT = ("permute", "channel_shuffle", "chunk")
LAYER_OPS = (*NORMS, *LAYOUT)  # stochastic_depth is declared pointwise: each convention's pointwise default


def _affine(rec: Record) -> bool:
    """Whether the module has a weight: LayerNorm's elementwise_affine, GroupNorm's/InstanceNorm's affine."""
    return bool(rec.args["elementwise_affine"] if "elementwise_affine" in rec.args else rec.args["affine"])


# ---------------------------------------------------------------- fvcore


def fv_norm(rec: Record) -> int:
    """fvcore norm_flop_counter on aten::layer_norm / group_norm / instance_norm (LayerNorm2d: layer_norm
    between two ignored permutes): numel(input)*(5 if the op gets a weight else 4). A weight without a bias
    (layernorm bias: false) still counts 5; instance norm with running stats in eval still traces to
    aten::instance_norm and counts the same."""
    return numel_in(rec) * (5 if _affine(rec) else 4)


_FV_IGNORED = "in fvcore's _IGNORED_OPS (counted 0 without a warning)"
FV_RULES: dict[str, CountRule] = {op: fv_norm for op in NORMS}
FV_ZERO = {
    "permute": "aten::permute: " + _FV_IGNORED,
    "chunk": "aten::chunk: " + _FV_IGNORED,
    "channel_shuffle": "aten::channel_shuffle has no fvcore handle: 0, listed in unsupported_ops()",
    "stochastic_depth": "the identity at inference: traces to no op",
}

# ---------------------------------------------------------------- torchinfo


def ti_norm(rec: Record) -> int:
    """torchinfo, non-Conv class (LayerNorm, LayerNorm2d, GroupNorm, InstanceNorm2d): its weight and bias
    elements x output_size[0] (the batch only): C + C per sample with an affine map (C without a bias), else 0.
    C is the normalised dim: the last one for layernorm, the first for the others."""
    if not _affine(rec):
        return 0
    c = in_shape(rec)[-1] if rec.op == "layernorm" else in_shape(rec)[0]
    return 2 * c if rec.args.get("bias", True) else c


TI_RULES: dict[str, CountRule] = {op: ti_norm for op in NORMS}
TI_ZERO = {op: "archcalc's module has no parameters (torchinfo counts a leaf's weight/bias only)" for op in LAYOUT}

# ---------------------------------------------------------------- flops, macs

FCM_ZERO = {
    **{op: "layer/group/instance norm: FlopCounterMode has no formula for them" for op in NORMS},
    **{op: "a view or a copy: no arithmetic for FlopCounterMode" for op in LAYOUT},
}
MACS_ZERO = {
    **{op: "normalisation: not a conv or linear multiply-accumulate (as batchnorm2d)" for op in NORMS},
    **{op: "moves or selects values: no arithmetic" for op in LAYOUT},
}
