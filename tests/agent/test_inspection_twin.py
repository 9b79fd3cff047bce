"""The product threshold from the device twin: the agent's saved twin, followed by an inspection station."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgesight.agent.inspection_twin import TwinFollower
from edgesight.agent.twin import parse_desired, resolve_twin, save_applied
from edgesight.core.config import DeviceConfig
from edgesight.core.errors import SchemaError
from edgesight.sensor.inspection.inspector import Inspector, train_product
from edgesight.sensor.inspection.station import Station
from edgesight.sensor.inspection.triggers import PartRequest
from inspection_set import make_parts


def _save(path: Path, version: int, thresholds: dict[str, float]) -> None:
    """Save a twin as the agent does after validating and applying it."""
    body = {"version": version, "config": {"inspection": {"thresholds": thresholds}}}
    save_applied(path, parse_desired(json.dumps(body)))


def test_threshold_in_the_twin_changes_the_next_parts_decision_without_restart(tmp_path: Path) -> None:
    goods, _ = make_parts("brick", 9, 0, seed=3)
    inspector = Inspector(train_product("brick", [p.image for p in goods[:8]]))
    part = goods[8].image
    calibrated = inspector.threshold
    twin = tmp_path / "agent-data" / "twin.json"
    follower = TwinFollower(twin, inspector)
    answers: list[dict[str, Any]] = []
    station = Station(inspector, lambda _e: None, grab=lambda: part)

    assert follower() is False and inspector.threshold == calibrated  # no twin yet
    _save(twin, 2, {"brick": 0.0})
    assert follower() is True and inspector.threshold == 0.0
    station.handle(PartRequest("P-1", None, answers.append))
    assert follower() is False  # the same file: nothing to do
    _save(twin, 3, {"brick": calibrated * 100})
    assert follower() is True and follower.version == 3
    station.handle(PartRequest("P-2", None, answers.append))
    _save(twin, 4, {"housing": 0.0})  # another product's threshold: this one keeps its own
    assert follower() is False and inspector.threshold == calibrated * 100
    assert [(a["part_id"], a["passed"], a["threshold"]) for a in answers] == [
        ("P-1", False, 0.0), ("P-2", True, round(calibrated * 100, 6)),
    ]  # fmt: skip


def test_the_agent_validates_and_reports_the_inspection_section() -> None:
    twin = parse_desired(b'{"version": 5, "config": {"inspection": {"thresholds": {"brick": 0.7}}}}')
    assert resolve_twin(twin, DeviceConfig()).reported().state["inspection"] == {"thresholds": {"brick": 0.7}}
    with pytest.raises(SchemaError, match=r"config\.inspection\.thresholds\.brick: Input should be greater than or equal to 0"):
        parse_desired(b'{"version": 6, "config": {"inspection": {"thresholds": {"brick": -1}}}}')
    with pytest.raises(SchemaError, match=r"config\.inspection\.thresholds"):
        parse_desired(b'{"version": 6, "config": {"inspection": {"thresholds": {"Bracket A": 1}}}}')
