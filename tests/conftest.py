"""Shared fixtures: the list of bundled specs, and a colourless fixed-width console."""

from __future__ import annotations

import os
from types import ModuleType

import pytest
from hypothesis import settings

from archcalc.frontend.spec import bundled_names

# Hypothesis profiles. `ci` (default) keeps hypothesis's 100 examples per test; the fuzz suite
# (tests/test_fuzz_torch.py) scales from it: ~230 examples in total under `ci`, and >= 10,000 with
# `pytest -m fuzz --hypothesis-profile long` (docs/testing.md).
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
