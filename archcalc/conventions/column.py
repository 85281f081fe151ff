"""``archcalc table SPEC --convention NAME``: one more per-layer column with that convention's numbers."""

from __future__ import annotations

from typing import Any

from archcalc.conventions.core import get, layer_values, total
from archcalc.render.tabular import Grid, n
from archcalc.report import Report

# conventions the layer table already shows, under these column names
SHOWN = {"macs": "MACs", "connections": "connections"}


def add_column(grid: Grid, report: Report, name: str, data: dict[str, Any]) -> None:
    """Append the column (unless the table already has it) and the per-layer values to the JSON document.

    Rows are matched to records by path (the first cell); a row whose MACs cell is blank is an
    expanded block, which gets no number either, so the column still sums to its total.
    """
    conv = get(name)
    values = layer_values(report, name)
    grand = total(report, name)
    for key in ("layers", "blocks"):
        for item in data.get(key, []):
            item[name] = values[item["path"]]
    data.setdefault("totals", {})[name] = grand
    if name in SHOWN:
        return
    macs_col = grid.columns.index("MACs")
    for row in grid.rows:
        path = row[0].strip()
        if path not in values:
            raise RuntimeError(f"table row '{path}' is not a record path")
        row.append("" if row[macs_col] == "" else n(values[path]))
    grid.numeric.add(len(grid.columns))
    grid.columns.append(f"{name} ({conv.unit})")
    if grid.footer is not None:
        grid.footer.append(n(grand))
    grid.caption += f" | {name}: {conv.line}"
