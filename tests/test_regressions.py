"""Counterexamples found by the fuzz suite and the bad-input catalogue, kept as regular tests.

Each case states the torch evidence (the CPU kernels' behaviour, torch 2.13) next to what archcalc must do.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from archcalc.analysis.records import analyze
from archcalc.analysis.report import Report
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import parse_spec
from archcalc.frontend.yamlio import load_text


def calc(doc: dict[str, Any]) -> Report:
    text = yaml.safe_dump(doc, sort_keys=False)
    return analyze(parse_spec(load_text(text, file="case.yaml"), "case.yaml"))


def _refused(doc: dict[str, Any]) -> ArchcalcError:
    with pytest.raises(ArchcalcError) as info:
        calc(doc)
    return info.value


# fuzz, first run: torch's meta kernel for conv_transpose2d skips the output_padding check, so the
# meta-only reference accepted a layer the CPU kernel refuses. archcalc follows the CPU kernel.
CONVT_OUTPUT_PADDING = {
    "name": "fuzz",
    "input": [1, 1, 1],
    "layers": [
        {"name": "l0", "op": "conv_transpose2d", "out": 1, "kernel": 4, "stride": 1, "padding": 2,
         "output_padding": 1, "bias": False},
        {"name": "l1", "op": "maxpool2d", "kernel": [1, 2]},
    ],
}  # fmt: skip

# fuzz, first run: (1-1)*1 - 2*2 + (4-1) + 0 + 1 = 0 rows; meta returns a 0 x 1 map (it only refuses
# when every spatial size is < 1), the CPU kernel refuses. archcalc refuses any size < 1.
CONVT_ZERO_ROWS = {
    "name": "fuzz",
    "input": [1, 1, 1],
    "layers": [{"name": "l0", "op": "conv_transpose2d", "out": 1, "kernel": [4, 3], "padding": [2, 1]}],
}


def test_convt_output_padding_needs_stride_or_dilation() -> None:
    err = _refused(CONVT_OUTPUT_PADDING)
    assert err.layer == "l0"
    assert "output_padding 1 must be smaller than stride 1 or dilation 1" in err.message


def test_convt_zero_size_output_is_refused() -> None:
    err = _refused(CONVT_ZERO_ROWS)
    assert err.layer == "l0"
    assert "output size along H would be 0" in err.message


def test_convt_cases_torch_cpu_evidence() -> None:
    """The CPU kernels refuse both layers above (the evidence the two rules rest on)."""
    torch = pytest.importorskip("torch")
    from torch import nn

    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        nn.ConvTranspose2d(1, 1, 4, stride=1, padding=2, output_padding=1, bias=False)(torch.zeros(1, 1, 1, 1))
    with pytest.raises(RuntimeError, match="Output size is too small"):
        nn.ConvTranspose2d(1, 1, (4, 3), padding=(2, 1))(torch.zeros(1, 1, 1, 1))


def test_convt_valid_output_padding_still_accepted() -> None:
    """op < stride is fine: (3-1)*2 - 0 + (3-1) + 1 + 1 = 8 (torch CPU gives 8x8 too)."""
    doc = {"name": "ok", "input": [1, 3, 3],
           "layers": [{"name": "up", "op": "conv_transpose2d", "out": 2, "kernel": 3, "stride": 2, "output_padding": 1}]}  # fmt: skip
    assert calc(doc)["up"].output_shape == (2, 8, 8)


# bad-input catalogue: these keys used to be ignored without a word (the spec silently meant
# something else than written). Each now names the key and what it needs.
IGNORED_KEYS = [
    ({"name": "stem", "merge": "concat", "layers": [{"op": "relu"}]}, "'merge' only applies together with 'branches'"),
    ({"name": "c1", "op": "relu", "first": {"inplace": True}}, "'first' only applies together with 'repeat'"),
    ({"name": "stem", "args": {"w": 1}, "layers": [{"op": "relu"}]}, "'args' only applies together with 'block'"),
    ({"name": "c1", "op": "relu", "feed": "dense"}, "'feed' only applies to 'repeat' or 'layers'"),
]


@pytest.mark.parametrize(("entry", "message"), IGNORED_KEYS)
def test_keys_that_would_be_ignored_are_errors(entry: dict[str, Any], message: str) -> None:
    err = _refused({"name": "bad", "input": [3, 8, 8], "layers": [entry]})
    assert err.message == message
    assert err.layer == entry["name"]
    assert err.line is not None


def test_unknown_param_names_the_layer() -> None:
    """A '$typo' is reported with the layer it sits in, not only the line."""
    doc = {"name": "bad", "input": [3, 8, 8], "params": {"width": 8},
           "layers": [{"name": "c1", "op": "conv2d", "out": "$widht", "kernel": 3}]}  # fmt: skip
    err = _refused(doc)
    assert err.layer == "c1"
    assert err.message.startswith("unknown parameter '$widht'")


# fuzz, long run (7 of 7 failures): batch norm without running stats normalises with the batch's own
# statistics, so torch refuses N*H*W == 1 ('Expected more than 1 value per channel when training').
# That depends on the batch, which archcalc does not model (all counts are per sample): archcalc
# accepts the layer, and the torch reference runs with batch 2.
BN_NO_STATS_1X1 = {
    "name": "fuzz",
    "input": [5, 1, 1],
    "layers": [{"name": "l0", "op": "batchnorm2d", "affine": False, "track_running_stats": False}],
}


def test_batchnorm_without_stats_on_1x1_is_a_batch_matter() -> None:
    rep = calc(BN_NO_STATS_1X1)
    assert rep["l0"].output_shape == (5, 1, 1)
    assert rep["l0"].counts.params == 0 and rep["l0"].counts.buffers == 0  # affine off, no running stats
    torch = pytest.importorskip("torch")
    from torch import nn

    bn = nn.BatchNorm2d(5, affine=False, track_running_stats=False).eval()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn(torch.zeros(1, 5, 1, 1))
    assert tuple(bn(torch.zeros(2, 5, 1, 1)).shape[1:]) == (5, 1, 1)
