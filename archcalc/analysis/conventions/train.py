"""One training step: forward plus backward FLOPs per layer (issue 12), in two conventions.

The step is FlopCounterMode's view of ``loss = sum of every output; loss.backward()``: only conv and linear
layers count (2 FLOPs per MAC), in up to three passes each, every pass costing the forward's FLOPs:

* forward: always;
* input gradient: when backward reaches the layer and its input needs a gradient, i.e. some layer on a data
  path into it has trainable parameters (the network's input has requires_grad False). So the first conv
  counts no input gradient, and neither does any conv with only frozen or parameter-free layers before it;
* weight gradient: when backward reaches the layer and it has trainable parameters (a conv with
  ``trainable: false`` is frozen; every other parameter in archcalc is trainable).

A layer whose output reaches no output counts its forward only. Bias gradients (sums), norms, pools and
activations count 0 in both passes, as in FlopCounterMode. ``train`` uses the true weight-gradient cost;
``train_fcm`` reproduces torch 2.13's FlopCounterMode, whose ``conv_backward_flop`` ignores ``groups`` in the
weight gradient and so counts a grouped conv's weight gradient ``groups`` times too high.
"""

from __future__ import annotations

from archcalc.analysis.conventions.core import (
    CONVENTIONS,
    Convention,
    CountRule,
    Grad,
    StepRule,
    add_convention,
    has_weights,
)
from archcalc.analysis.conventions.rules import fcm_compress, fcm_conv2d, fcm_conv_transpose2d, fcm_linear
from archcalc.analysis.report import Record

_FORWARD: dict[str, CountRule] = {
    "conv2d": fcm_conv2d,
    "conv_transpose2d": fcm_conv_transpose2d,
    "compress": fcm_compress,
    "linear": fcm_linear,
}


def _step(rec: Record, grad: Grad, weight_factor: int) -> int:
    """forward + input gradient (if needed) + weight_factor x forward for the weight gradient (if trainable)."""
    fwd = _FORWARD[rec.op](rec)
    if not grad.live:
        return fwd
    total = fwd + (fwd if grad.input else 0)
    return total + (weight_factor * fwd if has_weights(rec, grad) else 0)


def train_step(rec: Record, grad: Grad) -> int:
    """True cost: each of forward, input gradient and weight gradient is 2 x the layer's MACs."""
    return _step(rec, grad, 1)


def _groups(rec: Record) -> int:
    """The conv's groups (1 for a connection table, DenseNet's compression and linear layers)."""
    return int(rec.args.get("groups", 1)) if rec.op in ("conv2d", "conv_transpose2d") else 1


def fcm_step(rec: Record, grad: Grad) -> int:
    """torch 2.13 FlopCounterMode: conv_backward_flop counts the weight gradient as a conv over all C_in (or
    C_out, transposed) channels, groups ignored: groups x the forward. A depthwise conv with C channels, input
    gradient needed: 2 + 2C times its MACs (C = 64: 65 x its forward)."""
    return _step(rec, grad, _groups(rec))


def _convention(name: str, line: str, rule: StepRule) -> Convention:
    flops = CONVENTIONS["flops"]
    zero = {op: f"{why} (forward and backward)" for op, why in flops.zero.items()}
    pointwise = flops.pointwise if isinstance(flops.pointwise, str) else "no FlopCounterMode formula"
    return Convention(name, "FLOPs", line, {}, zero, pointwise=pointwise, step={op: rule for op in _FORWARD})


add_convention(
    _convention(
        "train",
        "one training step (forward + backward of the sum of the outputs), true cost: conv/linear 2 FLOPs per MAC "
        "forward, + 2 for the input gradient (none when nothing trainable comes before the layer), + 2 for the "
        "weight gradient (none for frozen convs); norms, pools, activations, bias gradients count 0",
        train_step,
    )
)
add_convention(
    _convention(
        "train_fcm",
        "FlopCounterMode (torch 2.13) around forward + out.sum().backward(): as train, but a grouped conv's "
        "weight gradient counts groups x its forward (conv_backward_flop ignores groups)",
        fcm_step,
    )
)
