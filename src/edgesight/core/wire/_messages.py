"""Typed device <-> hub messages (the envelope payloads other than frame batches).

Each message is a frozen dataclass with ``to_bytes`` / ``from_bytes`` and a payload version.
Frame batches are the binary layout of :mod:`edgesight.core.wire._binary`; the other payloads
are compact JSON (docs/protocol.md). Version 1 writes no version key, so the bytes
are those of protocol version 1; a later version writes ``"v": n`` and a reader refuses a version
it does not know with :class:`~edgesight.core.errors.UnsupportedVersionError`. An event batch is
a JSON array: its version is the ``schema`` of its events (``edgesight.event/1``).

Reading never trusts the payload: every problem raises :class:`SchemaError` naming the message
and field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from edgesight.core.errors import SchemaError, UnsupportedVersionError
from edgesight.core.events import EVENT_SCHEMA, Event
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.wire._binary import BATCH_VERSIONS, decode_batch, encode_batch
from edgesight.core.wire._envelope import Kind
from edgesight.core.wire._text import MAX_NAME, check_text, loads_json

__all__ = [
    "COMMAND_TTL_S",
    "MESSAGE_TYPES",
    "Ack",
    "Command",
    "CommandResult",
    "DesiredTwin",
    "EventBatch",
    "FrameBatch",
    "Heartbeat",
    "Message",
    "ReportedTwin",
    "decode_message",
]

_VERSION_KEY = "v"
_MAX_INT = (1 << 63) - 1
_EVENT_SCHEMA_PREFIX = EVENT_SCHEMA.rsplit("/", 1)[0] + "/"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _loads(payload: bytes, what: str) -> Any:
    return loads_json(payload, what)


def _object(payload: bytes, what: str, version: int) -> dict[str, Any]:
    """The payload's JSON object, after refusing a version this reader does not know."""
    data = _loads(payload, what)
    if not isinstance(data, dict):
        raise SchemaError(f"{what}: expected a JSON object, got {type(data).__name__}")
    claimed = data.get(_VERSION_KEY, 1)
    if claimed != version or type(claimed) is not int:
        raise UnsupportedVersionError(
            f"{what}: unsupported version {claimed!r}; this reader knows version {version}",
            what=what,
            version=claimed,
        )
    return data


def _versioned(body: dict[str, Any], version: int) -> dict[str, Any]:
    return body if version == 1 else {_VERSION_KEY: version, **body}


def _int(data: Mapping[str, Any], key: str, what: str, minimum: int = 0) -> int:
    value = data.get(key)
    if type(value) is not int or value < minimum:
        raise SchemaError(f"{what}.{key}: expected an integer >= {minimum}, got {value!r}")
    if value > _MAX_INT:
        raise SchemaError(f"{what}.{key}: {value} does not fit in 64 bits")
    return value


def _str(data: Mapping[str, Any], key: str, what: str, limit: int = MAX_NAME) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise SchemaError(f"{what}.{key}: expected a string, got {value!r}")
    return check_text(value, f"{what}.{key}", limit)


