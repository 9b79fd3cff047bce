"""Fuzzing every decoder of core/wire and the config loader: hostile input raises only EdgeSightError.

Each decoder gets random bytes and mutations of valid input (bit flips, truncations, splices, NULs,
deep nesting). Whatever comes in, a decoder returns or raises an :class:`EdgeSightError` subclass:
never ``ValueError``, ``RecursionError``, ``UnicodeDecodeError`` or ``IndexError``.

``EDGESIGHT_FUZZ_EXAMPLES`` sets the inputs per test (default 400); run with
``--hypothesis-show-statistics`` to see how many each test generated (figures in
docs/ingest-hardening.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesight.core.config import load_config, parse_config
from edgesight.core.detections import Detections
from edgesight.core.errors import EdgeSightError
from edgesight.core.events import Event, EventType, FrameContext
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.wire import (
    MESSAGE_TYPES,
    Ack,
    Command,
    CommandResult,
    DesiredTwin,
    Envelope,
    EventBatch,
    Heartbeat,
    Kind,
    ReportedTwin,
    decode_batch,
    decode_message,
    encode_batch,
    frame_from_dict,
    frame_from_json,
    frame_to_json,
    index_batch,
    iter_jsonl,
    join_envelopes,
    open_envelope,
    parse_topic,
    peek_device_id,
    read_events,
    read_metadata,
    split_envelopes,
    up_topic_device_id,
)
from edgesight.testing import mock_detections

EXAMPLES = int(os.environ.get("EDGESIGHT_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
SECRET = b"s" * 32


def _frame(i: int, n: int) -> FrameMeta:
    boxes = [[10.0 * j, 5.0, 10.0 * j + 30, 60.0] for j in range(n)]
    dets = mock_detections(boxes, tracker_id=range(1, n + 1)) if n else Detections.empty()
    return FrameMeta("cam-1", "main", i, i, 1.7e9 + i / 10, ModelRef("m", "1"), (640, 480), dets)


VALID_BATCH = encode_batch([_frame(i, 3) for i in range(4)])
VALID_FRAME_JSON = frame_to_json(_frame(0, 2)).encode()
_CTX = FrameContext("cam-1", "main", 3, 1.7e9, (640, 480))
VALID_PAYLOADS: dict[Kind, bytes] = {
    Kind.FRAMES: VALID_BATCH,
    Kind.EVENTS: EventBatch((Event.create(EventType.ZONE_ENTER, _CTX, "z", side=1),)).to_bytes(),
    Kind.HEARTBEAT: Heartbeat(fps=9.5, model=ModelRef("m", "1"), outbox_pending=3).to_bytes(),
    Kind.REPORTED: ReportedTwin(2, {"upload": {"enabled": True}}).to_bytes(),
    Kind.COMMAND_RESULT: CommandResult("c1", True, "done").to_bytes(),
    Kind.DESIRED: DesiredTwin(3, {"upload": {"enabled": False}}).to_bytes(),
    Kind.COMMAND: Command("c1", "stop_upload", issued_at=1.7e9).to_bytes(),
    Kind.ACK: Ack(4, ((2, "bad_payload"),)).to_bytes(),
}
VALID_ENVELOPE = Envelope(Kind.HEARTBEAT, "cam-1", 7, 1.7e9, VALID_PAYLOADS[Kind.HEARTBEAT]).seal(SECRET)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a few bytes flipped, cut, inserted (NULs included) or spliced from elsewhere."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "nul", "splice"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "nul":
            data[at:at] = b"\\u0000" if draw(st.booleans()) else b"\0"
        else:
            data[at : at + draw(st.integers(1, 16))] = draw(st.binary(max_size=16))
    return bytes(data)


def inputs(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=256) | mutated(valid)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
deep_json = st.integers(1, 5000).map(lambda depth: b"[" * depth + b"1" + b"]" * depth)


def only_project_errors(decode: Callable[[], Any]) -> None:
    """Run ``decode``; anything raised must be an EdgeSightError."""
    with contextlib.suppress(EdgeSightError):
        decode()


@FUZZ
@given(inputs(VALID_BATCH))
def test_binary_batch_decoders(data: bytes) -> None:
    only_project_errors(lambda: decode_batch(data))
    only_project_errors(lambda: index_batch(data))


@FUZZ
@given(inputs(VALID_FRAME_JSON) | deep_json)
def test_frame_json_decoder(data: bytes) -> None:
    only_project_errors(lambda: frame_from_json(data))


@FUZZ
@given(json_values)
def test_frame_dict_decoder(value: Any) -> None:
    only_project_errors(lambda: frame_from_dict(value))


@FUZZ
@given(st.lists(st.text(max_size=60) | inputs(VALID_FRAME_JSON).map(lambda b: b.decode("utf-8", "replace")),
                max_size=4))  # fmt: skip
def test_jsonl_decoder(lines: list[str]) -> None:
    only_project_errors(lambda: list(iter_jsonl(line + "\n" for line in lines)))


@FUZZ
@given(st.sampled_from(sorted(MESSAGE_TYPES)).flatmap(lambda k: st.tuples(st.just(k), inputs(VALID_PAYLOADS[k])))
       | st.tuples(st.sampled_from(sorted(MESSAGE_TYPES)), deep_json))  # fmt: skip
def test_message_decoders(case: tuple[Kind, bytes]) -> None:
    kind, payload = case
    only_project_errors(lambda: decode_message(kind, payload))


def _resealed(raw: bytes) -> bytes:
    """A mutated envelope with a valid MAC, so the checks after the MAC are reached too."""
    if len(raw) < 32:
        return raw
    body = raw[:-32]
    return body + hmac.new(SECRET, body, hashlib.sha256).digest()


@FUZZ
@given(inputs(VALID_ENVELOPE), st.booleans())
def test_envelope_decoders(raw: bytes, reseal: bool) -> None:
    raw = _resealed(raw) if reseal else raw
    only_project_errors(lambda: peek_device_id(raw))
    only_project_errors(lambda: open_envelope(raw, lambda _device: SECRET))


@FUZZ
@given(inputs(join_envelopes([VALID_ENVELOPE, VALID_ENVELOPE])))
def test_http_body_splitter(body: bytes) -> None:
    only_project_errors(lambda: split_envelopes(body))


@FUZZ
@given(st.text(max_size=80) | st.from_regex(r"edgesight/v1/d/[^/]{0,20}/(up|down/ack|down/\w+|status)", fullmatch=True))
def test_topic_parsers(name: str) -> None:
    only_project_errors(lambda: parse_topic(name))
    only_project_errors(lambda: up_topic_device_id(name))


@pytest.fixture(scope="module")
def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="edgesight-fuzz-"))


@FUZZ
@given(inputs(VALID_FRAME_JSON + b"\n" + VALID_FRAME_JSON) | deep_json, inputs(len(VALID_BATCH).to_bytes(4, "little") + VALID_BATCH))
def test_metadata_file_readers(scratch: Path, jsonl: bytes, esb: bytes) -> None:
    (scratch / "m.jsonl").write_bytes(jsonl)
    (scratch / "m.esb").write_bytes(esb)
    only_project_errors(lambda: list(read_metadata(scratch / "m.jsonl")))
    only_project_errors(lambda: list(read_metadata(scratch / "m.esb")))


@FUZZ
@given(inputs(VALID_PAYLOADS[Kind.EVENTS][1:-1] + b"\n") | deep_json)
def test_event_file_reader(scratch: Path, data: bytes) -> None:
    (scratch / "e.jsonl").write_bytes(data)
    only_project_errors(lambda: list(read_events(scratch / "e.jsonl")))


VALID_CONFIG = b"""device_id: cam-1
sensor:
  source: data/vtest.avi
analytics:
  lines:
    - {name: door, start: [0.5, 0.0], end: [0.5, 1.0]}
  zones:
    - {name: till, polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}
"""
yaml_bombs = st.integers(2, 9).map(
    lambda n: b"a0: &a0 [x, x]\n" + b"".join(b"a%d: &a%d [*a%d, *a%d]\n" % (i, i, i - 1, i - 1) for i in range(1, n))
)  # fmt: skip


@FUZZ
@given(inputs(VALID_CONFIG) | yaml_bombs | deep_json)
def test_config_loader(scratch: Path, text: bytes) -> None:
    (scratch / "c.yaml").write_bytes(text)
    only_project_errors(lambda: load_config(scratch / "c.yaml"))


@FUZZ
@given(json_values | st.dictionaries(st.sampled_from(["device_id", "sensor", "analytics", "upload", "privacy"]),
                                     json_values, max_size=4))  # fmt: skip
def test_config_parser(value: Any) -> None:
    only_project_errors(lambda: parse_config(value))
