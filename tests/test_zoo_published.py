"""Issue-3 zoo numbers from independent sources: torchvision's meta, the VGG and ResNet papers, hand formulas.

The published table is data here, apart from the specs' own ``published:`` blocks, so an edit to a
spec cannot silently change both the claim and the check.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from tvoracle import TV_SPECS

from archcalc.analysis.records import analyze
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import bundled_names, load_spec
from archcalc.ops import OPS
from archcalc.ops.symbolic import FAST, ExplainMath

# torchvision <Model>_Weights.IMAGENET1K_V1 meta: num_params and _ops (labelled GFLOPS; GMACs of conv+linear,
# bias excluded, rounded to 3 decimals). Kept as text so the published number of decimals is explicit.
TORCHVISION_META = {
    "alexnet": (61_100_840, "0.714"),
    "vgg11": (132_863_336, "7.609"),
    "vgg13": (133_047_848, "11.308"),
    "vgg16": (138_357_544, "15.47"),
    "vgg19": (143_667_240, "19.632"),
    "vgg11-bn": (132_868_840, "7.609"),
    "vgg16-bn": (138_365_992, "15.47"),
    "vgg13-bn": (133_053_736, "11.308"),
    "vgg19-bn": (143_678_248, "19.632"),
    "googlenet-tv": (6_624_904, "1.498"),
    "resnet18": (11_689_512, "1.814"),
    "resnet34": (21_797_672, "3.664"),
    "resnet50": (25_557_032, "4.089"),
    "resnet101": (44_549_160, "7.801"),
    "resnet152": (60_192_808, "11.514"),
    "densenet121": (7_978_856, "2.834"),
    "densenet161": (28_681_000, "7.728"),
    "densenet169": (14_149_480, "3.36"),
    "densenet201": (20_013_928, "4.291"),
}

# Simonyan & Zisserman 2014, Table 2: parameters in millions, per configuration.
VGG_TABLE2_MILLIONS = {"vgg11": 133, "vgg11-lrn": 133, "vgg13": 133, "vgg16c": 134, "vgg16": 138, "vgg19": 144}

# He et al. 2015, Table 1: FLOPs (multiply-adds) x10^9 in the paper's v1 layout (stride 2 in the first 1x1).
RESNET_TABLE1_GMACS = {"resnet18": "1.8", "resnet34": "3.6", "resnet50": "3.8", "resnet101": "7.6", "resnet152": "11.3"}
V1 = {"first_s1": 2, "first_s3": 1}  # --set values that move the stride to the 1x1 (bottleneck specs only)


def _decimals(text: str) -> int:
    return -Decimal(text).as_tuple().exponent  # type: ignore[operator]


@pytest.mark.parametrize(("name", "meta"), TORCHVISION_META.items())
def test_torchvision_meta_reproduced(name: str, meta: tuple[int, str]) -> None:
    params, ops = meta
    r = analyze(name)
    assert r.totals.params == params
    # torchvision rounds GMACs to 3 decimals and prints without trailing zeros ("15.47" is 15.470)
    assert round(r.totals.macs / 1e9, 3) == float(ops)
    assert round(r.totals.macs / 1e9, _decimals(ops)) == float(ops)


@pytest.mark.parametrize("name", TORCHVISION_META)
def test_spec_published_block_agrees_with_table(name: str) -> None:
    pub = load_spec(name).published
    assert pub["num_params"] == TORCHVISION_META[name][0]
    assert Decimal(str(pub["ops_gmacs"])) == Decimal(TORCHVISION_META[name][1])
    assert "torchvision" in pub["source"]


def test_every_torchvision_claim_is_in_the_table() -> None:
    """A spec citing torchvision's numbers must be checked here (others cite papers, checked elsewhere)."""
    citing = {n for n in bundled_names() if "torchvision" in str(load_spec(n).published.get("source", ""))}
    # the 68 torchvision mirrors are checked against the weights' own meta by tests/test_torchvision.py
    assert citing <= set(TORCHVISION_META) | set(TV_SPECS.values())


