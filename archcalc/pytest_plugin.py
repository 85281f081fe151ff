"""pytest plugin (entry point ``archcalc`` in the ``pytest11`` group): the ``archcalc_counts`` fixture.

    def test_model_size(archcalc_counts):
        archcalc_counts("lenet5", params=60_000, macs=328_096)
        archcalc_counts(MyNet(), input=(3, 32, 32), params=62_006, macs=651_720, tolerance=0.01)

The fixture is :func:`archcalc.testing.assert_counts`; see there for the counting conventions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def archcalc_counts() -> Callable[..., dict[str, int]]:
    """assert_counts(spec_or_module, params=..., macs=..., tolerance=..., input=...): fails with a readable diff."""
    from archcalc.testing import assert_counts

    return assert_counts


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if config.get_verbosity() > 0:
        from archcalc import __version__

        return [f"archcalc {__version__}: fixture archcalc_counts"]
    return None


__all__ = ["archcalc_counts"]
