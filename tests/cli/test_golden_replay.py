"""Replaying stored metadata reproduces the golden events and tracked frames byte for byte."""

from __future__ import annotations

from pathlib import Path

from test_events_cli import edgesight

from support import REPO

GOLDEN = REPO / "tests" / "data" / "golden"


def test_replay_reproduces_golden_files(tmp_path: Path) -> None:
    result = edgesight(
        "events", GOLDEN / "vtest_raw.esb", "--config", GOLDEN / "vtest-device.yaml",
        "--out", tmp_path / "events.jsonl", "--frames-out", tmp_path / "tracked.esb",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "events.jsonl").read_bytes() == (GOLDEN / "vtest_events.jsonl").read_bytes()
    assert (tmp_path / "tracked.esb").read_bytes() == (GOLDEN / "vtest_tracked.esb").read_bytes()
