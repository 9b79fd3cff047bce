"""Hostile config inputs (issue 8 item 8) end in one ``error:`` line and exit 2, never a hang or traceback.

Each case once crashed or hung ``edgesight``: an alias bomb expanded without end, deep nesting
raised RecursionError, a very long source path raised OSError, and ``/dev/zero`` as a config was
read until memory ran out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgesight.core.config.safe_yaml import MAX_CONFIG_BYTES, MAX_DEPTH
from edgesight.core.exit_codes import ExitCode

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]

# Nine levels of nine: 9**9 (387 million) strings once expanded, from under 500 bytes.
ALIAS_BOMB = "\n".join(
    ['device_id: cam-1', 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["analytics:", "  zones: *l8"]
)


def edgesight(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # The timeout only stops a regression from hanging the suite; a pass takes about a second.
    return subprocess.run([*EDGESIGHT, *map(str, args)], capture_output=True, text=True, timeout=120)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a run that exited 2 without a traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == ExitCode.USAGE == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[0]


def sense_with(tmp_path: Path, text: str) -> str:
    config = tmp_path / "device.yaml"
    config.write_text(text)
    return refused(edgesight("sense", "--config", config, "--max-frames", "1"))


def test_alias_bomb_is_refused_at_the_first_alias(tmp_path: Path) -> None:
    line = sense_with(tmp_path, ALIAS_BOMB)
    assert "device.yaml: l1[0]: YAML aliases are not allowed in a config, got *l0 at line 3" in line


def test_a_single_alias_names_its_key(tmp_path: Path) -> None:
    text = "sensor: {roi: &r [0, 0, 1, 1]}\nanalytics:\n  heatmap: {grid: *r}\n"
    assert "analytics.heatmap.grid: YAML aliases are not allowed" in sense_with(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("analytics: " + "[" * 5000 + "]" * 5000, "analytics" + "[0]" * 10),  # flow lists
        ("sensor: " + "{a: " * 5000 + "1" + "}" * 5000, "sensor" + ".a" * 10),  # flow mappings
    ],
)
def test_nesting_past_the_limit_is_refused(tmp_path: Path, text: str, key: str) -> None:
    line = sense_with(tmp_path, text)
    assert f"device.yaml: {key}" in line and f"nested deeper than {MAX_DEPTH} levels" in line


def test_config_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    text = "device_id: cam-1\n" + "# padding\n" * (MAX_CONFIG_BYTES // 10 + 1)
    assert f"is larger than {MAX_CONFIG_BYTES // 1024} KiB" in sense_with(tmp_path, text)


def test_a_device_is_not_a_config_file() -> None:
    assert "config /dev/zero is not a regular file" in refused(edgesight("sense", "--config", "/dev/zero"))


def test_config_path_of_5000_characters(tmp_path: Path) -> None:
    line = refused(edgesight("sense", "--config", tmp_path / ("c" * 5000)))
    assert "cannot read config" in line and "File name too long" in line and "(5" in line
    assert len(line) < 400  # the path is quoted cut, with its length


@pytest.mark.parametrize("source", ["a" * 5000, "videos/" + "b" * 300 + ".avi"])
def test_source_path_too_long_for_the_os_in_the_config(tmp_path: Path, source: str) -> None:
    line = sense_with(tmp_path, f"sensor:\n  source: {source}\n")
    assert "device.yaml: sensor.source:" in line and len(line) < 400
    assert "at most 1024 characters" in line or "a path component is 304 bytes long" in line


def test_source_path_too_long_for_the_os_on_the_command_line() -> None:
    line = refused(edgesight("sense", "--source", "a" * 5000, "--max-frames", "1"))
    assert "--source: at most 1024 characters are allowed, got 5000" in line
