"""Index a binary frame batch without decoding it: the hub's cheap ingest path.

The hub stores a ``FRAMES`` envelope's batch (``core.serialize.encode_batch`` bytes) as it came
and one index row per frame; detections are decoded only when someone reads them
(``GET /api/v1/frames``). :func:`index_batch` walks the batch once and checks everything
:func:`~edgesight.core.serialize_binary.decode_batch` checks (magic, version, checksum,
truncation, every range), so a batch it accepts always decodes later, but it builds no
``FrameMeta``, ``Detections`` or numpy arrays. ``tests/hub/test_frame_index.py`` holds it to
``decode_batch`` on valid and on corrupted batches.
"""

from __future__ import annotations

from typing import NamedTuple

from edgesight.core.errors import SchemaError
from edgesight.core.serialize_binary import (
    _F_CONTEXT,
    _F_IMAGE,
    _F_KPI,
    _F_TRACKED,
    _FRAME_FLAGS,
    BOX_BITS_RANGE,
    SCORE_SCALE,
    _read_label,
    _Reader,
    _unwrap,
)
from edgesight.core.serialize_json import IMAGE_KINDS, MAX_UINT63

__all__ = ["FrameEntry", "index_batch"]


class FrameEntry(NamedTuple):
    """One frame of a batch, as the ``frames`` table indexes it."""

    device_id: str
    stream_id: str
    seq: int
    frame_index: int
    timestamp: float
    model: str
    """``model_id@version``."""
    n_detections: int


def index_batch(data: bytes) -> list[FrameEntry]:
    """The frames of a batch made by ``encode_batch``, fully validated, detections skipped.

    Raises:
        SchemaError: exactly when ``decode_batch`` would (same wording).

    Example:
        >>> from edgesight.hub.fake_device import FakeDevice
        >>> from edgesight.core.envelope import open_envelope
        >>> raw = FakeDevice("cam-1", b"s" * 32).frames(3, timestamp=1.7e9)
        >>> [(e.frame_index, e.n_detections, e.model) for e in index_batch(open_envelope(raw, lambda _: b"s" * 32).payload)]
        [(0, 6, 'nanodet-coco@1.0.0'), (1, 6, 'nanodet-coco@1.0.0'), (2, 6, 'nanodet-coco@1.0.0')]
    """
    body = _unwrap(bytes(data))
    reader = _Reader(body)
    try:
        n_frames, box_bits, n_labels = reader.uint(), reader.u8(), reader.uint()
        if not 1 <= n_frames <= len(body) or n_labels > len(body):
            raise SchemaError(f"batch: implausible counts (frames={n_frames}, labels={n_labels})")
        if box_bits not in BOX_BITS_RANGE:
            raise SchemaError(f"batch: box_bits must be in 8..16, got {box_bits}")
        for i in range(n_labels):
            _read_label(reader, i)
    except IndexError:
        raise SchemaError("batch: body ends inside the label table (truncated)") from None
    walker = _Walker(reader, n_labels, (1 << box_bits) - 1)
    out = []
    for i in range(n_frames):
        try:
            out.append(walker.frame())
        except IndexError:
            raise SchemaError(f"frame {i} of {n_frames}: body ends inside the frame (truncated)") from None
        except SchemaError as exc:
            raise SchemaError(f"frame {i} of {n_frames}: {exc}") from None
    if reader.pos != len(body):
        raise SchemaError(f"batch: {len(body) - reader.pos} unexpected bytes after frame {n_frames - 1}")
    return out


def _checked(value: int, path: str) -> int:
    if not 0 <= value <= MAX_UINT63:
        raise SchemaError(f"{path}: decoded value {value} outside 0..{MAX_UINT63}")
    return value


