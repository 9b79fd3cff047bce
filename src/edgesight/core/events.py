"""Analytics events (schema ``edgesight.event/1``): what zones, lines and apps report.

The shape follows Azure Spatial Analysis events (one event names its rule, its trigger, the
tracks involved and type-specific ``properties``) and is documented type by type, with examples,
in docs/events.md. :meth:`Event.to_dict` / :meth:`Event.from_dict` are the only JSON forms; the
decoder is strict and every problem raises :class:`SchemaError` whose message starts with the
field path, e.g. ``properties.count: expected an integer >= 0, got -1``.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from edgesight.core.errors import SchemaError

__all__ = [
    "EVENT_SCHEMA",
    "DistanceEventName",
    "Event",
    "EventType",
    "FrameContext",
    "FrameLike",
    "LineStatus",
    "Trigger",
    "event_from_json",
    "event_to_json",
]

EVENT_SCHEMA = "edgesight.event/1"
_ID_NAMESPACE = uuid.UUID("6f1c1f2e-3f55-4c3b-9a8e-6b1f0a7c2d10")


class EventType(StrEnum):
    """Every kind of event; the last four are reserved for the apps (queue, shelf, safety, QA)."""

    ZONE_COUNT = "zone_count"
    ZONE_ENTER = "zone_enter"
    ZONE_EXIT = "zone_exit"
    DWELL = "dwell"
    LINE_CROSSING = "line_crossing"
    DISTANCE_VIOLATION = "distance_violation"
    SPEED = "speed"
    QUEUE_ADVICE = "queue_advice"
    RESTOCK = "restock"
    HAZARD = "hazard"
    DEFECT = "defect"
    INSPECTION = "inspection"


class Trigger(StrEnum):
    """Why an event was sent: something happened (``event``) or a reporting period ended (``interval``)."""

    EVENT = "event"
    INTERVAL = "interval"


class DistanceEventName(StrEnum):
    """Azure's ``eventName`` of a distance event."""

    TOO_CLOSE = "TooClose"
    TOO_FAR = "TooFar"


class LineStatus(StrEnum):
    """Azure's ``status`` of a line crossing: the side of the directed line the object moved to."""

    CROSS_RIGHT = "CrossRight"
    CROSS_LEFT = "CrossLeft"


class FrameLike(Protocol):
    """What an analytics rule needs to know about a frame (``FrameMeta`` satisfies it)."""

    @property
    def device_id(self) -> str: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def frame_index(self) -> int: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def frame_size(self) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class FrameContext:
    """A minimal :class:`FrameLike` for tests and for callers without a ``FrameMeta``.

    Example:
        >>> FrameContext("cam-1", "main", 7, 1.7e9, (640, 480)).frame_size
        (640, 480)
    """

    device_id: str
    stream_id: str
    frame_index: int
    timestamp: float
    frame_size: tuple[int, int]


# ---- property specs: name -> (check, expectation, required) --------------------------------------

_Check = Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _nonneg_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _nonneg_num(v: Any) -> bool:
    return _is_num(v) and v >= 0


def _side(v: Any) -> bool:
    return v is None or _nonneg_int(v)


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 64


def _counts(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _nonneg_int(c) for k, c in v.items())


def _point01(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_is_num(x) and -0.5 <= x <= 1.5 for x in v)


def _pairs(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(p, list) and len(p) == 2 and all(_is_int(i) for i in p) for p in v
    )


def _distances(v: Any) -> bool:
    return isinstance(v, list) and all(_nonneg_num(d) for d in v)


def _region(v: Any) -> bool:
    return v is None or (isinstance(v, list) and len(v) == 4 and all(_nonneg_int(x) for x in v))


def _one_of(values: type[StrEnum]) -> _Check:
    allowed = {m.value for m in values}
    return lambda v: isinstance(v, str) and v in allowed


_INT = (_nonneg_int, "an integer >= 0")
_NUM = (_nonneg_num, "a finite number >= 0")
_SIDE = (_side, "null or an edge index >= 0")

