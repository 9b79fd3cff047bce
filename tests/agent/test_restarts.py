"""Agents restarted mid-stream against the real hub (PostgreSQL, its own Mosquitto): nothing lost.

* Event identity survives an agent restart (issue 8 item 2): frame indexes restart at 0, yet every
  event of both runs is stored, checked by count and by id.
* Chaos (issue 8, "must show"): three agents stream while the hub is SIGKILLed, the broker
  restarted and poison messages injected, then every agent is restarted: every frame and event
  produced is stored exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fakehub import PrivateBroker, wait_until
from hubs import RealHub, pg_database, pg_up
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.agent.credentials import Credentials
from edgesight.agent.outbox import Outbox
from edgesight.agent.runner import Agent, AgentSettings, AgentStats
from edgesight.agent.uplink import UplinkSettings
from edgesight.apps.engine import AnalyticsResult
from edgesight.core.config import parse_config
from edgesight.core.events import Event, EventType
from edgesight.core.frame import FrameMeta
from edgesight.core.wire import Kind, Leaf, topic
from edgesight.testing import FakeDevice, SyntheticFeed
from support import need

FAST = UplinkSettings(window=16, ack_timeout_s=1.0, max_ack_timeout_s=2.0, reconnect_min_s=1, reconnect_max_s=2)
LINE = {"name": "mid", "start": [0.0, 0.5], "end": [1.0, 0.5], "min_frames_on_side": 2}
FEED = {"every": 4, "walk_frames": 16}


@pytest.fixture
def hub(tmp_path: Path, private_broker: PrivateBroker) -> Iterator[RealHub]:
    need(pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    with pg_database() as url:
        real = RealHub(tmp_path / "hub", url, private_broker.port)
        try:
            yield real
        finally:
            real.close()


@dataclass
class Run:
    """One run of one agent, on its own thread; ``produced`` records its analytics' events."""

    agent: Agent
    thread: threading.Thread
    stats: AgentStats | None = None
    produced: list[Event] = field(default_factory=list)

    def record(self) -> None:
        analyse = self.agent.analytics.update

        def update(meta: FrameMeta) -> AnalyticsResult:
            result = analyse(meta)
            self.produced.extend(result.events)
            return result

        self.agent.analytics.update = update  # type: ignore[method-assign]


def start_agent(creds: Credentials, data_dir: Path, max_frames: int | None, fps: float) -> Run:
    config = parse_config({"device_id": creds.device_id, "analytics": {"tracking": {"min_hits": 1}, "lines": [LINE]}})
    settings = AgentSettings(data_dir, batch_frames=10, heartbeat_s=1.0, max_frames=max_frames,
                             drain_timeout_s=60, uplink=FAST)  # fmt: skip
    agent = Agent(config, creds, SyntheticFeed(creds.device_id, fps=fps, **FEED), settings)
    run = Run(agent, threading.Thread(name=creds.device_id))
    run.record()
    run.thread = threading.Thread(target=lambda: setattr(run, "stats", agent.run()), name=creds.device_id)
    run.thread.start()
    return run


def finish(run: Run, stop: bool) -> AgentStats:
    if stop:
        run.agent.stop()
    run.thread.join(90)
    assert run.stats is not None, f"{run.agent.config.device_id}: the agent did not finish"
    return run.stats


def expected_event_ids(run: Run) -> list[str]:
    """The ids of the events a run's analytics made, minted in its run as the agent does."""
    return [e.in_run(run.agent.run_id).id for e in run.produced]


def stored_event_ids(hub: RealHub, device_id: str) -> list[str]:
    return [e["id"] for e in hub.events(device_id)]


def stored_frames(hub: RealHub, device_id: str) -> list[tuple[int, int]]:
    rows = hub._rows("SELECT seq, frame_index FROM frames WHERE device_id = :d", d=device_id)
    return [(int(r[0]), int(r[1])) for r in rows]


def check_exactly_once(hub: RealHub, device_id: str, runs: list[tuple[Run, AgentStats]]) -> None:
    """Every frame and event the runs produced is stored once: by count and by identity."""
    expected_ids = [i for run, _ in runs for i in expected_event_ids(run)]
    assert sum(stats.events for _, stats in runs) == len(expected_ids)
    stored = stored_event_ids(hub, device_id)
    assert len(stored) == len(expected_ids), f"{device_id}: {len(stored)} events stored of {len(expected_ids)}"
    assert sorted(stored) == sorted(expected_ids), f"{device_id}: stored event ids differ from those produced"
    frames = stored_frames(hub, device_id)
    assert len(set(frames)) == len(frames), f"{device_id}: a frame was stored twice"
    produced = Counter(i for _, stats in runs for i in range(stats.frames))
    assert Counter(index for _, index in frames) == produced, f"{device_id}: stored frames differ"
    with Outbox(runs[-1][0].agent.settings.data_dir / "outbox.sqlite") as box:
        assert box.count() == 0
        assert hub.stored_seqs(device_id) == list(range(1, box.last_seq() + 1))


