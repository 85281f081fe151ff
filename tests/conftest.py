"""Shared fixtures: the list of bundled specs, and a colourless fixed-width console."""

from __future__ import annotations

import os
from types import ModuleType

import pytest
from hypothesis import settings
from tvoracle import CNN_CLASSIFIERS, DEFAULT_RUN

from archcalc.frontend.spec import bundled_names

# Hypothesis profiles. `ci` (default) keeps hypothesis's 100 examples per test; the fuzz suite
# (tests/test_fuzz_torch.py) scales from it: ~430 examples in total under `ci`, and >= 10,000 per property
# with `pytest -m fuzz --hypothesis-profile long` (docs/testing.md).
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=5_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ALL_SPECS = bundled_names()


@pytest.fixture(params=ALL_SPECS)
def spec_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def torchvision() -> ModuleType:
    """torchvision as a test oracle, imported through tests/tvshim.py (why: see its docstring); skips
    with the reason when it is not installed (`pip install ".[test]"` installs it)."""
    from tvshim import import_torchvision

    try:
        return import_torchvision()
    except ModuleNotFoundError as err:
        if err.name not in ("torchvision", "torch"):
            raise
        pytest.skip(f"torchvision is not installed ({err}); it comes with the test extra: pip install '.[test]'")


# The slowest cases (a real CPU fvcore trace or forward of a 400+ layer model, a torch start-up per
# subprocess): marked `slow`, left out of the default run (pyproject addopts) and run by `.ci/run`'s second
# command, `python -m pytest -q -m slow`, so no check is dropped.
_HEAVY_SPECS = {"densenet121", "densenet121-article", "densenet161", "densenet169", "densenet201", "resnet152"}
# torchvision's classifiers against their specs: the smallest of each family run by default
_TV_SLOW = set(CNN_CLASSIFIERS) - DEFAULT_RUN
_TRAIN_DEFAULT = {"lenet5", "resnet18", "mobilenet-v2", "convnext-tiny", "densenet121"}  # tests/test_train.py
# Per-spec tests (the `spec_name` fixture) run for every bundled spec in the slow run; the default run takes
# a representative set: every seed article's kind of network and the smallest of each torchvision family.
# The calculator-only structural checks (_CHEAP_PER_SPEC) take every spec in the default run too.
DEFAULT_SPECS = {
    *("lenet5", "lenet", "edge-filters", "alexnet-227", "alexnet-2gpu", "zfnet", "vgg11-lrn", "vgg16"),
    *("googlenet", "googlenet-tv", "resnet18", "resnet50", "densenet121", "inception-v3", "mobilenet-v2"),
    *("mobilenet-v3-small", "efficientnet-b0", "convnext-tiny", "shufflenet-v2-x0-5", "squeezenet1-1"),
    *("regnet-y-400mf", "resnext50-32x4d", "mnasnet0-5"),
}
_CHEAP_PER_SPEC = {"test_graph.py", "test_spec_schema.py"}  # calculator-only checks: every spec by default
SLOW_CASES = {
    "test_conventions.py::test_fvcore_total_and_per_layer": _HEAVY_SPECS | {"resnet101", "vgg19"},
    "test_crosscheck_torch.py::test_real_forward_runs": _HEAVY_SPECS | {"googlenet", "vgg19-article", "vgg19"},
    "test_torchvision.py::test_meta_device_checks": _TV_SLOW,
    "test_torchvision.py::test_cpu_checks": _TV_SLOW,
    # forward + backward on meta for every bundled spec (issue 12): a default subset, the rest in the slow run
    "test_train.py::test_train_conventions_match_flopcountermode": set(ALL_SPECS) - _TRAIN_DEFAULT,
    "test_hostile_cli.py::test_hostile_weights_are_one_line": None,  # None: every parametrization
    "test_hostile_cli.py::test_hostile_images_are_one_line": None,
    "test_hostile_cli.py::test_input_too_large_to_allocate_is_refused_first": None,
    "test_hostile_cli.py::test_output_folder_under_a_file_is_one_line": None,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        spec = callspec.params.get("spec_name") if callspec is not None else None
        if spec is not None and spec not in DEFAULT_SPECS and item.path.name not in _CHEAP_PER_SPEC:
            item.add_marker(pytest.mark.slow)
            continue
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        if name not in SLOW_CASES:
            continue
        params = SLOW_CASES[name]
        callspec = getattr(item, "callspec", None)
        param = callspec.id if callspec is not None else ""  # not the nodeid: xdist_group appends '@group'
        if params is None or param in params:
            item.add_marker(pytest.mark.slow)
