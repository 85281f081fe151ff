"""The inference memory peak and the training allocations as formulas of H and W (``archcalc formula``).

The same liveness as sizes.py's ``SizePass`` (its tables, its frames' arithmetic), on polynomials: a live
set's size is a polynomial, and the peak is the max over the candidate live sets, one per moment that could be
the largest. A candidate is dropped only when another is provably at least as large for every accepted size
(``dominates``), so the max of the rest is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from archcalc.analysis.liveness import DENSE, PARALLEL, SEQ, ScopeTable, Tables, tables
from archcalc.analysis.polynomial import Poly, Space, Term, padd, peval, pmul, pscale
from archcalc.graph.ir import GNode, Graph

Peak = list[Poly]  # the peak is the max of these (never empty)


@dataclass(slots=True)
class MemSummary:
    peak: Peak  # most elements live at once inside the node, its inputs excluded, its output included
    fresh: Poly  # elements of the output's own storage ({}: it shares an input's storage)
    allocated: Poly  # every element allocated during the node


def _shift(peak: Peak, by: Poly) -> Peak:
    return [padd(p, by) for p in peak] if by else list(peak)


class Bounds:
    """Lower bounds of every variable over the accepted sizes: H, W >= 1, every layer's output size >= 1,
    and a floor of a polynomial with non-negative coefficients in non-negative variables is monotone."""

    def __init__(self, space: Space, least: tuple[int, int] = (1, 1)) -> None:
        self.space, self.least = space, least
        self.positive: set[int] = set()
        self._lb: list[Fraction | None] = []

    def output_dims(self, dims: Sequence[Poly]) -> None:
        for p in dims:
            if len(p) == 1 and next(iter(p)) and len(next(iter(p))) == 1 and next(iter(p.values())) == 1:
                i = next(iter(p))[0]
                if i not in self.positive:
                    self.positive.add(i)
                    self._lb = []  # recompute: a bound may rise

    def lower(self, i: int) -> Fraction | None:
        while len(self._lb) < len(self.space.vars):
            self._lb.append(self._compute(len(self._lb)))
        return self._lb[i]

    def _compute(self, i: int) -> Fraction | None:
        if i < 2:
            return Fraction(self.least[i])
        v = self.space.vars[i]
        floor: Fraction | None = Fraction(1) if i in self.positive else None
        lbs = self._lb  # every earlier variable's (a size is made from earlier ones)
        lows = [lbs[j] for m in v.num for j in m]
        if all(c >= 0 for m, c in v.num.items() if m) and all(b is not None and b >= 0 for b in lows):
            n = Fraction(peval(v.num, [b or 0 for b in lbs])) / v.den
            q = n.numerator // n.denominator if v.kind == "floor" else -(-n.numerator // n.denominator)
            mono = Fraction(q + v.shift)
            floor = mono if floor is None else max(floor, mono)
        return floor

    def dominates(self, p: Poly, q: Poly, lift: bool = False) -> bool:
        """p >= q at every accepted size, proved. Quick: d = p - q has non-negative coefficients on sizes
        bounded below by non-negative numbers, and d >= 0 at those bounds. ``lift``: also d written in each
        size's excess over its lower bound has no negative coefficient, after replacing a named size in a
        negative term by its upper bound (floor(n/d) <= n/d: the term only shrinks) as often as needed, so
        64*H1*W1 >= 64*H2*W2 is proved through H2 <= H1/2 + 1/2."""
        d = padd(p, q, -1)
        if self._quick(d):
            return True
        for _ in range(len(self.space.vars) if lift else 0):
            if self._nonneg(d):
                return True
            lifted = self._lift(d)
            if lifted is None:
                return False
            d = lifted
        return False

    def _quick(self, d: Poly) -> bool:
        for m, c in d.items():
            if m and c < 0:
                return False
            for j in m:
                b = self.lower(j)
                if b is None or b < 0:
                    return False
        env = [self.lower(j) or Fraction(0) for j in range(len(self.space.vars))]
        return peval(d, env) >= 0

    def _nonneg(self, d: Poly) -> bool:
        shifted: Poly = {}
        for m, c in d.items():
            t: Poly = {(): c}
            for j in m:
                b = self.lower(j)
                if b is None or b < 0:
                    return False
                t = pmul(t, {(j,): 1, (): b} if b else {(j,): 1})
            shifted = padd(shifted, t)
        return all(c >= 0 for c in shifted.values())

    def _lift(self, d: Poly) -> Poly | None:
        out: Poly = {}
        changed = False
        for m, c in d.items():
            sizes = [j for j in m if j >= 2]
            if c >= 0 or not sizes:
                out = padd(out, {m: c})
                continue
            j = max(sizes)  # the latest size: its bound is in earlier ones
            rest = list(m)
            rest.remove(j)
            if any((b := self.lower(i)) is None or b < 0 for i in rest):
                return None  # the rest of the term must be >= 0 for a larger factor to shrink it
            v = self.space.vars[j]
            up = Fraction(v.den - 1, v.den) if v.kind == "ceil" else 0
            bound = padd(pscale(v.num, Fraction(1, v.den)), {(): v.shift + up} if v.shift + up else {})
            out = padd(out, pmul({tuple(rest): c}, bound))
            changed = True
        return out if changed else None


def prune(peak: Peak, bounds: Bounds, lift: bool = False) -> Peak:
    """Drop repeats and candidates another one dominates (``Bounds.dominates``); at least one stays."""
    seen: dict[tuple[object, ...], Poly] = {}
    for p in peak:
        seen.setdefault(tuple(sorted(p.items())), p)
    cands = list(seen.values())
    keep: list[Poly] = []
    for i, q in enumerate(cands):
        if not any(
            bounds.dominates(p, q, lift) and (j < i or not bounds.dominates(q, p, lift))
            for j, p in enumerate(cands)
            if j != i
        ):
            keep.append(q)
    return keep or cands[:1]


def prune_closed(peak: Peak, least: tuple[int, int]) -> Peak:
    """``prune`` for polynomials of H >= least[0] and W >= least[1] alone (the closed form's region)."""
    return prune(peak, Bounds(Space(), least), lift=True)


class _Frame:
    def __init__(self, table: ScopeTable, x: Poly) -> None:
        self.table = table
        self.peak: Peak = [{}]
        self.live: Poly = {}
        self.allocated: Poly = {}
        self.sizes: list[Poly] = [{}] * table.n
        self.cur: Poly = x if table.kind == DENSE else {}

    def step(self, i: int, s: MemSummary) -> None:
        t, kind = self.table, self.table.kind
        if kind == DENSE:
            self.peak += _shift(s.peak, padd(self.live, self.cur))
            self.live = padd(self.live, s.fresh)
            self.allocated = padd(self.allocated, padd(self.cur, s.allocated))
            return
        self.peak += _shift(s.peak, self.live)
        self.allocated = padd(self.allocated, s.allocated)
        if kind == PARALLEL:
            self.live = padd(self.live, s.fresh)
            return
        self.sizes[i] = s.fresh
        if t.keep[i]:
            self.live = padd(self.live, s.fresh)
        for o in t.dies[i]:
            self.live = padd(self.live, self.sizes[o], -1)

    def finish(self, bounds: Bounds) -> MemSummary:
        t = self.table
        if t.kind == DENSE:  # the final concat, beside every held output
            self.peak.append(padd(self.live, self.cur))
            return MemSummary(prune(self.peak, bounds), self.cur, padd(self.allocated, self.cur))
        if t.kind == SEQ:
            fresh = self.sizes[t.out_owner] if t.out_owner >= 0 else {}
            return MemSummary(prune(self.peak, bounds), fresh, self.allocated)
        return MemSummary(prune(self.peak, bounds), self.cur, self.allocated)


def _elements(shape: Sequence[Term]) -> Poly:
    out: Term | int = 1
    for d in shape:
        out = d * out
    return out.poly if isinstance(out, Term) else {(): out}


class PeakTracker:
    """Called by the formula pass at each node; ``result`` is the root's summary once the walk is done."""

    def __init__(self, graph: Graph, space: Space, t: Tables | None = None) -> None:
        self.t = t if t is not None else tables(graph)
        self.bounds = Bounds(space)
        self.frames: list[_Frame] = []
        self.result: MemSummary | None = None

    def enter(self, node: GNode, x: Sequence[Term]) -> None:
        self.frames.append(_Frame(self.t.scopes[node.scope], _elements(x)))

    def exit(self, node: GNode) -> MemSummary:
        s = self.frames.pop().finish(self.bounds)
        if self.frames:
            self.step(node.scope, s)
        else:
            self.result = s
        return s

    def step(self, scope: int, s: MemSummary) -> None:
        """Scope ``scope`` has run (or its memoised summary stands in for it) inside the current frame."""
        self.frames[-1].step(self.t.scopes[scope].pos, s)

    def layer(self, node: GNode, n_inputs: int, shape: Sequence[Term], size: Poly) -> None:
        """A layer ran: its output has ``shape`` and ``size`` elements."""
        self.bounds.output_dims([d.poly for d in shape if any(m for m in d.poly)])
        if self.t.alias[node.index]:
            s = MemSummary([{}], {}, {})
        else:
            both = padd(size, size) if node.op in ("add", "mul") and n_inputs > 2 else size
            s = MemSummary([both], size, both)  # a + b + c: the old partial sum is alive too
        self.frames[-1].step(self.t.pos[node.index], s)

    def merge_output(self, shape: Sequence[Term]) -> None:
        frame = self.frames[-1]
        size = _elements(shape)
        both = padd(size, size) if frame.table.add3 else size
        frame.peak.append(padd(frame.live, both))
        frame.allocated = padd(frame.allocated, both)
        frame.cur = size

    def bus(self, shape: Sequence[Term]) -> None:
        self.frames[-1].cur = _elements(shape)
