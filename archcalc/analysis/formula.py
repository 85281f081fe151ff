"""Shapes and costs as exact functions of the input size H x W (``archcalc formula``).

Nothing here restates a shape rule: every layer's op rule runs once more, on ``Term``s (polynomial.py), which
carry their value at a sample size (driving the rule's checks, as ``ExplainMath`` does for one size) and their
polynomial in H, W and the named floor sizes the rules create. The totals are the sums the calculator takes.

The closed form: with H a multiple of m_H (and W of m_W), every floor divides exactly; m is the least common
multiple of the denominators the divisions leave on H and W, so there each size is affine in H and W and every
count a polynomial in H and W alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from archcalc.analysis.formula_guards import Guards, refuse, unguarded
from archcalc.analysis.formula_memory import MemSummary, PeakTracker, prune, prune_closed
from archcalc.analysis.liveness import Tables
from archcalc.analysis.polynomial import Coef, FormulaError, H, Poly, Space, Term, W, const, padd, peval, pmul, pscale
from archcalc.analysis.records import located
from archcalc.analysis.report import Shape, gc_paused
from archcalc.analysis.sizes import SizePlan
from archcalc.errors import ArchcalcError, ShapeError
from archcalc.frontend.spec import Spec
from archcalc.graph.interp import Interpreter
from archcalc.graph.ir import GNode, Graph
from archcalc.ops import OPS
from archcalc.ops.layers import MERGES

COUNTS = ("params", "macs", "activations")
MEMORY = ("trainable", "buffers", "allocated")  # what the memory figures need besides params and the peak
_SUMMARY_INDEX = {"params": 0, "macs": 4, "activations": 5}  # in SizePlan's counts tuple

Dims = tuple[Term, ...]


@dataclass
class ClosedForm:
    """Exact for H = a*mod[0] >= least[0] and W = b*mod[1] >= least[1]: polynomials in H and W only."""

    mod: tuple[int, int]
    least: tuple[int, int]
    output: tuple[Poly, ...]
    counts: dict[str, Poly]
    peak: list[Poly]  # the live-activation peak is the max of these (dominated ones dropped for the region)

    def peak_at(self, h: int, w: int) -> int:
        return max(_whole(peval(p, [h, w])) for p in self.peak)

    def evaluate(self, h: int, w: int) -> dict[str, Any]:
        env = [h, w]
        return {
            "output": tuple(_whole(peval(p, env)) for p in self.output),
            **{k: _whole(peval(p, env)) for k, p in self.counts.items()},
        }


@dataclass
class Formula:
    model: str
    channels: int
    sample: tuple[int, int]
    space: Space
    output: tuple[Poly, ...]
    counts: dict[str, Poly]
    layers: list[tuple[str, tuple[Poly, ...]]]  # each layer's output shape, for locating a disagreement
    memory: dict[str, Poly]  # MEMORY's polynomials (elements, batch 1)
    peak: list[Poly]  # the live-activation peak (elements, batch 1, input excluded) is the max of these
    guards: Guards
    closed: ClosedForm | None = None

    def env(self, h: int, w: int) -> list[int]:
        env = [h, w]
        for v in self.space.vars[2:]:
            env.append(v.value(env))
        return env

    def evaluate(self, h: int, w: int) -> dict[str, Any]:
        """Output shape and counts at H x W, from the formula alone."""
        env = self.env(h, w)
        return {
            "output": tuple(_whole(peval(p, env)) for p in self.output),
            **{k: _whole(peval(p, env)) for k, p in self.counts.items()},
        }

    def peak_at(self, h: int, w: int) -> int:
        env = self.env(h, w)
        return max(_whole(peval(p, env)) for p in self.peak)

    def leading(self, key: str) -> Poly:
        """The highest-degree terms of a count (its growth for large H, W), from the closed form."""
        p = self.closed.counts[key] if self.closed else self.counts[key]
        return _top(p)

    def peak_leading(self) -> list[Poly]:
        """The peak's growth for large H, W: the largest leading terms of the closed form's live sets
        (one, when they all grow as c*H*W; [] without a closed form)."""
        if self.closed is None:
            return []
        tops = [_top(p) for p in self.closed.peak]
        degree = max(len(m) for t in tops for m in t) if any(tops) else 0
        tops = [t for t in tops if max((len(m) for m in t), default=0) == degree]
        if all(len(t) == 1 and t.keys() == tops[0].keys() for t in tops):
            return [max(tops, key=lambda t: next(iter(t.values())))]
        return list({tuple(sorted(t.items())): t for t in tops}.values())


def _top(p: Poly) -> Poly:
    top = max((len(m) for m in p), default=0)
    return {m: c for m, c in p.items() if len(m) == top}


def _whole(x: Coef) -> int:
    f = Fraction(x)
    if f.denominator != 1:
        raise RuntimeError(f"internal: a formula evaluated to the non-integer {f}")
    return f.numerator


def _key(x: Dims) -> tuple[object, ...]:
    return tuple(tuple(sorted(d.poly.items())) for d in x)


class FormulaPass(Interpreter[Dims]):
    """The records pass's walk, on Terms: shapes per node, counts summed over layers, the live sets."""

    def __init__(self, graph: Graph, space: Space, t: Tables | None = None) -> None:
        super().__init__(graph)
        self.m = space
        self.totals = {k: space.lift(0) for k in (*COUNTS, "trainable", "buffers")}
        self.layers: list[tuple[str, tuple[Poly, ...]]] = []
        self.live = PeakTracker(graph, space, t)
        self.guards = Guards([])
        self.memo: dict[Any, tuple[Dims, dict[str, Term], MemSummary]] = {}
        self.opened: list[tuple[Any, dict[str, Term]]] = []
        self.layer_memo: dict[Any, tuple[Dims, dict[str, Term]]] = {}

    def enter(self, node: GNode, args: Sequence[Dims]) -> Dims:
        """A closed scope already run on the same input polynomials (ResNet's repeated blocks) is skipped:
        its counts and live sets are the same (the sweep's memo, on formulas)."""
        table = self.live.t.scopes[node.scope]
        if table.closed:
            key = (table.key, _key(args[0]))
            hit = self.memo.get(key)
            if hit is not None:
                out, delta, mem = hit
                for k, v in delta.items():
                    self.totals[k] = self.totals[k] + v
                self.live.step(node.scope, mem)
                self.skip(node.scope, out)
                return args[0]
            self.opened.append((key, dict(self.totals)))
        self.live.enter(node, args[0])
        return args[0]

    def exit(self, node: GNode, args: Sequence[Dims]) -> Dims:
        mem = self.live.exit(node)
        if self.live.t.scopes[node.scope].closed:
            key, before = self.opened.pop()
            self.memo[key] = (args[0], {k: self.totals[k] - v for k, v in before.items()}, mem)
        return args[0]

    def _equal(self, args: Sequence[Dims], skip: int | None) -> None:
        """The sizes a merge compares: all but dim ``skip`` (``skip`` None: add and mul, where a 1 broadcasts).
        Constants were checked at the sample size."""
        for x in args[1:]:
            for i, (a, b) in enumerate(zip(x, args[0], strict=False)):
                p, q = a.poly, b.poly
                if i == skip or p == q or not (any(p.keys() - {()}) or any(q.keys() - {()})):
                    continue
                if skip is None and (p == {(): 1} or q == {(): 1}):
                    continue
                if (p, q) not in self.guards.equal:
                    self.guards.equal.append((p, q))

    def layer(self, node: GNode, args: Sequence[Dims]) -> Dims:
        opdef = OPS[node.op]
        refuse(node, args)
        key = (self.live.t.layer_keys[node.index], tuple(_key(x) for x in args))
        hit = self.layer_memo.get(key)  # equal op args and input polynomials: equal results (dense layers)
        if hit is None:
            hit = self.layer_memo[key] = self._rule(node, args)
        shape, counts = hit
        for k, value in counts.items():
            self.totals[k] = self.totals[k] + value
        self.layers.append((node.path, tuple(d.poly for d in shape)))
        self.guards.complete = self.guards.complete and not unguarded(node, args)
        if opdef.many_inputs:
            self._equal(args, node.args.get("dim", 1) - 1 if node.op == "concat" else None)
        self.live.layer(node, len(args), shape, counts["activations"].poly)
        return shape

    def _rule(self, node: GNode, args: Sequence[Dims]) -> tuple[Dims, dict[str, Term]]:
        opdef = OPS[node.op]
        try:
            res = opdef.rule(node.args, list(args) if opdef.many_inputs else args[0], self.m)
        except (ShapeError, FormulaError) as err:
            raise located(self.graph, node, err) from None
        shape = tuple(self.m.lift(d) for d in res.shape)
        acts = self.m.lift(1)
        for d in shape:
            acts = acts * d
        trainable = res.params if res.trainable is None else res.trainable
        values = (res.params, res.macs, acts, trainable, res.buffers)
        if node.shares >= 0:  # its weights count at their owner (checked by the records pass)
            values = (0, res.macs, acts, 0, 0)
        return shape, {k: self.m.lift(v) for k, v in zip(self.totals, values, strict=True)}

    def merge(self, node: GNode, args: Sequence[Dims]) -> Dims:
        shape = self._merge(node, node.op, args)
        self._equal(args, 0 if node.op == "concat" else None)
        self.live.merge_output(shape)
        return shape

    def bus(self, node: GNode, args: Sequence[Dims]) -> Dims:
        shape = self._merge(node, "concat", args)
        self._equal(args, 0)
        self.live.bus(shape)
        return shape

    def _merge(self, node: GNode, how: str, args: Sequence[Dims]) -> Dims:
        try:
            shapes: Any = args  # Terms stand in for the rules' ints
            return tuple(self.m.lift(d) for d in MERGES[how](shapes, self.m).shape)
        except (ShapeError, FormulaError) as err:
            raise located(self.graph, node, err) from None