class _Walker:
    """The delta state of ``serialize_binary._Delta``, kept only as far as validation needs."""

    __slots__ = (
        "context",
        "frame_index",
        "kpi",
        "ms",
        "n_labels",
        "reader",
        "scale",
        "seq",
        "step_ms",
        "track",
        "tracks",
    )  # fmt: skip

    def __init__(self, reader: _Reader, n_labels: int, scale: int) -> None:
        self.reader = reader
        self.n_labels = n_labels
        self.scale = scale
        self.context: tuple[str, str, str] | None = None
        self.seq = self.frame_index = -1
        self.ms = self.step_ms = 0
        self.kpi = (0, 0, 0)
        self.track = 0
        self.tracks: dict[int, tuple[int, int, int, int, int]] = {}

    def frame(self) -> FrameEntry:
        r = self.reader
        flags = r.u8()
        if flags & ~_FRAME_FLAGS:
            raise SchemaError(f"flags: unknown bits 0x{flags & ~_FRAME_FLAGS:02x}")
        if flags & _F_CONTEXT:
            texts = [r.text(p) for p in ("device_id", "stream_id", "model.id", "model.version")]
            r.size("frame_size")
            self.context = (texts[0], texts[1], f"{texts[2]}@{texts[3]}")
        if self.context is None:
            raise SchemaError("flags: first frame of the batch lacks device, stream, model and frame size")
        self.seq = _checked(self.seq + 1 + r.sint(), "seq")
        self.frame_index = _checked(self.frame_index + 1 + r.sint(), "frame_index")
        ms = _checked(self.ms + self.step_ms + r.sint(), "timestamp")
        self.ms, self.step_ms = ms, ms - self.ms
        kpi = (0, 0, 0)
        if flags & _F_KPI:
            kpi = (
                _checked(self.kpi[0] + r.sint(), "kpi.isp_ms"),
                _checked(self.kpi[1] + r.sint(), "kpi.dnn_ms"),
                _checked(self.kpi[2] + r.sint(), "kpi.post_ms"),
            )
        self.kpi = kpi
        n = self._detections(bool(flags & _F_TRACKED))
        if flags & _F_IMAGE:
            _skip_image(r)
        device_id, stream_id, model = self.context
        return FrameEntry(device_id, stream_id, self.seq, self.frame_index, ms / 1000, model, n)

    def _detections(self, tracked: bool) -> int:
        r, n_labels, scale, tracks = self.reader, self.n_labels, self.scale, self.tracks
        n = r.uint()
        if n and not n_labels:
            raise SchemaError(f"detections: {n} detections but the batch label table is empty")
        track = self.track
        for i in range(n):
            label = r.uint() if n_labels > 1 else 0
            if label >= n_labels:
                raise SchemaError(f"detections[{i}].label: index {label} outside the {n_labels}-entry table")
            before = None
            if tracked:
                track += r.sint()
                if not 0 <= track <= MAX_UINT63:
                    raise SchemaError(f"detections[{i}].track_id: decoded value {track} outside 0..{MAX_UINT63}")
                before = tracks.get(track)
            if before is None:
                score = r.u8()
                x1, y1, x2, y2 = r.u16x4()
            else:
                d = _sints5(r)
                score, x1, y1, x2, y2 = (before[4] + d[0], before[0] + d[1], before[1] + d[2],
                                         before[2] + d[3], before[3] + d[4])  # fmt: skip
                if not 0 <= score <= SCORE_SCALE:
                    raise SchemaError(f"detections[{i}].score: decoded value {score} outside 0..{SCORE_SCALE}")
            if not (0 <= x1 <= x2 <= scale and 0 <= y1 <= y2 <= scale):
                raise SchemaError(
                    f"detections[{i}].box: expected 0<=x1<=x2<={scale}, 0<=y1<=y2<={scale}; got {x1, y1, x2, y2}"
                )
            if tracked:
                tracks[track] = (x1, y1, x2, y2, score)
                self.track = track
        return n


def _sints5(r: _Reader) -> list[int]:
    """Five zigzag varints (a tracked box and score as deltas), inlined: the hot loop of ingest."""
    data, pos = r.data, r.pos
    values = []
    for _ in range(5):
        byte = data[pos]
        pos += 1
        zz = byte
        if byte >= 0x80:
            zz, shift = byte & 0x7F, 7
            while True:
                byte = data[pos]
                pos += 1
                zz |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 63:
                    raise SchemaError(f"varint at byte {pos - 1} is longer than 10 bytes")
        values.append((zz >> 1) ^ -(zz & 1))
    r.pos = pos
    return values


def _skip_image(r: _Reader) -> None:
    kind = r.u8()
    if kind >= len(IMAGE_KINDS):
        raise SchemaError(f"image.kind: expected 0 (roi) or 1 (full), got {kind}")
    r.size("image.size")
    length = r.uint()
    if length == 0:
        raise SchemaError("image.jpeg: empty image")
    r.take(length, "image.jpeg")
