"""Feature-map pictures and the DeconvNet picture: the sample image, edge-filter responses, PNG files."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archcalc.cli.app import main
from archcalc.render import pictures

torch = pytest.importorskip("torch")

from archcalc.torch import build  # noqa: E402
from archcalc.torch.maps import feature_maps, image_tensor, load_weights  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "images" / "shapes.png"


def grid_size(c: int, h: int, w: int) -> tuple[int, int]:
    """A grid of ceil(sqrt(C)) columns of tiles scaled by ceil(TILE_MIN / max(h, w)), PAD apart, under the label."""
    cols = int(np.ceil(np.sqrt(c)))
    rows = -(-c // cols)
    scale = max(1, -(-pictures.TILE_MIN // max(h, w)))
    return cols * (w * scale + pictures.PAD) + pictures.PAD, pictures.LABEL_H + rows * (
        h * scale + pictures.PAD
    ) + pictures.PAD


def gray_sample() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("L"), dtype=np.float64) / 255.0


def test_sample_image_is_the_scripts_output(tmp_path: Path) -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "make_sample_image.py"))
    script["main"]([str(tmp_path / "s.png")])
    assert (tmp_path / "s.png").read_bytes() == SAMPLE.read_bytes()


def test_image_loading_rgb_and_gray() -> None:
    rgb = pictures.load_image(SAMPLE, 3, 224, 224)
    assert rgb.shape == (3, 224, 224) and rgb.dtype == np.float32
    assert np.allclose(rgb[:, 70, 70], np.array([235, 235, 225]) / 255)  # inside the light rectangle
    gray = pictures.load_image(SAMPLE, 1, 112, 112)  # resized
    assert gray.shape == (1, 112, 112) and gray.min() >= 0.0 and gray.max() <= 1.0


def test_vertical_edge_filter_fires_on_vertical_edges() -> None:
    """Filter 1 of edge-filters is [-1, -1, 1, 1] on 4 rows: on a straight vertical step of height D (dark to
    light, left to right) it gives 4 rows x 2 columns x D = 8D, its maximum; filter 3 (its transpose) reads
    horizontal steps the same way."""
    model = build("edge-filters")
    conv = feature_maps(model, image_tensor(SAMPLE, (1, 224, 224)), ["conv"])["conv"].astype(np.float64)
    g = gray_sample()
    rise_x = g[:, 1:] - g[:, :-1]  # rise_x[r, c]: step from column c to c + 1
    rise_y = g[1:, :] - g[:-1, :]
    assert conv[0].max() == pytest.approx(8 * rise_x.max(), rel=1e-5)
    assert conv[2].max() == pytest.approx(8 * rise_y.max(), rel=1e-5)
    for fmap, rise in ((conv[0], rise_x), (conv[2], rise_y.T)):
        m = fmap if rise is rise_x else fmap.T  # work along columns for both
        top = np.argsort(m, axis=None)[-60:]
        for y, j in zip(*np.unravel_index(top, m.shape), strict=True):
            # the window covers rows y..y+3 and columns j..j+3: its steps are rise[y:y+4, j:j+3]
            assert rise[y : y + 4, j : j + 3].max() > 0.2, (y, j)
    # and not the other way round: on the rectangle's left edge, the horizontal filter is silent
    left = int(np.argmax(rise_x[70])) - 1  # the window whose middle straddles that step
    assert conv[0][70, left] == pytest.approx(8 * rise_x[70].max(), rel=1e-5)
    assert conv[2][70, left] == pytest.approx(0.0, abs=1e-6)


def test_maps_command_writes_one_grid_per_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maps", "edge-filters", "--image", str(SAMPLE), "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["000_conv.png", "001_relu.png", "002_pool.png"]
    # conv/relu: 4 maps of (224 - 4 + 1) = 221; pool: floor(221 / 2) = 110
    with Image.open(tmp_path / "000_conv.png") as img:
        assert img.size == grid_size(4, 221, 221) == (448, 466)
    with Image.open(tmp_path / "002_pool.png") as img:
        width, height = grid_size(4, 110, 110)
        assert img.size[1] == height and img.size[0] >= width  # the label may widen a narrow grid
    assert capsys.readouterr().out.count("wrote ") == 3


def test_maps_small_maps_scale_up_and_layers_option(tmp_path: Path) -> None:
    # lenet features.0: 20 maps of 28 - 5 + 1 = 24, scaled by ceil(32 / 24) = 2
    assert (
        main(["maps", "lenet", "--image", str(SAMPLE), "--layers", "features.0,features.2", "--out", str(tmp_path)])
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000_features.0.png", "002_features.2.png"]
    with Image.open(tmp_path / "000_features.0.png") as img:
        assert img.size == grid_size(20, 24, 24) == (5 * 50 + 2, 18 + 4 * 50 + 2)


def test_maps_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["maps", "lenet5", "--image", str(SAMPLE), "--layers", "F6", "--out", str(tmp_path)]) == 2
    assert "is not a C x H x W feature map" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"nope.weight": torch.zeros(1)}, bad)
    args = ["maps", "edge-filters", "--image", str(SAMPLE), "--weights", str(bad), "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archcalc: error: {bad}: weights do not fit") and err.count("\n") == 1


def test_weights_file_replaces_the_filters(tmp_path: Path) -> None:
    model = build("edge-filters")
    state = {k: -v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "neg.pt")
    x = image_tensor(SAMPLE, (1, 224, 224))
    before = feature_maps(model, x, ["conv"])["conv"]
    load_weights(model, tmp_path / "neg.pt")
    after = feature_maps(model, x, ["conv"])["conv"]
    assert np.allclose(after, -before)


def test_deconv_picture_of_the_strongest_activation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["deconv", "edge-filters", "--layer", "pool", "--image", str(SAMPLE), "--out", str(tmp_path)]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deconv_pool.png", "deconv_pool_panel.png"]
    with Image.open(tmp_path / "deconv_pool.png") as img:
        assert img.size == (224, 224) and img.mode == "L"
    with Image.open(tmp_path / "deconv_pool_panel.png") as img:
        assert img.size == (2 * 224 + 3 * pictures.PAD, pictures.LABEL_H + 224 + pictures.PAD)
    assert "activation" in capsys.readouterr().out


def test_strongest_projection_is_one_filter() -> None:
    """From the pool of edge-filters, one activation projects back through ReLU and the transposed conv to
    value x its 4 x 4 filter, placed where the switch says."""
    from archcalc.torch import build_deconv
    from archcalc.torch.deconv import reconstruct_strongest

    deconv = build_deconv("edge-filters", "pool")
    best = reconstruct_strongest(deconv, image_tensor(SAMPLE, (1, 224, 224)))
    assert best.value == pytest.approx(8 * (gray_sample()[1:, :] - gray_sample()[:-1, :]).max(), rel=1e-5)
    img = best.image[0]
    ys, xs = torch.nonzero(img, as_tuple=True)
    top, left = int(ys.min()), int(xs.min())
    assert (int(ys.max()) - top, int(xs.max()) - left) == (3, 3)
    weight = deconv.net.get_submodule("conv").weight[best.channel, 0]
    assert torch.allclose(img[top : top + 4, left : left + 4], best.value * weight)
    switch = int(deconv.switches["pool"][0, best.channel, best.y, best.x])
    assert divmod(switch, 221) == (top, left)  # the conv output position the pool picked
