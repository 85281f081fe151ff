"""The torch builder runs the graph: issue 9's defects 4 and 7, liveness, containers run on their own.

Expected outputs come from plain torch written here by hand, never from archcalc.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from archcalc.analysis.records import resolve
from archcalc.errors import ArchcalcError
from archcalc.frontend.spec import Spec, parse_spec
from archcalc.frontend.yamlio import load_text
from archcalc.ops import OPS

torch = pytest.importorskip("torch")
F = torch.nn.functional

from archcalc.torch import build  # noqa: E402

BRANCH_FROM = """\
name: branch-from
input: [3, 8, 8]
layers:
  - name: mix
    branches:
      a: [{name: conv, op: conv2d, out: 3, kernel: 1}]
      b: [{name: conv, op: conv2d, out: 3, kernel: 3, padding: 1}]
    merge: concat
  - {name: cat, op: concat, from: [mix.a, input]}
  - {name: relu, op: relu}
  - {name: add, op: add, from: [relu, mix]}
"""


def spec_of(text: str) -> Spec:
    return parse_spec(load_text(text, file="t.yaml"), "t.yaml")


def test_from_names_a_branch() -> None:
    """Defect 7: 'from: [mix.a, input]' read a branch output that was never stored (KeyError in forward)."""
    torch.manual_seed(0)
    model = build(spec_of(BRANCH_FROM)).eval()
    x = torch.randn(2, 3, 8, 8)
    conv_a, conv_b = model.get_submodule("mix.a.conv"), model.get_submodule("mix.b.conv")
    a = F.conv2d(x, conv_a.weight, conv_a.bias)
    mix = torch.cat([a, F.conv2d(x, conv_b.weight, conv_b.bias, padding=1)], 1)
    want = torch.relu(torch.cat([a, x], 1)) + mix
    with torch.no_grad():
        got = model(x)
    torch.testing.assert_close(got, want)


def test_a_container_runs_on_its_own() -> None:
    """A scope's module called directly (not from the model) runs its slice with a store of its own."""
    model = build(spec_of(BRANCH_FROM)).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        mix = model.get_submodule("mix")(x)
        want = torch.cat([model.get_submodule("mix.a")(x), model.get_submodule("mix.b")(x)], 1)
    torch.testing.assert_close(mix, want)
    assert model.env.values is None


DENSE = """\
name: dense
input: [2, 4, 4]
layers:
  - name: block
    feed: dense
    layers:
      - {name: c0, op: conv2d, out: 3, kernel: 1}
      - {name: c1, op: conv2d, out: 3, kernel: 1}
      - {name: c2, op: conv2d, out: 3, kernel: 1}
  - {name: out, op: conv2d, out: 1, kernel: 1}
"""


def test_dense_feed_matches_hand_written_torch() -> None:
    model = build(spec_of(DENSE)).eval()
    x = torch.randn(1, 2, 4, 4)
    feats = [x]
    for name in ("c0", "c1", "c2"):
        conv = model.get_submodule(f"block.{name}")
        feats.append(F.conv2d(torch.cat(feats, 1), conv.weight, conv.bias))
    head = model.get_submodule("out")
    want = F.conv2d(torch.cat(feats, 1), head.weight, head.bias)
    with torch.no_grad():
        torch.testing.assert_close(model(x), want)


def test_values_are_dropped_after_their_last_use() -> None:
    """While 'add' runs, only its two inputs are stored: the input, mix.a and cat were read for the last time."""
    spec = spec_of(BRANCH_FROM)
    graph, _ = resolve(spec)
    model: Any = build(spec).eval()
    live: list[set[str]] = []

    def hook(mod: Any, args: Any, out: Any) -> None:
        live.append({graph.nodes[i].path for i, v in enumerate(model.env.values) if v is not None})

    model.get_submodule("add").register_forward_hook(hook)
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 8))
    assert live == [{"relu", "mix"}]
    assert model.env.values is None


def test_op_without_builder_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 4: an op with a rule but no builder raised a raw KeyError."""
    monkeypatch.setitem(OPS, "relu", dataclasses.replace(OPS["relu"], build=None))
    with pytest.raises(ArchcalcError) as info:
        build(spec_of(BRANCH_FROM))
    err = info.value
    assert err.layer == "relu" and err.line == 10
    assert "op 'relu'" in err.message and "no torch builder" in err.message
