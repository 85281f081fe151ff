"""torchvision as the oracle: each of its 68 CNN classifiers against the bundled spec that mirrors it.

The models are ``torchvision.models.list_models(module=torchvision.models)`` less the transformers (vit_*,
swin_*, maxvit_*), as listed in tests/tvoracle.py (a test compares the lists). Model ``x_y`` mirrors spec
``x-y`` (exceptions in tvoracle.SPEC_EXCEPTIONS: googlenet -> googlenet-tv). torchvision builds with
``weights=None``: nothing is ever downloaded. Per model, against its spec:

(a) state_dict: archcalc's model has exactly torchvision's keys (in its order) and shapes, and
    ``load_state_dict(torchvision_model.state_dict(), strict=True)`` works (both on the meta device);
(b) outputs: in eval mode on the CPU in float64, torchvision's model with every parameter and buffer
    randomised (tvoracle.randomize: BatchNorm statistics and ConvNeXt's layer scale too) and archcalc's
    model holding the same tensors give allclose logits for one random batch of 2, at a reduced square
    input (64, more for alexnet and inception_v3: tvoracle.REDUCED_HW_FOR); a failure names the first
    module whose output differs;
(c) params and buffers (torch numel), and MACs = FlopCounterMode / 2 at the spec's default input, against
    torchvision's model on the meta device;
(d) the tool conventions, integer for integer, each tool run on torchvision's model: ``flops`` =
    FlopCounterMode total and ``torchinfo`` = torchinfo 1.8.0 summary(...).total_mult_adds (meta device,
    default input, batch 1); ``fvcore`` = fvcore 0.1.5 FlopCountAnalysis(...).total(), a CPU trace at (b)'s
    reduced input with the calculator at the same input (fvcore's rules hold at any size). A failure
    lists the ops whose per-layer counts differ;
(e) torchvision's DEFAULT weights' meta (the weights enum, never downloaded): the spec's input is the eval
    transform's crop; num_params; ``_ops`` (GMACs, labelled GFLOPS) to its printed decimals; min_size is
    ``archcalc minsize``'s square size (efficientnet_v2_*: the meta's 33 is above it), and torchvision's
    model runs there and fails one pixel below; the spec's ``published`` block states the same numbers.

Each model has two tests: ``test_meta_device_checks`` (a, c, d: flops and torchinfo, e) and
``test_cpu_checks`` (b, d: fvcore); each runs all its checks and fails naming every one that failed. The
default run checks the smallest model of each family (tvoracle.DEFAULT_RUN); the other models' tests are
``slow`` (tests/conftest.py), run by ``python -m pytest -q -m slow`` (CI runs both).
torchvision's eval forward is what is counted: inception_v3 keeps AuxLogits in its state_dict (and in
num_params) but does not run it in eval, so counts and outputs compare with the spec at ``EVAL_SETS``
(aux_logits=false). A model whose spec is not bundled yet is skipped with "no bundled spec yet (issue 10)";
any other difference is a failure. torchvision is imported through tests/tvshim.py; the package never
imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tvoracle import (
    CNN_CLASSIFIERS,
    EVAL_DROPS,
    EVAL_SETS,
    NOT_CNN,
    TV_SPECS,
    cpu_model,
    first_divergence,
    flopcounter,
    fvcore_total,
    main_output,
    per_op_diff,
    reduced_hw,
    shapes,
    spec_model,
    torchinfo_total,
    tv_model,
)

import archcalc
from archcalc.analysis.conventions import total
from archcalc.analysis.records import analyze
from archcalc.analysis.report import Report
from archcalc.frontend.spec import bundled_names, load_spec

torch = pytest.importorskip("torch")
BUNDLED = set(bundled_names())
# mapped specs not bundled yet: their tests skip; the list may only shrink (issue 10: all 68 are bundled)
NOT_BUNDLED_YET: set[str] = set()
# torchvision's meta min_size that is not the smallest size its own model runs at (checked below)
MIN_SIZE_NOT_TIGHT = {"efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"}


def test_cnn_list_is_torchvisions(torchvision: ModuleType) -> None:
    names = torchvision.models.list_models(module=torchvision.models)
    assert sorted(n for n in names if not n.startswith(NOT_CNN)) == sorted(CNN_CLASSIFIERS)
    assert len(CNN_CLASSIFIERS) == 68


def test_mapped_specs_are_bundled() -> None:
    assert {s for s in TV_SPECS.values() if s not in BUNDLED} == NOT_BUNDLED_YET


def test_the_package_never_imports_torchvision() -> None:
    for path in Path(archcalc.__file__).parent.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torchvision\b", path.read_text(), re.MULTILINE), path


def _spec_or_skip(tv_name: str) -> str:
    spec = TV_SPECS[tv_name]
    if spec not in BUNDLED:
        pytest.skip("no bundled spec yet (issue 10)")
    return spec


class Checks:
    """A model's checks, each run even when an earlier one fails; the test then fails naming every one."""

    def __init__(self, tv_name: str) -> None:
        self.tv_name = tv_name
        self.failed: list[str] = []

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        try:
            yield
        except (Exception, pytest.fail.Exception) as err:  # an assertion, or torch or archcalc refusing
            self.failed.append(f"{what}: {type(err).__name__}: {err}")

    def done(self) -> None:
        assert not self.failed, f"{self.tv_name}:\n" + "\n".join(self.failed)


