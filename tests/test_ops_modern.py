"""Issue 10's norm and layout ops (archcalc/ops/norm.py, layout.py) and linear on any rank, against torch.

Expected values come from torch itself: an independent chain of torch / torchvision modules built here from
the spec's entries (torch's defaults where an entry omits an argument) gives every layer's shape, parameters,
buffers and FlopCounterMode MACs; torch.chunk gives the chunk sizes; torch refuses each error case too; torch
autograd gives the receptive fields. The conventions against fvcore, torchinfo and FlopCounterMode are in
tests/test_ops_modern_tools.py.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
import yaml

from archcalc.analysis.records import analyze
from archcalc.errors import ArchcalcError
from archcalc.ops import OPS

NEW_OPS = ("layernorm", "layernorm2d", "groupnorm", "instancenorm2d", "permute", "channel_shuffle", "chunk")
NEW_OPS += ("stochastic_depth",)

SPEC = """
name: modern
input: [6, 9, 11]
layers:
  - {name: conv, op: conv2d, out: 8, kernel: 3, padding: 1}
  - {name: ln2d, op: layernorm2d, eps: 1.0e-6}
  - {name: gn, op: groupnorm, groups: 4}
  - {name: gn_plain, op: groupnorm, groups: 2, affine: false}
  - {name: inorm, op: instancenorm2d}
  - {name: inorm_aff, op: instancenorm2d, affine: true, track_running_stats: true}
  - {name: shuffle, op: channel_shuffle, groups: 2}
  - {name: to_last, op: permute, dims: [0, 2, 3, 1]}
  - {name: ln, op: layernorm}
  - {name: fc1, op: linear, out: 12}
  - {name: ln_nobias, op: layernorm, bias: false}
  - {name: fc2, op: linear, out: 8, bias: false}
  - {name: ln_plain, op: layernorm, elementwise_affine: false}
  - {name: to_first, op: permute, dims: [0, -1, 1, 2]}
  - {name: sd, op: stochastic_depth, p: 0.2}
  - {name: sd_batch, op: stochastic_depth, p: 0.5, mode: batch}
  - {name: part, op: chunk, chunks: 3, index: 1}
  - {name: cols, op: chunk, chunks: 4, index: 3, dim: -1}
  - {name: fc_w, op: linear, out: 4}
  - {name: ln_w, op: layernorm}
  - {name: flat, op: flatten}
  - {name: head, op: linear, out: 5}
