"""``archcalc table SPEC --format html``: the diagram, the table and each layer's derivation, linked.

The browser test drives Debian's headless Chromium through the DevTools protocol (tests/browser.py): it clicks
a box and a row with real mouse events and reads what the page then shows. The expected derivation is what
``archcalc explain`` prints, and the expected drawing what ``archcalc draw`` writes: other commands, not the page.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from browser import Page

from archcalc.cli.app import main
from archcalc.render.report_html import script_json

HOSTILE_NAME = "</script><script>alert(1)</script>"
HOSTILE_TITLE = "<b>bold</b> & <!-- 'q' \"dq\" <img src=x onerror=alert(2)>"
HOSTILE_SPEC = f"""name: {json.dumps(HOSTILE_NAME)}
title: {json.dumps(HOSTILE_TITLE)}
input: [1, 8, 8]
layers:
  - {{name: c, op: conv2d, out: 2, kernel: 3}}
  - {{name: r, op: relu}}
"""


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 0, args
    return capsys.readouterr().out


def page_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str) -> Path:
    out = tmp_path / f"{Path(spec).stem}.html"
    out.write_text(cli(["table", spec, "--format", "html"], capsys), encoding="utf-8")
    return out


def centre(page: Page, selector: str) -> tuple[float, float]:
    """The element in view (scrolled inside its own box and the page) and its centre, in viewport pixels."""
    rect: list[float] = page.eval(
        f"(function () {{ var e = document.querySelector({json.dumps(selector)});"
        " e.scrollIntoView({block: 'center', inline: 'center'}); var r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; })()"
    )
    assert rect[2] > 0 and rect[3] > 0, selector
    return rect[0] + rect[2] / 2, rect[1] + rect[3] / 2


def highlighted(page: Page) -> list[str]:
    found: list[str] = page.eval(
        "Array.from(document.querySelectorAll('.hl')).map(function (e) {"
        " return e.tagName.toLowerCase() + ' ' + e.getAttribute('data-path'); }).sort()"
    )
    return found


def panel(page: Page) -> list[str]:
    lines: list[str] = page.eval(
        "Array.from(document.getElementById('derivation').children).map(function (e) { return e.textContent; })"
    )
    return lines


def settle(read: Callable[[], Any], expected: Any, timeout: float = 5.0) -> None:
    """``read()`` comes to equal ``expected`` (a page handles input events asynchronously)."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert value == expected


def test_click_a_box_or_a_row_shows_its_derivation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = page_file(tmp_path, capsys, "lenet5")
    c3 = cli(["explain", "lenet5", "C3"], capsys).splitlines()
    s4 = cli(["explain", "lenet5", "S4"], capsys).splitlines()
    assert c3[0].startswith("lenet5: LeNet-5") and c3[1] == ""  # the model line: the page's own title
    with Page(html.as_uri()) as page:
        assert panel(page)[0].startswith("Hover over a layer")
        assert highlighted(page) == []
        box = "g.node[data-path='C3']"
        assert page.eval(f"document.querySelector({json.dumps(box)}).textContent").startswith("C3 (conv2d)C3 · conv2d")
        page.click(*centre(page, box))
        settle(lambda: [li.rstrip() for li in panel(page)], [li.rstrip() for li in c3[2:]])
        assert highlighted(page) == ["g C3", "tr C3"]
        page.move(2, 2)  # the pointer leaves: the clicked layer stays
        time.sleep(0.2)
        assert highlighted(page) == ["g C3", "tr C3"] and panel(page)[0].startswith("C3  conv2d")

        row = "tr[data-path='S4']"
        assert page.eval(f"document.querySelector({json.dumps(row)}).cells[0].textContent") == "S4"
        page.click(*centre(page, row))
        settle(lambda: highlighted(page), ["g S4", "tr S4"])
        assert [li.rstrip() for li in panel(page)] == [li.rstrip() for li in s4[2:]]

        page.move(*centre(page, "tr[data-path='F6']"))  # hovering shows another layer, leaving shows S4 again
        settle(lambda: highlighted(page), ["g F6", "tr F6"])
        assert panel(page)[0].startswith("F6  linear")
        page.move(2, 2)
        settle(lambda: highlighted(page), ["g S4", "tr S4"])

        hostile = tmp_path / "hostile.yaml"
        hostile.write_text(HOSTILE_SPEC, encoding="utf-8")
        page.goto(page_file(tmp_path, capsys, str(hostile)).as_uri())
        assert page.eval("document.title") == f"{HOSTILE_NAME}: {HOSTILE_TITLE}"
        assert page.eval("document.querySelector('h1').textContent") == f"{HOSTILE_NAME}: {HOSTILE_TITLE}"
        assert page.eval("document.scripts.length") == 2 and page.eval("document.images.length") == 0
        page.click(*centre(page, "g.node[data-path='c']"))
        settle(lambda: panel(page)[0], "c  conv2d k3 s1 p0  1x8x8 -> 2x6x6")


