"""The convention registry and the walk that applies it to a Report's records.

A convention is a table of small pure rules, one per op: ``rule(record) -> int`` for one
sample (batch 1; every tool here is linear in the batch).  An op is either counted by a
rule, registered as counted-as-zero with the reason, or refused (the tool cannot count a
model with that op at all).  An op missing from all three tables is an error listing the
op: a convention never silently counts 0.  Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archcalc.errors import ArchcalcError
from archcalc.report import Record, Report, Shape

Rule = Callable[[Record], int]


@dataclass(frozen=True)
class Convention:
    name: str
    unit: str  # what one counted thing is: "MACs", "FLOPs", "connections"
    line: str  # one line: what it counts and which tool or paper uses it
    rules: dict[str, Rule]
    zero: dict[str, str]  # op -> why this convention counts it as 0
    refused: dict[str, str] = field(default_factory=dict)  # op -> why the tool cannot count it

    def layer(self, rec: Record) -> int:
        """The count of one layer record for one sample."""
        rule = self.rules.get(rec.op)
        if rule is not None:
            return int(rule(rec))
        if rec.op in self.zero:
            return 0
        raise self._unknown([rec])

    def _unknown(self, recs: list[Record]) -> ArchcalcError:
        ops = sorted({r.op for r in recs})
        why = [f"{op}: {self.refused[op]}" for op in ops if op in self.refused]
        missing = [op for op in ops if op not in self.refused]
        parts = []
        if missing:
            parts.append(f"convention '{self.name}' has no rule for op(s) {', '.join(missing)}")
        if why:
            parts.append(f"convention '{self.name}' cannot count " + "; ".join(why))
        first = recs[0]
        return ArchcalcError(" and ".join(parts)).located(line=first.line, layer=first.path)


CONVENTIONS: dict[str, Convention] = {}


def register(conv: Convention) -> Convention:
    if conv.name in CONVENTIONS:
        raise RuntimeError(f"convention '{conv.name}' registered twice")
    overlap = set(conv.rules) & (set(conv.zero) | set(conv.refused))
    if overlap:
        raise RuntimeError(f"convention '{conv.name}': ops both counted and zero/refused: {sorted(overlap)}")
    CONVENTIONS[conv.name] = conv
    return conv


def get(name: str) -> Convention:
    from archcalc.conventions import rules  # noqa: F401  (registers the conventions)

    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ArchcalcError(f"unknown convention '{name}'; expected one of {', '.join(names())}") from None


def names() -> list[str]:
    from archcalc.conventions import rules  # noqa: F401

    return list(CONVENTIONS)


def merge_op(rec: Record) -> str | None:
    """The merge a block record performs ('add' or 'concat'), None for a plain sequence.

    Records keep the merged shapes: an add leaves them equal to the output, a concat of
    two or more inputs grows the channel dimension.
    """
    shapes: list[Shape] = rec.merged
    if not shapes:
        return None
    return "add" if all(tuple(s) == tuple(rec.output_shape) for s in shapes) else "concat"


def layer_values(report: Report, name: str) -> dict[str, int]:
    """Per record path: a layer's count; a block's subtotal of its layers.

    A block's own merge (residual add, concat, dense feed) must be registered as zero in the
    convention (it is in every convention here), else it is reported like an unknown op.
    """
    conv = get(name)
    bad = [r for r in report.layers if r.op not in conv.rules and r.op not in conv.zero]
    bad += [b for b in report.blocks if merge_op(b) not in (None, *conv.zero)]
    if bad:
        raise conv._unknown([_as_op(r) for r in bad]).located(file=report.file)
    values = {r.path: conv.layer(r) for r in report.layers}
    blocks = {b.path: 0 for b in report.blocks}
    for path, v in list(values.items()):
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in blocks:
                blocks[prefix] += v
    values.update(blocks)
    return values


def _as_op(rec: Record) -> Record:
    """A block record seen as its merge op, for error messages."""
    if rec.kind != "block":
        return rec
    return Record(
        rec.path, rec.name, merge_op(rec) or rec.op, "block", rec.depth, rec.line, rec.input_shape, (), rec.counts
    )


def total(report: Report, name: str) -> int:
    """The whole model's count for one sample: the sum over layer records."""
    values = layer_values(report, name)
    return sum(values[r.path] for r in report.layers)


def totals(report: Report) -> dict[str, int]:
    return {name: total(report, name) for name in names()}
