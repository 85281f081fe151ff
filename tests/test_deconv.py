"""The DeconvNet mirror: pure-math plan against hand formulas, and against torch step by step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archcalc.analysis.deconv import plan_deconv
from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError

ROUND_TRIP = ["alexnet-227", "zfnet", "zfnet-227"]


def dropped(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Rows of the padded input no window reads: (n + 2p - d(k-1) - 1) mod s (torch's floor rule)."""
    return (n + 2 * p - d * (k - 1) - 1) % s


def conv_layers(spec: str) -> list[str]:
    return [r.path for r in analyze(spec).layers if r.op == "conv2d"]


@pytest.mark.parametrize("spec", ROUND_TRIP)
def test_every_conv_layer_plans_back_to_the_input(spec: str) -> None:
    report = analyze(spec)
    for layer in conv_layers(spec):
        plan = plan_deconv(spec, layer)
        assert plan.steps[0].input_shape == report[layer].output_shape
        assert plan.steps[-1].output_shape == report.input
        for a, b in zip(plan.steps, plan.steps[1:], strict=False):
            assert a.output_shape == b.input_shape
        for step in plan.steps:  # each step lands exactly on its forward layer's input
            assert step.output_shape == report[step.source].input_shape


@pytest.mark.parametrize("spec", ROUND_TRIP)
def test_output_padding_equals_the_rows_floor_division_dropped(spec: str) -> None:
    report = analyze(spec)
    for step in plan_deconv(spec, conv_layers(spec)[-1]).steps:
        rec = report[step.source]
        if step.op not in ("conv_transpose2d", "max_unpool2d"):
            continue
        a, (_, h, w) = rec.args, rec.input_shape
        d = a.get("dilation", (1, 1))
        s = a["stride"] or a["kernel"]
        want = tuple(dropped(n, a["kernel"][i], s[i], a["padding"][i], d[i]) for i, n in enumerate((h, w)))
        assert step.fit == want, step.source
        if step.op == "conv_transpose2d":
            assert step.args["output_padding"] == want
            assert step.args["out"] == rec.input_shape[0]  # C_out -> C_in
        else:
            assert step.args["output_size"] == (h, w)


def test_known_cases_exact_and_lossy() -> None:
    # alexnet-227 conv1: (227 - 11) = 216 = 4 * 54, exact; zfnet conv1: (224 + 2 - 6 - 1) = 219 = 2 * 109 + 1
    a = plan_deconv("alexnet-227", "conv1").steps[-1]
    assert a.fit == (0, 0) and "exactly" in a.notes[0]
    z = plan_deconv("zfnet", "conv1").steps[-1]
    assert z.fit == (1, 1) and "dropped the last row and column" in z.notes[0] and "padding only" in z.notes[0]
    assert z.input_shape == (96, 110, 110) and z.output_shape == (3, 224, 224)
    # googlenet pool2, 3x3/2 ceil_mode on 56: ceil((56 - 3)/2) + 1 = 28 maps; unpooling's default
    # (28 - 1)*2 + 3 = 57 overshoots, so output_size 56 is one less than the default
    g = next(s for s in plan_deconv("googlenet", "inception_3a.b1.conv1x1.conv").steps if s.source == "pool2")
    assert g.input_shape == (192, 28, 28) and g.fit == (56 - 57, 56 - 57) and g.args["output_size"] == (56, 56)
    assert "ceil_mode" in g.notes[0]


def test_skips_and_errors() -> None:
    steps = {s.source: s for s in plan_deconv("zfnet", "conv2").steps}
    assert steps["features.norm1"].op == "pass"
    with pytest.raises(ArchcalcError, match="linear layer has no DeconvNet inverse"):
        plan_deconv("zfnet", "fc6")
    with pytest.raises(ArchcalcError, match="flatten"):
        plan_deconv("zfnet", "flatten")
    with pytest.raises(ArchcalcError, match="reads 2 layers"):  # feature12 reads the concat exchange1
        plan_deconv("alexnet-2gpu", "feature12.conv3")
    with pytest.raises(ArchcalcError, match="subsampling"):
        plan_deconv("lenet5", "S2")
    with pytest.raises(ArchcalcError, match="connection-table"):
        plan_deconv("lenet5", "C3")
    with pytest.raises(ArchcalcError, match="ambiguous"):
        plan_deconv("alexnet-2gpu", "conv1")


