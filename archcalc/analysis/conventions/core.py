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
from typing import cast

from archcalc.analysis.report import Record, Report
from archcalc.errors import ArchcalcError
from archcalc.graph.ir import BUS, LAYER, MERGE, Graph

CountRule = Callable[[Record], int]


@dataclass(frozen=True)
class Grad:
    """A layer's place in one training step whose loss reads every output (main and side outputs).

    ``live``: the backward pass reaches it (its output reaches an output along data edges); ``input``: its
    input needs a gradient (some layer on a data path into it has trainable parameters; the network's input
    never does). Outside a graph (one record alone) a layer is assumed live with an input that needs one.
    """

    live: bool = True
    input: bool = True
    weights: bool | None = None  # it has trainable weights, its own or reused ('shares'); None: its record's


def has_weights(rec: Record, grad: Grad) -> bool:
    return grad.weights if grad.weights is not None else rec.counts.trainable_params > 0


StepRule = Callable[[Record, Grad], int]  # a training-step rule: the count also depends on the layer's Grad


@dataclass(frozen=True)
class Convention:
    """A table of per-op rules. An op with no entry falls back on its declared properties: a pointwise op
    (archcalc.ops OpDef.pointwise) is counted by ``pointwise`` (a rule, or the reason it counts 0)."""

    name: str
    unit: str  # what one counted thing is: "MACs", "FLOPs", "connections"
    line: str  # one line: what it counts and which tool or paper uses it
    rules: dict[str, CountRule]
    zero: dict[str, str]  # op -> why this convention counts it as 0
    refused: dict[str, str] = field(default_factory=dict)  # op -> why the tool cannot count it
    pointwise: CountRule | str = "an elementwise op: no multiply-accumulate"
    # the tool traces the model and drops what no output depends on (fvcore's jit trace): such layers count 0
    live_only: bool = False
    step: dict[str, StepRule] = field(default_factory=dict)  # op -> its rule given the layer's Grad

    def __post_init__(self) -> None:
        # an op archcalc does not know has no count in any convention (its MACs are unknown, not 0)
        self.refused.setdefault("opaque", "an op archcalc does not know: its count is unknown")

    def rule(self, op: str) -> CountRule | StepRule | str | None:
        """The op's rule, or the reason it counts 0, or None (refused or unknown)."""
        if op in self.step:
            return self.step[op]
        if op in self.rules:
            return self.rules[op]
        if op in self.zero:
            return self.zero[op]
        if op in self.refused:
            return None
        from archcalc.ops import OPS

        opdef = OPS.get(op)
        return self.pointwise if opdef is not None and opdef.pointwise else None

    def layer(self, rec: Record, grad: Grad = Grad()) -> int:
        """The count of one layer record for one sample (``grad``: its place in a training step)."""
        rule = self.rule(rec.op)
        if rule is None:
            raise self.unknown([(rec.op, rec.path, rec.line)])
        if isinstance(rule, str):
            return 0
        if rec.op in self.step:
            return int(self.step[rec.op](rec, grad))
        return int(cast(CountRule, rule)(rec))

    def unknown(self, where: list[tuple[str, str, int]]) -> ArchcalcError:
        """(op, path, line) of every op this convention cannot count; located at the first."""
        ops = sorted({op for op, _, _ in where})
        why = [f"{op}: {self.refused[op]}" for op in ops if op in self.refused]
        missing = [op for op in ops if op not in self.refused]
        parts = []
        if missing:
            parts.append(f"convention '{self.name}' has no rule for op(s) {', '.join(missing)}")
        if why:
            parts.append(f"convention '{self.name}' cannot count " + "; ".join(why))
        _, path, line = where[0]
        return ArchcalcError(" and ".join(parts)).located(line=line, layer=path)


CONVENTIONS: dict[str, Convention] = {}


