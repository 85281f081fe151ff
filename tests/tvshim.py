"""Import torchvision beside CPU torch, for the tests only (torchvision is a test oracle, never a dependency).

The package never imports torchvision; tests get it through ``import_torchvision()`` (or the session fixture
``torchvision`` in conftest.py), never by a plain ``import torchvision``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

_Fn = Callable[..., Any]


def import_torchvision() -> ModuleType:
    """torchvision, imported with ``torch.library.register_fake`` made tolerant for the time of the import.

    Why: the test extra pins ``torchvision==0.28.0`` beside CPU ``torch==2.13.0``. The torchvision wheel's
    C++ extension (``torchvision._C``: nms, roi_align, deform_conv2d, ...) is built against another torch
    and does not load with the CPU build, so its operators are never defined. torchvision's
    ``_meta_registrations.py`` nevertheless runs ``@torch.library.register_fake("torchvision::nms")`` at
    import time, which raises ``RuntimeError: operator torchvision::nms does not exist`` and makes the whole
    ``import torchvision`` fail, although the models (pure ``torch.nn``) need none of those operators.

    What: while torchvision is imported, a registration that fails passes through unregistered (the
    decorator returns the function unchanged), so the missing detection ops stay missing and everything
    else imports as usual. The original ``register_fake`` is restored afterwards (try/finally), so no test
    and no later import sees the wrapper. Raises ``ImportError`` when torchvision is not installed.
    """
    import torch.library

    original = torch.library.register_fake

    def tolerant(op: Any, func: _Fn | None = None, /, **kwargs: Any) -> Any:
        if func is not None:
            try:
                return original(op, func, **kwargs)
            except RuntimeError:
                return func
        register = original(op, **kwargs)

        def decorate(fn: _Fn) -> _Fn:
            try:
                return register(fn)  # type: ignore[no-any-return]
            except RuntimeError:  # e.g. "operator torchvision::nms does not exist"
                return fn

        return decorate

    torch.library.register_fake = tolerant
    try:
        return importlib.import_module("torchvision")
    finally:
        torch.library.register_fake = original
