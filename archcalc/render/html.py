"""A self-contained HTML page: the tables plus inline-SVG bar charts (no scripts, no external assets).

Charts come from ``Grid.bars``: one panel per metric (the part of a series name before " · "),
one bar per row that has a value, one colour per group (the part after " · ", e.g. a network).
Bar lengths are linear in the value, relative to the largest value in the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from archcalc.render.tabular import Grid

COLOURS = ("#2a6fb0", "#c2410c", "#15803d", "#7e22ce", "#a16207")
SEP = " · "

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse;margin:8px 0}
th,td{padding:3px 10px;border-bottom:1px solid #d8dee4;white-space:nowrap}
th{text-align:left;background:#f6f8fa;border-bottom:2px solid #8c959f;white-space:normal;vertical-align:bottom}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.sub td{font-weight:600}tr.total td{font-weight:700;border-top:2px solid #8c959f;border-bottom:none}
tbody tr:nth-child(even){background:#fafbfc}
p.caption{color:#57606a;margin:4px 0 12px}
.charts{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
.charts svg text{font:11px system-ui,sans-serif;fill:#1f2328}
footer{margin-top:32px;color:#57606a;font-size:12px}
"""

LABEL_W, BAR_W, VALUE_W, ROW_H, BAR_H = 170, 290, 110, 16, 11


@dataclass
class Panel:
    metric: str
    noun: str  # what a bar is: the grid's first column (layer, stage)
    groups: list[str]
    labels: list[str]
    values: list[list[int]]  # per label, per group


def to_html(grids: list[Grid], title: str | None = None) -> str:
    """The whole page for one or more grids (e.g. compare's totals and stages)."""
    head = title or (grids[0].title if grids else "archcalc")
    return page(head, [section(g, heading=g.title if g.title != head else "") for g in grids])


def page(head: str, body: list[str], css: str = "", script: str = "") -> str:
    """The page around ``body``: the title, inline CSS (``css`` added to the tables' own) and an inline script."""
    from archcalc import __version__

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(head)}</title><style>{_CSS}{css}</style></head><body>",
        f"<h1>{escape(head)}</h1>",
        *body,
        f"<footer>archcalc {escape(__version__)}: MACs = multiply-accumulates of conv and linear layers, "
        "bias excluded, per sample; FLOPs = 2 x MACs; params = parameter elements.</footer>",
    ]
    if script:
        parts.append(f"<script>{script}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def section(g: Grid, heading: str = "") -> str:
    out = ["<section>"]
    if heading:
        out.append(f"<h2>{escape(heading)}</h2>")
    out.append(table_html(g))
    if g.caption:
        out.append(f'<p class="caption">{escape(g.caption)}</p>')
    out.append(charts_html(g))
    out.append("</section>")
    return "\n".join(out)


def charts_html(g: Grid) -> str:
    panels = chart_panels(g)
    return '<div class="charts">' + "".join(svg_chart(p, i) for i, p in enumerate(panels)) + "</div>" if panels else ""


def table_html(g: Grid) -> str:
    def cls(i: int) -> str:
        return ' class="num"' if i in g.numeric else ""

    rows = ["<table>", "<thead><tr>" + "".join(f"<th{cls(i)}>{escape(c)}</th>" for i, c in enumerate(g.columns))]
    rows.append("</tr></thead><tbody>")
    for r, row in enumerate(g.rows):
        cells = []
        for i, c in enumerate(row):
            pad = f' style="padding-left:{10 + 16 * max(g.depths[r], 0)}px"' if i == 0 and g.depths else ""
            cells.append(f"<td{cls(i)}{pad}>{escape(c)}</td>")
        sub = ' class="sub"' if r in g.bold else ""
        path = f' data-path="{escape(g.paths[r])}"' if r < len(g.paths) else ""
        rows.append(f"<tr{sub}{path}>{''.join(cells)}</tr>")
    rows.append("</tbody>")
    if g.footer:
        rows.append(
            '<tfoot><tr class="total">' + "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(g.footer))
        )
        rows.append("</tr></tfoot>")
    rows.append("</table>")
    return "\n".join(rows)


def chart_panels(g: Grid) -> list[Panel]:
    """Group the grid's series into panels; rows with no value (or all zero) are left out."""
    panels: dict[str, Panel] = {}
    series: dict[str, list[tuple[str, list[int | None]]]] = {}
    for name, values in g.bars.items():
        metric, _, group = name.partition(SEP)
        series.setdefault(metric, []).append((group, values))
    for metric, items in series.items():
        panel = Panel(metric, g.columns[0] if g.columns else "row", [grp for grp, _ in items], [], [])
        for r, row in enumerate(g.rows):
            vals = [values[r] if r < len(values) else None for _, values in items]
            if all(v is None for v in vals) or not any(vals):
                continue
            panel.labels.append(row[0])
            panel.values.append([v or 0 for v in vals])
        if panel.labels:
            panels[metric] = panel
    return list(panels.values())


def svg_chart(p: Panel, index: int = 0) -> str:
    """Horizontal bars: label, bar(s) linear in the value, the value written after the bar.

    One colour per group; a single-group panel takes the colour of its position (params blue, MACs orange).
    """
    k = len(p.groups)
    shift = index if k == 1 else 0
    step = ROW_H + (k - 1) * (BAR_H + 2)
    legend = 18 if k > 1 and any(p.groups) else 0
    width, height = LABEL_W + BAR_W + VALUE_W, legend + step * len(p.labels) + 6
    top = max((v for vals in p.values for v in vals), default=0) or 1
    out = [
        f"<figure><figcaption>{escape(p.metric)} per {escape(p.noun)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(p.metric)} per {escape(p.noun)}">'
    ]
    x = LABEL_W
    for j, grp in enumerate(p.groups if legend else []):
        colour = COLOURS[j % len(COLOURS)]
        out.append(f'<rect x="{x}" y="3" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="12">{escape(grp)}</text>')
        x += 24 + 7 * len(grp)
    for i, (label, vals) in enumerate(zip(p.labels, p.values, strict=True)):
        y = legend + i * step
        short = label if len(label) <= 30 else "…" + label[-29:]
        out.append(f'<text x="{LABEL_W - 6}" y="{y + BAR_H}" text-anchor="end"><title>{escape(label)}</title>')
        out.append(f"{escape(short)}</text>")
        for j, v in enumerate(vals):
            yy = y + j * (BAR_H + 2) + 2
            w = round(BAR_W * v / top, 1)
            colour = COLOURS[(j + shift) % len(COLOURS)]
            out.append(
                f'<rect x="{LABEL_W}" y="{yy}" width="{max(w, 1 if v else 0)}" height="{BAR_H}" fill="{colour}">'
            )
            out.append(f"<title>{escape(label)}: {v:,}</title></rect>")
            out.append(f'<text x="{LABEL_W + w + 4}" y="{yy + BAR_H - 2}">{v:,}</text>')
    out.append("</svg></figure>")
    return "".join(out)
