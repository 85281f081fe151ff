"""`archcalc table` and `list`: formats, JSON keys, totals, no torch import, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from archcalc.analysis.records import analyze
from archcalc.cli.app import main

LAYER_KEYS = {
    "path", "name", "op", "input_shape", "output_shape",
    "params", "trainable_params", "buffers", "connections", "macs", "activations",
}  # fmt: skip
COUNT_KEYS = {"params", "trainable_params", "buffers", "connections", "macs", "activations"}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_keys_and_totals(spec_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["table", spec_name, "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert {"model", "input", "layers", "totals"} <= set(data)
    assert all(set(layer) >= LAYER_KEYS for layer in data["layers"])
    assert set(data["totals"]) >= COUNT_KEYS
    for key in COUNT_KEYS:  # column sums equal the totals
        assert sum(layer[key] for layer in data["layers"]) == data["totals"][key]
        assert all(isinstance(layer[key], int) for layer in data["layers"])


def test_csv_columns_sum_to_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["table", "alexnet", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    body = [r for r in rows[:-1] if r["params"]]  # block header rows carry no counts of their own
    total = rows[-1]
    assert total["layer"] == "total"
    for col in ("params", "connections", "MACs"):
        assert sum(int(r[col]) for r in body) == int(total[col])
    assert int(total["params"]) == 61_100_840


def test_rich_table_lenet5(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["table", "lenet5"], capsys)
    assert code == 0
    assert "122,304" in out and "60,000" in out and "1,516" in out


def test_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["table", "lenet5", "--format", "markdown"], capsys)
    assert code == 0
    assert "| C1 | conv2d | k5 s1 p0 | 6x28x28 | 156 | 122,304 | 117,600 |" in out


def test_input_and_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["table", "alexnet-227", "--input", "3x227x227", "--set", "num_classes=5", "-f", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["layers"][-1]["output_shape"] == [5]
    assert data["input"] == [3, 227, 227]


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["list", "--format", "json"], capsys)
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["lenet5"]["params"] == 60_000
    assert rows["alexnet"]["params"] == 61_100_840


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["table", "no-such-net"], "archcalc: error: unknown spec 'no-such-net'"),
        (["table", "lenet5", "--set", "depth=3"], "archcalc: error: specs/lenet5.yaml: --set depth: unknown parameter"),
        (
            ["table", "lenet5", "--input", "1x4x4"],
            "archcalc: error: --input: 1x4x4 does not fit the network: specs/lenet5.yaml:14: layer 'C1': kernel 5",
        ),
    ],
)
def test_errors_are_one_line_exit_2(args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(expected)
    assert err.count("\n") == 1


def test_table_does_not_import_torch() -> None:
    code = (
        "import sys; from archcalc.cli.app import main; main(['table', 'lenet5', '-f', 'json']); "
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchinfo', 'fvcore'})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stderr == "[]"


def test_analyze_counts_are_ints(spec_name: str) -> None:
    r = analyze(spec_name)
    for rec in r.records:
        for value in rec.counts.to_dict().values():
            assert type(value) is int
