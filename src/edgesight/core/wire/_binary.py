"""Compact binary encoding of a batch of :class:`FrameMeta` (1..N frames per message).

Like the IMX500's ``NumberOfInferencesPerMessage``, a device may send several frames in one
message. The layout (byte table and the reasons for each choice in docs/schema.md)::

    header   "ESB" | version u8 | flags u8 | body length u32 LE | CRC-32 of body u32 LE
    body     (raw deflate when flags bit 0 is set)
             n_frames varint | box_bits u8 | label table | batch KPIs (version 2) | frame 0 | frame 1 | ...

Boxes are fixed-point over the frame: normalised, then ``round(v * (2**box_bits - 1))`` with
``box_bits`` 11 by default (error at most 1/4094 of the frame side, 0.94 px on a 3840-px frame: a
fifth of the pixel the detector sees there, so finer bits would carry only its jitter).
A tracked box and score are sent as differences from the same track earlier in the batch, so a
walking person costs about one byte per coordinate. Scores are ``round(score * 255)``,
timestamps whole milliseconds (sent as the change of the frame interval), KPIs hundredths of a
millisecond.

KPIs travel once per batch (version 2): the batch carries the mean of its frames' KPIs, which every
frame decodes to, so totals and averages survive while noisy per-frame timings no longer cost
every frame 7-8 bytes (of 55 for a tracked 4K frame at 30 fps, bench/sensor_bench.py). ``kpi="frame"``
sends each frame's own KPIs instead. Version 1 (per-frame KPIs, always) is still decoded.

Decoding never trusts the payload: a wrong magic or version, a checksum mismatch, a truncated or
oversized body and every out-of-range value raise :class:`SchemaError` naming the frame and field.
Both readers, :func:`decode_batch` (builds ``FrameMeta``) and :func:`index_batch` (the hub's cheap
ingest path: one index row per frame, no arrays), walk the body with the one :class:`BatchReader`,
so a batch the index accepts always decodes later.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

import numpy as np

from edgesight.core.detections import Detections
from edgesight.core.errors import SchemaError, UnsupportedVersionError
from edgesight.core.frame import FrameMeta, ImageAttachment, Kpi, ModelRef
from edgesight.core.wire._json import (
    IMAGE_KINDS,
    MAX_CLASS_ID,
    MAX_SIDE_PX,
    MAX_UINT63,
    build_detections,
    check_scalars,
    normalised_boxes,
)
from edgesight.core.wire._text import MAX_NAME, MAX_TEXT, check_text

__all__ = [
    "BATCH_MAGIC",
    "BATCH_VERSIONS",
    "MAX_BODY_BYTES",
    "BatchReader",
    "FrameEntry",
    "decode_batch",
    "encode_batch",
    "index_batch",
]

_T = TypeVar("_T")

BATCH_MAGIC = b"ESB"
BATCH_VERSION = 2
BATCH_VERSIONS: tuple[int, ...] = (1, BATCH_VERSION)
"""Binary layout versions this decoder reads (the encoder writes the last)."""
_KPI_MODES = ("batch", "frame")
"""How :func:`encode_batch` sends KPIs: the batch mean once, or each frame's own."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest uncompressed body accepted (bounds the memory a hostile payload can claim)."""

_CONTEXT_TEXTS = (("device_id", MAX_TEXT), ("stream_id", MAX_TEXT), ("model.id", MAX_NAME), ("model.version", MAX_NAME))
"""A frame context's strings and their longest lengths (``id@version`` fits the hub's column)."""
DEFAULT_BOX_BITS = 11
BOX_BITS_RANGE = range(8, 17)
SCORE_SCALE = 255
_HEADER = struct.Struct("<3sBBII")
_FLAG_DEFLATE = 0x01
_F_CONTEXT, _F_TRACKED, _F_KPI, _F_IMAGE = 0x01, 0x02, 0x04, 0x08
_FRAME_FLAGS = _F_CONTEXT | _F_TRACKED | _F_KPI | _F_IMAGE
_KPI_NAMES = ("isp_ms", "dnn_ms", "post_ms")