def test_events_survive_an_agent_restart(tmp_path: Path, hub: RealHub) -> None:
    """Issue 8 item 2: the same frame indexes, types and rules after a restart are new events."""
    creds = hub.enrol(f"rs-{uuid.uuid4().hex[:6]}")
    hub.start()
    first = start_agent(creds, tmp_path / "agent", None, fps=100)
    assert wait_until(lambda: len(stored_event_ids(hub, creds.device_id)) >= 3, 30), "no events stored"
    first_stats = finish(first, stop=True)  # mid-stream: some messages wait in the outbox
    second = start_agent(creds, tmp_path / "agent", 60, fps=0)
    second_stats = finish(second, stop=False)
    assert second_stats.drained
    assert first.agent.run_id != second.agent.run_id
    check_exactly_once(hub, creds.device_id, [(first, first_stats), (second, second_stats)])


def _poison(device: FakeDevice) -> list[bytes]:
    """A NUL in a heartbeat, an unknown kind, events naming another device, then a valid message."""
    nul = device.seal(Kind.HEARTBEAT, b'{"model":{"id":"a\\u0000b","version":"1"}}')
    body = bytearray(device.frames(1)[:-32])
    body[4] = 9  # a kind no hub knows, signed
    unknown_kind = bytes(body) + hmac.new(device.secret, body, hashlib.sha256).digest()
    foreign = device.events([FakeDevice("someone-else", b"k" * 32).event(EventType.ZONE_ENTER, "z", side=None)])
    return [nul, unknown_kind, foreign, device.frames(1)]


def test_chaos_hub_killed_broker_restarted_poison_and_agent_restarts(
    tmp_path: Path, private_broker: PrivateBroker, hub: RealHub
) -> None:
    tag = uuid.uuid4().hex[:6]
    fleet = [hub.enrol(f"chaos{i}-{tag}") for i in range(3)]
    attacker = hub.enrol(f"stolen-{tag}")
    hub.start()
    first = [start_agent(c, tmp_path / c.device_id, None, fps=60) for c in fleet]
    assert wait_until(lambda: all(hub.stored_seqs(c.device_id) for c in fleet), 30), "hub stored nothing"

    hub.stop(signal.SIGKILL)  # killed while it ingests
    time.sleep(3)  # agents keep sensing: a backlog builds in their outboxes
    private_broker.stop()  # and the broker restarts while the hub is down
    time.sleep(1)
    private_broker.start()
    hub.start()

    stolen = FakeDevice(attacker.device_id, attacker.secret)
    injector = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"inj-{tag}", protocol=mqtt.MQTTv5)
    injector.connect("127.0.0.1", private_broker.port)
    injector.loop_start()
    poison = _poison(stolen)
    try:
        for _ in range(10):  # resent until all are logged, as a device's outbox would (no ack read here)
            for raw in poison:
                injector.publish(topic(attacker.device_id, Leaf.UP), raw, qos=1).wait_for_publish(10)
            if wait_until(lambda: hub.stored_seqs(attacker.device_id) == [1, 2, 3, 4], 5):
                break
    finally:
        injector.disconnect()
        injector.loop_stop()
    assert hub.stored_seqs(attacker.device_id) == [1, 2, 3, 4]

    assert wait_until(lambda: all(len(hub.stored_seqs(c.device_id)) > 20 for c in fleet), 30), "backlog not ingested"
    first_stats = [finish(run, stop=True) for run in first]  # every agent restarted mid-stream
    second = [start_agent(c, tmp_path / c.device_id, 60, fps=0) for c in fleet]
    second_stats = [finish(run, stop=False) for run in second]
    for creds, a, sa, b, sb in zip(fleet, first, first_stats, second, second_stats, strict=True):
        assert sb.drained, f"{creds.device_id}: outbox not drained"
        check_exactly_once(hub, creds.device_id, [(a, sa), (b, sb)])
    rows = hub._rows("SELECT seq, status FROM ingest_log WHERE device_id = :d ORDER BY seq", d=attacker.device_id)
    assert [(int(s), st) for s, st in rows] == [
        (1, "bad_payload"), (2, "bad_kind"), (3, "record_device_mismatch"), (4, "stored"),
    ]  # fmt: skip
