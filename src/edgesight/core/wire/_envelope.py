"""The authenticated envelope every device <-> hub message travels in (docs/protocol.md).

Each envelope carries the sender's device id, a per-device sequence number, the send time, a
payload and an HMAC-SHA256 over all of it with the device's secret. Parsing never trusts a
length it has not checked; every problem raises :class:`EnvelopeError` with a short ``reason``
code that the hub counts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from edgesight.core.errors import SchemaError

__all__ = [
    "MAX_PAYLOAD",
    "Envelope",
    "EnvelopeError",
    "Kind",
    "SecretLookup",
    "join_envelopes",
    "open_envelope",
    "peek_device_id",
    "split_envelopes",
]

MAGIC = b"ESE1"
MAX_PAYLOAD = 1 << 20
MAC_SIZE = 32
MAX_SEQ = (1 << 63) - 1
"""Largest sequence number (a signed 64-bit database column)."""
_HEAD = struct.Struct(">4sBBH")  # magic, kind, flags, device id length
_TAIL = struct.Struct(">QdI")  # seq, sent_at, payload length
_BATCH_LENGTH = struct.Struct(">I")  # HTTP ingest bodies: [u32 length][envelope]...
_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SecretLookup = Callable[[str], bytes]
"""``(device_id) -> secret``; raises EnvelopeError (``unknown_device``, ``revoked``) to refuse."""


class Kind(IntEnum):
    """What an envelope's payload is."""

    FRAMES = 1
    EVENTS = 2
    HEARTBEAT = 3
    REPORTED = 4
    COMMAND_RESULT = 5
    DESIRED = 16
    COMMAND = 17
    ACK = 18


class EnvelopeError(SchemaError):
    """An envelope that cannot be accepted; ``reason`` is the counted reject code.

    ``seq`` and ``kind`` are set when the envelope's MAC was valid (the device did sign it), so the
    hub may record the rejection against the device's sequence.
    """

    def __init__(self, reason: str, detail: str, *, seq: int | None = None, kind: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.seq = seq
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message. ``seq`` counts from 1 per device and direction.

    Example:
        >>> secret = b"k" * 32
        >>> raw = Envelope(Kind.EVENTS, "cam-1", 7, 1.7e9, b"[]").seal(secret)
        >>> opened = open_envelope(raw, lambda device_id: secret)
        >>> opened.device_id, opened.seq, opened.kind.name
        ('cam-1', 7, 'EVENTS')
    """

    kind: Kind
    device_id: str
    seq: int
    sent_at: float
    payload: bytes

    def seal(self, secret: bytes) -> bytes:
        """Serialise and sign with the device's secret."""
        if not _DEVICE_ID.match(self.device_id):
            raise EnvelopeError(
                "bad_device_id", f"device id {self.device_id!r} must match {_DEVICE_ID.pattern}"
            )
        if len(self.payload) > MAX_PAYLOAD:
            raise EnvelopeError("oversized", f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")
        device = self.device_id.encode()
        body = (
            _HEAD.pack(MAGIC, int(self.kind), 0, len(device))
            + device
            + _TAIL.pack(self.seq, self.sent_at, len(self.payload))
            + self.payload
        )
        return body + hmac.new(secret, body, hashlib.sha256).digest()


def peek_device_id(raw: bytes) -> str:
    """The device id an envelope claims, read before its MAC can be checked (to find the secret)."""
    if len(raw) < _HEAD.size:
        raise EnvelopeError("truncated", f"{len(raw)} bytes is shorter than an envelope header")
    magic, _kind, _flags, length = _HEAD.unpack_from(raw)
    if magic != MAGIC:
        raise EnvelopeError("bad_magic", f"expected {MAGIC!r}, got {magic!r}")
    device = raw[_HEAD.size : _HEAD.size + length]
    if len(device) != length:
        raise EnvelopeError("truncated", "envelope ends inside the device id")
    try:
        device_id = device.decode()
    except UnicodeDecodeError as exc:
        raise EnvelopeError("bad_device_id", "device id is not UTF-8") from exc
    if not _DEVICE_ID.match(device_id):
        raise EnvelopeError("bad_device_id", f"device id {device_id!r} is not allowed")
    return device_id


def open_envelope(raw: bytes, secret_of: SecretLookup, *, device_id: str | None = None) -> Envelope:
    """Parse and verify an envelope.

    Args:
        raw: the bytes received.
        secret_of: returns the secret of a device id, or raises EnvelopeError (``unknown_device``,
            ``revoked``) for a device that may not send.
        device_id: what :func:`peek_device_id` already read from ``raw`` (not read again).
    """
    if len(raw) > MAX_PAYLOAD + 1024:
        raise EnvelopeError("oversized", f"envelope of {len(raw)} bytes exceeds the limit")
    if device_id is None:
        device_id = peek_device_id(raw)
    _magic, kind_value, flags, length = _HEAD.unpack_from(raw)
    offset = _HEAD.size + length
    if len(raw) < offset + _TAIL.size + MAC_SIZE:
        raise EnvelopeError("truncated", f"envelope of {len(raw)} bytes ends before its payload")
    seq, sent_at, size = _TAIL.unpack_from(raw, offset)
    offset += _TAIL.size
    if size > MAX_PAYLOAD:
        raise EnvelopeError("oversized", f"payload of {size} bytes exceeds {MAX_PAYLOAD}")
    if len(raw) != offset + size + MAC_SIZE:
        raise EnvelopeError(
            "truncated", f"payload length says {size} bytes, envelope holds {len(raw) - offset - MAC_SIZE}"
        )
    secret = secret_of(device_id)
    expected = hmac.new(secret, raw[: offset + size], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, raw[offset + size :]):
        raise EnvelopeError(
            "bad_mac", f"message claiming to be from {device_id!r} is not signed with its key"
        )
    if not 1 <= seq <= MAX_SEQ:
        raise EnvelopeError("bad_seq", f"sequence numbers run from 1 to {MAX_SEQ}, got {seq}")
    try:
        kind = Kind(kind_value)
    except ValueError as exc:
        raise EnvelopeError("bad_kind", f"unknown message kind {kind_value}", seq=seq, kind=kind_value) from exc
    if flags != 0:
        raise EnvelopeError("bad_flags", f"reserved flags must be 0, got {flags}", seq=seq, kind=kind_value)
    return Envelope(kind, device_id, seq, sent_at, raw[offset : offset + size])


def join_envelopes(raws: Iterable[bytes]) -> bytes:
    """An HTTP ingest body: ``[u32 big-endian length][envelope]...``.

    Example:
        >>> split_envelopes(join_envelopes([b"ab", b"c"]))
        [b'ab', b'c']
    """
    return b"".join(_BATCH_LENGTH.pack(len(raw)) + raw for raw in raws)


def split_envelopes(body: bytes) -> list[bytes]:
    """The envelopes of an HTTP ingest body (not yet opened).

    Raises:
        SchemaError: the body ends inside a length prefix or an envelope (naming the byte offset).

    Example:
        >>> split_envelopes(b"\\0\\0\\0\\2ab\\0\\0\\0\\1c")
        [b'ab', b'c']
    """
    out, offset = [], 0
    while offset < len(body):
        if offset + _BATCH_LENGTH.size > len(body):
            raise SchemaError(f"body ends inside the length prefix at byte {offset}")
        (size,) = _BATCH_LENGTH.unpack_from(body, offset)
        offset += _BATCH_LENGTH.size
        if offset + size > len(body):
            raise SchemaError(f"envelope at byte {offset - 4} claims {size} bytes, {len(body) - offset} remain")
        out.append(body[offset : offset + size])
        offset += size
    return out
