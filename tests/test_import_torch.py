"""Importing an nn.Module (issue 11): torch.fx capture -> spec -> every command.

Expected values come from torch itself (numel, FlopCounterMode on the meta device, the module's own outputs
and state_dict), torchvision's models, or the bundled spec analysed on its own -- never from the importer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from archcalc.analysis.records import analyze  # noqa: E402
from archcalc.cli.app import main  # noqa: E402
from archcalc.frontend.spec import bundled_names  # noqa: E402

DATA = Path(__file__).parent / "data"
EXAMPLE = Path(__file__).parents[1] / "examples" / "usernet.py"  # the README's user module
USERNET = f"{EXAMPLE}:Net"
MODELS = DATA / "usermodels.py"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def torch_counts(model: Any, shape: tuple[int, ...]) -> tuple[int, int]:
    """params by numel and MACs by FlopCounterMode // 2 on the meta device (torch's own numbers)."""
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    state = {
        k: torch.empty_like(v, device="meta")
        for k, v in {**dict(model.named_parameters()), **dict(model.named_buffers())}.items()
    }
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        functional_call(model.eval(), state, (torch.empty(1, *shape, device="meta"),))
    return sum(p.numel() for p in model.parameters()), int(counter.get_total_flops()) // 2


def load_py(path: Path) -> Any:
    """A test data file as a Python module (what the user's code is)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"testdata_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def user_model(name: str) -> Any:
    return getattr(load_py(MODELS), name)()


def per_layer(report: Any) -> dict[str, tuple[int, int, tuple[int, ...]]]:
    return {
        r.path: (r.counts.params, r.counts.macs, tuple(r.output_shape)) for r in report.records if r.kind == "layer"
    }


# ---------------------------------------------------------------- user modules through the CLI


def test_usernet_table_json_matches_torch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", USERNET, "--input", "3x64x64", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    Net = load_py(EXAMPLE).Net
    params, macs = torch_counts(Net(), (3, 64, 64))
    assert (data["totals"]["params"], data["totals"]["macs"]) == (params, macs)
    layers = {r["path"]: r for r in data["layers"]}
    names = dict(Net().named_modules())
    leaves = [p for p, m in names.items() if p and not list(m.children())]
    assert all(p in layers for p in leaves)  # module paths are named_modules() paths
    assert layers["blocks.0.se.fc1"]["params"] == 32 * 8 + 8


def test_functional_ops_match_torch() -> None:
    model = user_model("Functional")
    report = analyze(model, (3, 8, 8))
    assert (report.totals.params, report.totals.macs) == torch_counts(model, (3, 8, 8))
    ops = {r.op for r in report.records if r.kind == "layer"}
    assert {"chunk", "concat", "add", "mul", "sigmoid", "hardswish", "permute", "maxpool2d", "flatten", "mean"} <= ops
    assert tuple(report.output_shape) == tuple(model(torch.zeros(1, 3, 8, 8)).shape[1:])


def test_model_returning_a_tuple() -> None:
    from archcalc.imports.torchload import spec_of
    from archcalc.torch import build

    model = user_model("TwoHeads").eval()
    spec = spec_of(model, (3, 8, 8), "TwoHeads")
    assert len(analyze(spec).outputs) == 2
    built = build(spec).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    for ours, theirs in zip(built(x), model(x), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_plain_sequential_with_numbered_layers() -> None:
    model = user_model("plain_sequential")
    report = analyze(model, (3, 8, 8))
    # conv 3->8 k3 on 8x8 -> 8x6x6; linear 288->10
    assert report.totals.params == (3 * 9 * 8 + 8) + (288 * 10 + 10)
    assert report.totals.macs == 3 * 9 * 8 * 6 * 6 + 288 * 10
    assert [r.path for r in report.records if r.kind == "layer"] == ["0", "1", "2", "3"]


def test_shared_module_counts_its_weights_once() -> None:
    model = user_model("Shared")
    report = analyze(model, (4, 8, 8))
    assert (report.totals.params, report.totals.macs) == torch_counts(model, (4, 8, 8))
    per_call = 4 * 9 * 4 * 8 * 8  # C_in*k*k*C_out*H*W, once per call
    assert per_layer(report) == {
        "conv": (4 * 9 * 4 + 4, per_call, (4, 8, 8)),
        "relu": (0, 0, (4, 8, 8)),
        "conv_1": (0, per_call, (4, 8, 8)),
    }
    assert report["conv_1"].shares == "conv"


def test_shared_block_and_head_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    """A Sequential called twice and a linear used by two heads: the written spec says 'shares', and the model
    built from it loads the module's state_dict strictly and gives its outputs."""
    from archcalc.imports.torchload import spec_of
    from archcalc.torch import build

    model = user_model("SharedDeep").eval()
    report = analyze(model, (3, 8, 8))
    assert (report.totals.params, report.totals.macs) == torch_counts(model, (3, 8, 8))
    built = build(spec_of(model, (3, 8, 8), "SharedDeep")).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    assert list(built.state_dict()) == list(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        for ours, theirs in zip(built(x), model(x), strict=True):
            torch.testing.assert_close(ours, theirs)
    code, out, err = run(capsys, "import", f"{MODELS}:SharedDeep", "--input", "3x8x8")
    assert code == 0, err
    assert "shares: fc" in out and "shares: '0'" in out


def test_untraceable_forward(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", f"{MODELS}:Untraceable", "--input", "3x8x8")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot capture the forward with torch.fx" in err and "usermodels.py:" in err and "control flow" in err


def test_unknown_ops_default_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", f"{MODELS}:Unknown", "--input", "3x8x8")
    assert (code, out) == (2, "")
    assert "2 unsupported op(s): sub at 'sub', nn.Upsample at 'up'" in err


def test_input_is_required_for_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "table", USERNET)
    assert (code, out) == (2, "")
    assert "needs its input size: give --input" in err


def test_import_writes_a_spec_that_rebuilds_the_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from archcalc.torch import build

    Net = load_py(EXAMPLE).Net
    out = tmp_path / "usernet.yaml"
    code, _, err = run(capsys, "import", USERNET, "--input", "3x64x64", "-o", str(out))
    assert code == 0, err
    model = Net().eval()
    built = build(str(out)).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(built(x), model(x))
    assert per_layer(analyze(str(out))) == per_layer(analyze(model, (3, 64, 64)))
    assert "- name: blocks\n  repeat: 2\n" in out.read_text(encoding="utf-8")  # two equal Blocks, folded


def test_commands_take_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ("explain", USERNET, "blocks.0.conv1", "--input", "3x64x64"),
        ("rf", USERNET, "--input", "3x64x64"),
        ("memory", USERNET, "--input", "3x64x64"),
        ("minsize", f"{USERNET}@3x64x64"),
        ("compare", "resnet18", USERNET, "--input", "3x64x64"),
        ("flops", USERNET, "--input", "3x64x64"),
        ("sweep", f"{USERNET}@3x64x64", "--input", "32:64:32"),
    ):
        code, out, err = run(capsys, *argv)
        assert code == 0 and out and not err, (argv, err)


