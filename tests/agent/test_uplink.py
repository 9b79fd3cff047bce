"""The uplink against real Mosquitto brokers and a fake hub: at-least-once, cleanup, outages."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from fakehub import CredsMaker, FakeHub, PrivateBroker, wait_until
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.agent.outbox import Outbox
from edgesight.agent.uplink import Uplink, UplinkSettings
from edgesight.core.wire import Command, Envelope, Kind, Leaf, topic

FAST = UplinkSettings(
    window=8, ack_timeout_s=0.5, max_ack_timeout_s=2.0, reconnect_min_s=1, reconnect_max_s=2
)


def test_at_least_once_and_outbox_cleanup(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    payloads = [json.dumps([{"n": i}]).encode() for i in range(60)]
    with (
        FakeHub(*system_broker, {creds.device_id: creds.secret}) as hub,
        Outbox(tmp_path / "o.sqlite") as box,
        Uplink(creds, box, FAST) as uplink,
    ):
        for p in payloads:
            box.put(Kind.EVENTS, p)
            uplink.wake()
        assert uplink.wait_drained(20), f"outbox still holds {box.count()} messages"
        got = hub.messages(creds.device_id)
        assert [r.seq for r in got] == list(range(1, 61))
        assert [r.payload for r in got] == payloads
        assert box.count() == 0 and box.stored_bytes() == 0 and uplink.acked_through == 60


def test_resends_until_the_hub_stores(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    with (
        FakeHub(*system_broker, {creds.device_id: creds.secret}) as hub,
        Outbox(tmp_path / "o.sqlite") as box,
        Uplink(creds, box, FAST) as uplink,
    ):
        hub.paused = True  # the broker takes the messages, the hub does not store them
        for i in range(20):
            box.put(Kind.HEARTBEAT, json.dumps({"i": i}).encode())
        uplink.wake()
        assert wait_until(lambda: uplink.stats.published >= 8, 5)
        time.sleep(1.5)
        assert box.count() == 20, "a broker PUBACK must not delete anything"
        assert uplink.stats.resent > 0
        hub.paused = False
        assert uplink.wait_drained(20)
        assert [r.seq for r in hub.messages(creds.device_id)] == list(range(1, 21))


def test_status_online_then_offline(
    tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(system_broker[1])
    seen: list[bytes] = []
    watcher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    watcher.connect(*system_broker)
    watcher.subscribe(topic(creds.device_id, Leaf.STATUS), qos=1)
    watcher.loop_start()
    try:
        with Outbox(tmp_path / "o.sqlite") as box, Uplink(creds, box, FAST) as uplink:
            assert uplink.connected.wait(5)
            assert wait_until(lambda: b"online" in seen, 5)
        assert wait_until(lambda: seen[-1:] == [b"offline"], 5)
    finally:
        watcher.publish(topic(creds.device_id, Leaf.STATUS), b"", qos=1, retain=True).wait_for_publish(5)
        watcher.loop_stop()
        watcher.disconnect()


def test_downlink_is_verified(tmp_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker) -> None:
    creds = make_creds(system_broker[1])
    other = make_creds(system_broker[1])
    got: list[Envelope] = []
    with (
        Outbox(tmp_path / "o.sqlite") as box,
        Uplink(creds, box, FAST, on_downlink=got.append) as uplink,
        FakeHub(*system_broker, {creds.device_id: creds.secret}) as hub,
    ):
        assert uplink.subscribed.wait(5)
        body = Command("c1", "stop_upload").to_bytes()
        forged = Envelope(Kind.COMMAND, creds.device_id, 1, time.time(), body).seal(b"x" * 32)
        foreign = Envelope(Kind.COMMAND, other.device_id, 1, time.time(), body).seal(creds.secret)
        misplaced = Envelope(Kind.DESIRED, creds.device_id, 1, time.time(), b"{}").seal(creds.secret)
        for raw in (forged, foreign, misplaced):
            hub.client.publish(topic(creds.device_id, Leaf.COMMAND), raw, qos=1)
        hub.client.publish(topic(creds.device_id, Leaf.COMMAND), b"junk", qos=1)
        hub.send(creds.device_id, Command("c2", "start_upload"))
        assert wait_until(lambda: len(got) == 1, 5)
        assert wait_until(lambda: sum(uplink.stats.downlink_rejected.values()) == 4, 5)
        assert dict(uplink.stats.downlink_rejected) == {
            "bad_mac": 1,
            "device_mismatch": 1,
            "bad_kind": 1,
            "truncated": 1,
        }
        assert Command.from_bytes(got[0].payload).command_id == "c2"


def test_broker_outage_loses_nothing(
    tmp_path: Path, private_broker: PrivateBroker, make_creds: CredsMaker
) -> None:
    creds = make_creds(private_broker.port)
    stop = threading.Event()
    with (
        FakeHub("127.0.0.1", private_broker.port, {creds.device_id: creds.secret}) as hub,
        Outbox(tmp_path / "o.sqlite") as box,
        Uplink(creds, box, FAST) as uplink,
    ):

        def produce() -> None:  # keeps queueing through the outage, like the sensor does
            while not stop.is_set():
                box.put(Kind.EVENTS, json.dumps([time.time()]).encode())
                uplink.wake()
                time.sleep(0.05)

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            time.sleep(1.5)
            private_broker.stop()
            assert wait_until(lambda: not uplink.connected.is_set(), 5)
            time.sleep(5)
            queued_during_outage = box.count()
            private_broker.start()
            time.sleep(1.5)
        finally:
            stop.set()
            producer.join()
        assert queued_during_outage > 50
        assert uplink.wait_drained(30), f"{box.count()} messages never acknowledged"
        last = box.last_seq()
        assert [r.seq for r in hub.messages(creds.device_id)] == list(range(1, last + 1))
        assert uplink.stats.disconnects >= 1 and uplink.stats.connects >= 2
