"""`--format html`: a self-contained page with the table and SVG bar charts, screenshot in headless Chromium."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from browser import screenshot

from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.render.html import BAR_W

PARAMS_BLUE, MACS_ORANGE = (0x2A, 0x6F, 0xB0), (0xC2, 0x41, 0x0C)


def page(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def test_self_contained_for_every_spec(spec_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """table's page (tests/test_html_report.py tests its diagram and script): inline only, no URL but the SVG
    namespace, no reference but the diagram's own arrow marker."""
    html = page(["table", spec_name, "--format", "html"], capsys)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for external in ("<link", "href=", "@import", "<iframe", "<object", "<embed"):
        assert external not in html, external
    assert not re.search(r"(?<![\w-])src=", html)  # the edges' data-src are not
    assert set(re.findall(r"url\([^)]*\)", html)) == {"url(#arrow)"}
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/json" id="derivations">', "<script>"]
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count("<svg")
    report = analyze(spec_name)
    assert f"{report.totals.params:,}" in html and f"{report.totals.macs:,}" in html
    assert html.count("<svg") == 3  # the diagram, then the params and MACs panels


def test_bar_lengths_are_linear_in_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """alexnet-227: fc6 holds the most params (256*6*6*4096 + 4096), so its bar is the full width."""
    html = page(["table", "alexnet-227", "--format", "html"], capsys)
    params_svg = html[html.index("params per layer") : html.index("MACs per layer")]
    bars = {
        label: (float(width), int(value.replace(",", "")))
        for width, label, value in re.findall(
            r'<rect x="\d+" y="[\d.]+" width="([\d.]+)" [^>]*><title>([^<]+): ([\d,]+)</title>', params_svg
        )
    }
    fc6 = 256 * 6 * 6 * 4096 + 4096
    conv1 = 96 * 3 * 11 * 11 + 96
    assert bars["classifier.fc6"] == (BAR_W, fc6)
    conv2 = 256 * 96 * 5 * 5 + 256
    assert bars["features.conv2"] == (round(BAR_W * conv2 / fc6, 1), conv2)
    assert bars["features.conv1"] == (1.0, conv1)  # 0.3 px: a non-zero count keeps a visible 1 px bar
    assert set(bars) == {r.path for r in analyze("alexnet-227").layers if r.counts.params}  # zero rows left out


def test_every_command_has_html(capsys: pytest.CaptureFixture[str]) -> None:
    html = unescape(page(["list", "--format", "html"], capsys))
    assert "lenet5" in html and "60,000" in html
    html = unescape(page(["compare", "lenet", "lenet5", "--format", "html"], capsys))
    assert "params per stage" in html and "k5 s1 p0 table -> 16x10x10" in html
    assert "<script" not in html and "data-path" not in html  # only table's page is interactive


def test_screenshot_in_headless_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The page renders: the PNG has the table's ink and both charts' bar colours in the expected places."""
    from PIL import Image

    html_file = tmp_path / "alexnet.html"
    html_file.write_text(page(["table", "alexnet-227", "--format", "html"], capsys), encoding="utf-8")
    png = tmp_path / "alexnet.png"
    screenshot(html_file, png)
    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 2000)
    w, h = img.size
    px = img.load()
    assert px is not None

    def count(colour: tuple[int, int, int], x0: int, x1: int) -> int:
        return sum(1 for x in range(x0, x1, 2) for y in range(0, h, 2) if px[x, y] == colour)

    # params bars (blue) sit in the left half, MACs bars (orange) in the right half, side by side
    assert count(PARAMS_BLUE, 0, w // 2) > 500 and count(PARAMS_BLUE, w // 2, w) == 0
    assert count(MACS_ORANGE, w // 2, w) > 500 and count(MACS_ORANGE, 0, w // 2) == 0
    dark = sum(1 for x in range(0, w, 4) for y in range(0, 700, 4) if sum(px[x, y]) < 200)
    assert dark > 300  # the table's text was drawn


FORMAT_EXAMPLES = {  # a cheap invocation per command; any other command must at least offer html
    "table": ["table", "lenet5"],
    "list": ["list"],
    "compare": ["compare", "lenet", "lenet5"],
    "explain": ["explain", "lenet5", "C1"],
    "rf": ["rf", "lenet5"],
    "flops": ["flops", "lenet5"],
    "formula": ["formula", "lenet5"],
    "minsize": ["minsize", "lenet5"],
}


def test_every_command_with_a_format_offers_html(capsys: pytest.CaptureFixture[str]) -> None:
    from archcalc.cli.app import app

    for name in sorted(app.commands):
        assert main([name, "--help"]) == 0
        option = re.compile(r"^\s+(-f, )?--format\s+\S")
        fmt_line = next((li for li in capsys.readouterr().out.splitlines() if option.match(li)), None)
        if fmt_line is None:
            continue  # e.g. 'schema' writes JSON Schema only
        assert "html" in fmt_line, name
        if name in FORMAT_EXAMPLES:
            assert main([*FORMAT_EXAMPLES[name], "--format", "html"]) == 0, name
            out = capsys.readouterr().out
            assert out.startswith("<!DOCTYPE html>") and "<table>" in out, name