PROPERTY_SPECS: Mapping[EventType, Mapping[str, tuple[_Check, str, bool]]] = {
    EventType.ZONE_COUNT: {
        "count": (*_INT, True),
        "counts_by_class": (_counts, "an object of class name -> integer >= 0", True),
    },
    EventType.ZONE_ENTER: {"side": (*_SIDE, True)},
    EventType.ZONE_EXIT: {
        "side": (*_SIDE, True),
        "dwell_ms": (*_INT, True),
        "dwell_frames": (*_INT, True),
        "lost": (lambda v: isinstance(v, bool), "true or false", True),
    },
    EventType.DWELL: {
        "dwell_ms": (*_INT, True),
        "dwell_frames": (*_INT, True),
        "min_dwell_ms": (*_INT, True),
    },
    EventType.LINE_CROSSING: {
        "direction": (_nonempty_str, "a direction name of 1..64 characters", True),
        "status": (_one_of(LineStatus), "CrossRight or CrossLeft", True),
        "crossed_frame_index": (*_INT, True),
        "point": (_point01, "[x, y] normalised to the frame", True),
        "inferred": (lambda v: isinstance(v, bool), "true or false", False),
        "gap_frames": (*_INT, False),
    },
    EventType.DISTANCE_VIOLATION: {
        "event_name": (_one_of(DistanceEventName), "TooClose or TooFar", True),
        "average_distance_m": (*_NUM, True),
        "min_distance_m": (*_NUM, True),
        "threshold_m": (*_NUM, True),
        "violation_count": (*_INT, True),
        "pairs": (_pairs, "a list of [track_id, track_id]", True),
        "distances_m": (_distances, "a list of numbers >= 0", True),
    },
    EventType.SPEED: {"speed_mps": (*_NUM, True), "window_s": (*_NUM, True)},
    EventType.INSPECTION: {
        "product": (_nonempty_str, "a product name of 1..64 characters", True),
        "part_id": (lambda v: isinstance(v, str) and 0 < len(v) <= 128, "a part id of 1..128 characters", True),
        "score": (*_NUM, True),
        "threshold": (*_NUM, True),
        "passed": (lambda v: isinstance(v, bool), "true or false", True),
        "region": (_region, "null or [x, y, w, h] in part pixels", True),
        "latency_ms": (*_NUM, False),
        # present only on the event reporting the line's later finding about an inspected part
        "finding": (lambda v: v in ("good", "defect"), "good or defect (the line's finding)", False),
    },
}
"""Properties of each event type; types without an entry (the reserved app types) take any JSON object."""

_FIELDS = (
    "schema", "id", "type", "device_id", "stream_id", "frame_index", "timestamp", "rule", "trigger",
    "track_ids", "class_name", "properties",
)  # fmt: skip


