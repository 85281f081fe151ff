"""The training-step conventions (issue 12) against torch's FlopCounterMode on archcalc's own built model.

* ``train_fcm`` = FlopCounterMode around a forward and ``loss.backward()`` (loss = the sum of every output),
  meta device, batch 2 (halved: per sample), model in train mode, input with requires_grad False: torch 2.13's own number,
  including its grouped-conv weight-gradient overcount.
* ``train`` = the same run with a corrected ``aten.convolution_backward`` formula passed through
  FlopCounterMode's public ``custom_mapping``: each gradient a conv computes costs 2 x N x weight elements x
  the positions the weight slides over (hand formula, groups included through the weight's shape).

Every bundled spec is checked; the default run keeps conftest.py's _TRAIN_DEFAULT (lenet5, resnet18, mobilenet-v2,
convnext-tiny, densenet121), the rest is marked slow (SLOW_CASES): ``pytest -m slow``.
"""

from __future__ import annotations

from typing import Any

import pytest

from archcalc.analysis.conventions import layer_values, total
from archcalc.analysis.records import analyze


def _prod(xs: Any) -> int:
    out = 1
    for x in xs:
        out *= int(x)
    return out


def true_conv_backward(grad_out: Any, x: Any, w: Any, *args: Any, out_shape: Any = None, **kw: Any) -> int:
    """Corrected aten.convolution_backward: each requested gradient (input: mask[0], weight: mask[1]) costs
    what the forward does, 2 x N x numel(weight) x output positions (input positions for a transposed conv)."""
    transposed, mask = args[4], args[7]
    positions = _prod((x if transposed else grad_out)[2:])
    per_pass = 2 * int(x[0]) * _prod(w) * positions
    return per_pass * (int(bool(mask[0])) + int(bool(mask[1])))


def step_flops(model: Any, input: tuple[int, ...]) -> tuple[int, int]:
    """FlopCounterMode's totals per sample for forward + backward of the sum of every output, meta device, model
    in train mode: (torch's own formulas, the corrected conv backward). One pass, two nested counters: the
    inner one counts each op and hands it on to the outer one. Batch 2 (every count is linear in the batch):
    in train mode a batch norm on a 1x1 map (Inception-v3's auxiliary head) refuses a batch of 1."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    x = torch.zeros(2, *input, device="meta")
    corrected = {torch.ops.aten.convolution_backward: true_conv_backward}
    with FlopCounterMode(display=False) as fcm, FlopCounterMode(display=False, custom_mapping=corrected) as true:
        out = model(x)
        outs = out if isinstance(out, tuple) else (out,)
        loss: Any = sum(o.sum() for o in outs)
        if isinstance(loss, torch.Tensor) and loss.requires_grad:  # a network without trainable parameters
            torch.autograd.backward(loss)
    fcm_total, true_total = int(fcm.get_total_flops()), int(true.get_total_flops())
    assert fcm_total % 2 == 0 and true_total % 2 == 0
    return fcm_total // 2, true_total // 2


def _meta_model(spec: str) -> tuple[Any, Any]:
    import torch

    from archcalc.torch import build_with_report

    with torch.device("meta"):
        return build_with_report(spec)


def test_train_conventions_match_flopcountermode(spec_name: str) -> None:
    pytest.importorskip("torch")
    model, report = _meta_model(spec_name)
    assert (total(report, "train_fcm"), total(report, "train")) == step_flops(model, report.input)


def test_depthwise_conv_fcm_overcount() -> None:
    """The brief's example by hand: a depthwise 3x3 conv, 64 channels, after a trainable conv (so its input
    needs a gradient). Forward F = 2 x 64 x 9 x H x W; true backward 2F; FlopCounterMode's F + 64F."""
    report = analyze(_write_spec(DEPTHWISE))
    fwd = 2 * 64 * 9 * 16 * 16
    assert layer_values(report, "flops")["dw"] == fwd
    assert layer_values(report, "train")["dw"] == 3 * fwd
    assert layer_values(report, "train_fcm")["dw"] == fwd + 65 * fwd
    # the first conv: no input gradient (the network's input needs none), weight gradient only
    first = 2 * 64 * 3 * 9 * 16 * 16
    assert layer_values(report, "train")["first"] == layer_values(report, "train_fcm")["first"] == 2 * first


