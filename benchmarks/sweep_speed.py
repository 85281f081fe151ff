"""How long a 1,000-size input sweep takes, from the formula and from the calculator (issues 5 and 12).

Run: python3 benchmarks/sweep_speed.py [--quick] [spec ...]   (default: every bundled spec)
Per spec, sizes 32..1031: ``plan`` is SizePlan construction (expand, lower, the liveness tables), ``formula``
the sweep as ``archcalc sweep`` runs it (building and checking the formula, compiling it, then 1,000 rows),
``calculator`` the same sweep re-running the rules per size (the sweep before issue 12), each the best of 3
from cold; ``total`` = plan + formula, what the command spends beyond start-up. Both sweeps must give equal
rows. --quick: one repetition, no calculator sweep. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from archcalc.analysis.sizes import SizePlan
from archcalc.analysis.sweep import Point, Sweeper, sweep

ROOT = Path(__file__).resolve().parents[1]


def _best(repeat: int, name: str, sizes: list[int], use_formula: bool) -> tuple[float, float, list[Point]]:
    """Best of ``repeat`` cold runs: plan construction, then the sweep on it."""
    t_plan = t_sweep = float("inf")
    out: list[Point] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        plan = SizePlan(name)
        t1 = time.perf_counter()
        out = sweep(plan, sizes, use_formula=use_formula)
        t2 = time.perf_counter()
        t_plan, t_sweep = min(t_plan, t1 - t0), min(t_sweep, t2 - t1)
    return t_plan, t_sweep, out


def main(args: list[str]) -> None:
    quick = "--quick" in args
    specs = [a for a in args if a != "--quick"] or sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    sizes = list(range(32, 32 + 1000))
    repeat = 1 if quick else 3
    print("| spec | plan | formula sweep | total | calculator sweep | rows from the formula |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for name in specs:
        t_plan, t_fast, fast = _best(repeat, name, sizes, True)
        rows = Sweeper(SizePlan(name))
        n_fast = sum(rows.fast(n, n) is not None for n in sizes) if rows.fast is not None else 0
        calc = "-"
        if not quick:
            _, t_calc, slow = _best(repeat, name, sizes, False)
            assert fast == slow, name
            calc = f"{t_calc:.3f} s"
        worst = max(worst, t_plan + t_fast)
        print(
            f"| {name} | {t_plan:.3f} s | {t_fast:.3f} s | {t_plan + t_fast:.3f} s | {calc} | {n_fast:,} |",
            flush=True,
        )
    print(f"\nslowest total: {worst:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
