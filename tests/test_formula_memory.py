"""archcalc formula's inference memory peak (issue 12): a max of polynomials, equal to `archcalc memory`.

Oracles: the memory pass at each concrete size (SizePlan's liveness, what `archcalc memory` runs; and
model_memory on analyze()'s report at some sizes), and hand derivations of the live set written out below
(VGG-16's conv1_2, ResNet-50's first bottleneck).
"""

from __future__ import annotations

import json
import random
from importlib import resources

import jsonschema
import pytest

from archcalc.analysis.formula import MEMORY, formula
from archcalc.analysis.memory import model_memory
from archcalc.analysis.records import analyze
from archcalc.analysis.sizes import SizePlan
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import load_spec
from archcalc.render.formula_text import fixed_elements


def _check(name: str, n: int, n_report: int) -> int:
    spec = load_spec(name)
    f = formula(spec)
    plan = SizePlan(spec)
    rng = random.Random(name)
    hi = 4 * max(spec.input[1:])
    done = 0
    while done < n:
        h, w = rng.randint(1, hi), rng.randint(1, hi)
        try:
            s = plan.run((f.channels, h, w))
        except ArchcalcError:
            continue
        env = f.env(h, w)
        assert f.peak_at(h, w) == s.peak, (name, h, w)
        got = [sum(c * _mono(m, env) for m, c in f.memory[k].items()) for k in MEMORY]
        assert got == [s.counts[1], s.counts[2], s.allocated], (name, h, w)
        if done < n_report:  # the memory command's own figure, from a full report
            mem = model_memory(name, analyze(spec, (f.channels, h, w)))
            fixed = sum(c * _mono(m, env) for m, c in fixed_elements(f).items())
            assert mem.inference_peak_bytes == 4 * (fixed + f.peak_at(h, w)), (name, h, w)
        c = f.closed
        if c is not None and h % c.mod[0] == w % c.mod[1] == 0 and h >= c.least[0] and w >= c.least[1]:
            assert c.peak_at(h, w) == s.peak, (name, h, w)
        done += 1
    return done


def _mono(m: tuple[int, ...], env: list[int]) -> int:
    out = 1
    for i in m:
        out *= env[i]
    return out


@pytest.mark.parametrize("name", ["lenet5", "alexnet-227"])
def test_peak_equals_memory_at_1000_sizes(name: str) -> None:
    assert _check(name, 1000, 10) == 1000


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["resnet18", "squeezenet1-1", "googlenet", "densenet121", "mobilenet-v2", "inception-v3", "efficientnet-b0"]
)
def test_peak_equals_memory_slow(name: str) -> None:
    assert _check(name, 1000, 20) == 1000


def test_vgg16_peak_is_conv1_2_by_hand() -> None:
    """conv1_2 reads conv1_1's 64 maps at full size (its ReLU in place) and writes 64 more: 128*H*W elements,
    larger than any later stage (half the side, twice the maps: half the elements) and than the head."""
    f = formula("vgg16")
    assert f.closed is not None and [f.closed.peak] == [[{(0, 1): 128}]]
    assert f.peak_leading() == [{(0, 1): 128}]
    for h in range(32, 300, 5):
        for w in (h, h + 17, 2 * h):
            assert f.peak_at(h, w) == 2 * 64 * h * w, (h, w)


def test_resnet50_peak_by_hand() -> None:
    """For large inputs the peak is the add of layer1's first bottleneck, at H/4 x W/4: the block's input
    (64 maps, held while the block runs), the main path's bn3 (256), the downsample's bn (256) and the sum
    (256): 832 maps of (H/4)(W/4), so (64 + 3*256)/16 = 52 per input pixel where the floors are exact."""
    f = formula("resnet50")
    assert f.closed is not None and f.closed.mod == (32, 32)
    assert f.closed.peak == [{(0, 1): (64 + 3 * 256) // 16}]
    for h in range(64, 1000, 32):
        assert f.peak_at(h, h) == 832 * (h // 4) ** 2


def _schema() -> object:
    text = resources.files("archcalc").joinpath("schemas", "formula.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_cli_prints_the_peak(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formula", "vgg16"]) == 0
    out = capsys.readouterr().out
    assert "peak activations ≈ 128·H·W" in out
    assert "  peak activations = 128*H*W" in out  # the closed form
    assert main(["formula", "resnet50", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, _schema())
    assert "832*H2*W2" in data["peak_activations"]
    assert data["closed_form"]["peak_activations"] == ["52*H*W"]
    assert data["leading"]["peak_activations"] == [[{"coefficient": 52, "monomial": "H*W"}]]
    assert main(["formula", "lenet5", "--format", "html"]) == 0
    assert "peak activations" in capsys.readouterr().out
