"""MQTT ingestion against the real Mosquitto: shared subscription, acks, SIGKILL mid-batch."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hubkit import MQTT, mqtt_up
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from edgesight.core.wire import Kind, open_envelope
from edgesight.hub.ingest import Ingestor
from edgesight.hub.mqtt_worker import MqttWorker
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.tables import FrameRow, IngestLog
from edgesight.testing import FakeDevice
from support import need


@pytest.fixture(autouse=True)
def _broker() -> None:
    need(mqtt_up(), "Mosquitto is not running on 127.0.0.1:1883")


@pytest.fixture
def group() -> str:
    return f"t{secrets.token_hex(4)}"


def _settings(db: Database, group: str, client_id: str, **kw: object) -> HubSettings:
    return HubSettings(db_url=db.url, mqtt_host=MQTT[0], mqtt_port=MQTT[1], mqtt_client_id=client_id,
                       mqtt_share_group=group, mqtt_session_expiry_s=120, **kw)  # type: ignore[arg-type]  # fmt: skip


class Publisher:
    """A device-side client: publishes QoS 1 and collects acks."""

    def __init__(self, name: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(200)
        self.acks: list[bytes] = []
        self.client.on_message = lambda _c, _u, m: self.acks.append(bytes(m.payload))
        self.client.connect(*MQTT)
        self.client.loop_start()

    def send(self, device: FakeDevice, raw: bytes) -> mqtt.MQTTMessageInfo:
        return self.client.publish(f"edgesight/v1/d/{device.device_id}/up", raw, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _stored(db: Database) -> int:
    with db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(IngestLog)).scalar_one())


def _wait(cond: object, timeout_s: float, every_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(every_s)
    return False


@pytest.fixture
def workers(db: Database, group: str) -> Iterator[list[MqttWorker]]:
    started = [MqttWorker(_settings(db, group, f"{group}-w{i}", batch_max_messages=100), Ingestor(db))
               for i in range(2)]  # fmt: skip
    for w in started:
        w.start()
    assert all(w.wait_connected(5) for w in started)
    time.sleep(0.2)  # subscriptions settle
    yield started
    for w in started:
        w.stop()


def test_two_workers_share_the_load_and_store_each_message_once(db: Database, workers: list[MqttWorker]) -> None:
    fleet = [FakeDevice(e.device_id, e.secret) for e in (devices.enrol(db, f"m{i}-{secrets.token_hex(3)}")
                                                        for i in range(4))]  # fmt: skip
    pub = Publisher(f"pub-{secrets.token_hex(4)}")
    for d in fleet:
        pub.client.subscribe(f"edgesight/v1/d/{d.device_id}/down/ack", qos=1)
    time.sleep(0.2)
    try:
        infos = [pub.send(d, d.frames(1)) for _ in range(500) for d in fleet]
        for info in infos:
            info.wait_for_publish(10)
        assert _wait(lambda: _stored(db) >= 2000, 30), f"stored {_stored(db)} of 2000"
        time.sleep(0.3)
        with db.begin() as conn:
            assert conn.execute(select(func.count()).select_from(FrameRow)).scalar_one() == 2000
        assert all(w.messages > 0 for w in workers), [w.messages for w in workers]
        assert sum(w.messages for w in workers) >= 2000
        secret = {d.device_id: d.secret for d in fleet}
        assert _wait(lambda: len(pub.acks) >= 4, 5)
        last: dict[str, int] = {}
        for raw in pub.acks:
            env = open_envelope(raw, lambda device_id: secret[device_id])
            assert env.kind is Kind.ACK
            last[env.device_id] = max(last.get(env.device_id, 0), json.loads(env.payload)["stored_through"])
        assert _wait(lambda: len(last) == 4, 1) and set(last.values()) == {500}
    finally:
        pub.close()


def _start_worker(db: Database, group: str, client_id: str, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from edgesight.cli.hub import hub_app; hub_app()", "worker", "--db", db.url,
           "--mqtt", f"{MQTT[0]}:{MQTT[1]}", "--client-id", client_id, "--share-group", group, "--batch", "50"]
    env = {**os.environ, "EDGESIGHT_HUB_DATA_DIR": str(log.parent), "EDGESIGHT_HUB_MQTT_SESSION_EXPIRY_S": "120"}
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)


def test_sigkill_mid_batch_loses_nothing_and_stores_once(db: Database, group: str, tmp_path: Path) -> None:
    e = devices.enrol(db, f"k-{secrets.token_hex(3)}")
    dev = FakeDevice(e.device_id, e.secret)
    client_id = f"{group}-proc"
    log = tmp_path / "worker.log"
    proc = _start_worker(db, group, client_id, log)
    pub = Publisher(f"pub-{secrets.token_hex(4)}")
    total = 1000  # < mosquitto's default offline queue (1000) even if the kill comes early
    try:
        probe = dev.frames(1)  # resent until the worker has subscribed, as a device's outbox would
        assert _wait(lambda: pub.send(dev, probe) and _stored(db) >= 1, 20, 0.3), log.read_text()

        sent: dict[int, bytes] = {1: probe}

        def publish() -> None:
            for _ in range(total - 1):
                raw = dev.frames(1)
                sent[dev.seq] = raw
                pub.send(dev, raw)
                time.sleep(0.002)

        sender = threading.Thread(target=publish)
        sender.start()
        assert _wait(lambda: _stored(db) >= 250, 20)
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch: batches of 50 are being written continuously
        proc.wait(5)
        killed_at = _stored(db)
        proc = _start_worker(db, group, client_id, log)
        sender.join(30)
        _wait(lambda: _stored(db) >= total, 20)
        # Like a device's outbox: resend what the hub has not acknowledged. Normally nothing; a
        # broker whose offline queue (mosquitto max_queued_messages, default 1000) overflowed
        # while the worker was down needs this to stay lossless.
        with db.begin() as conn:
            have = set(conn.execute(select(IngestLog.seq)).scalars().all())
        missing = sorted(set(sent) - have)
        for seq in missing:
            pub.send(dev, sent[seq])
        assert _wait(lambda: _stored(db) >= total, 20), f"stored {_stored(db)} of {total}\n{log.read_text()}"
        time.sleep(0.5)
        with db.begin() as conn:
            seqs = conn.execute(select(FrameRow.seq).order_by(FrameRow.seq)).scalars().all()
        assert seqs == list(range(1, total + 1))
        assert missing == [], f"broker dropped {len(missing)}: {missing[:5]}..{missing[-5:]}"
        assert killed_at < total
    finally:
        pub.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class _Proxy:
    """A TCP forwarder to the broker that can be cut and restored (the broker 'goes away')."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.down = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down:  # refuse: the worker keeps retrying with backoff
                client.close()
                continue
            upstream = socket.create_connection(MQTT)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        self.down = True
        for s in self.conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.conns.clear()

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_worker_reconnects_when_the_broker_comes_back(db: Database, group: str) -> None:
    e = devices.enrol(db, f"r-{secrets.token_hex(3)}")
    dev = FakeDevice(e.device_id, e.secret)
    proxy = _Proxy()
    settings = HubSettings(db_url=db.url, mqtt_host="127.0.0.1", mqtt_port=proxy.port,
                           mqtt_client_id=f"{group}-r", mqtt_share_group=group, mqtt_session_expiry_s=120)  # fmt: skip
    worker = MqttWorker(settings, Ingestor(db))
    worker.start()
    pub = Publisher(f"pub-{secrets.token_hex(4)}")
    try:
        assert worker.wait_connected(5)
        first = dev.frames(1)
        assert _wait(lambda: pub.send(dev, first) and _stored(db) >= 1, 10, 0.3)
        proxy.cut()
        assert _wait(lambda: not worker.connected.is_set(), 5)
        for _ in range(50):  # queued by the broker in the worker's persistent session
            pub.send(dev, dev.frames(1)).wait_for_publish(5)
        proxy.down = False
        assert _wait(lambda: _stored(db) >= 51, 30), f"stored {_stored(db)} of 51"
    finally:
        pub.close()
        worker.stop()
        proxy.close()


