"""Hostile inputs (issue 13) that tests/bad/EXPECTED cannot hold: special files, rich markup, a terminal.

The CLI cases run the real CLI in a fresh process: a bad input gets exit code 2, exactly one line on
stderr, nothing on stdout and no traceback. The rest check the parsers' bounds in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archcalc.claims.figure import MAX_EXP, parse_value
from archcalc.errors import ArchcalcError, describe, printable, show
from archcalc.frontend.spec import parse_input
from archcalc.frontend.yamlio import load_text

ROOT = Path(__file__).resolve().parent.parent
MARKUP = "[/x] [bold]kept[/bold] :thumbs_up: [link=file:///etc]"


def archcalc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archcalc", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"archcalc: error: {expected}"]


# --- files that are not regular files -------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("command", ["check", "table"])
def test_fifo_is_refused_without_blocking(command: str, tmp_path: Path) -> None:
    fifo = tmp_path / "claims.yaml"
    os.mkfifo(fifo)
    assert_one_line_error(archcalc(command, str(fifo), timeout=30), f"{fifo}: not a regular file (a pipe)")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("command", ["check", "table"])
def test_endless_device_is_refused_before_reading(command: str) -> None:
    proc = archcalc(command, "/dev/zero", timeout=30)
    assert_one_line_error(proc, "/dev/zero: not a regular file (a character device)")


# --- claimed numbers --------------------------------------------------------------------------------


def test_huge_exponent_is_refused_at_once(tmp_path: Path) -> None:
    claims = tmp_path / "c.yaml"
    claims.write_text('spec: lenet5\nclaims:\n  - {quantity: params, value: "1e100000"}\n')
    start = time.perf_counter()
    proc = archcalc("check", str(claims))
    assert time.perf_counter() - start < 20  # it took longer than 20 s before
    assert_one_line_error(
        proc,
        f"{claims}:3: claimed value '1e100000' is out of range: its power of ten (exponent and multiplier "
        f"together) must be between -{MAX_EXP} and {MAX_EXP}",
    )


def test_failing_figure_far_from_its_scale_shows_the_real_value(tmp_path: Path) -> None:
    """'6e29' against 60,000 printed 'actual 0.0e310'-like text: a value of 0 that is not 0."""
    claims = tmp_path / "c.yaml"
    claims.write_text('spec: lenet5\nclaims:\n  - {quantity: params, value: "6e29"}\n')
    proc = archcalc("check", str(claims), "--format", "markdown")
    assert proc.returncode == 1, proc.stderr
    assert "actual params = 6.0e4 (60,000)" in proc.stdout
    assert "0.0e" not in proc.stdout


@pytest.mark.parametrize(
    ("text", "actual", "shown"),
    [
        ("15.5 GFLOPs", 15_449_999_999, "15.4G"),
        ("15.5 GFLOPs", 15_450_000_000, "15.5G"),  # half up, as holds() rounds
        ("60M", 50_000, "0.050M"),  # two significant digits, never 0.0M
        ("6e30", 60_000, "6.0e4"),
        ("1e-30", 7, "7.0e0"),
        ("3.8e9", 0, "0.0G"),
    ],
)
def test_actual_value_written_like_the_claim(text: str, actual: int, shown: str) -> None:
    assert parse_value(text, ("f", 1)).alike(actual) == shown


@pytest.mark.parametrize(
    "text",
    [
        "1e31",
        "1e-31",
        "1e20 T",
        "6e-400",
        "1e" + "9" * 5000,
        "1" * 31,
        "1." + "0" * 40 + "M",
        "\u0666\u0660M",
        "\u0666x28x28",
    ],
)
def test_claimed_value_out_of_range_is_one_error(text: str) -> None:
    with pytest.raises(ArchcalcError):
        parse_value(text, ("f", 1))


@pytest.mark.parametrize("value", [float("inf"), float("nan"), {"a": 1}, None, True, [0], [2, "x"], 10**40])
def test_claimed_value_of_the_wrong_kind_is_one_error(value: object) -> None:
    with pytest.raises(ArchcalcError):
        parse_value(value, ("f", 1))


# --- rich markup in user text ------------------------------------------------------------------------


def test_markup_in_claims_is_printed_as_written(tmp_path: Path) -> None:
    claims = tmp_path / "c.yaml"
    claims.write_text(
        f"title: '{MARKUP}'\nspec: lenet5\nsource: '{MARKUP}'\nclaims:\n"
        f"  - {{claim: '{MARKUP}', quantity: params, value: 60000}}\n"
        f"  - {{claim: '{MARKUP} 2', quantity: params, value: 7, note: '{MARKUP}'}}\n"
    )
    proc = archcalc("check", str(claims))  # the rich layout even when piped
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    assert f"2. FAILS: {MARKUP} 2" in proc.stdout
    assert f"note: {MARKUP}" in proc.stdout
    assert "[/x]" in proc.stdout.split("\n", 6)[4]  # the table row, not only the details


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_markup_in_spec_title_reaches_the_terminal_as_written(tmp_path: Path) -> None:
    import pty

    spec = tmp_path / "net.yaml"
    spec.write_text(f"name: net\ntitle: '{MARKUP}'\ninput: [3, 8, 8]\nlayers:\n  - {{op: relu, name: r}}\n")
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "NO_COLOR": "1", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "archcalc", "table", str(spec)],
        cwd=ROOT,
        stdout=follower,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
    assert f"net: {MARKUP}" in out.decode("utf-8")


# --- YAML and messages -------------------------------------------------------------------------------

HOSTILE_SCALARS = [
    "2001-02-30",
    "2001-12-14t21:59:43.10-99:99",
    '!!binary "@@@"',
    '!!int "abc"',
    "!!float x",
    "!!bool maybe",
    "!!null x",
    '!!timestamp "x"',
    "!!set {a}",
    "!!map [1]",
    "!!seq {a: 1}",
    "!!omap [a]",
    "!!python/object:os.system x",
    "!custom x",
    "0b_",
    "0x_",
    "._",
    "<<",
    "=",
    "1" * 5000,
    "1.0e+99999",
    "!!int " + "1" * 200,
    '"\\e[31m\\0"',
]


@pytest.mark.parametrize("scalar", HOSTILE_SCALARS)
def test_any_yaml_scalar_loads_or_is_one_located_error(scalar: str) -> None:
    try:
        load_text(f"a: 1\nb: {scalar}\n", file="f.yaml")
    except ArchcalcError as err:
        assert str(err).startswith("f.yaml:2: ")
        assert "\n" not in str(err)


def test_str_tag_and_dates_are_text() -> None:
    doc = load_text("a: !!str 3\nb: 2001-02-30\nc: 2001-01-01\nd: =\n", file="f")
    assert doc == {"a": "3", "b": "2001-02-30", "c": "2001-01-01", "d": "="}


def test_messages_escape_control_characters() -> None:
    err = ArchcalcError("unknown key 'a\x1b[2J\x00\u202eb'\nnext", file="f\x07.yaml", line=3)
    assert str(err) == "f\\x07.yaml:3: unknown key 'a\\x1b[2J\\x00\\u202eb' next"
    assert printable("plain é \u00d7 ≈ text") == "plain é \u00d7 ≈ text"


def test_values_are_shown_as_yaml_not_python() -> None:
    doc = load_text("m: {a: 1, b: [x, true, null]}\n", file="f")
    assert describe(doc["m"]) == "mapping {a: 1, b: [x, true, null]}"
    assert describe("3") == "text '3'"
    assert describe(8.5) == "float 8.5"
    assert show(list(range(10**5))).endswith(", ...]")
    assert "digits" in show(10**5000)  # str() of it would raise


@pytest.mark.parametrize(
    "text", ["1x3_2x32", "1x+32x32", "\u0663x32x32", " 3x32x32", "3x32x32\n", "3x32x32x1", "x3", "3x", "", "3,32,32"]
)
def test_input_text_is_strict(text: str) -> None:
    with pytest.raises(ArchcalcError, match="must look like 3x224x224"):
        parse_input(text)


def test_input_text_accepts_the_plain_forms() -> None:
    assert parse_input("3x224x224") == (3, 224, 224)
    assert parse_input("3X32X32") == (3, 32, 32)
    assert parse_input("10") == (10,)
    with pytest.raises(ArchcalcError, match="larger than the limit"):
        parse_input("3x" + "9" * 5000)
