"""``table --format html``: the page of ``render/html.py`` with the drawing of ``archcalc draw`` and every layer's
``explain`` derivation, the table and the drawing linked.

Each table row and each diagram box of a layer or block carries ``data-path``. Hovering one highlights every
element with that path (class ``hl``) and shows the layer's derivation in a side panel; a click pins it (the
panel falls back to the pinned layer when the pointer leaves) and scrolls the other view to it.

One self-contained file: inline CSS and script, no URL. The derivations are JSON in a
``<script type="application/json">`` with every ``<``, ``>`` and ``&`` written as a ``\\u`` escape, so no text
of a spec can close that element; the script only ever sets ``textContent``. Only layers get a derivation
(a block's is a sum over its layers, as long as the block; it gets one line): the page stays linear in the
layers.
"""

from __future__ import annotations

import json
import shlex
from html import escape

from archcalc.analysis.explain import Derivation, _enclosing, clip, explain_layer
from archcalc.analysis.report import Report
from archcalc.render.draw import draw
from archcalc.render.explain_text import LIMIT, heading, lines, tail
from archcalc.render.html import charts_html, page, table_html
from archcalc.render.svg import to_svg
from archcalc.render.tabular import Grid, shape_text

HINT = "Hover over a layer in the diagram or the table to see how its numbers were computed; click to pin it."

_CSS = """
.report{display:grid;grid-template-columns:minmax(0,1fr) minmax(330px,31%);gap:20px;align-items:start}
.scroll{overflow:auto;border:1px solid #d8dee4;border-radius:6px;margin:8px 0}
main{display:flex;flex-direction:column;max-height:calc(100vh - 24px)}
.diagram{flex:0 0 auto;max-height:55vh}.diagram svg{display:block}
.rows{flex:0 1 auto;min-height:180px;width:max-content;max-width:100%}.rows table{margin:0}
.rows thead th{position:sticky;top:0;z-index:1}
[data-path]{cursor:pointer}g.node rect.box{pointer-events:all}
tr.hl td,tbody tr.hl:nth-child(even) td{background:#ffe8a3}
g.node.hl rect{stroke:#d9480f;stroke-width:2.5px}g.node.hl rect.box{fill-opacity:.9}
.panel{position:sticky;top:12px;max-height:calc(100vh - 24px);overflow:auto;border:1px solid #d8dee4;
border-radius:6px;background:#f6f8fa;padding:10px 14px}
.panel h2{margin:0 0 6px;font-size:15px}
#derivation{font:12px/1.45 ui-monospace,"DejaVu Sans Mono",monospace}
#derivation div{white-space:pre-wrap;overflow-wrap:anywhere;padding-left:8ch;text-indent:-8ch}
@media (max-width:1000px){.report{grid-template-columns:minmax(0,1fr)}.panel{top:auto;bottom:0;max-height:40vh}}
"""