# Two tests per model, each building its models once: everything on the meta device (a, c, d: flops and
# torchinfo, e), and the CPU runs (b, d: fvcore).
@pytest.mark.parametrize("tv_name", CNN_CLASSIFIERS)
def test_meta_device_checks(torchvision: ModuleType, tv_name: str) -> None:
    spec = _spec_or_skip(tv_name)
    report = analyze(spec)
    counted = analyze(spec, sets=EVAL_SETS[tv_name]) if tv_name in EVAL_SETS else report  # the eval forward
    ref = tv_model(torchvision, tv_name)
    check = Checks(tv_name)
    with check("(a) state_dict"):
        _state_dict_loads(ref, spec, report.input)
    flops, per_module = flopcounter(ref, torch.zeros(1, *counted.input, device="meta"))
    with check("(c) params, buffers, MACs"):
        assert sum(p.numel() for p in ref.parameters()) == report.totals.params, "params"
        assert sum(b.numel() for b in ref.buffers()) == report.totals.buffers, "buffers"
        assert flops % 2 == 0 and flops // 2 == counted.totals.macs, per_op_diff(counted, "flops", per_module)
    with check("(d) flops convention = FlopCounterMode"):
        assert total(counted, "flops") == flops, per_op_diff(counted, "flops", per_module)
    with check("(d) torchinfo convention = torchinfo"):
        mult_adds, per_leaf = torchinfo_total(ref, counted.input)
        assert total(counted, "torchinfo") == mult_adds, per_op_diff(counted, "torchinfo", per_leaf)
    with check("(e) DEFAULT weights meta"):
        _default_weights_meta(torchvision, tv_name, spec, report, counted)
    with check("(e) min_size"):
        _min_size(torchvision.models.get_model_weights(tv_name).DEFAULT.meta, tv_name, spec, ref)
    check.done()


