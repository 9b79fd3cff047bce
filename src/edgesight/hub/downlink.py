"""Hub -> device messages (desired twin, command, ack), signed with the device's secret.

The transport is a :class:`Publisher` (``publish(topic, payload, retain)``): the MQTT worker's
client in production, :class:`RecordingPublisher` in tests, :class:`NullPublisher` without a broker.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from edgesight.core.errors import ConfigError
from edgesight.core.wire import (
    COMMAND_TTL_S,
    MAX_PAYLOAD,
    Ack,
    Command,
    DesiredTwin,
    Envelope,
    Leaf,
    Message,
    topic,
)
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
]

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


def _seal(db: Database, device_id: str, message: Message) -> bytes:
    seq, secret = devices.next_down_seq(db, device_id)
    return Envelope(message.KIND, device_id, seq, time.time(), message.to_bytes()).seal(secret)


class DesiredTooLargeError(ConfigError):
    """A desired twin that would not fit in one message (it is refused before it is stored)."""


def check_desired_fits(version: int, config: dict[str, Any]) -> None:
    """Raise :class:`DesiredTooLargeError` when the desired message would exceed ``MAX_PAYLOAD``.

    Example:
        >>> check_desired_fits(2, {"privacy": {"allow_images": False}})
        >>> check_desired_fits(2, {"note": "x" * MAX_PAYLOAD})
        Traceback (most recent call last):
        ...
        edgesight.hub.downlink.DesiredTooLargeError: desired twin version 2 would be 1048610 bytes ...
    """
    size = len(DesiredTwin(version, config).to_bytes())
    if size > MAX_PAYLOAD:
        raise DesiredTooLargeError(
            f"desired twin version {version} would be {size} bytes in one message, over the limit of "
            f"{MAX_PAYLOAD} bytes; the patch was not applied"
        )


def send_desired(db: Database, publisher: Publisher, device_id: str) -> DesiredTwin:
    """Publish the device's desired twin (retained, so a device coming online gets it)."""
    twin = devices.get_twin(db, device_id)
    if twin is None:
        raise LookupError(f"device {device_id!r} has no twin")
    desired = DesiredTwin(twin.desired_version, twin.desired)
    publisher.publish(topic(device_id, Leaf.DESIRED), _seal(db, device_id, desired), retain=True)
    return desired


def send_command(
    db: Database,
    publisher: Publisher,
    device_id: str,
    command_id: str,
    name: str,
    args: dict[str, Any],
    ttl_s: float = COMMAND_TTL_S,
) -> None:
    """Publish a command (not retained), valid for ``ttl_s`` seconds from now; the device refuses
    it later, or when its envelope's seq is not above the highest it has accepted."""
    command = Command(command_id, name, args, issued_at=time.time(), ttl_s=ttl_s)
    publisher.publish(topic(device_id, Leaf.COMMAND), _seal(db, device_id, command))


def ack_envelope(
    device_id: str, seq: int, secret: bytes, stored_through: int, rejected: list[tuple[int, str]]
) -> bytes:
    """The signed ``down/ack`` message (its ``seq`` was reserved in the ingest transaction)."""
    ack = Ack(stored_through, tuple(rejected))
    return Envelope(ack.KIND, device_id, seq, time.time(), ack.to_bytes()).seal(secret)
