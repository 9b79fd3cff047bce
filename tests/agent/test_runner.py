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
from edgesight.agent.feeds import SyntheticFeed
from edgesight.agent.outbox import Outbox
from edgesight.agent.runner import PRIVACY_REFUSAL, Agent, AgentSettings
from edgesight.agent.twin import TwinState, parse_desired, resolve_twin
from edgesight.agent.uplink import UplinkSettings, topic
from edgesight.core.config import COCO_LABELS, DeviceConfig, parse_config
from edgesight.core.envelope import Kind
from edgesight.core.errors import ConfigError, SchemaError, SourceError
from edgesight.core.frame import FrameMeta
from edgesight.core.serialize import decode_batch

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
                topic(creds.device_id, "down/desired"), b"", qos=1, retain=True
            ).wait_for_publish(5)


def _results(hub: FakeHub, device_id: str) -> dict[str, Any]:
    return {r["command_id"]: r for r in hub.json_messages(device_id, Kind.COMMAND_RESULT)}


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
        assert not [e for b in hub.json_messages(creds.device_id, Kind.EVENTS) for e in b]
        desired = {"version": 1, "config": {"analytics": {"tracking": {"min_hits": 1}, "lines": [LINE]}}}
        hub.send(creds.device_id, Kind.DESIRED, desired, retain=True)
        assert wait_until(lambda: hub.json_messages(creds.device_id, Kind.REPORTED), 10)
        reported = hub.json_messages(creds.device_id, Kind.REPORTED)[0]
        assert reported["version"] == 1
        assert [line["name"] for line in reported["state"]["analytics"]["lines"]] == ["mid"]

        def crossings() -> list[Any]:
            batches = hub.json_messages(creds.device_id, Kind.EVENTS)
            return [e for b in batches for e in b if e["type"] == "line_crossing"]

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
        hub.send(
            creds.device_id, Kind.DESIRED, {"version": 2, "config": {"analytics": {"lines": [bad_line]}}}
        )
        assert wait_until(lambda: hub.json_messages(creds.device_id, Kind.REPORTED), 10)
        report = hub.json_messages(creds.device_id, Kind.REPORTED)[0]
        assert report["version"] == 0 and "did you mean 'person'" in report["state"]["error"]
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
        hub.send(creds.device_id, Kind.COMMAND, {"command_id": "s1", "name": "snapshot", "args": {}})
        assert wait_until(lambda: "s1" in _results(hub, creds.device_id), 10)
        assert _results(hub, creds.device_id)["s1"] == {
            "command_id": "s1",
            "ok": False,
            "detail": PRIVACY_REFUSAL,
        }

        hub.send(creds.device_id, Kind.COMMAND, {"command_id": "u1", "name": "stop_upload", "args": {}})
        assert wait_until(lambda: "u1" in _results(hub, creds.device_id), 10)
        assert _results(hub, creds.device_id)["u1"]["ok"] is True
        assert wait_until(lambda: agent.stats.frames_not_uploaded > 20, 10)
        assert hub.json_messages(creds.device_id, Kind.REPORTED)[-1]["state"]["upload"]["enabled"] is False

        hub.send(creds.device_id, Kind.DESIRED, {"version": 5, "config": {"privacy": {"allow_images": True}}})
        hub.send(creds.device_id, Kind.COMMAND, {"command_id": "s2", "name": "snapshot", "args": {}})
        hub.send(creds.device_id, Kind.COMMAND, {"command_id": "x", "name": "reboot", "args": {}})
        assert wait_until(lambda: {"s2", "x"} <= set(_results(hub, creds.device_id)), 10)
        results = _results(hub, creds.device_id)
        assert results["s2"]["ok"] is False and "metadata only" in results["s2"]["detail"]
        assert results["x"]["ok"] is False and "unknown command" in results["x"]["detail"]


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
    assert json.loads(json.dumps(state.reported()))["state"]["pending_restart"] == ["roi"]
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
