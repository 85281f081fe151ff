"""torchvision as the oracle: each of its 68 CNN classifiers against the bundled spec that mirrors it.

The models are ``torchvision.models.list_models(module=torchvision.models)`` less the transformers (vit_*,
swin_*, maxvit_*; checked against the list in tests/tvoracle.py). Model ``x_y`` mirrors spec ``x-y``
(exceptions in ``SPEC_EXCEPTIONS``: googlenet -> googlenet-tv). torchvision builds with ``weights=None``:
nothing is ever downloaded. For every model, against its spec:

(a) state_dict: archcalc's model has exactly torchvision's keys and shapes, and
    ``load_state_dict(torchvision_model.state_dict(), strict=True)`` works (both on the meta device);
(b) outputs: in eval mode on the CPU, float64, torchvision's model with every parameter and buffer
    randomised (tvoracle.randomize: BatchNorm statistics and ConvNeXt's layer scale too) and archcalc's
    model holding the same tensors give allclose logits for the same random batch of 2, at a reduced
    square input (64, or more for networks that need it: tvoracle.REDUCED_HW_FOR);
(c) params and buffers (torch numel) and MACs = FlopCounterMode / 2 at the spec's default input, against
    torchvision's model on the meta device;
(d) the tool conventions, integer for integer, each tool run on torchvision's model: ``flops`` =
    FlopCounterMode total and ``torchinfo`` = torchinfo 1.8.0 summary(...).total_mult_adds (meta device,
    default input, batch 1), ``fvcore`` = fvcore 0.1.5 FlopCountAnalysis(...).total() (a CPU trace at (b)'s
    reduced input, the calculator at the same input: fvcore's rules hold at any size). A failure names
    the ops whose per-layer counts differ;
(e) torchvision's DEFAULT weights' meta (read from the weights enum, never downloaded): the spec's input
    is the eval transform's crop; num_params; ``_ops`` (GMACs, labelled GFLOPS) to its printed decimals;
    min_size against ``archcalc minsize``'s function, and torchvision's model itself runs at that size and
    fails one pixel below; the spec's ``published`` block states the same numbers.

torchvision's eval forward is what is counted: inception_v3 keeps AuxLogits in its state_dict (and in
num_params) but does not run it in eval, so counts compare with the spec at ``EVAL_SETS``
(aux_logits=false). A model whose spec is not bundled yet is skipped with "no bundled spec yet (issue 10)";
any other difference is a failure. The largest CPU cases run under the ``slow`` marker (tests/conftest.py).
torchvision is imported through tests/tvshim.py (why: see there); the package never imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


# one model per param of a module-scoped fixture: pytest runs a model's tests together (its builds are
# made once), and xdist_group keeps them on one worker
@pytest.fixture(
    scope="module", params=[pytest.param(n, marks=pytest.mark.xdist_group(f"tv-{n}")) for n in CNN_CLASSIFIERS]
)
def tv_name(request: pytest.FixtureRequest) -> str:
    if TV_SPECS[request.param] not in BUNDLED:
        pytest.skip("no bundled spec yet (issue 10)")
    return str(request.param)


@pytest.fixture(scope="module")
def spec(tv_name: str) -> str:
    return TV_SPECS[tv_name]


@pytest.fixture(scope="module")
def report(spec: str) -> Report:
    return analyze(spec)


@pytest.fixture(scope="module")
def eval_report(tv_name: str, spec: str, report: Report) -> Report:
    """The spec as torchvision's eval forward runs it (EVAL_SETS), at the default input."""
    return analyze(spec, sets=EVAL_SETS[tv_name]) if tv_name in EVAL_SETS else report


@pytest.fixture(scope="module")
def meta_tv(torchvision: ModuleType, tv_name: str) -> Any:
    return tv_model(torchvision, tv_name)


@pytest.fixture(scope="module")
def tv_flops(meta_tv: Any, eval_report: Report) -> tuple[int, dict[str, int]]:
    """FlopCounterMode on torchvision's model at the spec's default input: total and per module."""
    return flopcounter(meta_tv, torch.zeros(1, *eval_report.input, device="meta"))


