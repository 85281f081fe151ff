"""Counterexamples found by the fuzz suite and the bad-input catalogue, kept as regular tests.

Each case states the torch evidence (the CPU kernels' behaviour, torch 2.13) next to what archcalc must do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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


# ---------------------------------------------------------------- issue 13, class 4: accepted what torch refuses
# Each case: torch's verdict (CPU, or meta where the CPU would have to allocate it), then archcalc's.


def _spec(layers: list[dict[str, Any]], input_shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": "case", "input": input_shape or [3, 8, 8], "layers": layers}


def _refused_at(doc: dict[str, Any], layer: str, *words: str) -> None:
    err = _refused(doc)
    assert err.layer == layer, str(err)
    assert "\n" not in str(err)
    for word in words:
        assert word in err.message, err.message


@pytest.mark.parametrize(("shape", "dim", "ok"), [([3, 8, 8], 99, False), ([3, 8, 8], 4, False),
    ([3, 8, 8], -5, False), ([3, 8, 8], 3, True), ([3, 8, 8], -4, True), ([10], 2, False), ([10], -2, True)])  # fmt: skip
def test_softmax_dim_must_fit_the_rank(shape: list[int], dim: int, ok: bool) -> None:
    """torch counts the batch: a rank-r input takes dims -(r+1)..r. (The meta kernel skips this check,
    which is why the fuzz reference asks the CPU.)"""
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, *shape)
    doc = _spec([{"name": "sm", "op": "softmax", "dim": dim}], shape)
    if ok:
        torch.nn.Softmax(dim)(x)
        assert calc(doc)["sm"].output_shape == tuple(shape)
        return
    with pytest.raises(IndexError, match="Dimension out of range"):
        torch.nn.Softmax(dim)(x)
    _refused_at(doc, "sm", f"softmax dim {dim}", f"expected {-len(shape) - 1}..{len(shape)}")


@pytest.mark.parametrize(("eps", "stats", "message"), [(-1e-5, True, "must be >= 0"), (0.0, False, "must be > 0")])
def test_batchnorm_eps_range(eps: float, stats: bool, message: str) -> None:
    """torch: 'batch_norm eps must be non-negative'; without running stats it normalises with batch
    statistics, where 'eps must be positive during training' (also in eval mode, as there are no stats)."""
    torch = pytest.importorskip("torch")
    bn = torch.nn.BatchNorm2d(3, eps=eps, track_running_stats=stats).eval()
    with pytest.raises(ValueError, match="batch_norm eps must be"):
        bn(torch.zeros(2, 3, 8, 8))
    _refused_at(_spec([{"name": "bn", "op": "batchnorm2d", "eps": eps, "track_running_stats": stats}]), "bn", message)
    doc = _spec([{"name": "bn", "op": "batchnorm2d", "eps": 0.0}])  # eval with running stats: torch accepts 0
    torch.nn.BatchNorm2d(3, eps=0.0).eval()(torch.zeros(2, 3, 8, 8))
    assert calc(doc)["bn"].output_shape == (3, 8, 8)


BIG = 2**31 - 1


def _meta(make: Callable[[Any], Any], shape: list[int]) -> Any:
    """Build a module with torch.nn on the meta device and run it on a batch of one."""
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        return make(torch.nn)(torch.zeros(1, *shape))


# torch counts a tensor's bytes in an int64: 'Storage size calculation overflowed' (on meta as well), even at
# batch 1, past (2**63 - 1) // 4 float32 elements. archcalc had returned astronomically large counts.
STORAGE = [
    ([{"name": "a", "op": "adaptive_avgpool2d", "output": BIG}], [1, 4, 4],
     lambda nn: nn.AdaptiveAvgPool2d(BIG), "a", "the output 1x2147483647x2147483647"),
    ([{"name": "fc", "op": "linear", "out": BIG}], [BIG],
     lambda nn: nn.Linear(BIG, BIG), "fc", "the weight"),
    ([{"name": "up", "op": "conv_transpose2d", "out": 1, "kernel": 1, "stride": BIG}], [1, 4096, 4096],
     lambda nn: nn.ConvTranspose2d(1, 1, 1, stride=BIG), "up", "the output"),
    # max pools keep int64 indices of the output's size (8 bytes each): half the float32 limit
    ([{"name": "p", "op": "maxpool2d", "kernel": 1}], [1, 2**30, 2**30],
     lambda nn: nn.MaxPool2d(1), "p", "the max pool's int64 indices"),
    ([{"name": "p", "op": "adaptive_maxpool2d", "output": 2**30}], [1, 1, 1],
     lambda nn: nn.AdaptiveMaxPool2d(2**30), "p", "the max pool's int64 indices"),
    # the output is 3x3, but torch pads into a new (2**32 - 1) x (2**32 - 1) tensor first
    ([{"name": "c", "op": "conv2d", "out": 1, "kernel": 1, "stride": BIG, "padding": BIG,
       "padding_mode": "replicate"}], [1, 1, 1],
     lambda nn: nn.Conv2d(1, 1, 1, stride=BIG, padding=BIG, padding_mode="replicate"), "c", "the padded input"),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "shape", "make", "layer", "what"), STORAGE)
def test_tensors_torch_cannot_allocate(
    layers: list[dict[str, Any]], shape: list[int], make: Callable[[Any], Any], layer: str, what: str
) -> None:
    with pytest.raises(RuntimeError, match="Storage size calculation overflowed"):
        _meta(make, shape)
    _refused_at(_spec(layers, shape), layer, what, "torch allocates at most")


@pytest.mark.parametrize("op", ["adaptive_avgpool2d", "adaptive_maxpool2d"])
def test_largest_storage_torch_allocates_is_accepted(op: str) -> None:
    """Just under the limit (2**61 - 1 float32 elements, 2**60 - 1 int64 indices): torch allocates it on
    meta, and archcalc counts it."""
    size = [2**30, 2**31 - 1] if op == "adaptive_avgpool2d" else [2**30, 2**30 - 1]
    kind = {"adaptive_avgpool2d": "AdaptiveAvgPool2d", "adaptive_maxpool2d": "AdaptiveMaxPool2d"}[op]
    out = _meta(lambda nn: getattr(nn, kind)(tuple(size)), [1, 1, 1])
    assert tuple(out.shape[1:]) == (1, *size)
    assert calc(_spec([{"name": "a", "op": op, "output": size}], [1, 1, 1]))["a"].output_shape == (1, *size)


def test_huge_adaptive_output_is_counted_at_once() -> None:
    """The adaptive pool's connections summed one window per output row: 2**30 rows took minutes. The sum
    of torch's window lengths is in + out - gcd(in, out)."""
    doc = _spec([{"name": "a", "op": "adaptive_maxpool2d", "output": [2**30, 3]}], [2, 5, 7])
    started = time.perf_counter()
    rec = calc(doc)["a"]
    assert time.perf_counter() - started < 5
    assert rec.counts.connections == 2 * (5 + 2**30 - 1) * (7 + 3 - 1)