def add_convention(conv: Convention) -> Convention:
    if conv.name in CONVENTIONS:
        raise RuntimeError(f"convention '{conv.name}' registered twice")
    overlap = (set(conv.rules) | set(conv.step)) & (set(conv.zero) | set(conv.refused))
    overlap |= set(conv.rules) & set(conv.step)
    if overlap:
        raise RuntimeError(f"convention '{conv.name}': ops both counted and zero/refused: {sorted(overlap)}")
    CONVENTIONS[conv.name] = conv
    return conv


def get(name: str) -> Convention:
    from archcalc.analysis.conventions import rules, train  # noqa: F401  (registers the conventions)

    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ArchcalcError(f"unknown convention '{name}'; expected one of {', '.join(names())}") from None


def names() -> list[str]:
    from archcalc.analysis.conventions import rules, train  # noqa: F401

    return list(CONVENTIONS)


def layer_values(report: Report, name: str) -> dict[str, int]:
    """Per record path: a layer's count; a block's subtotal of its layers (a pass over the graph).

    A scope's own merge (residual add, concat, dense bus) must be counted by the convention too
    (it is zero in every convention here), else it is reported like an unknown op.
    """
    conv = get(name)
    graph = report.graph
    records = {r.path: r for r in report.layers}
    bad: list[tuple[str, str, int]] = []
    values: dict[str, int] = {}
    scope_sum = [0] * len(graph.scopes)
    live = reaches_output(graph) if conv.live_only else None
    grads = step_grads(graph, records) if conv.step else None
    for node in graph.nodes:
        if node.role == LAYER:
            rule = conv.rule(node.op)
            if rule is None:
                bad.append((node.op, node.path, node.line))
            elif not bad:
                dead = live is not None and not live[node.index]
                v = 0 if dead else conv.layer(records[node.path], grads[node.index] if grads else Grad())
                values[node.path] = v
                scope_sum[node.scope] += v
        elif node.role in (MERGE, BUS) and conv.rule(node.op) is None:
            path, line = graph.where(node)
            bad.append((node.op, path, line))
    if bad:
        raise conv.unknown(bad).located(file=report.file)
    for scope in reversed(graph.scopes):  # children come after their parent: add each subtotal upwards
        if scope.parent >= 0:
            scope_sum[scope.parent] += scope_sum[scope.index]
            values[scope.path] = scope_sum[scope.index]
    return values


def reaches_output(graph: Graph) -> list[bool]:
    """Whether each node's value reaches a network output (main or side), walking the edges backwards."""
    live = [False] * len(graph.nodes)
    for i in graph.outputs:
        live[i] = True
    for node in reversed(graph.nodes):
        if live[node.index]:
            for i in (*node.inputs, *node.refs.values()):
                live[i] = True
    return live


def step_grads(graph: Graph, records: dict[str, Record]) -> list[Grad]:
    """Each node's Grad in one training step whose loss reads every output (data edges only: an unpool's
    ref to its pool reads integer switches, which carry no gradient)."""
    needs = [False] * len(graph.nodes)  # the node's value requires a gradient
    inputs = [False] * len(graph.nodes)  # some value the node reads requires one
    weights = [False] * len(graph.nodes)
    for node in graph.nodes:
        inputs[node.index] = any(needs[i] for i in node.inputs)
        rec = records[node.path] if node.role == LAYER else None
        owner = records[rec.shares] if rec is not None and rec.shares else rec  # reused weights are trainable too
        weights[node.index] = owner is not None and owner.counts.trainable_params > 0
        needs[node.index] = weights[node.index] or inputs[node.index]
    live = [False] * len(graph.nodes)
    for i in graph.outputs:
        live[i] = True
    for node in reversed(graph.nodes):
        if live[node.index]:
            for i in node.inputs:
                live[i] = True
    return [Grad(live[k], inputs[k], weights[k]) for k in range(len(graph.nodes))]


def total(report: Report, name: str) -> int:
    """The whole model's count for one sample: the sum over layer records."""
    values = layer_values(report, name)
    return sum(values[r.path] for r in report.layers)


def totals(report: Report) -> dict[str, int]:
    return {name: total(report, name) for name in names()}
