"""Exact expressions in spec values (issue 10): evaluation, refusals through the real CLI, `when`, explain.

Expected values are written out by hand (with the arithmetic beside them) or come from torchvision's own
helpers (``_make_divisible``, MNASNet's ``_round_to_multiple_of``, EfficientNet's ``adjust_depth``) and
module parameter counts, imported through tests/tvshim.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from archcalc.analysis.records import analyze
from archcalc.cli.app import main
from archcalc.frontend.expr import MAX_CHARS, ExprError, derive, evaluate

ROOT = Path(__file__).resolve().parent.parent
ENV = {"c": 24, "width": 1.4, "p": 0.2, "project": False, "stride": 1, "cin": 16, "cout": 16, "n": 3, "depth": 1.1}

# (expression, expected value written out by hand)
HAND = [
    ("$c * $width", 33.6),  # 24 * 1.4 = 33.6, not whole: a float
    ("$c * 2", 48),
    ("$c / 4", 6),  # exact division with a whole result is an int
    ("$c / 5", 4.8),
    ("$c // 5", 4),
    ("-$c // 5", -5),  # floor division rounds toward -inf, like Python
    ("$c % 5", 4),
    ("-$c % 5", 1),  # -24 = -5*5 + 1
    ("($c + 8) * 2 - 1", 63),
    ("-$c + +3", -21),
    ("$p / 2", 0.1),
    ("make_divisible($c * $width, 8)", 32),  # int(33.6 + 4) = 37; 37 // 8 * 8 = 32; 32 >= 0.9*33.6 = 30.24
    ("make_divisible(16 * $width, 8)", 24),  # 22.4 + 4 -> 26 -> 24; 24 >= 20.16
    ("make_divisible(83, 8)", 80),  # 87 // 8 * 8 = 80; 80 >= 74.7
    ("make_divisible(84, 8)", 88),  # 88 // 8 * 8 = 88
    ("make_divisible(3, 8)", 8),  # 7 // 8 * 8 = 0 -> at least the divisor
    ("make_divisible(3, 8, 4)", 4),  # min_value 4 instead
    ("make_divisible(100, 64)", 128),  # 132 // 64 * 64 = 128
    ("make_divisible(10, 16)", 16),  # 18 // 16 * 16 = 16
    ("make_divisible(17.5, 16)", 16),  # int(25.5) = 25 -> 16; 16 >= 15.75
    ("make_divisible(17.9, 16)", 32),  # 16 < 0.9 * 17.9 = 16.11: one divisor more
    ("ceil($n * $depth)", 4),  # 3.3 -> 4
    ("floor($n * $depth)", 3),
    ("ceil(-2.5)", -2),
    ("floor(-2.5)", -3),
    ("round(2.5)", 2),  # half to even, like Python's round()
    ("round(3.5)", 4),
    ("round(-2.5)", -2),
    ("round(2.6)", 3),
    ("int(2.9)", 2),  # toward zero
    ("int(-2.9)", -2),
    ("2 + int($project)", 2),  # int(false) = 0, as Python's int(False)
    ("2 + int(not $project)", 3),  # int(true) = 1
    ("min($c, 3, 5)", 3),
    ("max(1, $c // 4)", 6),
    ("abs(3 - $c)", 21),
    ("$stride == 1 and $cin == $cout", True),
    ("$stride == 2 or not $project", True),
    ("not $project", True),
    ("not (not $project)", False),
    ("$project == false", True),
    ("$project != true", True),
    ("1 <= $stride < 2", True),
    ("1 < $stride <= 3", False),
    ("$c > 10 and $c >= 24 and $c != 25", True),
]


@pytest.mark.parametrize(("text", "expected"), HAND, ids=[t for t, _ in HAND])
def test_hand_computed_values(text: str, expected: Any) -> None:
    value = evaluate(text, ENV)
    assert value == expected
    assert type(value) is type(expected)


def test_arithmetic_is_exact() -> None:
    assert 0.1 + 0.2 != 0.3  # floats are not exact ...
    assert evaluate("0.1 + 0.2 == 0.3 and $p < 1", ENV) is True  # ... decimal constants here are
    assert evaluate("$a + $b", {"a": 0.1, "b": 0.2}) == 0.3
    assert evaluate("$a + $b == 0.3", {"a": 0.1, "b": 0.2}) is True
    assert evaluate("1 / 3 * 3", {"a": 1} | ENV) == 1
    assert type(evaluate("$c / 3 * 3 + 0", ENV)) is int
    assert 3 * 1.1 == 3.3000000000000003 and evaluate("3 * $d", {"d": 1.1}) == 3.3
    # where the exact value is whole, a float product can land on the other side: torchvision's
    # EfficientNet adjust_depth would give ceil(25 * 2.2) = 56 in floats; the exact value is 55
    assert math.ceil(25 * 2.2) == 56 and evaluate("ceil(25 * $d)", {"d": 2.2}) == 55
    assert math.floor(45 * 1.4) == 62 and evaluate("floor(45 * $d)", {"d": 1.4}) == 63


def test_derived_line_shows_the_substitution() -> None:
    value, d = derive("out", "make_divisible($c * $width, 8)", ENV)
    assert value == 32
    assert d.text() == "out = make_divisible($c * $width, 8) = make_divisible(24 * 1.4, 8) = 32"
    assert derive("when", "not $project", ENV)[1].text() == "when = not $project = not false = true"
    assert d.under("args").name == "args.out" and d.under("padding").name == "padding.out"


def _hand_make_divisible(v: Fraction, d: int, low: int | None = None) -> int:
    """The nearest multiple of d (halves up), at least low (default d); one d more if it is under 90% of v."""
    nearest = math.floor(v / d + Fraction(1, 2)) * d
    out = max(d if low is None else low, nearest)
    return out + d if 10 * out < 9 * v else out


CHANNELS = [3, 8, 16, 24, 32, 40, 48, 64, 72, 80, 96, 112, 120, 160, 192, 240, 320, 480, 576, 672, 960, 1280]
WIDTHS = [0.1, 0.25, 0.35, 0.5, 0.75, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.6, 3.1]


def test_make_divisible_matches_a_hand_formula() -> None:
    for c in CHANNELS:
        for w in WIDTHS:
            for d in (4, 8, 16):
                want = _hand_make_divisible(c * Fraction(repr(w)), d)
                assert evaluate("make_divisible($c * $w, $d)", {"c": c, "w": w, "d": d}) == want, (c, w, d)
            want = _hand_make_divisible(c * Fraction(repr(w)), 8, 16)
            assert evaluate("make_divisible($c * $w, 8, 16)", {"c": c, "w": w}) == want, (c, w)


def test_make_divisible_matches_torchvision(torchvision: ModuleType) -> None:
    from torchvision.models._utils import _make_divisible
    from torchvision.models.efficientnet import MBConvConfig
    from torchvision.models.mnasnet import _round_to_multiple_of

    for c in CHANNELS:
        for w in WIDTHS:
            env = {"c": c, "w": w}
            for d in (4, 8, 16):
                assert evaluate("make_divisible($c * $w, $d)", env | {"d": d}) == _make_divisible(c * w, d), (c, w, d)
            assert evaluate("make_divisible($c * $w, 8)", env) == _round_to_multiple_of(c * w, 8), (c, w)
            assert evaluate("make_divisible($c * $w, 8)", env) == MBConvConfig.adjust_channels(c, w), (c, w)
    for n in range(1, 12):
        for w in WIDTHS:
            assert evaluate("ceil($n * $w)", {"n": n, "w": w}) == MBConvConfig.adjust_depth(n, w), (n, w)


INVERTED = """\
name: ir
input: [{inp}, 16, 16]
params: {{inp: {inp}, oup: {oup}, stride: {stride}, t: {t}}}
blocks:
  inverted_residual:
    params: {{inp: null, oup: null, stride: 1, t: 6}}
    layers:
      - name: conv
        layers:
          - {{name: '0', when: $t != 1, layers: [{{name: '0', op: conv2d, out: round($inp * $t), kernel: 1, bias: false}},
                                        {{name: '1', op: batchnorm2d}}, {{name: '2', op: relu6}}]}}
          - name: dw
            layers:
              - {{name: '0', op: conv2d, out: round($inp * $t), kernel: 3, stride: $stride, padding: 1,
                  groups: round($inp * $t), bias: false}}
              - {{name: '1', op: batchnorm2d}}
              - {{name: '2', op: relu6}}
          - {{name: project, op: conv2d, out: $oup, kernel: 1, bias: false}}
          - {{name: bn, op: batchnorm2d}}
      - {{name: residual, op: identity, when: $stride == 1 and $inp == $oup}}
