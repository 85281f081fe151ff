"""Safe YAML loading that keeps line numbers and refuses hostile input."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, ClassVar

import yaml

from archcalc.errors import ArchcalcError, show

MAX_BYTES = 1 << 20  # a spec is text written by hand; 1 MiB is already absurd
MAX_NODES = 200_000
MAX_NUMBER_CHARS = 100  # a YAML number longer than this is a mistake (and int() refuses 4,300 digits)

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_NUMBERS = {_TAG + "int", _TAG + "float"}
# Plain scalars that YAML 1.1 would turn into dates ('2001-02-30' raises) or '=' into a 'value' stay text.
_TEXT_NOT = {_TAG + "timestamp", _TAG + "value"}


class LMap(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key."""

    derived: tuple[Any, ...] = ()  # a substituted copy: the expressions it evaluated (frontend/params.py)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.line = 0
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LList(list[Any]):
    """A sequence that remembers its line."""

    line: int = 0
    derived: tuple[Any, ...] = ()  # a substituted copy: the expressions it evaluated (frontend/params.py)


class _LineLoader(_Loader):  # type: ignore[misc]
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _TEXT_NOT]
        for first, resolvers in _Loader.yaml_implicit_resolvers.items()
    }

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ArchcalcError, yaml.YAMLError):
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):  # e.g. '0b_' matches int, int() fails
            raise ArchcalcError(f"cannot read YAML value {show(node.value)}", line=node.start_mark.line + 1) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> LMap:
        out = LMap()
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ArchcalcError("YAML merge keys ('<<') are not allowed", line=out.line)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise ArchcalcError(f"keys must be text, got {show(key)}", line=key_node.start_mark.line + 1)
            if key in out:
                raise ArchcalcError(f"duplicate key '{key}'", line=key_node.start_mark.line + 1)
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node: Any, deep: bool = False) -> LList:
        out = LList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        return out

    def check_tag(self, node: Any) -> None:
        """Only the tags YAML infers by itself: an explicit '!!int abc', '!!binary' or '!!set' is refused.

        '!!str' is the one explicit tag allowed: it makes '!!str 3' text, which is harmless.
        """
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            if tag == _STR:
                return
            implicit = self.resolve(yaml.ScalarNode, node.value, (node.style in ("", None), False))
            if tag == implicit and (tag not in _NUMBERS or len(node.value) <= MAX_NUMBER_CHARS):
                return
            if tag == implicit:
                raise ArchcalcError(
                    f"number {show(node.value)} has {len(node.value):,} characters; the limit is {MAX_NUMBER_CHARS}",
                    line=node.start_mark.line + 1,
                )
        elif tag == (_MAP if isinstance(node, yaml.MappingNode) else _SEQ):
            return
        raise ArchcalcError(f"YAML tag '{_short(tag)}' is not allowed", line=node.start_mark.line + 1)


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_sequence)
# a '<<' key is refused in construct_mapping; anywhere else it is just the text '<<'
_LineLoader.add_constructor("tag:yaml.org,2002:merge", _LineLoader.construct_yaml_str)


def _check_nodes(loader: _LineLoader, root: Any) -> None:
    """Reject aliases (billion-laughs), explicit tags and oversized documents before building."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise ArchcalcError("YAML anchors and aliases are not allowed", line=node.start_mark.line + 1)
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            raise ArchcalcError(f"document has more than {MAX_NODES:,} YAML nodes")
        loader.check_tag(node)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def load_text(text: str, *, file: str) -> Any:
    """Parse one YAML document into LMap/LList/scalars; errors carry file:line."""
    if len(text) > MAX_BYTES:  # text from the command line (--set) skips read_text's check
        raise ArchcalcError(f"text is {len(text):,} characters; the limit is {MAX_BYTES:,}", file=file)
    try:
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ArchcalcError("file is empty", file=file)
            _check_nodes(loader, node)
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
    except yaml.reader.ReaderError as err:
        raise _reader_error(err, text, file) from None
    except yaml.YAMLError as err:
        raise ArchcalcError(f"YAML error: {err}", file=file) from None


def _reader_error(err: yaml.reader.ReaderError, text: str, file: str) -> ArchcalcError:
    """A character YAML refuses (a control character): its line, and the character as U+XXXX."""
    # libyaml counts the position in UTF-8 bytes of the text; the pure-Python reader in characters
    if _Loader is yaml.SafeLoader:
        line = text.count("\n", 0, err.position) + 1
    else:
        line = text.encode("utf-8").count(b"\n", 0, err.position) + 1
    char = err.character if isinstance(err.character, int) else ord(err.character or "\0")
    what = "control character" if "control" in str(err.reason) else "character"
    return ArchcalcError(f"YAML error: {what} U+{char:04X} is not allowed in YAML text", file=file, line=line)


def read_text(path: Path, *, display: str) -> str:
    """Read a spec or claims file as UTF-8 text, with type, size and binary checks."""
    data = read_regular_file(path, display=display, limit=MAX_BYTES)
    if b"\x00" in data:
        raise ArchcalcError("file is binary, not YAML text", file=display)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ArchcalcError(f"file is not UTF-8 text (byte {err.start})", file=display) from None


def read_regular_file(path: Path, *, display: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else is a one-line error.

    The guard every file argument shares: a FIFO would block, /dev/zero never ends, a directory
    cannot be read. It opens without blocking and checks the opened file, so nothing can swap it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise ArchcalcError(f"cannot read file: {err.strerror}", file=display) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArchcalcError(f"not a regular file ({_kind(info.st_mode)})", file=display)
        if info.st_size > limit:
            raise ArchcalcError(f"file is {info.st_size:,} bytes; the limit is {limit:,}", file=display)
        chunks, size = [], 0
        while size <= limit:  # bounded even if the file grows while it is read
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise ArchcalcError(f"cannot read file: {err.strerror}", file=display) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ArchcalcError(f"file grew past the limit of {limit:,} bytes while it was read", file=display)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a pipe",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a plain file")
