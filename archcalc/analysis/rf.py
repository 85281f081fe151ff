"""Receptive fields by the standard recurrence, per axis, in input pixels.

Convention (Araujo et al., "Computing receptive fields of convolutional neural networks", Distill 2019):
input pixel centres sit at 0..N-1. For one layer and one axis:

* ``size`` r: how many input pixels one output unit depends on (the theoretical field, padding included);
* ``jump`` j: the distance in input pixels between the field centres of two neighbouring output units;
* ``start``: the field centre of output unit 0 (may be negative or a half pixel).

Unit i sees input pixels [start + i*j - (r-1)/2, start + i*j + (r-1)/2]. A sliding window with kernel k,
stride s, low padding p and dilation d (effective kernel k_e = d*(k-1)+1) maps
r' = r + (k_e-1)*j, j' = j*s, start' = start + ((k_e-1)/2 - p)*j.

Each op has one rule in ``RF_RULES``; a ``pointwise`` op (declared in the op registry) without one keeps the
field, and any other op without a rule is an error, never a silent 0. A field also records where H and W sit
among the value's per-sample dims (``hw``, (1, 2) for C x H x W): ``permute`` moves them, and only the rules
registered ``any_layout`` (pointwise ops, the norms, linear, flatten, softmax, the layout ops, merges) read a
value whose H and W have moved; a window op (conv, pool) there is an error. The fields are a pass over the graph:
merges (branches, concat/add, dense feeds, ``from`` lists) report the largest field and where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from archcalc.analysis.report import Record, Report, gc_paused
from archcalc.errors import ArchcalcError
from archcalc.graph.interp import Interpreter
from archcalc.graph.ir import IN, GNode, Graph
from archcalc.ops import OPS
from archcalc.ops.conv import pads
from archcalc.ops.opaque import OPAQUE, refusal

F = Fraction


@dataclass(frozen=True)
class Axis:
    """The field along one axis. ``jump == 0`` marks a global unit (after flatten/linear: sees the whole map)."""

    size: Fraction
    jump: Fraction
    start: Fraction


@dataclass(frozen=True)
class Field:
    h: Axis
    w: Axis
    exact: bool = True  # False once a rule gives a per-unit maximum (transposed conv, uneven adaptive pool)
    via: str = ""  # for merges: the input that gives the largest field
    hw: tuple[int, int] = (1, 2)  # the per-sample dims holding H and W (a permute moves them)


@dataclass(frozen=True)
class RFRow:
    path: str
    op: str
    kind: str
    output_shape: tuple[int, ...]
    field: Field


IDENTITY_AXIS = Axis(F(1), F(1), F(0))
STD_HW = (1, 2)  # C x H x W
RFRule = Callable[[dict[str, Any], Record, Field], Field]
RF_RULES: dict[str, RFRule] = {}
ANY_LAYOUT: set[str] = set()  # ops whose rule reads Field.hw (the others need H, W at dims 1, 2)


def rf_rule(*names: str, any_layout: bool = False) -> Callable[[RFRule], RFRule]:
    def deco(fn: RFRule) -> RFRule:
        for name in names:
            RF_RULES[name] = fn
            if any_layout:
                ANY_LAYOUT.add(name)
        return fn

    return deco


def window(a: Axis, k: int, s: int, p_lo: int, d: int = 1) -> Axis:
    """The sliding-window recurrence (conv, pooling, subsample) along one axis."""
    if a.jump == 0:
        return a
    ke = d * (k - 1) + 1
    return Axis(a.size + (ke - 1) * a.jump, a.jump * s, a.start + (F(ke - 1, 2) - p_lo) * a.jump)


def transposed(a: Axis, k: int, s: int, p: int, d: int = 1) -> tuple[Axis, bool]:
    """Transposed window: output o reads input i where o = i*s - p + t*d, t in 0..k-1.

    The taps that land on a multiple of s are t = t0, t0 + s/g, ... (g = gcd(s, d)), so one output unit reads
    at most ceil(k*g/s) inputs, d/g apart: size = r + (ceil(k*g/s) - 1)*(d/g)*j, the largest over output
    positions (exact only when s divides every tap pattern evenly, i.e. s == 1). Jump j/s, start as for the
    inverse window.
    """
    if a.jump == 0:
        return a, True
    from math import gcd

    g = gcd(s, d)
    taps = -(-k * g // s)
    ke = d * (k - 1) + 1
    size = a.size + (taps - 1) * F(d, g) * a.jump
    start = a.start + (p - F(ke - 1, 2)) / s * a.jump
    return Axis(size, a.jump / s, start), s == 1


@rf_rule("conv2d", "maxpool2d", "avgpool2d")
def _window_op(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Convolution (plain, grouped or table: the spatial window is the same) and pooling."""
    k, d = a["kernel"], a.get("dilation", (1, 1))
    s = a["stride"] or a["kernel"]
    h = window(f.h, k[0], s[0], pads(a, 0)[0], d[0])  # low-side padding, as the op rule applies it
    w = window(f.w, k[1], s[1], pads(a, 1)[0], d[1])
    return replace(f, h=h, w=w, via="")


