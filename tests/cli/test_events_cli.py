"""`sense --config` runs the apps live; `edgesight events` replays metadata to the same events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgesight.core.config import load_config
from edgesight.sensor.zoo import configured_model
from support import REPO

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]
CONFIG = REPO / "examples" / "vtest-device.yaml"


def edgesight(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGESIGHT, *map(str, args)], capture_output=True, text=True, timeout=300)


def event_keys(path: Path) -> list[tuple[str, int, str, list[int]]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(e["type"], e["frame_index"], e["rule"], e["track_ids"]) for e in rows]


def test_replay_of_raw_metadata_reproduces_live_events(vtest_path: Path, tmp_path: Path) -> None:
    # Metadata has no pixels, so a replay tracks on motion alone: the live run must too to match.
    config = tmp_path / "device.yaml"
    config.write_text(CONFIG.read_text().replace("    max_lost_s: 3", "    max_lost_s: 3\n    appearance: false"))
    live = edgesight("sense", "--config", config, "--source", vtest_path, "--max-frames", "150",
                     "--out", tmp_path / "live.jsonl")  # fmt: skip
    assert live.returncode == 0, live.stderr
    assert "line west-gate" in live.stdout and "zone walkway now" in live.stdout
    # The same sensor settings as the config's (its model: this machine's default; whole frame,
    # score 0.2), without the apps.
    model = configured_model(load_config(CONFIG).sensor)
    raw = edgesight("sense", "--source", vtest_path, "--max-frames", "150", "--model", model,
                    "--tiling", "off", "--score", "0.2", "--out", tmp_path / "raw.jsonl")  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    replay = edgesight(
        "events", tmp_path / "raw.jsonl", "--config", config, "--out", tmp_path / "replay.jsonl"
    )
    assert replay.returncode == 0, replay.stderr
    live_events = event_keys(tmp_path / "live.events.jsonl")
    assert len(live_events) > 20
    assert {kind for kind, *_ in live_events} >= {"line_crossing", "zone_enter", "zone_count"}
    assert event_keys(tmp_path / "replay.jsonl") == live_events
    # The live frame records carry track ids.
    record = json.loads((tmp_path / "live.jsonl").read_text().splitlines()[50])
    assert all("track_id" in d for d in record["detections"])


def test_bad_config_names_key_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "device.yaml"
    bad.write_text(CONFIG.read_text().replace("[0.0, 0.30], [0.62, 0.28]", "[0.0, 0.30], [1.62, 0.28]"))
    result = edgesight("sense", "--config", bad, "--max-frames", "1")
    assert result.returncode == 2
    assert "analytics.zones" in result.stderr and "1.62" in result.stderr


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "device.yaml"
    bad.write_text(CONFIG.read_text().replace("stream_id: main", "stream_id: main\nstreem: typo"))
    result = edgesight("sense", "--config", bad, "--max-frames", "1")
    assert result.returncode == 2 and "streem" in result.stderr
