"""The numbers people quote for a network, each mapped to the convention that produces it.

Every value is computed by the conventions from the spec (the paper's number from the
paper's layout); only *which* layout a paper used is data here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.analysis.conventions.core import get, names, total
from archcalc.analysis.report import Report
from archcalc.frontend.spec import Spec

# spec -> (spec of the paper's layout, --set overrides, what the paper prints, which layout). ResNet paper
# Table 1 uses v1: the first bottleneck of a stage strides in its first 1x1; torchvision (v1.5) in the 3x3.
# The printed value is the paper's (one decimal, x10^9): the only quoted number here; archcalc computes
# the exact value and the table shows both.
_V1 = "v1 layout, stride in the first 1x1"
_V1_SETS = {"first_s1": 2, "first_s3": 1}
_BASIC = "basic blocks: v1 = v1.5"
PAPER_LAYOUT: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "resnet18": ("resnet18", {}, "1.8", _BASIC),
    "resnet34": ("resnet34", {}, "3.6", _BASIC),
    "resnet50": ("resnet50-v1", {}, "3.8", _V1 + ": spec resnet50-v1"),
    "resnet50-v1": ("resnet50-v1", {}, "3.8", _V1),
    "resnet101": ("resnet101", _V1_SETS, "7.6", _V1 + ": --set first_s1=2 --set first_s3=1"),
    "resnet152": ("resnet152", _V1_SETS, "11.3", _V1 + ": --set first_s1=2 --set first_s3=1"),
}


@dataclass(frozen=True)
class Famous:
    shown: str  # as usually quoted, in the unit of scale(macs): G (10^9) or M (10^6); 'n/a' if value is None
    label: str  # who quotes it
    convention: str
    value: int | None  # exact, per sample; None: that tool cannot count this network (not_applicable says why)


def not_applicable(report: Report, name: str) -> str | None:
    """Why the convention's tool cannot count this network at all (it refuses one of its ops), or None."""
    conv = get(name)
    where: dict[str, tuple[str, int]] = {}
    for rec in report.layers:
        if rec.op in conv.refused:
            where.setdefault(rec.op, (rec.path, rec.line))
    return (
        "; ".join(
            f"{name} cannot count {op} (layer '{path}', line {line}): {conv.refused[op]}"
            for op, (path, line) in where.items()
        )
        or None
    )


def applicable_totals(report: Report) -> tuple[dict[str, int | None], dict[str, str]]:
    """Every convention's total (None where its tool cannot count the network), and why not, by name."""
    values: dict[str, int | None] = {}
    why: dict[str, str] = {}
    for name in names():
        reason = not_applicable(report, name)
        if reason is None:
            values[name] = total(report, name)
        else:
            values[name], why[name] = None, reason
    return values, why


def scale(value: int) -> tuple[int, str]:
    """The unit numbers are quoted in: G (10^9) for ImageNet-sized networks, M (10^6) below 0.1 G."""
    return (10**9, "G") if value >= 10**8 else (10**6, "M")


def _g(value: int, digits: int, unit: int = 10**9) -> str:
    return f"{value / unit:.{digits}f}"


def famous_numbers(report: Report) -> list[Famous]:
    """Paper (when its layout is known), torchvision/papers' MACs, fvcore, torchinfo, FlopCounterMode.

    Quoted numbers only exist for a bundled spec as published (its own params and input); for
    anything else the rows still map each tool to its convention, without the paper's row.
    """
    spec = _spec(report.model) if report.file == f"specs/{report.model}.yaml" else None
    as_published = spec is not None and report.params == spec.params and report.input == spec.input
    out = _paper(report) if as_published else []
    macs = total(report, "macs")
    unit = scale(macs)[0]
    ops = spec.published.get("ops_gmacs") if spec is not None else None
    if ops is not None and as_published:
        label = f"torchvision _ops (labelled GFLOPS, really GMACs); its meta says {ops}"
    else:
        label = "conv + linear MACs: torchvision _ops' and the papers' convention"
    out.append(Famous(_g(macs, 2, unit), label, "macs", macs))
    for conv, label in (
        ("fvcore", "fvcore FlopCountAnalysis(...).total() (calls its MACs 'flops')"),
        ("torchinfo", "torchinfo 'Total mult-adds'"),
        ("flops", "torch FlopCounterMode get_total_flops() (2 per MAC)"),
    ):
        v = None if not_applicable(report, conv) else total(report, conv)
        out.append(Famous("n/a" if v is None else _g(v, 2, unit), label, conv, v))
    return out


def _paper(report: Report) -> list[Famous]:
    """The paper's printed number and archcalc's exact MACs of the paper's layout."""
    paper = PAPER_LAYOUT.get(report.model)
    if paper is None:
        return []
    from archcalc.analysis.records import analyze

    spec, sets, printed, layout = paper
    macs = total(analyze(spec, report.input, sets), "macs")
    label = f"ResNet paper Table 1 'FLOPs' (multiply-adds), {layout}; archcalc {_g(macs, 3)}"
    return [Famous(printed, label, "macs", macs)]


def _spec(name: str) -> Spec:
    from archcalc.frontend.spec import load_spec

    return load_spec(name)
