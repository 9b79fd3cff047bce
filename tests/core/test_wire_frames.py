"""Wire formats of FrameMeta: JSON records, JSON Lines and binary batches (docs/schema.md)."""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesight.core.detections import Detections
from edgesight.core.errors import SchemaError
from edgesight.core.frame import FrameMeta, ImageAttachment, Kpi, ModelRef
from edgesight.core.wire import (
    decode_batch,
    encode_batch,
    frame_from_dict,
    frame_from_json,
    frame_to_dict,
    frame_to_json,
    iter_jsonl,
    write_jsonl,
)

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "frame-1.schema.json"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"


def make_meta(
    n: int = 6,
    *,
    tracked: bool = True,
    image: bool = False,
    seed: int = 0,
    frame: int = 0,
    size: tuple[int, int] = (768, 576),
) -> FrameMeta:
    """A frame with ``n`` people at random places inside the frame."""
    rng = np.random.default_rng(seed)
    w, h = size
    xy = rng.uniform([0, 0], [w * 0.9, h * 0.7], (n, 2))
    wh = rng.uniform([5, 10], [w * 0.1, h * 0.3], (n, 2))
    dets = Detections.from_arrays(
        np.concatenate([xy, xy + wh], axis=1),
        rng.uniform(0.2, 1.0, n),
        [0] * n,
        ["person"] * n,
        list(range(100, 100 + n)) if tracked else None,
    )
    return FrameMeta(
        device_id="cam-entrance-01",
        stream_id="main",
        seq=5000 + frame,
        frame_index=frame,
        timestamp=1.7e9 + frame / 10 + rng.uniform(0, 0.004),
        model=ModelRef("nanodet-coco", "1.0.0"),
        frame_size=size,
        detections=dets,
        kpi=Kpi(1.02, 3.14, 0.4),
        image=ImageAttachment("roi", JPEG, (160, 120)) if image else None,
    )


def walking_scene(
    n_frames: int = 30, people: int = 8, tracked: bool = True, seed: int = 1
) -> list[FrameMeta]:
    """People walking through a 768x576 scene at 10 fps with detector jitter (as in vtest.avi).

    Speeds up to 6 px/frame across and 2 px/frame along the view, box edges jitter by 1.5 px,
    scores by 0.03, timestamps by 2 ms.
    """
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [700, 420], (people, 2))
    vel = rng.uniform([-6, -2], [6, 2], (people, 2))
    box = rng.uniform([35, 90], [55, 140], (people, 2))
    base = rng.uniform(0.4, 0.95, people)
    frames = []
    for f in range(n_frames):
        p = pos + vel * f
        xyxy = np.concatenate([p, p + box], 1) + rng.normal(0, 1.5, (people, 4))
        dets = Detections.from_arrays(
            xyxy,
            np.clip(base + rng.normal(0, 0.03, people), 0, 1),
            [0] * people,
            ["person"] * people,
            list(range(1001, 1001 + people)) if tracked else None,
        )
        kpi = Kpi(round(1.0 + rng.normal(0, 0.05), 2), round(3.1 + rng.normal(0, 0.1), 2), 0.4)
        t = 1.7e9 + f / 10 + rng.normal(0, 0.002)
        model = ModelRef("nanodet-coco", "1.0.0")
        frames.append(FrameMeta("cam-entrance-01", "main", 5000 + f, f, t, model, (768, 576), dets, kpi))
    return frames