def test_check_takes_a_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params, _ = torch_counts(load_py(EXAMPLE).Net(), (3, 64, 64))
    claims = tmp_path / "claims.yaml"
    claims.write_text(
        f"title: t\nclaims:\n  - claim: user net params\n    spec: '{USERNET}@3x64x64'\n"
        f"    quantity: params\n    value: {params}\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check", str(claims), "--format", "json")
    assert code == 0, err
    assert '"holds"' in out


def test_forward_with_a_default_argument() -> None:
    model = user_model("WithMask")
    assert analyze(model, (3, 8, 8)).totals.params == sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- round trips


def roundtrip(name: str, device: str = "meta") -> None:
    """spec -> archcalc.torch.build -> import: every layer of the spec has the same params, MACs and shape."""
    from archcalc.imports import spec_writer
    from archcalc.imports.torchfx import capture
    from archcalc.torch import build

    original = analyze(name)
    with torch.device(device):
        model = build(name)
    spec = spec_writer.load(capture(model, original.input, f"build({name})"))
    imported = analyze(spec)
    want, got = per_layer(original), per_layer(imported)
    assert {p: got.get(p) for p in want} == want
    extra = {p: v for p, v in got.items() if p not in want}  # the merges a spec writes as branches
    assert all(v[:2] == (0, 0) for v in extra.values()), extra
    assert (imported.totals.params, imported.totals.macs) == (original.totals.params, original.totals.macs)
    with torch.device(device):
        rebuilt = build(spec)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


DEFAULT_ROUNDTRIP = ("lenet5", "resnet18", "mobilenet-v2")


@pytest.mark.parametrize("name", DEFAULT_ROUNDTRIP)
def test_roundtrip_bundled(name: str) -> None:
    roundtrip(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in bundled_names() if n not in DEFAULT_ROUNDTRIP])
def test_roundtrip_bundled_slow(name: str) -> None:
    roundtrip(name)


@pytest.mark.slow
def test_roundtrip_outputs_on_cpu() -> None:
    """The built model of a written spec loads the original's weights and gives its outputs."""
    from archcalc.imports.torchload import spec_of
    from archcalc.torch import build

    model = build("resnet18", (3, 32, 32)).eval()
    spec = spec_of(model, (3, 32, 32), "build(resnet18)")
    again = build(spec).eval()
    again.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(again(x), model(x))


# ---------------------------------------------------------------- torchvision's models


def tv_import(tv: Any, name: str) -> None:
    from tvoracle import EVAL_SETS, TV_SPECS, flopcounter, tv_model

    from archcalc.frontend.spec import parse_spec
    from archcalc.frontend.yamlio import load_text
    from archcalc.imports import spec_writer
    from archcalc.imports.torchfx import capture

    spec_report = analyze(TV_SPECS[name], None, EVAL_SETS.get(name, {}))
    model = tv_model(tv, name)
    report = analyze(model, spec_report.input)
    folded = spec_writer.to_yaml(capture(model, spec_report.input, name), fold=True)  # what 'import -o' writes
    assert per_layer(analyze(parse_spec(load_text(folded, file=name), name))) == per_layer(report)
    fl, _ = flopcounter(model, torch.empty(1, *spec_report.input, device="meta"))
    assert report.totals.macs == fl // 2 == spec_report.totals.macs
    aux = getattr(model, "AuxLogits", None)  # inception_v3: in the state_dict, but eval's forward never runs it
    ran = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in (aux.parameters() if aux else []))
    assert report.totals.params == ran == spec_report.totals.params


@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x0_5"])
def test_torchvision(torchvision: Any, name: str) -> None:
    tv_import(torchvision, name)


@pytest.mark.slow
def test_torchvision_all(torchvision: Any) -> None:
    from tvoracle import CNN_CLASSIFIERS

    for name in CNN_CLASSIFIERS:
        tv_import(torchvision, name)


def test_analyze_and_assert_counts_take_a_module() -> None:
    from archcalc.testing import assert_counts

    model = user_model("TwoHeads")
    conv = 3 * 3 * 3 * 8  # the body's 3x3 conv, 3 -> 8 maps, on a 6x6 output
    report = analyze(model, "3x8x8")
    assert report["body.0"].counts.macs == conv * 6 * 6
    with pytest.raises(AssertionError, match=r"per layer \(archcalc.analyze\(module, input\)\):\n  body.0 +conv2d"):
        assert_counts(model, input=(3, 8, 8), params=1)
