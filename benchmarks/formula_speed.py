"""Evaluating ``archcalc formula`` against re-running the calculator, per input size (issue 12).

Run: python3 benchmarks/formula_speed.py [spec ...]
Times building the formula (the rules re-run on symbols once, plus its checks), then 1,000 square sizes
evaluated from the formula against SizePlan (the sweep's memoised calculator) on the same sizes, and checks
that both give the same numbers. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from archcalc.analysis.formula import formula
from archcalc.analysis.sizes import SizePlan
from archcalc.errors import ArchcalcError


def main(specs: list[str]) -> None:
    sizes = list(range(32, 32 + 1000))
    print(f"{'spec':20s} {'build':>8s} {'formula/1000':>13s} {'SizePlan/1000':>14s} {'speed-up':>9s}")
    for name in specs:
        t0 = time.perf_counter()
        f = formula(name)
        t_build = time.perf_counter() - t0
        plan = SizePlan(name)
        c = f.channels
        ok = []
        for n in sizes:
            try:
                plan.run((c, n, n))
                ok.append(n)
            except ArchcalcError:
                pass
        plan.clear()
        t0 = time.perf_counter()
        got = [f.evaluate(n, n) for n in ok]
        t_formula = time.perf_counter() - t0
        t0 = time.perf_counter()
        want = [plan.run((c, n, n)) for n in ok]
        t_plan = time.perf_counter() - t0
        for g, s in zip(got, want, strict=True):
            assert g["macs"] == s.counts[4] and g["activations"] == s.counts[5] and g["output"] == s.shape
        scale = 1000 / max(len(ok), 1)
        print(
            f"{name:20s} {t_build:7.2f}s {t_formula * scale * 1e3:11.1f}ms {t_plan * scale * 1e3:12.1f}ms "
            f"{t_plan / t_formula:8.0f}x"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["lenet5", "resnet50", "resnet152", "densenet121", "efficientnet-b0"])
