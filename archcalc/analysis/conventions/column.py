"""``archcalc table SPEC --convention NAME``: one more per-layer column with that convention's numbers, as data."""

from __future__ import annotations

from typing import Any

from archcalc.analysis.conventions.core import get, layer_values, total
from archcalc.analysis.report import Column, Report

# conventions the layer table already shows, under these column names
SHOWN = {"macs": "MACs", "connections": "connections"}


def convention_column(report: Report, name: str, data: dict[str, Any]) -> tuple[Column, ...]:
    """The column (none if the table already shows that convention); the values also go into ``data``."""
    conv = get(name)
    values = layer_values(report, name)
    grand = total(report, name)
    for key in ("layers", "blocks"):
        for item in data.get(key, []):
            item[name] = values[item["path"]]
    data.setdefault("totals", {})[name] = grand
    if name in SHOWN:
        return ()
    return (Column(f"{name} ({conv.unit})", values, True, grand, f"{name}: {conv.line}", name),)
