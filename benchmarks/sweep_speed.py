"""How long a 1,000-point input sweep takes (issue 5: resnet152 must take under a second).

Run: python3 benchmarks/sweep_speed.py [spec ...]
Times SizePlan construction (expand, lower and the liveness tables, once) and the sweep itself separately,
best of 3, and compares one analyze() per point for scale. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import contextlib

from archcalc.analysis.records import analyze
from archcalc.analysis.sizes import SizePlan
from archcalc.analysis.sweep import sweep
from archcalc.errors import ArchcalcError


def main(specs: list[str]) -> None:
    sizes = list(range(32, 32 + 1000))  # 1,000 square sizes, 32..1031
    for name in specs:
        t0 = time.perf_counter()
        plan = SizePlan(name)
        t_compile = time.perf_counter() - t0
        best = float("inf")
        for _ in range(3):
            plan.clear()  # every repetition starts cold
            t0 = time.perf_counter()
            points = sweep(plan, sizes)
            best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for n in sizes[:20]:
            with contextlib.suppress(ArchcalcError):
                analyze(name, (plan.spec.input[0], n, n))
        per_analyze = (time.perf_counter() - t0) / 20
        ok = sum(p.output is not None for p in points)
        print(
            f"{name:14s} compile {t_compile * 1000:6.1f} ms | sweep of {len(sizes)} sizes {best:.3f} s "
            f"({ok} accepted) | analyze() per size {per_analyze * 1000:.1f} ms -> {per_analyze * len(sizes):.1f} s"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet152", "resnet50", "vgg16", "googlenet", "densenet121"])