@pytest.mark.parametrize(("name", "millions"), VGG_TABLE2_MILLIONS.items())
def test_vgg_paper_table2(name: str, millions: int) -> None:
    assert round(analyze(name).totals.params / 1e6) == millions


def test_vgg16c_differs_from_vgg16_by_three_1x1_convs() -> None:
    """Config C replaces the last 3x3 conv of blocks 3-5 by a 1x1: 8*C_in*C_out fewer weights each."""
    saved = 8 * 256 * 256 + 8 * 512 * 512 + 8 * 512 * 512
    assert analyze("vgg16").totals.params - analyze("vgg16c").totals.params == saved == 4_718_592


def test_vgg_batchnorm_adds_two_params_per_channel() -> None:
    channels_a = 64 + 128 + 2 * 256 + 2 * 512 + 2 * 512
    assert analyze("vgg11-bn").totals.params - analyze("vgg11").totals.params == 2 * channels_a
    assert analyze("vgg11", sets={"batch_norm": True}).totals.params == analyze("vgg11-bn").totals.params


@pytest.mark.parametrize(("name", "paper"), RESNET_TABLE1_GMACS.items())
def test_resnet_paper_table1_v1(name: str, paper: str) -> None:
    sets = V1 if name in ("resnet101", "resnet152") else {}
    spec = "resnet50-v1" if name == "resnet50" else name
    gmacs = analyze(spec, sets=sets).totals.macs / 1e9
    # Table 1 prints one decimal; its numbers are truncated (34: 3.66, 50: 3.86) or rounded (101: 7.57,
    # 152: 11.28), so the exact count must be within one unit of the last digit and give the paper's
    # number by one of the two roundings.
    assert abs(gmacs - float(paper)) < 0.1
    assert float(paper) in (math.floor(gmacs * 10) / 10, round(gmacs, 1))


def test_resnet_v1_set_equals_v1_spec_and_keeps_params() -> None:
    v1 = analyze("resnet50-v1")
    via_set = analyze("resnet50", sets=V1)
    assert (via_set.totals.params, via_set.totals.macs) == (v1.totals.params, v1.totals.macs)
    v15 = analyze("resnet50")
    assert v15.totals.params == v1.totals.params
    # only conv1 and conv2 of layer2.0, layer3.0, layer4.0 change: the 1x1 runs at the low resolution in v1,
    # the 3x3 at the high one in v1.5
    delta = 0
    for c_in, w, hw in ((256, 128, 28), (512, 256, 14), (1024, 512, 7)):
        v15_cost = c_in * w * (2 * hw) ** 2 + 9 * w * w * hw**2
        v1_cost = c_in * w * hw**2 + 9 * w * w * hw**2
        delta += v15_cost - v1_cost
    assert v15.totals.macs - v1.totals.macs == delta


def _bottleneck_params(c_in: int, width: int, out: int, project: bool) -> int:
    """1x1 + 3x3 + 1x1 convs (no bias), a BN (2 per channel) after each, optional 1x1 conv + BN shortcut."""
    convs = c_in * width + 9 * width * width + width * out
    bns = 2 * (width + width + out)
    shortcut = c_in * out + 2 * out if project else 0
    return convs + bns + shortcut


def test_bottleneck_hand_formula() -> None:
    r = analyze("resnet50")
    assert r["layer1.0"].params == _bottleneck_params(64, 64, 256, True) == 75_008
    assert r["layer2.0"].params == _bottleneck_params(256, 128, 512, True)
    assert r["layer2.1"].params == _bottleneck_params(512, 128, 512, False) == 280_064
    assert r["layer4.2"].params == _bottleneck_params(2048, 512, 2048, False)
    # layer2.0 (v1.5): conv1 at 56x56, conv2 strided to 28x28, conv3 and the projection at 28x28
    macs = 256 * 128 * 56 * 56 + 9 * 128 * 128 * 28 * 28 + 128 * 512 * 28 * 28 + 256 * 512 * 28 * 28
    assert r["layer2.0"].macs == macs
    assert r["layer2.0"].output_shape == (512, 28, 28)