@dataclass
class _Delta:
    """What encoder and decoder both remember from the previous frames of the batch."""

    scale: int = (1 << DEFAULT_BOX_BITS) - 1
    context: tuple[str, str, str, str, int, int] | None = None
    seq: int = -1
    frame_index: int = -1
    ms: int = 0
    step_ms: int = 0
    kpi: tuple[int, int, int] = (0, 0, 0)
    """The last KPIs sent with a frame (hundredths of a ms): per-frame KPIs are deltas from it."""
    batch_kpi: tuple[int, int, int] = (0, 0, 0)
    """Version 2: the batch's KPIs, which a frame without its own decodes to."""
    frame_kpi: tuple[int, int, int] = (0, 0, 0)
    """The KPIs of the frame being decoded."""
    track: int = 0
    tracks: dict[int, tuple[int, int, int, int, int]] = field(default_factory=dict)
    """Last ``(x1, y1, x2, y2, score)`` of every track seen so far, quantised."""


# --------------------------------------------------------------------------------------------- encode


def encode_batch(
    metas: Sequence[FrameMeta], compress: bool = True, *, box_bits: int = DEFAULT_BOX_BITS, kpi: str = "batch"
) -> bytes:
    """Encode 1..N frames (typically one device's last N inferences) into one message.

    Args:
        metas: the frames, in the order they should be decoded.
        compress: deflate the body (smaller; set False on devices where CPU matters more).
        box_bits: fixed-point precision of box coordinates, 8..16 bits over the frame side.
        kpi: ``"batch"`` sends the mean of the frames' KPIs once, and every frame decodes to it;
            ``"frame"`` sends each frame's own KPIs (7-8 bytes a frame more on a real sensor).

    Raises:
        SchemaError: an empty batch, or a frame holding a value the schema cannot carry.
        ValueError: ``box_bits`` outside 8..16, or an unknown ``kpi`` mode.

    Example:
        >>> from edgesight.core.detections import Detections
        >>> dets = Detections.from_arrays([[10, 20, 50, 140]], [0.8], [0], ["person"], [4])
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("nanodet", "1"), (768, 576), dets)
        >>> data = encode_batch([m])
        >>> data[:3], decode_batch(data)[0].detections.tracker_id.tolist()
        (b'ESB', [4])
    """
    if box_bits not in BOX_BITS_RANGE:
        raise ValueError(f"encode_batch: box_bits must be in 8..16, got {box_bits}")
    if kpi not in _KPI_MODES:
        raise ValueError(f"encode_batch: kpi must be one of {', '.join(_KPI_MODES)}, got {kpi!r}")
    if not metas:
        raise SchemaError("batch: needs at least one frame, got 0")
    scale = (1 << box_bits) - 1
    labels: dict[tuple[int, str], int] = {}
    quantised = []
    for i, meta in enumerate(metas):
        try:
            check_scalars(meta)
            q = np.rint(normalised_boxes(meta) * scale).astype(np.int64).tolist()
        except SchemaError as exc:
            raise SchemaError(f"frame {i}: {exc}") from None
        quantised.append(q)
        for key in zip(meta.detections.class_id.tolist(), meta.detections.class_name.tolist(), strict=True):
            labels.setdefault(key, len(labels))
    out = bytearray()
    _put_uint(out, len(metas))
    out.append(box_bits)
    _put_uint(out, len(labels))
    for class_id, name in labels:
        _put_uint(out, class_id)
        _put_text(out, name)
    kpis = [_kpi_units(meta) for meta in metas]
    per_frame = kpi == "frame"
    batch_kpi = (0, 0, 0) if per_frame else tuple(round(sum(k) / len(kpis)) for k in zip(*kpis, strict=True))
    for value in batch_kpi:
        _put_uint(out, value)
    state = _Delta(scale=scale)
    for meta, boxes, own in zip(metas, quantised, kpis, strict=True):
        _put_frame(out, meta, boxes, labels, state, own if per_frame and any(own) else None)
    body = bytes(out)
    payload = body
    if compress:
        payload = min((_deflate(body, strategy) for strategy in _STRATEGIES), key=len)
    flags = _FLAG_DEFLATE if compress else 0
    return _HEADER.pack(BATCH_MAGIC, BATCH_VERSION, flags, len(body), zlib.crc32(body)) + payload


_STRATEGIES = (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED)
"""Both are tried and the smaller kept: tracked bodies are mostly small noisy deltas, which
Z_FILTERED (Huffman coding favoured over string matches) packs 3 % smaller; untracked bodies hold
absolute boxes that repeat, which the default strategy packs 3 % smaller. Compressing a 30-frame
batch takes about 0.05 ms, so trying both costs nothing that matters."""