def test_lrn_on_c_x_l_follows_torch() -> None:
    """torch's LocalResponseNorm takes any input of 3 or more dims, batch included: C x L too (archcalc
    refused it); a flat input it refuses, as archcalc does."""
    torch = pytest.importorskip("torch")
    lrn = torch.nn.LocalResponseNorm(3)
    assert tuple(lrn(torch.zeros(1, 4, 10)).shape[1:]) == (4, 10)
    assert calc(_spec([{"name": "n", "op": "lrn", "size": 3}], [4, 10]))["n"].output_shape == (4, 10)
    with pytest.raises(ValueError, match="Expected 3D or higher"):
        lrn(torch.zeros(1, 10))
    _refused_at(_spec([{"name": "n", "op": "lrn", "size": 3}], [10]), "n", "lrn needs a C x L or C x H x W input")


CHUNK_VIEW = [  # found by the long fuzz (fvcore property): an in-place activation on a chunk's view
    {"name": "last", "op": "permute", "dims": [0, 2, 3, 1]},
    {"name": "ln", "op": "layernorm"},
    {"name": "part", "op": "chunk", "chunks": 1, "index": 0, "dim": -1},
    {"name": "act", "op": "relu6", "inplace": True},
    {"name": "first", "op": "permute", "dims": [0, 3, 1, 2]},
]


def test_inplace_on_a_chunk_view_is_torchs_grad_mode_rule() -> None:
    """torch's autograd refuses an in-place op on a view that chunk returns (a function of several views)
    when grad is on; under no_grad the same forward runs. archcalc counts inference, so it accepts the spec,
    and its built model follows torch both ways (the fuzz's fvcore trace runs under no_grad)."""
    torch = pytest.importorskip("torch")
    fvcore = pytest.importorskip("fvcore.nn")
    from archcalc.torch import build_with_report

    ln = torch.nn.LayerNorm(4)

    def by_hand(x: Any) -> Any:
        y = torch.nn.functional.relu6(torch.chunk(ln(x.permute(0, 2, 3, 1)), 1, dim=-1)[0], inplace=True)
        return y.permute(0, 3, 1, 2)

    x = torch.randn(2, 4, 3, 3)
    with pytest.raises(RuntimeError, match="returns multiple views"):
        by_hand(x)
    doc = _spec(CHUNK_VIEW, [4, 3, 3])
    model, _ = build_with_report(parse_spec(load_text(yaml.safe_dump(doc), file="f.yaml"), "f.yaml"))
    model.eval()
    with pytest.raises(RuntimeError, match="returns multiple views"):
        model(x)
    with torch.no_grad():
        model.ln.load_state_dict(ln.state_dict())
        assert torch.allclose(model(x), by_hand(x))
        fca = fvcore.FlopCountAnalysis(model, x).unsupported_ops_warnings(False)
        assert fca.by_module()["ln"] == 2 * (4 * 3 * 3) * 5  # fvcore's layer norm: 5 per element, batch of 2
