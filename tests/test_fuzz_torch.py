"""Property-based cross-check: random specs, the calculator against torch itself.

Each example is a random spec (conv2d, conv_transpose2d, pools, adaptive pools, batch norm, parallel
concat/add branches, flatten + linear) on a random input from 1x1 to 4096x4096. It goes through the
real front door (dict -> YAML text -> yamlio -> parse_spec -> analyze) and is compared per layer with
an independent torch run on the meta device (tests/torchref.py): output shape, params, buffers, and
MACs = FlopCounterMode FLOPs / 2. Where torch refuses a layer, the calculator must refuse the same
layer with an ArchcalcError. For accepted specs archcalc.torch.build() + measure() must agree too,
and on small inputs fvcore's per-module count must equal the calculator's conv/linear MACs.

Example counts come from the hypothesis profile (tests/conftest.py): `ci` by default,
`pytest -m fuzz --hypothesis-profile long` for >= 10,000 examples.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from hypothesis import HealthCheck, event, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torchref import BATCH, reference  # noqa: E402

from archcalc.calc import analyze  # noqa: E402
from archcalc.errors import ArchcalcError  # noqa: E402
from archcalc.report import Report  # noqa: E402
from archcalc.spec import parse_spec  # noqa: E402
from archcalc.torch import build_with_report  # noqa: E402
from archcalc.torch.crosscheck import measure  # noqa: E402
from archcalc.yamlio import load_text  # noqa: E402

pytestmark = pytest.mark.fuzz

MACS_OPS = {"conv2d", "conv_transpose2d", "linear"}


# ---------------------------------------------------------------- strategies


def _maybe_pair(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> Any:
    return draw(st.one_of(inner, st.lists(inner, min_size=2, max_size=2)))


def _groups(draw: st.DrawFn, c: int, out: int) -> int:
    """Mostly a common divisor of C_in and C_out (valid); sometimes any small number (torch must refuse)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.integers(1, 4))
    g = math.gcd(c, out)
    return draw(st.sampled_from([d for d in range(1, g + 1) if g % d == 0]))


@st.composite
def conv2d(draw: st.DrawFn, c: int) -> tuple[dict[str, Any], int]:
    out = draw(st.integers(1, 16))
    e: dict[str, Any] = {"op": "conv2d", "out": out, "kernel": _maybe_pair(draw, st.integers(1, 7))}
    if draw(st.booleans()):
        e["stride"] = _maybe_pair(draw, st.integers(1, 4))
    pad = draw(
        st.one_of(
            st.integers(0, 4), st.lists(st.integers(0, 4), min_size=2, max_size=2), st.sampled_from(["same", "valid"])
        )
    )
    if pad != 0 or draw(st.booleans()):
        e["padding"] = pad
    if draw(st.booleans()):
        e["dilation"] = _maybe_pair(draw, st.integers(1, 3))
    g = _groups(draw, c, out)
    if g != 1:
        e["groups"] = g
    if draw(st.integers(0, 3)) == 0:
        e["bias"] = False
    if draw(st.integers(0, 3)) == 0:
        e["padding_mode"] = draw(st.sampled_from(["reflect", "replicate", "circular"]))
    return e, out


@st.composite
def conv_transpose2d(draw: st.DrawFn, c: int) -> tuple[dict[str, Any], int]:
    out = draw(st.integers(1, 16))
    e: dict[str, Any] = {"op": "conv_transpose2d", "out": out, "kernel": _maybe_pair(draw, st.integers(1, 5))}
    e["stride"] = _maybe_pair(draw, st.integers(1, 3))
    e["padding"] = _maybe_pair(draw, st.integers(0, 3))
    e["output_padding"] = _maybe_pair(draw, st.integers(0, 2))
    if draw(st.booleans()):
        e["dilation"] = _maybe_pair(draw, st.integers(1, 2))
    g = _groups(draw, c, out)
    if g != 1:
        e["groups"] = g
    if draw(st.integers(0, 3)) == 0:
        e["bias"] = False
    return e, out