def test_real_input_rows_lost(tmp_path: Path) -> None:
    spec = tmp_path / "lossy.yaml"
    spec.write_text(
        "name: lossy\ninput: [1, 10, 9]\nlayers:\n"
        "  - {name: c, op: conv2d, out: 2, kernel: 3, stride: 2, padding: [0, 1]}\n"
        "  - {name: p, op: maxpool2d, kernel: 2}\n"
    )
    c, p = (s for s in reversed(plan_deconv(str(spec), "p").steps))
    # H: (10 - 2 - 1) = 7 = 2*3 + 1 -> one real row lost; W: (9 + 2 - 2 - 1) = 8 exact
    assert c.fit == (dropped(10, 3, 2, 0), dropped(9, 3, 2, 1)) == (1, 0)
    assert "1 of them real input" in c.notes[0] and "exactly" in c.notes[1]
    assert p.fit == (dropped(4, 2, 2, 0), dropped(5, 2, 2, 0)) == (0, 1)


def test_every_bundled_spec_has_a_mirror(spec_name: str) -> None:
    """The default layer (the deepest conv whose path back is mirrorable) lands on the input, every step on
    its forward layer's input shape."""
    report = analyze(spec_name)
    plan = plan_deconv(spec_name)
    assert report[plan.layer].op == "conv2d"
    assert plan.steps[-1].output_shape == report.input
    assert all(s.output_shape == report[s.source].input_shape for s in plan.steps)


