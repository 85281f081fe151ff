"""CLI value coercion without pydantic, for start-up time.

typer (0.29) coerces every command-line value through a pydantic ``TypeAdapter``; importing
pydantic and building the adapters costs more than the whole analysis of ResNet-152. archcalc's
options use only str, int, float, bool, Enum choices and lists of those, whose coercion is one
line each. For exactly those annotations (with no min/max) this module supplies the coercion;
every other annotation (paths, files, ranges, ...) goes to typer's own builder unchanged. If
typer's internals differ from what is expected here, nothing is patched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, get_args, get_origin

_PLAIN = (str, int, float, bool)


def _plain(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return len(args) == 1 and _plain(args[0])
    return annotation in _PLAIN or (isinstance(annotation, type) and issubclass(annotation, Enum))


def _one(annotation: Any, value: Any) -> Any:
    """One value as typer would give it; ValueError carries the user-facing text."""
    if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        for member in annotation:
            if value == member.value:
                return member
        choices = ", ".join(repr(m.value) for m in annotation)
        raise ValueError(f"{value!r} is not one of {choices}")
    if annotation is bool:
        text = str(value).strip().lower()
        if text in ("1", "true", "t", "yes", "y", "on"):
            return True
        if text in ("0", "false", "f", "no", "n", "off"):
            return False
        raise ValueError(f"{value!r} is not a valid boolean")
    if annotation is int:
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if annotation is float:
        try:
            return float(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    return str(value)


def install() -> None:
    """Route plain annotations around pydantic (idempotent; a no-op if typer's internals moved)."""
    try:
        from typer import _coercion, core
        from typer._click.exceptions import BadParameter
    except ImportError:
        return
    original = getattr(core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "archcalc_fast", False):
        return

    @dataclass(frozen=True)
    class PlainParam(base):  # type: ignore[misc, valid-type]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            ann: Any = self.annotation
            try:
                if get_origin(ann) is list:
                    return [_one(get_args(ann)[0], v) for v in value]
                return _one(ann, value)
            except ValueError as err:
                raise BadParameter(str(err), ctx=ctx, param=param) from None

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        simple = getattr(info, "min", None) is None and getattr(info, "max", None) is None
        if simple and getattr(info, "case_sensitive", True) and _plain(descriptor.annotation):
            return PlainParam(parameter_info=info, annotation=descriptor.annotation)
        return original(descriptor)

    build.archcalc_fast = True  # type: ignore[attr-defined]
    setattr(core, "build_runtime_param", build)  # noqa: B010  (typer does not export the name)