"""


@pytest.fixture
def spec_file(tmp_path: Any) -> str:
    path = tmp_path / "modern.yaml"
    path.write_text(SPEC)
    return str(path)


def test_spec_uses_every_new_op(spec_file: str) -> None:
    assert {r.op for r in analyze(spec_file).layers} >= set(NEW_OPS)


def test_declarations() -> None:
    """Names and defaults as fixed in the design; views and the inference identity allocate nothing."""
    defaults = {
        "layernorm": {"eps": 1e-5, "elementwise_affine": True, "bias": True},
        "layernorm2d": {"eps": 1e-5, "elementwise_affine": True, "bias": True},
        "groupnorm": {"eps": 1e-5, "affine": True},
        "instancenorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": False, "track_running_stats": False},
        "chunk": {"dim": 1},
        "stochastic_depth": {"mode": "row"},
    }
    for op, want in defaults.items():
        assert {k: OPS[op].args[k].default for k in want} == want, op
    assert OPS["groupnorm"].args["groups"].required and OPS["permute"].args["dims"].required
    assert all(OPS["chunk"].args[k].required for k in ("chunks", "index"))
    aliases = {op for op in NEW_OPS if OPS[op].alias({})}
    assert aliases == {"permute", "chunk", "stochastic_depth"}
    assert [op for op in NEW_OPS if OPS[op].pointwise] == ["stochastic_depth"]


# ---------------------------------------------------------------- the independent torch chain


def _reference_module(e: dict[str, Any], x: Any, tv: Any) -> Any:
    """torch's (or torchvision's) module for one spec entry, torch defaults where the entry omits an argument."""
    import torch
    from torch import nn

    op = e["op"]
    if op == "conv2d":
        return nn.Conv2d(x.shape[1], e["out"], e["kernel"], padding=e.get("padding", 0))
    if op == "linear":
        return nn.Linear(x.shape[-1], e["out"], bias=e.get("bias", True))
    if op in ("layernorm", "layernorm2d"):
        cls = nn.LayerNorm if op == "layernorm" else tv.models.convnext.LayerNorm2d
        c = x.shape[-1] if op == "layernorm" else x.shape[1]
        return cls(c, e.get("eps", 1e-5), e.get("elementwise_affine", True), e.get("bias", True))
    if op == "groupnorm":
        return nn.GroupNorm(e["groups"], x.shape[1], e.get("eps", 1e-5), e.get("affine", True))
    if op == "instancenorm2d":
        keys = ("eps", "momentum", "affine", "track_running_stats")
        return nn.InstanceNorm2d(x.shape[1], **{k: e[k] for k in keys if k in e})
    if op == "permute":
        return tv.ops.misc.Permute(e["dims"])
    if op == "stochastic_depth":
        return tv.ops.StochasticDepth(e["p"], e.get("mode", "row"))
    if op == "flatten":
        return nn.Flatten()
    funcs = {
        "channel_shuffle": lambda y: tv.models.shufflenetv2.channel_shuffle(y, e["groups"]),
        "chunk": lambda y: torch.chunk(y, e["chunks"], e.get("dim", 1))[e["index"]],
    }
    return _Fn(funcs[op])


class _Fn:
    """A function as a module-like callable with no parameters or buffers."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def parameters(self) -> list[Any]:
        return []

    def buffers(self) -> list[Any]:
        return []

    def eval(self) -> _Fn:
        return self


def reference_chain(spec: str, tv: Any, x: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per layer name: output shape (batch dropped), params, buffers, FlopCounterMode MACs; and the modules."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    doc = yaml.safe_load(spec)
    got, mods = {}, {}
    for e in doc["layers"]:
        mod = _reference_module(e, x, tv).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            x = mod(x)
        mods[e["name"]] = mod
        got[e["name"]] = {
            "shape": tuple(x.shape[1:]),
            "params": sum(p.numel() for p in mod.parameters()),
            "buffers": sum(b.numel() for b in mod.buffers()),
            "macs": fc.get_total_flops() // (2 * x.shape[0]),
        }
    return got, mods


def test_every_layer_against_torch(spec_file: str, torchvision: Any) -> None:
    """Shape, params, trainable, buffers and MACs (FlopCounterMode FLOPs / 2) of every layer."""
    import torch

    torch.manual_seed(0)
    want, _ = reference_chain(SPEC, torchvision, torch.randn(2, 6, 9, 11))
    report = analyze(spec_file)
    for rec in report.layers:
        w = want[rec.path]
        got = {"shape": rec.output_shape, "params": rec.params, "buffers": rec.buffers, "macs": rec.macs}
        assert got == w, rec.path
        assert rec.trainable_params == rec.params, rec.path
    assert report.output_shape == (5,)


def test_built_model_equals_the_torch_chain(spec_file: str, torchvision: Any) -> None:
    """archcalc's model, loaded with the reference modules' weights (same keys), gives the same output."""
    import torch

    from archcalc.torch import build_with_report

    torch.manual_seed(0)
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64)
    model = build_with_report(spec_file)[0].double().eval()
    _, mods = reference_chain(SPEC, torchvision, torch.randn(2, 6, 9, 11))
    state = {}
    for name, mod in mods.items():
        if isinstance(mod, torch.nn.Module):
            mod.double()
            for key, value in mod.state_dict().items():
                state[f"{name}.{key}"] = value.uniform_(0.5, 1.5) if value.is_floating_point() else value
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        y = x
        for mod in mods.values():
            y = mod(y)
        assert torch.equal(model(x), y)


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_stochastic_depth_is_torchvisions(torchvision: Any, mode: str, p: float) -> None:
    """The built module in training draws exactly what torchvision.ops.StochasticDepth draws (same seed);
    at inference it returns its input itself."""
    import torch

    from archcalc.torch.modern import StochasticDepth

    ours, theirs = StochasticDepth(p, mode), torchvision.ops.StochasticDepth(p, mode)
    x = torch.randn(16, 3, 4, 5)
    torch.manual_seed(7)
    a = ours.train()(x)
    torch.manual_seed(7)
    b = theirs.train()(x)
    assert torch.equal(a, b)
    assert ours.eval()(x) is x and theirs.eval()(x) is x
    if mode == "row" and 0 < p < 1:  # some samples kept, some dropped
        kept = a.flatten(1).abs().sum(1) > 0
        assert 0 < int(kept.sum()) < 16


