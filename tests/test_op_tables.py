"""Every per-op table covers every registered op (``archcalc.ops.OPS``): one test per op and per table.

An op is declared once (``register(...)`` in archcalc/ops/); these tests fail when a declaration lacks a
part that a pass needs, naming the op.
"""

from __future__ import annotations

import pytest

from archcalc.ops import OPS


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_has_a_torch_builder(op: str) -> None:
    assert callable(OPS[op].build), f"op '{op}' has no build= in its register(...) call"
