"""torchvision factories for benchmarks/import_speed.py (torchvision imported through tests/tvshim.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tvshim import import_torchvision

tv = import_torchvision()


def resnet50() -> Any:
    return tv.models.resnet50()