layers:
  - {{name: block, block: inverted_residual, args: {{inp: $inp, oup: $oup, stride: $stride, t: $t}}}}
"""


@pytest.mark.parametrize(
    ("inp", "oup", "stride", "t"), [(32, 16, 1, 1), (16, 24, 2, 6), (24, 24, 1, 6), (64, 96, 1, 6)]
)
def test_inverted_residual_counts_match_torchvision(
    torchvision: ModuleType, tmp_path: Path, inp: int, oup: int, stride: int, t: int
) -> None:
    """``when: $t != 1``, ``round($inp * $t)`` and ``$stride == 1 and $inp == $oup`` as torchvision's module."""
    from torchvision.models.mobilenetv2 import InvertedResidual

    module = InvertedResidual(inp, oup, stride, t)
    path = tmp_path / "ir.yaml"
    path.write_text(INVERTED.format(inp=inp, oup=oup, stride=stride, t=t))
    report = analyze(str(path))
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    assert report.totals.buffers == sum(b.numel() for b in module.buffers())
    paths = {r.path for r in report.records}
    assert ("block.conv.0" in paths) == (t != 1)
    assert ("block.residual" in paths) == module.use_res_connect


MOBILE = """\
name: mb
input: [3, 32, 32]
params:
  width: 1.4
  p: 0.2
blocks:
  ir:
    params: {cin: null, cout: null, t: 6, stride: 1}
    doc: "costs $5, never evaluated"
    layers:
      - {name: expand, op: conv2d, out: $cin * $t, kernel: 1, when: $t != 1}
      - {name: dw, op: conv2d, out: $cin * $t, kernel: 3, padding: 1, stride: $stride, groups: $cin * $t}
      - {name: res, op: identity, when: $stride == 1 and $cin == $cout}
      - {name: project, op: conv2d, out: $cout, kernel: 1}
layers:
  - name: stem
    op: conv2d
    out: make_divisible(16 * $width, 8)
    kernel: 3
    padding: [$width // 1, floor($width)]
  - {name: b1, block: ir, args: {cin: 'make_divisible(16 * $width, 8)', cout: 'make_divisible(24 * $width, 8)'}}
  - {name: b2, block: ir, repeat: ceil(2 * $width), args: {cin: 'make_divisible(24 * $width, 8)', cout: 32}}
  - {name: b3, block: ir, args: {cin: 32, cout: 16, t: 1, stride: 2}}
  - {name: drop, op: dropout, p: $p / 2, doc: "p is $p / 2"}
"""


