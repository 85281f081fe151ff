"""Every number of a report with its formula and the values substituted.

Nothing here restates a formula: each layer's op rule is run again with
``ExplainMath`` on the record's args and input shape (the same function that
computed the record with plain ints), and block merges re-run
``merge_concat``/``merge_add`` on the shapes they merged.  Block and model
totals are the sums the calculator took, written out term by term.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.analysis.report import COUNT_KEYS, Record, Report, gc_paused
from archcalc.errors import ArchcalcError, did_you_mean, show
from archcalc.graph.ir import LAYER, Graph, Scope
from archcalc.ops import OPS
from archcalc.ops.layers import MERGES
from archcalc.ops.symbolic import ExplainMath, Sym, lift

LABELS = {
    "params": "params",
    "trainable_params": "trainable",
    "buffers": "buffers",
    "connections": "connections",
    "macs": "MACs",
    "flops": "FLOPs",
    "activations": "activations",
}
_DIM_NAMES = {1: ("F_out",), 2: ("C_out", "L_out"), 3: ("C_out", "H_out", "W_out")}


@dataclass
class Step:
    """One number: ``name value = formula = substituted``."""

    name: str
    sym: Sym

    @property
    def value(self) -> int:
        return self.sym.value

    @property
    def formula(self) -> str:
        return self.sym.sym

    @property
    def substituted(self) -> str:
        return self.sym.sub

    def parts(self) -> list[str]:
        """The non-trivial right-hand sides: the formula, then the arithmetic (each once)."""
        out: list[str] = []
        for text in (self.formula, self.substituted):
            if text not in out and text != str(self.value):
                out.append(text)
        return out

    def text(self, label: str | None = None, limit: int = 0) -> str:
        rhs = [clip(t, limit) for t in self.parts()]
        head = f"{label or LABELS.get(self.name, self.name)} {self.value:,}"
        return " = ".join([head, *rhs])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "formula": self.formula, "substituted": self.substituted}


@dataclass
class Derivation:
    """How one record (or the model total) got its shape and counts."""

    path: str
    op: str
    kind: str  # 'layer', 'block' or 'total'
    summary: str
    input_shape: Any
    output_shape: tuple[int, ...]
    shape_formula: str
    steps: list[Step] = field(default_factory=list)  # named intermediates: H_out, W_out, ...
    counts: dict[str, Step] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # the spec expressions behind its arguments: (path of the record they were written on, expr.Derived);
    # a layer asked for by name also gets its enclosing blocks' (their block args, repeat counts), outermost first
    derived: list[tuple[str, Any]] = field(default_factory=list)

    def count(self, key: str) -> Step:
        """The step for a count key; 'flops' is derived as 2*MACs."""
        if key == "flops":
            return Step("flops", 2 * self.counts["macs"].sym)
        return self.counts[key]

    def shown_counts(self) -> list[Step]:
        """Counts worth a line: non-zero ones, trainable only when it differs from params."""
        out = []
        for key, step in self.counts.items():
            if step.value == 0:
                continue
            if key == "trainable_params" and step.value == self.counts["params"].value:
                continue
            out.append(step)
        return out

    def zero_counts(self) -> list[str]:
        return [LABELS[k] for k in ("params", "connections", "macs") if self.counts[k].value == 0]

    def to_dict(self) -> dict[str, Any]:
        inp = self.input_shape
        return {
            "path": self.path,
            "op": self.op,
            "kind": self.kind,
            "summary": self.summary,
            "input_shape": [list(s) for s in inp] if isinstance(inp, list) else list(inp),
            "output_shape": list(self.output_shape),
            "shape_formula": self.shape_formula,
            "steps": [s.to_dict() for s in self.steps],
            "counts": {k: s.to_dict() for k, s in self.counts.items()},
            "notes": list(self.notes),
            "derived": [{"path": path, **x.to_dict()} for path, x in self.derived],
        }


def clip(text: str, limit: int) -> str:
    if not limit or len(text) <= limit:
        return text
    terms = text.count(" + ") + 1
    return text[: limit - 1].rsplit(" + ", 1)[0] + f" + … ({terms} terms)"


def _shape_steps(shape: tuple[Any, ...], m: ExplainMath) -> tuple[list[Step], str]:
    """Steps for output dims with a formula the rule did not name itself, and the shape formula."""
    names = _DIM_NAMES.get(len(shape), tuple(f"d_{i}" for i in range(len(shape))))
    steps, syms = [], []
    for name, dim in zip(names, shape, strict=True):
        s = lift(dim)
        if s.sym != s.sub and not s.sym.isidentifier():
            steps.append(Step(name, s))
            syms.append(name)
        else:
            syms.append(s.sym)
    return steps, " x ".join(syms)


def explain_layer(rec: Record) -> Derivation:
    """Re-run the record's op rule with ExplainMath: formulas from the code that made the numbers."""
    opdef = OPS[rec.op]
    m = ExplainMath()
    res = opdef.rule(rec.args, rec.input_shape, m)
    out_steps, shape_formula = _shape_steps(res.shape, m)
    steps = [Step(name, sym) for name, sym in m.steps] + out_steps
    params = lift(res.params)
    dims = [lift(d) for d in res.shape]
    acts = dims[0]
    for dim in dims[1:]:
        acts = acts * dim
    counts = {
        "params": Step("params", params),
        "trainable_params": Step("trainable_params", params if res.trainable is None else lift(res.trainable)),
        "buffers": Step("buffers", lift(res.buffers)),
        "connections": Step("connections", lift(res.connections)),
        "macs": Step("macs", lift(res.macs)),
        "activations": Step("activations", acts),
    }
    d = Derivation(
        rec.path,
        rec.op,
        "layer",
        OPS[rec.op].summary(rec.args),
        rec.input_shape,
        rec.output_shape,
        shape_formula,
        steps,
        counts,
    )
    d.notes = list(dict.fromkeys(m.notes))
    if rec.shares:  # the weights are another layer's: counted there, once; MACs count per call
        syms = [(k, d.counts[k].sym) for k in ("params", "buffers")]
        own = ", ".join(f"{k} {v.value:,} = {v.sym}" for k, v in syms if v.value)
        for key in ("params", "trainable_params", "buffers"):
            d.counts[key] = Step(key, lift(0))
        d.notes.append(f"reuses the weights of '{rec.shares}' ({own or 'none'}), counted there once")
    d.derived = [(rec.path, x) for x in rec.derived]
    _verify(d, rec)
    return d


