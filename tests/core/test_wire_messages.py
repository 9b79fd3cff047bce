"""Every message kind of core/wire round-trips, and a newer or unknown version is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesight.core.errors import SchemaError, UnsupportedVersionError
from edgesight.core.events import Event, EventType, FrameContext, LineStatus
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.wire import (
    MESSAGE_TYPES,
    Ack,
    Command,
    CommandResult,
    DesiredTwin,
    EventBatch,
    FrameBatch,
    Heartbeat,
    Kind,
    Message,
    ReportedTwin,
    decode_message,
)
from edgesight.testing import mock_detections

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
text = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=12)  # NUL is refused on reading
ids = st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True)
finite = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=4)


@st.composite
def frame_batches(draw: st.DrawFn) -> FrameBatch:
    device = draw(ids)
    frames = []
    for i in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 5))
        boxes = [[10.0 * j, 5.0, 10.0 * j + 30, 60.0] for j in range(n)]
        dets = mock_detections(boxes, tracker_id=range(1, n + 1) if draw(st.booleans()) else None)
        frames.append(FrameMeta(device, "main", i, i, 1.7e9 + i / 10, ModelRef("m", "1"), (640, 480), dets))
    return FrameBatch(tuple(frames))


@st.composite
def events(draw: st.DrawFn) -> Event:
    ctx = FrameContext(draw(ids), "main", draw(st.integers(0, 2**40)), draw(st.floats(1.6e9, 2e9)), (640, 480))
    return Event.create(
        EventType.LINE_CROSSING, ctx, draw(text), class_name=draw(st.none() | text),
        track_ids=tuple(draw(st.lists(st.integers(0, 2**31), max_size=3))), direction=draw(text),
        status=draw(st.sampled_from(list(LineStatus))).value, crossed_frame_index=draw(st.integers(0, 2**40)),
        point=[draw(st.floats(0, 1)), draw(st.floats(0, 1))],
    )  # fmt: skip


MESSAGES: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.FRAMES: frame_batches(),
    Kind.EVENTS: st.builds(EventBatch, st.lists(events(), max_size=3).map(tuple)),
    Kind.HEARTBEAT: st.builds(
        Heartbeat,
        fps=st.none() | finite,
        dnn_ms=st.none() | finite,
        model=st.none() | st.builds(ModelRef, text, text),
        uptime_s=st.none() | finite,
        outbox_pending=st.none() | st.integers(0, 2**40),
    ),
    Kind.REPORTED: st.builds(ReportedTwin, st.integers(0, 2**40), json_objects),
    Kind.COMMAND_RESULT: st.builds(CommandResult, text, st.booleans(), st.none() | text),
    Kind.DESIRED: st.builds(DesiredTwin, st.integers(0, 2**40), json_objects),
    Kind.COMMAND: st.builds(Command, text, text, json_objects),
    Kind.ACK: st.builds(
        Ack, st.integers(0, 2**40), st.lists(st.tuples(st.integers(1, 2**40), text), max_size=3).map(tuple)
    ),
}


def test_every_envelope_kind_has_a_message_and_a_strategy() -> None:
    assert set(MESSAGE_TYPES) == set(Kind) == set(MESSAGES)


@FUZZ
@given(st.sampled_from(sorted(MESSAGES)).flatmap(lambda kind: MESSAGES[kind]))
def test_every_message_kind_round_trips(message: Message) -> None:
    raw = message.to_bytes()
    decoded = decode_message(message.KIND, raw)
    assert type(decoded) is type(message)
    if isinstance(message, FrameBatch):  # boxes are quantised: the bytes are the fixed point
        assert decoded.to_bytes() == raw and len(decoded.frames) == len(message.frames)
    else:
        assert decoded == message


def _newer(message: Message, version: int) -> bytes:
    """``message`` as a writer of payload ``version`` would send it."""
    raw = message.to_bytes()
    if isinstance(message, FrameBatch):
        return raw[:3] + bytes([version]) + raw[4:]
    if isinstance(message, EventBatch):
        items = json.loads(raw)
        return json.dumps([{**e, "schema": f"edgesight.event/{version}"} for e in items]).encode()
    return json.dumps({**json.loads(raw), "v": version}).encode()


@FUZZ
@given(st.sampled_from(sorted(MESSAGES)).flatmap(lambda kind: MESSAGES[kind]), st.integers(2, 255))
def test_newer_versions_are_refused_naming_the_message_and_version(message: Message, version: int) -> None:
    if isinstance(message, EventBatch) and not message.events:
        message = EventBatch((Event.from_dict(_an_event()),))
    version += message.VERSION - 1  # a version above the message's own
    with pytest.raises(UnsupportedVersionError, match="unsupported") as info:
        decode_message(message.KIND, _newer(message, version))
    assert isinstance(info.value, SchemaError) and str(version) in str(info.value.version)


def _an_event() -> dict[str, Any]:
    ctx = FrameContext("cam-1", "main", 3, 1.7e9, (640, 480))
    return Event.create(
        EventType.LINE_CROSSING, ctx, "door", direction="in", status="CrossRight", crossed_frame_index=3,
        point=[0.5, 0.5],
    ).to_dict()  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        (Kind.HEARTBEAT, b'{"v": 0}', "heartbeat: unsupported version 0; this reader knows version 1"),
        (Kind.ACK, b'{"v": "1", "stored_through": 1}', "ack: unsupported version '1'"),
        (Kind.HEARTBEAT, b'{"fps": "fast"}', "heartbeat.fps: expected a number, got 'fast'"),
        (Kind.ACK, b'{"stored_through": -1}', "ack.stored_through: expected an integer >= 0, got -1"),
        (Kind.ACK, b'{"stored_through": 1, "rejected": [[1]]}', "ack.rejected: expected [[seq, reason], ...]"),
        (Kind.COMMAND_RESULT, b'{"command_id": "c", "ok": 1}', "command result.ok: expected true or false"),
        (Kind.REPORTED, b"[]", "reported twin: expected a JSON object, got list"),
        (Kind.COMMAND, b"{not json", "command: payload is not JSON"),
        (Kind.EVENTS, b"{}", "events payload must be a JSON array, got dict"),
        (Kind.EVENTS, b"[1]", "event 0: <event>: expected an object, got int"),
    ],
)
def test_bad_payloads_are_named(kind: Kind, payload: bytes, message: str) -> None:
    with pytest.raises(SchemaError) as info:
        decode_message(kind, payload)
    assert str(info.value).startswith(message)


def test_a_version_1_command_is_refused_with_a_version_error() -> None:
    """Commands gained an expiry in version 2; one without it is never obeyed (docs/protocol.md)."""
    with pytest.raises(UnsupportedVersionError, match="command: unsupported version 1; this reader knows version 2"):
        Command.from_bytes(b'{"command_id":"c1","name":"stop_upload","args":{}}')
    with pytest.raises(SchemaError, match=r"command\.ttl_s"):
        Command.from_bytes(b'{"v":2,"command_id":"c1","name":"stop_upload","issued_at":1.7e9,"ttl_s":0}')
