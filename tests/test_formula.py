"""archcalc formula: the formula of H and W equals the calculator at every size it accepts.

Oracles: analyze() at each concrete size (a different computation: the formula is evaluated from its
polynomials and named floors, never by re-running the rules), SizePlan for the all-spec sweep (slow), and
LeNet-5's formula derived by hand below from the paper's layers.
"""

from __future__ import annotations

import json
import random
import zlib
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from archcalc.analysis.formula import Formula, formula
from archcalc.analysis.records import analyze
from archcalc.analysis.sizes import SizePlan
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import load_spec

SPECS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "specs").glob("*.yaml"))
DEFAULT = ["lenet5", "edge-filters", "alexnet-227", "zfnet"]  # the cheapest to analyze() 1,000 times
N_SIZES = 1000


def _calc(report: object) -> dict[str, object]:
    t = report.totals  # type: ignore[attr-defined]
    return {
        "output": tuple(report.output_shape),  # type: ignore[attr-defined]
        "params": t.params,
        "macs": t.macs,
        "activations": t.activations,
    }


def _sizes(seed: int, hi: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randint(1, hi), rng.randint(1, hi)) for _ in range(6 * N_SIZES)]


def _accepted(f: Formula, spec: object, sizes: list[tuple[int, int]], want: int) -> list[tuple[int, int]]:
    """The first ``want`` sizes the calculator accepts (SizePlan, the fast path; refused sizes are skipped)."""
    plan = SizePlan(spec)  # type: ignore[arg-type]
    out = []
    for h, w in sizes:
        try:
            plan.run((f.channels, h, w))
        except ArchcalcError:
            continue
        out.append((h, w))
        if len(out) == want:
            break
    return out


@pytest.mark.parametrize("name", DEFAULT)
def test_formula_equals_analyze_at_1000_sizes(name: str) -> None:
    spec = load_spec(name)
    f = formula(spec)
    sizes = _accepted(f, spec, _sizes(zlib.crc32(name.encode()), 4 * max(spec.input[1:])), N_SIZES)
    assert len(sizes) == N_SIZES
    for h, w in sizes:
        assert f.evaluate(h, w) == _calc(analyze(spec, (f.channels, h, w))), (name, h, w)


def test_ceil_mode_pools_googlenet() -> None:
    """googlenet's pools use ceil_mode (never dropping a window): the ceil expressions hold."""
    spec = load_spec("googlenet")
    f = formula(spec)
    assert any(v.kind == "ceil" for v in f.space.vars)
    plan = SizePlan(spec)
    sizes = _accepted(f, spec, _sizes(5, 900), 300)  # all 1,000 in the slow all-spec test
    assert len(sizes) == 300
    for h, w in sizes:
        s = plan.run((f.channels, h, w))
        assert f.evaluate(h, w) == {
            "output": s.shape,
            "params": s.counts[0],
            "macs": s.counts[4],
            "activations": s.counts[5],
        }
    for h, w in sizes[:30]:
        assert f.evaluate(h, w) == _calc(analyze(spec, (f.channels, h, w))), (h, w)


def test_closed_form_equals_analyze_on_its_validity_set() -> None:
    for name in [*DEFAULT, "googlenet", "resnet18"]:
        spec = load_spec(name)
        f = formula(spec)
        c = f.closed
        assert c is not None
        rng = random.Random(7)
        for _ in range(30):
            h = c.least[0] + c.mod[0] * rng.randint(0, 40)
            w = c.least[1] + c.mod[1] * rng.randint(0, 40)
            assert h % c.mod[0] == 0 and w % c.mod[1] == 0
            assert c.evaluate(h, w) == _calc(analyze(spec, (f.channels, h, w))), (name, h, w)


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_every_spec_formula_and_closed_form(name: str) -> None:
    """Every bundled spec: 1,000 accepted sizes against SizePlan, 20 against analyze, the closed form on 50."""
    spec = load_spec(name)
    f = formula(spec)
    plan = SizePlan(spec)
    sizes = _accepted(f, spec, _sizes(3, 3 * max(spec.input[1:])), N_SIZES)
    assert len(sizes) >= 200, name  # a network that accepts few sizes still gets a real check
    for h, w in sizes:
        s = plan.run((f.channels, h, w))
        want = {"output": s.shape, "params": s.counts[0], "macs": s.counts[4], "activations": s.counts[5]}
        assert f.evaluate(h, w) == want, (name, h, w)
        assert f.peak_at(h, w) == s.peak, (name, h, w)  # the live set of `archcalc memory`
    for h, w in sizes[:20]:
        assert f.evaluate(h, w) == _calc(analyze(spec, (f.channels, h, w))), (name, h, w)
    c = f.closed
    assert c is not None
    rng = random.Random(11)
    for _ in range(50):
        h, w = c.least[0] + c.mod[0] * rng.randint(0, 20), c.least[1] + c.mod[1] * rng.randint(0, 20)
        assert c.evaluate(h, w) == f.evaluate(h, w), (name, h, w)
        assert c.peak_at(h, w) == f.peak_at(h, w), (name, h, w)


