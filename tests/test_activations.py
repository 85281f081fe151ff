"""The activations of issue 10 (archcalc/ops/activations.py) against torch and every tool.

One spec uses every new op: conv, each activation (non-default arguments, some in place), a second conv,
flatten, a prelu on the flat features, linear. Checked on the model archcalc builds from it: params and
buffers against torch numel, every convention against its tool (FlopCounterMode, fvcore 0.1.5, torchinfo
1.8.0), the receptive field unchanged by each activation, ``explain``, and the output against the same
chain applied by hand with torch.nn.functional.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from archcalc.analysis.conventions import names, total
from archcalc.analysis.records import analyze
from archcalc.errors import ArchcalcError
from archcalc.ops import OPS

NEW_OPS = ("relu6", "hardswish", "hardsigmoid", "silu", "gelu", "leaky_relu", "elu", "mish", "prelu")
INPLACE_OPS = ("relu6", "hardswish", "hardsigmoid", "silu", "leaky_relu", "elu", "mish")  # torch's inplace=

SPEC = """
name: activations
input: [3, 10, 10]
layers:
  - {name: conv1, op: conv2d, out: 4, kernel: 3, padding: 1}
  - {name: leaky, op: leaky_relu, negative_slope: 0.2}
  - {name: elu, op: elu, alpha: 0.5, inplace: true}
  - {name: prelu1, op: prelu, init: 0.1}
  - {name: preluc, op: prelu, num_parameters: 4}
  - {name: gelu, op: gelu}
  - {name: gelu_tanh, op: gelu, approximate: tanh}
  - {name: silu, op: silu, inplace: true}
  - {name: mish, op: mish}
  - {name: hswish, op: hardswish, inplace: true}
  - {name: conv2, op: conv2d, out: 4, kernel: 3, padding: 1}
  - {name: relu6, op: relu6}
  - {name: hsig, op: hardsigmoid, inplace: true}
  - {name: flat, op: flatten}
  - {name: preluf, op: prelu, num_parameters: 400}
  - {name: fc, op: linear, out: 5}
"""
ACTS = ("leaky", "elu", "prelu1", "preluc", "gelu", "gelu_tanh", "silu", "mish", "hswish", "relu6", "hsig", "preluf")


@pytest.fixture
def spec_file(tmp_path: Any) -> str:
    path = tmp_path / "activations.yaml"
    path.write_text(SPEC)
    return str(path)


def test_spec_uses_every_new_op(spec_file: str) -> None:
    assert {r.op for r in analyze(spec_file).layers} >= set(NEW_OPS)


def test_declarations() -> None:
    for op in NEW_OPS:
        assert OPS[op].pointwise, op
        assert OPS[op].build is not None, op
    for op in INPLACE_OPS:
        assert OPS[op].args["inplace"].default is False, op
        assert OPS[op].alias({"inplace": True}) and not OPS[op].alias({"inplace": False}), op
    for op in ("gelu", "prelu"):  # torch has no inplace= for these
        assert "inplace" not in OPS[op].args and not OPS[op].alias({}), op


def test_counts(spec_file: str) -> None:
    report = analyze(spec_file)
    rec = {r.path: r for r in report.layers}
    for path in ACTS:
        assert rec[path].output_shape == rec[path].input_shape, path
        assert rec[path].counts.macs == rec[path].counts.connections == rec[path].counts.buffers == 0, path
    assert [rec[p].counts.params for p in ("prelu1", "preluc", "preluf")] == [1, 4, 400]
    assert all(rec[p].counts.params == 0 for p in ACTS if not p.startswith("prelu"))
    assert rec["preluc"].counts.trainable_params == 4


def test_params_buffers_and_output_against_torch(spec_file: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    from archcalc.torch import build_with_report

    torch.manual_seed(0)
    model, report = build_with_report(spec_file)
    model = model.double().eval()
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == report.totals.trainable_params
    assert sum(b.numel() for b in model.buffers()) == report.totals.buffers == 0
    for rec in report.layers:
        assert sum(p.numel() for p in model.get_submodule(rec.path).parameters()) == rec.counts.params, rec.path

    m: dict[str, Any] = {
        path: model.get_submodule(path) for path in ("conv1", "conv2", "prelu1", "preluc", "preluf", "fc")
    }
    with torch.no_grad():  # large conv outputs reach every region (x < -3, x > 6); distinct slopes
        m["conv1"].weight.mul_(10)
        m["conv2"].weight.mul_(100)
        m["preluc"].weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.5], dtype=torch.float64))
        m["preluf"].weight.uniform_(-1, 1)
    seen: dict[str, tuple[float, float]] = {}

    def remember(path: str) -> Any:
        def hook(mod: Any, args: tuple[Any, ...]) -> None:
            seen[path] = (float(args[0].min()), float(args[0].max()))

        return hook

    for path in ("leaky", "relu6", "hsig"):
        model.get_submodule(path).register_forward_pre_hook(remember(path))

    x = torch.randn(2, *report.input, dtype=torch.float64)
    with torch.no_grad():
        got = model(x)
        y = F.conv2d(x, m["conv1"].weight, m["conv1"].bias, padding=1)
        y = F.leaky_relu(y, 0.2)
        y = F.elu(y, 0.5)
        y = F.prelu(y, m["prelu1"].weight)
        y = F.prelu(y, m["preluc"].weight)
        y = F.gelu(y)
        y = F.gelu(y, approximate="tanh")
        y = F.silu(y)
        y = F.mish(y)
        y = F.hardswish(y)
        y = F.conv2d(y, m["conv2"].weight, m["conv2"].bias, padding=1)
        y = F.relu6(y)
        y = F.hardsigmoid(y)
        y = F.prelu(torch.flatten(y, 1), m["preluf"].weight)
        want = F.linear(y, m["fc"].weight, m["fc"].bias)
    assert torch.equal(got, want)
    assert m["prelu1"].weight.item() == torch.tensor(0.1).item()  # init=, in float32 then widened
    assert seen["leaky"][0] < 0 < seen["leaky"][1]
    assert seen["relu6"][0] < 0 and seen["relu6"][1] > 6
    assert seen["hsig"][1] > 3  # relu6's output spans [0, 6]: both of hardsigmoid's kinks


def test_each_built_module_is_the_torch_function_on_every_region(spec_file: str) -> None:
    """Each built activation on inputs from -8 to 8 (past every kink: -3, 0, 3, 6) equals torch.nn.functional."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    from archcalc.torch import build_with_report

    model, report = build_with_report(spec_file)
    model = model.double()
    slopes: dict[str, Any] = {p: model.get_submodule(p).weight for p in ("preluc", "preluf")}
    funcs = {
        "leaky": lambda x: F.leaky_relu(x, 0.2),
        "elu": lambda x: F.elu(x, 0.5),
        "prelu1": lambda x: F.prelu(x, torch.tensor([0.1], dtype=torch.float32).double()),
        "preluc": lambda x: F.prelu(x, slopes["preluc"]),
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu,
        "mish": F.mish,
        "hswish": F.hardswish,
        "relu6": F.relu6,
        "hsig": F.hardsigmoid,
        "preluf": lambda x: F.prelu(x, slopes["preluf"]),
    }
    assert set(funcs) == set(ACTS)
    with torch.no_grad():
        slopes["preluc"].copy_(torch.tensor([0.1, -0.2, 0.3, 0.5], dtype=torch.float64))
        slopes["preluf"].uniform_(-1, 1)
        for path, func in funcs.items():
            rec = next(r for r in report.layers if r.path == path)
            x = torch.linspace(-8, 8, 2 * 400, dtype=torch.float64).reshape(2, *rec.input_shape)
            want = func(x)
            got = model.get_submodule(path)(x.clone())  # clone: some are in place
            assert torch.equal(got, want), path


