"""Snapshot every command's output on every bundled spec and variant, to compare two versions of archcalc.

    python scripts/snapshot.py before.json      # on the old code
    python scripts/snapshot.py after.json       # on the new code
    python scripts/snapshot.py --diff before.json after.json

Variants: each spec at its default input, at a smaller square input, and with each boolean param flipped and
each documented --set (see VARIANTS). Outputs are captured in-process through the real CLI app.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
VARIANTS: dict[str, list[list[str]]] = {
    "resnet50": [["--set", "first_s1=2", "--set", "first_s3=1"]],
    "resnet101": [["--set", "first_s1=2", "--set", "first_s3=1"]],
    "vgg11": [["--set", "batch_norm=true"]],
}
COMMANDS: list[list[str]] = [
    ["table", "-f", "json"],
    ["table", "-f", "csv", "--rf", "--convention", "fvcore"],
    ["table", "-f", "markdown", "--depth", "1"],
    ["explain", "-f", "json"],
    ["rf", "-f", "json"],
    ["memory", "-f", "json"],
    ["flops", "-f", "json"],
    ["deconv", "-f", "json"],
    ["minsize"],
]


def specs() -> list[str]:
    out = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    return [*out, str(ROOT / "examples" / "tiny-resnet.yaml")]


def variants(name: str) -> list[list[str]]:
    from archcalc.frontend.spec import load_spec

    spec = load_spec(name)  # a variant that extends a base spec has the base's params and input too
    out: list[list[str]] = [[]]
    for key, val in spec.params.items():
        if isinstance(val, bool):
            out.append(["--set", f"{key}={str(not val).lower()}"])
    out.extend(VARIANTS.get(name, []))
    shape = list(spec.input)
    if len(shape) == 3 and shape[1] >= 96:
        out.append(["--input", f"{shape[0]}x{shape[1] // 2 + 3}x{shape[2] // 2 + 1}"])
    return out


def snapshot() -> dict[str, str]:
    from archcalc.cli.app import app

    runner = CliRunner()
    result: dict[str, str] = {}
    for name in specs():
        for var in variants(name):
            for cmd in COMMANDS:
                argv = [cmd[0], name, *cmd[1:], *var]
                r = runner.invoke(app, argv)
                key = " ".join(argv).replace(str(ROOT) + "/", "")
                result[key] = f"exit={r.exit_code}\n{r.stdout}\n{_err(r)}"
            argv = ["sweep", name, "--input", "64:320:32", "-f", "json", *[v for v in var if v != "--input"]]
            if "--input" not in var:
                r = runner.invoke(app, argv)
                result[" ".join(argv).replace(str(ROOT) + "/", "")] = f"exit={r.exit_code}\n{r.stdout}\n{_err(r)}"
    return result


def _err(r: object) -> str:
    try:
        return str(r.stderr)  # type: ignore[attr-defined]
    except ValueError:
        return ""


def diff(a: str, b: str) -> int:
    before, after = json.loads(Path(a).read_text()), json.loads(Path(b).read_text())
    bad = [k for k in before if before[k] != after.get(k)]
    missing = [k for k in after if k not in before]
    for k in bad[:20]:
        print(f"DIFFERS: {k}")
    print(f"{len(before)} outputs compared, {len(bad)} differ, {len(missing)} new")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "--diff":
        sys.exit(diff(sys.argv[2], sys.argv[3]))
    Path(sys.argv[1]).write_text(json.dumps(snapshot(), indent=0, sort_keys=True))
