"""A ``Drawing`` as SVG text (no library), and the file it is written to: .svg, or .png through headless Chromium.

Every box is ``<g class="node" data-key=... data-kind=...>`` (a layer's or block's also ``data-path=...``,
as the html table's rows) holding ``<rect class="box">`` and its text;
every edge is ``<path class="edge" data-src=... data-dst=...>``: tests and scripts read them back.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from archcalc.errors import ArchcalcError, show
from archcalc.render.draw import Drawing
from archcalc.render.layout import Box

MARGIN, HEADER, CHAR_W = 24.0, 52.0, 5.9
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
HUES = {"params": (42, 111, 176), "macs": (194, 65, 12), "activations": (22, 128, 61)}
KIND_FILL = {"input": "#eef2f7", "merge": "#fff4d6", "bus": "#fff4d6", "block": "#e8eefc", "layer": "#ffffff"}


def fit(text: str, width: float) -> str:
    room = max(int(width / CHAR_W + 0.01), 4)
    return text if len(text) <= room else text[: room - 1] + "…"


def fill_of(box: Box, drawing: Drawing, top: int) -> str:
    if drawing.color is None or box.record is None:
        return KIND_FILL.get(box.kind, "#ffffff")
    value = getattr(box.record.counts, drawing.color)
    t = 0.7 * math.log1p(max(value, 0)) / math.log1p(top) if top > 0 else 0.0  # the darkest keeps text readable
    r, g, b = (round(255 + (c - 255) * t) for c in HUES[drawing.color])
    return f"#{r:02x}{g:02x}{b:02x}"


def to_svg(drawing: Drawing) -> str:
    boxes = drawing.boxes
    xs = [p[0] for e in drawing.edges for p in e.points] + [b.x for b in boxes] + [b.x + b.w for b in boxes]
    ys = [p[1] for e in drawing.edges for p in e.points] + [b.y for b in boxes] + [b.y + b.h for b in boxes]
    labels = 22.0 if drawing.style == "maps" else 0.0
    if labels:  # maps: the names and shapes are wider than a thin stack or bar
        half = [max(len(t) for t in b.lines) * CHAR_W / 2 for b in boxes]
        xs += [b.cx - w for b, w in zip(boxes, half, strict=True)] + [
            b.cx + w for b, w in zip(boxes, half, strict=True)
        ]
    x0, y0 = min(xs) - MARGIN, min(ys) - MARGIN - HEADER - labels
    top = max((getattr(b.record.counts, drawing.color) for b in boxes if b.record), default=0) if drawing.color else 0
    text = max(8.4 * len(drawing.title), 6.0 * len(legend(drawing, top)))
    width = max(max(xs) - x0 + MARGIN, 460.0, 2 * MARGIN + text)
    height = max(ys) - y0 + MARGIN + labels
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="{x0:.1f} {y0:.1f} {width:.1f} {height:.1f}" font-family="{FONT}" font-size="10">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{width:.1f}" height="{height:.1f}" fill="#ffffff"/>',
        f'<text x="{x0 + MARGIN:.1f}" y="{y0 + 22:.1f}" font-size="14" font-weight="bold">{escape(drawing.title)}</text>',
        f'<text x="{x0 + MARGIN:.1f}" y="{y0 + 38:.1f}" fill="#444">{escape(legend(drawing, top))}</text>',
    ]
    out += [frame_svg(f.label, f.x, f.y, f.w, f.h) for f in drawing.frames]
    out += [edge_svg(e.src, e.dst, e.points, e.bus) for e in drawing.edges]
    for b in boxes:
        out.append(node_svg(b, drawing, fill_of(b, drawing, top)))
    out.append("</svg>\n")
    return "\n".join(out)


def legend(drawing: Drawing, top: int) -> str:
    if drawing.color is None:
        return drawing.caption
    return f"{drawing.caption}   |   fill: {drawing.color}, log scale, white 0 to full {top:,}"


def frame_svg(label: str, x: float, y: float, w: float, h: float) -> str:
    return (
        f'<g class="frame"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="none" '
        f'stroke="#9aa7b8" stroke-dasharray="4 3"/><text x="{x + 6:.1f}" y="{y + 11:.1f}" fill="#5a6b80" '
        f'font-size="9">{escape(fit(label, w - 8))}</text></g>'
    )


def edge_svg(src: str, dst: str, points: list[tuple[float, float]], bus: bool) -> str:
    d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
    colour = "#b7791f" if bus else "#555"
    return (
        f'<path class="edge" data-src={quoteattr(src)} data-dst={quoteattr(dst)} d="{d}" fill="none" '
        f'stroke="{colour}" stroke-width="1.1" marker-end="url(#arrow)"/>'
    )


def node_svg(b: Box, drawing: Drawing, fill: str) -> str:
    title = escape(b.key if b.record is None else f"{b.key} ({b.record.op})")
    path = "" if b.record is None else f" data-path={quoteattr(b.record.path)}"
    head = f'<g class="node" data-key={quoteattr(b.key)} data-kind="{b.kind}"{path}><title>{title}</title>'
    if drawing.style == "maps":
        return head + maps_body(b, drawing, fill) + "</g>"
    rect = (
        f'<rect class="box" x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="3" '
        f'fill="{fill}" stroke="#3b4a5c"/>'
    )
    n = len(b.lines)
    texts = [
        f'<text x="{b.cx:.1f}" y="{b.cy + (i - (n - 1) / 2) * 12 + 3.5:.1f}" text-anchor="middle"'
        + (' font-weight="bold"' if i == 0 and b.kind in ("layer", "block", "input") else "")
        + f">{escape(fit(line, b.w - 6))}</text>"
        for i, line in enumerate(b.lines)
    ]
    return head + rect + "".join(texts) + "</g>"


def maps_body(b: Box, drawing: Drawing, fill: str) -> str:
    """A stack of sheets (back to front), a slab or a bar; the name above, the shape and kernel below."""
    sheets = (drawing.sheets or {}).get(b.key)
    parts = [f'<rect class="box" x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" fill="none"/>']
    if sheets is not None:
        n, sw, sh = sheets
        step = (b.w - sw) / (n - 1) if n > 1 else 0.0
        for i in range(n):
            x, y = b.x + (n - 1 - i) * step, b.y + i * step
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{sw:.1f}" height="{sh:.1f}" fill="{fill}" stroke="#3b4a5c"/>'
            )
    else:
        parts.append(
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="2" fill="{fill}" stroke="#3b4a5c"/>'
        )
    if b.slab and b.record is not None:  # a pointwise layer: its name along the slab
        name = escape(fit(b.record.name, b.h + 60))
        parts.append(
            f'<text transform="translate({b.cx + 3.5:.1f},{b.y - 4:.1f}) rotate(-90)" font-size="9">{name}</text>'
        )
        return "".join(parts)
    room = max(b.w, max(len(t) for t in b.lines) * CHAR_W)
    parts.append(
        f'<text x="{b.cx:.1f}" y="{b.y - 6:.1f}" text-anchor="middle" font-weight="bold">'
        f"{escape(fit(b.lines[0], room))}</text>"
    )
    for i, line in enumerate(b.lines[1:]):
        parts.append(
            f'<text x="{b.cx:.1f}" y="{b.y + b.h + 13 + 12 * i:.1f}" text-anchor="middle">{escape(fit(line, room))}</text>'
        )
    return "".join(parts)


def check_path(path: Path) -> None:
    """Refused before any work: a name that is not .svg or .png."""
    if path.suffix.lower() not in (".svg", ".png"):
        raise ArchcalcError(f"-o {show(str(path))}: use a .svg or .png file name")


def write(svg: str, path: Path) -> None:
    """``.svg``: the text; ``.png``: Chromium's screenshot of it. Missing parent folders are created."""
    check_path(path)
    browser = None
    if path.suffix.lower() == ".png":
        browser = next(
            (b for b in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if b), None
        )
        if browser is None:
            raise ArchcalcError("a .png needs Chromium (apt-get install chromium); or write a .svg")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if browser is None:
            path.write_text(svg, encoding="utf-8")
        else:
            screenshot(browser, svg, path)
    except OSError as err:
        raise ArchcalcError(f"cannot write the drawing: {err.strerror or err}", file=str(path)) from None


def screenshot(browser: str, svg: str, png: Path) -> None:
    head = svg[: svg.index(">")]
    size = ",".join(head.split('"')[i] for i in (3, 5))  # the svg element's width and height
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "drawing.svg"
        page.write_text(svg, encoding="utf-8")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp}",
               f"--screenshot={png.resolve()}", f"--window-size={size}", page.as_uri()]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, timeout=120, env={**os.environ, "HOME": tmp}, check=False)
        if done.returncode != 0 or not png.exists():
            raise ArchcalcError(f"Chromium could not draw {show(str(png))} (exit {done.returncode})")
