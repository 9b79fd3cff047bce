"""JSON form of :class:`FrameMeta` (schema ``edgesight.frame/1``) and JSON Lines files of it.

The wire shape is documented field by field in docs/schema.md and described by
docs/schemas/frame-1.schema.json. Boxes are normalised to 0..1 by ``frame_size`` on the wire and
turned back into source-frame pixels on decoding.

Decoding is the hub's hot path (tens of thousands of records per second), so it validates by hand
with plain Python instead of building a pydantic model per record. Every problem raises
:class:`SchemaError` whose message starts with the field path, e.g.
``detections[3].box: expected 4 numbers in 0..1 with x1<=x2 and y1<=y2, got [0.5, 0.1, 0.2, 0.3]``.

The encode-side checks and the array building at the bottom are shared with
:mod:`edgesight.core.wire._binary`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from edgesight.core.detections import Detections
from edgesight.core.errors import SchemaError, UnsupportedVersionError
from edgesight.core.frame import FRAME_SCHEMA, FrameMeta, ImageAttachment, Kpi, ModelRef
from edgesight.core.wire._text import MAX_NAME, MAX_TEXT, check_text, loads_json

__all__ = [
    "IMAGE_KINDS",
    "MAX_CLASS_ID",
    "MAX_SIDE_PX",
    "MAX_UINT63",
    "SUPPORTED_SCHEMAS",
    "build_detections",
    "check_scalars",
    "frame_from_dict",
    "frame_from_json",
    "frame_to_dict",
    "frame_to_json",
    "iter_jsonl",
    "normalised_boxes",
    "write_jsonl",
]

SUPPORTED_SCHEMAS: tuple[str, ...] = (FRAME_SCHEMA,)
"""Schema strings this decoder reads (a v2 decoder would list both)."""

BOX_DECIMALS = 5
SCORE_DECIMALS = 4
KPI_DECIMALS = 2
TIMESTAMP_DECIMALS = 6
MAX_SIDE_PX = 65535
MAX_UINT63 = (1 << 63) - 1
MAX_CLASS_ID = (1 << 31) - 1
IMAGE_KINDS = ("roi", "full")

_NUMBER = frozenset({int, float})
_REQUIRED = frozenset(
    {"schema", "device_id", "stream_id", "seq", "frame_index", "timestamp", "model", "frame_size",
     "detections", "kpi"}
)  # fmt: skip
_ALLOWED = _REQUIRED | {"image"}
_DET_REQUIRED = frozenset({"class_name", "class_id", "score", "box"})
_DET_ALLOWED = _DET_REQUIRED | {"track_id"}
_MISSING = object()
_KPI_KEYS = frozenset({"isp_ms", "dnn_ms", "post_ms"})
_IMAGE_KEYS = frozenset({"kind", "size", "jpeg_b64"})
_MODEL_KEYS = frozenset({"id", "version"})


# --------------------------------------------------------------------------------------------- encode


def frame_to_dict(meta: FrameMeta) -> dict[str, Any]:
    """The wire record of one frame, ready for ``json.dumps``.

    Boxes are clipped to the frame and normalised to 0..1 (5 decimals), scores keep 4 decimals,
    KPIs 2, the timestamp microseconds. ``track_id`` appears only on tracked detections and
    ``image`` only when the frame carries an attachment.

    Raises:
        SchemaError: ``meta`` holds a value the schema cannot carry (NaN, negative seq, ...).

    Example:
        >>> dets = Detections.from_arrays([[0, 0, 384, 288]], [0.9], [0], ["person"])
        >>> m = FrameMeta("cam1", "main", 7, 7, 1.7e9, ModelRef("nanodet", "1"), (768, 576), dets)
        >>> frame_to_dict(m)["detections"]
        [{'class_name': 'person', 'class_id': 0, 'score': 0.9, 'box': [0.0, 0.0, 0.5, 0.5]}]
    """
    check_scalars(meta)
    boxes = np.round(normalised_boxes(meta), BOX_DECIMALS).tolist()
    det = meta.detections
    scores = np.round(det.confidence.astype(np.float64), SCORE_DECIMALS).tolist()
    class_ids = det.class_id.tolist()
    names = det.class_name.tolist()
    tracks = None if det.tracker_id is None else det.tracker_id.tolist()
    records: list[dict[str, Any]] = []
    for i, box in enumerate(boxes):
        rec: dict[str, Any] = {
            "class_name": names[i],
            "class_id": class_ids[i],
            "score": scores[i],
            "box": box,
        }
        if tracks is not None:
            rec["track_id"] = tracks[i]
        records.append(rec)
    out: dict[str, Any] = {
        "schema": FRAME_SCHEMA,
        "device_id": meta.device_id,
        "stream_id": meta.stream_id,
        "seq": int(meta.seq),
        "frame_index": int(meta.frame_index),
        "timestamp": round(float(meta.timestamp), TIMESTAMP_DECIMALS),
        "model": {"id": meta.model.id, "version": meta.model.version},
        "frame_size": [int(meta.frame_size[0]), int(meta.frame_size[1])],
        "detections": records,
        "kpi": {
            "isp_ms": round(float(meta.kpi.isp_ms), KPI_DECIMALS),
            "dnn_ms": round(float(meta.kpi.dnn_ms), KPI_DECIMALS),
            "post_ms": round(float(meta.kpi.post_ms), KPI_DECIMALS),
        },
    }
    if meta.image is not None:
        out["image"] = {
            "kind": meta.image.kind,
            "size": [int(meta.image.size[0]), int(meta.image.size[1])],
            "jpeg_b64": base64.b64encode(meta.image.jpeg).decode("ascii"),
        }
    return out


def frame_to_json(meta: FrameMeta) -> str:
    """One compact JSON text (no newline), e.g. an MQTT payload.

    Example:
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.5, ModelRef("m", "1"), (4, 4), Detections.empty())
        >>> frame_to_json(m)[:40]
        '{"schema":"edgesight.frame/1","device_id'
    """
    return json.dumps(frame_to_dict(meta), separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def write_jsonl(records: Iterable[FrameMeta], fp: IO[str]) -> int:
    """Write one JSON record per line to a text file; return how many were written.

    Example:
        >>> import io
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.5, ModelRef("m", "1"), (4, 4), Detections.empty())
        >>> buf = io.StringIO()
        >>> write_jsonl([m, m], buf)
        2
        >>> [r.seq for r in iter_jsonl(io.StringIO(buf.getvalue()))]
        [0, 0]
    """
    count = 0
    for meta in records:
        fp.write(frame_to_json(meta))
        fp.write("\n")
        count += 1
    return count


# --------------------------------------------------------------------------------------------- decode


def frame_from_json(data: str | bytes) -> FrameMeta:
    """Parse and validate one JSON record (str or UTF-8 bytes).

    Raises:
        SchemaError: the text is not JSON or the record does not match the schema.

    Example:
        >>> frame_from_json(b'{"schema": "edgesight.frame/9"}')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        edgesight.core.errors.UnsupportedVersionError: schema: unsupported version 'edgesight.frame/9'; ...
    """
    return frame_from_dict(loads_json(data, "record"))


def iter_jsonl(fp: Iterable[str]) -> Iterator[FrameMeta]:
    """Decode a JSON Lines stream record by record; blank lines are skipped.

    Raises:
        SchemaError: prefixed with the 1-based line number, e.g. ``line 3: seq: ...``.

    Example:
        >>> list(iter_jsonl(["", "{}"]))
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: line 2: schema: missing field
    """
    for lineno, line in enumerate(fp, start=1):
        if not line.strip():
            continue
        try:
            yield frame_from_json(line)
        except SchemaError as exc:
            raise SchemaError(f"line {lineno}: {exc}") from None


def frame_from_dict(d: Any) -> FrameMeta:
    """Validate a decoded JSON record and build the :class:`FrameMeta` (boxes back in pixels).

    Raises:
        SchemaError: naming the field path and the bad value.

    Example:
        >>> rec = {"schema": "edgesight.frame/1", "device_id": "cam1", "stream_id": "main", "seq": 3,
        ...        "frame_index": 3, "timestamp": 1.7e9, "model": {"id": "m", "version": "1"},
        ...        "frame_size": [768, 576], "kpi": {"isp_ms": 0, "dnn_ms": 3.1, "post_ms": 0.2},
        ...        "detections": [{"class_name": "person", "class_id": 0, "score": 0.9,
        ...                        "box": [0.0, 0.0, 0.5, 0.5]}]}
        >>> frame_from_dict(rec).detections.xyxy.tolist()
        [[0.0, 0.0, 384.0, 288.0]]
        >>> frame_from_dict({**rec, "seq": -1})
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: seq: expected an integer in 0..9223372036854775807, got -1
    """
    if type(d) is not dict:
        raise SchemaError(f"record: expected a JSON object, got {_show(d)}")
    schema = d.get("schema")
    if schema != FRAME_SCHEMA:
        if "schema" not in d:
            raise SchemaError("schema: missing field")
        supported = ", ".join(repr(s) for s in SUPPORTED_SCHEMAS)
        raise UnsupportedVersionError(
            f"schema: unsupported version {schema!r}; this decoder reads {supported}", what="frame", version=schema
        )
    keys = d.keys()
    if not (keys <= _ALLOWED and keys >= _REQUIRED):
        _raise_keys("", keys, _REQUIRED, _ALLOWED)
    width, height = _size(d["frame_size"], "frame_size")
    image = d.get("image")
    return FrameMeta(
        device_id=_text(d["device_id"], "device_id"),
        stream_id=_text(d["stream_id"], "stream_id"),
        seq=_uint(d["seq"], "seq", MAX_UINT63),
        frame_index=_uint(d["frame_index"], "frame_index", MAX_UINT63),
        timestamp=_timestamp(d["timestamp"]),
        model=_model(d["model"]),
        frame_size=(width, height),
        detections=_detections(d["detections"], width, height),
        kpi=_kpi(d["kpi"]),
        image=None if image is None else _image(image),
    )


def _detections(value: Any, width: int, height: int) -> Detections:
    if type(value) is not list:
        raise SchemaError(f"detections: expected a list, got {_show(value)}")
    flat: list[float] = []
    scores: list[float] = []
    class_ids: list[int] = []
    names: list[str] = []
    tracks: list[int] = []
    number = _NUMBER
    for i, det in enumerate(value):
        if type(det) is not dict:
            raise SchemaError(f"detections[{i}]: expected an object, got {_show(det)}")
        try:
            box, score, class_id, name = det["box"], det["score"], det["class_id"], det["class_name"]
        except KeyError:
            _raise_keys(f"detections[{i}].", det.keys(), _DET_REQUIRED, _DET_ALLOWED)
        if len(det) != 4:
            track = det.get("track_id", _MISSING)
            if len(det) != 5 or track is _MISSING:
                _raise_keys(f"detections[{i}].", det.keys(), _DET_REQUIRED, _DET_ALLOWED)
            if type(track) is not int or not 0 <= track <= MAX_UINT63:
                _uint(track, f"detections[{i}].track_id", MAX_UINT63)
            tracks.append(track)
        if type(box) is not list or len(box) != 4:
            raise SchemaError(f"detections[{i}].box: expected 4 numbers in 0..1, got {_show(box)}")
        x1, y1, x2, y2 = box
        if not (
            type(x1) in number and type(y1) in number and type(x2) in number and type(y2) in number
            and 0.0 <= x1 <= x2 <= 1.0 and 0.0 <= y1 <= y2 <= 1.0
        ):  # fmt: skip
            raise SchemaError(
                f"detections[{i}].box: expected 4 numbers in 0..1 with x1<=x2 and y1<=y2, got {_show(box)}"
            )
        flat += (x1 * width, y1 * height, x2 * width, y2 * height)
        if type(score) not in number or not 0.0 <= score <= 1.0:
            raise SchemaError(f"detections[{i}].score: expected a number in 0..1, got {_show(score)}")
        scores.append(score)
        if type(class_id) is not int or not 0 <= class_id <= MAX_CLASS_ID:
            _uint(class_id, f"detections[{i}].class_id", MAX_CLASS_ID)
        class_ids.append(class_id)
        if type(name) is not str or not name:
            _text(name, f"detections[{i}].class_name")
        names.append(name)
    if tracks and len(tracks) != len(value):
        first = next(i for i, det in enumerate(value) if "track_id" not in det)
        raise SchemaError(
            f"detections[{first}].track_id: missing while other detections of the frame have one"
        )
    return build_detections(flat, scores, class_ids, names, tracks if tracks else None)


def _model(value: Any) -> ModelRef:
    if type(value) is not dict:
        raise SchemaError(f"model: expected an object, got {_show(value)}")
    if value.keys() != _MODEL_KEYS:
        _raise_keys("model.", value.keys(), _MODEL_KEYS, _MODEL_KEYS)
    return ModelRef(_text(value["id"], "model.id", MAX_NAME), _text(value["version"], "model.version", MAX_NAME))


def _kpi(value: Any) -> Kpi:
    if type(value) is not dict:
        raise SchemaError(f"kpi: expected an object, got {_show(value)}")
    if value.keys() != _KPI_KEYS:
        _raise_keys("kpi.", value.keys(), _KPI_KEYS, _KPI_KEYS)
    return Kpi(
        _ms(value["isp_ms"], "kpi.isp_ms"),
        _ms(value["dnn_ms"], "kpi.dnn_ms"),
        _ms(value["post_ms"], "kpi.post_ms"),
    )


def _image(value: Any) -> ImageAttachment:
    if type(value) is not dict:
        raise SchemaError(f"image: expected an object, got {_show(value)}")
    if value.keys() != _IMAGE_KEYS:
        _raise_keys("image.", value.keys(), _IMAGE_KEYS, _IMAGE_KEYS)
    kind = value["kind"]
    if kind not in IMAGE_KINDS:
        raise SchemaError(f"image.kind: expected one of {list(IMAGE_KINDS)}, got {_show(kind)}")
    encoded = value["jpeg_b64"]
    if type(encoded) is not str:
        raise SchemaError(f"image.jpeg_b64: expected a base64 string, got {_show(encoded)}")
    try:
        jpeg = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SchemaError(f"image.jpeg_b64: not valid base64 ({exc})") from None
    if not jpeg:
        raise SchemaError("image.jpeg_b64: empty image")
    return ImageAttachment(kind=kind, jpeg=jpeg, size=_size(value["size"], "image.size"))


def _text(value: Any, path: str, limit: int = MAX_TEXT) -> str:
    if type(value) is not str or not value:
        raise SchemaError(f"{path}: expected a non-empty string, got {_show(value)}")
    return check_text(value, path, limit)


def _uint(value: Any, path: str, limit: int) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise SchemaError(f"{path}: expected an integer in 0..{limit}, got {_show(value)}")
    return value


def _ms(value: Any, path: str) -> float:
    if type(value) not in _NUMBER or not 0.0 <= value < math.inf:
        raise SchemaError(f"{path}: expected a finite number of milliseconds >= 0, got {_show(value)}")
    return float(value)


def _timestamp(value: Any) -> float:
    if type(value) not in _NUMBER or not 0.0 <= value < math.inf:
        raise SchemaError(f"timestamp: expected finite Unix seconds >= 0, got {_show(value)}")
    return float(value)


def _size(value: Any, path: str) -> tuple[int, int]:
    if (
        type(value) is not list or len(value) != 2
        or type(value[0]) is not int or type(value[1]) is not int
        or not 1 <= value[0] <= MAX_SIDE_PX or not 1 <= value[1] <= MAX_SIDE_PX
    ):  # fmt: skip
        raise SchemaError(
            f"{path}: expected [width, height] integers in 1..{MAX_SIDE_PX}, got {_show(value)}"
        )
    return value[0], value[1]


def _raise_keys(prefix: str, keys: Any, required: frozenset[str], allowed: frozenset[str]) -> None:
    missing = sorted(required - set(keys))
    if missing:
        raise SchemaError(f"{prefix}{missing[0]}: missing field")
    unknown = sorted(str(k) for k in set(keys) - allowed)
    raise SchemaError(f"{prefix}{unknown[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------ shared with the binary codec


def check_scalars(meta: FrameMeta) -> None:
    """Reject a :class:`FrameMeta` whose scalar fields the schema cannot carry (encode side).

    Example:
        >>> m = FrameMeta("cam1", "", 0, 0, 1.0, ModelRef("m", "1"), (4, 4), Detections.empty())
        >>> check_scalars(m)
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: stream_id: expected a non-empty string, got ''
    """
    _text(meta.device_id, "device_id")
    _text(meta.stream_id, "stream_id")
    _uint(_as_int(meta.seq), "seq", MAX_UINT63)
    _uint(_as_int(meta.frame_index), "frame_index", MAX_UINT63)
    _timestamp(_as_float(meta.timestamp))
    _text(meta.model.id, "model.id")
    _text(meta.model.version, "model.version")
    _size([_as_int(v) for v in meta.frame_size], "frame_size")
    for name in ("isp_ms", "dnn_ms", "post_ms"):
        _ms(_as_float(getattr(meta.kpi, name)), f"kpi.{name}")
    if meta.image is not None:
        if meta.image.kind not in IMAGE_KINDS:
            raise SchemaError(
                f"image.kind: expected one of {list(IMAGE_KINDS)}, got {_show(meta.image.kind)}"
            )
        if not isinstance(meta.image.jpeg, bytes | bytearray) or not meta.image.jpeg:
            raise SchemaError(f"image.jpeg: expected non-empty bytes, got {_show(meta.image.jpeg)}")
        _size([_as_int(v) for v in meta.image.size], "image.size")


def normalised_boxes(meta: FrameMeta) -> npt.NDArray[np.float64]:
    """Validate the detections of ``meta`` and return ``(n, 4)`` boxes clipped to the frame, in 0..1.

    Boxes reaching past the frame edge are clipped (decoders often emit them); NaN, infinite or
    inverted boxes, scores outside 0..1, negative class ids or track ids raise.

    Example:
        >>> dets = Detections.from_arrays([[-10, 0, 20, 40]], [0.5], [0], ["person"])
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.0, ModelRef("m", "1"), (40, 40), dets)
        >>> normalised_boxes(m).tolist()
        [[0.0, 0.0, 0.5, 1.0]]
    """
    det = meta.detections
    xyxy = det.xyxy.astype(np.float64)
    for name, bad in (
        ("box", ~np.isfinite(xyxy).all(axis=1) | (xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])),
        ("score", ~((det.confidence >= 0.0) & (det.confidence <= 1.0))),
        ("class_id", (det.class_id < 0) | (det.class_id > MAX_CLASS_ID)),
        ("class_name", np.char.str_len(det.class_name) == 0),
        ("track_id", None if det.tracker_id is None else det.tracker_id < 0),
    ):
        if bad is not None and bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = xyxy[i].tolist() if name == "box" else _field_value(det, name, i)
            raise SchemaError(f"detections[{i}].{name}: cannot encode {_show(value)}")
    width, height = meta.frame_size
    scale = np.array([width, height, width, height], dtype=np.float64)
    return np.clip(xyxy / scale, 0.0, 1.0)


def build_detections(
    flat_px: Sequence[float],
    scores: Sequence[float],
    class_ids: Sequence[int],
    names: Sequence[str],
    tracks: Sequence[int] | None,
) -> Detections:
    """Build :class:`Detections` from already validated lists (``flat_px`` is ``4n`` pixel values).

    Example:
        >>> build_detections([0, 0, 2, 2], [0.5], [1], ["car"], [7]).tracker_id.tolist()
        [7]
    """
    return Detections(
        xyxy=np.array(flat_px, dtype=np.float32).reshape(-1, 4),
        confidence=np.array(scores, dtype=np.float32),
        class_id=np.array(class_ids, dtype=np.int32),
        class_name=np.array(names, dtype=np.str_),
        tracker_id=None if tracks is None else np.array(tracks, dtype=np.int64),
    )


def _field_value(det: Detections, name: str, i: int) -> Any:
    array = det.tracker_id if name == "track_id" else getattr(det, {"score": "confidence"}.get(name, name))
    assert array is not None
    return array[i].item()


def _as_int(value: Any) -> Any:
    return int(value) if isinstance(value, np.integer) else value


def _as_float(value: Any) -> Any:
    return float(value) if isinstance(value, np.floating | np.integer) or type(value) is int else value