def _check_properties(kind: EventType, props: Mapping[str, Any]) -> None:
    spec = PROPERTY_SPECS.get(kind)
    if spec is None:
        try:
            json.dumps(props, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"properties: must be a JSON object ({exc})") from exc
        return
    unknown = sorted(set(props) - set(spec))
    if unknown:
        raise SchemaError(
            f"properties.{unknown[0]}: not a property of {kind.value} (allowed: {sorted(spec)})"
        )
    for name, (check, expected, required) in spec.items():
        if name not in props:
            if required:
                raise SchemaError(f"properties.{name}: missing (required for {kind.value})")
            continue
        if not check(props[name]):
            raise SchemaError(f"properties.{name}: expected {expected}, got {props[name]!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """One analytics event.

    Attributes:
        type: what happened.
        device_id: the device whose stream the event is about.
        stream_id: the stream on that device.
        frame_index: frame at which the event was decided.
        timestamp: capture time of that frame, Unix seconds.
        rule: name of the zone, line or app rule that fired.
        trigger: ``event`` (something happened) or ``interval`` (periodic report).
        track_ids: tracks involved, in a stable order.
        class_name: class of the object, or None for events about several classes.
        properties: type-specific values (see ``PROPERTY_SPECS`` and docs/events.md).
        id: deterministic UUID5 of the fields above unless given, so a replayed stream gives the
            same ids and consumers can deduplicate.
        schema: always ``edgesight.event/1``.

    Example:
        >>> ctx = FrameContext("cam-1", "main", 42, 1700000000.0, (640, 480))
        >>> e = Event.create(EventType.ZONE_ENTER, ctx, "till", track_ids=(7,), class_name="person", side=2)
        >>> Event.from_dict(e.to_dict()) == e, e.to_dict()["properties"]
        (True, {'side': 2})
    """

    type: EventType
    device_id: str
    stream_id: str
    frame_index: int
    timestamp: float
    rule: str
    trigger: Trigger
    track_ids: tuple[int, ...]
    class_name: str | None
    properties: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    schema: str = EVENT_SCHEMA

    def __post_init__(self) -> None:
        if self.schema != EVENT_SCHEMA:
            raise SchemaError(f"schema: expected {EVENT_SCHEMA!r}, got {self.schema!r}")
        if type(self.type) is not EventType:
            object.__setattr__(self, "type", _enum(EventType, self.type, "type"))
        if type(self.trigger) is not Trigger:
            object.__setattr__(self, "trigger", _enum(Trigger, self.trigger, "trigger"))
        for name in ("device_id", "stream_id", "rule"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= 128:
                raise SchemaError(f"{name}: expected a string of 1..128 characters, got {value!r}")
        if not _nonneg_int(self.frame_index):
            raise SchemaError(f"frame_index: expected an integer >= 0, got {self.frame_index!r}")
        if not _is_num(self.timestamp):
            raise SchemaError(f"timestamp: expected a finite number of Unix seconds, got {self.timestamp!r}")
        if not all(type(t) is int for t in self.track_ids):
            raise SchemaError(f"track_ids: expected a list of integers, got {list(self.track_ids)!r}")
        if type(self.track_ids) is not tuple:
            object.__setattr__(self, "track_ids", tuple(self.track_ids))
        if self.class_name is not None and not _nonempty_str(self.class_name):
            raise SchemaError(
                f"class_name: expected null or a string of 1..64 characters, got {self.class_name!r}"
            )
        if not isinstance(self.properties, Mapping):
            raise SchemaError(f"properties: expected an object, got {self.properties!r}")
        _check_properties(self.type, self.properties)
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))
        if not self.id:
            key = (
                f"{self.device_id}/{self.stream_id}/{self.frame_index}/{self.type.value}/{self.rule}/"
                f"{self.trigger.value}/{','.join(map(str, self.track_ids))}/{self.class_name}"
            )
            object.__setattr__(self, "id", _uuid5(key))
        elif not isinstance(self.id, str) or len(self.id) > 64:
            raise SchemaError(f"id: expected a string of up to 64 characters, got {self.id!r}")

    @classmethod
    def create(
        cls,
        type: EventType,
        frame: FrameLike,
        rule: str,
        *,
        trigger: Trigger = Trigger.EVENT,
        track_ids: tuple[int, ...] = (),
        class_name: str | None = None,
        **properties: Any,
    ) -> Event:
        """Build an event about ``frame`` (device, stream, frame index and time come from it).

        Example:
            >>> ctx = FrameContext("cam-1", "main", 3, 10.0, (640, 480))
            >>> Event.create(EventType.SPEED, ctx, "speed", track_ids=(1,), speed_mps=1.5, window_s=1.0).rule
            'speed'
        """
        return cls(
            type=type,
            device_id=frame.device_id,
            stream_id=frame.stream_id,
            frame_index=frame.frame_index,
            timestamp=frame.timestamp,
            rule=rule,
            trigger=trigger,
            track_ids=track_ids,
            class_name=class_name,
            properties=properties,
        )

    def in_run(self, run_id: str) -> Event:
        """This event with its id minted within ``run_id``.

        An agent numbers frames from 0 at every start, so the same device, stream, frame index,
        type and rule recur after a restart; the agent's run id (random per start) keeps those
        events distinct. Replaying a recording without a run keeps the plain, deterministic ids.

        Example:
            >>> e = Event.create(EventType.ZONE_ENTER, FrameContext("cam-1", "main", 3, 10.0, (640, 480)), "z", side=1)
            >>> e.in_run("r1").id == e.in_run("r1").id != e.in_run("r2").id != e.id
            True
        """
        return replace(self, id=_uuid5(f"run/{run_id}/{self.id}"))

    def to_dict(self) -> dict[str, Any]:
        """The wire form: a JSON-ready dict with the fields in schema order.

        Example:
            >>> ctx = FrameContext("cam-1", "main", 3, 10.0, (640, 480))
            >>> list(Event.create(EventType.ZONE_ENTER, ctx, "z", side=None).to_dict())[:3]
            ['schema', 'id', 'type']
        """
        return {
            "schema": self.schema,
            "id": self.id,
            "type": self.type.value,
            "device_id": self.device_id,
            "stream_id": self.stream_id,
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "rule": self.rule,
            "trigger": self.trigger.value,
            "track_ids": list(self.track_ids),
            "class_name": self.class_name,
            "properties": json.loads(json.dumps(dict(self.properties))),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Decode and validate the wire form; raises :class:`SchemaError` naming the field.

        Example:
            >>> Event.from_dict({"schema": "edgesight.event/9"})
            Traceback (most recent call last):
            ...
            edgesight.core.errors.SchemaError: schema: expected 'edgesight.event/1', got 'edgesight.event/9'
        """
        if not isinstance(data, Mapping):
            raise SchemaError(f"<event>: expected an object, got {type(data).__name__}")
        if data.get("schema") != EVENT_SCHEMA:
            raise SchemaError(f"schema: expected {EVENT_SCHEMA!r}, got {data.get('schema')!r}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise SchemaError(f"{unknown[0]}: unknown field (allowed: {list(_FIELDS)})")
        missing = [f for f in _FIELDS if f not in data]
        if missing:
            raise SchemaError(f"{missing[0]}: missing")
        if not isinstance(data["id"], str) or not data["id"]:
            raise SchemaError(f"id: expected a non-empty string, got {data['id']!r}")
        if not isinstance(data["track_ids"], list):
            raise SchemaError(f"track_ids: expected a list of integers, got {data['track_ids']!r}")
        if not isinstance(data["properties"], dict):
            raise SchemaError(f"properties: expected an object, got {data['properties']!r}")
        return cls(
            type=data["type"],
            device_id=data["device_id"],
            stream_id=data["stream_id"],
            frame_index=data["frame_index"],
            timestamp=data["timestamp"],
            rule=data["rule"],
            trigger=data["trigger"],
            track_ids=tuple(data["track_ids"]),
            class_name=data["class_name"],
            properties=data["properties"],
            id=data["id"],
            schema=data["schema"],
        )


_E = TypeVar("_E", bound=StrEnum)


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_ID_NAMESPACE, name))`` without building UUID objects (hot path).

    Example:
        >>> _uuid5("x") == str(uuid.uuid5(_ID_NAMESPACE, "x"))
        True
    """
    digest = bytearray(hashlib.sha1(_ID_NAMESPACE.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _enum(kind: type[_E], value: Any, name: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise SchemaError(f"{name}: expected one of {[m.value for m in kind]}, got {value!r}") from None


def event_to_json(event: Event) -> str:
    """Compact JSON text of an event.

    Example:
        >>> ctx = FrameContext("cam-1", "main", 3, 10.0, (640, 480))
        >>> event_from_json(event_to_json(Event.create(EventType.ZONE_ENTER, ctx, "z", side=1))).rule
        'z'
    """
    return json.dumps(event.to_dict(), separators=(",", ":"), allow_nan=False)


def event_from_json(text: str | bytes) -> Event:
    """Parse and validate one event from JSON text.

    Example:
        >>> event_from_json("[]")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: <event>: expected an object, got list
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"<event>: not valid JSON ({exc.msg} at {exc.pos})") from exc
    except (ValueError, RecursionError) as exc:  # bytes not UTF-8; nesting past the parser's depth
        raise SchemaError(f"<event>: not valid JSON ({type(exc).__name__})") from None
    return Event.from_dict(data)