@gc_paused
def formula(
    spec_or_path: Spec | str,
    sets: dict[str, Any] | None = None,
    verify: int = 6,
    plan: SizePlan | None = None,
    closed: bool = True,
) -> Formula:
    """The network's output shape and counts as exact formulas of H and W (checked at ``verify`` sizes against
    ``plan``, the calculator: given, it also supplies the spec and its graph; ``closed``: find the closed form and
    prune the peak's live sets with the slower, stronger test: for reading; a sweep needs neither)."""
    plan = plan if plan is not None else SizePlan(spec_or_path, sets)
    spec, graph, sets = plan.spec, plan.graph, plan.sets
    if len(spec.input) != 3:
        raise FormulaError(f"formula needs a C x H x W input; {spec.name}'s input is {list(spec.input)}")
    c, h0, w0 = spec.input
    sample = (2 * h0, 2 * w0) if _accepts(plan, (c, 2 * h0, 2 * w0)) else (h0, w0)
    space = Space()
    x = (space.lift(c), space.term(sample[0], {(H,): 1}), space.term(sample[1], {(W,): 1}))
    p = FormulaPass(graph, space, plan.sizes.t)
    out = p.run(x)
    space.finish()
    assert p.live.result is not None
    mem = p.live.result
    f = Formula(
        spec.name,
        c,
        sample,
        space,
        tuple(d.poly for d in out),
        {k: p.totals[k].poly for k in COUNTS},
        p.layers,
        {"trainable": p.totals["trainable"].poly, "buffers": p.totals["buffers"].poly, "allocated": mem.allocated},
        prune(mem.peak, p.live.bounds, lift=closed),  # per scope only the quick test ran; lift for reading
        p.guards,
    )
    _verify(f, plan, spec, sets, [(h0, w0), sample, *_probe_sizes(h0, w0, verify)])
    if closed:
        f.closed = closed_form(f, plan)
    return f


