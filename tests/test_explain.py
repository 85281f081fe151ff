"""archcalc explain: every derivation re-evaluates to its record's number; LeNet-5 golden lines."""

from __future__ import annotations

import ast
import json
import math
from fractions import Fraction

import pytest

from archcalc.analysis.explain import explain, explain_layer
from archcalc.analysis.records import analyze
from archcalc.analysis.report import COUNT_KEYS
from archcalc.cli.app import main


def evaluate(text: str) -> int:
    """A tiny safe evaluator: integers, + - * /, unary minus, floor(...) and ceil(...); nothing else.

    '/' is exact rational division (Fraction); floor/ceil round it.  The result must be an integer.
    """
    tree = ast.parse(text, mode="eval")

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("floor", "ceil")
            and len(node.args) == 1
            and not node.keywords
        ):
            x = ev(node.args[0])
            return Fraction(math.floor(x) if node.func.id == "floor" else math.ceil(x))
        raise ValueError(f"not allowed in a derivation: {ast.dump(node)}")

    value = ev(tree)
    assert value.denominator == 1, f"{text} is not an integer: {value}"
    return int(value)


def test_evaluator_refuses_code() -> None:
    for bad in ("__import__('os')", "2**10", "abs(-1)", "x + 1", "1.5 + 1", "[1][0]"):
        with pytest.raises((ValueError, SyntaxError)):
            evaluate(bad)
    assert evaluate("floor((32 + 2*0 - 1*(5 - 1) - 1)/1) + 1") == 28
    assert evaluate("ceil((5 + 2*1 - 1*(2 - 1) - 1)/2) + 1 - 1") == 3


def test_every_derivation_evaluates_to_its_record(spec_name: str) -> None:
    report = analyze(spec_name)
    derivations = explain(report)
    assert [d.path for d in derivations] == [r.path for r in report.records] + ["total"]
    for d, rec in zip(derivations, [*report.records, None], strict=True):
        want = report.totals if rec is None else rec.counts
        for key in COUNT_KEYS:
            step = d.counts[key]
            assert step.value == getattr(want, key), (d.path, key)
            assert evaluate(step.substituted) == step.value, (d.path, key, step.substituted)
        assert evaluate(d.count("flops").substituted) == 2 * want.macs
        for step in d.steps:  # H_out, W_out, C_out of a concat, F of a flatten, ...
            assert evaluate(step.substituted) == step.value, (d.path, step.name, step.substituted)
        if rec is not None:
            named = {s.name: s.value for s in d.steps}
            for name, dim in zip(("C_out", "H_out", "W_out"), rec.output_shape, strict=False):
                if name in named:
                    assert named[name] == dim, (d.path, name)


# Golden strings, written by hand from LeCun et al. 1998 Sec. II-B and torch's conv output rule.
C1_LINES = [
    "H_out 28 = floor((H_in + 2*p_h - d_h*(k_h - 1) - 1)/s_h) + 1 = floor((32 + 2*0 - 1*(5 - 1) - 1)/1) + 1",
    "params 156 = (k_h*k_w*C_in + 1)*C_out = (5*5*1 + 1)*6",
    "connections 122,304 = (k_h*k_w*C_in + 1)*C_out*H_out*W_out = (5*5*1 + 1)*6*28*28",
    "MACs 117,600 = k_h*k_w*C_in*C_out*H_out*W_out = 5*5*1*6*28*28",
]
# C3 (Table I): maps 0-5 read 3 S2 maps, 6-14 read 4, map 15 reads all 6.
C3_LINES = [
    "H_out 10 = floor((H_in + 2*p_h - d_h*(k_h - 1) - 1)/s_h) + 1 = floor((14 + 2*0 - 1*(5 - 1) - 1)/1) + 1",
    "params 1,516 = sum over output maps j of (k_h*k_w*|T_j| + 1) = 6*(5*5*3 + 1) + 9*(5*5*4 + 1) + (5*5*6 + 1)",
    "connections 151,600 = (sum over output maps j of (k_h*k_w*|T_j| + 1))*H_out*W_out"
    " = (6*(5*5*3 + 1) + 9*(5*5*4 + 1) + (5*5*6 + 1))*10*10",
    "MACs 150,000 = (sum over output maps j of k_h*k_w*|T_j|)*H_out*W_out = (6*(5*5*3) + 9*(5*5*4) + (5*5*6))*10*10",
]