def test_poison_messages_do_not_stop_the_worker(db: Database, workers: list[MqttWorker]) -> None:
    """Issue 8 item 1 over the real broker: a NUL heartbeat and a message the database refuses are
    rejected and acknowledged; every other device's messages (and the sender's later ones) are stored."""
    from test_ingest_poison import crossing, nul_heartbeat, refuse_rule

    refuse_rule(db, "poison")
    fleet = [FakeDevice(e.device_id, e.secret) for e in (devices.enrol(db, f"p{i}-{secrets.token_hex(3)}")
                                                        for i in range(3))]  # fmt: skip
    pub = Publisher(f"pub-{secrets.token_hex(4)}")
    for d in fleet:
        pub.client.subscribe(f"edgesight/v1/d/{d.device_id}/down/ack", qos=1)
    time.sleep(0.2)
    try:
        bad = fleet[0]
        infos = [pub.send(bad, nul_heartbeat(bad)), pub.send(bad, crossing(bad, "poison"))]
        for _ in range(20):
            infos += [pub.send(d, d.frames(1)) for d in fleet] + [pub.send(d, crossing(d, "door")) for d in fleet]
        for info in infos:
            info.wait_for_publish(10)
        total = 2 + 20 * 2 * 3
        assert _wait(lambda: _stored(db) >= total, 30), f"logged {_stored(db)} of {total}"
        with db.begin() as conn:
            statuses = dict(conn.execute(select(IngestLog.seq, IngestLog.status)
                                         .where(IngestLog.device_id == bad.device_id)).all())  # fmt: skip
        assert statuses[1] == "bad_payload" and statuses[2] == "unstorable"
        assert {s for seq, s in statuses.items() if seq > 2} == {"stored"}
        secret = {d.device_id: d.secret for d in fleet}

        def last_acks() -> dict[str, int]:
            last: dict[str, int] = {}
            for raw in list(pub.acks):
                env = open_envelope(raw, lambda device_id: secret[device_id])
                last[env.device_id] = max(last.get(env.device_id, 0), json.loads(env.payload)["stored_through"])
            return last

        assert _wait(lambda: last_acks() == {fleet[0].device_id: 42, fleet[1].device_id: 40,
                                             fleet[2].device_id: 40}, 10), last_acks()  # fmt: skip
        rejected = [json.loads(open_envelope(raw, lambda device_id: secret[device_id]).payload)["rejected"]
                    for raw in pub.acks]  # fmt: skip
        assert sorted(r for rs in rejected for r in rs) == [[1, "bad_payload"], [2, "unstorable"]]
    finally:
        pub.close()


