"""The Python API: ``archcalc.analyze(spec_or_path, input=None, **overrides) -> Report``."""

from __future__ import annotations

from typing import Any

from archcalc.analysis.records import analyze as _analyze
from archcalc.analysis.report import Report
from archcalc.frontend.spec import Spec


def analyze(
    spec_or_path: Spec | str, input: str | tuple[int, ...] | list[int] | None = None, **overrides: Any
) -> Report:
    """Analyze a bundled spec name or a spec file; keyword arguments override spec params."""
    return _analyze(spec_or_path, input, overrides)
