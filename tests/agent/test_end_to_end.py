"""Three agents on vtest.avi -> Mosquitto -> the hub on PostgreSQL: counts agree, nothing lost or doubled.

The hub runs in its own process (see hubs.py) so it can be stopped and SIGKILLed; the broker is
a private mosquitto so it can be restarted (and so no other hub worker shares our subscription).
``EDGESIGHT_E2E_HUB=fake`` runs the same tests against fakehub_proc.py instead of the real hub.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakehub import PrivateBroker, wait_until
from hubs import FakeHubProcess, PahoPublisher, RealHub, pg_database, pg_up

from edgesight.agent.credentials import Credentials
from edgesight.agent.feeds import SensorFeed
from edgesight.agent.outbox import Outbox
from edgesight.agent.runner import PRIVACY_REFUSAL, Agent, AgentSettings, AgentStats
from edgesight.agent.uplink import UplinkSettings
from edgesight.core.config import DeviceConfig, parse_config
from edgesight.core.package import ModelPackage
from edgesight.testing import SyntheticFeed
from support import need

FRAMES = 120
HUB_OUTAGE_S = 30.0
E2E = UplinkSettings(
    window=16, ack_timeout_s=1.0, max_ack_timeout_s=4.0, reconnect_min_s=1, reconnect_max_s=2
)
LINES = [
    {"name": "vertical", "start": [0.5, 0.0], "end": [0.5, 1.0]},
    {"name": "horizontal", "start": [0.0, 0.5], "end": [1.0, 0.5]},
]

pytestmark = pytest.mark.slow


@pytest.fixture
def hub(tmp_path: Path, private_broker: PrivateBroker) -> Iterator[RealHub | FakeHubProcess]:
    """The hub under test (not started), wired to the private broker."""
    if os.environ.get("EDGESIGHT_E2E_HUB", "real") == "fake":
        fake = FakeHubProcess(tmp_path / "hub", private_broker.port)
        yield fake
        fake.close()
        return
    need(pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    with pg_database() as url:
        real = RealHub(tmp_path / "hub", url, private_broker.port)
        try:
            yield real
        finally:
            real.close()


def _enrol(hub: RealHub | FakeHubProcess, prefix: str) -> list[Credentials]:
    tag = uuid.uuid4().hex[:6]
    return [hub.enrol(f"{prefix}{i}-{tag}") for i in range(3)]


def _agent_counts(agent: Agent) -> Counter[tuple[str, str, str]]:
    flat: Counter[tuple[str, str, str]] = Counter()
    for line, directions in agent.analytics.counts()["lines"].items():
        for direction, classes in directions.items():
            for cls, n in classes.items():
                flat[(line, direction, cls)] += n
    return flat


class AgentThread(threading.Thread):
    """One agent on the real sensor; ``agent`` exists once the thread has opened its source."""

    def __init__(
        self, config: DeviceConfig, creds: Credentials, settings: AgentSettings, package: ModelPackage
    ) -> None:
        super().__init__(name=f"agent-{config.device_id}")
        self.config, self.creds, self.settings, self.package = config, creds, settings, package
        self.agent: Agent | None = None
        self.stats: AgentStats | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with SensorFeed(self.config, self.package) as feed:
                self.agent = Agent(self.config, self.creds, feed, self.settings)
                self.stats = self.agent.run()
        except BaseException as exc:
            self.error = exc


def _agents(
    tmp_path: Path, vtest: Path, package: ModelPackage, creds: list[Credentials], drain_s: float
) -> list[AgentThread]:
    threads = []
    for c in creds:
        config = parse_config(
            {"device_id": c.device_id, "sensor": {"source": str(vtest)}, "analytics": {"lines": LINES}}
        )
        settings = AgentSettings(
            tmp_path / c.device_id, batch_frames=10, heartbeat_s=2.0, max_frames=FRAMES, drain_timeout_s=drain_s,
            uplink=E2E,
        )  # fmt: skip
        threads.append(AgentThread(config, c, settings, package))
    return threads


def _check_delivery(hub: RealHub | FakeHubProcess, threads: list[AgentThread]) -> None:
    for t in threads:
        assert t.error is None, f"{t.name} failed: {t.error!r}"
        assert t.agent is not None and t.stats is not None
        assert t.stats.frames == FRAMES and t.stats.drained, f"{t.name}: outbox not drained"
        device = t.config.device_id
        seqs = hub.stored_seqs(device)
        with Outbox(t.settings.data_dir / "outbox.sqlite") as box:
            sent = box.last_seq()
            assert box.count() == 0
        assert seqs == list(range(1, sent + 1)), f"{device}: stored seqs are not exactly 1..{sent}"
        events = hub.events(device)
        assert len(events) == t.stats.events, (
            f"{device}: {len(events)} events stored, {t.stats.events} produced"
        )
        assert len({e["id"] for e in events}) == len(events), f"{device}: an event was stored twice"
        assert hub.line_counts(device) == _agent_counts(t.agent), f"{device}: hub counts differ"


def _run(threads: list[AgentThread], timeout_s: float) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)


def test_three_agents_counts_match_the_hub(
    tmp_path: Path, vtest_path: Path, nanodet_int8: ModelPackage, hub: RealHub | FakeHubProcess
) -> None:
    creds = _enrol(hub, "e2e")
    hub.start()
    threads = _agents(tmp_path, vtest_path, nanodet_int8, creds, drain_s=30)
    _run(threads, 120)
    _check_delivery(hub, threads)
    assert sum(sum(_agent_counts(t.agent).values()) for t in threads if t.agent) > 0, (
        "vtest crosses the lines"
    )


def test_no_loss_through_hub_outage_broker_restart_and_hub_kill(
    tmp_path: Path,
    vtest_path: Path,
    nanodet_int8: ModelPackage,
    private_broker: PrivateBroker,
    hub: RealHub | FakeHubProcess,
) -> None:
    creds = _enrol(hub, "nl")
    hub.start()
    threads = _agents(tmp_path, vtest_path, nanodet_int8, creds, drain_s=HUB_OUTAGE_S + 60)
    for t in threads:
        t.start()
    assert wait_until(lambda: all(hub.stored_seqs(c.device_id) for c in creds), 30), "hub stored nothing"
    hub.stop()  # the hub is away; agents keep sensing and queueing
    time.sleep(HUB_OUTAGE_S)
    assert any(t.is_alive() for t in threads), "agents should still be waiting for the hub"
    private_broker.stop()  # then the broker restarts
    time.sleep(2)
    private_broker.start()
    before = hub.received()
    if isinstance(hub, FakeHubProcess):
        hub.write_delay_s = 0.2  # slow writes: the kill lands inside a transaction
    hub.start()
    assert wait_until(lambda: hub.received() > before, 30), "hub did not resume"
    hub.stop(signal.SIGKILL)  # killed while it works through the backlog
    if isinstance(hub, FakeHubProcess):
        hub.write_delay_s = 0.0
    hub.start()
    for t in threads:
        t.join(HUB_OUTAGE_S + 90)
    _check_delivery(hub, threads)
    for t in threads:
        assert t.stats is not None and t.stats.uplink is not None
        assert t.stats.uplink.disconnects >= 1, "the broker restart should have been seen"


def test_hub_twin_and_commands_reach_the_agent(
    tmp_path: Path, private_broker: PrivateBroker, hub: RealHub | FakeHubProcess
) -> None:
    """The real hub's desired twin, commands and acks fit the agent, and the agent's replies fit the hub."""
    if not isinstance(hub, RealHub):
        pytest.skip("needs the real hub's twin and command tables")
    from edgesight.hub import downlink
    from edgesight.hub.storage import devices

    (creds,) = [hub.enrol(f"twin-{uuid.uuid4().hex[:6]}")]
    hub.start()
    config = parse_config({"device_id": creds.device_id, "analytics": {"tracking": {"min_hits": 1}}})
    settings = AgentSettings(tmp_path / "agent", batch_frames=10, heartbeat_s=1.0, uplink=E2E)
    agent = Agent(config, creds, SyntheticFeed(creds.device_id, fps=60), settings)
    publisher = PahoPublisher(private_broker.port)
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        assert wait_until(lambda: hub.stored_seqs(creds.device_id), 15), "hub stored nothing"
        line = {"name": "mid", "start": [0, 0.5], "end": [1, 0.5], "min_frames_on_side": 2}
        twin = devices.patch_desired(hub.db, creds.device_id, {"analytics": {"lines": [line]}})
        downlink.send_desired(hub.db, publisher, creds.device_id)

        def reported_version() -> int:
            state = devices.get_twin(hub.db, creds.device_id)
            return state.reported_version if state is not None else -1

        assert wait_until(lambda: reported_version() == twin.desired_version, 15), "no reported twin"
        reported = devices.get_twin(hub.db, creds.device_id)
        assert reported is not None
        assert [x["name"] for x in reported.reported["analytics"]["lines"]] == ["mid"]
        assert reported.reported["privacy"] == {"allow_images": False}
        assert wait_until(lambda: hub.line_counts(creds.device_id), 15), "the new line never counted"

        command_id = devices.create_command(hub.db, creds.device_id, "snapshot", {})
        downlink.send_command(hub.db, publisher, creds.device_id, command_id, "snapshot", {})

        def status() -> str | None:
            command = devices.get_command(hub.db, command_id)
            return None if command is None else str(command["status"])

        assert wait_until(lambda: status() == "failed", 15)
        command = devices.get_command(hub.db, command_id)
        assert command is not None and command["detail"] == PRIVACY_REFUSAL
        assert thread.is_alive() and agent.stats.twins_applied == 1
    finally:
        agent.stop()
        thread.join(30)
        publisher.close()
