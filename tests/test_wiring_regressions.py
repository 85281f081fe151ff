"""The decided wiring semantics of issue 9, one test each, with the expected value from plain torch.

Each expected shape or count comes from the same wiring written by hand with nn.Conv2d, nn.BatchNorm2d and
torch.cat in the test, never from archcalc's output. Before the graph port (381f7c5) every test here but
test_first_overrides_the_arguments_of_copy_zero_only failed, each on its own defect; with the port they all
pass, so none carries an xfail mark. The sections follow the decided semantics (tests/test_graph.py numbers
issue 9's defects its own way: 1 the output, 2/3/9 the refusals, 8 repeat + dense):

1. a list's output is its last non-side entry's; a container placed last is the network's output;
2. under feed: dense a child's from or side is refused;
3. repeat + feed: dense over inline layers makes the copies dense, each copy a chain, as with a block;
4. a branch's output can be read by from, and the built model runs it;
5. first overrides op arguments / block args of copy 0 only; from/side/when/name in first, and from: [],
   are refused.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from torch import Tensor, nn  # noqa: E402

from archcalc.analysis.records import analyze  # noqa: E402
from archcalc.analysis.report import Report  # noqa: E402
from archcalc.errors import ArchcalcError  # noqa: E402
from archcalc.frontend.spec import Spec, parse_spec  # noqa: E402
from archcalc.frontend.yamlio import load_text  # noqa: E402
from archcalc.torch import build  # noqa: E402


def _spec(layers: list[dict[str, Any]], shape: list[int], blocks: dict[str, Any] | None = None) -> Spec:
    doc: dict[str, Any] = {"name": "case", "input": shape, **({"blocks": blocks} if blocks else {}), "layers": layers}
    return parse_spec(load_text(yaml.safe_dump(doc, sort_keys=False), file="case.yaml"), "case.yaml")


def _calc(layers: list[dict[str, Any]], shape: list[int], blocks: dict[str, Any] | None = None) -> Report:
    return analyze(_spec(layers, shape, blocks))


def _built_output(layers: list[dict[str, Any]], shape: list[int], blocks: dict[str, Any] | None = None) -> Tensor:
    """The built model's main output (the first element when side outputs make it a tuple)."""
    model = build(_spec(layers, shape, blocks)).eval()
    with torch.no_grad():
        out = model(torch.zeros((2, *shape)))
    main: Tensor = out[0] if isinstance(out, tuple) else out
    return main


def _refused(layers: list[dict[str, Any]], shape: list[int]) -> ArchcalcError:
    with pytest.raises(ArchcalcError) as info:
        _calc(layers, shape)
    return info.value


def _n_params(*mods: nn.Module) -> int:
    return sum(p.numel() for m in mods for p in m.parameters())


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape[1:])


X = torch.zeros(2, 3, 8, 8)


# ---------------------------------------------------------------- 1. the network's output


MIX_LAST = [
    {"name": "mix", "merge": "concat", "branches": {
        "l": [{"op": "conv2d", "out": 4, "kernel": 3, "padding": 1}],
        "r": [{"op": "conv2d", "out": 6, "kernel": 3, "padding": 1}]}},
]  # fmt: skip
SIDE_LAST = [
    {"name": "c", "op": "conv2d", "out": 4, "kernel": 3, "padding": 1},
    {"name": "aux", "op": "conv2d", "out": 6, "kernel": 3, "side": True},
]


def _torch_mix_last() -> Tensor:
    left, right = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 6, 3, padding=1)
    merged: Tensor = torch.cat([left(X), right(X)], 1)  # the merge is the network's output
    return merged


def _torch_side_last() -> Tensor:
    conv, aux = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3)
    main: Tensor = conv(X)
    aux(main)  # computed (and counted), but the next entry, and the network, do not read it
    return main


@pytest.mark.parametrize(("layers", "reference"), [(MIX_LAST, _torch_mix_last), (SIDE_LAST, _torch_side_last)])
def test_last_container_or_side_output_and_the_network_output(layers: list[dict[str, Any]], reference: Any) -> None:
    want = _shape(reference())  # 10x8x8 for the merge; 4x8x8 (not the side's 6x6x6) for the side output
    assert _shape(_built_output(layers, [3, 8, 8])) == want
    assert _calc(layers, [3, 8, 8]).output_shape == want


# ---------------------------------------------------------------- 2. feed: dense refuses from and side


