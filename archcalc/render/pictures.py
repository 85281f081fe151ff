"""Pictures with Pillow and numpy only (no torch here): input images, feature-map grids, reconstructions."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from archcalc.errors import ArchcalcError, printable
from archcalc.frontend.yamlio import read_regular_file

TILE_MIN = 32  # small maps are scaled up by a whole factor (nearest) until a tile is at least this wide
PAD = 2  # pixels between tiles and around the grid
LABEL_H = 18  # the label strip above a grid
FONT_SIZE = 12
BACKGROUND = 255  # white gaps make dark tiles' edges visible
MAX_IMAGE_BYTES = 256 << 20  # an --image file; PIL's own pixel limit (MAX_IMAGE_PIXELS) applies as well

Array = NDArray[np.float32]


def load_image(path: Path | str, channels: int, height: int, width: int) -> Array:
    """An image file as a C x H x W float32 array in [0, 1], converted to grayscale or RGB and resized
    (bilinear) to the network input; C must be 1 or 3."""
    if channels not in (1, 3):
        raise ArchcalcError(f"--image needs a network with 1 (grayscale) or 3 (RGB) input channels, not {channels}")
    pic = _decode(path, "L" if channels == 1 else "RGB")
    if pic.size != (width, height):
        pic = pic.resize((width, height), Image.Resampling.BILINEAR)
    arr = np.asarray(pic, dtype=np.float32) / 255.0
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _decode(path: Path | str, mode: str) -> Image.Image:
    """The image in ``mode``, read through the shared regular-file guard (a FIFO would block, /dev/zero never
    ends). PIL's decompression-bomb warning (more than MAX_IMAGE_PIXELS) is an error here, like its bomb error."""
    display = str(path)
    data = read_regular_file(Path(path), display=display, limit=MAX_IMAGE_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.convert(mode)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise ArchcalcError(f"image has more than {limit:,} pixels (a decompression bomb?)", file=display) from None
    except UnidentifiedImageError:
        raise ArchcalcError("not an image file Pillow can read (PNG, JPEG, BMP, ...)", file=display) from None
    except MemoryError:
        raise ArchcalcError("image is too large to decode", file=display) from None
    except Exception as err:  # a hostile file can fail anywhere in a decoder (OSError, ValueError, SyntaxError ...)
        raise ArchcalcError(f"cannot read image: {printable(str(err))[:200]}", file=display) from None


def to_uint8(a: NDArray[np.floating]) -> NDArray[np.uint8]:
    """(a - min) / (max - min) * 255; a constant array becomes 0."""
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.round((a - lo) / (hi - lo) * 255.0).astype(np.uint8)


def grid_layout(channels: int, height: int, width: int) -> tuple[int, int, int]:
    """(columns, rows, scale): a near-square grid, one tile per channel, each tile scale times the map."""
    cols = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / cols)
    scale = max(1, math.ceil(TILE_MIN / max(height, width)))
    return cols, rows, scale


def feature_grid(maps: NDArray[np.floating], label: str) -> Image.Image:
    """One grayscale tile per channel of a C x H x W array, each normalised to its own min..max, under a label."""
    c, h, w = maps.shape
    cols, rows, scale = grid_layout(c, h, w)
    th, tw = h * scale, w * scale
    width = cols * (tw + PAD) + PAD
    height = LABEL_H + rows * (th + PAD) + PAD
    canvas = np.full((height, width), BACKGROUND, dtype=np.uint8)
    for i in range(c):
        tile = to_uint8(maps[i])
        if scale > 1:
            tile = tile.repeat(scale, 0).repeat(scale, 1)
        top = LABEL_H + (i // cols) * (th + PAD) + PAD
        left = (i % cols) * (tw + PAD) + PAD
        canvas[top : top + th, left : left + tw] = tile
    return labelled(Image.fromarray(canvas, "L"), label)


def labelled(img: Image.Image, label: str) -> Image.Image:
    """Write ``label`` into the top LABEL_H rows (widening the picture if the text needs it)."""
    font = ImageFont.load_default(FONT_SIZE)
    text_w = int(font.getbbox(label)[2]) + 2 * PAD
    if text_w > img.width:
        wider = Image.new(img.mode, (text_w, img.height), "white")
        wider.paste(img, (0, 0))
        img = wider
    ImageDraw.Draw(img).text((PAD, 2), label, fill="black", font=font)
    return img


def picture(x: NDArray[np.floating]) -> Image.Image:
    """A 1- or 3-channel C x H x W array as one image, normalised over the whole image (not per channel)."""
    pixels = to_uint8(x)
    if pixels.shape[0] == 1:
        return Image.fromarray(pixels[0], "L")
    return Image.fromarray(pixels.transpose(1, 2, 0), "RGB")


def side_by_side(images: list[Image.Image], label: str) -> Image.Image:
    """Images in a row on a white strip, under a label."""
    height = LABEL_H + max(i.height for i in images) + PAD
    width = sum(i.width + PAD for i in images) + PAD
    canvas = Image.new("RGB", (width, height), "white")
    left = PAD
    for img in images:
        canvas.paste(img.convert("RGB"), (left, LABEL_H))
        left += img.width + PAD
    return labelled(canvas, label)
