"""Every byte that crosses a process boundary is made and read here, and only here.

* Frame records: JSON (``edgesight.frame/1``, :func:`frame_to_json` / :func:`frame_from_json`,
  JSON Lines) and binary batches (:func:`encode_batch` / :func:`decode_batch`, and
  :func:`index_batch`, the hub's validate-and-count reader sharing the decoder's walk).
* Metadata files: :class:`MetadataWriter` / :func:`read_metadata` (``.jsonl``, ``.esb``) and
  :class:`EventWriter` / :func:`read_events`.
* The authenticated :class:`Envelope` every device <-> hub message travels in, and the
  length-prefixed HTTP ingest body of several (:func:`join_envelopes` / :func:`split_envelopes`).
* Typed messages, one per envelope kind but frames: :class:`EventBatch`, :class:`Heartbeat`,
  :class:`ReportedTwin`, :class:`CommandResult`, :class:`DesiredTwin`, :class:`Command`,
  :class:`Ack`, each with ``to_bytes`` / ``from_bytes`` and a payload version.
* Model rollout: :class:`ModelTarget` (a desired twin's ``model``) and :class:`ModelReport` (a
  reported twin's ``model``).
* The MQTT topic layout: :func:`topic` and :class:`Leaf`.

A payload of an unknown or newer version raises :class:`~edgesight.core.errors.UnsupportedVersionError`
(a :class:`~edgesight.core.errors.SchemaError`); every other decoding problem a ``SchemaError``
naming the field. The formats are documented in docs/schema.md and docs/protocol.md.

Example:
    >>> from edgesight.core.detections import Detections
    >>> from edgesight.core.frame import FrameMeta, ModelRef
    >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("nanodet", "1"), (768, 576), Detections.empty())
    >>> frame_from_json(frame_to_json(m)).device_id, decode_batch(encode_batch([m]))[0].seq
    ('cam1', 0)
    >>> raw = Envelope(Kind.ACK, "cam1", 1, 1.7e9, Ack(5).to_bytes()).seal(b"k" * 32)
    >>> decode_message(Kind.ACK, open_envelope(raw, lambda _: b"k" * 32).payload)
    Ack(stored_through=5, rejected=())
"""

from __future__ import annotations

from edgesight.core.wire._binary import (
    BATCH_VERSIONS,
    MAX_BODY_BYTES,
    FrameEntry,
    decode_batch,
    encode_batch,
    index_batch,
)
from edgesight.core.wire._envelope import (
    MAX_PAYLOAD,
    Envelope,
    EnvelopeError,
    Kind,
    SecretLookup,
    join_envelopes,
    open_envelope,
    peek_device_id,
    split_envelopes,
)
from edgesight.core.wire._files import BINARY_SUFFIX, EventWriter, MetadataWriter, read_events, read_metadata
from edgesight.core.wire._json import (
    SUPPORTED_SCHEMAS,
    frame_from_dict,
    frame_from_json,
    frame_to_dict,
    frame_to_json,
    iter_jsonl,
    write_jsonl,
)
from edgesight.core.wire._messages import (
    COMMAND_TTL_S,
    MESSAGE_TYPES,
    Ack,
    Command,
    CommandResult,
    DesiredTwin,
    EventBatch,
    FrameBatch,
    Heartbeat,
    Message,
    ReportedTwin,
    decode_message,
)
from edgesight.core.wire._rollout import ROLLOUT_VERSION, HealthLimits, ModelReport, ModelState, ModelTarget
from edgesight.core.wire._topics import (
    DOWNLINK_KINDS,
    Leaf,
    parse_topic,
    shared_up_subscription,
    topic,
    up_topic_device_id,
)

__all__ = [
    "BATCH_VERSIONS",
    "BINARY_SUFFIX",
    "COMMAND_TTL_S",
    "DOWNLINK_KINDS",
    "MAX_BODY_BYTES",
    "MAX_PAYLOAD",
    "MESSAGE_TYPES",
    "ROLLOUT_VERSION",
    "SUPPORTED_SCHEMAS",
    "Ack",
    "Command",
    "CommandResult",
    "DesiredTwin",
    "Envelope",
    "EnvelopeError",
    "EventBatch",
    "EventWriter",
    "FrameBatch",
    "FrameEntry",
    "HealthLimits",
    "Heartbeat",
    "Kind",
    "Leaf",
    "Message",
    "MetadataWriter",
    "ModelReport",
    "ModelState",
    "ModelTarget",
    "ReportedTwin",
    "SecretLookup",
    "decode_batch",
    "decode_message",
    "encode_batch",
    "frame_from_dict",
    "frame_from_json",
    "frame_to_dict",
    "frame_to_json",
    "index_batch",
    "iter_jsonl",
    "join_envelopes",
    "open_envelope",
    "parse_topic",
    "peek_device_id",
    "read_events",
    "read_metadata",
    "shared_up_subscription",
    "split_envelopes",
    "topic",
    "up_topic_device_id",
    "write_jsonl",
]
