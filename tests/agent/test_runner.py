"""The agent loop with a synthetic feed, a real broker and the fake hub: twin, commands, privacy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fakehub import CredsMaker, FakeHub, wait_until

from edgesight.agent.credentials import Credentials
from edgesight.agent.outbox import Outbox
from edgesight.agent.runner import PRIVACY_REFUSAL, Agent, AgentSettings
from edgesight.agent.twin import TwinState, parse_desired, resolve_twin
from edgesight.agent.uplink import UplinkSettings
from edgesight.core.config import COCO_LABELS, DeviceConfig, parse_config
from edgesight.core.errors import ConfigError, SchemaError, SourceError
from edgesight.core.events import Event
from edgesight.core.frame import FrameMeta
from edgesight.core.wire import (
    Command,
    CommandResult,
    DesiredTwin,
    EventBatch,
    Kind,
    Leaf,
    ReportedTwin,
    decode_batch,
    topic,
)
from edgesight.testing import SyntheticFeed

FAST = UplinkSettings(
    window=16, ack_timeout_s=0.5, max_ack_timeout_s=2.0, reconnect_min_s=1, reconnect_max_s=2
)
LINE = {"name": "mid", "start": [0.0, 0.5], "end": [1.0, 0.5], "min_frames_on_side": 2}
ZONE = {"name": "till", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}


def _config(creds: Credentials, analytics: dict[str, Any] | None = None) -> DeviceConfig:
    return parse_config(
        {"device_id": creds.device_id, "analytics": analytics or {"tracking": {"min_hits": 1}}}
    )


@contextmanager
def running(agent: Agent) -> Iterator[threading.Thread]:
    thread = threading.Thread(target=agent.run, name="agent-under-test")
    thread.start()
    try:
        yield thread
    finally:
        agent.stop()
        thread.join(30)


@contextmanager
def hub_for(creds: Credentials, broker: tuple[str, int]) -> Iterator[FakeHub]:
    with FakeHub(*broker, {creds.device_id: creds.secret}) as hub:
        try:
            yield hub
        finally:  # never leave a retained twin on the shared broker
            hub.client.publish(
                topic(creds.device_id, Leaf.DESIRED), b"", qos=1, retain=True
            ).wait_for_publish(5)


def _results(hub: FakeHub, device_id: str) -> dict[str, CommandResult]:
    return {r.command_id: r for r in hub.decoded(device_id, Kind.COMMAND_RESULT) if isinstance(r, CommandResult)}


def _reported(hub: FakeHub, device_id: str) -> list[ReportedTwin]:
    return [r for r in hub.decoded(device_id, Kind.REPORTED) if isinstance(r, ReportedTwin)]


def _events(hub: FakeHub, device_id: str) -> list[Event]:
    return [e for b in hub.decoded(device_id, Kind.EVENTS) if isinstance(b, EventBatch) for e in b.events]


def test_live_twin_change_adds_a_line(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    feed = SyntheticFeed(creds.device_id, fps=60)
    agent = Agent(
        _config(creds), creds, feed, AgentSettings(tmp_path, batch_frames=10, heartbeat_s=0.5, uplink=FAST)
    )
    with hub_for(creds, system_broker) as hub, running(agent) as thread:
        assert wait_until(lambda: len(hub.messages(creds.device_id, Kind.HEARTBEAT)) >= 2, 10)
        assert not _events(hub, creds.device_id)
        desired = DesiredTwin(1, {"analytics": {"tracking": {"min_hits": 1}, "lines": [LINE]}})
        hub.send(creds.device_id, desired, retain=True)
        assert wait_until(lambda: _reported(hub, creds.device_id), 10)
        reported = _reported(hub, creds.device_id)[0]
        assert reported.version == 1
        assert [line["name"] for line in reported.state["analytics"]["lines"]] == ["mid"]

        def crossings() -> list[Event]:
            return [e for e in _events(hub, creds.device_id) if e.type == "line_crossing"]

        assert wait_until(lambda: len(crossings()) >= 2, 15), "the new line never counted"
        assert thread.is_alive(), "the agent must apply the twin without restarting"
        assert agent.stats.twins_applied == 1 and agent.state.version == 1
    assert (tmp_path / "twin.json").is_file()


def test_invalid_twin_is_reported_not_applied(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    agent = Agent(
        _config(creds), creds, SyntheticFeed(creds.device_id, fps=60), AgentSettings(tmp_path, uplink=FAST)
    )
    with hub_for(creds, system_broker) as hub, running(agent):
        assert wait_until(lambda: agent._uplink is not None and agent._uplink.subscribed.is_set(), 10)
        bad_line = {**LINE, "classes": ["persn"]}
        hub.send(creds.device_id, DesiredTwin(2, {"analytics": {"lines": [bad_line]}}))
        assert wait_until(lambda: _reported(hub, creds.device_id), 10)
        report = _reported(hub, creds.device_id)[0]
        assert report.version == 0 and "did you mean 'person'" in report.state["error"]
        assert agent.stats.twins_rejected == 1 and agent.analytics.lines is None


def test_privacy_refuses_snapshot_and_upload_commands(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    agent = Agent(
        _config(creds),
        creds,
        SyntheticFeed(creds.device_id, fps=60),
        AgentSettings(tmp_path, batch_frames=5, uplink=FAST),
    )
    with hub_for(creds, system_broker) as hub, running(agent):
        assert wait_until(lambda: hub.messages(creds.device_id, Kind.FRAMES), 10)
        hub.send(creds.device_id, Command("s1", "snapshot"))
        assert wait_until(lambda: "s1" in _results(hub, creds.device_id), 10)
        assert _results(hub, creds.device_id)["s1"] == CommandResult("s1", False, PRIVACY_REFUSAL)

        hub.send(creds.device_id, Command("u1", "stop_upload"))
        assert wait_until(lambda: "u1" in _results(hub, creds.device_id), 10)
        assert _results(hub, creds.device_id)["u1"].ok is True
        assert wait_until(lambda: agent.stats.frames_not_uploaded > 20, 10)
        assert _reported(hub, creds.device_id)[-1].state["upload"]["enabled"] is False

        hub.send(creds.device_id, DesiredTwin(5, {"privacy": {"allow_images": True}}))
        hub.send(creds.device_id, Command("s2", "snapshot"))
        hub.send(creds.device_id, Command("x", "reboot"))
        assert wait_until(lambda: {"s2", "x"} <= set(_results(hub, creds.device_id)), 10)
        results = _results(hub, creds.device_id)
        assert results["s2"].ok is False and "metadata only" in str(results["s2"].detail)
        assert results["x"].ok is False and "unknown command" in str(results["x"].detail)


def test_keeps_sensing_without_a_broker(tmp_path: Path, make_creds: CredsMaker) -> None:
    from fakehub import free_port

    creds = make_creds(free_port())  # nothing listens there
    agent = Agent(
        _config(creds, {"tracking": {"min_hits": 1}, "lines": [LINE]}),
        creds,
        SyntheticFeed(creds.device_id, fps=0),
        AgentSettings(tmp_path, batch_frames=10, max_frames=200, drain_timeout_s=0.5, uplink=FAST),
    )
    stats = agent.run()
    assert stats.frames == 200 and not stats.drained and stats.events > 0
    with Outbox(tmp_path / "outbox.sqlite") as box:
        kinds = [i.kind for i in box.pending(1000)]
    assert kinds.count(Kind.FRAMES) == 20 and Kind.EVENTS in kinds and Kind.HEARTBEAT in kinds


def test_config_and_credentials_must_agree(tmp_path: Path, make_creds: CredsMaker) -> None:
    creds, other = make_creds(1883), make_creds(1883)
    with pytest.raises(ConfigError, match="credentials are for"):
        Agent(_config(other), creds, SyntheticFeed(creds.device_id), AgentSettings(tmp_path))


def test_twin_merges_over_the_config_file() -> None:
    base = parse_config({"analytics": {"tracking": {"min_hits": 2}, "lines": [LINE]}})
    twin = parse_desired(
        json.dumps(
            {
                "version": 4,
                "config": {
                    "sensor": {"roi": [0, 0, 1, 0.5], "score_threshold": 0.5},
                    "analytics": {"zones": [ZONE]},
                },
            }
        )
    )
    state = resolve_twin(twin, base, COCO_LABELS)
    assert state.pending_restart == ("roi",)  # thresholds are live
    assert state.analytics.tracking.min_hits == 2 and [x.name for x in state.analytics.lines] == ["mid"]
    assert [z.name for z in state.analytics.zones] == ["till"]
    assert state.reported().state["pending_restart"] == ["roi"]
    removed = resolve_twin(
        parse_desired(json.dumps({"version": 5, "config": {"analytics": {"lines": []}}})), base
    )
    assert removed.analytics.lines == []
    with pytest.raises(SchemaError, match=r"config.analytics: zones.0.polygon"):
        bad = {**ZONE, "polygon": [[0, 0], [1, 1]]}
        resolve_twin(
            parse_desired(json.dumps({"version": 6, "config": {"analytics": {"zones": [bad]}}})), base
        )
    with pytest.raises(SchemaError, match=r"config\.colour"):
        parse_desired(json.dumps({"version": 6, "config": {"colour": 1}}))
    assert TwinState.from_config(base).version == 0


class _BrokenFeed(SyntheticFeed):
    def frames(self, max_frames: int | None) -> Iterator[FrameMeta]:
        yield from super().frames(15)
        raise SourceError("camera unplugged")


def test_a_failing_source_keeps_what_was_sensed(tmp_path: Path, make_creds: CredsMaker) -> None:
    from fakehub import free_port

    creds = make_creds(free_port())
    settings = AgentSettings(tmp_path, batch_frames=10, drain_timeout_s=0.2, uplink=FAST)
    agent = Agent(_config(creds), creds, _BrokenFeed(creds.device_id, fps=0), settings)
    with pytest.raises(SourceError, match="unplugged"):
        agent.run()
    with Outbox(tmp_path / "outbox.sqlite") as box:
        frames = [m for i in box.pending(100) if i.kind == Kind.FRAMES for m in decode_batch(i.payload)]
    assert [m.frame_index for m in frames] == list(range(15))