def _deflate(body: bytes, strategy: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, strategy)
    return packer.compress(body) + packer.flush()


def _kpi_units(meta: FrameMeta) -> tuple[int, int, int]:
    """A frame's KPIs in hundredths of a millisecond."""
    return round(meta.kpi.isp_ms * 100), round(meta.kpi.dnn_ms * 100), round(meta.kpi.post_ms * 100)


def _put_frame(
    out: bytearray,
    meta: FrameMeta,
    boxes: list[list[int]],
    labels: dict[tuple[int, str], int],
    state: _Delta,
    kpi: tuple[int, int, int] | None,
) -> None:
    """One frame; ``kpi`` is its own KPIs when they are sent per frame, else None."""
    det = meta.detections
    width, height = (int(v) for v in meta.frame_size)
    context = (meta.device_id, meta.stream_id, meta.model.id, meta.model.version, width, height)
    flags = (
        (_F_CONTEXT if context != state.context else 0)
        | (_F_TRACKED if det.tracker_id is not None else 0)
        | (_F_KPI if kpi is not None else 0)
        | (_F_IMAGE if meta.image is not None else 0)
    )
    out.append(flags)
    if flags & _F_CONTEXT:
        for text in context[:4]:
            _put_text(out, str(text))
        _put_uint(out, width)
        _put_uint(out, height)
        state.context = context
    ms = round(float(meta.timestamp) * 1000)
    _put_int(out, int(meta.seq) - state.seq - 1)
    _put_int(out, int(meta.frame_index) - state.frame_index - 1)
    _put_int(out, ms - state.ms - state.step_ms)
    state.seq, state.frame_index, state.ms, state.step_ms = (
        int(meta.seq),
        int(meta.frame_index),
        ms,
        ms - state.ms,
    )
    if kpi is not None:
        for value, last in zip(kpi, state.kpi, strict=True):
            _put_int(out, value - last)
        state.kpi = kpi
    _put_uint(out, len(boxes))
    scores: list[int] = np.rint(det.confidence.astype(np.float64) * SCORE_SCALE).astype(np.int64).tolist()
    keys = list(zip(det.class_id.tolist(), det.class_name.tolist(), strict=True))
    tracks: list[int] | None = None if det.tracker_id is None else det.tracker_id.tolist()
    for i, box in enumerate(boxes):
        if len(labels) > 1:
            _put_uint(out, labels[keys[i]])
        before = None
        if tracks is not None:
            _put_int(out, tracks[i] - state.track)
            state.track = tracks[i]
            before = state.tracks.get(tracks[i])
            state.tracks[tracks[i]] = (box[0], box[1], box[2], box[3], scores[i])
        if before is None:
            out.append(scores[i])
            out += struct.pack("<4H", *box)
        else:
            for now, then in zip((scores[i], *box), (before[4], *before[:4]), strict=True):
                _put_int(out, now - then)
    if meta.image is not None:
        out.append(IMAGE_KINDS.index(meta.image.kind))
        _put_uint(out, int(meta.image.size[0]))
        _put_uint(out, int(meta.image.size[1]))
        _put_uint(out, len(meta.image.jpeg))
        out += meta.image.jpeg


def _put_uint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_int(out: bytearray, value: int) -> None:
    _put_uint(out, value << 1 if value >= 0 else (-value << 1) - 1)


def _put_text(out: bytearray, text: str) -> None:
    raw = text.encode("utf-8")
    _put_uint(out, len(raw))
    out += raw


# --------------------------------------------------------------------------------------------- decode


class FrameEntry(NamedTuple):
    """One frame of a batch, as the hub's ``frames`` table indexes it."""

    device_id: str
    stream_id: str
    seq: int
    frame_index: int
    timestamp: float
    model: str
    """``model_id@version``."""
    n_detections: int


def decode_batch(data: bytes) -> list[FrameMeta]:
    """Decode a message made by :func:`encode_batch`; all frames or none.

    Raises:
        SchemaError: naming what is wrong (magic, checksum, truncation) and, inside the body, the
            frame position and field.
        UnsupportedVersionError: a binary layout version this decoder does not know.

    Example:
        >>> decode_batch(b"ESB\\x07" + bytes(9))
        Traceback (most recent call last):
        ...
        edgesight.core.errors.UnsupportedVersionError: batch: unsupported binary version 7; this decoder reads versions 1, 2
    """
    batch = BatchReader(data)
    return batch.each_frame(batch.frame_meta)


