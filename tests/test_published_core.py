"""Issue-2 numbers from independent sources: the LeNet-5 paper, torchvision's meta, hand formulas."""

from __future__ import annotations

import pytest

from archcalc.analysis.records import analyze

# LeCun et al. 1998, Sec. II-B (restated in seed article 004): layer -> (trainable params, connections)
LENET5_PAPER = {
    "C1": (156, 122_304),
    "S2": (12, 5_880),
    "C3": (1_516, 151_600),
    "S4": (32, 2_000),
    "C5": (48_120, 48_120),
    "F6": (10_164, 10_164),
}


@pytest.mark.parametrize(("layer", "expected"), LENET5_PAPER.items())
def test_lenet5_matches_paper(layer: str, expected: tuple[int, int]) -> None:
    rec = analyze("lenet5")[layer]
    assert (rec.trainable_params, rec.connections) == expected


def test_lenet5_hand_formulas() -> None:
    r = analyze("lenet5")
    c3_inputs = 6 * 3 + 9 * 4 + 1 * 6  # Table I: six maps read 3, nine read 4, one reads all 6
    assert r["C1"].params == (5 * 5 * 1 + 1) * 6
    assert r["C1"].connections == (5 * 5 * 1 + 1) * 6 * 28 * 28
    assert r["C1"].macs == 5 * 5 * 1 * 6 * 28 * 28
    assert r["C3"].params == c3_inputs * 25 + 16
    assert r["C3"].macs == c3_inputs * 25 * 10 * 10
    assert r["S2"].connections == (2 * 2 + 1) * 14 * 14 * 6
    assert r.totals.trainable_params == 60_000
    assert r["output"].connections == 84 * 10
    assert r["output"].trainable_params == 0
    assert r["output"].buffers == 84 * 10
    assert r["C3"].output_shape == (16, 10, 10)


def test_alexnet_torchvision_numbers() -> None:
    r = analyze("alexnet")
    assert r.totals.params == 61_100_840  # torchvision AlexNet_Weights meta num_params
    convs = [(64, 3, 11, 55), (192, 64, 5, 27), (384, 192, 3, 13), (256, 384, 3, 13), (256, 256, 3, 13)]
    conv_macs = sum(co * ci * k * k * s * s for co, ci, k, s in convs)
    fc_macs = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    assert r.totals.macs == conv_macs + fc_macs == 714_188_480
    assert round(r.totals.macs / 1e9, 3) == 0.714  # torchvision _ops ("GFLOPS", in fact GMACs)


def test_alexnet_paper_caffe_params() -> None:
    # Caffe bvlc_alexnet: 60,965,224 parameters (groups=2 in conv2, conv4, conv5)
    assert analyze("alexnet-paper").totals.params == 60_965_224


def _spatial(spec: str, ops: tuple[str, ...]) -> list[int]:
    return [rec.output_shape[1] for rec in analyze(spec).layers if rec.op in ops]


def test_alexnet_227_shapes() -> None:
    # seed article 001's comments: 55 (conv1), 27 (pool1), 27, 13 (pool2), 13, 13, 13, 6 (pool5)
    assert _spatial("alexnet-227", ("conv2d", "maxpool2d")) == [55, 27, 27, 13, 13, 13, 13, 6]


def test_zfnet_227_shapes() -> None:
    # seed article 000's comments: 111, 55, 27, 13, 13, 13, 13, 6
    assert _spatial("zfnet-227", ("conv2d", "maxpool2d")) == [111, 55, 27, 13, 13, 13, 13, 6]


@pytest.mark.parametrize("spec", ["zfnet", "zfnet-lrn"])
def test_zfnet_224_maps(spec: str) -> None:
    # Zeiler & Fergus Fig. 3: 110 (conv1), 55 (pool1), 26 (conv2), 13 (pool2), 13, 13, 13, 6 (pool5)
    assert _spatial(spec, ("conv2d", "maxpool2d")) == [110, 55, 26, 13, 13, 13, 13, 6]


def test_alexnet_2gpu_exchange_channels() -> None:
    r = analyze("alexnet-2gpu")
    assert r["exchange1"].output_shape == (128 + 128, 13, 13)
    assert r["exchange2"].output_shape == (128 + 256, 13, 13)  # reads the already-concatenated z1
    assert r["feature22.conv3"].params == 384 * 192 * 9 + 192
    assert r["classify.0"].input_shape == (6 * 6 * 128 * 2,)


def test_set_and_input_overrides() -> None:
    r = analyze("alexnet-227", "3x227x227", {"num_classes": 5})
    assert r.output_shape == (5,)
    assert r["classifier.fc8"].params == 4096 * 5 + 5