DEPTHWISE = """
name: depthwise
input: [3, 16, 16]
layers:
  - {name: first, op: conv2d, out: 64, kernel: 3, padding: 1}
  - {name: dw, op: conv2d, out: 64, kernel: 3, padding: 1, groups: 64}
"""

# Frozen layers, a parameter-free stem, a transposed grouped conv, a dead conv, a linear on a C x H x W
# input, LeNet-style tables: every branch of the rule, against FlopCounterMode.
PROBE = """
name: train-probe
input: [4, 12, 12]
layers:
  - {name: pool, op: maxpool2d, kernel: 2, stride: 1}
  - {name: frozen, op: conv2d, out: 8, kernel: 3, padding: 1, trainable: false}
  - {name: frozen2, op: conv2d, out: 8, kernel: 3, padding: 1, groups: 4, trainable: false}
  - {name: dead, op: conv2d, out: 2, kernel: 1}
  - {name: grouped, op: conv2d, out: 8, kernel: 3, padding: 1, groups: 2, from: frozen2}
  - {name: bn, op: batchnorm2d}
  - {name: frozen3, op: conv2d, out: 8, kernel: 1, trainable: false}
  - {name: up, op: conv_transpose2d, out: 4, kernel: 3, stride: 2, groups: 4}
  - {name: rowfc, op: linear, out: 5}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out: 3}
"""


def _write_spec(text: str) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    return f.name


def test_probe_rules_match_flopcountermode() -> None:
    pytest.importorskip("torch")
    model, report = _meta_model(_write_spec(PROBE))
    assert (total(report, "train_fcm"), total(report, "train")) == step_flops(model, report.input)
    train, fwd = layer_values(report, "train"), layer_values(report, "flops")
    for name in ("frozen", "frozen2", "dead"):  # forward only
        assert train[name] == fwd[name] > 0, name
    assert train["grouped"] == 2 * fwd["grouped"]  # weight gradient only: nothing trainable before it
    assert train["frozen3"] == 2 * fwd["frozen3"]  # input gradient only (bn's affine map is trainable)
    assert layer_values(report, "train_fcm")["up"] == (2 + 4) * fwd["up"]


def test_frozen_network_is_forward_only() -> None:
    pytest.importorskip("torch")
    model, report = _meta_model(_write_spec(FROZEN))
    fwd = 2 * 4 * 16 * 29 * 29  # 4 maps, 4x4 kernel on 32x32: 29x29 positions
    assert (total(report, "train_fcm"), total(report, "train")) == step_flops(model, report.input) == (fwd, fwd)


FROZEN = """
name: frozen
input: [1, 32, 32]
layers:
  - {name: conv, op: conv2d, out: 4, kernel: 4, bias: false, trainable: false}
  - {name: relu, op: relu}
  - {name: pool, op: maxpool2d, kernel: 2, stride: 2}
"""


def test_rule_of_thumb_three_times_forward() -> None:
    """resnet50: every conv after the stem has trainable layers before it: train is 3x flops less the stem's
    input gradient (hand formula: 2 x 64 x 3 x 7 x 7 x 112 x 112 FLOPs)."""
    report = analyze("resnet50")
    stem = 2 * 64 * 3 * 7 * 7 * 112 * 112
    assert total(report, "train") == 3 * total(report, "flops") - stem


def test_check_and_table_accept_train(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``check`` takes ``train`` as a quantity and ``table --convention train_fcm`` adds its column. ResNet-50:
    FlopCounterMode's forward 8,178,368,512 (measured, tests/test_conventions.py) x 3 less the stem's input
    gradient, 2 x 64 x 3 x 7 x 7 x 112 x 112."""
    from archcalc.cli.app import main

    claims = tmp_path / "train.yaml"
    want = 3 * 8_178_368_512 - 2 * 64 * 3 * 7 * 7 * 112 * 112
    claims.write_text(f'claims:\n  - {{spec: resnet50, quantity: train, value: "{want:,}"}}\n')
    assert main(["check", str(claims)]) == 0
    assert main(["table", "lenet5", "--convention", "train_fcm", "--format", "csv"]) == 0
    assert "train_fcm (FLOPs)" in capsys.readouterr().out