def _lines(layer: str) -> list[str]:
    d = explain_layer(analyze("lenet5")[layer])
    return [s.text() for s in d.steps] + [s.text() for s in d.shown_counts()]


def test_lenet5_c1_golden() -> None:
    lines = _lines("C1")
    for want in C1_LINES:
        assert want in lines


def test_lenet5_c3_golden_per_map_sum() -> None:
    lines = _lines("C3")
    for want in C3_LINES:
        assert want in lines
    d = explain_layer(analyze("lenet5")["C3"])
    assert "connection table: output maps 0-5 read 3, 6-14 read 4, 15 reads 6 input maps" in d.notes


def test_lenet5_subsample_and_f6_match_the_article() -> None:
    """Seed article 004 writes S2 as (2*2+1)*14*14*6 = 5880 and F6 as (120+1)*84 = 10164."""
    s2 = _lines("S2")
    assert "params 12 = 2*C = 2*6" in s2
    assert "connections 5,880 = (k_h*k_w + 1)*C*H_out*W_out = (2*2 + 1)*6*14*14" in s2
    assert "params 10,164 = (F_in + 1)*F_out = (120 + 1)*84" in _lines("F6")


OPS_SPEC = """
name: explain-ops
input: [4, 15, 15]
layers:
  - {name: gconv, op: conv2d, out: 8, kernel: 3, groups: 2, dilation: 2, padding: 1}
  - {name: same, op: conv2d, out: 8, kernel: 4, padding: same}
  - {name: pool, op: maxpool2d, kernel: 2, stride: 2, padding: 1, ceil_mode: true}
  - {name: unpool, op: max_unpool2d, pool: pool, kernel: 2, stride: 2, padding: 1, output_size: [13, 13]}
  - {name: trim, op: maxpool2d, kernel: 2, stride: 1}
  - {name: up, op: conv_transpose2d, out: 4, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}
  - name: mix
    branches:
      a: [{op: conv2d, out: 2, kernel: 1}]
      b: [{op: avgpool2d, kernel: 3, stride: 1, padding: 1}]
    merge: concat
  - name: res
    branches:
      main: [{op: conv2d, out: 6, kernel: 3, padding: 1}, {op: batchnorm2d}]
      skip: []
    merge: add
  - {name: dense, op: conv2d, out: 2, kernel: 3, padding: 1, repeat: 3, feed: dense}
  - {name: gap, op: adaptive_avgpool2d, output: [5, 7]}
  - {name: cat, op: concat, from: [gap, gap]}
  - {op: flatten}
  - {op: linear, out: 3}
"""


def test_unpool_default_size_explains(tmp_path: pytest.TempPathFactory) -> None:
    """Without output_size: (7 - 1)*2 - 2*1 + 2 = 12, exactly the pool's 12x12 input (so torch's switches fit)."""
    path = tmp_path / "unpool.yaml"  # type: ignore[operator]
    path.write_text(
        "name: u\ninput: [1, 12, 12]\nlayers:\n"
        "  - {name: pool, op: maxpool2d, kernel: 2, stride: 2, padding: 1, ceil_mode: true}\n"
        "  - {name: unpool, op: max_unpool2d, pool: pool, kernel: 2, stride: 2, padding: 1}\n"
    )
    d = {d.path: d for d in explain(analyze(str(path)))}["unpool"]
    assert "H_out 12 = (H_in - 1)*s_h - 2*p_h + k_h = (7 - 1)*2 - 2*1 + 2" in [s.text() for s in d.steps]