def _scope_of(rec: Record, report: Report) -> Scope:
    graph: Graph = report.graph
    return graph.scopes[graph.nodes[graph.by_path[rec.path]].scope]


def _merge_kind(scope: Scope, report: Report) -> str:
    """The scope's merge, as lowering made it: a branches merge node's op, or a dense feed's concat."""
    return "concat" if scope.dense else report.graph.nodes[report.graph.nodes[scope.exit].inputs[0]].op


def _sums(records: list[Record], what: str) -> dict[str, Step]:
    """Each count as the calculator's sum over layer records, term by term (zero terms left out)."""
    out = {}
    for key in COUNT_KEYS:
        terms = [getattr(r.counts, key) for r in records if getattr(r.counts, key)]
        sym = ExplainMath().total(what, terms) if terms else lift(0)
        out[key] = Step(key, lift(sym))
    return out


def explain_block(rec: Record, report: Report) -> Derivation:
    """A container: its merge (re-run with ExplainMath) and its counts summed over its layers."""
    scope = _scope_of(rec, report)
    nodes = report.graph.nodes[scope.enter : scope.exit]
    inside = [report[n.path] for n in nodes if n.role == LAYER]
    d = Derivation(rec.path, rec.op, "block", "", rec.input_shape, rec.output_shape, "", [], {})
    if rec.merged:
        m = ExplainMath()
        kind = _merge_kind(scope, report)
        res = MERGES[kind](rec.merged, m)
        d.steps, d.shape_formula = _shape_steps(res.shape, m)
        d.summary = f"merge: {kind}"
        d.notes = [f"{kind} of {len(rec.merged)} inputs", *m.notes]
    else:
        d.shape_formula = "the output of its last entry"
    d.counts = _sums(inside, f"{len(inside)} layers in {rec.path}")
    d.derived = [(rec.path, x) for x in rec.derived]
    _verify(d, rec)
    return d


def explain_total(report: Report) -> Derivation:
    """The model totals: each count summed over every layer record."""
    d = Derivation("total", "", "total", "", report.input, report.output_shape, "", [], {})
    d.counts = _sums(report.layers, f"all {len(report.layers)} layers")
    d.shape_formula = "the network's output"
    for key in COUNT_KEYS:
        if d.counts[key].value != getattr(report.totals, key):
            raise RuntimeError(f"internal: total {key} derivation disagrees with the report")
    return d


def _verify(d: Derivation, rec: Record) -> None:
    """The derivation must reproduce the record exactly; anything else is a bug, not a user error."""
    for key in COUNT_KEYS:
        if d.counts[key].value != getattr(rec.counts, key):
            raise RuntimeError(
                f"internal: {rec.path} {key}: derivation {d.counts[key].value} != {getattr(rec.counts, key)}"
            )


def find_record(report: Report, layer: str) -> Record:
    """A record by path; else by unique name or path suffix; else a clear error."""
    exact, ends = report.lookup(layer)
    if exact:
        return report.records[exact[0]]
    hits = [report.records[i] for i in ends]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ArchcalcError(f"layer '{layer}' is ambiguous in {report.model}: {', '.join(r.path for r in hits)}")
    hint = did_you_mean(report.close_paths(layer)) or "; run 'archcalc table' to see the paths"
    raise ArchcalcError(f"no layer {show(layer)} in {report.model}{hint}")


@gc_paused
def explain(report: Report, layer: str | None = None) -> list[Derivation]:
    """One record (with everything inside it, for a block), or every record and the total."""
    if layer is not None and layer != "total":
        rec = find_record(report, layer)
        recs = [rec] + [r for r in report.records if r.path.startswith(rec.path + ".")]
    else:
        recs = [] if layer == "total" else report.records
    out = [explain_layer(r) if r.kind == "layer" else explain_block(r, report) for r in recs]
    if recs and layer is not None:
        out[0].derived[:0] = _enclosing(report, recs[0])
    if layer is None or layer == "total":
        out.append(explain_total(report))
    return out


def _enclosing(report: Report, rec: Record) -> list[tuple[str, Any]]:
    """The derived values of the blocks around a record (a block use's args, a repeat count), outermost first."""
    out: list[tuple[str, Any]] = []
    parent = rec.parent
    while parent:
        up = report[parent]
        out[:0] = [(up.path, x) for x in up.derived]
        parent = up.parent
    return out


def explain_record(report: Report, rec: Record) -> Derivation:
    return explain_layer(rec) if rec.kind == "layer" else explain_block(rec, report)
