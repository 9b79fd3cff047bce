"""The one place metadata becomes bytes: JSON records, JSON Lines files and binary frame batches.

MQTT payloads, database rows and files are made only from these functions (STYLE rule 1):

* JSON (schema ``edgesight.frame/1``): :func:`frame_to_dict` / :func:`frame_from_dict`,
  :func:`frame_to_json` / :func:`frame_from_json`, :func:`write_jsonl` / :func:`iter_jsonl`.
  Implemented in :mod:`edgesight.core.serialize_json`.
* Binary batches of 1..N frames, about 45 bytes per frame of 8 tracked people:
  :func:`encode_batch` / :func:`decode_batch`. Implemented in :mod:`edgesight.core.serialize_binary`.

Every decoding problem raises :class:`edgesight.core.errors.SchemaError`. The wire formats are
documented in docs/schema.md.

Example:
    >>> from edgesight.core.detections import Detections
    >>> from edgesight.core.frame import FrameMeta, ModelRef
    >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("nanodet", "1"), (768, 576), Detections.empty())
    >>> frame_from_json(frame_to_json(m)).device_id, decode_batch(encode_batch([m]))[0].seq
    ('cam1', 0)
"""

from __future__ import annotations

from edgesight.core.serialize_binary import BATCH_VERSIONS, MAX_BODY_BYTES, decode_batch, encode_batch
from edgesight.core.serialize_json import (
    SUPPORTED_SCHEMAS,
    frame_from_dict,
    frame_from_json,
    frame_to_dict,
    frame_to_json,
    iter_jsonl,
    write_jsonl,
)

__all__ = [
    "BATCH_VERSIONS",
    "MAX_BODY_BYTES",
    "SUPPORTED_SCHEMAS",
    "decode_batch",
    "encode_batch",
    "frame_from_dict",
    "frame_from_json",
    "frame_to_dict",
    "frame_to_json",
    "iter_jsonl",
    "write_jsonl",
]
