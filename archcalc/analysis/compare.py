"""Compare networks: totals side by side with ratios, and a per-stage table where they align.

Alignment rule (documented in docs/json.md and ``archcalc compare --help``):

* the *aligned layers* of a network are its conv layers (conv2d, conv_transpose2d), numbered conv1, conv2, ...,
  and its fully connected layers (linear, rbf), numbered fc1, fc2, ..., each in forward order (the report's
  pre-order, so branches count left to right);
* a *stage* is one aligned layer plus every layer after it up to the next aligned layer (its activation, pooling,
  normalisation ...); layers before the first aligned layer form the stage ``stem``;
* stage ``convI`` of network A lines up with stage ``convI`` of network B. A stage missing from a network is
  shown as '-'. Each network's stage counts therefore sum to its totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.analysis.report import COUNT_KEYS, Counts, Record, Report, gc_paused
from archcalc.ops import OPS

ALIGN_KINDS = {"conv2d": "conv", "conv_transpose2d": "conv", "linear": "fc", "rbf": "fc"}
ALIGNMENT = (
    "stage convI / fcI = the I-th conv layer (conv2d, conv_transpose2d) / fully connected layer (linear, rbf) "
    "in forward order, plus the layers after it up to the next conv or fc layer; 'stem' = layers before the first"
)
TOTAL_KEYS = (*COUNT_KEYS, "flops")


@dataclass
class Stage:
    key: str
    head: Record | None  # the aligned layer (None for the stem)
    counts: Counts = field(default_factory=Counts)
    paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        head = self.head
        return {
            "path": head.path if head else None,
            "op": head.op if head else None,
            "summary": OPS[head.op].summary(head.args) if head and head.kind == "layer" else "",
            "output_shape": list(head.output_shape) if head else None,
            "layers": list(self.paths),
            **self.counts.to_dict(),
        }


@dataclass
class Comparison:
    names: list[str]  # unique column names, in the order given
    reports: list[Report]
    stages: list[dict[str, Stage]]  # per network: stage key -> stage
    keys: list[str]  # all stage keys, in display order

    def to_dict(self) -> dict[str, Any]:
        base = self.reports[0].totals
        return {
            "alignment": ALIGNMENT,
            "networks": [
                {
                    "name": name,
                    "model": rep.model,
                    "title": rep.title,
                    "input": list(rep.input),
                    "output_shape": list(rep.output_shape),
                    "totals": {**rep.totals.to_dict(), "flops": rep.totals.flops},
                    "ratios": {k: ratio(total(rep.totals, k), total(base, k)) for k in TOTAL_KEYS},
                }
                for name, rep in zip(self.names, self.reports, strict=True)
            ],
            "stages": [
                {
                    "stage": key,
                    "networks": {
                        name: (st[key].to_dict() if key in st else None)
                        for name, st in zip(self.names, self.stages, strict=True)
                    },
                }
                for key in self.keys
            ],
        }


def total(c: Counts, key: str) -> int:
    return c.flops if key == "flops" else int(getattr(c, key))


def ratio(value: int, base: int) -> float | None:
    """value / base of the first network; None when the base is 0."""
    return value / base if base else None


def stages_of(report: Report) -> dict[str, Stage]:
    """The report's layers grouped into aligned stages (see the module docstring)."""
    out: dict[str, Stage] = {}
    seen: dict[str, int] = {}
    current: Stage | None = None
    for rec in report.layers:
        kind = ALIGN_KINDS.get(rec.op)
        if kind is not None:
            seen[kind] = seen.get(kind, 0) + 1
            current = Stage(f"{kind}{seen[kind]}", rec)
            out[current.key] = current
        elif current is None:
            current = out.setdefault("stem", Stage("stem", None))
        current.counts.add(rec.counts)
        current.paths.append(rec.path)
    return out


@gc_paused
def compare(reports: list[Report]) -> Comparison:
    names = unique_names([r.model for r in reports])
    per_net = [stages_of(r) for r in reports]
    keys = sorted({k for st in per_net for k in st}, key=_order)
    return Comparison(names, reports, per_net, keys)


def _order(key: str) -> tuple[int, int]:
    if key == "stem":
        return 0, 0
    kind = 1 if key.startswith("conv") else 2
    return kind, int(key.removeprefix("conv").removeprefix("fc"))


def unique_names(models: list[str]) -> list[str]:
    """Model names, with #2, #3 ... added when the same network is given twice (e.g. two inputs)."""
    out: list[str] = []
    for m in models:
        count = sum(1 for o in models[: len(out)] if o == m)
        out.append(m if count == 0 else f"{m}#{count + 1}")
    return out
