"""`edgesight models`: the zoo as this machine runs it, with the default marked."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from edgesight.sensor.runtime_policy import default_model, open_network
from edgesight.sensor.zoo import load_model, zoo_names

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def models(*args: str) -> str:
    result = subprocess.run(
        [*EDGESIGHT, "models", *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "220"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows(table: str) -> dict[str, list[str]]:
    """Table rows by model name (the '(default)' marker stripped), cells trimmed."""
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        name = cells[0].removesuffix(" (default)")
        if name in zoo_names():
            out[name] = cells
    return out


def test_every_zoo_model_is_listed_with_the_runtime_it_would_run_on_and_the_default_marked() -> None:
    listed = rows(models("--runs", "0"))
    assert sorted(listed) == sorted(zoo_names())
    default = default_model()
    assert [n for n, cells in listed.items() if cells[0].endswith("(default)")] == [default]
    for name, cells in listed.items():
        assert cells[-2] == open_network(load_model(name)).runtime, name  # what loading it gives
        assert cells[-1] == "-"  # --runs 0: not timed


def test_timed_runs_print_a_latency() -> None:
    cells = rows(models("--runs", "2"))[default_model()]
    assert re.fullmatch(r"\d+\.\d", cells[-1]) and float(cells[-1]) > 0
