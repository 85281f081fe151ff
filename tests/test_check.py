"""archcalc check: the shipped claims files pass or fail exactly as they should; rounding; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archcalc.claims.claimsfile import load_claims
from archcalc.claims.figure import parse_value
from archcalc.claims.verdict import FAILS, HOLDS, HOLDS_AS_MACS, check_file
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError

CLAIMS = Path(__file__).resolve().parent.parent / "examples" / "claims"
SEED_FILES = sorted(p.name for p in CLAIMS.glob("seed-*.yaml"))


def test_one_claims_file_per_seed_article() -> None:
    # the five source articles (see the README's sources), numbered 000-004
    assert [name[5:8] for name in SEED_FILES] == ["000", "001", "002", "003", "004"]


@pytest.mark.parametrize("name", SEED_FILES)
def test_seed_claims_all_hold(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    results = check_file(load_claims(str(CLAIMS / name)))
    assert results and all(r.verdict == HOLDS for r in results), [r.claim.text for r in results if not r.ok]
    assert main(["check", str(CLAIMS / name), "--format", "csv"]) == 0


def test_lenet5_article_counts_are_checked() -> None:
    """The hand counts of seed article 004 (and LeCun 1998 Sec. II-B) are all in the file."""
    claims = load_claims(str(CLAIMS / "seed-004-classic-cnns.yaml")).claims
    stated = {(c.layer, c.quantity): c.figure.exact for c in claims if c.spec == "lenet5" and c.figure.kind == "exact"}
    assert stated[("C1", "trainable_params")] == (5 * 5 + 1) * 6 == 156
    assert stated[("C1", "connections")] == (5 * 5 + 1) * 6 * 28 * 28 == 122_304
    assert stated[("S2", "trainable_params")] == 2 * 6
    assert stated[("S2", "connections")] == (2 * 2 + 1) * 14 * 14 * 6 == 5_880
    assert stated[("C3", "trainable_params")] == 6 * (3 * 25 + 1) + 9 * (4 * 25 + 1) + (6 * 25 + 1) == 1_516
    assert stated[("C3", "connections")] == 1_516 * 10 * 10
    assert stated[("S4", "trainable_params")] == 2 * 16
    assert stated[("S4", "connections")] == (2 * 2 + 1) * 5 * 5 * 16 == 2_000
    assert stated[("C5", "trainable_params")] == (5 * 5 * 16 + 1) * 120 == 48_120
    assert stated[("F6", "trainable_params")] == (120 + 1) * 84 == 10_164


# Which well-known claims are false, and why (hand-derived):
#  2: (224 - 11)//4 + 1 = 54, not 55;
#  8: cs231n's rows sum to ~15.2M, not 24M;
# 10: torchvision ResNet-50 is 4.09 GMACs / 8.18 GFLOPs; 3.8 is the paper's v1 multiply-adds.
WELL_KNOWN = [
    HOLDS, FAILS, HOLDS, HOLDS, HOLDS, HOLDS, HOLDS_AS_MACS, FAILS,
    HOLDS, FAILS, HOLDS_AS_MACS, HOLDS, HOLDS, HOLDS, HOLDS, HOLDS,
]  # fmt: skip


def test_well_known_claims_verdicts() -> None:
    results = check_file(load_claims(str(CLAIMS / "well-known.yaml")))
    assert [r.verdict for r in results] == WELL_KNOWN
    alex = results[1]
    assert alex.actual == (96, (224 - 11) // 4 + 1, (224 - 11) // 4 + 1)
    assert (
        "H_out 54 = floor((H_in + 2*p_h - d_h*(k_h - 1) - 1)/s_h) + 1 = floor((224 + 2*0 - 1*(11 - 1) - 1)/4) + 1"
        in (alex.derivation)
    )
    # cs231n's VGG-16 table: INPUT plus each CONV3 / POOL2 / FC row
    rows = 224 * 224 * 3 + 2 * 224 * 224 * 64 + 112 * 112 * 64 + 2 * 112 * 112 * 128 + 56 * 56 * 128
    rows += 3 * 56 * 56 * 256 + 28 * 28 * 256 + 3 * 28 * 28 * 512 + 14 * 14 * 512 + 3 * 14 * 14 * 512 + 7 * 7 * 512
    rows += 4096 + 4096 + 1000
    assert results[7].actual == rows and results[8].actual == rows
    assert "actual activations = 15.2M" in results[7].why
    # torchvision ResNet-50: 4,089,184,256 MACs (torchinfo/_ops), FlopCounterMode 8,178,368,512
    resnet = results[9]
    assert resnet.actual == 8_178_368_512
    assert "MACs = 4.1G, FLOPs = 2 x MACs = 8.2G; neither matches" in resnet.why
    assert "3.8G is the ResNet paper Table 1" in resnet.why
    assert "FLOPs here means MACs" in results[10].why and "under `flops` (2 x MACs) it would be 7.7G" in results[10].why
    assert "under `flops` (2 x MACs) it would be 30.9G" in results[6].why  # VGG-16: 2 x 15.47G


def test_well_known_exit_code_and_formats(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(CLAIMS / "well-known.yaml")
    assert main(["check", path, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["holds"] is False
    assert [r["verdict"] for r in data["results"]] == WELL_KNOWN
    assert main(["check", path, "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "| 2 | AlexNet: a 224x224 input gives 55x55 conv1 maps" in out and "96x54x54 | FAILS |" in out
    assert main(["check", path]) == 1
    assert "13 of 16 claims hold, 3 fail" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "actual", "holds"),
    [
        ("60M", 61_100_840, True),  # 1 significant digit: [55M, 65M)
        ("60M", 65_000_000, False),
        ("60M", 54_999_999, False),
        ("60.0M", 60_049_999, True),
        ("60.0M", 60_050_000, False),
        ("~138M", 144_900_000, True),  # within 5%
        ("~138M", 145_000_000, False),
        ("138M", 138_357_544, True),
        ("15.5 GFLOPs", 15_470_264_320, True),
        ("3.8e9", 3_857_973_248, False),  # rounds to 3.9e9
        ("~3.8e9", 3_857_973_248, True),
        ("1.8 billion", 1_814_073_344, True),
        ("122,304", 122_304, True),
        ("122,304", 122_305, False),
        ("60000", 60_000, True),
    ],
)
def test_rounding_rule(text: str, actual: int, holds: bool) -> None:
    assert parse_value(text, ("f", 1)).holds(actual) is holds


def test_shapes_parse() -> None:
    for text in ("6x28x28", "[6, 28, 28]", "6@28x28", "6 \u00d7 28 \u00d7 28"):
        assert parse_value(text, ("f", 1)).shape == (6, 28, 28)
    assert parse_value([6, 28, 28], ("f", 1)).shape == (6, 28, 28)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("claims:\n  - {spec: lenet5, value: 156, quantity: params, colour: red}\n", 2, "unknown key 'colour'"),
        ("claims:\n  - spec: lenet5\n    quantity: params\n    value: 60 furlongs\n", 4, "unknown unit"),
        ("claims:\n  - {spec: lenet5, quantity: weight, value: 3}\n", 2, "unknown quantity 'weight'"),
        ("claims:\n  - {spec: lenet5, value: 3}\n", 2, "needs 'quantity'"),
        (
            "claims:\n  - {spec: lenet5, quantity: params, value: 1}\n  - {spec: nosuch, quantity: params, value: 1}\n",
            3,
            "unknown spec 'nosuch'",
        ),
        ("claims:\n  - {spec: lenet5, layer: C9, quantity: params, value: 1}\n", 2, "no layer 'C9'"),
        ("claims:\n  - {spec: lenet5, quantity: params, value: 6x28x28}\n", 2, "does not fit"),
        ("claims: []\n", 1, "'claims' is empty"),
        ("claims:\n  - {spec: lenet5, value: 156 FLOPs, quantity: params}\n", 2, "is in flops"),
        ("spec: lenet5\nclaims:\n  - {value: 1, quantity: params\n", 4, "YAML syntax error"),
    ],
)
def test_invalid_files_exit_2_with_file_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, line: int, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"archcalc: error: {path}:{line}: "), err
    assert message in err


def test_load_errors_are_archcalc_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("- just a list\n")
    with pytest.raises(ArchcalcError):
        load_claims(str(path))
