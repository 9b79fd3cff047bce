"""The public names of the agent package (changing them is an API change)."""

from __future__ import annotations

import importlib

import pytest

EXPORTS = {
    "edgesight.agent.outbox": ["DEFAULT_MAX_BYTES", "Outbox", "OutboxFullError", "OutboxItem", "OutboxStats"],
    "edgesight.agent.uplink": ["DownlinkHandler", "Uplink", "UplinkSettings", "UplinkStats"],
    "edgesight.agent.batching": ["Batch", "Batcher"],
    "edgesight.agent.heartbeat": ["HeartbeatClock"],
    "edgesight.agent.commands": ["COMMANDS", "PRIVACY_REFUSAL", "CommandHandler", "CommandOutcome"],
    "edgesight.agent.credentials": [
        "MIN_SECRET_BYTES", "Credentials", "load_credentials", "parse_broker", "parse_credentials",
    ],
    "edgesight.agent.twin": [
        "LIVE_SENSOR_KEYS", "DesiredConfig", "DesiredTwin", "PrivacyPolicy", "TwinState", "UploadPolicy",
        "load_applied", "merge_patch", "parse_desired", "resolve_twin", "save_applied",
    ],
    "edgesight.agent.runner": ["PRIVACY_REFUSAL", "Agent", "AgentSettings", "AgentStats"],
    "edgesight.agent.feeds": ["FrameFeed", "SensorFeed"],
    "edgesight.testing": ["FakeDevice", "SyntheticFeed", "mock_detections"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_exports(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPORTS[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"