@pytest.fixture
def mobile(tmp_path: Path) -> str:
    path = tmp_path / "mb.yaml"
    path.write_text(MOBILE)
    return str(path)


def test_expressions_drive_shapes_when_and_repeat(mobile: str) -> None:
    report = analyze(mobile)
    stem = report["stem"]
    # make_divisible(22.4, 8) = 24 channels; padding [1.4 // 1, floor(1.4)] = [1, 1] keeps 32x32
    assert stem.output_shape == (24, 32, 32)
    assert stem.params == (3 * 3 * 3 + 1) * 24
    assert stem.args["padding"] == (1, 1)
    # b1: cin 24, t 6 -> 144 hidden channels; cout make_divisible(33.6, 8) = 32 != 24: no residual
    assert report["b1.expand"].output_shape == (144, 32, 32)
    assert "b1.res" not in {r.path for r in report.records}
    # b2: ceil(2 * 1.4) = 3 copies of cin 32 -> 192 -> 32 with the residual kept
    assert [r.path for r in report.records if r.parent == "b2"] == ["b2.0", "b2.1", "b2.2"]
    assert report["b2.1.dw"].params == (3 * 3 * 1 + 1) * 192
    assert "b2.2.res" in {r.path for r in report.records}
    # b3: t 1 drops the expansion (when: $t != 1); stride 2 drops the residual
    assert {"b3.expand", "b3.res"}.isdisjoint(r.path for r in report.records)
    assert report["b3.dw"].output_shape == (32, 16, 16)
    assert report["drop"].args["p"] == 0.1


