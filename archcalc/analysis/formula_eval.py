"""A formula compiled to one Python function of (H, W), for sweeps: the named floors, then the polynomials.

The function returns None where the formula may not hold, so the caller asks the calculator: a guard fails
(a layer's output size below 1, merged sizes that differ), or a tensor nears torch's element limit (whose
refusal the calculator words). The source is generated from integers and variable indices only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from archcalc.analysis.formula import Formula
from archcalc.analysis.polynomial import Poly, Var

# every tensor a rule checks with ``fits`` (outputs, padded inputs, int64 indices, weights) is within a
# factor 72 of the activations plus the input, or of the params: refuse early and let the calculator decide
LIMIT = (2**63 - 1) // 72


@dataclass(frozen=True)
class Values:
    output: tuple[int, ...]
    counts: tuple[int, ...]  # params, trainable, buffers, 0 (connections: not a formula), macs, activations
    peak: int
    allocated: int


def _scaled(p: Poly) -> tuple[str, int]:
    """An integer polynomial's source and the denominator it was scaled by."""
    den = 1
    for c in p.values():
        den = den * Fraction(c).denominator // math.gcd(den, Fraction(c).denominator)
    terms = []
    for mono, c in sorted(p.items()):
        k = Fraction(c) * den
        terms.append("*".join([str(k.numerator), *(f"v{i}" for i in mono)]))
    return "(" + (" + ".join(terms) or "0") + ")", den


def _value(p: Poly) -> str:
    src, den = _scaled(p)
    return src if den == 1 else f"({src} // {den})"


def _var(i: int, v: Var) -> str:
    src, den = _scaled(v.num)
    d = den * v.den
    q = f"{src} // {d}" if v.kind == "floor" else f"-((-{src}) // {d})"
    return f"    v{i} = {q} + {v.shift}"


def _equal(p: Poly, q: Poly) -> str:
    a, da = _scaled(p)
    b, db = _scaled(q)
    return f"{db} * {a} == {da} * {b}"


def source(f: Formula) -> str:
    lines = ["def evaluate(v0, v1):"]
    lines += [_var(i, v) for i, v in enumerate(f.space.vars) if i >= 2]
    dims = {tuple(sorted(p.items())): p for _, shape in f.layers for p in shape if any(m for m in p)}
    guards = [f"{_value(p)} >= 1" for p in dims.values()]
    guards += [_equal(p, q) for p, q in f.guards.equal]
    sizes = [
        f"{_value(f.counts['activations'])} + {f.channels} * v0 * v1 <= {LIMIT}",
        f"{_value(f.counts['params'])} <= {LIMIT}",
    ]
    lines.append(f"    if not ({' and '.join([*guards, *sizes])}):")
    lines.append("        return None")
    counts = [f.counts["params"], f.memory["trainable"], f.memory["buffers"], {}]
    counts += [f.counts["macs"], f.counts["activations"]]
    peak = [_value(p) for p in f.peak]
    lines.append(f"    out = ({''.join(_value(p) + ', ' for p in f.output)})")
    lines.append(f"    counts = ({''.join(_value(p) + ', ' for p in counts)})")
    lines.append(f"    peak = {peak[0] if len(peak) == 1 else 'max(' + ', '.join(peak) + ')'}")
    lines.append(f"    return Values(out, counts, peak, {_value(f.memory['allocated'])})")
    return "\n".join(lines) + "\n"


def compiled(f: Formula) -> Callable[[int, int], Values | None]:
    """``evaluate(h, w)``: the formula's values at H = h, W = w, or None where the calculator must decide."""
    scope: dict[str, object] = {"Values": Values}
    exec(compile(source(f), f"<formula of {f.model}>", "exec"), scope)  # source of our own integers only
    fn: Callable[[int, int], Values | None] = scope["evaluate"]  # type: ignore[assignment]
    return fn
