"""Issue 10's norm and layout ops, and linear on any rank: every convention against the real tool.

On archcalc's own built model (eval mode, a CPU forward, batch 2: every tool is linear in the batch), integer
for integer, the whole model and every layer: ``flops`` against torch's FlopCounterMode, ``fvcore`` against
fvcore 0.1.5 FlopCountAnalysis (``by_module``), ``torchinfo`` against torchinfo 1.8.0 (each leaf's ``macs``).
``macs`` and ``connections`` are archcalc's own: their values for these ops are the hand rules written out.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_ops_modern import SPEC

from archcalc.analysis.conventions import layer_values, names, total

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")
fvcore_nn = pytest.importorskip("fvcore.nn")

BATCH = 2

NORM_VARIANTS = """
name: norms
input: [6, 5, 7]
layers:
  - {name: inorm_track, op: instancenorm2d, track_running_stats: true}
  - {name: ln2d_plain, op: layernorm2d, elementwise_affine: false}
  - {name: ln2d_nobias, op: layernorm2d, bias: false}
  - {name: gn_each, op: groupnorm, groups: 6}
  - {name: gn_one, op: groupnorm, groups: 1, eps: 0.001}
  - {name: same, op: channel_shuffle, groups: 1}
  - {name: rows, op: chunk, chunks: 2, index: 0, dim: 2}
  - {name: flat, op: flatten, start_dim: 2}
  - {name: ln_flat, op: layernorm}
  - {name: shuffle_flat, op: channel_shuffle, groups: 3}
"""

CHANNELS_LAST = """
name: channels-last
input: [8, 14, 14]
layers:
  - {name: to_last, op: permute, dims: [0, 2, 3, 1]}
  - {name: norm, op: layernorm, eps: 1.0e-6}
  - {name: pw1, op: linear, out: 32}
  - {name: act, op: gelu}
  - {name: pw2, op: linear, out: 8}
  - {name: to_first, op: permute, dims: [0, 3, 1, 2]}
  - {name: sd, op: stochastic_depth, p: 0.1}
"""


def _measure(text: str, tmp_path: Any) -> tuple[Any, Any, Any, Any, Any]:
    """The report, FlopCounterMode's total, fvcore's analysis and torchinfo's leaf MACs by path."""
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.torch import build_with_report

    path = tmp_path / "spec.yaml"
    path.write_text(text)
    torch.manual_seed(0)
    model, report = build_with_report(str(path))
    model.eval()
    x = torch.randn(BATCH, *report.input)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    fv = fvcore_nn.FlopCountAnalysis(model, x)
    fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    stats = torchinfo.summary(model, input_data=[x], verbose=0)
    path_of = {id(mod): name for name, mod in model.named_modules()}
    ti = {path_of[id(info.module)]: info.macs for info in stats.summary_list if info.is_leaf_layer}
    assert sum(ti.values()) == stats.total_mult_adds
    return report, counter.get_total_flops(), fv, ti, model


@pytest.mark.parametrize("text", [SPEC, NORM_VARIANTS, CHANNELS_LAST], ids=["modern", "norms", "channels-last"])
def test_every_convention_equals_its_tool(text: str, tmp_path: Any) -> None:
    report, fcm, fv, ti, _ = _measure(text, tmp_path)
    assert BATCH * total(report, "flops") == fcm == 2 * BATCH * total(report, "macs")
    assert BATCH * total(report, "fvcore") == fv.total()
    assert BATCH * total(report, "torchinfo") == sum(ti.values())
    by_module = fv.by_module()
    fv_values, ti_values = layer_values(report, "fvcore"), layer_values(report, "torchinfo")
    for rec in report.layers:
        assert BATCH * fv_values[rec.path] == by_module[rec.path], rec.path
        assert BATCH * ti_values[rec.path] == ti[rec.path], rec.path