def test_basic_block_hand_formula() -> None:
    r = analyze("resnet18")
    assert r["layer1.0"].params == 2 * 9 * 64 * 64 + 2 * 2 * 64
    assert r["layer2.0"].params == 9 * 64 * 128 + 9 * 128 * 128 + 2 * 2 * 128 + 64 * 128 + 2 * 128


def test_inception_hand_formula() -> None:
    """inception 3a on 192 maps: 1x1 64; 1x1 96 -> 3x3 128; 1x1 16 -> 5x5 32 (tv: 3x3); pool -> 1x1 32."""
    caffe = analyze("googlenet")["inception_3a"]
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    assert caffe.params == weights + (64 + 96 + 128 + 16 + 32 + 32)  # biases
    assert caffe.macs == weights * 28 * 28
    assert caffe.output_shape == (64 + 128 + 32 + 32, 28, 28)
    tv = analyze("googlenet-tv")["inception3a"]
    tv_weights = weights - 25 * 16 * 32 + 9 * 16 * 32
    assert tv.params == tv_weights + 2 * (64 + 96 + 128 + 16 + 32 + 32)  # BN weight and bias, no conv bias


def test_googlenet_aux_heads_hand_formula() -> None:
    """Caffe loss1/loss2 heads: avg 5x5/3 (14 -> 4), 1x1 conv 128, FC 128*4*4 -> 1024, FC 1024 -> 1000."""
    base, aux = analyze("googlenet"), analyze("googlenet", sets={"aux": True})
    head = lambda c: c * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000  # noqa: E731
    assert aux.totals.params - base.totals.params == head(512) + head(528)
    assert aux.outputs == ["classifier", "aux1", "aux2"]
    assert aux.output_shape == base.output_shape == (1000,)
    # the article's heads: max 5x5/3, 1x1 conv 1024, adaptive avg 2x2, FC 4096 -> 2048 -> classes
    art, art_aux = analyze("googlenet-article"), analyze("googlenet-article", sets={"aux": True})
    head2 = lambda c: c * 1024 + 1024 + 4096 * 2048 + 2048 + 2048 * 1000 + 1000  # noqa: E731
    assert art_aux.totals.params - art.totals.params == head2(512) + head2(528)
    # without aux the article's net has the same weights as the Caffe one: the 1x1-conv classifier on the
    # pooled 1024 maps has as many params as the FC (and there is no LRN, which has none)
    assert art.totals.params == base.totals.params


