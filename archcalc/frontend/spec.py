"""Spec files: locate, load, validate the header, apply --set and --input."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcalc.errors import ArchcalcError, describe, show
from archcalc.frontend.argtypes import MAX_SIZE
from archcalc.frontend.yamlio import LList, LMap, load_text, read_text

HEADER_KEYS = {
    "name": "short name, as used on the command line",
    "title": "human title",
    "source": "paper, article or model zoo the layers come from",
    "input": "input shape [C, H, W] without the batch",
    "params": "named parameters with defaults, overridden by --set key=value",
    "blocks": "reusable parameterized blocks",
    "layers": "the network, in forward order",
    "published": "published numbers for this network, asserted by the tests",
    "notes": "free text",
    "extends": "a bundled spec (or a spec file beside this one) whose blocks and layers this variant reuses",
}
MAX_EXTENDS = 8  # a chain of variants deeper than this is refused (it also stops a cycle)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z|^[0-9]+\Z")  # '-' as in torchvision's RegNet 'block1-0'
_INPUT_RE = re.compile(r"[0-9]+(?:[xX][0-9]+){0,2}", re.ASCII)


def specs_dir() -> Path:
    """Bundled specs: inside the installed package, or the repo's top-level specs/."""
    here = Path(__file__).resolve().parent.parent  # the archcalc package
    for cand in (here / "specs", here.parent / "specs"):
        if cand.is_dir():
            return cand
    return here / "specs"


def bundled_names() -> list[str]:
    return sorted(p.stem for p in specs_dir().glob("*.yaml"))


@dataclass
class Spec:
    """A loaded spec: the header checked, the body still raw (validated during expansion)."""

    name: str
    title: str
    source: str
    input: tuple[int, ...]
    params: dict[str, Any]
    blocks: LMap
    layers: LList
    file: str
    published: dict[str, Any] = field(default_factory=dict)
    raw: LMap = field(default_factory=LMap)
    origin: str = ""  # the spec's own file ('file' holds the layers: a variant's base), for header errors

    def __post_init__(self) -> None:
        self.origin = self.origin or self.file


