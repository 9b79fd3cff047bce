"""Hub -> device messages (desired twin, command, ack), signed with the device's secret.

The transport is a :class:`Publisher` (``publish(topic, payload, retain)``): the MQTT worker's
client in production, :class:`RecordingPublisher` in tests, :class:`NullPublisher` without a broker.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from edgesight.core.envelope import MAX_PAYLOAD, Envelope, Kind
from edgesight.core.errors import ConfigError
from edgesight.hub.storage import devices
from edgesight.hub.storage.db import Database

__all__ = [
    "DesiredTooLargeError",
    "NullPublisher",
    "Publisher",
    "RecordingPublisher",
    "ack_envelope",
    "check_desired_fits",
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


class DesiredTooLargeError(ConfigError):
    """A desired twin that would not fit in one message (it is refused before it is stored)."""


def _body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _seal(db: Database, device_id: str, kind: Kind, body: dict[str, Any]) -> bytes:
    seq, secret = devices.next_down_seq(db, device_id)
    return Envelope(kind, device_id, seq, time.time(), _body_bytes(body)).seal(secret)


def _desired_body(version: int, config: dict[str, Any]) -> dict[str, Any]:
    return {"version": version, "config": config}


def check_desired_fits(version: int, config: dict[str, Any]) -> None:
    """Raise :class:`DesiredTooLargeError` when the desired message would exceed ``MAX_PAYLOAD``.

    Example:
        >>> check_desired_fits(2, {"privacy": {"allow_images": False}})
        >>> check_desired_fits(2, {"note": "x" * MAX_PAYLOAD})
        Traceback (most recent call last):
        ...
        edgesight.hub.downlink.DesiredTooLargeError: desired twin version 2 would be 1048610 bytes ...
    """
    size = len(_body_bytes(_desired_body(version, config)))
    if size > MAX_PAYLOAD:
        raise DesiredTooLargeError(
            f"desired twin version {version} would be {size} bytes in one message, over the limit of "
            f"{MAX_PAYLOAD} bytes; the patch was not applied"
        )


def send_desired(db: Database, publisher: Publisher, device_id: str) -> dict[str, Any]:
    """Publish the device's desired twin (retained, so a device coming online gets it)."""
    twin = devices.get_twin(db, device_id)
    if twin is None:
        raise LookupError(f"device {device_id!r} has no twin")
    body = _desired_body(twin.desired_version, twin.desired)
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