# Hover shows a layer, leaving shows the pinned one, a click pins. Every node lookup goes through byPath (built
# once), so a path is never put into a CSS selector.
_SCRIPT = """(function () {
  var texts = JSON.parse(document.getElementById("derivations").textContent);
  var panel = document.getElementById("derivation"), hint = panel.textContent;
  function write(text) {  // one element per line: a wrapped line hangs under its own start
    panel.textContent = "";
    text.split("\\n").forEach(function (line) {
      panel.appendChild(document.createElement("div")).textContent = line;
    });
  }
  var byPath = {}, shown = null, pinned = null;
  document.querySelectorAll("[data-path]").forEach(function (el) {
    var p = el.getAttribute("data-path");
    (byPath[p] = byPath[p] || []).push(el);
  });
  function show(path) {
    if (path === shown) return;
    (byPath[shown] || []).forEach(function (el) { el.classList.remove("hl"); });
    shown = path;
    (byPath[path] || []).forEach(function (el) { el.classList.add("hl"); });
    if (path === null) write(hint);
    else write(Object.prototype.hasOwnProperty.call(texts, path) ? texts[path] : path);
  }
  function pathOf(ev) {
    var el = ev.target.closest ? ev.target.closest("[data-path]") : null;
    return el ? el.getAttribute("data-path") : null;
  }
  function reveal(el) {  // scroll el's own box (never the page) along each axis where el is out of sight
    var box = el.closest(".scroll");
    if (!box) return;
    var r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    var top = Math.max(b.top, 0), bottom = Math.min(b.bottom, window.innerHeight);  // the part on screen
    if (r.top < top || r.bottom > bottom) box.scrollTop += r.top + r.height / 2 - (top + bottom) / 2;
    if (r.width < b.width && (r.left < b.left || r.right > b.right))
      box.scrollLeft += r.left + r.width / 2 - b.left - b.width / 2;
  }
  document.addEventListener("mouseover", function (ev) {
    var p = pathOf(ev);
    show(p === null ? pinned : p);
  });
  document.addEventListener("click", function (ev) {
    var p = pathOf(ev);
    if (p === null) return;
    pinned = p;
    show(p);
    var from = ev.target.closest(".scroll");
    (byPath[p] || []).forEach(function (el) { if (el.closest(".scroll") !== from) reveal(el); });
  });
})();"""


def derivation_text(d: Derivation) -> str:
    """What ``archcalc explain SPEC PATH`` prints for a layer below its model line, as plain text (the lines of
    ``explain_text.print_rich``, with rich's styles left out)."""
    out = [heading(d)]
    for label, s in lines(d):
        parts = [clip(p, LIMIT) for p in s.parts()]
        out.append(f"  {label} {s.value:,}" + "".join(("\n      = " if i else " = ") + p for i, p in enumerate(parts)))
    out += [f"  {t}" for t in tail(d)]
    return "\n".join(out)


def derivations(report: Report, paths: list[str], spec: str) -> dict[str, str]:
    """For each layer among ``paths`` (the table's rows), its derivation as ``explain`` gives it for that one
    layer (its blocks' derived values first); for each block, one line saying how to get its sums."""
    out = {}
    for path in paths:
        rec = report[path]
        if rec.kind != "layer":
            out[path] = (
                f"{path}  {rec.op}  {shape_text(rec.input_shape)} -> {shape_text(rec.output_shape)}\n"
                f"  a block: its counts are the sums over its layers (archcalc explain {shlex.quote(spec)} "
                f"{shlex.quote(path)} writes them out)"
            )
            continue
        if rec.unknown:  # an op archcalc does not know has no derivation
            out[path] = f"{path}  {rec.op} {rec.args['what']}: an op archcalc does not know; its counts are unknown"
            continue
        d = explain_layer(rec)
        d.derived[:0] = _enclosing(report, rec)
        out[path] = derivation_text(d)
    return out


def script_json(data: object) -> str:
    """JSON that is safe as the text of a <script> element: no '<', '>' or '&' in it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def report_page(report: Report, grid: Grid, spec: str, depth: int | None = None) -> str:
    """The table's page with the default drawing (honouring ``depth``) and the derivation panel; ``spec`` is
    the spec as the user named it (in the hint for a block)."""
    svg = to_svg(draw(report, None, depth, None))
    body = [
        '<div class="report"><main>',
        f'<div class="scroll diagram">{svg}</div>',
        f'<div class="scroll rows">{table_html(grid)}</div>',
        f'<p class="caption">{escape(grid.caption)}</p>' if grid.caption else "",
        '</main><aside class="panel"><h2>derivation</h2>',
        f'<div id="derivation"><div>{HINT}</div></div></aside></div>',
        charts_html(grid),  # below, across the page: the bars are not linked
        f'<script type="application/json" id="derivations">{script_json(derivations(report, grid.paths, spec))}</script>',
    ]
    return page(grid.title, body, _CSS, _SCRIPT)