def data_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="derivations">([^<]*)</script>', html)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_page_holds_the_draw_drawing_and_escapes_the_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """googlenet at --depth 2: the diagram is draw's, byte for byte; every box and every row carries its path;
    a derivation is embedded for each layer shown (a line for a block). A hostile name stays text."""
    html = cli(["table", "googlenet", "--depth", "2", "--format", "html"], capsys)
    svg = tmp_path / "googlenet.svg"
    cli(["draw", "googlenet", "--depth", "2", "-o", str(svg)], capsys)
    assert svg.read_text(encoding="utf-8").rstrip("\n") in html
    rows = cli(["table", "googlenet", "--depth", "2", "--format", "csv"], capsys).splitlines()[1:-1]
    row_paths = [r.split(",")[0] for r in rows]  # csv: the layer column, in order; the last line is the total
    assert re.findall(r'<tr(?: class="sub")? data-path="([^"]+)"', html) == row_paths
    boxes = re.findall(r'<g class="node" data-key="([^"]+)" data-kind="(?:layer|block)" data-path="([^"]+)"', html)
    assert boxes and all(key == path for key, path in boxes) and {p for _, p in boxes} <= set(row_paths)
    derived = data_of(html)
    assert list(derived) == row_paths
    assert derived["conv1.conv"].startswith("conv1.conv  conv2d k7 s2 p3  3x224x224 -> 64x112x112\n  H_out = W_out 112")
    block = "inception_3a.b2"  # the 3x3 branch (the paper's table 1), collapsed at depth 2: a line, no derivation
    assert derived[block].startswith(f"{block}  seq  192x28x28 -> 128x28x28\n")
    assert derived[block].endswith(f"(archcalc explain googlenet {block} writes them out)")

    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(HOSTILE_SPEC, encoding="utf-8")
    html = cli(["table", str(hostile), "--format", "html"], capsys)
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/json" id="derivations">', "<script>"]
    assert "alert" not in html.split("<script>")[-1] and "<img" not in html and "<b>" not in html
    assert f"<h1>{HOSTILE_NAME}: {HOSTILE_TITLE}</h1>" in unescape(html)
    assert set(data_of(html)) == {"c", "r"}
    # no text can end the data element, whatever a derivation holds
    assert script_json({"a": "</script><!--&"}) == '{"a":"\\u003c/script\\u003e\\u003c!--\\u0026"}'


def test_embedded_derivation_is_what_explain_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """A layer inside repeated blocks with arguments: the enclosing blocks' derived values come first, as in
    ``archcalc explain`` (this one's 'derived in features.3: ...' lines); the model line is the page's title."""
    layer = "features.3.0.block.1.0"
    printed = cli(["explain", "efficientnet-b0", layer], capsys).splitlines()[2:]
    assert sum(li.startswith("  derived in features.3") for li in printed) >= 3
    embedded = data_of(cli(["table", "efficientnet-b0", "--format", "html"], capsys))[layer]
    assert [li.rstrip() for li in embedded.splitlines()] == [li.rstrip() for li in printed]


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["densenet201", "efficientnet-b7"])
def test_page_size_is_linear_in_the_layers(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """At most ~3 kB per layer row (about 1.9 kB measured): the diagram, the row and one derivation each."""
    html = cli(["table", spec, "--format", "html"], capsys)
    rows = html.count("<tr data-path=") + html.count('<tr class="sub" data-path=')
    assert rows > 500 and len(html.encode()) < 3_000 * rows + 50_000
