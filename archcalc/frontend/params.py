"""``$param`` substitution and expressions for expansion, shared where the same source meets the same values.

``substitute`` replaces ``'$name'`` strings whole, and evaluates every other string holding ``$`` as an exact
expression (frontend/expr.py), recursively through lists and mappings, except nested ``layers``/``branches``,
which are substituted when their own entries expand (substituting them at every level made expansion
quadratic in the nesting depth), and ``doc`` text, which is never evaluated. Each copy keeps the expressions
it evaluated in ``derived`` (``archcalc explain`` shows them), so a shared copy carries them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archcalc.errors import show
from archcalc.frontend.expr import Derived, ExprError, derive, is_bare, names
from archcalc.frontend.yamlio import LList, LMap

if TYPE_CHECKING:
    from archcalc.frontend.tree import Ctx

_NESTED = ("layers", "branches")
_TEXT = "doc"  # free text: a '$' there is not a parameter


def substitute(ctx: Ctx, v: Any, env: dict[str, Any], line: int, where: str | None) -> Any:
    """Whole-value substitution of '$name' strings and evaluation of expressions, recursively through lists."""
    if isinstance(v, str) and "$" in v:
        return scalar(ctx, v, env, line, where, "", [])
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


def scalar(ctx: Ctx, v: str, env: dict[str, Any], line: int, where: str | None, name: str, out: list[Derived]) -> Any:
    """A '$name' (replaced whole) or an expression (evaluated; its line appended to ``out``)."""
    key = v[1:]
    if v[0] == "$" and key in env:
        return env[key]
    if is_bare(v):
        known = ", ".join(f"${k}" for k in sorted(env)) or "none"
        raise ctx.fail(f"unknown parameter '{v}' (known: {known})", line, where)
    try:
        value, derived = derive(name, v, env)
    except ExprError as err:
        raise ctx.fail(f"expression {show(v)}: {err}", line, where) from None
    out.append(derived)
    return value


def _item(ctx: Ctx, x: Any, env: dict[str, Any], line: int, where: str | None, name: str, out: list[Derived]) -> Any:
    if isinstance(x, str):
        return scalar(ctx, x, env, line, where, name, out)
    sub = substitute(ctx, x, env, line, where)
    out.extend(d.under(name) for d in getattr(sub, "derived", ()))
    return sub


def _copy(ctx: Ctx, v: Any, env: dict[str, Any], line: int, where: str | None) -> Any:
    derived: list[Derived] = []
    if isinstance(v, list):
        out = LList(_item(ctx, x, env, line, where, f"[{i}]", derived) if _subs(x) else x for i, x in enumerate(v))
        out.line = getattr(v, "line", line)
        out.derived = tuple(derived)
        return out
    if isinstance(v, LMap):
        m = LMap.__new__(LMap)  # line and key_lines are set below, so LMap.__init__ is skipped
        for k, x in v.items():
            # nested 'layers'/'branches' are substituted when their own entries expand (same env), not here:
            # substituting them at every level made expansion quadratic in the nesting depth.
            # Other scalars than '$' strings come back unchanged, so they skip the call.
            if k not in _NESTED and k != _TEXT and _subs(x):
                x = _item(ctx, x, env, v.line_of(k), where, k, derived)
            m[k] = x
        m.line, m.key_lines, m.derived = v.line, v.key_lines, tuple(derived)
        return m
    return v


def _subs(x: Any) -> bool:
    """Whether substitution can change x: a container, or text holding '$'."""
    return isinstance(x, (list, LMap)) or (isinstance(x, str) and "$" in x)


def _refs(ctx: Ctx, v: LList | LMap) -> tuple[str, ...] | None:
    """The '$' names _copy would read in v, in order; None if it holds other containers than LList/LMap."""
    hit = ctx.refs.get(id(v))
    if hit is not None:
        return hit[1]
    pairs = v.items() if isinstance(v, LMap) else ((None, x) for x in v)
    out: list[str] = []
    refs: tuple[str, ...] | None = None
    for k, x in pairs:
        if k == _TEXT:
            continue
        if isinstance(x, str) and "$" in x:
            out.extend(names(x) or [x[1:]])  # no name ('$'): x[1:] is never a key, so nothing is shared
        elif isinstance(x, (list, LMap)) and k not in _NESTED:
            # nested layers/branches are not substituted here (see _copy), so they never count
            inner = _refs(ctx, x) if isinstance(x, (LList, LMap)) and type(x) in (LList, LMap) else None
            if inner is None:
                break
            out.extend(inner)
    else:
        refs = tuple(out)
    ctx.refs[id(v)] = (v, refs)
    return refs