def test_channel_shuffle_is_torchvisions(torchvision: Any) -> None:
    import torch

    x = torch.randn(2, 12, 3, 5)
    for g in (1, 2, 3, 4, 6, 12):
        assert torch.equal(torch.nn.ChannelShuffle(g)(x), torchvision.models.shufflenetv2.channel_shuffle(x, g))


def test_layernorm2d_is_torchvisions(torchvision: Any) -> None:
    import torch

    from archcalc.torch.modern import LayerNorm2d

    ours, theirs = LayerNorm2d(6, 1e-6), torchvision.models.convnext.LayerNorm2d(6, 1e-6)
    with torch.no_grad():
        theirs.weight.uniform_(-1, 1)
        theirs.bias.uniform_(-1, 1)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 6, 4, 5)
    assert torch.equal(ours(x), theirs(x))


# ---------------------------------------------------------------- chunk: torch.chunk's sizes, fewer pieces


@pytest.mark.parametrize("length", range(1, 13))
def test_chunk_sizes_are_torchs(tmp_path: Any, length: int) -> None:
    """Every (chunks, index) for a length: archcalc accepts exactly the pieces torch.chunk returns, with
    their sizes (torch may return fewer than asked: chunk(5, 4) gives 2, 2, 1)."""
    import torch

    for chunks in range(1, 9):
        pieces = torch.chunk(torch.zeros(1, length, 2, 3), chunks, 1)
        for index in range(chunks + 1):
            entry = {"name": "c", "op": "chunk", "chunks": chunks, "index": index}
            if index < len(pieces):
                assert _output(tmp_path, [length, 2, 3], entry) == tuple(pieces[index].shape[1:])
            else:
                err = _refused(tmp_path, [length, 2, 3], entry)
                assert f"chunk index {index} does not exist" in str(err)
                assert f"pieces 0..{len(pieces) - 1}" in str(err)
    few = _refused(tmp_path, [5, 2, 3], {"name": "c", "op": "chunk", "chunks": 4, "index": 3})
    assert "torch returns 3, not 4: pieces of 2" in str(few)


def _write(tmp_path: Any, shape: list[int], *entries: dict[str, Any]) -> str:
    path = tmp_path / "one.yaml"
    layers = "\n".join(f"  - {yaml.safe_dump(e, default_flow_style=True).strip()}" for e in entries)
    path.write_text(f"name: one\ninput: {shape}\nlayers:\n{layers}\n")
    return str(path)


def _output(tmp_path: Any, shape: list[int], *entries: dict[str, Any]) -> tuple[int, ...]:
    return analyze(_write(tmp_path, shape, *entries)).output_shape