def _dict(data: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise SchemaError(f"{what}.{key}: expected a JSON object, got {value!r}")
    return value


def _number(data: Mapping[str, Any], key: str, what: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{what}.{key}: expected a number, got {value!r}")
    return float(value)


class _JsonMessage:
    """``to_bytes`` / ``from_bytes`` of a versioned JSON object payload; subclasses say what is in it."""

    __slots__ = ()
    KIND: ClassVar[Kind]
    VERSION: ClassVar[int] = 1
    """The payload version this class writes and reads."""
    NAME: ClassVar[str]

    def _body(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The payload: compact JSON, with ``"v"`` only past version 1."""
        return _dumps(_versioned(self._body(), self.VERSION))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        """Read a payload; raises SchemaError naming the field, UnsupportedVersionError for another version."""
        return cls._from_body(_object(payload, cls.NAME, cls.VERSION))


@dataclass(frozen=True, slots=True)
class Heartbeat(_JsonMessage):
    """Kind 3, every few seconds: how the device is doing. Every field may be missing (None).

    Example:
        >>> hb = Heartbeat(fps=9.5, dnn_ms=41.2, model=ModelRef("nanodet", "1"), uptime_s=3.0, outbox_pending=0)
        >>> hb.to_bytes()
        b'{"fps":9.5,"dnn_ms":41.2,"model":{"id":"nanodet","version":"1"},"uptime_s":3.0,"outbox_pending":0}'
        >>> Heartbeat.from_bytes(hb.to_bytes()) == hb
        True
    """

    KIND: ClassVar[Kind] = Kind.HEARTBEAT
    NAME: ClassVar[str] = "heartbeat"

    fps: float | None = None
    dnn_ms: float | None = None
    model: ModelRef | None = None
    uptime_s: float | None = None
    outbox_pending: int | None = None

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "fps": self.fps,
            "dnn_ms": self.dnn_ms,
            "model": None if self.model is None else {"id": self.model.id, "version": self.model.version},
            "uptime_s": self.uptime_s,
            "outbox_pending": self.outbox_pending,
        }
        return {k: v for k, v in body.items() if v is not None}

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        what = cls.NAME
        model = data.get("model")
        if model is not None:
            if not isinstance(model, dict):
                raise SchemaError(f"{what}.model: expected {{id, version}}, got {model!r}")
            model = ModelRef(_str(model, "id", f"{what}.model"), _str(model, "version", f"{what}.model"))
        pending = data.get("outbox_pending")
        if pending is not None:
            pending = _int(data, "outbox_pending", what)
        return cls(
            fps=_number(data, "fps", what),
            dnn_ms=_number(data, "dnn_ms", what),
            model=model,
            uptime_s=_number(data, "uptime_s", what),
            outbox_pending=pending,
        )


@dataclass(frozen=True, slots=True)
class ReportedTwin(_JsonMessage):
    """Kind 4: the state the device runs with and the desired version it applied.

    Example:
        >>> ReportedTwin(2, {"upload": {"enabled": True}}).to_bytes()
        b'{"version":2,"state":{"upload":{"enabled":true}}}'
    """

    KIND: ClassVar[Kind] = Kind.REPORTED
    NAME: ClassVar[str] = "reported twin"

    version: int
    state: dict[str, Any]

    def _body(self) -> dict[str, Any]:
        return {"version": self.version, "state": self.state}

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        return cls(_int(data, "version", cls.NAME), _dict(data, "state", cls.NAME))


@dataclass(frozen=True, slots=True)
class DesiredTwin(_JsonMessage):
    """Kind 16 (hub -> device, retained): the configuration overrides the hub wants, and their version.

    The sections inside ``config`` are checked by the agent against its config schema.

    Example:
        >>> DesiredTwin.from_bytes(b'{"version":3,"config":{"upload":{"enabled":false}}}').version
        3
    """

    KIND: ClassVar[Kind] = Kind.DESIRED
    NAME: ClassVar[str] = "desired twin"

    version: int
    config: dict[str, Any] = field(default_factory=dict)

    def _body(self) -> dict[str, Any]:
        return {"version": self.version, "config": self.config}

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        config = data.get("config", {})
        if not isinstance(config, dict):
            raise SchemaError(f"{cls.NAME}.config: expected a JSON object, got {config!r}")
        return cls(_int(data, "version", cls.NAME), config)


COMMAND_TTL_S = 300.0
"""How long a command stays valid after the hub issued it, unless the hub says otherwise."""
MAX_COMMAND_TTL_S = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class Command(_JsonMessage):
    """Kind 17 (hub -> device): run ``name`` once; ``command_id`` makes a resent command harmless.

    Version 2 adds ``issued_at`` (Unix seconds) and ``ttl_s``: a device refuses a command after
    ``issued_at + ttl_s``. Its downlink sequence is the envelope's ``seq``, which the device
    checks against the highest it has accepted (docs/protocol.md). A version 1 command (no
    expiry) is refused with :class:`UnsupportedVersionError`.

    Example:
        >>> Command("c1", "snapshot", issued_at=1.7e9).to_bytes()
        b'{"v":2,"command_id":"c1","name":"snapshot","args":{},"issued_at":1700000000.0,"ttl_s":300.0}'
        >>> Command("c1", "snapshot", issued_at=1.7e9).expired(now=1.7e9 + 301)
        True
    """

    KIND: ClassVar[Kind] = Kind.COMMAND
    VERSION: ClassVar[int] = 2
    NAME: ClassVar[str] = "command"

    command_id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    issued_at: float = field(default_factory=time.time)
    ttl_s: float = COMMAND_TTL_S

    def expired(self, now: float) -> bool:
        """Whether ``now`` (Unix seconds) is past the command's expiry."""
        return now > self.issued_at + self.ttl_s

    def _body(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "name": self.name, "args": self.args, "issued_at": self.issued_at,
                "ttl_s": self.ttl_s}  # fmt: skip

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        args = data.get("args", {})
        if not isinstance(args, dict):
            raise SchemaError(f"{cls.NAME}.args: expected a JSON object, got {args!r}")
        issued_at, ttl_s = _number(data, "issued_at", cls.NAME), _number(data, "ttl_s", cls.NAME)
        if issued_at is None or issued_at <= 0:
            raise SchemaError(f"{cls.NAME}.issued_at: expected Unix seconds, got {data.get('issued_at')!r}")
        if ttl_s is None or not 0 < ttl_s <= MAX_COMMAND_TTL_S:
            raise SchemaError(f"{cls.NAME}.ttl_s: expected 0 < seconds <= {MAX_COMMAND_TTL_S:.0f}, got {ttl_s!r}")
        return cls(_str(data, "command_id", cls.NAME), _str(data, "name", cls.NAME), args, issued_at, ttl_s)


@dataclass(frozen=True, slots=True)
class CommandResult(_JsonMessage):
    """Kind 5: how a command went; ``detail`` says why it failed, or carries its answer.

    Example:
        >>> CommandResult("c1", False, "no image").to_bytes()
        b'{"command_id":"c1","ok":false,"detail":"no image"}'
    """

    KIND: ClassVar[Kind] = Kind.COMMAND_RESULT
    NAME: ClassVar[str] = "command result"

    command_id: str
    ok: bool
    detail: str | None = None

    def _body(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "ok": self.ok, "detail": self.detail}

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        ok = data.get("ok")
        if not isinstance(ok, bool):
            raise SchemaError(f"{cls.NAME}.ok: expected true or false, got {ok!r}")
        detail = data.get("detail")
        return cls(_str(data, "command_id", cls.NAME), ok, None if detail is None else str(detail))


@dataclass(frozen=True, slots=True)
class Ack(_JsonMessage):
    """Kind 18 (hub -> device): every message up to ``stored_through`` is stored or permanently
    rejected; ``rejected`` lists ``(seq, reason)`` of the rejected ones.

    Example:
        >>> Ack(41, ((40, "bad_payload"),)).to_bytes()
        b'{"stored_through":41,"rejected":[[40,"bad_payload"]]}'
    """

    KIND: ClassVar[Kind] = Kind.ACK
    NAME: ClassVar[str] = "ack"

    stored_through: int
    rejected: tuple[tuple[int, str], ...] = ()

    def _body(self) -> dict[str, Any]:
        return {"stored_through": self.stored_through, "rejected": [list(r) for r in self.rejected]}

    @classmethod
    def _from_body(cls, data: dict[str, Any]) -> Self:
        rejected = data.get("rejected", [])
        if not isinstance(rejected, list) or not all(
            isinstance(r, list) and len(r) == 2 and type(r[0]) is int and isinstance(r[1], str) for r in rejected
        ):
            raise SchemaError(f"{cls.NAME}.rejected: expected [[seq, reason], ...], got {rejected!r}")
        return cls(_int(data, "stored_through", cls.NAME), tuple((r[0], r[1]) for r in rejected))


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """Kind 1: 1..N frame records in the binary batch layout (:func:`encode_batch`, docs/schema.md).

    The hub does not decode these on ingest: it indexes them with :func:`index_batch`.

    Example:
        >>> from edgesight.core.detections import Detections
        >>> from edgesight.core.frame import FrameMeta
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("nanodet", "1"), (768, 576), Detections.empty())
        >>> FrameBatch.from_bytes(FrameBatch((m,)).to_bytes()).frames[0].device_id
        'cam1'
    """

    KIND: ClassVar[Kind] = Kind.FRAMES
    VERSION: ClassVar[int] = BATCH_VERSIONS[-1]
    NAME: ClassVar[str] = "frames"

    frames: tuple[FrameMeta, ...]

    def to_bytes(self) -> bytes:
        return encode_batch(self.frames)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        return cls(tuple(decode_batch(payload)))


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Kind 2: the events of one frame batch, a JSON array of ``edgesight.event/1`` objects.

    Example:
        >>> EventBatch(()).to_bytes(), EventBatch.from_bytes(b"[]")
        (b'[]', EventBatch(events=()))
    """

    KIND: ClassVar[Kind] = Kind.EVENTS
    VERSION: ClassVar[int] = 1
    """The ``edgesight.event/<n>`` schema of its events."""
    NAME: ClassVar[str] = "events"

    events: tuple[Event, ...]

    def to_bytes(self) -> bytes:
        return _dumps([e.to_dict() for e in self.events])

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        data = _loads(payload, cls.NAME)
        if not isinstance(data, list):
            raise SchemaError(f"events payload must be a JSON array, got {type(data).__name__}")
        events = []
        for i, item in enumerate(data):
            schema = item.get("schema") if isinstance(item, dict) else None
            if isinstance(schema, str) and schema.startswith(_EVENT_SCHEMA_PREFIX) and schema != EVENT_SCHEMA:
                raise UnsupportedVersionError(
                    f"event {i}: unsupported version {schema!r}; this reader knows {EVENT_SCHEMA!r}",
                    what=cls.NAME,
                    version=schema,
                )
            try:
                events.append(Event.from_dict(item))
            except (SchemaError, ValueError, TypeError, AttributeError) as exc:
                raise SchemaError(f"event {i}: {exc}") from None
        return cls(tuple(events))


Message = FrameBatch | EventBatch | Heartbeat | ReportedTwin | CommandResult | DesiredTwin | Command | Ack
"""Every typed message, one per envelope kind."""

MESSAGE_TYPES: dict[Kind, type[Message]] = {
    t.KIND: t for t in (FrameBatch, EventBatch, Heartbeat, ReportedTwin, CommandResult, DesiredTwin, Command, Ack)
}
"""The message class of each envelope kind."""


def decode_message(kind: Kind, payload: bytes) -> Message:
    """The typed message of an envelope's payload.

    Raises:
        SchemaError: the payload does not decode.
        UnsupportedVersionError: a payload version this reader does not know.

    Example:
        >>> decode_message(Kind.ACK, b'{"v":2,"stored_through":1}')
        Traceback (most recent call last):
        ...
        edgesight.core.errors.UnsupportedVersionError: ack: unsupported version 2; this reader knows version 1
    """
    return MESSAGE_TYPES[kind].from_bytes(payload)