def index_batch(data: bytes) -> list[FrameEntry]:
    """The frames of a batch made by :func:`encode_batch`, fully validated, detections skipped.

    Raises:
        SchemaError: exactly when :func:`decode_batch` would (same wording).

    Example:
        >>> from edgesight.core.detections import Detections
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("nanodet", "1"), (768, 576), Detections.empty())
        >>> index_batch(encode_batch([m]))
        [FrameEntry(device_id='cam1', stream_id='main', seq=0, frame_index=0, timestamp=1700000000.0, model='nanodet@1', n_detections=0)]
    """
    batch = BatchReader(data)
    return batch.each_frame(batch.frame_entry)


class BatchReader:
    """The one reader of a batch: header and label table on construction, then frame by frame.

    Decoding and indexing share everything (the header, the delta state, every range check); they
    differ only in whether the detections become arrays.
    """

    __slots__ = ("labels", "n_frames", "reader", "state", "version")

    def __init__(self, data: bytes) -> None:
        self.version, body = _unwrap(bytes(data))
        self.reader = reader = _Reader(body)
        try:
            n_frames, box_bits, n_labels = reader.uint(), reader.u8(), reader.uint()
            if not 1 <= n_frames <= len(body) or n_labels > len(body):
                raise SchemaError(f"batch: implausible counts (frames={n_frames}, labels={n_labels})")
            if box_bits not in BOX_BITS_RANGE:
                raise SchemaError(f"batch: box_bits must be in 8..16, got {box_bits}")
            self.labels = [_read_label(reader, i) for i in range(n_labels)]
            self.state = _Delta(scale=(1 << box_bits) - 1)
            if self.version >= 2:
                isp, dnn, post = (_checked(reader.uint(), f"batch kpi.{name}") for name in _KPI_NAMES)
                self.state.batch_kpi = (isp, dnn, post)
        except IndexError:
            raise SchemaError("batch: body ends inside the label table or batch KPIs (truncated)") from None
        self.n_frames = n_frames

    def each_frame(self, read: Callable[[], _T]) -> list[_T]:
        """``read()`` once per frame; errors name the frame; trailing bytes are refused."""
        n_frames, out = self.n_frames, []
        for i in range(n_frames):
            try:
                out.append(read())
            except IndexError:
                raise SchemaError(f"frame {i} of {n_frames}: body ends inside the frame (truncated)") from None
            except SchemaError as exc:
                raise SchemaError(f"frame {i} of {n_frames}: {exc}") from None
        reader = self.reader
        if reader.pos != len(reader.data):
            raise SchemaError(f"batch: {len(reader.data) - reader.pos} unexpected bytes after frame {n_frames - 1}")
        return out

    def frame_meta(self) -> FrameMeta:
        """The next frame, decoded."""
        flags = self._frame_head()
        state = self.state
        assert state.context is not None
        device_id, stream_id, model_id, model_version, width, height = state.context
        tracked = bool(flags & _F_TRACKED)
        columns = _Columns(tracked)
        self._detections(tracked, columns)
        kpi = state.frame_kpi
        return FrameMeta(
            device_id=device_id,
            stream_id=stream_id,
            seq=state.seq,
            frame_index=state.frame_index,
            timestamp=state.ms / 1000,
            model=ModelRef(model_id, model_version),
            frame_size=(width, height),
            detections=columns.build(),
            kpi=Kpi(kpi[0] / 100, kpi[1] / 100, kpi[2] / 100),
            image=_read_image(self.reader) if flags & _F_IMAGE else None,
        )

    def frame_entry(self) -> FrameEntry:
        """The next frame's index row (detections validated and counted, not built)."""
        flags = self._frame_head()
        state = self.state
        assert state.context is not None
        n = self._detections(bool(flags & _F_TRACKED), None)
        if flags & _F_IMAGE:
            _read_image(self.reader)
        device_id, stream_id, model_id, model_version = state.context[:4]
        return FrameEntry(
            device_id, stream_id, state.seq, state.frame_index, state.ms / 1000, f"{model_id}@{model_version}", n
        )

    def _frame_head(self) -> int:
        """Flags, context, counters and KPIs of the next frame, into the delta state."""
        reader, state = self.reader, self.state
        flags = reader.u8()
        if flags & ~_FRAME_FLAGS:
            raise SchemaError(f"flags: unknown bits 0x{flags & ~_FRAME_FLAGS:02x}")
        if flags & _F_CONTEXT:
            texts = [reader.text(p, limit) for p, limit in _CONTEXT_TEXTS]
            size = reader.size("frame_size")
            state.context = (texts[0], texts[1], texts[2], texts[3], size[0], size[1])
        if state.context is None:
            raise SchemaError("flags: first frame of the batch lacks device, stream, model and frame size")
        state.seq = _checked(state.seq + 1 + reader.sint(), "seq")
        state.frame_index = _checked(state.frame_index + 1 + reader.sint(), "frame_index")
        ms = _checked(state.ms + state.step_ms + reader.sint(), "timestamp")
        state.ms, state.step_ms = ms, ms - state.ms
        if flags & _F_KPI:
            isp, dnn, post = (
                _checked(last + reader.sint(), f"kpi.{name}") for last, name in zip(state.kpi, _KPI_NAMES, strict=True)
            )
            state.kpi = state.frame_kpi = (isp, dnn, post)
        else:
            state.frame_kpi = state.batch_kpi
            if self.version == 1:  # version 1: the next frame's KPIs are deltas from these zeros
                state.kpi = state.frame_kpi
        return flags

    def _detections(self, tracked: bool, columns: _Columns | None) -> int:
        """Walk and check the next frame's detections; fill ``columns`` when given; return how many."""
        reader, labels, state = self.reader, self.labels, self.state
        n_labels, scale, tracks = len(labels), state.scale, state.tracks
        n = reader.uint()
        if n and not n_labels:
            raise SchemaError(f"detections: {n} detections but the batch label table is empty")
        track = state.track
        assert state.context is not None
        fx, fy = state.context[4] / scale, state.context[5] / scale  # fixed point -> pixels
        for i in range(n):
            label = reader.uint() if n_labels > 1 else 0
            if label >= n_labels:
                raise SchemaError(f"detections[{i}].label: index {label} outside the {n_labels}-entry table")
            before = None
            if tracked:
                track += reader.sint()
                if not 0 <= track <= MAX_UINT63:
                    raise SchemaError(f"detections[{i}].track_id: decoded value {track} outside 0..{MAX_UINT63}")
                before = tracks.get(track)
            if before is None:
                score = reader.u8()
                x1, y1, x2, y2 = reader.u16x4()
            else:
                d = reader.sints5()
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
                state.track = track
            if columns is not None:
                columns.class_ids.append(labels[label][0])
                columns.names.append(labels[label][1])
                columns.scores.append(score / SCORE_SCALE)
                columns.boxes += (x1 * fx, y1 * fy, x2 * fx, y2 * fy)
                if columns.tracks is not None:
                    columns.tracks.append(track)
        return n