def test_every_convention_equals_its_tool(spec_file: str) -> None:
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    fvcore_nn = pytest.importorskip("fvcore.nn")
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.analysis.conventions import layer_values
    from archcalc.torch import build_with_report

    model, report = build_with_report(spec_file)
    model.eval()
    x = torch.randn(2, *report.input)  # batch 2: every tool is linear in the batch
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert 2 * total(report, "flops") == counter.get_total_flops() == 4 * total(report, "macs")
    fv = fvcore_nn.FlopCountAnalysis(model, x)
    fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert 2 * total(report, "fvcore") == fv.total()
    by_module = fv.by_module()
    stats = torchinfo.summary(model, input_data=[x], verbose=0)
    assert 2 * total(report, "torchinfo") == stats.total_mult_adds
    ti_layer = {info.module: info.macs for info in stats.summary_list}
    for name in names():
        values = layer_values(report, name)
        for path in ACTS:
            if name == "torchinfo" and path.startswith("prelu"):  # torchinfo counts PReLU's weight, per sample
                n = report_args(report, path)["num_parameters"]
                assert values[path] == n and ti_layer[model.get_submodule(path)] == 2 * n, path
            else:
                assert values[path] == 0, (name, path)
    for path in ACTS:
        assert by_module[path] == 0, path


def report_args(report: Any, path: str) -> dict[str, Any]:
    return dict(next(r.args for r in report.layers if r.path == path))


def test_receptive_field_unchanged(spec_file: str) -> None:
    from archcalc.analysis.records import resolve
    from archcalc.analysis.rf import receptive_fields

    graph, report = resolve(spec_file)
    rows = [r for r in receptive_fields(graph, report) if r.kind == "layer"]
    for before, row in itertools.pairwise(rows):
        if row.path in ACTS:
            assert row.field == before.field, row.path
    conv2 = next(r for r in rows if r.path == "conv2")
    assert conv2.field.h.size == 5  # two 3x3 convs; the activations between them add nothing


def test_explain(spec_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    from archcalc.analysis.explain import explain_layer
    from archcalc.cli.app import main

    report = analyze(spec_file)
    for rec in report.layers:
        if rec.path in ACTS:
            d = explain_layer(rec)
            assert d.counts["params"].value == rec.counts.params, rec.path
    assert main(["explain", spec_file, "preluc"]) == 0
    out = capsys.readouterr().out
    assert "params 4 = C" in out and "one slope a per channel" in out
    assert main(["explain", spec_file, "gelu_tanh"]) == 0
    assert "gelu tanh" in capsys.readouterr().out


def test_prelu_needs_one_or_c_parameters(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("num_parameters: 4", "num_parameters: 3"))
    with pytest.raises(ArchcalcError, match=r"num_parameters must be 1 or the input's channels C = 4.*got 3"):
        analyze(str(path))


def test_gelu_approximate_is_checked(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("approximate: tanh", "approximate: erf"))
    with pytest.raises(ArchcalcError, match="none, tanh"):
        analyze(str(path))
