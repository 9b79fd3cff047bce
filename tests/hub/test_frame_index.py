"""``index_batch`` accepts exactly what ``decode_batch`` accepts; frames read back as the device sent them."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from alembic import command
from sqlalchemy import update

from edgesight.core.detections import Detections
from edgesight.core.errors import SchemaError
from edgesight.core.frame import FrameMeta, ImageAttachment, ModelRef
from edgesight.core.wire import Kind, decode_batch, encode_batch, frame_to_dict, index_batch
from edgesight.hub.ingest import Ingestor
from edgesight.hub.storage import Database, devices, queries
from edgesight.hub.storage.db import alembic_config
from edgesight.hub.storage.tables import FrameRow
from edgesight.testing import FakeDevice


def _metas(n: int, tracked: bool = True, image: bool = False) -> list[FrameMeta]:
    rng = np.random.default_rng(n)
    out = []
    for i in range(n):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 600, size=(k, 2))
        dets = Detections.from_arrays(
            np.concatenate([xy, xy + 50], axis=1), rng.uniform(0.3, 1, k).tolist(), [i % 3 for i in range(k)],
            [["person", "car", "bike"][i % 3] for i in range(k)], list(range(k)) if tracked else None,
        )  # fmt: skip
        jpeg = ImageAttachment("roi", b"\xff\xd8jpeg", (8, 8)) if image and i == 1 else None
        out.append(FrameMeta("cam-1", "main", 10 + i, 100 + 2 * i, 1.7e9 + i / 30, ModelRef("m", "2"),
                             (768, 576), dets, image=jpeg))  # fmt: skip
    return out


def _outcome(fn: object, data: bytes) -> str:
    try:
        fn(data)  # type: ignore[operator]
    except SchemaError as exc:
        return f"error: {exc}"
    return "ok"


@pytest.mark.parametrize(("tracked", "image"), [(True, False), (False, True)])
def test_index_matches_decode_on_valid_batches(tracked: bool, image: bool) -> None:
    data = encode_batch(_metas(7, tracked, image))
    metas = decode_batch(data)
    entries = index_batch(data)
    assert [(e.device_id, e.stream_id, e.seq, e.frame_index, e.timestamp, e.model, e.n_detections)
            for e in entries] == [(m.device_id, m.stream_id, m.seq, m.frame_index, m.timestamp,
                                   f"{m.model.id}@{m.model.version}", len(m.detections)) for m in metas]  # fmt: skip


def test_index_rejects_exactly_what_decode_rejects() -> None:
    """Every single-byte corruption and truncation of an uncompressed body (CRC fixed up)."""
    raw = encode_batch(_metas(4) + _metas(3, tracked=False, image=True), compress=False)
    body = raw[12:]
    rng = np.random.default_rng(1)
    cases = [body[:n] for n in range(0, len(body), 3)]
    for pos in range(len(body)):
        for value in {int(rng.integers(0, 256)), body[pos] ^ 0x80, 0xFF}:
            cases.append(body[:pos] + bytes([value]) + body[pos + 1 :])
    for case in cases:
        data = struct.pack("<3sBBII", b"ESB", 1, 0, len(case), zlib.crc32(case)) + case
        assert _outcome(index_batch, data) == _outcome(decode_batch, data), case


def test_frames_read_back_with_the_detections_sent(db: Database) -> None:
    e = devices.enrol(db, "cam-1", "s1")
    dev = FakeDevice(e.device_id, e.secret)
    metas = [dev.frame() for _ in range(5)]
    raw = dev.seal(Kind.FRAMES, encode_batch(metas))
    assert Ingestor(db).ingest([("cam-1", raw)])[0].status == "stored"
    with db.begin() as conn:  # a frame stored before migration 0002 keeps its JSON
        conn.execute(update(FrameRow).where(FrameRow.frame_index == 4).values(detections='[{"legacy":1}]'))
    got = queries.frames(db, queries.Filter(device="cam-1"))
    expected = [frame_to_dict(m)["detections"] for m in decode_batch(encode_batch(metas))]
    assert [f["detections"] for f in got] == [*expected[:4], [{"legacy": 1}]]
    assert [f["frame_index"] for f in got] == [0, 1, 2, 3, 4] and got[0]["seq"] == 1


def test_downgrade_writes_the_detections_json_back(db: Database) -> None:
    e = devices.enrol(db, "cam-1", "s1")
    dev = FakeDevice(e.device_id, e.secret)
    Ingestor(db).ingest([("cam-1", dev.frames(3))])
    before = queries.frames(db, queries.Filter())
    cfg = alembic_config(db.url)
    command.downgrade(cfg, "0001")
    command.upgrade(cfg, "head")
    assert queries.frames(db, queries.Filter()) == before

