"""Fold repeated identical submodules of a written spec into ``repeat`` (ResNet's stages, RegNet's blocks).

A run of sibling containers named p+k, p+(k+1), ..., p+(k+n-1) (p a text prefix, often empty) with equal
bodies and no ``from`` becomes one entry: the whole list ``{name: layer1, repeat: n, layers: body}`` when
the run is all of it, else a flat repeat ``{name: repeat_k, repeat: n, index_from: k, flat: true, ...}``
beside the entries that differ. The copies keep their module names (layer2.1, layer2.2, ...), so records
and state_dict keys are unchanged.
"""

from __future__ import annotations

import re
from typing import Any

Entry = dict[str, Any]
_NUMBERED = re.compile(r"(?P<prefix>(?:[A-Za-z_][A-Za-z0-9_-]*?)?)(?P<index>0|[1-9][0-9]*)\Z")


def fold(entries: list[Entry]) -> list[Entry]:
    """The entries with every foldable run folded (inner lists first)."""
    for e in entries:
        _fold_entry(e)
    return _runs(entries)


def _fold_entry(e: Entry) -> None:
    if "layers" not in e or "repeat" in e:
        return
    for child in e["layers"]:
        _fold_entry(child)
    whole = _whole(e["layers"])
    if whole is None:
        e["layers"] = _runs(e["layers"])
        return
    rest = {k: v for k, v in e.items() if k != "layers"}  # rebuilt so that repeat reads before the body
    e.clear()
    e.update({**rest, **whole})


def _index(e: Entry, position: int) -> tuple[str, int] | None:
    m = _NUMBERED.match(str(e.get("name", position)))
    return (m.group("prefix"), int(m.group("index"))) if m else None


def _copy(e: Entry) -> bool:
    return "layers" in e and "from" not in e and "repeat" not in e and "side" not in e


def _run_end(entries: list[Entry], i: int) -> int:
    """The end of the run of equal copies that starts at i (i + 1 when there is none)."""
    first = _index(entries[i], i)
    if not _copy(entries[i]) or first is None:
        return i + 1
    j = i + 1
    while j < len(entries) and _copy(entries[j]) and entries[j]["layers"] == entries[i]["layers"]:
        if _index(entries[j], j) != (first[0], first[1] + j - i):
            break
        j += 1
    return j


def _repeat(entries: list[Entry], i: int, j: int) -> Entry:
    prefix, start = _index(entries[i], i) or ("", 0)
    out: Entry = {"repeat": j - i}
    if start:
        out["index_from"] = start
    if prefix:
        out["name_prefix"] = prefix
    return {**out, "layers": entries[i]["layers"]}


def _whole(entries: list[Entry]) -> Entry | None:
    """The repeat keys when the whole list is one run of two or more copies."""
    if len(entries) >= 2 and _run_end(entries, 0) == len(entries):
        return _repeat(entries, 0, len(entries))
    return None


def _heads(entries: list[Entry]) -> set[str]:
    """The first names of every 'from' in these entries and below them."""
    out: set[str] = set()
    for e in entries:
        refs = e.get("from", [])
        out |= {str(r).split(".")[0] for r in (refs if isinstance(refs, list) else [refs])}
        out |= _heads(e.get("layers", []))
    return out


def _runs(entries: list[Entry]) -> list[Entry]:
    """Runs folded into flat repeats, unless a 'from' in this list names one of the copies (a flat repeat's
    copies are named in its own scope, so a sibling could no longer read them by name)."""
    heads = _heads(entries)
    spans, i = [], 0
    while i < len(entries):
        j = _run_end(entries, i)
        if any(str(e.get("name", k)) in heads for k, e in enumerate(entries[i:j], i)):
            j = i + 1
        spans.append((i, j))
        i = j
    if all(j - i < 2 for i, j in spans):
        return entries
    # a default name is the position in the list, which folding changes: name every entry
    named = [e if "name" in e else {"name": str(k), **e} for k, e in enumerate(entries)]
    return [{"name": f"repeat_{i}", **_repeat(named, i, j), "flat": True} if j - i >= 2 else named[i] for i, j in spans]