@pytest.fixture(scope="module")
def cpu_run(torchvision: ModuleType, tv_name: str, spec: str) -> Iterator[dict[str, Any]]:
    """torchvision's randomised float64 CPU model, archcalc's model holding the same tensors (a strict
    load with assign=True), the batch-2 input at the reduced size and the calculator at that size.
    At EVAL_SETS (what the eval forward runs) the spec drops some torchvision keys: exactly EVAL_DROPS."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # xdist runs one worker per core: more threads only contend
    hw = reduced_hw(tv_name)
    ref = cpu_model(torchvision, tv_name)
    input = (3, hw, hw)
    ours = spec_model(spec, input, EVAL_SETS.get(tv_name))
    state = ref.state_dict()
    dropped = sorted(state.keys() - ours.state_dict().keys())
    assert all(k.startswith(EVAL_DROPS.get(tv_name, ())) for k in dropped) and bool(dropped) == (tv_name in EVAL_SETS)
    ours.load_state_dict({k: v for k, v in state.items() if k not in dropped}, strict=True, assign=True)
    x = torch.randn(2, *input, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    yield {"ref": ref, "ours": ours, "x": x, "report": analyze(spec, input, EVAL_SETS.get(tv_name))}
    torch.set_num_threads(threads)


def test_a_state_dict_keys_shapes_and_strict_load(meta_tv: Any, spec: str, report: Report) -> None:
    ours = spec_model(spec, report.input)
    want, got = shapes(meta_tv), shapes(ours)
    diff = {k: (want.get(k), got.get(k)) for k in want.keys() | got.keys() if want.get(k) != got.get(k)}
    assert not diff, f"{len(diff)} keys differ (torchvision, spec): {dict(sorted(diff.items())[:20])}"
    assert list(got) == list(want)  # the same order too: state_dict() walks modules as torchvision does
    ours.load_state_dict(meta_tv.state_dict(), strict=True, assign=True)


def test_b_outputs_equal_torchvision(cpu_run: dict[str, Any]) -> None:
    ref, ours, x = cpu_run["ref"], cpu_run["ours"], cpu_run["x"]
    with torch.no_grad():
        want = ref(x)
        got = main_output(ours(x))
    assert got.shape == want.shape
    scale = float(want.abs().max())
    ok = torch.allclose(got, want, rtol=1e-7, atol=1e-10 * scale)
    assert ok, f"max |diff| {float((got - want).abs().max()):.3g} (max |out| {scale:.3g}); " + first_divergence(
        ref, ours, x
    )


def test_c_params_buffers_macs(
    meta_tv: Any, report: Report, eval_report: Report, tv_flops: tuple[int, dict[str, int]]
) -> None:
    assert sum(p.numel() for p in meta_tv.parameters()) == report.totals.params
    assert sum(b.numel() for b in meta_tv.buffers()) == report.totals.buffers
    flops, per = tv_flops
    assert flops % 2 == 0
    assert flops // 2 == eval_report.totals.macs, per_op_diff(eval_report, "flops", per)


def test_d_flops_and_torchinfo_conventions(
    meta_tv: Any, eval_report: Report, tv_flops: tuple[int, dict[str, int]]
) -> None:
    flops, per = tv_flops
    assert total(eval_report, "flops") == flops, per_op_diff(eval_report, "flops", per)
    mult_adds, per = torchinfo_total(meta_tv, eval_report.input)
    assert total(eval_report, "torchinfo") == mult_adds, per_op_diff(eval_report, "torchinfo", per)


def test_d_fvcore_convention(cpu_run: dict[str, Any]) -> None:
    pytest.importorskip("fvcore")
    fv, per = fvcore_total(cpu_run["ref"], cpu_run["x"][:1])
    report = cpu_run["report"]
    assert total(report, "fvcore") == fv, per_op_diff(report, "fvcore", per)


def _printed_decimals(value: float) -> int:
    return -Decimal(str(value)).as_tuple().exponent  # type: ignore[operator]


def test_e_default_weights_meta(
    torchvision: ModuleType, tv_name: str, spec: str, report: Report, eval_report: Report, meta_tv: Any
) -> None:
    from archcalc.analysis.sizes import SizePlan
    from archcalc.analysis.sweep import min_size

    weights = torchvision.models.get_model_weights(tv_name).DEFAULT
    meta = weights.meta
    crop = weights.transforms().crop_size[0]
    assert report.input == (3, crop, crop)
    assert report.totals.params == meta["num_params"]
    ops = meta["_ops"]  # GMACs of the eval forward, labelled GFLOPS, printed without trailing zeros
    assert round(eval_report.totals.macs / 1e9, _printed_decimals(ops)) == ops
    least = min_size(SizePlan(spec, EVAL_SETS.get(tv_name)), check_above=0).square
    if tv_name in MIN_SIZE_NOT_TIGHT:
        assert least < meta["min_size"][0]
    else:
        assert (least, least) == meta["min_size"]
    with torch.no_grad():
        meta_tv(torch.zeros(1, 3, least, least, device="meta"))  # torchvision's model runs at archcalc's min
        if least > 1:
            with pytest.raises(RuntimeError):
                meta_tv(torch.zeros(1, 3, least - 1, least - 1, device="meta"))
    published = load_spec(spec).published
    assert published["num_params"] == meta["num_params"]
    assert Decimal(str(published["ops_gmacs"])) == Decimal(str(ops))
    assert tuple(published.get("min_size", ())) == meta["min_size"], "published: min_size missing or differs"
    assert "torchvision" in str(published["source"])