@pytest.mark.parametrize("tv_name", CNN_CLASSIFIERS)
def test_cpu_checks(torchvision: ModuleType, tv_name: str) -> None:
    spec = _spec_or_skip(tv_name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the suite runs one xdist worker per core: more threads only contend
    try:
        hw = reduced_hw(tv_name)
        input, sets = (3, hw, hw), EVAL_SETS.get(tv_name)
        ref = cpu_model(torchvision, tv_name)
        ours = _sharing_weights(ref, spec, input, tv_name)
        x = torch.randn(2, *input, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        check = Checks(tv_name)
        with check(f"(b) outputs at {hw}x{hw}"):
            _outputs_equal(ref, ours, x)
        with check(f"(d) fvcore convention = fvcore at {hw}x{hw}"):
            fv, per_module = fvcore_total(ref, x[:1])
            report = analyze(spec, input, sets)
            assert total(report, "fvcore") == fv, per_op_diff(report, "fvcore", per_module)
        check.done()
    finally:
        torch.set_num_threads(threads)


def _state_dict_loads(ref: Any, spec: str, input: tuple[int, ...]) -> None:
    """(a) the same keys (in the same order) and shapes, and a strict load (meta device)."""
    ours = spec_model(spec, input)
    want, got = shapes(ref), shapes(ours)
    diff = {k: (want.get(k), got.get(k)) for k in want.keys() | got.keys() if want.get(k) != got.get(k)}
    assert not diff, f"{len(diff)} keys differ (torchvision, spec): {dict(sorted(diff.items())[:20])}"
    assert list(got) == list(want), "the same keys in another order"
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)


def _sharing_weights(ref: Any, spec: str, input: tuple[int, ...], tv_name: str) -> Any:
    """archcalc's model holding torchvision's tensors (a strict load with assign=True). At EVAL_SETS (what
    the eval forward runs) the spec drops some of torchvision's keys: exactly those under EVAL_DROPS."""
    ours = spec_model(spec, input, EVAL_SETS.get(tv_name))
    state = ref.state_dict()
    dropped = sorted(state.keys() - ours.state_dict().keys())
    assert all(k.startswith(EVAL_DROPS.get(tv_name, ())) for k in dropped), dropped
    assert bool(dropped) == (tv_name in EVAL_SETS)
    ours.load_state_dict({k: v for k, v in state.items() if k not in dropped}, strict=True, assign=True)
    return ours


def _outputs_equal(ref: Any, ours: Any, x: Any) -> None:
    """(b) eval-mode logits allclose in float64 (relative to the largest logit)."""
    with torch.no_grad():
        want = ref(x)
        got = main_output(ours(x))
    assert got.shape == want.shape
    scale = float(want.abs().max())
    diff = float((got - want).abs().max())
    if not torch.allclose(got, want, rtol=1e-7, atol=1e-10 * scale):
        raise AssertionError(f"max |diff| {diff:.3g} (max |out| {scale:.3g}); " + first_divergence(ref, ours, x))


def _printed_decimals(value: float) -> int:
    return -Decimal(str(value)).as_tuple().exponent  # type: ignore[operator]


def _default_weights_meta(tv: ModuleType, tv_name: str, spec: str, report: Report, counted: Report) -> None:
    """(e) the eval crop, num_params, _ops to its printed decimals, and the spec's published block."""
    weights = tv.models.get_model_weights(tv_name).DEFAULT
    meta = weights.meta
    crop = weights.transforms().crop_size[0]
    assert report.input == (3, crop, crop), "input: the DEFAULT weights' eval crop"
    assert report.totals.params == meta["num_params"]
    ops = meta["_ops"]  # GMACs of the eval forward, labelled GFLOPS, printed without trailing zeros
    assert round(counted.totals.macs / 1e9, _printed_decimals(ops)) == ops, f"_ops {ops}"
    published = load_spec(spec).published
    assert published.get("num_params") == meta["num_params"], "published num_params"
    assert Decimal(str(published.get("ops_gmacs"))) == Decimal(str(ops)), "published ops_gmacs"
    assert tuple(published.get("min_size", ())) == meta["min_size"], "published min_size"
    assert "torchvision" in str(published.get("source")), "published source"


def _min_size(meta: dict[str, Any], tv_name: str, spec: str, ref: Any) -> None:
    """(e) archcalc minsize's square size is the meta's min_size (or below it, where the meta is not
    tight), and torchvision's own model runs at it and fails one pixel below."""
    from archcalc.analysis.sizes import SizePlan
    from archcalc.analysis.sweep import min_size

    least = min_size(SizePlan(spec, EVAL_SETS.get(tv_name)), check_above=0).square
    if tv_name in MIN_SIZE_NOT_TIGHT:
        assert least < meta["min_size"][0]
    else:
        assert (least, least) == meta["min_size"]
    with torch.no_grad():
        ref(torch.zeros(1, 3, least, least, device="meta"))
        if least > 1:
            with pytest.raises(RuntimeError):
                ref(torch.zeros(1, 3, least - 1, least - 1, device="meta"))
