"""Every per-op table covers every registered op (``archcalc.ops.OPS``): one test per op and per table.

An op is declared once (``declare(...)`` in archcalc/ops/); these tests fail when a declaration lacks a
part that a pass needs, naming the op.
"""

from __future__ import annotations

import pytest

from archcalc.ops import OPS


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_has_a_torch_builder(op: str) -> None:
    assert callable(OPS[op].build), f"op '{op}' has no build= in its declare(...) call"


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_has_a_receptive_field_rule(op: str) -> None:
    from archcalc.analysis.rf import rule_for

    assert rule_for(op) is not None, f"op '{op}': no rf rule and not declared pointwise"


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_convention_counts_or_refuses_op(op: str) -> None:
    from archcalc.analysis.conventions import CONVENTIONS, names

    for name in names():
        conv = CONVENTIONS[name]
        assert conv.rule(op) is not None or op in conv.refused, f"convention '{name}' has no rule for op '{op}'"


@pytest.mark.parametrize("op", sorted(OPS))
def test_op_has_a_deconv_mirror_or_a_reason(op: str) -> None:
    from archcalc.analysis.deconv import mirror_kind

    assert mirror_kind(op), f"op '{op}': the DeconvNet mirror neither inverts it nor says why not"