def lenet5_by_hand(h: int, w: int) -> dict[str, object]:
    """LeNet-5 (specs/lenet5.yaml) at 1 x H x W, derived by hand.

    C1 5x5 (6 maps): H - 4. S2 2x2 subsample: H1 = floor((H - 4 - 2)/2) + 1. C3 5x5 (table, 60 connections
    of 16 maps): H1 - 4. S4: H2 = floor((H1 - 6)/2) + 1. C5 5x5 (120): H2 - 4; flatten 120*(H2 - 4)*(W2 - 4);
    F6 linear 84; RBF 10 (its prototypes are a buffer). Each activation repeats its layer's size.
    """
    h1, w1 = (h - 6) // 2 + 1, (w - 6) // 2 + 1
    h2, w2 = (h1 - 6) // 2 + 1, (w1 - 6) // 2 + 1
    a1, a3, a5 = (h - 4) * (w - 4), (h1 - 4) * (w1 - 4), (h2 - 4) * (w2 - 4)
    flat = 120 * a5
    params = 156 + 12 + 1516 + 32 + 48120 + (flat + 1) * 84
    macs = 25 * 6 * a1 + 6 * h1 * w1 + 25 * 60 * a3 + 16 * h2 * w2 + 25 * 16 * 120 * a5 + flat * 84 + 84 * 10
    acts = 2 * 6 * a1 + 2 * 6 * h1 * w1 + 2 * 16 * a3 + 2 * 16 * h2 * w2 + 3 * flat + 2 * 84 + 10
    return {"output": (10,), "params": params, "macs": macs, "activations": acts}


def test_lenet5_hand_derivation() -> None:
    f = formula("lenet5")
    defs = {v.name: f.space.definition(v) for v in f.space.vars[2:]}
    assert defs == {
        "H1": "floor((H - 6)/2) + 1",
        "W1": "floor((W - 6)/2) + 1",
        "H2": "floor((H1 - 6)/2) + 1",
        "W2": "floor((W1 - 6)/2) + 1",
    }
    for h in range(16, 200, 3):
        for w in range(16, 200, 7):
            assert f.evaluate(h, w) == lenet5_by_hand(h, w), (h, w)
    # H, W multiples of 4: H1 = H/2 - 2, H2 = H/4 - 3, so every count is a polynomial of H and W
    c = f.closed
    assert c is not None and c.mod == (4, 4) and c.least == (32, 32)
    for h in range(32, 400, 4):
        assert c.evaluate(h, h + 8) == lenet5_by_hand(h, h + 8)
    # the leading MAC term: 150 + 1506/4 + 58096/16 = 4157.5 per input pixel
    assert f.leading("macs") == {(0, 1): pytest.approx(4157.5)}


def _schema() -> object:
    text = resources.files("archcalc").joinpath("schemas", "formula.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formula", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "H1 = floor((H - 1)/2) + 1" in out  # conv1 7x7 s2 p3: floor((H + 2*3 - 7)/2) + 1
    assert "W1..W5: the same with W for H" in out
    assert "MACs ≈ 81,456·H·W" in out
    assert "H ≡ 0 (mod 32), W ≡ 0 (mod 32)" in out
    assert "MACs = 81456*H*W + 2048000" in out  # at 224: 4,089,184,256 (torchvision's 4.09 GMACs)
    assert main(["formula", "lenet5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, _schema())
    assert data["closed_form"]["modulus"] == [4, 4]
    assert data["leading"]["macs"] == [{"coefficient": "8315/2", "monomial": "H*W"}]


def test_cli_refuses_ceil_mode_that_drops_a_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "ceilnet.yaml"
    spec.write_text(
        "name: ceilnet\ninput: [3, 32, 32]\nlayers:\n"
        "  - {name: conv, op: conv2d, out: 4, kernel: 3}\n"
        "  - {name: pool, op: maxpool2d, kernel: 2, stride: 3, ceil_mode: true}\n",
        encoding="utf-8",
    )
    assert main(["formula", str(spec)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "layer 'pool'" in err and "ceil_mode" in err
