"""Hub -> device messages (desired twin, command, ack), signed with the device's secret.

The transport is a :class:`Publisher` (``publish(topic, payload, retain)``): the MQTT worker's
client in production, :class:`RecordingPublisher` in tests, :class:`NullPublisher` without a broker.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from edgesight.core.envelope import Envelope, Kind
from edgesight.hub.storage import devices
from edgesight.hub.storage.db import Database

__all__ = [
    "NullPublisher",
    "Publisher",
    "RecordingPublisher",
    "ack_envelope",
    "send_command",
    "send_desired",
    "topic",
    "topic_device_id",
]

PREFIX = "edgesight/v1/d/"


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None: ...


class NullPublisher:
    """Drops messages (no broker configured); the retained desired state is sent when one is."""

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        return None


class RecordingPublisher:
    """Keeps every message, for tests."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        with self._lock:
            self.sent.append((topic, payload, retain))


def topic(device_id: str, leaf: str) -> str:
    """``edgesight/v1/d/{device_id}/{leaf}``.

    Example:
        >>> topic("cam-1", "down/ack")
        'edgesight/v1/d/cam-1/down/ack'
    """
    return f"{PREFIX}{device_id}/{leaf}"


def topic_device_id(name: str) -> str | None:
    """The ``{device_id}`` of an ``.../d/{device_id}/up`` topic, or None for another topic.

    Example:
        >>> topic_device_id("edgesight/v1/d/cam-1/up"), topic_device_id("x/y")
        ('cam-1', None)
    """
    if not name.startswith(PREFIX) or not name.endswith("/up"):
        return None
    device_id = name[len(PREFIX) : -len("/up")]
    return device_id if device_id and "/" not in device_id else None


def _seal(db: Database, device_id: str, kind: Kind, body: dict[str, Any]) -> bytes:
    seq, secret = devices.next_down_seq(db, device_id)
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Envelope(kind, device_id, seq, time.time(), payload).seal(secret)


def send_desired(db: Database, publisher: Publisher, device_id: str) -> dict[str, Any]:
    """Publish the device's desired twin (retained, so a device coming online gets it)."""
    twin = devices.get_twin(db, device_id)
    if twin is None:
        raise LookupError(f"device {device_id!r} has no twin")
    body = {"version": twin.desired_version, "config": twin.desired}
    publisher.publish(topic(device_id, "down/desired"), _seal(db, device_id, Kind.DESIRED, body), retain=True)
    return body


def send_command(
    db: Database, publisher: Publisher, device_id: str, command_id: str, name: str, args: dict[str, Any]
) -> None:
    body = {"command_id": command_id, "name": name, "args": args}
    publisher.publish(topic(device_id, "down/command"), _seal(db, device_id, Kind.COMMAND, body))


def ack_envelope(
    device_id: str, seq: int, secret: bytes, stored_through: int, rejected: list[tuple[int, str]]
) -> bytes:
    """The signed ``down/ack`` message (its ``seq`` was reserved in the ingest transaction)."""
    body = {"stored_through": stored_through, "rejected": [list(r) for r in rejected]}
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Envelope(Kind.ACK, device_id, seq, time.time(), payload).seal(secret)
