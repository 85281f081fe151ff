"""'shares': a layer that reuses an earlier layer's weights (a module called more than once, issue 11).

Expected values: hand formulas written out below, and torch itself on the built model (numel, FlopCounterMode,
fvcore, torchinfo, a hand-written forward with the owner's modules) -- never archcalc's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archcalc.analysis.conventions import total
from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError

SPEC = """\
name: shared
input: [3, 16, 16]
layers:
  - {name: stem, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: act, op: relu}
  - name: body
    layers:
      - {name: conv, op: conv2d, out: 8, kernel: 3, padding: 1}
      - {name: bn, op: batchnorm2d}
      - {name: conv_1, op: conv2d, out: 8, kernel: 3, padding: 1, shares: conv}
      - {name: bn_1, op: batchnorm2d, shares: bn}
  - {name: again, op: conv2d, out: 8, kernel: 3, padding: 1, shares: body.conv}
  - {name: pool, op: adaptive_avgpool2d, output: 1}
  - {name: flat, op: flatten}
  - {name: fc, op: linear, out: 10}
"""
# by hand: stem 3*9*8+8, body.conv 8*9*8+8, body.bn 2*8 (+ 2*8+1 buffers), fc 8*10+10; each weight once
PARAMS = (3 * 9 * 8 + 8) + (8 * 9 * 8 + 8) + 2 * 8 + (8 * 10 + 10)
BUFFERS = 2 * 8 + 1
CONV_MACS = 8 * 9 * 8 * 16 * 16  # one call of body.conv: C_in*k*k*C_out*H*W
MACS = 3 * 9 * 8 * 16 * 16 + 3 * CONV_MACS + 8 * 10  # the shared conv runs three times


@pytest.fixture
def spec(tmp_path: Path) -> str:
    path = tmp_path / "shared.yaml"
    path.write_text(SPEC)
    return str(path)


def test_weights_count_once_and_macs_per_call(spec: str) -> None:
    report = analyze(spec)
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (PARAMS, BUFFERS, MACS)
    rec = {r.path: r for r in report.layers}
    assert rec["body.conv"].counts.params == 8 * 9 * 8 + 8 and rec["body.conv"].shares == ""
    for path, owner in (("body.conv_1", "body.conv"), ("again", "body.conv"), ("body.bn_1", "body.bn")):
        assert rec[path].shares == owner
        assert (rec[path].counts.params, rec[path].counts.trainable_params, rec[path].counts.buffers) == (0, 0, 0)
    assert rec["body.conv_1"].counts.macs == rec["again"].counts.macs == CONV_MACS
    assert rec["body.conv_1"].counts.activations == 8 * 16 * 16


def test_built_model_holds_each_weight_once(spec: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.torch import build

    model = build(spec).eval()
    assert sum(p.numel() for p in model.parameters()) == PARAMS
    assert [k for k in model.state_dict() if k.endswith("weight")] == [
        "stem.weight",
        "body.conv.weight",
        "body.bn.weight",
        "fc.weight",
    ]
    x = torch.randn(2, 3, 16, 16)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        y = model(x[:1])
    assert counter.get_total_flops() == 2 * MACS
    conv, bn = model.body.conv, model.body.bn  # the forward by hand, with the owner's modules
    with torch.no_grad():
        h = conv(bn(conv(bn(conv(torch.relu(model.stem(x)))))))
        want = model.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))
        torch.testing.assert_close(model(x), want)
    assert y.shape == (1, 10)


def test_conventions_equal_the_tools(spec: str) -> None:
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    fvcore = pytest.importorskip("fvcore.nn")
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.torch import build

    report, model = analyze(spec), build(spec)
    x = torch.randn(1, 3, 16, 16)
    stats = torchinfo.summary(model, input_size=(1, 3, 16, 16), verbose=0)
    assert total(report, "torchinfo") == stats.total_mult_adds
    flops = fvcore.FlopCountAnalysis(model.eval(), x)
    flops.unsupported_ops_warnings(False)
    assert total(report, "fvcore") == flops.total()
    counter = FlopCounterMode(display=False)
    with counter:
        model.train()(x).sum().backward()  # the reused weights get a gradient at every call
    assert total(report, "train_fcm") == counter.get_total_flops()


def test_measured_shapes_and_params_per_call(spec: str) -> None:
    pytest.importorskip("torch")
    from archcalc.torch import build
    from archcalc.torch.crosscheck import measure

    report = analyze(spec)
    got = measure(build(spec), report)
    for rec in report.layers:
        assert got.shapes[rec.path] == tuple(rec.output_shape), rec.path
    assert got.params["again"] == 0 and got.params["body.conv"] == 8 * 9 * 8 + 8


def test_table_json_and_text(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", spec, "--format", "json"]) == 0
    layers = {r["path"]: r for r in json.loads(capsys.readouterr().out)["layers"]}
    assert layers["again"]["shares"] == "body.conv" and layers["again"]["params"] == 0
    assert "shares" not in layers["body.conv"]
    assert main(["table", spec]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("again"))
    assert "shares body.conv" in row


def test_sweep_and_formula_keep_the_weights_once(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    # 120 sizes: the sweep evaluates the formula (from 100 sizes on), checked here against the hand formula
    assert main(["sweep", spec, "--input", "8:127:1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["points"]
    assert len(rows) == 120
    for row in rows:
        h = row["input"][0]
        assert (row["params"], row["macs"]) == (PARAMS, (3 * 9 * 8 + 3 * 8 * 9 * 8) * h * h + 8 * 10), h


BAD = [
    ("  - {name: x, op: relu, shares: nowhere}", "'shares: nowhere' does not name a layer defined earlier"),
    ("  - {name: x, op: conv2d, out: 8, kernel: 3, padding: 1, shares: body}", "not a container"),
    ("  - {name: x, op: conv2d, out: 8, kernel: 1, shares: body.conv}", "with other arguments"),
    ("  - {name: x, op: relu, shares: act}", "a relu layer has no weights to reuse"),
    ("  - {name: x, op: conv2d, out: 8, kernel: 3, padding: 1, shares: stem}", "reuses the weights of 'stem'"),
    ("  - {name: x, layers: [{op: relu}], shares: act}", "'shares' applies to one op layer"),
    ("  - {name: x, op: conv2d, out: 8, kernel: 3, padding: 1, repeat: 2, shares: stem}", "one op layer"),
    ("  - {name: x, op: conv2d, out: 8, kernel: 3, padding: 1, shares: [stem]}", "must name an earlier op layer"),
]


@pytest.mark.parametrize(("entry", "words"), BAD)
def test_bad_shares_is_one_located_line(
    entry: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, tail = SPEC.split("  - {name: pool")
    path = tmp_path / "bad.yaml"
    path.write_text(body + entry + "\n  - {name: pool" + tail)
    line = len(body.splitlines()) + 1
    assert main(["table", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert words in err and f"bad.yaml:{line}" in err, err
    with pytest.raises(ArchcalcError):
        analyze(str(path))