def assert_same(
    a: FrameMeta, b: FrameMeta, *, box_tol: float, score_tol: float, ts_tol: float, kpi: Kpi | None = None
) -> None:
    """``b`` is ``a`` after a round trip; ``box_tol`` is in units of the frame side; ``kpi`` is the
    KPIs ``b`` should have when they are not ``a``'s own (a batch's mean)."""
    assert (b.device_id, b.stream_id, b.seq, b.frame_index) == (
        a.device_id,
        a.stream_id,
        a.seq,
        a.frame_index,
    )
    assert b.model == a.model and b.frame_size == a.frame_size and b.image == a.image
    assert abs(b.timestamp - a.timestamp) <= ts_tol
    for name in ("isp_ms", "dnn_ms", "post_ms"):
        assert abs(getattr(b.kpi, name) - getattr(kpi or a.kpi, name)) <= 0.005 + 1e-9
    da, db = a.detections, b.detections
    assert len(da) == len(db)
    w, h = a.frame_size
    side = np.array([w, h, w, h], dtype=np.float64)
    expected = np.clip(da.xyxy.astype(np.float64) / side, 0, 1)
    # float32 storage of pixel values adds up to one ulp of the pixel value
    np.testing.assert_array_less(np.abs(db.xyxy / side - expected), box_tol + 1e-7)
    np.testing.assert_array_less(np.abs(db.confidence - da.confidence), score_tol + 1e-7)
    assert db.class_id.tolist() == da.class_id.tolist()
    assert db.class_name.tolist() == da.class_name.tolist()
    if da.tracker_id is None or len(da) == 0:  # JSON cannot say "tracked" without a detection
        assert db.tracker_id is None or len(db) == 0
    else:
        assert db.tracker_id is not None and db.tracker_id.tolist() == da.tracker_id.tolist()


# ------------------------------------------------------------------------------------------------ JSON


JSON_TOL = {"box_tol": 0.5e-5, "score_tol": 0.5e-4, "ts_tol": 0.5e-6 + 1e-6}


@pytest.mark.parametrize(
    "meta",
    [
        make_meta(0),
        make_meta(6),
        make_meta(6, tracked=False),
        make_meta(3, image=True),
        make_meta(2, size=(4056, 3040)),
    ],
    ids=["empty", "tracked", "untracked", "image", "imx500-full-res"],
)
def test_json_round_trip(meta: FrameMeta) -> None:
    assert_same(meta, frame_from_json(frame_to_json(meta)), **JSON_TOL)


def test_json_record_has_the_documented_shape() -> None:
    rec = frame_to_dict(make_meta(2, tracked=False))
    assert list(rec) == ["schema", "device_id", "stream_id", "seq", "frame_index", "timestamp", "model",
                         "frame_size", "detections", "kpi"]  # fmt: skip
    assert rec["schema"] == "edgesight.frame/1"
    assert list(rec["detections"][0]) == ["class_name", "class_id", "score", "box"]
    assert all(0 <= v <= 1 and round(v, 5) == v for v in rec["detections"][0]["box"])
    tracked = frame_to_dict(make_meta(2, image=True))
    assert tracked["detections"][1]["track_id"] == 101
    assert tracked["image"] == {
        "kind": "roi",
        "size": [160, 120],
        "jpeg_b64": base64.b64encode(JPEG).decode(),
    }


def test_boxes_past_the_frame_edge_are_clipped() -> None:
    dets = Detections.from_arrays([[-20, -5, 800, 100]], [0.5], [0], ["person"])
    meta = FrameMeta("cam1", "main", 0, 0, 1.0, ModelRef("m", "1"), (768, 576), dets)
    assert frame_to_dict(meta)["detections"][0]["box"] == [0.0, 0.0, 1.0, round(100 / 576, 5)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("xyxy", [[5, 5, 1, 9]], "detections[0].box: cannot encode [5.0, 5.0, 1.0, 9.0]"),
        ("xyxy", [[math.nan, 0, 1, 1]], "detections[0].box: cannot encode [nan"),
        ("score", [1.5], "detections[0].score: cannot encode 1.5"),
        ("class_id", [-1], "detections[0].class_id: cannot encode -1"),
        ("class_name", [""], "detections[0].class_name: cannot encode ''"),
        ("track_id", [-3], "detections[0].track_id: cannot encode -3"),
    ],
)
def test_encoding_rejects_detections_the_schema_cannot_carry(field: str, value: Any, message: str) -> None:
    args: dict[str, Any] = {"xyxy": [[0, 0, 1, 1]], "score": [0.5], "class_id": [0], "class_name": ["a"],
                            "track_id": None, field: value}  # fmt: skip
    dets = Detections.from_arrays(
        args["xyxy"], args["score"], args["class_id"], args["class_name"], args["track_id"]
    )
    meta = FrameMeta("cam1", "main", 0, 0, 1.0, ModelRef("m", "1"), (10, 10), dets)
    with pytest.raises(SchemaError) as json_err:
        frame_to_dict(meta)
    assert str(json_err.value).startswith(message)
    with pytest.raises(SchemaError) as bin_err:
        encode_batch([meta])
    assert str(bin_err.value).startswith(f"frame 0: {message}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq": -1}, "seq: expected an integer in 0..9223372036854775807, got -1"),
        ({"timestamp": math.inf}, "timestamp: expected finite Unix seconds >= 0, got inf"),
        ({"device_id": ""}, "device_id: expected a non-empty string"),
        ({"frame_size": (0, 10)}, "frame_size: expected [width, height] integers in 1..65535, got [0, 10]"),
        ({"kpi": Kpi(dnn_ms=math.nan)}, "kpi.dnn_ms: expected a finite number of milliseconds >= 0, got nan"),
        ({"image": ImageAttachment("thumb", JPEG, (1, 1))}, "image.kind: expected one of ['roi', 'full']"),
        ({"image": ImageAttachment("roi", b"", (1, 1))}, "image.jpeg: expected non-empty bytes"),
    ],
)
def test_encoding_rejects_bad_scalars(change: dict[str, Any], message: str) -> None:
    fields = {name: getattr(make_meta(1), name) for name in FrameMeta.__dataclass_fields__}
    meta = FrameMeta(**{**fields, **change})
    with pytest.raises(SchemaError, match=None) as err:
        frame_to_json(meta)
    assert str(err.value).startswith(message)
    with pytest.raises(SchemaError):
        encode_batch([meta])