@st.composite
def pool(draw: st.DrawFn, c: int) -> tuple[dict[str, Any], int]:
    op = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
    e: dict[str, Any] = {"op": op, "kernel": _maybe_pair(draw, st.integers(1, 5))}
    if draw(st.booleans()):
        e["stride"] = _maybe_pair(draw, st.integers(1, 4))
    if draw(st.booleans()):
        e["padding"] = _maybe_pair(draw, st.integers(0, 3))
    if draw(st.booleans()):
        e["ceil_mode"] = True
    if op == "maxpool2d" and draw(st.booleans()):
        e["dilation"] = _maybe_pair(draw, st.integers(1, 3))
    if op == "avgpool2d" and draw(st.booleans()):
        e["count_include_pad"] = False
    return e, c


@st.composite
def adaptive(draw: st.DrawFn, c: int) -> tuple[dict[str, Any], int]:
    op = draw(st.sampled_from(["adaptive_avgpool2d", "adaptive_maxpool2d"]))
    size = st.integers(1, 9)
    output = draw(st.one_of(size, st.lists(st.one_of(size, st.none()), min_size=2, max_size=2)))
    return {"op": op, "output": output}, c


@st.composite
def batchnorm(draw: st.DrawFn, c: int) -> tuple[dict[str, Any], int]:
    e: dict[str, Any] = {"op": "batchnorm2d"}
    if draw(st.integers(0, 3)) == 0:
        e["affine"] = False
    if draw(st.integers(0, 3)) == 0:
        e["track_running_stats"] = False
    return e, c


@st.composite
def layer(draw: st.DrawFn, c: int) -> tuple[dict[str, Any], int]:
    kind = draw(st.sampled_from([conv2d, conv2d, conv2d, conv_transpose2d, pool, pool, adaptive, batchnorm]))
    result: tuple[dict[str, Any], int] = draw(kind(c))
    return result


@st.composite
def branches(draw: st.DrawFn, c: int, depth: int) -> tuple[dict[str, Any], int]:
    """Parallel branches; an add block mostly keeps shapes equal (stride-1 'same' convs, identity)."""
    merge = draw(st.sampled_from(["concat", "add"]))
    n = draw(st.integers(1, 3))
    out_c = draw(st.integers(1, 12))
    bs: dict[str, Any] = {}
    total = 0
    for i in range(n):
        items: list[dict[str, Any]] = []
        bc = c
        if merge == "add" and draw(st.integers(0, 4)):
            if draw(st.booleans()) or c != out_c:
                k = draw(st.sampled_from([1, 3, 5]))
                items.append({"name": "conv", "op": "conv2d", "out": out_c, "kernel": k, "padding": "same"})
                bc = out_c
        else:
            for j in range(draw(st.integers(0, 2))):
                e, bc = draw(sequence_item(bc, depth + 1))
                items.append({"name": f"l{j}", **e})
        bs[f"b{i}"] = items or None
        total += bc
    return {"branches": bs, "merge": merge}, (total if merge == "concat" else bc)


@st.composite
def sequence_item(draw: st.DrawFn, c: int, depth: int = 0) -> tuple[dict[str, Any], int]:
    if depth < 2 and draw(st.integers(0, 5)) == 0:
        result: tuple[dict[str, Any], int] = draw(branches(c, depth))
        return result
    result = draw(layer(c))
    return result


SIZE = st.one_of(st.integers(1, 40), st.integers(1, 300), st.integers(1, 4096))


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    c = draw(st.integers(1, 8))
    shape = [c, draw(SIZE), draw(SIZE)]
    layers: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 6))):
        e, c = draw(sequence_item(c))
        layers.append({"name": f"l{i}", **e})
    if draw(st.integers(0, 2)) == 0:
        layers.append({"name": "flat", "op": "flatten"})
        for j in range(draw(st.integers(1, 2))):
            layers.append({"name": f"fc{j}", "op": "linear", "out": draw(st.integers(1, 10))})
    return {"name": "fuzz", "input": shape, "layers": layers}


# ---------------------------------------------------------------- checks


def calculate(doc: dict[str, Any]) -> Report:
    """The spec through the real front door: YAML text, safe loader, header checks, analyze."""
    text = yaml.safe_dump(doc, sort_keys=False)
    return analyze(parse_spec(load_text(text, file="fuzz.yaml"), "fuzz.yaml"))


