"""Check claims against the calculator: actual value, verdict, and the derivation when it fails."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar, cast

from archcalc.analysis.explain import Derivation, Step, explain_record, explain_total, find_record
from archcalc.analysis.report import Record, Report
from archcalc.claims.atsize import convention_text, ratio_decimal
from archcalc.claims.claimsfile import BASE_QUANTITIES, Claim, ClaimsFile, quantities
from archcalc.errors import ArchcalcError
from archcalc.ops.symbolic import ExplainMath, Num, lift
from archcalc.render.tabular import shape_text

if TYPE_CHECKING:
    from archcalc.analysis.conventions.famous import Famous

T = TypeVar("T")
HOLDS, HOLDS_AS_MACS, FAILS = "holds", "holds as MACs", "FAILS"
UNDECIDED = "cannot be decided"  # the quantity sums layers archcalc does not know (a partial report)
_UNKNOWN_QUANTITIES = ("params", "trainable_params", "buffers", "connections", "macs", "flops")
_NUMERIC = [q for q in BASE_QUANTITIES if q != "output_shape"]


@dataclass
class Result:
    claim: Claim
    actual: int | tuple[int, ...] | Fraction  # a Fraction: a ratio claim's quantity(input) / quantity(ratio_to)
    verdict: str
    why: str = ""
    derivation: list[str] = field(default_factory=list)
    ratio: tuple[int, int] | None = None  # the two values a ratio divides

    @property
    def ok(self) -> bool:
        return self.verdict in (HOLDS, HOLDS_AS_MACS)

    @property
    def actual_text(self) -> str:
        if isinstance(self.actual, tuple):
            return shape_text(self.actual)
        if isinstance(self.actual, Fraction):
            return f"{ratio_decimal(self.actual)}x"
        if self.verdict == UNDECIDED:
            return f"{self.actual:,} + ?"
        exact = f"{self.actual:,}"
        alike = self.claim.figure.alike(self.actual)
        return exact if alike == exact else f"{alike} ({exact})"

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "claim": c.text,
            "line": c.line,
            "spec": c.spec,
            "input": c.input,
            "set": c.sets,
            "layer": c.layer,
            "quantity": c.quantity,
            "claimed": c.figure.text,
            "actual": _json_actual(self.actual),
            "verdict": self.verdict,
            "holds": self.ok,
            "why": self.why,
            "derivation": self.derivation,
            "source": c.source,
            "note": c.note,
            **({} if c.ratio_to is None else {"ratio_to": c.ratio_to, "ratio_of": list(self.ratio or ())}),
        }


def _json_actual(a: int | tuple[int, ...] | Fraction) -> int | list[int] | str:
    if isinstance(a, tuple):
        return list(a)
    if isinstance(a, Fraction):
        return f"{a.numerator}/{a.denominator}" if a.denominator != 1 else str(a.numerator)
    return a


class Facts:
    """What the claims about one report share, each a pass over every layer, so made once per report (per claim,
    a claims file cost its length times the network's): conventions' values, sums, the total's derivation."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self._memo: dict[Hashable, object] = {}

    def once(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, or its error (a convention that cannot count this network), the first time; then the same."""
        if key not in self._memo:
            try:
                self._memo[key] = make()
            except ArchcalcError as err:
                self._memo[key] = err
        got = self._memo[key]
        if isinstance(got, ArchcalcError):
            raise got
        return cast(T, got)

    def values(self, convention: str) -> dict[str, int]:
        from archcalc.analysis.conventions import layer_values

        return self.once(("values", convention), lambda: layer_values(self.report, convention))

    def layers(self, ops: list[str] | None) -> list[Record]:
        """The layer records a total sums: all, or just those of ``ops``."""
        key = ("layers", None if ops is None else tuple(ops))
        return self.once(key, lambda: [x for x in self.report.layers if ops is None or x.op in ops])

    def total(self) -> Derivation:
        return self.once(("total",), lambda: explain_total(self.report))

    def famous(self) -> list[Famous]:
        from archcalc.analysis.conventions.famous import famous_numbers

        return self.once(("famous",), lambda: famous_numbers(self.report))


class _Scope:
    """The report and (for a layer claim) the record a claim is about."""

    def __init__(self, facts: Facts, claim: Claim) -> None:
        self.facts, self.report, self.claim = facts, facts.report, claim
        self.rec: Record | None = None if claim.layer == "total" else find_record(self.report, claim.layer)

    def value(self, q: str) -> int | tuple[int, ...]:
        r, rec, ops = self.report, self.rec, self.claim.ops
        if q == "output_shape":
            return tuple(r.output_shape if rec is None else rec.output_shape)
        if q not in BASE_QUANTITIES:
            values = self.facts.values(q)
            if rec is not None:
                return values[rec.path]
            return self._sum(q, lambda: sum(values[x.path] for x in self._layers()))
        key = "macs" if q == "flops" else q
        mult = 2 if q == "flops" else 1
        if rec is not None:
            return mult * int(getattr(rec.counts, key))
        if ops:
            total = self._sum(key, lambda: sum(int(getattr(x.counts, key)) for x in self._layers()))
        else:
            total = int(getattr(r.totals, key))
        return mult * (total + self._input_term(key))

    def unknown_in(self, q: str) -> list[str]:
        """The unknown layers (ops archcalc does not know) whose ``q`` this claim's value would need."""
        if q not in _UNKNOWN_QUANTITIES or not self.report.partial:
            return []
        if self.rec is not None:
            inside = self.rec.path + "."
            return [p for p in self.report.unknown_layers if p == self.rec.path or p.startswith(inside)]
        return [x.path for x in self._layers() if x.unknown]

    def _sum(self, q: str, make: Callable[[], int]) -> int:
        ops = self.claim.ops
        return self.facts.once(("sum", q, None if ops is None else tuple(ops)), make)

    def _layers(self) -> list[Record]:
        return self.facts.layers(self.claim.ops)

    def _input_term(self, key: str) -> int:
        ops = self.claim.ops
        if not ops or "input" not in ops or key != "activations":
            return 0
        n = 1
        for d in self.report.input:
            n *= d
        return n

    def derivation(self, q: str) -> list[str]:
        """Lines from explain: the record's steps and the count, or the sum that made a total."""
        if q not in BASE_QUANTITIES:
            return [f"{q} is the convention's per-layer rule summed; see 'archcalc flops {self.claim.spec}'"]
        ops = None if self.claim.ops is None else tuple(self.claim.ops)
        what = ops if self.rec is None else self.rec.path
        return list(self.facts.once(("derivation", q, what), lambda: self._derivation(q)))

    def _derivation(self, q: str) -> list[str]:
        if self.rec is not None:
            d = explain_record(self.report, self.rec)
            lines = [s.text(limit=300) for s in d.steps]
            if q == "output_shape":
                return [*lines, f"output {shape_text(self.rec.output_shape)} = {d.shape_formula}"]
            return [*lines, d.count(q).text(limit=300), *d.notes]
        if q == "output_shape":
            return [f"output {shape_text(self.report.output_shape)}: the last layer's output"]
        if self.claim.ops is None:
            return [self.facts.total().count(q).text(limit=300)]
        key = "macs" if q == "flops" else q
        first = self._input_term(key)
        terms: list[Num] = [first] if first else []
        terms += [int(getattr(x.counts, key)) for x in self._layers() if getattr(x.counts, key)]
        what = f"{', '.join(self.claim.ops)} records"
        sym = lift(ExplainMath().total(what, terms) if terms else 0)
        return [Step(q, 2 * sym if q == "flops" else sym).text(limit=300)]


def check_claim(report: Report | Facts, claim: Claim) -> Result:
    scope = _Scope(report if isinstance(report, Facts) else Facts(report), claim)
    fig, q = claim.figure, claim.quantity
    actual = scope.value(q)
    unknown = scope.unknown_in(q)
    if unknown:
        return Result(claim, actual, UNDECIDED, _undecided(q, actual, unknown))
    if fig.holds(actual):
        return Result(claim, actual, HOLDS)
    if isinstance(actual, tuple):
        return Result(claim, actual, FAILS, f"the output is {shape_text(actual)}", scope.derivation(q))
    macs, flops = scope.value("macs"), scope.value("flops")
    assert isinstance(macs, int) and isinstance(flops, int)
    if q == "flops" and fig.holds(macs):
        text = (
            f"FLOPs here means MACs (multiply-adds): MACs = {fig.alike(macs)}; "
            f"under `flops` (2 x MACs) it would be {fig.alike(flops)}"
        )
        return Result(claim, actual, HOLDS_AS_MACS, text, scope.derivation("macs"))
    alike = fig.alike(actual)
    why = [f"actual {q} = {alike}" + ("" if alike == f"{actual:,}" else f" ({actual:,})")]
    if q == "macs" and fig.holds(flops):
        why = [f"this is FLOPs = 2 x MACs ({fig.alike(flops)}), not MACs ({fig.alike(macs)})"]
    elif q in ("flops", "macs"):
        why.append(f"MACs = {fig.alike(macs)}, FLOPs = 2 x MACs = {fig.alike(flops)}; neither matches")
    why += _elsewhere(scope, claim, q)
    return Result(claim, actual, FAILS, "; ".join(why), scope.derivation(q))


def _undecided(q: str, known: Any, unknown: list[str]) -> str:
    shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
    return (
        f"partial: {len(unknown)} layer(s) are ops archcalc does not know ({shown}); their {q} is unknown, "
        f"the known layers give {known:,}"
    )


def _elsewhere(scope: _Scope, claim: Claim, q: str) -> list[str]:
    """Other quantities (and famous numbers) the claimed figure does match: the likely mix-up."""
    out = []
    for other in [x for x in quantities() if x not in ("output_shape", q, "flops", "macs")]:
        try:
            v = scope.value(other)
        except ArchcalcError:
            continue  # a convention that cannot count this network
        if isinstance(v, int) and claim.figure.holds(v):
            out.append(f"it matches `{other}` ({v:,}) instead")
    if claim.layer == "total" and q in ("flops", "macs") and claim.ops is None and claim.figure.kind == "figure":
        for f in scope.facts.famous():
            if Fraction(f.shown) * 10**9 == claim.figure.value:
                out.append(f"{f.shown}G is the {f.label}")
    return out


def check_file(cf: ClaimsFile) -> list[Result]:
    """Every claim of a file; a claim naming a bad spec, layer or override is an error at its line."""
    from archcalc.analysis.records import analyze

    reports: dict[tuple[str, str | None, str], Facts] = {}

    def facts(c: Claim, inp: str | None) -> Facts:
        key = (c.spec, inp, repr(sorted(c.sets.items())))
        if key not in reports:
            reports[key] = Facts(analyze(c.spec, inp, dict(c.sets)))
        return reports[key]

    out = []
    for i, c in enumerate(cf.claims, 1):
        try:
            if c.ratio_to is not None:
                out.append(check_ratio(facts(c, c.input), facts(c, c.ratio_to), c))
            else:
                out.append(_at_size(check_claim(facts(c, c.input), c)))
        except ArchcalcError as err:
            raise ArchcalcError(f"claim {i}: {err}", file=cf.file, line=c.line) from None
    return out


def _size(report: Report) -> str:
    return "x".join(str(d) for d in report.input)


def _at_size(r: Result) -> Result:
    """A claim at an input other than the spec's names that input and how the quantity is counted."""
    c = r.claim
    if not c.at_size or isinstance(r.actual, tuple):
        return r
    said = f"at {c.input}: {convention_text(c.quantity)}"
    r.why = f"{said}; {r.why}" if r.why else said
    return r


def check_ratio(top: Facts, bottom: Facts, claim: Claim) -> Result:
    """quantity(input) / quantity(ratio_to), exactly; the verdict names both sizes, values and the convention."""
    q = claim.quantity
    for facts in (top, bottom):
        unknown = _Scope(facts, claim).unknown_in(q)
        if unknown:
            known = _Scope(facts, claim).value(q)
            return Result(claim, known, UNDECIDED, f"at {_size(facts.report)}: " + _undecided(q, known, unknown))
    a, b = _Scope(top, claim).value(q), _Scope(bottom, claim).value(q)
    if not isinstance(a, int) or not isinstance(b, int):
        raise ArchcalcError(f"a ratio needs a number, and '{q}' is a shape")
    if b == 0:
        raise ArchcalcError(f"{q} is 0 at {_size(bottom.report)}: no ratio to it")
    ratio = Fraction(a, b)
    why = (
        f"{q} at {_size(top.report)} = {a:,}, at {_size(bottom.report)} = {b:,}: "
        f"ratio {ratio_decimal(ratio, 6)} ({convention_text(q)})"
    )
    verdict = HOLDS if claim.figure.holds(ratio) else FAILS
    return Result(claim, ratio, verdict, why, ratio=(a, b))