@pytest.mark.parametrize("wiring", [{"from": "input"}, {"side": True}])
def test_dense_child_from_or_side_is_refused(wiring: dict[str, Any]) -> None:
    """A dense child reads concat(input, earlier outputs) and its output joins the concat: in torch,
    cat([x, a(x), b(cat([x, a(x)]))]) has no place where b could read something else or stay out."""
    layers = [{"name": "d", "feed": "dense", "layers": [
        {"name": "a", "op": "conv2d", "out": 4, "kernel": 1},
        {"name": "b", "op": "conv2d", "out": 2, "kernel": 1, **wiring}]}]  # fmt: skip
    _refused(layers, [3, 8, 8])


# ---------------------------------------------------------------- 3. repeat + feed: dense over inline layers


DENSE_BODY = [{"op": "batchnorm2d"}, {"op": "conv2d", "out": 2, "kernel": 3, "padding": 1}]


def _torch_dense_copies() -> tuple[Tensor, int]:
    """Two copies of bn -> conv; copy i reads concat(input, earlier copies' outputs)."""
    x = torch.zeros(2, 4, 8, 8)
    bn0, conv0 = nn.BatchNorm2d(4), nn.Conv2d(4, 2, 3, padding=1)
    bn1, conv1 = nn.BatchNorm2d(6), nn.Conv2d(6, 2, 3, padding=1)
    out0 = conv0(bn0(x))
    out1 = conv1(bn1(torch.cat([x, out0], 1)))
    return torch.cat([x, out0, out1], 1), _n_params(bn0, conv0, bn1, conv1)


def test_repeat_dense_inline_layers_makes_the_copies_dense() -> None:
    out, params = _torch_dense_copies()
    assert (_shape(out), params) == ((8, 8, 8), 204)
    inline = [{"name": "d", "repeat": 2, "feed": "dense", "layers": DENSE_BODY}]
    as_block = [{"name": "d", "repeat": 2, "feed": "dense", "block": "body"}]
    for layers, blocks in ((inline, None), (as_block, {"body": {"layers": DENSE_BODY}})):
        rep = _calc(layers, [4, 8, 8], blocks)
        assert (rep["d"].output_shape, rep.totals.params) == (_shape(out), params)
        assert _shape(_built_output(layers, [4, 8, 8], blocks)) == _shape(out)


# ---------------------------------------------------------------- 4. from reads a branch's output


BRANCH_REF: list[dict[str, Any]] = [
    {"name": "mix", "merge": "concat", "branches": {
        "a": [{"op": "conv2d", "out": 4, "kernel": 1}],
        "b": [{"op": "conv2d", "out": 6, "kernel": 1}]}},
    {"name": "cat", "op": "concat", "from": ["mix.a", "input"]},
]  # fmt: skip


def test_from_reads_a_branch_output_and_the_model_runs_it() -> None:
    a, b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 6, 1)
    torch.cat([a(X), b(X)], 1)  # mix itself, which `cat` does not read
    want = _shape(torch.cat([a(X), X], 1))  # 7x8x8
    rep = _calc(BRANCH_REF, [3, 8, 8])
    assert rep["cat"].output_shape == want
    assert rep.totals.params == _n_params(a, b)
    assert _shape(_built_output(BRANCH_REF, [3, 8, 8])) == want


# ---------------------------------------------------------------- 5. first: and from: []


def test_first_overrides_the_arguments_of_copy_zero_only() -> None:
    layers = [{"name": "r", "repeat": 2, "op": "conv2d", "out": 3, "kernel": 1, "first": {"stride": 2, "out": 5}}]
    c0, c1 = nn.Conv2d(3, 5, 1, stride=2), nn.Conv2d(5, 3, 1)
    want = _shape(c1(c0(X)))  # 3x4x4
    rep = _calc(layers, [3, 8, 8])
    assert (rep["r.0"].output_shape, rep["r.1"].output_shape) == (_shape(c0(X)), want)
    assert rep.totals.params == _n_params(c0, c1)


@pytest.mark.parametrize("key", ["from", "side", "when", "name"])
def test_first_refuses_wiring_keys(key: str) -> None:
    value = {"from": "input", "side": True, "when": False, "name": "zz"}[key]
    layers = [{"name": "c", "op": "conv2d", "out": 3, "kernel": 1},
              {"name": "r", "repeat": 2, "op": "conv2d", "out": 3, "kernel": 1, "first": {key: value}}]  # fmt: skip
    _refused(layers, [3, 8, 8])


def test_from_empty_list_is_refused() -> None:
    _refused([{"name": "r", "op": "conv2d", "out": 3, "kernel": 1, "from": []}], [3, 8, 8])
