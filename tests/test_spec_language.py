"""The spec-language features that keep torchvision's module names: flat containers, extends, merge: mul,
layer_scale, repeat index_from/name_prefix, and nn.Sequential numbering. Expected values come from
hand-written torch modules (state_dict keys, outputs) and hand formulas."""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc.analysis.records import analyze
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import load_spec

torch = pytest.importorskip("torch")
nn = torch.nn

BOTTLENECK = """
name: flat-test
input: [8, 8, 8]
blocks:
  basic:
    params: {out: 8, project: false, stride: 1}
    layers:
      - name: residual
        flat: true
        branches:
          main: {flat: true, layers: [{name: conv1, op: conv2d, out: $out, kernel: 3, padding: 1, stride: $stride, bias: false}, {name: bn1, op: batchnorm2d}]}
          downsample: [{op: conv2d, out: $out, kernel: 1, stride: $stride, bias: false, when: $project}, {op: batchnorm2d, when: $project}]
        merge: add
      - {name: relu, op: relu}
layers:
  - {name: stem, op: conv2d, out: 8, kernel: 1}
  - {name: row, flat: true, block: basic, repeat: 2, index_from: 1}
  - {name: layer2, block: basic, repeat: 2, args: {out: 16}, first: {project: true, stride: 2}}
"""


class _Basic(nn.Module):  # torchvision-style names: conv1, bn1, downsample.0/1, relu
    def __init__(self, cin: int, out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out)) if stride != 1 else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn1(self.conv1(x)) + short)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(8, 8, 1)
        self.add_module("1", _Basic(8, 8, 1))
        self.add_module("2", _Basic(8, 8, 1))
        self.layer2 = nn.Sequential(_Basic(8, 16, 2), _Basic(16, 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = getattr(self, "2")(getattr(self, "1")(self.stem(x)))
        return self.layer2(x)  # type: ignore[no-any-return]


def _write(tmp_path: Path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _same_model(spec: str, ref: nn.Module, shape: tuple[int, ...]) -> None:
    from archcalc.torch import build

    ours = build(spec).eval()
    ref = ref.eval()
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ref.state_dict().items()
    }
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


def test_flat_containers_keep_the_hand_written_module_names(tmp_path: Path) -> None:
    spec = _write(tmp_path, BOTTLENECK)
    _same_model(spec, _Net(), (8, 8, 8))
    report = analyze(spec)
    # a flat container keeps a logical record, named under its logical parent, with no module
    assert report["1.residual"].flat and report["1.residual.main"].flat and not report["1"].flat
    assert report["1.conv1"].parent == "1.residual.main"
    assert report.totals.params == sum(p.numel() for p in _Net().parameters())


def test_flat_names_that_collide_are_one_line_with_the_line(tmp_path: Path) -> None:
    text = BOTTLENECK.replace("- {name: relu, op: relu}", "- {name: conv1, op: relu}")
    with pytest.raises(ArchcalcError) as err:
        analyze(_write(tmp_path, text))
    msg = str(err.value)
    assert "net.yaml:" in msg and "'conv1' is used twice" in msg and "\n" not in msg


def test_flat_on_one_op_is_refused(tmp_path: Path) -> None:
    text = "name: x\ninput: [1, 4, 4]\nlayers:\n  - {name: c, op: relu, flat: true}\n"
    with pytest.raises(ArchcalcError, match="'flat' applies to containers"):
        analyze(_write(tmp_path, text))


SE = """
name: se-test
input: [8, 6, 6]
blocks:
  se:
    params: {c: null, s: null}
    branches:
      scale: {flat: true, layers: [{name: avgpool, op: adaptive_avgpool2d, output: 1}, {name: fc1, op: conv2d, out: $s, kernel: 1}, {name: activation, op: relu}, {name: fc2, op: conv2d, out: $c, kernel: 1}, {name: scale_activation, op: sigmoid}]}
      identity: []
    merge: mul
layers:
  - {name: conv, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: se, block: se, args: {c: 8, s: 2}}
"""


class _SE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.activation = nn.Conv2d(8, 2, 1), nn.ReLU()
        self.fc2, self.scale_activation = nn.Conv2d(2, 8, 1), nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x  # type: ignore[no-any-return]


def test_mul_merge_broadcasts_like_torch_in_squeeze_excitation(tmp_path: Path) -> None:
    spec = _write(tmp_path, SE)
    ref = nn.Sequential()
    ref.add_module("conv", nn.Conv2d(8, 8, 3, padding=1))
    ref.add_module("se", _SE())
    _same_model(spec, ref, (8, 6, 6))
    report = analyze(spec)
    assert report["se"].merged == [(8, 1, 1), (8, 6, 6)] and report.output_shape == (8, 6, 6)
    # MACs: the 3x3 conv and the two 1x1 convs of the gate (conv + linear convention); the product adds none
    assert report.totals.macs == 9 * 8 * 8 * 36 + 8 * 2 + 2 * 8


def test_a_merge_of_shapes_that_do_not_broadcast_is_refused(tmp_path: Path) -> None:
    text = SE.replace("out: $c, kernel: 1}", "out: 4, kernel: 1}")
    with pytest.raises(ArchcalcError, match="broadcast"):
        analyze(_write(tmp_path, text))


def test_layer_scale_is_a_parameter_of_its_block_like_convnext(tmp_path: Path) -> None:
    text = """
name: ls
input: [4, 5, 5]
layers:
  - name: '0'
    layers:
      - name: body
        flat: true
        branches:
          main: {flat: true, layers: [{name: block, op: conv2d, out: 4, kernel: 7, padding: 3, groups: 4}, {name: layer_scale, op: layer_scale, init: 0.5}]}
          identity: []
        merge: add
"""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Conv2d(4, 4, 7, padding=3, groups=4)
            self.layer_scale = nn.Parameter(torch.ones(4, 1, 1) * 0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer_scale * self.block(x) + x  # type: ignore[no-any-return]

    _same_model(_write(tmp_path, text), nn.Sequential(Block()), (4, 5, 5))
    assert analyze(_write(tmp_path, text))["0.layer_scale"].params == 4  # C


def test_repeat_names_with_a_prefix_and_a_start(tmp_path: Path) -> None:
    text = """
name: names
input: [2, 4, 4]
layers:
  - {name: stage, op: relu, repeat: 3, index_from: 1, name_prefix: block1-}
  - {op: relu, when: false}
  - {op: sigmoid}
"""
    report = analyze(_write(tmp_path, text))
    # nn.Sequential numbers the kept modules: the dropped entry takes no position
    assert [r.path for r in report.records] == ["stage", "stage.block1-1", "stage.block1-2", "stage.block1-3", "1"]


def test_extends_reuses_the_base_with_its_own_header_and_params(tmp_path: Path) -> None:
    _write(tmp_path, BOTTLENECK, "base.yaml")
    variant = _write(tmp_path, "name: v\nextends: base.yaml\ninput: [8, 16, 16]\n", "v.yaml")
    base, var = analyze(str(tmp_path / "base.yaml")), analyze(variant)
    assert var.model == "v" and var.input == (8, 16, 16) and var.totals.params == base.totals.params
    assert var.output_shape == (16, 8, 8)  # the stride-2 stage halves 16x16
    bundled = _write(tmp_path, "name: r10\nextends: resnet18\nparams: {num_classes: 10}\n", "r10.yaml")
    # resnet18 with a 10-way head: 512 * 10 + 10 params where the 1000-way head had 512 * 1000 + 1000
    assert analyze(bundled).totals.params == analyze("resnet18").totals.params - 512 * 990 - 990
    assert load_spec(bundled).published == {}  # published numbers are the variant's own


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: v\nextends: resnet18\nparams: {width: 2}\n", "'width' is not a parameter of the base spec"),
        ("name: v\nextends: resnet18\nlayers: []\n", "'layers' cannot be given with 'extends'"),
        ("name: v\nextends: v.yaml\n", "'extends' chains more than"),
        ("name: v\nextends: nosuchspec\n", "unknown spec 'nosuchspec'"),
    ],
)
def test_bad_extends_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ArchcalcError) as err:
        analyze(_write(tmp_path, text, "v.yaml"))
    assert message in str(err.value)


