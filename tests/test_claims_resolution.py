"""Claims at other input sizes (issue 12): 'value ... at CxHxW' and ratios between two input sizes.

Oracles: torch's FlopCounterMode on torchvision's ResNet-50 on the meta device at 224 and 448 (2 FLOPs per
conv/linear MAC), and hand formulas written below (each stage of ResNet-50 halves exactly; a strided conv's
floor makes its ratio differ from the area ratio).
"""

from __future__ import annotations

import json
from fractions import Fraction
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from archcalc.claims.claimsfile import load_claims
from archcalc.claims.verdict import FAILS, HOLDS, HOLDS_AS_MACS, check_file
from archcalc.cli.app import main
from tests.tvshim import import_torchvision

FILE = Path(__file__).resolve().parent.parent / "examples" / "claims" / "resolutions.yaml"
FC = 2048 * 1000  # ResNet-50's classifier: its MACs do not depend on the input size


def _fcm_macs(side: int) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    tv = import_torchvision()
    with torch.device("meta"):
        model = tv.models.resnet50().eval()
        x = torch.empty(1, 3, side, side)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


M224 = 8_178_368_512 // 2  # FlopCounterMode's total for torchvision's ResNet-50 at 224 (as in test_api_testing)


@pytest.mark.slow
def test_flop_counter_mode_at_224_and_448() -> None:
    """The numbers the default test uses, measured again: FlopCounterMode at both sizes."""
    m224, m448 = _fcm_macs(224), _fcm_macs(448)
    assert m224 == M224
    assert m448 == 4 * (M224 - FC) + FC


def test_resnet50_448_over_224() -> None:
    # by hand: 224 -> 112 -> 56 -> 28 -> 14 -> 7 and 448 -> ... -> 14 halve exactly, so each conv grows 4x
    m224 = M224
    m448 = 4 * (m224 - FC) + FC
    results = check_file(load_claims(str(FILE)))
    assert [r.verdict for r in results] == [HOLDS, FAILS, HOLDS, HOLDS]
    approx, exact, at, params = results
    assert approx.actual == exact.actual == Fraction(m448, m224) and approx.ratio == (m448, m224)
    assert Fraction(m448, m224) != 4 and abs(Fraction(m448, m224) - 4) <= Fraction(4 * 5, 100)
    assert at.actual == m448 and at.claim.input == "3x448x448"
    assert params.actual == 1
    # each verdict names the sizes, the values and the convention
    for r in (approx, exact):
        assert f"at 3x448x448 = {m448:,}, at 3x224x224 = {m224:,}" in r.why
        assert "macs: conv + linear multiply-accumulates" in r.why
    assert at.why.startswith("at 3x448x448: macs: ")


STRIDED = """
name: strided
input: [1, 9, 9]
layers:
  - {name: c, op: conv2d, out: 2, kernel: 3, stride: 2}
"""


def _claims(tmp_path: Path, body: str) -> str:
    (tmp_path / "strided.yaml").write_text(STRIDED, encoding="utf-8")
    path = tmp_path / "claims.yaml"
    path.write_text("spec: strided.yaml\nclaims:\n" + body, encoding="utf-8")
    return str(path)


def test_ratio_where_floors_differ(tmp_path: Path) -> None:
    """3x3 stride 2, no padding: out = floor((n - 3)/2) + 1. 9 -> 4 and 17 -> 8 (exactly 4x the area);
    10 -> 4 but 20 -> 9: 81/16, not 4. MACs = 2 maps x 9 weights x out^2."""

    def macs(n: int) -> int:
        return 2 * 9 * ((n - 3) // 2 + 1) ** 2

    path = _claims(
        tmp_path,
        "  - {input: 1x17x17, ratio_to: 1x9x9, value: 4x MACs}\n"
        "  - {input: 1x20x20, ratio_to: 1x10x10, value: 4x, quantity: macs}\n"
        "  - {input: 1x20x20, ratio_to: 1x10x10, value: 5.06x, quantity: macs}\n"
        "  - {value: 1458 MACs at 1x20x20}\n",
    )
    results = check_file(load_claims(path))
    assert [r.actual for r in results] == [
        Fraction(macs(17), macs(9)),
        Fraction(macs(20), macs(10)),
        Fraction(81, 16),
        macs(20),
    ]
    assert macs(20) == 1458
    assert [r.verdict for r in results] == [HOLDS, FAILS, HOLDS, HOLDS]


def test_flops_at_another_size_holds_as_macs(tmp_path: Path) -> None:
    path = _claims(tmp_path, "  - {quantity: flops, value: 1.46 kFLOPs at 1x20x20}\n")
    (r,) = check_file(load_claims(path))
    assert r.verdict == HOLDS_AS_MACS and r.actual == 2 * 1458


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  - {input: 1x20x20, value: 5 MACs at 1x20x20}\n", "cannot be combined with 'input'"),
        ("  - {ratio_to: 1x9x9, value: 4 MACs}\n", "a ratio must look like 4x"),
        ("  - {ratio_to: 9x, value: 4x MACs}\n", "ratio_to '9x' must look like 3x224x224"),
        ("  - {ratio_to: 1x9x9, value: 4x}\n", "needs 'quantity'"),
        ("  - {value: 5 MACs at nine}\n", "must look like 3x224x224"),
        ("  - {quantity: output_shape, ratio_to: 1x9x9, value: 4x}\n", "does not fit"),
    ],
)
def test_bad_claims_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    assert main(["check", _claims(tmp_path, body)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert message in captured.err and "claims.yaml:" in captured.err


def test_cli_json_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FILE), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    text = resources.files("archcalc").joinpath("schemas", "check.schema.json").read_text(encoding="utf-8")
    jsonschema.validate(data, json.loads(text))
    first = data["results"][0]
    assert first["ratio_to"] == "3x224x224" and first["verdict"] == "holds"
    a, b = first["ratio_of"]
    assert first["actual"] == f"{Fraction(a, b).numerator}/{Fraction(a, b).denominator}"
