"""Test doubles for the agent's MQTT side: a tiny fake hub and a private Mosquitto we may stop.

tests/agent has no __init__.py: pytest puts the folder on sys.path, so tests ``import fakehub``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgesight.agent.credentials import Credentials
from edgesight.core.wire import (
    DOWNLINK_KINDS,
    Ack,
    Command,
    DesiredTwin,
    Envelope,
    EnvelopeError,
    Kind,
    Leaf,
    Message,
    decode_message,
    open_envelope,
    topic,
)

SYSTEM_BROKER = ("127.0.0.1", 1883)

CredsMaker = Callable[..., Credentials]


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return bool(condition())


@dataclass(frozen=True)
class Received:
    device_id: str
    seq: int
    kind: Kind
    payload: bytes


class FakeHub:
    """Opens ``up`` envelopes with the devices' secrets, stores each seq once, publishes ``down/ack``.

    ``paused`` makes it swallow messages without storing or acking them (a hub that is away).
    """

    def __init__(self, host: str, port: int, secrets: dict[str, bytes]) -> None:
        self.host, self.port, self.secrets = host, port, secrets
        self.stored: dict[str, dict[int, Received]] = defaultdict(dict)
        self.duplicates = 0
        self.rejected: list[str] = []
        self.paused = False
        self._down_seq: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"fake-hub-{free_port()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)

    def __enter__(self) -> FakeHub:
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()
        assert self._connected.wait(10), f"fake hub cannot reach the broker at {self.host}:{self.port}"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(topic(d, Leaf.UP), 1) for d in self.secrets], qos=1)
        self._connected.set()

    def _secret(self, device_id: str) -> bytes:
        if device_id not in self.secrets:
            raise EnvelopeError("unknown_device", device_id)
        return self.secrets[device_id]

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.paused:
            return
        try:
            env = open_envelope(bytes(msg.payload), self._secret)
        except EnvelopeError as exc:
            self.rejected.append(exc.reason)
            return
        with self._lock:
            mine = self.stored[env.device_id]
            if env.seq in mine:
                self.duplicates += 1
            else:
                mine[env.seq] = Received(env.device_id, env.seq, env.kind, env.payload)
            through = self.stored_through(env.device_id)
        self.send(env.device_id, Ack(through))

    def stored_through(self, device_id: str) -> int:
        seq = 0
        while seq + 1 in self.stored[device_id]:
            seq += 1
        return seq

    def send(self, device_id: str, message: Ack | DesiredTwin | Command, retain: bool = False) -> None:
        leaf = next(leaf for leaf, kind in DOWNLINK_KINDS.items() if kind is message.KIND)
        self._down_seq[device_id] += 1
        raw = Envelope(
            message.KIND, device_id, self._down_seq[device_id], time.time(), message.to_bytes()
        ).seal(self.secrets[device_id])
        self.client.publish(topic(device_id, leaf), raw, qos=1, retain=retain)

    def messages(self, device_id: str, kind: Kind | None = None) -> list[Received]:
        with self._lock:
            items = sorted(self.stored[device_id].values(), key=lambda r: r.seq)
        return [r for r in items if kind is None or r.kind == kind]

    def decoded(self, device_id: str, kind: Kind) -> list[Message]:
        """The stored messages of one kind, decoded."""
        return [decode_message(kind, r.payload) for r in self.messages(device_id, kind)]


class PrivateBroker:
    """Our own mosquitto on a free port, stoppable and restartable without touching the system one."""

    def __init__(self, folder: Path, persistence: bool = True) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence {'true' if persistence else 'false'}\npersistence_location {folder}/\n"
            f"log_dest file {folder}/mosquitto.log\n"
        )

    @staticmethod
    def binary() -> str | None:
        return shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )

    def start(self) -> None:
        binary = self.binary()
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert wait_until(lambda: port_open("127.0.0.1", self.port), 10), "private mosquitto did not start"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
