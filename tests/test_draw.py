"""``archcalc draw``: the SVG read back with xml.etree: boxes never overlap, every edge starts and ends on its
boxes, and every layer (or collapsed block) has a box with its name; the command's files and errors."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from archcalc.analysis.records import analyze
from archcalc.analysis.report import Record, Report
from archcalc.cli.app import main
from archcalc.render.draw import draw
from archcalc.render.svg import to_svg

NS = {"s": "http://www.w3.org/2000/svg"}
Rect = tuple[float, float, float, float]
CASES = [
    ("lenet5", None, None, "maps"),
    ("alexnet-227", None, "params", "maps"),
    ("googlenet", None, None, "graph"),
    ("googlenet", 3, "macs", "graph"),
    ("googlenet", 1, None, "maps"),
    ("resnet50", 2, "activations", "maps"),
    ("resnet50", 3, "macs", "graph"),
    ("resnet50", None, None, "graph"),
    ("densenet121", 3, None, "graph"),
]


def boxes_and_edges(
    svg: str,
) -> tuple[dict[str, tuple[Rect, str, str]], list[tuple[str, str, list[tuple[float, float]]]]]:
    root = ET.fromstring(svg)
    boxes: dict[str, tuple[Rect, str, str]] = {}
    for g in root.iter(f"{{{NS['s']}}}g"):
        if g.get("class") != "node":
            continue
        rect = g.find("s:rect[@class='box']", NS)
        assert rect is not None
        r = tuple(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height"))
        text = " ".join("".join(t.itertext()) for t in g.findall("s:text", NS))
        key = g.get("key") or g.get("data-key") or ""
        assert key not in boxes, key
        boxes[key] = (r, g.get("data-kind") or "", text)  # type: ignore[assignment]
    edges = []
    for p in root.iter(f"{{{NS['s']}}}path"):
        if p.get("class") == "edge":
            pts = [(float(x), float(y)) for x, y in re.findall(r"([-\d.]+),([-\d.]+)", p.get("d", ""))]
            edges.append((p.get("data-src") or "", p.get("data-dst") or "", pts))
    return boxes, edges


def on_boundary(point: tuple[float, float], r: Rect, tol: float = 0.15) -> bool:
    x, y = point
    bx, by, w, h = r
    inside = bx - tol <= x <= bx + w + tol and by - tol <= y <= by + h + tol
    edge = min(abs(x - bx), abs(x - bx - w), abs(y - by), abs(y - by - h)) <= tol
    return inside and edge


def expected(report: Report, depth: int | None) -> dict[str, Record]:
    """The records that get a box: layers outside any collapsed block, and the collapsed blocks with layers."""
    has_layer = {p for r in report.layers for p in ancestors(report, r)}
    shown: dict[str, Record] = {}
    hidden: set[str] = set()
    for rec in report.records:
        if rec.parent in hidden:
            hidden.add(rec.path)
        elif rec.kind == "layer":
            shown[rec.path] = rec
        elif depth is not None and not rec.flat and rec.depth >= depth - 1 and rec.path in has_layer:
            shown[rec.path] = rec
            hidden.add(rec.path)
    return shown


def ancestors(report: Report, rec: Record) -> list[str]:
    out = []
    while rec.parent:
        out.append(rec.parent)
        rec = report[rec.parent]
    return out


def overlaps(a: Rect, b: Rect) -> bool:
    return (
        a[0] < b[0] + b[2] - 0.01
        and b[0] < a[0] + a[2] - 0.01
        and a[1] < b[1] + b[3] - 0.01
        and b[1] < a[1] + a[3] - 0.01
    )


@pytest.mark.parametrize(("spec", "depth", "color", "style"), CASES)
def test_boxes_edges_and_labels(spec: str, depth: int | None, color: str | None, style: str) -> None:
    report = analyze(spec)
    drawing = draw(report, None, depth, color)
    assert drawing.style == style
    boxes, edges = boxes_and_edges(to_svg(drawing))
    rects = sorted((r for r, _, _ in boxes.values()), key=lambda r: r[0])
    for i, a in enumerate(rects):  # sweep by x: only boxes that start before a ends can overlap it
        for b in rects[i + 1 :]:
            if b[0] >= a[0] + a[2]:
                break
            assert not overlaps(a, b), (a, b)
    for src, dst, pts in edges:
        assert len(pts) >= 2
        assert on_boundary(pts[0], boxes[src][0]), (src, dst, pts[0])
        assert on_boundary(pts[-1], boxes[dst][0]), (src, dst, pts[-1])
    want = expected(report, depth)
    for path, rec in want.items():
        assert path in boxes, path
        assert rec.name in boxes[path][2] or "…" in boxes[path][2], (path, boxes[path][2])
    extra = {k for k, (_, kind, _) in boxes.items() if kind in ("layer", "block")} - set(want)
    assert not extra
    kinds = {kind for _, kind, _ in boxes.values()}
    assert "input" in kinds
    readers = {dst for _, dst, _ in edges}
    assert readers >= set(want), set(want) - readers  # every shown layer reads something


def test_dense_bus_is_linear() -> None:
    """densenet121 in full: one bus edge per dense layer (n, not n^2 arrows), every concat reads the bus."""
    drawing = draw(analyze("densenet121"))
    bus = [e for e in drawing.edges if e.bus]
    concats = [b for b in drawing.boxes if b.kind == "bus"]
    assert len(concats) == 58 and len(bus) == 58 - 4  # the first concat of each of the 4 blocks reads its input
    assert len(drawing.edges) < 2 * len(drawing.boxes)


def test_lenet5_maps_labels() -> None:
    svg = to_svg(draw(analyze("lenet5")))
    for text in ("C1 · conv2d", "6x28x28 · k5 s1 p0", "S2 · subsample", "16x10x10", "120x1x1", "F6 · linear"):
        assert text in svg, text


def test_command_writes_into_new_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a" / "b" / "net.svg"
    assert main(["draw", "googlenet", "--depth", "1", "--color", "params", "-o", str(out)]) == 0
    assert out.read_text().startswith("<svg") and "wrote" in capsys.readouterr().out
    ET.parse(out)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["googlenet", "--style", "maps"], "draws chains"),
        (["lenet5", "--style", "boxes"], "not one of"),
        (["lenet5", "--color", "flops"], "not one of"),
        (["lenet5", "--depth", "0"], "1 or more"),
        (["lenet5", "-o", "x.pdf"], ".svg or .png"),
    ],
)
def test_errors_are_one_line(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    if "-o" not in args:
        args = [*args, "-o", "unused.svg"]
    assert main(["draw", *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


def test_png_needs_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "out" / "lenet5.png"
    if shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"):
        assert main(["draw", "lenet5", "-o", str(png)]) == 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert main(["draw", "lenet5", "-o", str(png)]) == 2
        assert "Chromium" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "depth", "color"), [("lenet5", None, None), ("googlenet", 3, "macs")], ids=["lenet5", "googlenet"]
)
def test_docs_drawings_are_current(name: str, depth: int | None, color: str | None) -> None:
    """docs/lenet5.svg and docs/googlenet.svg (shown in the README) are what the command draws now."""
    doc = Path(__file__).resolve().parent.parent / "docs" / f"{name}.svg"
    assert doc.read_text(encoding="utf-8") == to_svg(draw(analyze(name), None, depth, color))
    assert f"](docs/{name}.svg)" in (doc.parent.parent / "README.md").read_text(encoding="utf-8")


def test_side_outputs_sit_beside_the_entry_they_read() -> None:
    """googlenet with aux=true, folded to depth 1: each aux head is to the right of the inception it reads,
    joined by one left-to-right edge, and the main column goes on below without passing through it."""
    drawing = draw(analyze("googlenet", aux=True), None, 1, None)
    boxes = {b.key: b for b in drawing.boxes}
    edges = {(e.src, e.dst): e.points for e in drawing.edges}
    for head, reads, next_ in (("aux1", "inception_4a", "inception_4b"), ("aux2", "inception_4d", "inception_4e")):
        assert boxes[head].x >= boxes[reads].x + boxes[reads].w and boxes[head].y == boxes[reads].y
        assert edges[(reads, head)][0][1] == edges[(reads, head)][-1][1]  # horizontal
        assert (reads, next_) in edges and not any(src == head for src, _ in edges)
    _, svg_edges = boxes_and_edges(to_svg(drawing))
    assert len(svg_edges) == len(drawing.edges)


def test_chromium_shows_the_drawing(tmp_path: Path) -> None:
    """Where Chromium is installed: the SVG opens in it and the screenshot is not blank (skipped otherwise)."""
    from browser import screenshot

    svg = tmp_path / "googlenet.svg"
    assert main(["draw", "googlenet", "--depth", "3", "--color", "macs", "-o", str(svg)]) == 0
    png = tmp_path / "googlenet.png"
    head = ET.parse(svg).getroot()
    screenshot(svg, png, f"{head.get('width')},{head.get('height')}")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank page compresses to a few KB
