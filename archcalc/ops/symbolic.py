"""Integers that can also explain themselves.

Rules are written once against a ``Math`` object.  ``FastMath`` hands back
plain ints (the calculator's path); ``ExplainMath`` hands back ``Sym`` values
that carry the formula and the substituted arithmetic alongside the value.
The explanation therefore cannot drift from the computation.
"""

from __future__ import annotations

from typing import Union

Num = Union[int, "Sym"]

_ATOM, _MUL, _ADD = 3, 2, 1
_QUO = 2.5  # an exact quotient a/b: binds like '*' but is bracketed as a right factor


class Sym:
    """An exact integer with its symbolic and substituted renderings."""

    __slots__ = ("prec", "sub", "sym", "value")

    def __init__(self, value: int, sym: str, sub: str, prec: float = _ATOM) -> None:
        self.value = value
        self.sym = sym
        self.sub = sub
        self.prec = prec

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Sym({self.value}, {self.sym!r}, {self.sub!r})"

    def _bin(self, other: Num, op: str, value: int, prec: float, swap: bool = False) -> Sym:
        a, b = (lift(other), self) if swap else (self, lift(other))
        # right operand of '-' needs parentheses at equal precedence; so does a quotient after '*'
        pa = a.prec < prec
        pb = b.prec < prec or (op == " - " and b.prec == prec) or (op == "*" and b.prec == _QUO)
        sa, sb = _wrap(a.sym, pa), _wrap(b.sym, pb)
        ua, ub = _wrap(a.sub, pa), _wrap(b.sub, pb)
        return Sym(value, f"{sa}{op}{sb}", f"{ua}{op}{ub}", prec)

    def __add__(self, o: Num) -> Sym:
        return self._bin(o, " + ", self.value + int(o), _ADD)

    def __radd__(self, o: Num) -> Sym:
        return self._bin(o, " + ", int(o) + self.value, _ADD, swap=True)

    def __sub__(self, o: Num) -> Sym:
        return self._bin(o, " - ", self.value - int(o), _ADD)

    def __rsub__(self, o: Num) -> Sym:
        return self._bin(o, " - ", int(o) - self.value, _ADD, swap=True)

    def __mul__(self, o: Num) -> Sym:
        return self._bin(o, "*", self.value * int(o), _MUL)

    def __rmul__(self, o: Num) -> Sym:
        return self._bin(o, "*", int(o) * self.value, _MUL, swap=True)

    def __floordiv__(self, o: Num) -> Sym:
        return _div("floor", self, o, self.value // int(o))

    def __rfloordiv__(self, o: Num) -> Sym:
        return _div("floor", o, self, int(o) // self.value)


def _wrap(text: str, paren: bool) -> str:
    return f"({text})" if paren else text


def lift(x: Num) -> Sym:
    return x if isinstance(x, Sym) else Sym(int(x), str(x), str(x))


def _div(kind: str, a: Num, b: Num, value: int) -> Sym:
    sa, sb = lift(a), lift(b)
    return Sym(
        value,
        f"{kind}({_wrap(sa.sym, sa.prec < _MUL)}/{_wrap(sb.sym, sb.prec < _ATOM)})",
        f"{kind}({_wrap(sa.sub, sa.prec < _MUL)}/{_wrap(sb.sub, sb.prec < _ATOM)})",
    )


def _group(subs: list[Sym]) -> list[str]:
    """Runs of 3+ equal terms shown as n*(term): LeNet-5's C3 table reads 6*(...) + 9*(...) + ..."""
    out: list[str] = []
    i = 0
    while i < len(subs):
        j = i
        while j < len(subs) and subs[j].sub == subs[i].sub:
            j += 1
        term = subs[i]
        if j - i >= 3:
            out.append(f"{j - i}*{_wrap(term.sub, term.prec < _ATOM)}")
        else:
            out.extend(_wrap(t.sub, t.prec < _ATOM) for t in subs[i:j])
        i = j
    return out


class FastMath:
    """Plain integer arithmetic: what every count is computed with."""

    symbolic = False

    def v(self, name: str, value: Num) -> Num:
        """A named quantity; explaining, a computed value becomes a step 'name = formula'."""
        return value

    def ceil_div(self, a: Num, b: Num) -> Num:
        return -(-int(a) // int(b))

    def exact_div(self, a: Num, b: Num) -> Num:
        """a/b where b divides a (checked by the rule), e.g. C_in/g."""
        return int(a) // int(b)

    def total(self, name: str, terms: list[Num]) -> Num:
        return sum(int(t) for t in terms)

    def note(self, text: str) -> None:
        pass


class ExplainMath(FastMath):
    """Arithmetic that records how each number was made."""

    symbolic = True

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.steps: list[tuple[str, Sym]] = []  # named intermediate results, in order

    def v(self, name: str, value: Num) -> Num:
        if isinstance(value, Sym) and value.sym != value.sub:
            self.steps.append((name, value))
        return Sym(int(value), name, str(int(value)))

    def ceil_div(self, a: Num, b: Num) -> Num:
        return _div("ceil", a, b, -(-int(a) // int(b)))

    def exact_div(self, a: Num, b: Num) -> Num:
        sa, sb = lift(a), lift(b)
        if sa.value % sb.value:
            raise ValueError(f"{sa.value}/{sb.value} is not exact")
        return Sym(
            sa.value // sb.value,
            f"{_wrap(sa.sym, sa.prec < _MUL)}/{_wrap(sb.sym, sb.prec < _ATOM)}",
            f"{_wrap(sa.sub, sa.prec < _MUL)}/{_wrap(sb.sub, sb.prec < _ATOM)}",
            _QUO,
        )

    def total(self, name: str, terms: list[Num]) -> Num:
        subs = [lift(t) for t in terms]
        value = sum(s.value for s in subs)
        return Sym(value, f"sum over {name}", " + ".join(_group(subs)), _ADD)

    def note(self, text: str) -> None:
        self.notes.append(text)


FAST = FastMath()
