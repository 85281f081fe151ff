"""Shared fixtures: the list of bundled specs, and a colourless fixed-width console."""

from __future__ import annotations

import pytest

from archcalc.spec import bundled_names

ALL_SPECS = bundled_names()


@pytest.fixture(params=ALL_SPECS)
def spec_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)
