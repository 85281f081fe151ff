"""Module targets on the command line: ``pkg.module:attr`` and ``path/to/net.py:Name``, optionally ``@CxHxW``.

The attribute is an ``nn.Module`` instance, an ``nn.Module`` class or a callable returning a module (called
with no arguments). It is captured at the input size (``--input``, or the ``@CxHxW`` suffix for commands whose
``--input`` is not one size) and turned into a spec.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archcalc.errors import ArchcalcError, show
from archcalc.frontend.spec import Spec, parse_input

if TYPE_CHECKING:
    from archcalc.imports.ir import ImportedGraph

TARGET_RE = re.compile(r"^(?P<mod>[^:@]+?):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)(?:@(?P<input>[0-9xX]+))?\Z")
ALLOW_UNKNOWN: ContextVar[bool] = ContextVar("archcalc_allow_unknown", default=False)
_CACHE: dict[tuple[str, tuple[int, ...], bool], Spec] = {}


def is_target(ref: str) -> bool:
    """A module target rather than a spec name or a .yaml path."""
    return not ref.endswith((".yaml", ".yml")) and TARGET_RE.match(ref) is not None


def load_target(ref: str, input: Any = None) -> Spec:
    """The spec of a module target, captured at ``input`` (C, H, W); memoised per target, input and mode."""
    m = TARGET_RE.match(ref)
    assert m is not None
    shape = _shape(ref, m.group("input"), input)
    allow = ALLOW_UNKNOWN.get()
    key = (ref, shape, allow)
    hit = _CACHE.get(key)
    if hit is None:
        from archcalc.imports import spec_writer

        hit = _CACHE[key] = spec_writer.load(capture_target(ref, input), allow)
    return hit


def capture_target(ref: str, input: Any = None) -> ImportedGraph:
    """The captured graph of a module target (not yet checked against archcalc's shapes)."""
    from archcalc.imports.torchfx import capture

    m = TARGET_RE.match(ref)
    if m is None:
        raise ArchcalcError("expected pkg.module:attr or path/to/net.py:Name", file=ref)
    shape = _shape(ref, m.group("input"), input)
    attr = m.group("attr")
    return capture(instantiate(ref, m.group("mod"), attr), shape, ref, attr.rpartition(".")[2])


def module_spec(model: Any, input: Any) -> Spec:
    """The spec of an nn.Module given to the Python API (analyze, assert_counts)."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a spec name, a spec path, a Spec or an nn.Module, got {type(model).__name__}")
    shape = _shape(type(model).__name__, None, input)
    return spec_of(model, shape, type(model).__name__, ALLOW_UNKNOWN.get())


def spec_of(model: Any, shape: tuple[int, ...], origin: str, allow_unknown: bool = False) -> Spec:
    from archcalc.imports import spec_writer
    from archcalc.imports.torchfx import capture

    return spec_writer.load(capture(model, shape, origin), allow_unknown)


def _shape(ref: str, suffix: str | None, input: Any) -> tuple[int, ...]:
    if input is not None:
        return parse_input(list(input) if isinstance(input, tuple) else input, subject="--input:")
    if suffix:
        return parse_input(suffix, subject=f"{ref}: input")
    raise ArchcalcError("a module needs its input size: give --input CxHxW (or TARGET@CxHxW)", file=ref)


def instantiate(ref: str, mod: str, attr: str) -> Any:
    """The nn.Module a target names (constructed on the meta device when it can be, so nothing is initialised)."""
    import torch
    from torch import nn

    obj: Any = _import(ref, mod)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ArchcalcError(f"'{mod}' has no attribute {show(attr)}", file=ref)
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ArchcalcError(f"{show(attr)} is neither an nn.Module nor a callable returning one", file=ref)
    try:
        with torch.device("meta"):
            model = obj()
    except Exception:  # some constructors need real tensors (a .item() on an init value): build on the CPU
        model = _call(ref, obj, attr)
    if not isinstance(model, nn.Module):
        raise ArchcalcError(f"{attr}() returned {type(model).__name__}, not an nn.Module", file=ref)
    return model


def _call(ref: str, obj: Any, attr: str) -> Any:
    try:
        return obj()
    except Exception as err:
        raise ArchcalcError(f"{attr}() raised {type(err).__name__}: {err}", file=ref) from None


def _import(ref: str, mod: str) -> Any:
    try:
        if mod.endswith(".py") or "/" in mod or "\\" in mod:
            return _import_file(ref, Path(mod))
        try:
            return importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod.split(".")[0] or "" in sys.path:
                raise
            sys.path.insert(0, "")  # the current folder, as 'python -m' would have it
            return importlib.import_module(mod)
    except ArchcalcError:
        raise
    except Exception as err:
        raise ArchcalcError(f"importing '{mod}' failed: {type(err).__name__}: {err}", file=ref) from None


def _import_file(ref: str, path: Path) -> Any:
    if not path.is_file():
        raise ArchcalcError(f"no such Python file '{path}'", file=ref)
    name = f"archcalc_user_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ArchcalcError(f"'{path}' cannot be imported as Python", file=ref)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