def test_memoised_blocks_see_their_own_values(tmp_path: Path) -> None:
    """Shared substitutions: the same block body with other args evaluates again; the same args share."""
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: m\ninput: [8, 8, 8]\nblocks:\n  b:\n    params: {c: null}\n    layers:\n"
        "      - {name: conv, op: conv2d, out: $c * 2, kernel: 1}\n"
        "layers:\n"
        "  - {name: x, block: b, args: {c: 4}}\n"
        "  - {name: y, block: b, args: {c: 5}}\n"
        "  - {name: z, block: b, repeat: 2, args: {c: 4}, first: {c: 3}}\n"
    )
    report = analyze(str(path))
    outs = {r.path: r.output_shape[0] for r in report.layers}
    assert outs == {"x.conv": 8, "y.conv": 10, "z.0.conv": 6, "z.1.conv": 8}
    assert [d.text() for d in report["y.conv"].derived] == ["out = $c * 2 = 5 * 2 = 10"]


def test_set_changes_the_derived_values(mobile: str) -> None:
    report = analyze(mobile, sets={"width": 1.0})
    assert report["stem"].output_shape[0] == 16  # make_divisible(16, 8)
    assert [r.path for r in report.records if r.parent == "b2"] == ["b2.0", "b2.1"]  # ceil(2.0)