@rf_rule("subsample")
def _subsample(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """LeNet-5 subsampling: a k x k window, stride k, no padding."""
    k = a["kernel"]
    return replace(f, h=window(f.h, k, k, 0), w=window(f.w, k, k, 0), via="")


@rf_rule("conv_transpose2d", "max_unpool2d")
def _transposed_op(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Transposed conv; max-unpooling as the set of positions any switch of the pool could write."""
    k, d = a["kernel"], a.get("dilation", (1, 1))
    s = a["stride"] or a["kernel"]
    h, ok_h = transposed(f.h, k[0], s[0], a["padding"][0], d[0])
    w, ok_w = transposed(f.w, k[1], s[1], a["padding"][1], d[1])
    return Field(h, w, f.exact and ok_h and ok_w)


def adaptive_axis(a: Axis, n: int, o: int) -> tuple[Axis, bool]:
    """torch's adaptive windows [floor(i*n/o), ceil((i+1)*n/o)).

    Rule: if o divides n the windows are a plain k = s = n/o pool (exact). Otherwise the windows differ in
    length; archcalc reports the longest window L (size = r + (L-1)*j), the mean stride n/o as the jump and
    the centre of window 0 as the start, and marks the field as a per-unit maximum (not exact).
    """
    if a.jump == 0:
        return a, True
    if n % o == 0:
        return window(a, n // o, n // o, 0), True
    lengths = [-(-(i + 1) * n // o) - (i * n // o) for i in range(o)]
    longest = max(lengths)
    return Axis(a.size + (longest - 1) * a.jump, a.jump * F(n, o), a.start + F(lengths[0] - 1, 2) * a.jump), False


@rf_rule("adaptive_avgpool2d", "adaptive_maxpool2d")
def _adaptive(a: dict[str, Any], rec: Record, f: Field) -> Field:
    shape = rec.input_shape
    assert not isinstance(shape, list)  # adaptive pools read one input
    _, n_h, n_w = (int(v) for v in shape)
    o_h, o_w = (n if o is None else o for o, n in zip(a["output"], (n_h, n_w), strict=True))
    h, ok_h = adaptive_axis(f.h, n_h, o_h)
    w, ok_w = adaptive_axis(f.w, n_w, o_w)
    return Field(h, w, f.exact and ok_h and ok_w)


@rf_rule("lrn", "compress")
@rf_rule("batchnorm2d", any_layout=True)  # in eval an affine map per index of dim 0: elementwise in any layout
def _pointwise(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Elementwise, or across channels at one position (LRN, batch norm, DenseNet's 1x1 compress conv):
    the field is unchanged."""
    return replace(f, via="")


@rf_rule("softmax", any_layout=True)
def _softmax(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Softmax over channels keeps positions apart; over a spatial dim every unit sees the whole map."""
    ndim = len(rec.output_shape)
    dim = a["dim"] if a["dim"] >= 0 else a["dim"] + ndim + 1
    return replace(f, via="") if dim - 1 not in f.hw or ndim != 3 else whole_map(rec, f)


@rf_rule("flatten", "rbf", any_layout=True)
def _global(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """After flatten every unit may read the whole map: the field is the union over the map's units."""
    return whole_map(rec, f)


@rf_rule("linear", any_layout=True)
def _last_dim(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """linear (and layernorm) read the whole last dim at each position: the field spans it when it is W or H
    (a C x H x W input), and is unchanged when it is the channels (channels-last, after a permute)."""
    return spanning(rec, f, (len(rec.output_shape) - 1,))


def _span(a: Axis, n: int) -> Axis:
    return Axis(a.size + (n - 1) * a.jump, F(0), a.start + F(n - 1, 2) * a.jump)


def spanning(rec: Record, f: Field, dims: tuple[int, ...]) -> Field:
    """Every unit reads the whole extent of the per-sample ``dims``: those that hold H or W are spanned."""
    inp = rec.input_shape
    if isinstance(inp, list) or len(inp) != 3 or f.h.jump == 0:
        return replace(f, via="")
    h = _span(f.h, int(inp[f.hw[0]])) if f.hw[0] in dims else f.h
    w = _span(f.w, int(inp[f.hw[1]])) if f.hw[1] in dims else f.w
    return Field(h, w, f.exact, "", f.hw)


def whole_map(rec: Record, f: Field) -> Field:
    return spanning(rec, f, f.hw)


def largest(fields: list[tuple[str, Field]]) -> Field:
    """The merge rule: the input with the largest field (area, then height); ties keep the first."""
    best_path, best = max(fields, key=lambda pf: (pf[1].h.size * pf[1].w.size, pf[1].h.size))
    exact = all(f.exact for _, f in fields)
    return Field(best.h, best.w, exact, best_path if len(fields) > 1 else "", best.hw)


class _Largest:
    """``largest`` over a list that grows at the end: the same field, via and exactness, one input at a time."""

    __slots__ = ("best", "count", "exact", "key", "path", "seen")

    def __init__(self) -> None:
        self.best: Field | None = None
        self.key: tuple[Fraction, Fraction] = (F(0), F(0))
        self.path, self.exact, self.count, self.seen = "", True, 0, 0

    def add(self, path: str, f: Field) -> None:
        key = (f.h.size * f.w.size, f.h.size)
        if self.best is None or key > self.key:  # ties keep the first, as max() does
            self.best, self.key, self.path = f, key, path
        self.exact = self.exact and f.exact
        self.count += 1

    def field(self) -> Field:
        assert self.best is not None
        return Field(self.best.h, self.best.w, self.exact, self.path if self.count > 1 else "", self.best.hw)


@rf_rule(OPAQUE, any_layout=True)
def _opaque(a: dict[str, Any], rec: Record, f: Field) -> Field:
    raise ArchcalcError(refusal("rf", a["what"], "receptive field"))


@rf_rule("concat", "add", "mul", any_layout=True)
def _merge_op(a: dict[str, Any], rec: Record, f: Field) -> Field:
    return f  # the walker merges the inputs with largest() before calling this


def rule_for(op: str) -> RFRule | None:
    """The op's rule; a pointwise op (a property declared with the op) keeps the field without one."""
    rule = RF_RULES.get(op)
    if rule is None and op in OPS and OPS[op].pointwise:
        return _pointwise
    return rule


def reads_any_layout(op: str) -> bool:
    """Whether the op's rule follows H and W wherever a permute put them (pointwise ops do)."""
    return op in ANY_LAYOUT or (op not in RF_RULES and op in OPS and OPS[op].pointwise)


@gc_paused
def receptive_fields(graph: Graph, report: Report) -> list[RFRow]:
    """One row per record (layers and blocks), in report order."""
    prop = _FieldProp(graph, report)
    prop.run(Field(IDENTITY_AXIS, IDENTITY_AXIS))
    rows = []
    for r in report.records:
        f = prop.env[graph.by_path[r.path]]  # a block's path names its 'out' node
        assert f is not None
        rows.append(RFRow(r.path, r.op, r.kind, r.output_shape, f))
    return rows


class _FieldProp(Interpreter[Field]):
    """Fields along the graph's edges. ``via`` names the input a multi-input node took its field from; it
    survives scope boundaries (a block ending in branches names the branch) and every op clears it."""

    def __init__(self, graph: Graph, report: Report) -> None:
        super().__init__(graph)
        self.records = {r.path: r for r in report.records}
        self.dense: dict[int, _Largest] = {}  # per dense scope: the largest field of its features so far

    def layer(self, node: GNode, args: Sequence[Field]) -> Field:
        rule = rule_for(node.op)
        if rule is None:
            raise ArchcalcError(f"no receptive-field rule for op '{node.op}'", layer=node.path)
        f = self._largest(node, args) if len(args) > 1 else replace(args[0], via="")
        try:
            if f.hw != STD_HW and not reads_any_layout(node.op):
                raise ArchcalcError(
                    f"no receptive-field rule for {node.op} on a permuted layout: H and W are dims {f.hw[0] + 1} "
                    f"and {f.hw[1] + 1} of its input (the batch counted as 0), not 2 and 3; permute them back first"
                )
            return rule(node.args, self.records[node.path], f)
        except ArchcalcError as err:
            raise err.located(file=self.graph.file, line=node.line, layer=node.path) from None

    def merge(self, node: GNode, args: Sequence[Field]) -> Field:
        return self._largest(node, args)

    def _largest(self, node: GNode, args: Sequence[Field]) -> Field:
        """Inputs named by path: a branch, a layer or a block; a scope's input by its scope, else "input"."""
        nodes = self.graph.nodes
        return largest(
            [(nodes[i].path.removesuffix("@in") or "input", x) for i, x in zip(node.inputs, args, strict=True)]
        )

    def bus(self, node: GNode, args: Sequence[Field]) -> Field:
        """A dense feed's concatenation so far: the scope input ('<scope>@in') and every earlier entry.

        Each bus adds the features since the previous one to its scope's running ``largest`` (re-taking the
        largest over every feature at every bus was quadratic in the feed's length)."""
        nodes, merged = self.graph.nodes, self.graph.scopes[node.scope].merged
        run = self.dense.setdefault(node.scope, _Largest())
        while run.seen < len(merged) and merged[run.seen] < node.index:
            f = self.env[merged[run.seen]]
            if f is not None:
                run.add(nodes[merged[run.seen]].path, f)
            run.seen += 1
        return run.field()

    def enter(self, node: GNode, args: Sequence[Field]) -> Field:
        return self._plain(node, args[0])

    def exit(self, node: GNode, args: Sequence[Field]) -> Field:
        return self._plain(node, args[0])

    def _plain(self, node: GNode, f: Field) -> Field:
        """A dense feed's input read alone, by its first entry or as an empty feed's output, is a one-input
        concatenation: no via. (A ``from: <scope>@in`` elsewhere reads it as is.)"""
        if not node.inputs:
            return f
        src = self.graph.nodes[node.inputs[0]]
        scopes = self.graph.scopes
        if src.role == IN and scopes[src.scope].dense and src.scope in (node.scope, scopes[node.scope].parent):
            return replace(f, via="")
        return f


def unit_interval(a: Axis, i: int) -> tuple[Fraction, Fraction]:
    """The input pixels unit i sees along one axis (before clipping to the input)."""
    centre = a.start + i * a.jump
    half = (a.size - 1) / 2
    return centre - half, centre + half


def fmt_frac(x: Fraction) -> str:
    if x.denominator == 1:
        return f"{x.numerator:,}"
    if x.denominator == 2:
        return f"{float(x):,.1f}"
    return f"{x.numerator}/{x.denominator}"


def fmt_pair(h: Fraction, w: Fraction) -> str:
    return fmt_frac(h) if h == w else f"{fmt_frac(h)}x{fmt_frac(w)}"


from archcalc.analysis import rf_modern  # noqa: E402,F401  (registers issue 10's rules; it imports this module)