def _probe_sizes(h0: int, w0: int, n: int) -> list[tuple[int, int]]:
    out = []
    for i in range(n):
        out.append((max(1, h0 + 7 * i - 9), max(1, w0 + 3 * i + 5)))
    return out


def _accepts(plan: SizePlan, shape: Shape) -> bool:
    try:
        plan.run(shape)
    except ArchcalcError:
        return False
    return True


def _verify(f: Formula, plan: SizePlan, spec: Spec, sets: dict[str, Any] | None, sizes: list[tuple[int, int]]) -> None:
    """The formula must give the calculator's numbers; a disagreement names the first layer that differs."""
    for h, w in sizes:
        try:
            s = plan.run((f.channels, h, w))
        except ArchcalcError:
            continue
        got = f.evaluate(h, w)
        want = {"output": tuple(s.shape), **{k: s.counts[i] for k, i in _SUMMARY_INDEX.items()}}
        env = f.env(h, w)
        mem = [_whole(peval(f.memory[k], env)) for k in MEMORY]
        if mem != [s.counts[1], s.counts[2], s.allocated] or f.peak_at(h, w) != s.peak:
            raise FormulaError(f"{f.model}: the live sets are not one expression of H and W (they differ at {h}x{w})")
        if got != want:
            raise FormulaError(_disagreement(f, spec, sets, h, w))


