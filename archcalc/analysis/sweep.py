"""Input-size sweeps and the smallest accepted input, on a compiled SizePlan (pure math, no torch).

A long sweep evaluates the network's formula (formula.py, compiled by formula_eval.py) and asks the
calculator only where the formula's guards fail. A refused size carries the located error ``table`` gives
for that input (file:line: layer: message).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.analysis.formula import formula
from archcalc.analysis.formula_eval import Values, compiled
from archcalc.analysis.memory import dtype_size, figures
from archcalc.analysis.sizes import SizePlan, Summary
from archcalc.errors import ArchcalcError, show
from archcalc.frontend.argtypes import MAX_SIZE
from archcalc.frontend.spec import Spec


@dataclass(frozen=True)
class Point:
    size: tuple[int, int]
    output: tuple[int, ...] | None  # None: the network refuses this input
    macs: int = 0
    activations: int = 0
    params: int = 0
    inference_bytes: int = 0
    training_adam_bytes: int = 0
    error: str = ""


FORMULA_FROM = 100  # sizes: below this, building the formula costs more than it saves
MAX_POINTS = 10_000  # sizes in one sweep, and minsize's --limit: each is a full pass over the graph
_RANGE = re.compile(r"[0-9]{1,30}(:[0-9]{1,30}){0,2}")  # ASCII digits only, as --input elsewhere


def parse_range(text: str) -> list[int]:
    """'32:1024:32' -> 32, 64, ..., 1024 (inclusive); '224' -> [224]; 'a:b' steps by 1.

    At most MAX_POINTS sizes, each at most MAX_SIZE (the limit --input has everywhere else).
    """
    if not _RANGE.fullmatch(text):
        raise ArchcalcError(f"--input {show(text)} must look like START:STOP:STEP, e.g. 32:1024:32")
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        parts.append(parts[0])
    start, stop, step = (*parts, 1)[:3]
    if start < 1 or stop < start or step < 1:
        raise ArchcalcError(f"--input {show(text)}: need 1 <= START <= STOP and STEP >= 1")
    if stop > MAX_SIZE:
        raise ArchcalcError(f"--input {show(text)}: input size {stop:,} is larger than the limit {MAX_SIZE:,}")
    sizes = range(start, stop + 1, step)
    if len(sizes) > MAX_POINTS:
        raise ArchcalcError(
            f"--input {show(text)} gives {len(sizes):,} sizes; the limit is {MAX_POINTS:,} (use a larger STEP)"
        )
    return list(sizes)


def image_input(spec: Spec, command: str) -> tuple[int, int, int]:
    """The spec's C x H x W input; a flat ([F]) or 1-d ([C, L]) input has no square sides to vary."""
    if len(spec.input) != 3:
        raise ArchcalcError(
            f"{command} varies the height and width of a C x H x W input; this spec's input is {show(list(spec.input))}",
            file=spec.origin,
            line=spec.raw.line_of("input") or None,
        )
    c, h, w = spec.input
    return c, h, w


class Sweeper:
    """One sweep row per size: from the compiled formula where it holds, else from the calculator.

    The calculator answers every size the formula's guards do not vouch for (a refused size gets its located
    error, as in ``table``), and every size of a spec with no formula (docs/performance.md lists when).
    """

    def __init__(self, plan: SizePlan, dtype: str = "float32", batch: int = 1, use_formula: bool = True) -> None:
        self.plan, self.dtype, self.batch = plan, dtype, batch
        self.channels = image_input(plan.spec, "sweep")[0]
        dtype_size(dtype)  # an unknown dtype is refused before any size runs
        self.fast: Callable[[int, int], Values | None] | None = None
        self.why_not = ""
        if use_formula:
            try:
                f = formula(plan.spec, plan.sets, plan=plan, closed=False)
            except (ArchcalcError, ArithmeticError, RuntimeError, TypeError, ValueError) as err:
                self.why_not = str(err)  # the formula is only a shortcut: the calculator answers every size
            else:
                if f.guards.complete:
                    self.fast = compiled(f)
                else:
                    self.why_not = "a layer checks its input size in a way the formula's guards do not follow"

    def row(self, h: int, w: int) -> Point:
        v = self.fast(h, w) if self.fast is not None else None
        if v is None:
            try:
                s = self.plan.run((self.channels, h, w))
            except ArchcalcError as err:
                return Point((h, w), None, error=str(err))
        else:
            s = Summary(v.output, v.counts, v.peak, 0, v.allocated)
        f = figures(s, self.channels * h * w, self.dtype, self.batch)
        return Point(
            (h, w), s.shape, s.counts[4], s.counts[5], s.counts[0], f["inference_peak_bytes"], f["training_adam"]
        )