def _set(path: str, value: Any) -> Any:
    """A mutation of a valid record: set (or delete, with ``...``) the value at a dotted path."""

    def apply(rec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = rec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value is ...:
            del node[key]
        else:
            node[key] = value

    return apply


MALFORMED_JSON = [
    (
        _set("schema", "edgesight.frame/2"),
        "schema: unsupported version 'edgesight.frame/2'; this decoder reads 'edgesight.frame/1'",
    ),
    (_set("schema", ...), "schema: missing field"),
    (_set("seq", ...), "seq: missing field"),
    (_set("colour", "red"), "colour: unknown field"),
    (_set("seq", "12"), "seq: expected an integer in 0..9223372036854775807, got '12'"),
    (_set("seq", True), "seq: expected an integer in 0..9223372036854775807, got True"),
    (_set("frame_index", 1.5), "frame_index: expected an integer"),
    (_set("timestamp", math.nan), "timestamp: expected finite Unix seconds >= 0, got nan"),
    (_set("timestamp", -1), "timestamp: expected finite Unix seconds >= 0, got -1"),
    (_set("timestamp", "now"), "timestamp: expected finite Unix seconds >= 0, got 'now'"),
    (_set("device_id", 7), "device_id: expected a non-empty string, got 7"),
    (_set("model", "nanodet"), "model: expected an object, got 'nanodet'"),
    (_set("model.version", ...), "model.version: missing field"),
    (_set("frame_size", [768]), "frame_size: expected [width, height] integers in 1..65535, got [768]"),
    (_set("frame_size", [768, 0]), "frame_size: expected [width, height] integers in 1..65535, got [768, 0]"),
    (_set("detections", {}), "detections: expected a list, got {}"),
    (_set("detections.3", "person"), "detections[3]: expected an object, got 'person'"),
    (_set("detections.3.box", [0.5, 0.1, 0.2, 0.3]),
     "detections[3].box: expected 4 numbers in 0..1 with x1<=x2 and y1<=y2, got [0.5, 0.1, 0.2, 0.3]"),
    (_set("detections.3.box", [0.1, 0.1, 0.2]), "detections[3].box: expected 4 numbers in 0..1, got [0.1, 0"),
    (_set("detections.3.box", [0.1, 0.1, 1.2, 0.3]), "detections[3].box: expected 4 numbers in 0..1"),
    (_set("detections.3.box", [0.1, math.nan, 0.2, 0.3]), "detections[3].box: expected 4 numbers in 0..1"),
    (_set("detections.3.box", [0.1, "0.1", 0.2, 0.3]), "detections[3].box: expected 4 numbers in 0..1"),
    (_set("detections.3.box", [False, False, True, True]), "detections[3].box: expected 4 numbers in 0..1"),
    (_set("detections.3.box", "0,0,1,1"), "detections[3].box: expected 4 numbers in 0..1, got '0,0,1,1'"),
    (_set("detections.0.score", 1.01), "detections[0].score: expected a number in 0..1, got 1.01"),
    (_set("detections.0.score", math.inf), "detections[0].score: expected a number in 0..1, got inf"),
    (_set("detections.0.score", None), "detections[0].score: expected a number in 0..1, got None"),
    (_set("detections.1.class_id", -1), "detections[1].class_id: expected an integer in 0..2147483647, got"),
    (_set("detections.1.class_name", ""), "detections[1].class_name: expected a non-empty string, got ''"),
    (_set("detections.1.class_name", ...), "detections[1].class_name: missing field"),
    (_set("detections.1.colour", "red"), "detections[1].colour: unknown field"),
    (_set("detections.2.track_id", ...),
     "detections[2].track_id: missing while other detections of the frame have one"),
    (_set("detections.2.track_id", -5), "detections[2].track_id: expected an integer in 0..922"),
    (_set("kpi", None), "kpi: expected an object, got None"),
    (_set("kpi.dnn_ms", ...), "kpi.dnn_ms: missing field"),
    (_set("kpi.isp_ms", -0.5), "kpi.isp_ms: expected a finite number of milliseconds >= 0, got -0.5"),
    (_set("kpi.post_ms", math.inf), "kpi.post_ms: expected a finite number of milliseconds >= 0, got inf"),
    (_set("image.kind", "thumb"), "image.kind: expected one of ['roi', 'full'], got 'thumb'"),
    (_set("image.jpeg_b64", "not base64!"), "image.jpeg_b64: not valid base64"),
    (_set("image.jpeg_b64", ""), "image.jpeg_b64: empty image"),
    (_set("image.size", [160, -1]), "image.size: expected [width, height] integers in 1..65535, got [160"),
    (_set("image.url", "http://x"), "image.url: unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "message"), MALFORMED_JSON, ids=[m for _, m in MALFORMED_JSON])
def test_json_decoding_rejects_malformed_records(mutate: Any, message: str) -> None:
    rec = copy.deepcopy(frame_to_dict(make_meta(6, image=True)))
    mutate(rec)
    with pytest.raises(SchemaError) as err:
        frame_from_dict(rec)
    assert str(err.value).startswith(message)
    with pytest.raises(SchemaError):  # the same through the text path (NaN/inf written as JSON extensions)
        frame_from_json(json.dumps(rec))


@pytest.mark.parametrize("text", ["", "[1, 2]", "{not json", b"\xff\xfe"])
def test_json_text_that_is_not_a_record_is_rejected(text: str | bytes) -> None:
    with pytest.raises(SchemaError, match=r"^record: "):
        frame_from_json(text)


def test_jsonl_round_trip_and_line_numbers(tmp_path: Path) -> None:
    frames = walking_scene(5)
    path = tmp_path / "frames.jsonl"
    with path.open("w", encoding="utf-8") as fp:
        assert write_jsonl(frames, fp) == 5
    with path.open(encoding="utf-8") as fp:
        decoded = list(iter_jsonl(fp))
    for a, b in zip(frames, decoded, strict=True):
        assert_same(a, b, **JSON_TOL)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"seq":5003', '"seq":"5003"')
    with pytest.raises(SchemaError, match=r"^line 4: seq: expected an integer"):
        list(iter_jsonl(io.StringIO("\n".join(lines))))


def test_encoded_records_match_the_published_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    for meta in [make_meta(0), make_meta(6), make_meta(3, tracked=False, image=True), *walking_scene(3)]:
        validator.validate(json.loads(frame_to_json(meta)))
    bad = frame_to_dict(make_meta(1))
    bad["detections"][0]["box"] = [0.1, 0.2, 1.5, 0.3]
    assert not validator.is_valid(bad)


# ---------------------------------------------------------------------------------------------- binary


def bin_tol(box_bits: int = 11) -> dict[str, float]:  # 11: encode_batch's default
    return {"box_tol": 0.5 / ((1 << box_bits) - 1), "score_tol": 0.5 / 255, "ts_tol": 0.5e-3 + 1e-6}


def mean_kpi(frames: list[FrameMeta]) -> Kpi:
    """What every frame of a batch decodes to with ``kpi="batch"``."""
    return Kpi(*(float(np.mean([getattr(f.kpi, n) for f in frames])) for n in ("isp_ms", "dnn_ms", "post_ms")))


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("box_bits", [12, 16, 8])
@pytest.mark.parametrize("kpi", ["batch", "frame"])
def test_binary_round_trip_30_frames(compress: bool, box_bits: int, kpi: str) -> None:
    frames = walking_scene(30)
    decoded = decode_batch(encode_batch(frames, compress, box_bits=box_bits, kpi=kpi))
    assert len(decoded) == 30
    expected = mean_kpi(frames) if kpi == "batch" else None
    for a, b in zip(frames, decoded, strict=True):
        assert_same(a, b, **bin_tol(box_bits), kpi=expected)


def test_batch_kpis_keep_the_totals_and_frame_kpis_cost_bytes() -> None:
    frames = walking_scene(30)
    batch, own = decode_batch(encode_batch(frames)), decode_batch(encode_batch(frames, kpi="frame"))
    for name in ("isp_ms", "dnn_ms", "post_ms"):
        total = sum(getattr(f.kpi, name) for f in frames)
        assert abs(sum(getattr(f.kpi, name) for f in batch) - total) <= 30 * 0.005
        assert [getattr(f.kpi, name) for f in own] == [getattr(f.kpi, name) for f in frames]
    assert len({f.kpi for f in batch}) == 1 and len({f.kpi for f in own}) > 1
    assert len(encode_batch(frames)) < len(encode_batch(frames, kpi="frame"))


@pytest.mark.parametrize(
    "frames",
    [
        [make_meta(0)],
        [make_meta(6)],
        [make_meta(6, tracked=False)],
        [make_meta(3, image=True)],
        [make_meta(4, seed=s, frame=s, tracked=s % 2 == 0, image=s == 2) for s in range(5)],
        [make_meta(2, size=(4056, 3040)), make_meta(2, frame=1)],  # context changes mid-batch
    ],
    ids=["empty", "tracked", "untracked", "image", "mixed", "context-change"],
)
def test_binary_round_trip_shapes(frames: list[FrameMeta]) -> None:
    for a, b in zip(frames, decode_batch(encode_batch(frames)), strict=True):
        assert_same(a, b, **bin_tol())


def test_binary_carries_a_label_table_and_frames_from_several_devices() -> None:
    dets = Detections.from_arrays([[0, 0, 4, 4], [1, 1, 5, 5], [2, 2, 3, 3]], [0.1, 0.5, 1.0], [0, 2, 0],
                                  ["person", "car", "person"], [3, 1, 3])  # fmt: skip
    a = FrameMeta("cam1", "main", 9, 9, 10.0, ModelRef("m", "1"), (8, 8), dets, Kpi())
    b = FrameMeta("cam2", "side", 0, 4, 9.5, ModelRef("m", "2"), (16, 8), dets[::-1], Kpi(0, 0, 7))
    for x, y in zip([a, b, a], decode_batch(encode_batch([a, b, a], kpi="frame")), strict=True):
        assert_same(x, y, **bin_tol())


def test_binary_size_meets_the_design_target() -> None:
    """8 tracked people per frame: about 30-50 bytes a frame when batched by 30 (docs/schema.md)."""
    frames = walking_scene(30)
    per_frame_30 = len(encode_batch(frames)) / 30
    per_frame_1 = len(encode_batch(frames[:1]))
    assert per_frame_30 <= 50, per_frame_30
    assert per_frame_1 <= 200, per_frame_1
    assert len(frame_to_json(frames[0])) > 15 * per_frame_30


def test_encode_batch_rejects_an_empty_batch_and_bad_precision() -> None:
    with pytest.raises(SchemaError, match="batch: needs at least one frame"):
        encode_batch([])
    with pytest.raises(ValueError, match=r"box_bits must be in 8\.\.16, got 17"):
        encode_batch([make_meta(1)], box_bits=17)
    with pytest.raises(ValueError, match=r"kpi must be one of batch, frame, got 'each'"):
        encode_batch([make_meta(1)], kpi="each")


def _rewrap(body: bytes, *, version: int = 2, flags: int = 0, crc: int | None = None) -> bytes:
    """A batch around a hand-edited uncompressed body (checksum recomputed unless given)."""
    crc = zlib.crc32(body) if crc is None else crc
    return struct.pack("<3sBBII", b"ESB", version, flags, len(body), crc) + body


def _body(frames: list[FrameMeta]) -> bytearray:
    return bytearray(encode_batch(frames, compress=False)[13:])


def test_binary_header_problems_are_named() -> None:
    good = encode_batch([make_meta(3)])
    cases = [
        (b"", "batch: 0 bytes is shorter than the 13-byte header"),
        (b"PK\x03\x04" + good[4:], "batch: not an EdgeSight frame batch (magic b'PK\\x03'"),
        (good[:3] + b"\x03" + good[4:], "batch: unsupported binary version 3; this decoder reads versions 1, 2"),
        (good[:4] + b"\x81" + good[5:], "batch: unknown header flags 0x81"),
        (good[:5] + struct.pack("<I", 1 << 30) + good[9:], "batch: body of 1073741824 bytes exceeds"),
        (good[:-3], "batch: compressed body is truncated"),
        (good + b"\x00", "batch: 1 unexpected bytes after the compressed body"),
        (good[:13] + b"\x00" * 10, "batch: corrupt compressed body"),
    ]
    for data, message in cases:
        with pytest.raises(SchemaError) as err:
            decode_batch(data)
        assert str(err.value).startswith(message), (message, str(err.value))
    body = bytes(_body([make_meta(3)]))
    with pytest.raises(SchemaError, match=r"^batch: checksum mismatch"):
        decode_batch(_rewrap(body, crc=zlib.crc32(body) ^ 1))
    with pytest.raises(
        SchemaError, match=r"^batch: header says \d+ body bytes, got \d+ \(truncated or padded\)"
    ):
        decode_batch(_rewrap(body)[:-1])


def test_a_bad_frame_fails_the_whole_batch_naming_its_position() -> None:
    frames = [make_meta(1, tracked=False, seed=s, frame=s) for s in range(3)]
    body = _body(frames)
    body[-8:] = struct.pack("<4H", 900, 10, 100, 20)  # frame 2: x1 > x2
    with pytest.raises(SchemaError, match=r"^frame 2 of 3: detections\[0\]\.box: expected 0<=x1<=x2<=2047"):
        decode_batch(_rewrap(bytes(body)))
    body = _body(frames)
    body[-9] = 255  # frame 2: the score byte is fine at any value...
    assert len(decode_batch(_rewrap(bytes(body)))) == 3
    body.append(0)
    with pytest.raises(SchemaError, match=r"^batch: 1 unexpected bytes after frame 2"):
        decode_batch(_rewrap(bytes(body)))


def test_binary_body_problems_are_named() -> None:
    meta = make_meta(1, tracked=False)
    body = _body([meta])
    device = body.index(b"cam-entrance-01")
    cases: list[tuple[int, bytes, str]] = [
        (device, b"\xff\xfe", "frame 0 of 1: device_id: not valid UTF-8"),
        (0, b"\x00", "batch: implausible counts (frames=0"),
        (1, b"\x11", "batch: box_bits must be in 8..16, got 17"),
        (device - 2, b"\x30", "frame 0 of 1: flags: unknown bits 0x30"),
        (device - 2, b"\x00", "frame 0 of 1: flags: first frame of the batch lacks device"),
    ]
    for at, patch, message in cases:
        edited = bytearray(body)
        edited[at : at + len(patch)] = patch
        with pytest.raises(SchemaError) as err:
            decode_batch(_rewrap(bytes(edited)))
        assert str(err.value).startswith(message), (message, str(err.value))
    with pytest.raises(SchemaError, match=r"^frame 0 of 1: body ends inside the frame \(truncated\)"):
        decode_batch(_rewrap(bytes(body[:-3])))


def test_every_truncation_of_a_valid_batch_is_rejected() -> None:
    for compress in (True, False):
        data = encode_batch([*walking_scene(5), make_meta(2, image=True, frame=5)], compress)
        for cut in range(len(data)):
            with pytest.raises(SchemaError):
                decode_batch(data[:cut])


# ------------------------------------------------------------------------------------------------ fuzz

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID_BATCH = encode_batch([*walking_scene(4, people=3), make_meta(2, image=True, frame=4)], compress=False)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_schema_error(data: bytes) -> None:
    for payload in (data, b"ESB\x01" + data, b"ESB\x01\x00" + data):
        with contextlib.suppress(SchemaError):
            decode_batch(payload)


@FUZZ
@given(st.data())
def test_corrupted_bodies_with_valid_checksums_raise_only_schema_error(data: st.DataObject) -> None:
    """Past the checksum, the body parser itself must reject garbage cleanly."""
    body = bytearray(VALID_BATCH[13:])
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    with contextlib.suppress(SchemaError):
        decode_batch(_rewrap(bytes(body[:cut])))


@FUZZ
@given(st.integers(0, len(VALID_BATCH)), st.binary(max_size=8))
def test_truncated_or_extended_batches_raise_only_schema_error(cut: int, tail: bytes) -> None:
    with contextlib.suppress(SchemaError):
        decode_batch(VALID_BATCH[:cut] + tail)


finite = st.floats(0, 1e4, allow_nan=False)
# numpy str_ arrays drop trailing NULs, so class names never hold them
text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=12,
)


@st.composite
def frame_metas(draw: st.DrawFn) -> FrameMeta:
    w, h = draw(st.integers(1, 65535)), draw(st.integers(1, 65535))
    n = draw(st.integers(0, 6))
    corners = draw(
        st.lists(st.tuples(st.floats(-0.2, 1.2), st.floats(-0.2, 1.2)), min_size=2 * n, max_size=2 * n)
    )
    xyxy = [
        [min(a[0], b[0]) * w, min(a[1], b[1]) * h, max(a[0], b[0]) * w, max(a[1], b[1]) * h]
        for a, b in zip(corners[::2], corners[1::2], strict=True)
    ]
    tracked = draw(st.booleans())
    dets = Detections.from_arrays(
        np.array(xyxy, dtype=np.float64).reshape(-1, 4),
        draw(st.lists(st.floats(0, 1, width=32), min_size=n, max_size=n)),
        draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n)),
        draw(st.lists(text, min_size=n, max_size=n)),
        draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n)) if tracked else None,
    )
    image = None
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["roi", "full"]))
        size = (draw(st.integers(1, 65535)), draw(st.integers(1, 65535)))
        image = ImageAttachment(kind, draw(st.binary(min_size=1, max_size=50)), size)
    return FrameMeta(
        device_id=draw(text),
        stream_id=draw(text),
        seq=draw(st.integers(0, 2**63 - 1)),
        frame_index=draw(st.integers(0, 2**63 - 1)),
        timestamp=draw(st.floats(0, 4e9)),
        model=ModelRef(draw(text), draw(text)),
        frame_size=(w, h),
        detections=dets,
        kpi=Kpi(round(draw(finite), 2), round(draw(finite), 2), round(draw(finite), 2)),
        image=image,
    )


@FUZZ
@given(
    st.lists(frame_metas(), min_size=1, max_size=4), st.booleans(), st.sampled_from([8, 12, 16]),
    st.sampled_from(["batch", "frame"]),
)  # fmt: skip
def test_random_valid_frames_round_trip(frames: list[FrameMeta], compress: bool, box_bits: int, kpi: str) -> None:
    decoded = decode_batch(encode_batch(frames, compress, box_bits=box_bits, kpi=kpi))
    expected = mean_kpi(frames) if kpi == "batch" else None
    for a, b in zip(frames, decoded, strict=True):
        assert_same(a, b, **bin_tol(box_bits), kpi=expected)
    for a in frames:
        assert_same(a, frame_from_json(frame_to_json(a)), **JSON_TOL)