def test_block_param_defaults_may_be_expressions_over_earlier_params(tmp_path: Path) -> None:
    text = """
name: r6
input: [4, 8, 8]
blocks:
  blk:
    params: {x: null, y: "$x + 1", z: "make_divisible($y * 1.5, 4)"}
    layers: [{name: c, op: conv2d, out: $z, kernel: 1}]
layers: [{name: b, block: blk, args: {x: 4}}, {name: b2, block: blk, args: {x: 4, z: 3}}]
"""
    report = analyze(_write(tmp_path, text))
    # y = 4 + 1 = 5; z = 5 * 1.5 = 7.5 rounded to a multiple of 4: int(7.5 + 2) // 4 * 4 = 8; an arg wins
    assert report["b.c"].output_shape == (8, 8, 8) and report["b2.c"].output_shape == (3, 8, 8)
    lines = [d.text() for d in report["b"].derived]
    assert any("z = make_divisible($y * 1.5, 4)" in line and line.endswith("= 8") for line in lines), lines


def test_mean_is_torch_mean_and_every_tool_counts_it_as_nothing(tmp_path: Path) -> None:
    """ShuffleNet V2's global pool x.mean([2, 3]): no module in torchvision, so fvcore, torchinfo and
    FlopCounterMode see only the conv and the linear around it."""
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.analysis.conventions import totals as convention_totals
    from archcalc.torch import build

    text = """
name: mean
input: [3, 9, 9]
layers:
  - {name: conv, op: conv2d, out: 8, kernel: 3}
  - {name: pool, op: mean, dims: [2, 3]}
  - {name: fc, op: linear, out: 4}
"""
    spec = _write(tmp_path, text)
    model, x = build(spec).eval(), torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(model(x), model.fc(model.conv(x).mean([2, 3])))
    report = analyze(spec)
    assert report["pool"].output_shape == (8,) and report["pool"].connections == 8 * 7 * 7
    fvcore = pytest.importorskip("fvcore.nn")
    torchinfo = pytest.importorskip("torchinfo")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x[:1])
    totals = convention_totals(report)
    assert totals["flops"] == counter.get_total_flops()
    assert totals["fvcore"] == fvcore.FlopCountAnalysis(model, x[:1]).unsupported_ops_warnings(False).total()
    assert totals["torchinfo"] == torchinfo.summary(model, input_size=(1, 3, 9, 9), verbose=0).total_mult_adds
    with pytest.raises(ArchcalcError, match="mean dims"):
        analyze(_write(tmp_path, text.replace("[2, 3]", "[0, 2]")))
