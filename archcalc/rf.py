"""Receptive fields by the standard recurrence, per axis, in input pixels.

Convention (Araujo et al., "Computing receptive fields of convolutional neural networks", Distill 2019):
input pixel centres sit at 0..N-1. For one layer and one axis:

* ``size`` r: how many input pixels one output unit depends on (the theoretical field, padding included);
* ``jump`` j: the distance in input pixels between the field centres of two neighbouring output units;
* ``start``: the field centre of output unit 0 (may be negative or a half pixel).

Unit i sees input pixels [start + i*j - (r-1)/2, start + i*j + (r-1)/2]. A sliding window with kernel k,
stride s, low padding p and dilation d (effective kernel k_e = d*(k-1)+1) maps
r' = r + (k_e-1)*j, j' = j*s, start' = start + ((k_e-1)/2 - p)*j.

Each op has one rule in ``RF_RULES``; an op without a rule is an error, never a silent 0.
Merges (branches, concat/add, dense feeds, ``from`` lists) report the largest field and where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from archcalc.errors import ArchcalcError
from archcalc.expand import Node
from archcalc.report import Record, Report

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


@dataclass(frozen=True)
class RFRow:
    path: str
    op: str
    kind: str
    output_shape: tuple[int, ...]
    field: Field


IDENTITY_AXIS = Axis(F(1), F(1), F(0))
RFRule = Callable[[dict[str, Any], Record, Field], Field]
RF_RULES: dict[str, RFRule] = {}


def rf_rule(*names: str) -> Callable[[RFRule], RFRule]:
    def deco(fn: RFRule) -> RFRule:
        for name in names:
            RF_RULES[name] = fn
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


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _pads(a: dict[str, Any], axis: int) -> int:
    """Low-side padding, as the calculator and torch apply it ('same' puts the odd extra on the high side)."""
    p = a["padding"]
    if p == "valid":
        return 0
    if p == "same":
        return int(a["dilation"][axis] * (a["kernel"][axis] - 1) // 2)
    return int(_pair(p)[axis])


@rf_rule("conv2d", "maxpool2d", "avgpool2d")
def _window_op(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Convolution (plain, grouped or table: the spatial window is the same) and pooling."""
    k, d = a["kernel"], a.get("dilation", (1, 1))
    s = a["stride"] or a["kernel"]
    h = window(f.h, k[0], s[0], _pads(a, 0), d[0])
    w = window(f.w, k[1], s[1], _pads(a, 1), d[1])
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


@rf_rule("relu", "sigmoid", "tanh", "scaled_tanh", "dropout", "identity", "batchnorm2d", "lrn", "compress")
def _pointwise(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Elementwise, or across channels at one position (LRN, batch norm, DenseNet's 1x1 compress conv):
    the field is unchanged."""
    return replace(f, via="")


@rf_rule("softmax")
def _softmax(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """Softmax over channels keeps positions apart; over a spatial dim every unit sees the whole map."""
    ndim = len(rec.output_shape)
    dim = a["dim"] if a["dim"] >= 0 else a["dim"] + ndim + 1
    return replace(f, via="") if dim == 1 or ndim != 3 else whole_map(rec, f)


@rf_rule("flatten", "linear", "rbf")
def _global(a: dict[str, Any], rec: Record, f: Field) -> Field:
    """After flatten every unit may read the whole map: the field is the union over the map's units."""
    return whole_map(rec, f)


def whole_map(rec: Record, f: Field) -> Field:
    inp = rec.input_shape
    if isinstance(inp, list) or len(inp) != 3 or f.h.jump == 0:
        return replace(f, via="")

    def span(a: Axis, n: int) -> Axis:
        return Axis(a.size + (n - 1) * a.jump, F(0), a.start + F(n - 1, 2) * a.jump)

    return Field(span(f.h, int(inp[1])), span(f.w, int(inp[2])), f.exact)


def largest(fields: list[tuple[str, Field]]) -> Field:
    """The merge rule: the input with the largest field (area, then height); ties keep the first."""
    best_path, best = max(fields, key=lambda pf: (pf[1].h.size * pf[1].w.size, pf[1].h.size))
    exact = all(f.exact for _, f in fields)
    return Field(best.h, best.w, exact, best_path if len(fields) > 1 else "")


@rf_rule("concat", "add")
def _merge_op(a: dict[str, Any], rec: Record, f: Field) -> Field:
    return f  # the walker merges the inputs with largest() before calling this


def receptive_fields(root: Node, report: Report) -> list[RFRow]:
    """One row per record (layers and blocks), in report order."""
    w = _Walker({r.path: r for r in report.records})
    w.env["@in"] = Field(IDENTITY_AXIS, IDENTITY_AXIS)
    w.seq(root, [("input", Field(IDENTITY_AXIS, IDENTITY_AXIS))])
    return [RFRow(r.path, r.op, r.kind, r.output_shape, w.env[r.path]) for r in report.records if r.path in w.env]


class _Walker:
    def __init__(self, records: dict[str, Record]) -> None:
        self.records = records
        self.env: dict[str, Field] = {}

    def inputs(self, node: Node, prev: tuple[str, Field]) -> list[tuple[str, Field]]:
        return [(s.removesuffix("@in") or "input", self.env[s]) for s in node.sources] if node.sources else [prev]

    def run(self, node: Node, xs: list[tuple[str, Field]]) -> Field:
        if node.kind == "op":
            return self.op(node, xs)
        if node.kind == "parallel":
            outs = [(b.path, self.seq(b, xs)) for b in node.children]
            return self.done(node, largest(outs))
        return self.seq(node, xs)

    def seq(self, node: Node, xs: list[tuple[str, Field]]) -> Field:
        self.env[f"{node.path}@in"] = xs[0][1]
        if node.feed == "dense":
            feats = [(f"{node.path}@in", xs[0][1])]
            for child in node.children:
                out = self.run(child, [("concat", largest(feats))])
                self.env[child.path] = out
                feats.append((child.path, out))
            return self.done(node, largest(feats))
        prev = xs[0]
        for child in node.children:
            out = self.run(child, self.inputs(child, prev))
            self.env[child.path] = out
            if not child.side:
                prev = (child.path, out)
        return self.done(node, prev[1])

    def done(self, node: Node, f: Field) -> Field:
        if node.path:
            self.env[node.path] = f
        return f

    def op(self, node: Node, xs: list[tuple[str, Field]]) -> Field:
        rule = RF_RULES.get(node.op)
        if rule is None:
            raise ArchcalcError(f"no receptive-field rule for op '{node.op}'", layer=node.path)
        f = largest(xs) if len(xs) > 1 else replace(xs[0][1], via="")
        return rule(node.args, self.records[node.path], f)


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
