"""A captured command published again after an agent restart is refused (issue 8 item 3), real Mosquitto.

An anonymous subscriber records the signed ``stop_upload`` on the broker; after the agent restarts
it publishes those bytes again. The agent refuses them (the downlink seq is not above the highest it
accepted, kept on disk in a 0600 file), reports the refusal to the hub and keeps uploading. A
command past its expiry is refused too.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from fakehub import CredsMaker, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from test_runner import FAST, _config, _results, hub_for, running

from edgesight.agent.credentials import Credentials
from edgesight.agent.runner import Agent, AgentSettings
from edgesight.core.wire import Command, CommandResult, Kind, Leaf, topic
from edgesight.testing import SyntheticFeed


def _agent(creds: Credentials, data_dir: Path) -> Agent:
    feed = SyntheticFeed(creds.device_id, fps=60)
    return Agent(_config(creds), creds, feed, AgentSettings(data_dir, batch_frames=5, uplink=FAST))


def test_replayed_command_is_refused_after_restart(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    captured: list[bytes] = []
    spy = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"spy-{creds.device_id}", protocol=mqtt.MQTTv5)
    spy.on_message = lambda _c, _u, m: captured.append(bytes(m.payload))
    spy.connect(*system_broker)
    spy.subscribe(topic(creds.device_id, Leaf.COMMAND), qos=1)
    spy.loop_start()
    try:
        with hub_for(creds, system_broker) as hub:
            first = _agent(creds, tmp_path)
            with running(first):
                assert wait_until(lambda: hub.messages(creds.device_id, Kind.FRAMES), 10)
                hub.send(creds.device_id, Command("u1", "stop_upload"))
                assert wait_until(lambda: "u1" in _results(hub, creds.device_id), 10)
                assert _results(hub, creds.device_id)["u1"].ok and not first.state.upload.enabled
            assert len(captured) == 1
            guard_file = tmp_path / "downlink_seq.json"
            assert stat.S_IMODE(guard_file.stat().st_mode) == 0o600

            second = _agent(creds, tmp_path)  # restarted: uploads again (the twin never said otherwise)
            with running(second):
                assert wait_until(lambda: second._uplink is not None and second._uplink.subscribed.is_set(), 10)
                frames_before = len(hub.messages(creds.device_id, Kind.FRAMES))
                spy.publish(topic(creds.device_id, Leaf.COMMAND), captured[0], qos=1).wait_for_publish(5)
                assert wait_until(lambda: second.stats.commands_refused["replayed"] == 1, 10)
                hub.send(creds.device_id, Command("old", "stop_upload", issued_at=time.time() - 3600))
                assert wait_until(lambda: "old" in _results(hub, creds.device_id), 10)
                assert wait_until(lambda: len(hub.messages(creds.device_id, Kind.FRAMES)) > frames_before + 3, 10)
                assert second.state.upload.enabled, "a replayed or expired stop_upload was obeyed"
            results = _results(hub, creds.device_id)
            assert results["old"].ok is False and "expired" in str(results["old"].detail)
            refusals = [r for r in hub.decoded(creds.device_id, Kind.COMMAND_RESULT)
                        if isinstance(r, CommandResult) and r.command_id == "u1" and not r.ok]  # fmt: skip
            assert len(refusals) == 1 and "replayed" in str(refusals[0].detail)
            assert dict(second.stats.commands_refused) == {"replayed": 1, "expired": 1}
    finally:
        spy.disconnect()
        spy.loop_stop()