def _refused(tmp_path: Any, shape: list[int], *entries: dict[str, Any]) -> ArchcalcError:
    """The refusal, located at the last entry: 'file:line: layer NAME: ...' (line 3 + its position)."""
    path = _write(tmp_path, shape, *entries)
    with pytest.raises(ArchcalcError) as info:
        analyze(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:{3 + len(entries)}: layer '{entries[-1]['name']}': "), text
    return info.value


# ---------------------------------------------------------------- errors: archcalc and torch both refuse

LANGUAGE = "the language's own refusal"
ERRORS = [  # input to the entry, the entry, the message, and whether torch refuses it too
    ([6, 4, 4], {"op": "groupnorm", "groups": 4}, "groupnorm groups=4 must divide the input channels C = 6", True),
    (
        [6, 4, 4],
        {"op": "channel_shuffle", "groups": 4},
        "channel_shuffle groups=4 must divide the input channels",
        True,
    ),
    ([6], {"op": "channel_shuffle", "groups": 2}, "needs a C x ... input with at least 2 dims", True),
    ([6, 4, 4], {"op": "permute", "dims": [0, 2, 2, 1]}, r"not a permutation of 0..3", True),
    ([6, 4, 4], {"op": "permute", "dims": [0, 2, 1]}, "expected 4 dims", True),
    ([6, 4, 4], {"op": "permute", "dims": [0, 2, 4, 1]}, "each from -4 to 3", True),
    ([6, 4, 4], {"op": "chunk", "chunks": 2, "index": 2}, "chunk index 2 does not exist", True),
    ([6, 4, 4], {"op": "chunk", "chunks": 2, "index": 0, "dim": 4}, r"expected 1..3 or -3..-1", True),
    ([6, 1, 1], {"op": "instancenorm2d"}, "needs more than 1 spatial element", True),
    ([6, 4], {"op": "layernorm2d"}, "needs a C x H x W input", True),
    # torch would move the batch / chunk the batch / read a C x L map as one unbatched C x H x W sample
    ([6, 4, 4], {"op": "permute", "dims": [2, 0, 3, 1]}, r"move the batch \(dim 0\): it must stay first", False),
    ([6, 4, 4], {"op": "chunk", "chunks": 2, "index": 0, "dim": -4}, "dim 0 is the batch", False),
    ([6, 4], {"op": "instancenorm2d"}, "needs a C x H x W input", False),
]


def _torch_refuses(shape: list[int], e: dict[str, Any], tv: Any) -> bool:
    import torch

    x = torch.zeros(1, *shape)
    try:
        with warnings.catch_warnings():  # InstanceNorm2d warns that C does not match before it refuses
            warnings.simplefilter("ignore")
            _reference_module(e, x, tv).eval()(x)
    except (RuntimeError, ValueError, IndexError):
        return True
    return False


@pytest.mark.parametrize(
    ("shape", "entry", "message", "by_torch"), ERRORS, ids=[f"{e['op']}-{i}" for i, (_, e, _, _) in enumerate(ERRORS)]
)
def test_refusals_name_file_line_and_layer(
    tmp_path: Any, torchvision: Any, shape: list[int], entry: dict[str, Any], message: str, by_torch: bool
) -> None:
    conv = {"name": "c0", "op": "conv2d", "out": shape[0], "kernel": 1}
    err = _refused(tmp_path, [4, 5, 5], conv, *_to(shape, entry))
    assert re.search(message, str(err)), str(err)
    assert _torch_refuses(shape, entry, torchvision) == by_torch, entry


def _to(shape: list[int], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries that bring the conv's C x 5 x 5 output to ``shape``, then the entry under test."""
    pre: list[dict[str, Any]] = []
    if shape[1:] != [5, 5]:
        size = shape[1:] or [1]
        pre.append({"name": "fit", "op": "adaptive_avgpool2d", "output": size if len(size) == 2 else [size[0], 1]})
        if len(shape) == 2:
            pre.append({"name": "squeeze", "op": "flatten", "start_dim": 2})
        if len(shape) == 1:
            pre.append({"name": "squeeze", "op": "flatten"})
    return [*pre, {"name": "bad", **entry}]