def resolve_path(ref: str) -> tuple[Path, str]:
    """A bundled spec name or a file path -> (path, name shown in messages)."""
    p = Path(ref)
    if ref.endswith((".yaml", ".yml")) or p.is_file() or "/" in ref:
        if not p.exists():
            raise ArchcalcError("no such spec file", file=ref)  # a directory or a FIFO: read_text says what it is
        return p, ref
    bundled = specs_dir() / f"{ref}.yaml"
    if bundled.is_file():
        return bundled, f"specs/{ref}.yaml"
    close = [n for n in bundled_names() if ref.lower() in n or n in ref.lower()][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else "; run 'archcalc list'"
    raise ArchcalcError(f"unknown spec '{ref}'{hint}")


def load_spec(ref: str, *, _depth: int = 0, input: Any = None) -> Spec:
    """A bundled name, a spec file, or a module target ``pkg.module:attr`` / ``net.py:Name`` captured at
    ``input`` (torch is imported only for a module target)."""
    if ":" in ref and not _depth:
        from archcalc.imports.torchload import is_target, load_target

        if is_target(ref):
            return load_target(ref, input)
    if ref.endswith(".onnx") and not _depth:
        from archcalc.imports.onnxin import load_onnx  # imports onnx only here

        return load_onnx(ref, input)
    path, display = resolve_path(ref)
    doc = load_text(read_text(path, display=display), file=display)
    return parse_spec(doc, display, here=path.parent, _depth=_depth)


def parse_spec(doc: Any, file: str, *, here: Path | None = None, _depth: int = 0) -> Spec:
    if isinstance(doc, LMap) and "extends" in doc:
        return _variant(doc, file, here, _depth)
    if not isinstance(doc, LMap):
        raise ArchcalcError("a spec must be a YAML mapping with name, input and layers", file=file, line=1)
    for key in doc:
        if key not in HEADER_KEYS:
            raise ArchcalcError(
                f"unknown top-level key '{key}'; expected one of {', '.join(HEADER_KEYS)}",
                file=file,
                line=doc.line_of(key),
            )
    for key in ("name", "input", "layers"):
        if key not in doc:
            raise ArchcalcError(f"missing required key '{key}'", file=file, line=doc.line)
    layers, blocks = doc["layers"], doc.get("blocks", LMap())
    if not isinstance(layers, LList) or not layers:
        raise ArchcalcError("'layers' must be a non-empty list", file=file, line=doc.line_of("layers"))
    if not isinstance(blocks, LMap):
        raise ArchcalcError("'blocks' must be a mapping of block name to block", file=file, line=doc.line_of("blocks"))
    params = doc.get("params", LMap())
    if not isinstance(params, LMap):
        raise ArchcalcError("'params' must be a mapping of name to default", file=file, line=doc.line_of("params"))
    published = doc.get("published", {})
    if not isinstance(published, dict):
        raise ArchcalcError("'published' must be a mapping", file=file, line=doc.line_of("published"))
    return Spec(
        name=_text(doc, "name", file),
        title=_text(doc, "title", file, str(doc["name"])),
        source=_text(doc, "source", file, ""),
        input=parse_input(doc["input"], file=file, line=doc.line_of("input")),
        params=dict(params),
        blocks=blocks,
        layers=layers,
        file=file,
        published=dict(published),
        raw=doc,
    )


def _variant(doc: LMap, file: str, here: Path | None, depth: int) -> Spec:
    """A spec that reuses a base spec's blocks and layers, with its own header and param values."""
    line = doc.line_of("extends")
    ref = doc["extends"]
    if not isinstance(ref, str) or not ref:
        raise ArchcalcError("'extends' must name a bundled spec or a spec file", file=file, line=line)
    for key in doc:
        if key not in HEADER_KEYS or key in ("layers", "blocks"):
            msg = f"'{key}' cannot be given with 'extends' (the base spec gives the blocks and layers)"
            raise ArchcalcError(msg, file=file, line=doc.line_of(key))
    if "name" not in doc:
        raise ArchcalcError("missing required key 'name'", file=file, line=doc.line)
    if depth >= MAX_EXTENDS:
        raise ArchcalcError(f"'extends' chains more than {MAX_EXTENDS} specs (a cycle?)", file=file, line=line)
    local = here / ref if here is not None and ref.endswith((".yaml", ".yml")) else None
    base = load_spec(str(local) if local is not None and local.is_file() else ref, _depth=depth + 1)
    params = doc.get("params", LMap())
    if not isinstance(params, LMap):
        raise ArchcalcError("'params' must be a mapping of name to default", file=file, line=doc.line_of("params"))
    for key in params:
        if key not in base.params:
            known = ", ".join(base.params) or "none"
            msg = f"'{key}' is not a parameter of the base spec '{ref}' (it has: {known})"
            raise ArchcalcError(msg, file=file, line=params.line_of(key))
    published = doc.get("published", {})
    if not isinstance(published, dict):
        raise ArchcalcError("'published' must be a mapping", file=file, line=doc.line_of("published"))
    inp = parse_input(doc["input"], file=file, line=doc.line_of("input")) if "input" in doc else base.input
    return Spec(
        name=_text(doc, "name", file),
        title=_text(doc, "title", file, str(doc["name"])),
        source=_text(doc, "source", file, base.source),
        input=inp,
        params={**base.params, **params},
        blocks=base.blocks,
        layers=base.layers,
        file=base.file,  # the layers' line numbers are the base file's
        published=dict(published),
        raw=doc,
        origin=file,
    )


def _text(doc: LMap, key: str, file: str, default: str | None = None) -> str:
    v = doc.get(key, default)
    if not isinstance(v, str):
        raise ArchcalcError(f"'{key}' must be text", file=file, line=doc.line_of(key))
    return v


def parse_input(v: Any, *, file: str | None = None, line: int | None = None, subject: str = "input") -> tuple[int, ...]:
    """[C, H, W] from YAML, or 'CxHxW' from the command line: 1 to 3 whole numbers from 1 to MAX_SIZE.

    Messages start with ``subject``: 'input sizes must be ...', or '--input: sizes must be ...' for the option."""
    if isinstance(v, str):
        v = _input_text(v, file, line, subject)
    if not isinstance(v, list) or not 1 <= len(v) <= 3:
        shown = f", got {describe(v)}" if not isinstance(v, list) else f", got {len(v)} sizes"
        raise ArchcalcError(f"{subject} must be [C, H, W] (or [C, L] / [F]){shown}", file=file, line=line)
    for d in v:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ArchcalcError(f"{subject} sizes must be whole numbers >= 1, got {describe(d)}", file=file, line=line)
        if d > MAX_SIZE:
            raise ArchcalcError(f"{subject} size {d:,} is larger than the limit {MAX_SIZE:,}", file=file, line=line)
    return tuple(v)


def _input_text(text: str, file: str | None, line: int | None, subject: str) -> list[int]:
    """'3x224x224' -> [3, 224, 224]; only ASCII digits, no signs, spaces or underscores (int() takes all three)."""
    if not _INPUT_RE.fullmatch(text):
        raise ArchcalcError(f"{subject} {show(text)} must look like 3x224x224", file=file, line=line)
    sizes = []
    for part in text.lower().split("x"):
        digits = part.lstrip("0") or "0"
        if len(digits) > 30:  # refuse before int() works on thousands of digits
            raise ArchcalcError(
                f"{subject} size of {len(digits):,} digits is larger than the limit {MAX_SIZE:,}", file=file, line=line
            )
        sizes.append(int(digits))
    return sizes


_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", list: "a list", LList: "a list"}


def apply_overrides(spec: Spec, sets: dict[str, Any]) -> dict[str, Any]:
    """Spec params with --set values applied; unknown names and wrong types are errors."""
    values = dict(spec.params)
    for key, value in sets.items():
        if key not in values:
            known = ", ".join(sorted(values)) or "none"
            raise ArchcalcError(f"--set {key}: unknown parameter (this spec has: {known})", file=spec.origin)
        default = values[key]
        ok = (
            type(value) is type(default)
            or default is None
            or (isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
        )
        if not ok:
            raise ArchcalcError(
                f"--set {key}={show(value)}: expected {_KINDS.get(type(default), 'a value')} like the default {show(default)}",
                file=spec.origin,
            )
        values[key] = value
    return values


def parse_sets(items: list[str]) -> dict[str, Any]:
    """key=value strings -> values typed by YAML's rules (5 -> int, true -> bool)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ArchcalcError(f"--set '{item}' must look like key=value")
        if key in out:  # the later one would silently win
            raise ArchcalcError(f"--set {key}: given more than once")
        out[key] = load_text(raw, file="--set") if raw.strip() else ""
    return out