@pytest.mark.parametrize(
    ("spec", "want", "steps"),
    [("resnet18", "layer1.0.conv2", 8), ("resnet50", "layer1.0.conv3", 11), ("zfnet", "features.conv5", 13)],
)
def test_default_layer_is_on_the_main_path(
    spec: str, want: str, steps: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """torchvision's ResNets: every block after layer1.0 reads a residual sum, so the deepest conv with one path
    back is layer1.0's last (conv2 of a BasicBlock, conv3 of a Bottleneck: conv1, bn1, relu, maxpool, then
    2 or 3 x conv-bn(-relu)); ResNet-50's layer1.0.downsample.0 comes later in forward order but reaches the
    input in 5 steps. A chain (ZFNet) keeps its last conv."""
    assert main(["deconv", spec, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer"] == want and len(data["steps"]) == steps
    assert not any("downsample" in s["mirrors"] for s in data["steps"])
    if spec == "resnet50":
        shortcut = plan_deconv(spec, "layer1.0.downsample.0")
        assert [s.source for s in shortcut.steps] == ["layer1.0.downsample.0", "maxpool", "relu", "bn1", "conv1"]


def test_cli_plan_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deconv", "zfnet", "--layer", "conv2", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("step,mirrors")
    assert len(out) == 1 + len(plan_deconv("zfnet", "conv2").steps)
    assert main(["deconv", "zfnet", "--layer", "conv1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer"] == "features.conv1" and data["input"] == [3, 224, 224]
    assert data["steps"][0]["args"]["output_padding"] == [dropped(224, 7, 2, 1)] * 2 == [1, 1]
    assert main(["deconv", "zfnet", "--layer", "fc6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archcalc: error: specs/zfnet.yaml:") and err.count("\n") == 1
    assert main(["deconv", "zfnet", "--out", "x"]) == 2
    assert "--out and --weights need --image" in capsys.readouterr().err


# --- torch ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ROUND_TRIP)
def test_torch_round_trip_every_conv_layer(spec: str) -> None:
    """One real forward pass (the deepest conv's record) gives every conv output and every switch; each
    layer's mirror then runs on its own activation and must land on the input shape, step by step."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from archcalc.torch import build_deconv, build_with_report

    net, report = build_with_report(spec, switches=True)
    net.eval()
    layers = conv_layers(spec)
    acts: dict[str, torch.Tensor] = {}
    for layer in layers:
        net.get_submodule(layer).register_forward_hook(lambda m, a, out, k=layer: acts.update({k: out.clone()}))
    deepest = build_deconv(spec, layers[-1], model=net)
    x = torch.randn(1, *report.input, generator=torch.Generator().manual_seed(0))
    assert torch.equal(deepest.record(x), acts[layers[-1]])
    for layer in layers:
        deconv = build_deconv(spec, layer, model=net)
        deconv.switches = deepest.switches  # the deepest path crosses every pool
        seen: list[tuple[int, ...]] = []
        for mod in deconv.steps:
            mod.register_forward_hook(lambda m, a, out, seen=seen: seen.append(tuple(out.shape[1:])))
        assert tuple(acts[layer].shape[1:]) == report[layer].output_shape
        with torch.no_grad():
            out = deconv(acts[layer])
        assert tuple(out.shape) == (1, *report.input), layer
        assert seen == [s.output_shape for s in deconv.plan.steps], layer
        for step, mod in zip(deconv.plan.steps, deconv.steps, strict=True):
            if step.op == "conv_transpose2d":  # tied: the very same Parameter
                assert mod.weight is net.get_submodule(step.source).weight
            if step.op == "max_unpool2d":  # torch's own unpool accepts the plan's output_size and agrees
                a, sw = step.args, deconv.switches[step.source]
                y = F.max_unpool2d(
                    torch.ones(1, *step.input_shape), sw, a["kernel"], a["stride"], a["padding"], a["output_size"]
                )
                assert tuple(y.shape[1:]) == step.output_shape


def test_first_block_equals_the_input_gradient(tmp_path: Path) -> None:
    """Zeiler & Fergus's projection of one positive activation through conv -> ReLU -> max pool equals the
    gradient of that activation (times its value): the switches route it like max pool's backward, the ReLU
    passes a positive value like ReLU's derivative at a positive unit, and the transposed conv is conv's
    input gradient. Checked against torch autograd on alexnet-227's first block (overlapping 3x3/2 pool)."""
    torch = pytest.importorskip("torch")
    from archcalc.torch import build_deconv
    from archcalc.torch.deconv import reconstruct_strongest

    spec = tmp_path / "block1.yaml"
    spec.write_text(
        "name: block1\ninput: [3, 227, 227]\nlayers:\n"
        "  - {name: conv1, op: conv2d, out: 96, kernel: 11, stride: 4}\n"
        "  - {name: relu1, op: relu, inplace: true}\n"
        "  - {name: pool1, op: maxpool2d, kernel: 3, stride: 2}\n"
    )
    deconv = build_deconv(str(spec), "pool1")
    deconv.net.double()
    x = torch.rand(1, 3, 227, 227, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    best = reconstruct_strongest(deconv, x)
    xg = x.clone().requires_grad_(True)
    out = torch.relu(deconv.net.get_submodule("conv1")(xg))
    out = torch.nn.functional.max_pool2d(out, 3, 2)
    out[0, best.channel, best.y, best.x].backward()
    assert best.value == pytest.approx(float(out[0, best.channel, best.y, best.x].detach()))
    assert best.image.abs().max() > 0
    assert torch.allclose(best.image, best.value * xg.grad[0], rtol=1e-9, atol=1e-12)


def test_unpool_sums_colliding_switches_and_matches_torch_elsewhere() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from archcalc.torch.deconv import MirrorUnpool

    x = torch.rand(1, 2, 9, 9, generator=torch.Generator().manual_seed(2))
    for k, s in ((2, 2), (3, 2)):  # non-overlapping, overlapping
        pooled, sw = F.max_pool2d(x, k, s, return_indices=True)
        got = MirrorUnpool("p", (9, 9), kernel_size=k, stride=s)(pooled, sw)
        counts = torch.zeros(1, 2, 81).scatter_add_(2, sw.flatten(2), torch.ones_like(pooled).flatten(2))
        assert torch.equal(got.flatten(2), x.flatten(2) * counts)  # each max, times the windows that chose it
        if k == s:
            assert torch.equal(got, F.max_unpool2d(pooled, sw, k, s, output_size=(9, 9)))
        else:
            assert counts.max() > 1  # the overlapping case really has shared switches
