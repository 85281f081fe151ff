"""Run many archcalc command lines in ONE process: JSON list of argv on stdin, JSON results on stdout.

Each command goes through the real entry point, ``archcalc.cli.app.main``, with its own stdout and
stderr; an exception that escapes ``main`` is recorded with its traceback, as a fresh process would
print it. One interpreter start instead of one per case (tests/test_bad_inputs.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback


def run(argv: list[str]) -> dict[str, object]:
    from archcalc.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: object = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:  # an escaped exception is what the test looks for
            traceback.print_exc()
            code = 1
    return {"argv": argv, "returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    real = sys.stdout
    json.dump([run(argv) for argv in cases], real)
