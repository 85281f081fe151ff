"""Property-based cross-check: random specs, the calculator against torch itself.

Two generators (tests/fuzzgen.py, op entries in tests/fuzzops.py). ``specs()``: every op but max_unpool2d
(convolutions, pools, adaptive pools, batch norm, lrn, softmax, dropout, elementwise ops, compress,
subsample, linear; issue 10's activations, layer/group/instance norms, permute, channel_shuffle, chunk,
stochastic_depth, and a channels-last list: permute, layernorm/linear/activation/chunk over the channels,
permute back), parallel concat/add branches, and a flatten head with linear/softmax/dropout/relu/rbf,
on inputs from 1x1 to 4096x4096. ``wiring_specs()`` adds the wiring of the language: ``from`` (names,
``input``, dotted branch/nested names, lists for ``concat``/``add``), ``side``, ``feed: dense`` (on layers,
repeat and block bodies), ``repeat`` with ``first``/``when``, ``blocks`` with ``$param`` args, and
``max_unpool2d`` tied to a pool. In a wild spec, every argument with a range is sometimes outside it.

Each spec goes through the real front door (dict -> YAML text -> yamlio -> parse_spec -> analyze) and is
compared with an independent torch run on the meta device (tests/torchref.py), which interprets the entry
dicts itself: per layer the output shape, params, buffers and MACs = FlopCounterMode FLOPs / 2; every
container's output shape; the totals; and the network's final output shape. archcalc refuses exactly when
the reference does, with an ArchcalcError: naming the layer torch refused first (or one whose arguments
torch refuses on any input), or anywhere when the language refuses the spec. For accepted specs
archcalc.torch.build() + measure() must agree too, and the built model's output (the first element when
side outputs make it a tuple) must have the reference's final shape. On small inputs fvcore's per-module
count must equal the conv/linear MACs, and the fvcore convention's count for issue 10's norms, layout ops and
activations.

Example counts come from the hypothesis profile (tests/conftest.py): `ci` by default (about 430 examples),
`pytest -m fuzz --hypothesis-profile long` for >= 10,000 examples per main property (docs/testing.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod
from typing import Any

import pytest

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from fuzzgen import features, specs, wiring_specs  # noqa: E402
from hypothesis import HealthCheck, event, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torchref import RefRun, reference_spec  # noqa: E402

from archcalc.analysis.conventions import layer_values  # noqa: E402
from archcalc.analysis.records import analyze  # noqa: E402
from archcalc.analysis.report import Report  # noqa: E402
from archcalc.errors import ArchcalcError  # noqa: E402
from archcalc.frontend.spec import parse_spec  # noqa: E402
from archcalc.frontend.yamlio import load_text  # noqa: E402
from archcalc.torch import build_with_report  # noqa: E402
from archcalc.torch.crosscheck import measure  # noqa: E402

pytestmark = pytest.mark.fuzz

MACS_OPS = {"conv2d", "conv_transpose2d", "linear"}
ISSUE10_OPS = {"layernorm", "layernorm2d", "groupnorm", "instancenorm2d", "permute", "channel_shuffle", "chunk"}
ISSUE10_OPS |= {"stochastic_depth", "relu6", "hardswish", "hardsigmoid", "silu", "gelu", "leaky_relu", "elu", "mish"}
ISSUE10_OPS.add("prelu")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Thousands of tiny ops: with one thread there is no pool to wake per op (on a loaded 2-core machine a
    meta conv2d took 20 ms with 2 threads, 0.1 ms with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter (the pure-Python one was a fifth of the run time); no anchors, plain YAML."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def spec_text(doc: dict[str, Any]) -> str:
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False))


def calculate(text: str) -> Report:
    """The spec through the real front door: YAML text, safe loader, header checks, analyze."""
    return analyze(parse_spec(load_text(text, file="fuzz.yaml"), "fuzz.yaml"))


def _calculate_or_refuse(text: str) -> Report | ArchcalcError:
    try:
        return calculate(text)
    except ArchcalcError as err:
        return err
    except Exception as err:  # a refusal must be an ArchcalcError: one line, no traceback for the user
        raise AssertionError(f"archcalc raised {type(err).__name__}, not ArchcalcError: {err}") from err


def check_refusal(ref: RefRun, err: ArchcalcError) -> None:
    """The language accepts the spec: archcalc must name the layer torch refused first, or one whose
    arguments torch refuses on any input (archcalc checks argument ranges while expanding, before shapes)."""
    text = str(err)
    assert "\n" not in text and text.startswith("fuzz.yaml:"), text
    assert ref.error_at is not None, f"archcalc refused a spec torch runs: {text}"
    if ref.refused_by == "torch":
        named = err.layer == ref.error_at or err.layer in ref.static
        assert named, f"torch refused {ref.error_at} ({ref.error}); archcalc: {text}"
    event(f"both refused ({ref.refused_by})")


def check_records(rep: Report, ref: RefRun) -> None:
    """Every layer and container record against the reference, the totals, and the final output shape."""
    layers = {r.path: r for r in rep.records if r.kind == "layer"}
    assert sorted(layers) == sorted(ref.layers), "layer records differ from the reference's layers"
    for path, got in ref.layers.items():
        rec = layers[path]
        assert rec.output_shape == got.shape, path
        assert rec.counts.params == got.params, path
        assert rec.counts.buffers == got.buffers, path
        assert rec.counts.macs == got.macs, path
    blocks = {r.path: r.output_shape for r in rep.records if r.kind == "block"}
    assert blocks == ref.blocks, "container records differ from the reference's containers"
    assert rep.totals.params == sum(r.params for r in ref.layers.values())
    assert rep.totals.macs == sum(r.macs for r in ref.layers.values())
    assert rep.output_shape == ref.output, "report.output_shape is not the network's output"


def check_against_torch(doc: dict[str, Any], text: str) -> tuple[Report, RefRun] | None:
    """The whole property for one spec; returns the report and the reference when both accepted it."""
    note(text)
    ref = reference_spec(doc)
    for gap in ref.notes:
        event(gap)
    rep = _calculate_or_refuse(text)
    if isinstance(rep, ArchcalcError):
        check_refusal(ref, rep)
        return None
    assert ref.error_at is None, f"{ref.refused_by} refused {ref.error_at}: {ref.error}; archcalc gave a shape"
    event("both accepted")
    check_records(rep, ref)
    return rep, ref


def check_builder(text: str, rep: Report, ref: RefRun) -> None:
    """archcalc.torch.build on the meta device, measured with forward hooks, agrees record by record,
    and its forward pass ends in the network's output (the first element when there are side outputs)."""
    if not _fits_batch_2(rep):
        event("builder not run: a batch of 2 would overflow torch's storage (the reference checked 1)")
        return
    spec = parse_spec(load_text(text, file="fuzz.yaml"), "fuzz.yaml")
    with torch.device("meta"):
        model, report = build_with_report(spec)
    outs: list[Any] = []  # the root's forward output, caught during measure's forward pass
    hook = model.register_forward_hook(lambda mod, args, out: outs.append(out))
    try:
        got = measure(model, report, device="meta", batch=2)
    finally:
        hook.remove()
    for rec in report.records:
        assert got.shapes[rec.path] == rec.output_shape, rec.path
        assert got.params[rec.path] == rec.counts.params, rec.path
        assert got.buffers[rec.path] == rec.counts.buffers, rec.path
    assert got.total_params == rep.totals.params
    main = outs[0][0] if isinstance(outs[0], tuple) else outs[0]
    assert tuple(main.shape[1:]) == ref.output, "the built model's output is not the network's output"