def _densenet_params(growth: int, init: int, config: tuple[int, ...], classes: int = 1000) -> int:
    """torchvision DenseNet-BC (bn_size 4, compression 1/2) from Huang et al. Table 1, summed by hand."""
    width = 4 * growth
    c = init
    total = 3 * 49 * init + 2 * init  # conv0 7x7, norm0
    for i, layers in enumerate(config):
        for _ in range(layers):
            total += 2 * c + c * width + 2 * width + 9 * width * growth  # BN, 1x1, BN, 3x3
            c += growth
        if i < len(config) - 1:
            total += 2 * c + c * (c // 2)  # transition: BN, 1x1 conv to floor(C/2)
            c //= 2
    return total + 2 * c + c * classes + classes  # norm5, classifier


@pytest.mark.parametrize(
    ("name", "growth", "init", "config"),
    [
        ("densenet121", 32, 64, (6, 12, 24, 16)),
        ("densenet161", 48, 96, (6, 12, 36, 24)),
        ("densenet169", 32, 64, (6, 12, 32, 32)),
        ("densenet201", 32, 64, (6, 12, 48, 32)),
    ],
)
def test_densenet_hand_formula(name: str, growth: int, init: int, config: tuple[int, ...]) -> None:
    r = analyze(name)
    assert r.totals.params == _densenet_params(growth, init, config)
    # torchvision's bn_size = 4 (the paper's 1x1 bottleneck of 4k maps): every conv1 gives 4 * growth maps
    assert r["features.denseblock1.denselayer1.conv1"].output_shape[0] == 4 * growth


def test_densenet121_transitions_halve() -> None:
    r = analyze("densenet121")
    for i, c in ((1, 64 + 6 * 32), (2, 128 + 12 * 32), (3, 256 + 24 * 32)):
        rec = r[f"features.transition{i}.conv"]
        assert rec.input_shape[0] == c
        assert rec.output_shape[0] == c // 2
        assert rec.params == c * (c // 2)
    assert r["features.norm5"].output_shape == (512 + 16 * 32, 7, 7)


def test_densenet121_article_inception_layers() -> None:
    """Article 004: each dense layer is an Inception with 8-map branches (growth 32 = 4 x 8), reduce 32."""
    r = analyze("densenet121-article")
    c = 64
    layer = r["features.denseblock1.0"]
    weights = c * 8 + (c * 32 + 9 * 32 * 8) + (c * 32 + 25 * 32 * 8) + c * 8
    assert layer.params == weights + (8 + 32 + 8 + 32 + 8 + 8)
    assert layer.output_shape == (32, 56, 56)
    assert r["features.denseblock1"].output_shape == (64 + 6 * 32, 56, 56)


# --- the compress op (DenseNet's floor(theta*C)) -------------------------------------------------


def _compress(ratio: float, c: int, m: object = FAST) -> object:
    op = OPS["compress"]
    args = {k: a.type.check(a.default) if a.default is not None else None for k, a in op.args.items() if k != "ratio"}
    args["ratio"] = op.args["ratio"].type.check(ratio)
    return op.rule(args, (c, 7, 7), m)


def test_compress_is_exact_for_decimal_ratios() -> None:
    assert _compress(0.5, 1025).shape[0] == 512  # type: ignore[attr-defined]
    assert _compress(0.29, 100).shape[0] == 29  # type: ignore[attr-defined]  # float 0.29*100 floors to 28
    assert _compress(1, 10).shape[0] == 10  # type: ignore[attr-defined]
    out = _compress(0.5, 256)
    assert (out.params, out.macs) == (256 * 128, 256 * 128 * 49)  # type: ignore[attr-defined]


def test_compress_explains_its_channel_count() -> None:
    out = _compress(0.5, 256, ExplainMath())
    cout = out.shape[0]  # type: ignore[attr-defined]
    assert int(cout) == 128
    assert cout.sym == "floor(C_in*theta_num/theta_den)"
    assert cout.sub == "floor(256*1/2)"


@pytest.mark.parametrize("ratio", [0, 1.5, -0.5, "half"])
def test_compress_rejects_bad_ratio(ratio: object) -> None:
    with pytest.raises(ValueError):
        _compress(ratio, 16)  # type: ignore[arg-type]


def test_compress_leaving_no_channel_is_an_error() -> None:
    with pytest.raises(ArchcalcError, match="no output channel"):
        _compress(0.25, 3)


# --- auxiliary heads (--set aux=true) against torch ------------------------------------------------


@pytest.mark.parametrize("name", ["googlenet", "googlenet-article"])
def test_aux_heads_match_torch(name: str) -> None:
    pytest.importorskip("torch")
    from archcalc.torch import build_with_report
    from archcalc.torch.crosscheck import measure

    model, report = build_with_report(name, sets={"aux": True})
    got = measure(model, report, device="meta")
    for rec in report.records:
        assert got.shapes[rec.path] == rec.output_shape, rec.path
        assert got.params[rec.path] == rec.counts.params, rec.path
    assert got.total_params == report.totals.params


def test_article_googlenet_returns_three_scores() -> None:
    """Article 004's t1(): with add_aux_stage=True the net returns two aux scores and the main one."""
    torch = pytest.importorskip("torch")
    from archcalc.torch import build

    model = build("googlenet-article", sets={"aux": True, "num_classes": 4}).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == [(2, 4)] * 3


@pytest.mark.parametrize(("article", "torchvision_name"), [("vgg16-article", "vgg16"), ("vgg19-article", "vgg19")])
def test_article_vgg_has_torchvision_counts(article: str, torchvision_name: str) -> None:
    """Seed article 004's Vgg16Net/Vgg19Net: 'same' padding and no dropout change neither params nor MACs."""
    params, ops = TORCHVISION_META[torchvision_name]
    report = analyze(article)
    assert report.totals.params == params
    assert f"{report.totals.macs / 1e9:.{len(ops.split('.')[1])}f}" == ops
