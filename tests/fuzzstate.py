"""What the wiring generator (tests/fuzzgen.py) knows while it draws a spec: values, entries, blocks, scopes.

Split out of fuzzgen.py with the templates and blocks (tests/fuzzblocks.py); it never decides a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from fuzzops import Draws
from hypothesis import strategies as st

# ---------------------------------------------------------------- wiring: what the generator knows


@dataclass(frozen=True)
class Val:
    """What a value holds, as far as the generator knows: channels (features once flat) and a spatial
    token (equal tokens: equal H x W). ``pool`` = (kernel, H_in, W_in) marks a maxpool2d's output."""

    c: int
    sp: Hashable
    pool: tuple[int, int, int] | None = None


@dataclass
class Made:
    entry: dict[str, Any]
    out: Val
    sub: dict[str, Val] = field(default_factory=dict)  # values inside it, by dotted name relative to it
    kept: bool = True  # False: when is false, the entry does not exist
    side: bool = False


ChannelFn = Callable[[int, dict[str, Any]], int]  # a template's output channels: (input channels, params)


@dataclass
class BlockInfo:
    params: dict[str, Any]  # declared params (None: required)
    fn: ChannelFn
    residual: bool  # an add body with an identity branch: valid when w equals the input channels


@dataclass
class Gen:
    """One spec's drawing state: names in scope (innermost list last), blocks, spec params."""

    draw: st.DrawFn
    params: dict[str, Any]
    scopes: list[dict[str, Val]] = field(default_factory=list)
    blocks: dict[str, BlockInfo] = field(default_factory=dict)
    serial: int = 0
    depth: int = 0
    mischief: bool = False  # this spec may break rules of the language on purpose (expecting a refusal)
    wild: bool = False  # this spec draws op arguments outside their range (1 in 10 per argument)
    skip: frozenset[str] = frozenset()  # FEATURES left out (to isolate a defect)

    def has(self, feature: str) -> bool:
        return feature not in self.skip

    @property
    def d(self) -> Draws:
        return Draws(self.draw, self.wild, big=True)

    def fresh(self, stem: str = "t") -> str:
        self.serial += 1
        return f"{stem}{self.serial}"

    def token(self) -> str:
        return self.fresh("sp")

    def chance(self, one_in: int) -> bool:
        return bool(self.draw(st.integers(0, one_in - 1)) == 0)

    def breaks(self, one_in: int) -> bool:
        """Whether to break a rule here: only in the few specs drawn for mischief."""
        return self.mischief and self.chance(one_in)

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def visible(self) -> list[tuple[str, Val]]:
        """`from` names this list can read: its input, and every named value of it and enclosing lists."""
        seen = {"input": self.scopes[-1]["input"]}
        for scope in self.scopes:
            seen.update((k, v) for k, v in scope.items() if k != "input")
        return sorted(seen.items())


def _value(v: Any, env: dict[str, Any]) -> Any:
    return env[v[1:]] if isinstance(v, str) and v.startswith("$") else v


def _merged_val(g: Gen, vals: list[Val], add: bool = False) -> Val:
    """concat (channels add up) or add (channels of the first) of values; one token if they share one."""
    sp = vals[0].sp if all(v.sp == vals[0].sp for v in vals) else g.token()
    return Val(vals[0].c if add else sum(v.c for v in vals), sp)


def safe_op(g: Gen, c: int) -> tuple[dict[str, Any], int]:
    """An op that keeps H x W and rarely fails: stride-1 padded conv, batch norm, relu, identity."""
    kind = g.pick(["conv", "conv", "bn", "relu", "identity"])
    if kind != "conv":
        return {"op": {"bn": "batchnorm2d"}.get(kind, kind)}, c
    out, k = g.draw(st.integers(1, 12)), g.pick([1, 3, 5])
    e: dict[str, Any] = {"op": "conv2d", "out": out, "kernel": k, "padding": (k - 1) // 2}
    if g.chance(4):
        e["padding"] = "same"
    if g.chance(4):
        e["bias"] = False
    return e, out


def make_safe(g: Gen, x: Val) -> Made:
    e, c = safe_op(g, x.c)
    return Made(e, Val(c, x.sp))
