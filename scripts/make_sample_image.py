"""Draw the sample image used by the README and the tests: examples/images/shapes.png (224 x 224 RGB).

Flat-coloured geometric shapes on a dark background, so that vertical, horizontal and oblique edges sit at
known places: a light rectangle (long vertical and horizontal edges), a vertical bar, a horizontal bar,
a disc and a triangle. Deterministic: re-running it reproduces the committed file byte for byte.

    python3 scripts/make_sample_image.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 224
BACKGROUND = (24, 28, 36)
SHAPES = {
    "rectangle": ((32, 24, 104, 120), (235, 235, 225)),  # left, top, right, bottom (inclusive)
    "vertical bar": ((140, 16, 156, 112), (70, 170, 230)),
    "horizontal bar": ((24, 160, 120, 174), (240, 200, 60)),
}
DISC = ((188, 60), 28, (220, 60, 60))  # centre, radius, colour
TRIANGLE = (((150, 210), (210, 210), (180, 140)), (90, 200, 110))


def draw() -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    d = ImageDraw.Draw(img)
    for box, colour in SHAPES.values():
        d.rectangle(box, fill=colour)
    (cx, cy), r, colour = DISC
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    d.polygon(TRIANGLE[0], fill=TRIANGLE[1])
    return img


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "examples" / "images" / "shapes.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    draw().save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
