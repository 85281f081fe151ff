"""examples/claims/modern-cnns.yaml: what the papers of torchvision's modern CNNs print, each verdict asserted.

Each expected verdict follows from the paper's own definition of its unit and from a number that is not
archcalc's: torchvision's DEFAULT weights meta (num_params; _ops = GMACs of conv + linear, bias excluded)
or the hand rounding rule of docs/commands.md (a figure holds when the value rounded at its last digit
equals it; '~' allows 5%). Each paper below counts "FLOPs" / "MAdds" as multiply-adds, so a "GFLOPs"
figure that matches the MACs holds *as MACs*, and fails when it matches neither MACs nor 2 x MACs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc.claims.claimsfile import load_claims
from archcalc.claims.verdict import FAILS, HOLDS, HOLDS_AS_MACS, check_file
from archcalc.cli.app import main

FILE = Path(__file__).resolve().parent.parent / "examples" / "claims" / "modern-cnns.yaml"

# (claim text, verdict, why) in file order. torchvision numbers: <Model>_Weights.DEFAULT.meta.
VERDICTS = [
    # num_params 3,504,872 rounds to 3.5M, not Table 4's 3.4M
    ("MobileNetV2 has 3.4M parameters", FAILS),
    # _ops 0.301 GMACs = 301M; "300M" has one significant digit (trailing zeros are not significant)
    ("MobileNetV2 costs 300M multiply-adds", HOLDS),
    # _ops 0.217 GMACs: 217M (216.6M exactly) is not Table 3's 219M; 2 x MACs is 433M
    ("MobileNetV3-Large costs 219M MAdds", FAILS),
    # num_params 5,483,032 rounds to 5.5M, not 5.4M
    ("MobileNetV3-Large has 5.4M parameters", FAILS),
    # num_params 2,542,856 rounds to 2.5M
    ("MobileNetV3-Small has 2.5M parameters", HOLDS),
    # Table 2's FLOPS are multiply-adds: _ops 0.386 GMACs rounds to 0.39; 2 x 0.386 = 0.77 GFLOPs does not
    ("EfficientNet-B0 is 0.39 GFLOPs", HOLDS_AS_MACS),
    # num_params 5,288,548 rounds to 5.3M
    ("EfficientNet-B0 has 5.3M parameters", HOLDS),
    # FlopCounterMode counts 2 per MAC: 2 x 0.386 = 0.772 rounds to 0.77
    ("torch's FlopCounterMode counts 0.77 GFLOPs for EfficientNet-B0", HOLDS),
    # _ops 4.394 GMACs rounds to 4.4, 2 x 4.394 = 8.8: neither is Table 2's 4.2
    ("EfficientNet-B4 is 4.2 GFLOPs", FAILS),
    # num_params 66,347,960 rounds to 66M
    ("EfficientNet-B7 has 66M parameters", HOLDS),
    # Table 1's FLOPs are multiply-adds (as in the ResNet paper): _ops 4.23 rounds to 4.2
    ("ResNeXt-50 (32x4d) is 4.2 GFLOPs", HOLDS_AS_MACS),
    # num_params 25,028,904 rounds to 25.0M
    ("ResNeXt-50 (32x4d) has 25.0M parameters", HOLDS),
    # the ResNeXt paper's ResNet-50 has the stride in the 3x3, as torchvision's: _ops 4.089 rounds to 4.1
    ("ResNet-50 is 4.1 GFLOPs (the ResNeXt paper's baseline)", HOLDS_AS_MACS),
    # FLOPs are multiply-adds: _ops 4.456 rounds to 4.5
    ("ConvNeXt-T is 4.5 GFLOPs", HOLDS_AS_MACS),
    # num_params 28,589,128 rounds to 29M: Table 1's "28M" drops the .6, so it fails as written ...
    ("ConvNeXt-T has 28M parameters", FAILS),
    # ... and holds as an approximation: |28.59 - 28| / 28 = 2.1% <= 5%
    ("ConvNeXt-T has about 28M parameters", HOLDS),
    # num_params 88,591,464 rounds to 89M
    ("ConvNeXt-B has 89M parameters", HOLDS),
    # RegNet's flops are multiply-adds: _ops 0.402 GMACs; "400M" has one significant digit
    ("RegNetY-400MF is 400M FLOPs", HOLDS_AS_MACS),
    # num_params 4,344,144 rounds to 4.3M
    ("RegNetY-400MF has 4.3M parameters", HOLDS),
    # RegNet's activations are the conv layers' output elements: 3,891,496 by hand (below) rounds to 3.9M
    ("RegNetY-400MF has 3.9M activations", HOLDS),
    # ShuffleNet V2's FLOPs are multiply-adds: _ops 0.145 -> 145M (144.9M exactly), not 146M; 2 x is 290M
    ("ShuffleNet V2 1x is 146M FLOPs", FAILS),
    # within 5%: |144.9 - 146| / 146 = 0.7%, as MACs
    ("ShuffleNet V2 1x is about 146M FLOPs", HOLDS_AS_MACS),
    # num_params 1,248,424 (Table 1's own count)
    ("SqueezeNet 1.0 has 1.25M parameters", HOLDS),
    ("SqueezeNet 1.0 has exactly 1,248,424 parameters", HOLDS),
    # _ops 5.713 GMACs: "5 billion" has one significant digit, and 5.713 rounds to 6 (5% of 5 is 5.25)
    ("Inception-v3 costs 5 billion multiply-adds", FAILS),
    ("Inception-v3 costs 5.7 billion multiply-adds", HOLDS),
    # torchvision's GoogLeNet _ops 1.498 rounds to 1.5
    ("GoogLeNet keeps to 1.5 billion multiply-adds at inference", HOLDS),
]


def test_every_claim_has_its_expected_verdict() -> None:
    results = check_file(load_claims(str(FILE)))
    assert [r.claim.text for r in results] == [text for text, _ in VERDICTS]
    assert [(r.claim.text, r.verdict) for r in results] == VERDICTS


def test_exit_code_is_one_as_some_claims_fail(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FILE), "--format", "csv"]) == 1
    fails = sum(v == FAILS for _, v in VERDICTS)
    assert capsys.readouterr().out.count(",FAILS") == fails


def regnet_y_400mf_conv_outputs() -> int:
    """The 3.9M claim's number by hand, from torchvision's RegNetY-400MF layout: stem 32 maps at 112x112;
    stages of widths 48, 104, 208, 440 and depths 1, 3, 6, 6 at 56, 28, 14, 7 (bottleneck 1, so every conv
    of a block has the stage's width; SE squeezes to a quarter of the block's input width). Per block: a
    (1x1, at the input's size), b (3x3, strided in the first block), c (1x1), the first block's projection,
    and SE's two 1x1 convs on 1x1 maps."""
    total = 32 * 112 * 112
    w_in, hw_in = 32, 112
    for width, depth, hw in ((48, 1, 56), (104, 3, 28), (208, 6, 14), (440, 6, 7)):
        for i in range(depth):
            first = i == 0
            total += width * (hw_in if first else hw) ** 2 + 2 * width * hw * hw  # a, b, c
            total += width * hw * hw if first else 0  # projection
            total += (w_in if first else width) // 4 + width  # SE: squeeze, excite
        w_in, hw_in = width, hw
    return total


def test_regnet_y_400mf_activations_claim_by_hand() -> None:
    results = check_file(load_claims(str(FILE)))
    got = next(r for r in results if r.claim.text == "RegNetY-400MF has 3.9M activations")
    assert got.actual == regnet_y_400mf_conv_outputs()
