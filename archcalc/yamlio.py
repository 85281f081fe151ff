"""Safe YAML loading that keeps line numbers and refuses hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from archcalc.errors import ArchcalcError

MAX_BYTES = 1 << 20  # a spec is text written by hand; 1 MiB is already absurd
MAX_NODES = 200_000

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LMap(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.line = 0
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LList(list[Any]):
    """A sequence that remembers its line."""

    line: int = 0


class _LineLoader(_Loader):  # type: ignore[misc]
    def construct_mapping(self, node: Any, deep: bool = False) -> LMap:
        out = LMap()
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ArchcalcError("YAML merge keys ('<<') are not allowed", line=out.line)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise ArchcalcError(f"keys must be text, got {key!r}", line=key_node.start_mark.line + 1)
            if key in out:
                raise ArchcalcError(f"duplicate key '{key}'", line=key_node.start_mark.line + 1)
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node: Any, deep: bool = False) -> LList:
        out = LList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_sequence)


def _check_nodes(root: Any) -> None:
    """Reject aliases (billion-laughs) and oversized documents before building."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise ArchcalcError("YAML anchors and aliases are not allowed", line=node.start_mark.line + 1)
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            raise ArchcalcError(f"document has more than {MAX_NODES:,} YAML nodes")
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def load_text(text: str, *, file: str) -> Any:
    """Parse one YAML document into LMap/LList/scalars; errors carry file:line."""
    try:
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ArchcalcError("file is empty", file=file)
            _check_nodes(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ArchcalcError as err:
        raise err.located(file=file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = err.problem or err.context or "invalid YAML"
        raise ArchcalcError(f"YAML syntax error: {what}", file=file, line=line) from None
    except yaml.YAMLError as err:
        raise ArchcalcError(f"YAML error: {err}", file=file) from None


def read_text(path: Path, *, display: str) -> str:
    """Read a spec or claims file as UTF-8 text, with size and binary checks."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ArchcalcError(f"file is {size:,} bytes; the limit is {MAX_BYTES:,}", file=display)
        data = path.read_bytes()
    except OSError as err:
        raise ArchcalcError(f"cannot read file: {err.strerror}", file=display) from None
    if b"\x00" in data:
        raise ArchcalcError("file is binary, not YAML text", file=display)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ArchcalcError(f"file is not UTF-8 text (byte {err.start})", file=display) from None