def test_device_drops_permanently_rejected_messages(db: Database, workers: list[MqttWorker], tmp_path: Path) -> None:
    """Issue 8 item 5 end to end: the agent's uplink sends a NUL heartbeat and events naming another
    device; the hub logs both as rejected, its ack moves past them, the outbox empties and counts them."""
    import base64

    from edgesight.agent.credentials import parse_credentials
    from edgesight.agent.outbox import Outbox
    from edgesight.agent.uplink import Uplink, UplinkSettings
    from edgesight.core.events import EventType
    from edgesight.core.wire import EventBatch, Heartbeat

    e = devices.enrol(db, f"r-{secrets.token_hex(3)}")
    creds = parse_credentials({"device_id": e.device_id, "secret": base64.b64encode(e.secret).decode(),
                               "token": e.token, "broker": f"{MQTT[0]}:{MQTT[1]}"})  # fmt: skip
    foreign = FakeDevice("someone-else", b"k" * 32).event(EventType.ZONE_ENTER, "z", side=None)
    settings = UplinkSettings(window=8, ack_timeout_s=1.0, max_ack_timeout_s=2.0, reconnect_min_s=1, reconnect_max_s=2)
    with Outbox(tmp_path / "outbox.sqlite") as box, Uplink(creds, box, settings) as uplink:
        box.put(Kind.HEARTBEAT, Heartbeat(fps=1.0).to_bytes())
        box.put(Kind.HEARTBEAT, b'{"model":{"id":"a\\u0000b","version":"1"}}')
        box.put(Kind.EVENTS, EventBatch((foreign,)).to_bytes())
        box.put(Kind.HEARTBEAT, Heartbeat(fps=2.0).to_bytes())
        uplink.wake()
        assert uplink.wait_drained(20), f"outbox still holds {box.count()}"
        assert box.count() == 0 and uplink.acked_through == 4
        assert uplink.stats.rejected_by_hub == 2
        assert dict(uplink.stats.rejected_reasons) == {"bad_payload": 1, "record_device_mismatch": 1}