def sweep(
    plan: SizePlan,
    sizes: list[int],
    dtype: str = "float32",
    batch: int = 1,
    tick: Callable[[], None] | None = None,
    use_formula: bool | None = None,
) -> list[Point]:
    """One Point per square input size (channels from the spec). The formula is built (about as long as
    100 sizes on the calculator) when ``use_formula`` says so, by default for FORMULA_FROM sizes or more."""
    rows = Sweeper(plan, dtype, batch, len(sizes) >= FORMULA_FROM if use_formula is None else use_formula)
    points = []
    for n in sizes:
        points.append(rows.row(n, n))
        if tick is not None:
            tick()
    return points


@dataclass(frozen=True)
class MinSize:
    square: int
    height: int  # with the spec's width
    width: int  # with the spec's height
    failure: str  # analyze()'s error just below the square size ('' if 1 works)
    gaps: list[int]  # square sizes above the minimum that fail again (non-monotonic)
    base: tuple[int, int, int] = (0, 0, 0)  # the C x H x W input whose channels and other axis were kept


def _works(plan: SizePlan, shape: tuple[int, ...]) -> bool:
    try:
        plan.run(shape)
    except ArchcalcError:
        return False
    return True


def _smallest(ok: Callable[[int], bool], limit: int) -> int:
    """The smallest n in 1..limit with ok(n), by a linear scan (exact even when ok is not monotonic)."""
    for n in range(1, limit + 1):
        if ok(n):
            return n
    raise ArchcalcError(f"no input size up to {limit} works")


def min_size(plan: SizePlan, limit: int = 4096, check_above: int = 256, base: tuple[int, ...] | None = None) -> MinSize:
    """Smallest square input, and per axis with the other axis at the base input's size (the spec's, or ``base``:
    --input), where every layer works; channels from the same input."""
    from archcalc.analysis.records import analyze

    if base is None:
        c, h, w = image_input(plan.spec, "minsize")
    elif len(base) == 3:
        c, h, w = base
    else:
        raise ArchcalcError(
            f"--input: minsize varies the height and width of a C x H x W input, got {show(list(base))}"
        )
    if not 1 <= limit <= MAX_POINTS:
        raise ArchcalcError(f"--limit {limit:,} must be from 1 to {MAX_POINTS:,}")
    square = _smallest(lambda n: _works(plan, (c, n, n)), limit)
    height = _smallest(lambda n: _works(plan, (c, n, w)), limit)
    width = _smallest(lambda n: _works(plan, (c, h, n)), limit)
    failure = ""
    if square > 1:
        try:
            analyze(plan.spec, (c, square - 1, square - 1), plan.sets)
        except ArchcalcError as err:  # the calculator's located message: the first layer that fails
            failure = str(err)
    gaps = [n for n in range(square + 1, square + check_above + 1) if not _works(plan, (c, n, n))]
    return MinSize(square, height, width, failure, gaps, (c, h, w))


def min_size_json(plan: SizePlan, m: MinSize, limit: int) -> dict[str, Any]:
    c, h, w = m.base
    return {
        "model": plan.spec.name,
        "input": [c, h, w],
        "limit": limit,
        "square": [c, m.square, m.square],
        "height": [c, m.height, w],
        "width": [c, h, m.width],
        "failure": m.failure or None,
        "gaps": m.gaps,
    }


def points_json(points: list[Point]) -> list[dict[str, Any]]:
    return [
        {
            "input": list(p.size),
            "output": list(p.output) if p.output is not None else None,
            "macs": p.macs,
            "activations": p.activations,
            "params": p.params,
            "inference_bytes": p.inference_bytes,
            "training_adam_bytes": p.training_adam_bytes,
            "error": p.error,
        }
        for p in points
    ]
