"""Run every command on every bundled spec through the real CLI app; print what fails (a development aid).

    python scripts/allcommands.py [SPEC ...]

A command fails when it exits with anything but 0, except `deconv`, which may refuse a network in one line
(exit 2) when it cannot mirror it. Prints one line per failure and a count.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [
    ["table"],
    ["explain", "-f", "json"],
    ["rf"],
    ["memory"],
    ["minsize"],
    ["flops"],
    ["sweep", "--input", "224:320:32"],
    ["deconv", "-f", "json"],
    ["draw", "-o", str(Path(tempfile.gettempdir()) / "allcommands-draw.svg")],
]


def main() -> int:
    names = sys.argv[1:] or sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    runner, bad = CliRunner(), 0
    for name in names:
        for cmd in COMMANDS:
            args = [cmd[0], name, *cmd[1:]]
            res = runner.invoke(app, args)
            line = (res.stderr or res.output).strip().splitlines()[-1:] if res.exit_code else []
            if res.exit_code and not (cmd[0] == "deconv" and res.exit_code == 2):
                bad += 1
                print(f"FAIL {' '.join(args)} -> {res.exit_code}: {line}")
            elif res.exit_code:
                print(f"note {' '.join(args)}: {line}")
    print(f"{bad} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