def _broadcast_add(ref_error: str | None, err: ArchcalcError, ref_blocks: dict[str, Any]) -> bool:
    """archcalc refuses unequal shapes at add even where torch silently broadcasts (documented):
    torch got past that add (it may refuse a later layer), archcalc stopped at it."""
    return "add needs equal shapes" in err.message and err.layer in ref_blocks and ref_error != err.layer


def check_against_torch(doc: dict[str, Any]) -> Report | None:
    """The whole property for one spec; returns the report when both accepted it."""
    note(yaml.safe_dump(doc, sort_keys=False))
    ref = reference(doc["input"], doc["layers"])
    for text in ref.notes:
        event(text)
    try:
        rep = calculate(doc)
    except ArchcalcError as err:
        text = str(err)
        assert "\n" not in text and text.startswith("fuzz.yaml:"), text
        if _broadcast_add(ref.error_at, err, ref.blocks):
            event("archcalc refuses torch broadcasting at add")
            return None
        assert ref.error_at is not None, f"archcalc refused a spec torch runs: {text}"
        assert err.layer == ref.error_at, f"torch refused {ref.error_at} ({ref.error}); archcalc: {text}"
        event("both refused")
        return None
    assert ref.error_at is None, f"torch refused {ref.error_at}: {ref.error}; archcalc gave a shape"
    event("both accepted")
    for rec in rep.records:
        if rec.kind == "block":
            if rec.path in ref.blocks:
                assert rec.output_shape == ref.blocks[rec.path], rec.path
            continue
        got = ref.layers[rec.path]
        assert rec.output_shape == got.shape, rec.path
        assert rec.counts.params == got.params, rec.path
        assert rec.counts.buffers == got.buffers, rec.path
        assert rec.counts.macs == got.macs, rec.path
    assert len([r for r in rep.records if r.kind == "layer"]) == len(ref.layers)
    return rep


def check_builder(doc: dict[str, Any], rep: Report) -> None:
    """archcalc.torch.build on the meta device, measured with forward hooks, agrees record by record."""
    text = yaml.safe_dump(doc, sort_keys=False)
    spec = parse_spec(load_text(text, file="fuzz.yaml"), "fuzz.yaml")
    with torch.device("meta"):
        model, report = build_with_report(spec)
    got = measure(model, report, device="meta", batch=BATCH)
    for rec in report.records:
        assert got.shapes[rec.path] == rec.output_shape, rec.path
        assert got.params[rec.path] == rec.counts.params, rec.path
        assert got.buffers[rec.path] == rec.counts.buffers, rec.path
    assert got.total_params == rep.totals.params


def _profile_examples(scale: float) -> int:
    return max(5, int(settings.default.max_examples * scale))  # type: ignore[union-attr]


@settings(
    max_examples=_profile_examples(2.0),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(specs())
def test_random_specs_match_torch(doc: dict[str, Any]) -> None:
    rep = check_against_torch(doc)
    if rep is not None:
        check_builder(doc, rep)


SMALL = st.integers(1, 48)


@st.composite
def small_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Small inputs only: fvcore needs real CPU tensors (it cannot trace a conv on meta)."""
    doc: dict[str, Any] = draw(specs())
    doc["input"][1:] = [draw(SMALL), draw(SMALL)]
    return doc


def _numeric_padding(args: dict[str, Any]) -> bool:
    # fvcore counts 0 for padding='same'/'valid' (aten::_convolution_mode has no handle), see counting-rules.md
    return not isinstance(args.get("padding"), str)


@settings(
    max_examples=_profile_examples(0.3),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(small_specs())
def test_random_specs_macs_match_fvcore(doc: dict[str, Any]) -> None:
    from fvcore.nn import FlopCountAnalysis

    rep = check_against_torch(doc)
    if rep is None:
        return
    text = yaml.safe_dump(doc, sort_keys=False)
    model, report = build_with_report(parse_spec(load_text(text, file="fuzz.yaml"), "fuzz.yaml"))
    model.eval()
    fca = FlopCountAnalysis(model, torch.zeros((BATCH, *report.input)))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    by_module = fca.by_module()
    for rec in report.layers:
        if rec.op in MACS_OPS and _numeric_padding(rec.args):
            assert by_module[rec.path] == BATCH * rec.counts.macs, rec.path  # fvcore counts the whole batch
