"""archcalc sweep evaluates the formula (issue 12): its rows equal the calculator's at every size.

Oracles: analyze() (the calculator: output shape, MACs, activations, params, and its located error for a
refused size) and SizePlan's liveness summary through memory.figures (what `archcalc memory` prints), at
square, non-square and refused sizes. The formula's rows are checked to come from the formula (``fast``),
so a silent fallback to the calculator cannot make these tests pass.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from archcalc.analysis.memory import figures
from archcalc.analysis.records import analyze
from archcalc.analysis.sizes import SizePlan
from archcalc.analysis.sweep import Point, Sweeper, sweep
from archcalc.cli.app import main
from archcalc.errors import ArchcalcError


def _want(plan: SizePlan, h: int, w: int, dtype: str, batch: int, by_analyze: bool) -> Point:
    c = plan.spec.input[0]
    try:
        s = plan.run((c, h, w))
        if by_analyze:
            t = analyze(plan.spec, (c, h, w)).totals
            assert (t.macs, t.activations, t.params) == (s.counts[4], s.counts[5], s.counts[0])
    except ArchcalcError as err:
        if by_analyze:
            with pytest.raises(ArchcalcError) as again:
                analyze(plan.spec, (c, h, w))
            assert str(again.value) == str(err)
        return Point((h, w), None, error=str(err))
    f = figures(s, c * h * w, dtype, batch)
    return Point((h, w), s.shape, s.counts[4], s.counts[5], s.counts[0], f["inference_peak_bytes"], f["training_adam"])


def _sizes(name: str, n: int) -> list[tuple[int, int]]:
    """Small sizes (refused by most networks), squares and non-squares up to 2.5x the spec's size."""
    rng = random.Random(name)
    out = [(k, k) for k in range(1, 12)] + [(rng.randint(1, 40), rng.randint(1, 600)) for _ in range(10)]
    out += [(rng.randint(24, 560), rng.randint(24, 560)) for _ in range(n - len(out))]
    return out


def _check(name: str, n: int, n_analyze: int, dtype: str = "float32", batch: int = 1) -> None:
    plan = SizePlan(name)
    rows = Sweeper(SizePlan(name), dtype, batch)
    assert rows.fast is not None, rows.why_not
    accepted = 0
    for i, (h, w) in enumerate(_sizes(name, n)):
        got = rows.row(h, w)
        want = _want(plan, h, w, dtype, batch, i < n_analyze)
        assert got == want, (name, h, w)
        # the guards are tight for these specs: every accepted size comes from the formula, no other
        assert (rows.fast(h, w) is not None) == (want.output is not None), (name, h, w)
        accepted += want.output is not None
    assert accepted >= n // 5


@pytest.mark.parametrize("name", ["lenet5", "resnet50"])
def test_formula_rows_equal_the_calculator(name: str) -> None:
    _check(name, 200, 15)


def test_batch_and_dtype() -> None:
    _check("squeezenet1-1", 60, 0, "float16", 8)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "googlenet", "resnet50", "densenet121", "mobilenet-v2", "inception-v3"])
def test_formula_rows_equal_the_calculator_slow(name: str) -> None:
    _check(name, 200, 60)


# branch x halves H with floor((H - 1)/2) + 1, branch y with floor((H - 2)/2) + 1: equal only for even H,
# so the concat refuses every odd size (the calculator's error, not a formula row)
UNEVEN = """
name: uneven
input: [3, 32, 32]
layers:
  - name: p
    branches:
      x: [{op: conv2d, out: 2, kernel: 3, stride: 2, padding: 1}]
      y: [{op: conv2d, out: 3, kernel: 2, stride: 2}]
    merge: concat
  - {name: head, op: conv2d, out: 4, kernel: 3}
"""


def test_a_merge_of_unequal_sizes_is_refused_as_by_the_calculator(tmp_path: Path) -> None:
    spec = tmp_path / "uneven.yaml"
    spec.write_text(UNEVEN, encoding="utf-8")
    rows = Sweeper(SizePlan(str(spec)))
    assert rows.fast is not None
    plan = SizePlan(str(spec))
    for h in range(1, 40):
        for w in (h, h + 1, 2 * h):
            want = _want(plan, h, w, "float32", 1, True)
            assert rows.row(h, w) == want, (h, w)
            assert (want.output is None) == (h % 2 == 1 or w % 2 == 1 or min(h, w) < 6), (h, w)


def test_reflect_padding_sweeps_by_the_calculator(tmp_path: Path) -> None:
    """reflect padding must be smaller than the input: a check the formula's guards leave to the calculator."""
    spec = tmp_path / "reflect.yaml"
    spec.write_text(
        "name: reflect\ninput: [3, 16, 16]\nlayers:\n"
        "  - {name: c, op: conv2d, out: 4, kernel: 7, padding: 3, padding_mode: reflect}\n",
        encoding="utf-8",
    )
    rows = Sweeper(SizePlan(str(spec)))
    assert rows.fast is None and "guards" in rows.why_not
    points = sweep(SizePlan(str(spec)), list(range(1, 10)))
    assert [p.output is None for p in points] == [True, True, True] + [False] * 6  # needs 3 < H


def test_cli_sweep_with_and_without_the_formula_agree(capsys: pytest.CaptureFixture[str]) -> None:
    """100 sizes (sweep builds the formula from FORMULA_FROM = 100 on), the first 25 refused."""
    assert main(["sweep", "googlenet", "--input", "148:445:3", "--format", "csv"]) == 0
    text = capsys.readouterr().out
    plan = SizePlan("googlenet")
    for line, n in zip(text.splitlines()[1:], range(148, 446, 3), strict=True):
        p = _want(plan, n, n, "float32", 1, False)
        if p.output is None:
            assert "refused" in line
        else:
            assert f",{p.macs}," in line and f",{p.inference_bytes}," in line, line
