"""Exact polynomials in H, W and named floor sizes, and the ``Math`` object that makes op rules build them.

A ``Term`` is an integer that also carries its formula: its value at one sample input size (which drives the
rule's checks and branches, as ``Sym`` does for explain) and a polynomial over variables. Variable 0 is H,
1 is W; every other variable is a named size ``floor(num/den) + shift`` (or ``ceil``) made when a rule divides
a size-dependent quantity, e.g. ``H1 = floor((H - 1)/2) + 1``. An equal division made again (a ResNet
downsample beside its main path) gives the same variable, so each distinct size is named once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from archcalc.errors import ArchcalcError

Coef = int | Fraction
Mono = tuple[int, ...]  # sorted variable indices, repeated for powers: (0, 1) = H*W, (0, 0) = H^2
Poly = dict[Mono, Coef]
H, W = 0, 1


class FormulaError(ArchcalcError):
    """A rule does something a formula of H and W cannot follow."""


def _norm(c: Coef) -> Coef:
    return c.numerator if isinstance(c, Fraction) and c.denominator == 1 else c


def padd(a: Poly, b: Poly, sign: int = 1) -> Poly:
    out = dict(a)
    for m, c in b.items():
        v = _norm(out.get(m, 0) + sign * c)
        if v:
            out[m] = v
        else:
            out.pop(m, None)
    return out


def pmul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(sorted(ma + mb))
            v = _norm(out.get(m, 0) + ca * cb)
            if v:
                out[m] = v
            else:
                out.pop(m, None)
    return out


def pscale(a: Poly, k: Coef) -> Poly:
    return {m: _norm(c * k) for m, c in a.items()} if k else {}


def const(a: Poly) -> Coef:
    return a.get((), 0)


def peval(a: Poly, env: Sequence[Coef]) -> Coef:
    total: Coef = 0
    for m, c in a.items():
        t: Coef = c
        for i in m:
            t *= env[i]
        total += t
    return total


@dataclass
class Var:
    """A named size: ``floor(num/den) + shift`` (``ceil`` for kind 'ceil')."""

    name: str
    num: Poly
    den: int
    kind: str
    shift: int = 0
    axes: frozenset[int] = field(default_factory=frozenset)

    def value(self, env: Sequence[int]) -> int:
        n = peval(self.num, env)
        if isinstance(n, int):  # the usual case: whole coefficients
            return (n // self.den if self.kind == "floor" else -(-n // self.den)) + self.shift
        q = Fraction(n) / self.den
        whole = q.numerator // q.denominator
        if self.kind == "ceil":
            whole = -(-q.numerator // q.denominator)
        return whole + self.shift


class Term:
    """An exact integer (its value at the sample size) and its polynomial."""

    __slots__ = ("poly", "space", "value")

    def __init__(self, space: Space, value: int, poly: Poly) -> None:
        self.space, self.value, self.poly = space, value, poly

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Term({self.value}, {self.space.show(self.poly)})"

    def _lift(self, o: object) -> Term:
        if isinstance(o, Term):
            return o
        if isinstance(o, int):
            return Term(self.space, o, {(): o} if o else {})
        raise FormulaError(f"a rule computed with {type(o).__name__} {o!r}; a formula needs integers")

    def __add__(self, o: object) -> Term:
        b = self._lift(o)
        return Term(self.space, self.value + b.value, padd(self.poly, b.poly))

    __radd__ = __add__

    def __sub__(self, o: object) -> Term:
        b = self._lift(o)
        return Term(self.space, self.value - b.value, padd(self.poly, b.poly, -1))

    def __rsub__(self, o: object) -> Term:
        return self._lift(o) - self

    def __neg__(self) -> Term:
        return Term(self.space, -self.value, pscale(self.poly, -1))

    def __mul__(self, o: object) -> Term:
        b = self._lift(o)
        return Term(self.space, self.value * b.value, pmul(self.poly, b.poly))

    __rmul__ = __mul__

    def __floordiv__(self, o: object) -> Term:
        return self.space.divide(self, self._lift(o), "floor")

    def __rfloordiv__(self, o: object) -> Term:
        return self.space.divide(self._lift(o), self, "floor")


class Space:
    """The variables of one formula, and the op rules' math (``FastMath``'s interface) over ``Term``s."""

    symbolic = False

    def __init__(self) -> None:
        self.vars: list[Var] = [
            Var("H", {}, 1, "input", axes=frozenset({H})),
            Var("W", {}, 1, "input", axes=frozenset({W})),
        ]
        self.seen: dict[tuple[object, ...], int] = {}
        self.counters: dict[str, int] = {}

    def term(self, value: int, poly: Poly) -> Term:
        return Term(self, value, poly)

    def lift(self, x: object) -> Term:
        return Term(self, 0, {})._lift(x)

    def divide(self, a: Term, b: Term, kind: str) -> Term:
        if any(b.poly.keys() - {()}):
            raise FormulaError(f"a division by a size-dependent quantity ({self.show(b.poly)})")
        d = int(const(b.poly))
        value = a.value // b.value if kind == "floor" else -(-a.value // b.value)
        if d < 0:
            raise FormulaError("a division by a negative number")
        if all(isinstance(c, int) and c % d == 0 for m, c in a.poly.items() if m):
            c0 = const(a.poly)  # exact apart from the constant: no new size
            rest = {m: _norm(Fraction(c, d)) for m, c in a.poly.items() if m}
            q = Fraction(c0) / d
            whole = q.numerator // q.denominator if kind == "floor" else -(-q.numerator // q.denominator)
            return Term(self, value, padd(rest, {(): whole} if whole else {}))
        key = (tuple(sorted(a.poly.items())), d, kind)
        i = self.seen.get(key)
        if i is None:
            axes = frozenset().union(*(self.vars[j].axes for m in a.poly for j in m))
            i = self.seen[key] = len(self.vars)
            self.vars.append(Var("", dict(a.poly), d, kind, 0, axes))
        v = self.vars[i]
        return Term(self, value, padd({(i,): 1}, {(): -v.shift} if v.shift else {}))

    def _name(self, v: Var) -> str:
        axis = "H" if v.axes == {H} else "W" if v.axes == {W} else "S"
        self.counters[axis] = self.counters.get(axis, 0) + 1
        return f"{axis}{self.counters[axis]}"

    # ---- the Math interface the op rules call ---------------------------------------------------------------
    def v(self, name: str, value: object) -> Term:
        """A rule names a quantity: a fresh size ``floor(...) + c`` becomes one named variable."""
        t = self.lift(value)
        free = [m for m in t.poly if m]
        if len(free) == 1 and len(free[0]) == 1 and t.poly[free[0]] == 1:
            v = self.vars[free[0][0]]
            if not v.name:
                v.shift = int(const(t.poly))
                v.name = self._name(v)
                return Term(self, t.value, {free[0]: 1})
        return t

    def ceil_div(self, a: object, b: object) -> Term:
        return self.divide(self.lift(a), self.lift(b), "ceil")

    def exact_div(self, a: object, b: object) -> Term:
        ta, tb = self.lift(a), self.lift(b)
        if any(tb.poly.keys() - {()}) or ta.value % tb.value:
            raise FormulaError(f"{ta.value}/{tb.value} is not an exact division by a constant")
        return Term(self, ta.value // tb.value, pscale(ta.poly, Fraction(1, tb.value)))

    def total(self, name: str, terms: list[object]) -> Term:
        out = self.lift(0)
        for t in terms:
            out = out + t
        return out

    def note(self, text: str) -> None:
        pass

    def finish(self) -> None:
        """Name any size no rule named (e.g. a quotient used inside a count)."""
        for v in self.vars:
            if not v.name:
                v.name = self._name(v)

    # ---- text -------------------------------------------------------------------------------------------------
    def show(self, p: Poly) -> str:
        return show_poly(p, [v.name or f"v{i}" for i, v in enumerate(self.vars)])

    def definition(self, v: Var) -> str:
        num = self.show(v.num)
        inner = f"({num})/{v.den}" if len([m for m in v.num if v.num[m]]) > 1 or v.num.get((), 0) else f"{num}/{v.den}"
        text = f"{v.kind}({inner})"
        if v.shift:
            text += f" + {v.shift}" if v.shift > 0 else f" - {-v.shift}"
        return text


def fmt_coef(c: Coef) -> str:
    return str(c) if isinstance(c, int) else f"{c.numerator}/{c.denominator}"


def show_poly(p: Poly, names: Sequence[str]) -> str:
    """Highest degree first: '64*H1*W1 + 3*H - 2'."""
    if not p:
        return "0"
    parts: list[str] = []
    for m in sorted(p, key=lambda m: (-len(m), m)):
        c = p[m]
        mono = "*".join(names[i] for i in m)
        mag: Coef = -c if c < 0 else c
        if not m:
            body = fmt_coef(mag)
        elif mag == 1:
            body = mono
        else:
            body = f"{fmt_coef(mag)}*{mono}"
        neg = c < 0
        if not parts:
            parts.append(f"-{body}" if neg else body)
        else:
            parts.append(f" - {body}" if neg else f" + {body}")
    return "".join(parts)
