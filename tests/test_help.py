"""Every command's --help (all of them, whoever wrote them) shows examples that name the command, and every
example runs: its command line is taken from the help text and run through main from a scratch folder that
sees the repository's examples/ (shell globs expanded, a '> file' redirect written)."""

from __future__ import annotations

import glob
import shlex
from pathlib import Path

import click
import pytest

from archcalc.cli.app import app, main

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = sorted(app.commands)


def help_text(name: str) -> str:
    cmd = app.commands[name]
    with click.Context(app, info_name="archcalc") as parent:
        return cmd.get_help(click.Context(cmd, info_name=name, parent=parent))


def examples(text: str) -> list[str]:
    """The example command lines: the lines under 'Example:' or 'Examples:' that start with 'archcalc '."""
    lines = text.splitlines()
    heading = next((i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:")), None)
    if heading is None:
        return []
    return [line.strip() for line in lines[heading + 1 :] if line.strip().startswith("archcalc ")]


EXAMPLES = [(name, ex) for name in COMMANDS for ex in examples(help_text(name))]


def test_the_issue_commands_exist() -> None:
    assert {"table", "list", "compare", "schema"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert examples(out) == examples(help_text(name))
    found = examples(out)
    assert found, f"'archcalc {name} --help' has no Examples section with example lines"
    for ex in found:
        assert ex.startswith(f"archcalc {name}"), ex
    # an example is one line, never wrapped by the help formatter (click wraps at 80 columns)
    body = out.split("Example", 1)[1].split("\n\n")
    assert all(len(p.strip().splitlines()) == 1 for p in body if p.strip().startswith("archcalc ")), out


def _argv(words: list[str]) -> list[str]:
    argv: list[str] = []
    for word in words:
        argv += sorted(glob.glob(word)) if any(c in word for c in "*?[") else [word]
    return argv


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[ex for _, ex in EXAMPLES])
def test_every_help_example_runs(
    name: str, example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if name == "maps" or "--image" in example:
        pytest.importorskip("torch")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    words = shlex.split(example)
    target = None
    if ">" in words:
        target = words[words.index(">") + 1]
        words = words[: words.index(">")]
    argv = _argv(words[1:])
    assert all(Path(a).exists() for a in argv if a.startswith("examples/")), argv
    code = main(argv)
    out, err = capsys.readouterr()
    assert err == "", err
    # check's exit code 1 says a claim fails (examples/claims/well-known.yaml has three on purpose)
    assert code == 0 or (name == "check" and code == 1 and "fail" in out), (code, out[-500:])
    assert out.strip()
    if target is not None:
        Path(target).write_text(out)
