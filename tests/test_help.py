"""Every command's --help (all of them, whoever wrote them) shows examples that name the command."""

from __future__ import annotations

import pytest

from archcalc.cli.app import app, main

COMMANDS = sorted(app.commands)


def test_the_issue_commands_exist() -> None:
    assert {"table", "list", "compare", "schema"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    heading = next((i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:")), None)
    assert heading is not None, f"'archcalc {name} --help' has no Examples section"
    examples = [line.strip() for line in lines[heading + 1 :] if line.startswith("    archcalc ")]
    assert examples, f"no example lines under {lines[heading]!r}"
    for ex in examples:
        assert ex.startswith(f"archcalc {name}"), ex
