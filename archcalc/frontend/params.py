"""Whole-value ``$param`` substitution for expansion, shared where the same source meets the same values.

``substitute`` replaces ``'$name'`` strings recursively through lists and mappings, except nested
``layers``/``branches``, which are substituted when their own entries expand (substituting them at every
level made expansion quadratic in the nesting depth).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archcalc.frontend.yamlio import LList, LMap

if TYPE_CHECKING:
    from archcalc.frontend.expand import Ctx

_NESTED = ("layers", "branches")


def substitute(ctx: Ctx, v: Any, env: dict[str, Any], line: int, where: str | None) -> Any:
    """Whole-value substitution of '$name' strings, recursively through lists."""
    if isinstance(v, str) and v.startswith("$"):
        key = v[1:]
        if key in env:
            return env[key]
        known = ", ".join(f"${k}" for k in sorted(env)) or "none"
        raise ctx.fail(f"unknown parameter '{v}' (known: {known}); only whole-value '$name' is allowed", line, where)
    if type(v) in (LList, LMap):
        refs = _refs(ctx, v)
        if refs is not None:
            if not refs:
                return v  # nothing to substitute: the source is only read from here on, so share it
            if all(r in env for r in refs):
                # the same source with the same env objects substitutes to an equal copy: share one
                vals = tuple(env[r] for r in refs)
                memo = (id(v), *map(id, vals))
                hit = ctx.subs.get(memo)
                if hit is None:
                    hit = ctx.subs[memo] = (_copy(ctx, v, env, line, where), v, vals)
                return hit[0]
    return _copy(ctx, v, env, line, where)


def _copy(ctx: Ctx, v: Any, env: dict[str, Any], line: int, where: str | None) -> Any:
    if isinstance(v, list):
        out = LList(substitute(ctx, x, env, line, where) for x in v)
        out.line = getattr(v, "line", line)
        return out
    if isinstance(v, LMap):
        m = LMap.__new__(LMap)  # line and key_lines are set below, so LMap.__init__ is skipped
        for k, x in v.items():
            # nested 'layers'/'branches' are substituted when their own entries expand (same env), not here:
            # substituting them at every level made expansion quadratic in the nesting depth.
            # Other scalars than '$' strings come back unchanged, so they skip the call.
            if (isinstance(x, (list, LMap)) and k not in _NESTED) or (isinstance(x, str) and x[:1] == "$"):
                x = substitute(ctx, x, env, v.line_of(k), where)
            m[k] = x
        m.line, m.key_lines = v.line, v.key_lines
        return m
    return v


def _refs(ctx: Ctx, v: LList | LMap) -> tuple[str, ...] | None:
    """The '$' names _sub would replace in v, in order; None if it holds other containers than LList/LMap."""
    hit = ctx.refs.get(id(v))
    if hit is not None:
        return hit[1]
    pairs = v.items() if isinstance(v, LMap) else ((None, x) for x in v)
    out: list[str] = []
    refs: tuple[str, ...] | None = None
    for k, x in pairs:
        if isinstance(x, str) and x.startswith("$"):
            out.append(x[1:])
        elif isinstance(x, (list, LMap)) and k not in _NESTED:
            # nested layers/branches are not substituted here (see _sub), so they never count
            inner = _refs(ctx, x) if isinstance(x, (LList, LMap)) and type(x) in (LList, LMap) else None
            if inner is None:
                break
            out.extend(inner)
    else:
        refs = tuple(out)
    ctx.refs[id(v)] = (v, refs)
    return refs
