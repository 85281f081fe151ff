"""Each named convention against the tool it reproduces, with integer equality, on archcalc's own built model.

* ``flops`` vs torch FlopCounterMode and ``torchinfo`` vs summary(...).total_mult_adds: meta device,
  the spec's own input, batch 1, one model for both.
* ``fvcore`` vs FlopCountAnalysis(model.eval(), x).total(): fvcore cannot trace a conv on the meta
  device, so this is a real CPU forward, batch 1; networks above FVCORE_BUDGET MACs run at the largest
  reduced square input in REDUCED_HW under the budget (or the smallest that fits the network); the
  calculator is run at the same input, and the rules hold at any size.  From the same fvcore run,
  per layer: the calculator's MACs equal fvcore's by_module() count for every conv and linear.
"""

from __future__ import annotations

from typing import Any

import pytest

from archcalc.analysis.conventions import CONVENTIONS, get, layer_values, total
from archcalc.analysis.records import analyze
from archcalc.analysis.report import Counts, Record, Report
from archcalc.errors import ArchcalcError
from archcalc.ops import OPS

FVCORE_BUDGET = 300_000_000  # MACs of one CPU forward
REDUCED_HW = (160, 128, 112, 96, 64)
CONV_LINEAR = {"conv2d", "conv_transpose2d", "compress", "linear"}


def _fvcore_input(name: str) -> tuple[int, ...]:
    rep = analyze(name)
    if rep.totals.macs <= FVCORE_BUDGET:
        return rep.input
    fits: list[Report] = []
    for hw in REDUCED_HW:
        try:
            fits.append(analyze(name, (rep.input[0], hw, hw)))
        except ArchcalcError:  # too small for this network's pooling chain
            continue
        if fits[-1].totals.macs <= FVCORE_BUDGET:
            break
    return fits[-1].input if fits else rep.input


def _built(name: str, input: tuple[int, ...] | None, device: str) -> tuple[Any, Report]:
    """archcalc's model in eval mode. On meta it is constructed there (no weight init: fast for VGG's
    100M+ weights); on the CPU it is a normal build (TableConv's index buffers need real values)."""
    import torch

    from archcalc.torch import build_with_report

    with torch.device(device):
        model, report = build_with_report(name, input)
    return model.eval(), report


def test_fvcore_total_and_per_layer(spec_name: str) -> None:
    torch = pytest.importorskip("torch")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    model, report = _built(spec_name, _fvcore_input(spec_name), "cpu")
    analysis = fvcore_nn.FlopCountAnalysis(model, torch.zeros(1, *report.input))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert total(report, "fvcore") == analysis.total()
    by_module = analysis.by_module()
    fv = layer_values(report, "fvcore")
    checked = 0
    for rec in report.layers:
        if rec.op in CONV_LINEAR:
            assert by_module[rec.path] == fv[rec.path], rec.path
            if not isinstance(rec.args.get("padding"), str):  # string padding: fvcore counts 0
                assert by_module[rec.path] == rec.counts.macs, rec.path
            checked += 1
    assert checked > 0


def test_torchinfo_and_flopcountermode_totals(spec_name: str) -> None:
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    from torch.utils.flop_counter import FlopCounterMode

    model, report = _built(spec_name, None, "meta")
    stats = torchinfo.summary(model, input_size=(1, *report.input), device="meta", verbose=0)
    assert total(report, "torchinfo") == stats.total_mult_adds
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *report.input, device="meta"))
    assert total(report, "flops") == counter.get_total_flops()


# A spec that reaches the rules the bundled networks do not: string padding, reflect padding,
# groups + dilation, BatchNorm with batch statistics and without affine, transposed conv,
# linear on a C x H x W input, residual add and concat merges, every elementwise op.
PROBE = """
name: probe
input: [4, 12, 12]
layers:
  - {name: same, op: conv2d, out: 6, kernel: 3, padding: same}
  - {name: valid, op: conv2d, out: 6, kernel: 3, padding: valid, bias: false}
  - {name: reflect, op: conv2d, out: 6, kernel: 3, padding: same, padding_mode: reflect}
  - {name: grouped, op: conv2d, out: 6, kernel: [3, 1], padding: 2, groups: 3, dilation: 2}
  - {name: bn_batch, op: batchnorm2d, track_running_stats: false}
  - {name: bn_plain, op: batchnorm2d, affine: false}
  - {name: up, op: conv_transpose2d, out: 4, kernel: 3, stride: 2, output_padding: 1}
  - {name: lrn, op: lrn, size: 3}
  - {name: sig, op: sigmoid}
  - name: res
    branches: {a: [{name: c, op: conv2d, out: 4, kernel: 3, padding: 1}], b: []}
    merge: add
  - name: cat
    branches:
      a: [{name: p, op: maxpool2d, kernel: 3, stride: 1, padding: 1}]
      b: [{name: p, op: avgpool2d, kernel: 3, stride: 1, padding: 1}]
    merge: concat
  - {name: amax, op: adaptive_maxpool2d, output: 5}
  - {name: aavg, op: adaptive_avgpool2d, output: [3, 4]}
  - {name: tanh, op: tanh}
  - {name: rowfc, op: linear, out: 7}
  - {name: soft, op: softmax}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out: 5, bias: false}
  - {name: drop, op: dropout}
  - {name: id, op: identity}
"""


@pytest.fixture
def probe_file(tmp_path: Any) -> str:
    path = tmp_path / "probe.yaml"
    path.write_text(PROBE)
    return str(path)


