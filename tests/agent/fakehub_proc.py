"""A stand-in hub in its own process, so tests can stop it and SIGKILL it mid-write.

It does what docs/protocol.md asks of the hub, minimally: verify each ``up`` envelope, store
``(device_id, seq)`` and the message's events in ONE SQLite transaction, acknowledge the MQTT
message only after commit (manual ack), then publish ``down/ack`` with ``stored_through``.

Usage: ``python fakehub_proc.py DB_PATH BROKER_PORT DEVICES_JSON`` where DEVICES_JSON maps device
ids to base64 secrets. ``FAKEHUB_WRITE_DELAY_S`` sleeps inside each transaction (widens the window
for a kill "during a write").
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgesight.core.wire import (
    Ack,
    Envelope,
    EnvelopeError,
    EventBatch,
    Kind,
    Leaf,
    open_envelope,
    shared_up_subscription,
    topic,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (device_id TEXT, seq INTEGER, kind INTEGER, PRIMARY KEY (device_id, seq));
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, device_id TEXT, seq INTEGER, body TEXT);
"""


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


def stored_through(db: sqlite3.Connection, device_id: str) -> int:
    seqs = [
        r[0] for r in db.execute("SELECT seq FROM received WHERE device_id = ? ORDER BY seq", (device_id,))
    ]
    through = 0
    for seq in seqs:
        if seq != through + 1:
            break
        through = seq
    return through


def main() -> None:
    db_path, port, devices_json = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    secrets = {d: base64.b64decode(s) for d, s in json.loads(Path(devices_json).read_text()).items()}
    delay = float(os.environ.get("FAKEHUB_WRITE_DELAY_S", "0"))
    db = open_db(db_path)
    lock = threading.Lock()

    def secret_of(device_id: str) -> bytes:
        if device_id not in secrets:
            raise EnvelopeError("unknown_device", device_id)
        return secrets[device_id]

    def on_connect(client: mqtt.Client, *args: Any) -> None:
        client.subscribe(shared_up_subscription("edgesight-hub"), qos=1)

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            env = open_envelope(bytes(msg.payload), secret_of)
        except EnvelopeError:
            client.ack(msg.mid, msg.qos)
            return
        with lock:
            db.execute("BEGIN IMMEDIATE")
            new = db.execute(
                "INSERT OR IGNORE INTO received VALUES (?, ?, ?)", (env.device_id, env.seq, int(env.kind))
            ).rowcount
            if new and env.kind == Kind.EVENTS:
                for event in EventBatch.from_bytes(env.payload).events:
                    db.execute(
                        "INSERT INTO events VALUES (?, ?, ?, ?)",
                        (event.id, env.device_id, env.seq, json.dumps(event.to_dict())),
                    )
            if delay:
                time.sleep(delay)
            db.execute("COMMIT")
            through = stored_through(db, env.device_id)
        client.ack(msg.mid, msg.qos)
        body = Ack(through).to_bytes()
        down_seq = time.time_ns() // 1000  # monotonic enough across restarts
        raw = Envelope(Kind.ACK, env.device_id, down_seq, time.time(), body).seal(secrets[env.device_id])
        client.publish(topic(env.device_id, Leaf.ACK), raw, qos=1)

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="fakehub-proc",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )
    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(1, 2)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 300
    client.connect_async("127.0.0.1", port, keepalive=10, clean_start=False, properties=props)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