def _fits_batch_2(rep: Report) -> bool:
    """Whether a batch of 2 fits torch's storage (int64 bytes; a max pool's indices take 8 per element).
    Batch 2, as batch norm without running stats refuses a 1x1 map at batch 1."""
    largest = max((prod(r.output_shape) for r in rep.records), default=0)
    return 2 * largest * 8 <= 2**63 - 1


def _profile_examples(scale: float) -> int:
    return max(5, int(settings.default.max_examples * scale))  # type: ignore[union-attr]


def fuzz_settings(scale: float) -> settings:
    return settings(
        max_examples=_profile_examples(scale),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _full_check(doc: dict[str, Any]) -> bool:
    """Every check for one spec; whether both accepted it."""
    text = spec_text(doc)
    both = check_against_torch(doc, text)
    if both is not None:
        check_builder(text, *both)
    return both is not None


@fuzz_settings(2.0)
@given(specs())
def test_random_specs_match_torch(doc: dict[str, Any]) -> None:
    if _full_check(doc):
        for op in sorted(_ops(doc["layers"]) & ISSUE10_OPS):
            event(f"accepted with {op}")


def _ops(v: Any) -> set[str]:
    """Every op named in a spec's entries (nested lists and branches included)."""
    if isinstance(v, list):
        return {op for x in v for op in _ops(x)}
    if not isinstance(v, dict):
        return set()
    return ({v["op"]} if isinstance(v.get("op"), str) else set()) | {op for x in v.values() for op in _ops(x)}


@fuzz_settings(2.0)
@given(wiring_specs())
def test_wiring_specs_match_torch(doc: dict[str, Any]) -> None:
    if _full_check(doc):
        for feature in sorted(features(doc)):
            event(f"accepted with {feature}")


SMALL = st.integers(1, 48)
FV_BATCH = 2  # fvcore runs the real CPU kernels: batch norm without running stats needs N*H*W > 1


@st.composite
def small_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Small inputs only: fvcore needs real CPU tensors (it cannot trace a conv on meta)."""
    doc: dict[str, Any] = draw(specs(big=False))
    doc["input"][1:] = [draw(SMALL), draw(SMALL)]
    return doc


def _numeric_padding(args: dict[str, Any]) -> bool:
    # fvcore counts 0 for padding='same'/'valid' (aten::_convolution_mode has no handle): docs/conventions.md
    return not isinstance(args.get("padding"), str)


@fuzz_settings(0.3)
@given(small_specs())
def test_random_specs_macs_match_fvcore(doc: dict[str, Any]) -> None:
    from fvcore.nn import FlopCountAnalysis

    text = spec_text(doc)
    if check_against_torch(doc, text) is None:
        return
    model, report = build_with_report(parse_spec(load_text(text, file="fuzz.yaml"), "fuzz.yaml"))
    model.eval()
    fca = FlopCountAnalysis(model, torch.zeros((FV_BATCH, *report.input)))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with torch.no_grad():  # autograd refuses an in-place op on a chunk's view (test_regressions.py); fvcore's
        by_module = fca.by_module()  # handles do not depend on grad mode
    fv = layer_values(report, "fvcore")
    for rec in report.layers:
        if rec.op in MACS_OPS and _numeric_padding(rec.args):
            assert by_module[rec.path] == FV_BATCH * rec.counts.macs, rec.path  # fvcore counts the whole batch
        if rec.op in ISSUE10_OPS:  # the fvcore convention's rule for the norms (5 or 4 per element), 0 for the rest
            assert by_module[rec.path] == FV_BATCH * fv[rec.path], rec.path