def test_every_op_kind_explains(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "ops.yaml"  # type: ignore[operator]
    path.write_text(OPS_SPEC)
    report = analyze(str(path))
    by_path = {d.path: d for d in explain(report)}
    for d in by_path.values():
        for step in [*d.steps, *d.counts.values()]:
            assert evaluate(step.substituted) == step.value, (d.path, step.name)
    text = {p: [s.text() for s in d.steps] + [s.text() for s in d.shown_counts()] for p, d in by_path.items()}
    # grouped + dilated: C_in/g is an exact quotient; H = floor((15 + 2 - 2*2 - 1)/1) + 1 = 13
    assert "params 152 = (k_h*k_w*(C_in/g) + 1)*C_out = (3*3*(4/2) + 1)*8" in text["gconv"]
    assert (
        "H_out 13 = floor((H_in + 2*p_h - d_h*(k_h - 1) - 1)/s_h) + 1 = floor((15 + 2*1 - 2*(3 - 1) - 1)/1) + 1"
        in text["gconv"]
    )
    # 'same' with an even kernel pads 1 before and 2 after (torch puts the extra on the high side)
    assert any(t.endswith("= floor((13 + 1 + 2 - 1*(4 - 1) - 1)/1) + 1") for t in text["same"])
    # ceil_mode: ceil((13 + 2 - 1 - 1)/2) + 1 = 8, but the 8th window would start at 14 >= 13 + 1: dropped
    assert (
        "H_out 7 = ceil((H_in + 2*p_h - d_h*(k_h - 1) - 1)/s_h) + 1 - 1 = ceil((13 + 2*1 - 1*(2 - 1) - 1)/2) + 1 - 1"
        in text["pool"]
    )
    assert any("the last window would start at 14 >= input + left padding = 14" in n for n in by_path["pool"].notes)
    # transposed: (12 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 24
    assert (
        "H_out 24 = (H_in - 1)*s_h - 2*p_h + d_h*(k_h - 1) + op_h + 1 = (12 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1"
        in text["up"]
    )
    # transposed conv: every input pixel scatters a k x k kernel into C_out/g maps: 3*3*(4/2)*8*12*12
    assert "MACs 20,736 = k_h*k_w*(C_out/g)*C_in*H_in*W_in = 3*3*(4/2)*8*12*12" in text["up"]
    assert "C_out 6 = sum over inputs i of C_i = 2 + 4" in text["mix"]
    assert "params 84 = 2*C + (k_h*k_w*C_in + 1)*C_out" not in text["res"]  # a block sums its layers
    assert "params 342 = sum over 2 layers in res = 330 + 12" in text["res"]  # (3*3*6 + 1)*6 + 2*6
    assert any("elementwise sum of 2 inputs of equal shape 6x24x24" in n for n in by_path["res"].notes)
    assert "buffers 13 = 2*C + 1 = 2*6 + 1" in text["res.main.1"]
    # dense feed: the output concatenates the input (6) and three 2-map outputs
    assert "C_out 12 = sum over inputs i of C_i = 6 + 3*2" in text["dense"]
    # adaptive 24 -> 5: windows [0,5) [4,10) [9,15) [14,20) [19,24) sum to 5+6+6+6+5 = 28; 24 -> 7: 4+4+5+4+5+4+4 = 30
    assert (
        "sum_win_h 28 = sum over windows i of ceil((i+1)*H_in/H_out) - floor(i*H_in/H_out) = 5 + 3*6 + 5" in text["gap"]
    )
    assert "connections 10,080 = C*sum_win_h*sum_win_w = 12*28*30" in text["gap"]
    assert "C_out 24 = sum over inputs i of C_i = 12 + 12" in text["cat"]
    assert "F_out 840 = C*H*W = 24*5*7" in text["11"]


def test_explain_cli_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "lenet5", "C1", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "- **params** 156 = `(k_h*k_w*C_in + 1)*C_out` = `(5*5*1 + 1)*6`" in out
    assert main(["explain", "lenet5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["derivations"][-1]["path"] == "total"
    assert data["derivations"][-1]["counts"]["params"]["value"] == 156 + 12 + 1516 + 32 + 48120 + 10164
    assert main(["explain", "lenet5", "C3"]) == 0
    assert "6*(5*5*3 + 1) + 9*(5*5*4 + 1) + (5*5*6 + 1)" in capsys.readouterr().out
    assert main(["explain", "alexnet-227", "conv1", "--input", "3x224x224"]) == 0  # unique name -> features.conv1
    assert "floor((224 + 2*0 - 1*(11 - 1) - 1)/4) + 1" in capsys.readouterr().out


def test_explain_unknown_layer_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "lenet5", "C9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archcalc: error: no layer 'C9' in lenet5") and err.count("\n") == 1