def _disagreement(f: Formula, spec: Spec, sets: dict[str, Any] | None, h: int, w: int) -> str:
    from archcalc.analysis.records import analyze

    report = analyze(spec, (f.channels, h, w), sets)
    env = f.env(h, w)
    shapes = {r.path: r.output_shape for r in report.layers}
    for path, dims in f.layers:
        if tuple(_whole(peval(p, env)) for p in dims) != tuple(shapes.get(path, ())):
            return f"layer '{path}': its output size is not one expression of H and W (it differs at {h}x{w})"
    return f"{f.model}: a count is not one expression of H and W (it differs at {h}x{w})"


def _subst(p: Poly, closed: list[Poly]) -> Poly:
    out: Poly = {}
    for mono, c in p.items():
        t: Poly = {(): c}
        for i in mono:
            t = pmul(t, closed[i])
        out = padd(out, t)
    return out


def closed_form(f: Formula, plan: SizePlan) -> ClosedForm | None:
    """Every size affine in H and W where every floor is exact: the moduli, the least sizes, the polynomials."""
    mod = [1, 1]
    closed: list[Poly] = [{(H,): 1}, {(W,): 1}]
    for v in f.space.vars[2:]:
        q = pscale(_subst(v.num, closed), Fraction(1, v.den))
        for mono, c in q.items():
            den = Fraction(c).denominator
            for axis in (H, W):
                if mono and axis in mono:
                    mod[axis] = mod[axis] * den // math.gcd(mod[axis], den)
        c0 = Fraction(const(q))
        whole = c0.numerator // c0.denominator if v.kind == "floor" else -(-c0.numerator // c0.denominator)
        rest = {m: c for m, c in q.items() if m}
        closed.append(padd(rest, {(): whole + v.shift}))
    least = _least(f, plan, (mod[0], mod[1]))
    if least is None:
        return None
    return ClosedForm(
        (mod[0], mod[1]),
        least,
        tuple(_subst(p, closed) for p in f.output),
        {k: _subst(p, closed) for k, p in f.counts.items()},
        prune_closed([_subst(p, closed) for p in f.peak], least),
    )


def _least(f: Formula, plan: SizePlan, mod: tuple[int, int], limit: int = 4096) -> tuple[int, int] | None:
    """The smallest multiple of each modulus the network accepts (the other side at the sample size)."""
    out = []
    for axis in (H, W):
        k = 1
        while k * mod[axis] <= max(limit, 4 * mod[axis]):
            size = k * mod[axis]
            shape = (f.channels, size, f.sample[1]) if axis == H else (f.channels, f.sample[0], size)
            if _accepts(plan, shape):
                break
            k += 1
        else:
            return None
        out.append(k * mod[axis])
    return out[0], out[1]