def test_explain_shows_derived_values(mobile: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", mobile, "b2.1.dw"]) == 0
    out = capsys.readouterr().out
    assert "derived in b2: repeat = ceil(2 * $width) = ceil(2 * 1.4) = 3" in out
    assert "derived in b2: args.cin = make_divisible(24 * $width, 8) = make_divisible(24 * 1.4, 8) = 32" in out
    assert "derived: out = $cin * $t = 32 * 6 = 192" in out
    assert "derived: groups = $cin * $t = 32 * 6 = 192" in out
    assert main(["explain", mobile, "stem", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "derived: out = make_divisible(16 * $width, 8) = make_divisible(16 * 1.4, 8) = 24" in out
    assert "derived: padding[1] = floor($width) = floor(1.4) = 1" in out
    assert main(["explain", mobile, "b1"]) == 0  # a block use: its args, then its layers' own
    out = capsys.readouterr().out
    assert "derived: args.cout = make_divisible(24 * $width, 8) = make_divisible(24 * 1.4, 8) = 32" in out
    assert "derived: when = $t != 1 = 6 != 1 = true" in out


def test_explain_json_and_csv_carry_derived_values(mobile: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", mobile, "b2.0.res", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    derived = data["derivations"][0]["derived"]
    assert [(d["path"], d["name"], d["value"]) for d in derived] == [
        ("b2", "repeat", 3),
        ("b2", "args.cin", 32),
        ("b2.0.res", "when", True),
    ]
    assert derived[2] == {
        "path": "b2.0.res",
        "name": "when",
        "expression": "$stride == 1 and $cin == $cout",
        "substituted": "1 == 1 and 32 == 32",
        "value": True,
        "text": "when = $stride == 1 and $cin == $cout = 1 == 1 and 32 == 32 = true",
    }
    assert main(["explain", mobile, "drop", "--format", "csv"]) == 0
    assert "drop,derived p,0.1,$p / 2,0.2 / 2" in capsys.readouterr().out.splitlines()


def test_doc_text_is_never_evaluated(mobile: str) -> None:
    assert analyze(mobile)["drop"].derived[0].name == "p"  # 'doc: p is $p / 2' stays text


# ---- refusals: one line with file:line and the layer, exit code 2, nothing on stdout -------------------------
SPEC = "name: t\ninput: [3, 8, 8]\nparams: {c: 8, w: 1.5, flag: true, many: [1, 2], label: abc}\nlayers:\n"
REFUSED = {
    "power": ("out: '$c ** 2'", "'**' is not allowed"),
    "python eval": ("out: 'eval($c)'", "unknown function 'eval'"),
    "python exec": ("out: \"exec('import os') or $c\"", "unknown function 'exec'"),
    "dunder import": ("out: \"__import__('os').getcwd() + $c\"", "attribute access ('.') is not allowed"),
    "dunder call": ("out: \"__import__('os') + $c\"", "unknown function '__import__'"),
    "no dollar is text": ("out: \"__import__('os')\"", "conv2d argument 'out': expected a whole number >= 1, got text"),
    "attribute": ("out: $c.__class__", "attribute access ('.') is not allowed"),
    "subscript": ("out: '$many[0]'", "indexing ('[...]') is not allowed"),
    "lambda": ("out: '(lambda: $c)()'", "lambda is not allowed"),
    "comprehension": ("out: '[x for x in $c]'", "a comprehension is not allowed"),
    "text constant": ("out: \"$c + 'a'\"", "text constants are not allowed"),
    "ternary": ("out: $c if $flag else 1", "'x if c else y' is not allowed"),
    "walrus": ("out: ($x := $c)", "':=' is not allowed"),
    "bare name": ("out: c * 2 + $c", "unknown name 'c'; write parameters as $c"),
    "unknown function": ("out: 'sqrt($c)'", "unknown function 'sqrt'"),
    "uncalled function": ("out: ceil + $c", "function 'ceil' must be called"),
    "keyword argument": ("out: 'round($c, ndigits=1)'", "round() takes positional arguments only"),
    "unknown param": ("out: $c * $k", "unknown parameter '$k' (known: $c, $flag, $label, $many, $w)"),
    "list param": ("out: $many * 2", "parameter '$many' is a list"),
    "text param": ("out: $label * 2", "parameter '$label' is text"),
    "bool arithmetic": ("out: $flag + 1", "arithmetic takes numbers, got true"),
    "not of a number": ("when: not $c", "and/or/not take true/false, got 8"),
    "compare bool with number": ("when: $flag == 1", "cannot compare true with 1"),
    "division by zero": ("out: $c / ($c - 8)", "division by zero (8 / 0)"),
    "modulo zero": ("out: $c % 0", "division by zero"),
    "wrong arity": ("out: make_divisible($c)", "make_divisible() takes 2 or 3 arguments, got 1"),
    "too many args": ("out: 'ceil($c, 2)'", "ceil() takes 1 argument, got 2"),
    "zero divisor": ("out: 'make_divisible($c, 0)'", "make_divisible()'s divisor must be 1 or more, got 0"),
    "huge constant": ("out: $c + 1" + "0" * 31, "is larger than the limit 10**30"),
    "huge result": ("out: $c * 1000000000000000 * 1000000000000000", "a value is larger than the limit 10**30"),
    "tiny denominator": ("out: $c / 1000000000000000 / 1000000000000000 / 10", "larger than the limit 10**30"),
    "infinite float": ("out: $c * 1e400", "the number inf is not finite"),
    "long expression": ("out: $c" + " + 1" * 100, f"characters; the limit is {MAX_CHARS}"),
    "syntax": ("out: $c +", "not a valid expression"),
    "unquoted comma": ("out: make_divisible($c, 8)", "parentheses do not match"),
    "lone dollar": ("out: $ c", "'$' must be followed by a parameter name"),
    "non-ascii": ("out: $c \u00d7 2", "only ASCII characters"),
    "not whole": ("out: $w * 3", "conv2d argument 'out': expected a whole number >= 1, got float 4.5"),
    "when not bool": ("when: $c + 1", "'when' must be true or false"),
}


def _spec(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "t.yaml"
    entry = "{name: conv, op: conv2d, kernel: 1, " + ("out: 4, " if not line.startswith("out") else "") + line + "}"
    path.write_text(f"{SPEC}  - {entry}\n")
    return path


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_is_one_line_with_file_line_and_layer(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line, message = REFUSED[case]
    path = _spec(tmp_path, line)
    assert main(["table", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"archcalc: error: {path}:5: layer 'conv': "), err
    assert message in err, err


def test_refusals_in_a_fresh_process(tmp_path: Path) -> None:
    """The real CLI in a subprocess: exit 2, one line, nothing on stdout, no traceback."""
    for case in ("dunder import", "huge result", "unknown param"):
        line, message = REFUSED[case]
        path = _spec(tmp_path, line)
        proc = subprocess.run(
            [sys.executable, "-m", "archcalc", "table", str(path)], cwd=ROOT, capture_output=True, text=True
        )
        assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
        assert proc.stderr.startswith(f"archcalc: error: {path}:5: layer 'conv': ") and message in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_error_in_a_block_names_its_line_and_the_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(
        "name: b\ninput: [3, 8, 8]\nblocks:\n  blk:\n    params: {c: null}\n    layers:\n"
        "      - {name: a, op: relu}\n"
        "      - {name: conv, op: conv2d, kernel: 1, out: $c // ($c - 4)}\n"
        "layers:\n  - {name: s, block: blk, args: {c: 8}}\n  - {name: u, block: blk, args: {c: 4}}\n"
    )
    assert main(["table", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"archcalc: error: {path}:8: layer 'u.conv': expression '$c // ($c - 4)': division by zero (4 // 0)\n"


def test_expression_errors_do_not_depend_on_the_call_order() -> None:
    """The parse is cached per text; a refused text is refused every time, a good one gives its value."""
    for _ in range(2):
        with pytest.raises(ExprError, match=r"'\*\*' is not allowed"):
            evaluate("$c ** 2", ENV)
        assert evaluate("$c * 2", ENV) == 48


def _doc_section() -> str:
    return (ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8").split("## Expressions\n", 1)[1]


def test_documented_example_runs_and_explains_as_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    section = _doc_section()
    path = tmp_path / "tiny-mobilenet.yaml"
    path.write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    report = analyze(str(path))
    assert report["stem"].output_shape == (24, 16, 16)  # make_divisible(16 * 1.4 = 22.4, 8) = 24
    assert [r.path for r in report.records if r.parent == "stage1"] == ["stage1.0", "stage1.1", "stage1.2"]
    assert "stage1.0.expand" not in {r.path for r in report.records}  # first: t 1
    assert report["stage1.1.dw"].output_shape == (192, 8, 8)  # round(32 * 6)
    assert report["head"].args["p"] == 0.15
    shown = section.split("For\n`stage1.1.dw` of the spec above:\n\n```\n", 1)[1].split("```", 1)[0].splitlines()
    assert main(["explain", str(path), "stage1.1.dw"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if "derived" in line] == shown
