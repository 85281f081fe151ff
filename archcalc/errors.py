"""One error type for every user mistake, rendered as a single line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SHOW_LIMIT = 60  # characters of a user's value echoed in a message


class ArchcalcError(Exception):
    """A user-facing error: bad spec, bad claim, bad option.

    Rendered as ``file:line: layer 'x': message`` when the parts are known.
    The CLI prints it on one line and exits with code 2.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        layer: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.layer = layer

    def located(self, *, file: str | None = None, line: int | None = None, layer: str | None = None) -> ArchcalcError:
        """Fill in location parts that are still unknown; returns self."""
        self.file = self.file or file
        self.line = self.line or line
        self.layer = self.layer or layer
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        who = f"layer '{self.layer}': " if self.layer else ""
        return printable(f"{where}{who}{self.message}")


class ShapeError(ArchcalcError):
    """A rule found the input shape or arguments impossible."""


def close_matches(word: str, options: Iterable[str], n: int = 3) -> list[str]:
    """The options nearest to ``word``, case ignored: among difflib's close matches (ratio >= 0.6), those with
    the fewest edits and then the closest length ('relu7' -> relu6, not relu; 'conv4' -> conv1, conv2, conv3)."""
    import difflib

    if len(word) > 4 * SHOW_LIMIT:  # a pasted page is near nothing, and the comparisons are quadratic in it
        return []
    by_lower: dict[str, str] = {}
    for option in options:
        by_lower.setdefault(option.lower(), option)
    low = word.lower()
    near = difflib.get_close_matches(low, list(by_lower), n=max(n, 10))
    rank = {m: (edits(low, m), abs(len(m) - len(low))) for m in near}
    best = min(rank.values(), default=None)
    return [by_lower[m] for m in near if rank[m] == best][:n]


def edits(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours that turn a into b (optimal string alignment)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(near: Iterable[str]) -> str:
    """'; did you mean a, b?' for an error message, or '' when nothing is near."""
    text = ", ".join(near)
    return f"; did you mean {text}?" if text else ""


def printable(text: str) -> str:
    """One line with every control or invisible character escaped, so a message never drives the terminal."""
    text = " ".join(text.split())  # newlines, tabs and other whitespace become single spaces
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def describe(value: Any) -> str:
    """A user's value for 'expected ..., got X': its YAML kind and its text ('mapping {a: 1}', 'text '3'')."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return show(value)
    if isinstance(value, float):
        kind = "float"
    elif isinstance(value, str):
        kind = "text"
    elif isinstance(value, Mapping):
        kind = "mapping"
    else:
        kind = "list" if isinstance(value, list | tuple) else "value"
    return f"{kind} {show(value)}"


def show(value: Any, limit: int = SHOW_LIMIT) -> str:
    """A user's value as short YAML flow text ({a: 1}, [1, 2], 'text'), never Python class names.

    Work and output are bounded by ``limit``: a huge or deeply nested value is cut with '...'.
    """
    out: list[str] = []
    _show(value, out, limit, quote=True)
    text = "".join(out)
    return text if len(text) <= limit + 8 else text[:limit] + "..."


def _show(value: Any, out: list[str], limit: int, *, quote: bool) -> None:
    if sum(map(len, out)) > limit:  # enough already; also bounds the recursion depth
        return
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "..."
        out.append(f"'{text}'" if quote else text)
    elif isinstance(value, int | float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if sum(map(len, out)) > limit:
                out.append(", ...")
                break
            out.append(", " if i else "")
            _show(k, out, limit, quote=False)
            out.append(": ")
            _show(v, out, limit, quote=False)
        out.append("}")
    elif isinstance(value, list | tuple | set | frozenset):
        out.append("[")
        for i, v in enumerate(value):
            if sum(map(len, out)) > limit:
                out.append(", ...")
                break
            out.append(", " if i else "")
            _show(v, out, limit, quote=False)
        out.append("]")
    else:
        out.append(str(value)[: limit + 1])


def _number(value: int | float) -> str:
    if isinstance(value, int) and value.bit_length() > 3 * SHOW_LIMIT:  # str() of a huge int is slow, even refused
        return f"a number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if isinstance(value, float) and value != value:
        return ".nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    return str(value)