class _Columns:
    """The detections of one frame as plain lists (filled by ``BatchReader._detections``), turned
    into arrays once at the end."""

    __slots__ = ("boxes", "class_ids", "names", "scores", "tracks")

    def __init__(self, tracked: bool) -> None:
        self.boxes: list[float] = []
        """``x1 y1 x2 y2`` of each detection in turn, in pixels."""
        self.scores: list[float] = []
        self.class_ids: list[int] = []
        self.names: list[str] = []
        self.tracks: list[int] | None = [] if tracked else None

    def build(self) -> Detections:
        return build_detections(self.boxes, self.scores, self.class_ids, self.names, self.tracks)


def _unwrap(data: bytes) -> tuple[int, bytes]:
    """Check the header and return the layout version and the (inflated, checksummed) body."""
    if len(data) < _HEADER.size:
        raise SchemaError(f"batch: {len(data)} bytes is shorter than the {_HEADER.size}-byte header")
    magic, version, flags, body_len, crc = _HEADER.unpack_from(data)
    if magic != BATCH_MAGIC:
        raise SchemaError(f"batch: not an EdgeSight frame batch (magic {magic!r}, expected {BATCH_MAGIC!r})")
    if version not in BATCH_VERSIONS:
        versions = ", ".join(map(str, BATCH_VERSIONS))
        raise UnsupportedVersionError(
            f"batch: unsupported binary version {version}; this decoder reads versions {versions}",
            what="frames",
            version=version,
        )
    if flags & ~_FLAG_DEFLATE:
        raise SchemaError(f"batch: unknown header flags 0x{flags:02x}")
    if body_len > MAX_BODY_BYTES:
        raise SchemaError(f"batch: body of {body_len} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
    payload = data[_HEADER.size :]
    if flags & _FLAG_DEFLATE:
        unpacker = zlib.decompressobj(-15)
        try:
            body = unpacker.decompress(payload, body_len + 1)
        except zlib.error as exc:
            raise SchemaError(f"batch: corrupt compressed body ({exc})") from None
        if not unpacker.eof:
            raise SchemaError("batch: compressed body is truncated or longer than the header says")
        if unpacker.unused_data:
            raise SchemaError(
                f"batch: {len(unpacker.unused_data)} unexpected bytes after the compressed body"
            )
    else:
        body = payload
    if len(body) != body_len:
        raise SchemaError(f"batch: header says {body_len} body bytes, got {len(body)} (truncated or padded)")
    if zlib.crc32(body) != crc:
        raise SchemaError(f"batch: checksum mismatch (CRC-32 0x{zlib.crc32(body):08x}, header 0x{crc:08x})")
    return version, body


def _read_label(reader: _Reader, i: int) -> tuple[int, str]:
    class_id = reader.uint()
    if class_id > MAX_CLASS_ID:
        raise SchemaError(f"labels[{i}].class_id: expected 0..{MAX_CLASS_ID}, got {class_id}")
    return class_id, reader.text(f"labels[{i}].class_name")


def _read_image(reader: _Reader) -> ImageAttachment:
    kind = reader.u8()
    if kind >= len(IMAGE_KINDS):
        raise SchemaError(f"image.kind: expected 0 (roi) or 1 (full), got {kind}")
    size = reader.size("image.size")
    length = reader.uint()
    if length == 0:
        raise SchemaError("image.jpeg: empty image")
    return ImageAttachment(kind=IMAGE_KINDS[kind], jpeg=reader.take(length, "image.jpeg"), size=size)


def _checked(value: int, path: str) -> int:
    if not 0 <= value <= MAX_UINT63:
        raise SchemaError(f"{path}: decoded value {value} outside 0..{MAX_UINT63}")
    return value


class _Reader:
    """A cursor over the body; running past the end raises IndexError, turned into SchemaError above."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u8(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16x4(self) -> tuple[int, int, int, int]:
        pos = self.pos
        if pos + 8 > len(self.data):
            raise IndexError(pos)
        self.pos = pos + 8
        return struct.unpack_from("<4H", self.data, pos)

    def uint(self) -> int:
        data, pos = self.data, self.pos
        byte = data[pos]
        if byte < 0x80:
            self.pos = pos + 1
            return byte
        value, shift = 0, 0
        while byte >= 0x80:
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift > 63:
                raise SchemaError(f"varint at byte {self.pos} is longer than 10 bytes")
            pos += 1
            byte = data[pos]
        self.pos = pos + 1
        return value | (byte << shift)

    def sint(self) -> int:
        zz = self.uint()
        return (zz >> 1) ^ -(zz & 1)

    def sints5(self) -> list[int]:
        """Five zigzag varints (a tracked box and score as deltas), inlined: the hot loop of ingest."""
        data, pos = self.data, self.pos
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
        self.pos = pos
        return values

    def take(self, length: int, path: str) -> bytes:
        end = self.pos + length
        if end > len(self.data):
            raise SchemaError(f"{path}: length {length} runs past the end of the body (truncated)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def text(self, path: str, limit: int = MAX_TEXT) -> str:
        raw = self.take(self.uint(), path)
        if not raw:
            raise SchemaError(f"{path}: expected a non-empty string, got ''")
        try:
            return check_text(raw.decode("utf-8"), path, limit)
        except UnicodeDecodeError:
            raise SchemaError(f"{path}: not valid UTF-8: {raw[:40]!r}") from None

    def size(self, path: str) -> tuple[int, int]:
        width, height = self.uint(), self.uint()
        if not (1 <= width <= MAX_SIDE_PX and 1 <= height <= MAX_SIDE_PX):
            raise SchemaError(
                f"{path}: expected [width, height] in 1..{MAX_SIDE_PX}, got [{width}, {height}]"
            )
        return width, height
