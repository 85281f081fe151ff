"""archcalc: exact shapes, params, connections and MACs of convolutional networks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ArchcalcError", "__version__", "analyze"]

if TYPE_CHECKING:
    from archcalc.analysis.records import analyze as analyze
    from archcalc.errors import ArchcalcError as ArchcalcError


def __getattr__(name: str) -> Any:
    # lazy, so 'import archcalc' stays cheap and never pulls in torch
    if name == "analyze":
        from archcalc.analysis.records import analyze

        return analyze
    if name == "ArchcalcError":
        from archcalc.errors import ArchcalcError

        return ArchcalcError
    raise AttributeError(name)