def test_probe_spec_matches_every_tool(probe_file: str) -> None:
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.torch import build_with_report

    model, report = build_with_report(probe_file)
    model.eval()
    x = torch.randn(2, *report.input)  # batch 2: every tool is linear in the batch
    fv = fvcore_nn.FlopCountAnalysis(model, x)
    fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert 2 * total(report, "fvcore") == fv.total()
    assert fv.by_module()["same"] == 0  # string padding: aten::_convolution_mode has no fvcore handle
    # reflect: F.pad then a numeric-padding conv, counted: batch 2, 6 out, 6 in, 3x3, 10x10 (after 'valid')
    assert fv.by_module()["reflect"] == 2 * 6 * 6 * 3 * 3 * 10 * 10
    assert 2 * total(report, "torchinfo") == torchinfo.summary(model, input_data=[x], verbose=0).total_mult_adds
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert 2 * total(report, "flops") == counter.get_total_flops()


def test_probe_block_merges_are_registered(probe_file: str) -> None:
    report = analyze(probe_file)
    graph = report.graph
    assert {n.op for n in graph.nodes if n.role in ("merge", "bus")} >= {"add", "concat"}
    for name in CONVENTIONS:
        values = layer_values(report, name)
        assert values["res"] == values["res.a.c"], name  # the residual add itself counts 0


def test_every_op_has_a_rule_in_every_convention() -> None:
    """A rule, a zero reason, a refusal, or the convention's default for a declared-pointwise op."""
    for name, conv in CONVENTIONS.items():
        missing = [op for op in OPS if conv.rule(op) is None and op not in conv.refused]
        assert not missing, f"{name}: {missing}"


def _record(op: str) -> Record:
    return Record("x", "x", op, "layer", 0, 3, (1, 2, 2), (1, 2, 2), Counts())


def test_op_without_rule_is_an_error_listing_it() -> None:
    for name in CONVENTIONS:
        with pytest.raises(ArchcalcError, match=r"no rule for op.*mystery_op"):
            get(name).layer(_record("mystery_op"))


def test_fvcore_refuses_max_unpool2d_like_fvcore_itself() -> None:
    with pytest.raises(ArchcalcError, match="cannot count max_unpool2d"):
        get("fvcore").layer(_record("max_unpool2d"))
    torch = pytest.importorskip("torch")
    fvcore_nn = pytest.importorskip("fvcore.nn")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = torch.nn.MaxPool2d(2, return_indices=True)
            self.unpool = torch.nn.MaxUnpool2d(2)

        def forward(self, x: Any) -> Any:
            return self.unpool(*self.pool(x))

    with pytest.raises(TypeError):
        fvcore_nn.FlopCountAnalysis(Net(), torch.zeros(1, 1, 4, 4)).total()


# ResNet-50 (torchvision layout, 224x224, batch 1) as the tools themselves report it, measured on a
# hand-built torchvision-layout model (docs/conventions.md), and the published numbers.
RESNET50 = {"fvcore": 4_111_512_576, "torchinfo": 4_089_238_376, "flops": 8_178_368_512}


def test_resnet50_famous_numbers() -> None:
    from archcalc.analysis.conventions.famous import famous_numbers

    report = analyze("resnet50")
    for name, want in RESNET50.items():
        assert total(report, name) == want, name
    assert round(total(report, "macs") / 1e9, 3) == 4.089  # torchvision ResNet50_Weights.IMAGENET1K_V1 _ops
    quoted = {(f.shown, f.convention) for f in famous_numbers(report)}
    assert quoted >= {("3.8", "macs"), ("4.09", "macs"), ("4.11", "fvcore"), ("8.18", "flops")}
    v1 = total(analyze("resnet50-v1"), "macs")
    assert 3.8e9 <= v1 < 3.9e9  # He et al. 2015 Table 1: 3.8 x 10^9 multiply-adds


def test_flops_command_prints_conventions_and_famous_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    from archcalc.cli.app import main

    assert main(["flops", "resnet50", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    for name in CONVENTIONS:
        assert f"| {name} |" in out and get(name).line in out
    for shown in ("| 3.8 |", "| 4.09 |", "| 4.11 |", "| 8.18 |"):
        assert shown in out


def test_table_convention_column_sums_to_the_total(capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    from archcalc.cli.app import main

    assert main(["table", "lenet5", "--convention", "torchinfo", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    col = rows[0].index("torchinfo (MACs)")
    body = [int(r[col]) for r in rows[1:-1] if r[col]]
    assert sum(body) == int(rows[-1][col]) == total(analyze("lenet5"), "torchinfo")
    assert main(["table", "lenet5", "--convention", "nope"]) == 2


DEAD_CONV = """
name: dead-conv
input: [3, 32, 32]
layers:
  - {name: conv, op: conv2d, out: 6, kernel: 3}
  - {name: act, op: relu, from: input}
"""


def test_fvcore_drops_what_no_output_reads(tmp_path: Any) -> None:
    """fvcore's jit trace drops the conv whose output nothing reads: fvcore says 0, and so must the convention."""
    torch = pytest.importorskip("torch")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    from archcalc.torch import build

    path = tmp_path / "dead.yaml"
    path.write_text(DEAD_CONV)
    model = build(str(path)).eval()
    fca = fvcore_nn.FlopCountAnalysis(model, torch.zeros(1, 3, 32, 32))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    report = analyze(str(path))
    assert total(report, "fvcore") == fca.total() == 0
    assert report["conv"].macs == 6 * 3 * 3 * 3 * 30 * 30  # the calculator still counts the layer itself