def test_the_tools_per_op_rules_written_out(tmp_path: Any) -> None:
    """What the tools count for each new op, per sample, as hand formulas (numel = the input's elements)."""
    fv: dict[str, int] = {}
    ti: dict[str, int] = {}
    numel: dict[str, int] = {}
    others: dict[str, dict[str, int]] = {}
    for text in (SPEC, NORM_VARIANTS):
        report = _measure(text, tmp_path)[0]
        fv |= layer_values(report, "fvcore")
        ti |= layer_values(report, "torchinfo")
        numel |= {r.path: _prod(r.input_shape) for r in report.layers}
        for name in names():
            others.setdefault(name, {}).update(layer_values(report, name))
    fv_per_element = {"ln2d": 5, "gn": 5, "gn_plain": 4, "inorm": 4, "inorm_aff": 5, "ln": 5, "ln_nobias": 5}
    fv_per_element |= {"ln_plain": 4, "ln_w": 5, "inorm_track": 4, "ln2d_plain": 4, "ln2d_nobias": 5}
    fv_per_element |= {"gn_each": 5, "gn_one": 5, "ln_flat": 5}
    for path, k in fv_per_element.items():
        assert fv[path] == k * numel[path], path
    # 2C with weight and bias, C with a weight only, 0 without; C = 8 (conv), 12 (fc1), 4 (fc_w), 6, 21 (6 x 3*7)
    ti_want = {"ln2d": 16, "gn": 16, "gn_plain": 0, "inorm": 0, "inorm_aff": 16, "ln": 16, "ln_nobias": 12}
    ti_want |= {"ln_plain": 0, "ln_w": 8, "inorm_track": 0, "ln2d_plain": 0, "ln2d_nobias": 6, "gn_each": 12}
    ti_want |= {"gn_one": 12, "ln_flat": 42}
    assert {path: ti[path] for path in ti_want} == ti_want
    layout = ("shuffle", "to_last", "to_first", "sd", "sd_batch", "part", "cols", "same", "rows", "shuffle_flat")
    for path in layout:
        assert fv[path] == ti[path] == 0, path
    for name in ("macs", "flops", "connections"):  # no MACs, no FLOPs, no connections (as batchnorm2d)
        assert all(others[name][path] == 0 for path in (*layout, *fv_per_element)), name


def _prod(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


@pytest.mark.parametrize("shape", [[7], [3, 7], [3, 4, 7]])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_on_any_rank(shape: list[int], bias: bool, tmp_path: Any) -> None:
    """linear acts on the last dim: MACs = prod(leading dims)*F_in*F_out (FlopCounterMode / 2 and fvcore);
    torchinfo counts the weight and bias once per sample whatever the rank."""
    text = f"name: lin\ninput: {shape}\nlayers:\n  - {{name: fc, op: linear, out: 5, bias: {str(bias).lower()}}}\n"
    report, fcm, fv, ti, model = _measure(text, tmp_path)
    lead = 1
    for d in shape[:-1]:
        lead *= d
    (rec,) = report.layers
    assert rec.output_shape == (*shape[:-1], 5)
    assert rec.macs == lead * 7 * 5 == fcm // (2 * BATCH) == fv.total() // BATCH
    assert rec.params == sum(p.numel() for p in model.parameters()) == 7 * 5 + 5 * bias
    assert ti["fc"] == BATCH * (7 * 5 + 5 * bias) == BATCH * total(report, "torchinfo")
    assert rec.connections == lead * (7 + bias) * 5


def test_torchinfo_undercounts_a_channels_last_linear(tmp_path: Any) -> None:
    """ConvNeXt's pointwise linears on a 14 x 14 x 8 map: torchinfo counts (F_in + 1)*F_out per sample, the
    MACs are 14*14*F_in*F_out: torchinfo sees 1/196 of them (less the bias). As docs/conventions.md says."""
    report, _, fv, ti, _ = _measure(CHANNELS_LAST, tmp_path)
    rec = {r.path: r for r in report.layers}
    assert rec["pw1"].macs == 14 * 14 * 8 * 32 == fv.by_module()["pw1"] // BATCH
    assert ti["pw1"] // BATCH == 8 * 32 + 32
    assert ti["pw2"] // BATCH == 32 * 8 + 8
    assert total(report, "macs") == 14 * 14 * (8 * 32 + 32 * 8) == 100_352
    assert total(report, "torchinfo") == 2 * 8 + 288 + 264 == 568
    assert total(report, "fvcore") == 100_352 + 5 * 14 * 14 * 8
