"""Ingestion on real SQLite and PostgreSQL: stored once, every reject reason, valid ones kept."""

from __future__ import annotations

import json
import struct
import time

from sqlalchemy import func, select

from edgesight.core.events import EventType
from edgesight.core.frame import ModelRef
from edgesight.core.wire import Envelope, FrameBatch, Heartbeat, Kind
from edgesight.hub.ingest import IngestOptions, Ingestor
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.tables import EventRow, FrameRow, IngestLog
from edgesight.testing import FakeDevice


def _count(db: Database, table: type) -> int:
    with db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _device(db: Database, name: str = "cam-1", site: str = "s1") -> FakeDevice:
    e = devices.enrol(db, name, site)
    return FakeDevice(e.device_id, e.secret)


def test_frames_and_events_are_stored_and_acked(db: Database) -> None:
    dev = _device(db)
    ing = Ingestor(db)
    ev = dev.event(EventType.LINE_CROSSING, "door", class_name="person", track_ids=(3,),
                   direction="in", status="CrossRight", crossed_frame_index=1, point=[0.5, 0.5])  # fmt: skip
    raws = [(dev.device_id, dev.frames(3)), (dev.device_id, dev.events([ev])),
            (None, dev.send(Heartbeat(fps=10.0, dnn_ms=7.5, model=ModelRef("m", "1"), uptime_s=5, outbox_pending=0)))]
    result = Ingestor.ingest_batch(ing, raws)
    assert [o.status for o in result.outcomes] == ["stored"] * 3
    assert result.acks["cam-1"].stored_through == 3
    assert _count(db, FrameRow) == 3 and _count(db, EventRow) == 1
    info = devices.get_device(db, "cam-1")
    assert info is not None and info.health is not None
    assert info.health["fps"] == 10.0 and info.health["model"] == "m@1"


def test_every_reject_reason_keeps_the_valid_ones(db: Database) -> None:
    dev = _device(db, "cam-1")
    other = _device(db, "cam-2")
    revoked = _device(db, "cam-3")
    devices.revoke(db, "cam-3")
    ing = Ingestor(db, options=IngestOptions(secret_cache_s=0))
    good = dev.frames(1)
    forged = bytearray(dev.frames(1))
    forged[-1] ^= 1
    # cam-2's id in an envelope signed with cam-1's key
    impostor = Envelope(Kind.FRAMES, "cam-2", 1, time.time(), b"x").seal(dev.secret)
    stranger = FakeDevice("cam-9", b"k" * 32).frames(1)
    bad_json = dev.seal(Kind.EVENTS, b"{not json")
    bad_binary = dev.seal(Kind.FRAMES, b"ESB\x01garbage")
    old_schema = dev.seal(Kind.EVENTS, json.dumps([{**dev.event(EventType.ZONE_ENTER, "z", side=None).to_dict(),
                                                    "schema": "edgesight.event/0"}]).encode())  # fmt: skip
    absurd_sent = dev.seal(Kind.HEARTBEAT, b"{}", sent_at=1_000.0)
    future_frame = dev.frames(1, timestamp=time.time() + 10 * 86_400)
    head = Envelope(Kind.FRAMES, "cam-1", 99, time.time(), b"").seal(dev.secret)[:-32]
    oversized = head[:-4] + struct.pack(">I", (1 << 20) + 1) + b"\0" * ((1 << 20) + 1) + b"\0" * 32
    good2 = dev.frames(1)
    raws = [
        ("cam-1", good), ("cam-1", bytes(forged)), (None, impostor), ("cam-1", other.frames(1)),
        ("cam-3", revoked.frames(1)), ("cam-9", stranger), ("cam-1", bad_json), ("cam-1", bad_binary),
        ("cam-1", old_schema), ("cam-1", absurd_sent), ("cam-1", future_frame), ("cam-1", oversized),
        ("cam-1", b"XXXX" + good[4:]), ("cam-1", good[:40]), ("cam-1", good2), ("cam-1", good),
    ]  # fmt: skip
    statuses = [o.status for o in ing.ingest(raws)]
    assert statuses == [
        "stored", "bad_mac", "bad_mac", "device_mismatch", "revoked", "unknown_device", "bad_payload",
        "bad_payload", "unsupported_version", "bad_timestamp", "bad_timestamp", "oversized", "bad_magic",
        "truncated", "stored", "duplicate",
    ]  # fmt: skip
    assert _count(db, FrameRow) == 2
    rendered = ing.metrics.render().decode()
    assert 'edgesight_hub_rejected_total{reason="bad_mac"} 2.0' in rendered
    assert "edgesight_hub_duplicates_total 1.0" in rendered


def test_replay_is_a_duplicate_across_ingestors(db: Database) -> None:
    dev = _device(db)
    raws = [("cam-1", dev.frames(1)) for _ in range(5)]
    assert [o.status for o in Ingestor(db).ingest(raws)] == ["stored"] * 5
    fresh = Ingestor(db)  # no cache: the database decides
    assert [o.status for o in fresh.ingest(raws[::-1])] == ["duplicate"] * 5
    assert _count(db, FrameRow) == 5 and _count(db, IngestLog) == 5


def test_permanent_rejects_advance_stored_through_and_gaps_hold_it(db: Database) -> None:
    dev = _device(db)
    ing = Ingestor(db)
    first = dev.frames(1)
    bad = dev.seal(Kind.EVENTS, b"[1]")
    dev.frames(1)  # seq 3 lost on the way
    fourth = dev.frames(1)
    result = ing.ingest_batch([("cam-1", first), ("cam-1", bad), ("cam-1", fourth)])
    assert [o.status for o in result.outcomes] == ["stored", "bad_payload", "stored"]
    assert result.acks["cam-1"].stored_through == 2
    assert result.rejected == {"cam-1": [(2, "bad_payload")]}
    third = dev.seal(Kind.FRAMES, _frames_payload(dev), seq=3)
    assert ing.ingest_batch([("cam-1", third)]).acks["cam-1"].stored_through == 4


def _frames_payload(dev: FakeDevice) -> bytes:
    from edgesight.core.wire import encode_batch

    return encode_batch([dev.frame(2)])


def test_a_batch_of_duplicates_is_still_acknowledged(db: Database) -> None:
    """A device resending what was stored (its ack lost) must learn stored_through, or it resends forever."""
    dev = _device(db)
    ing = Ingestor(db)
    raws = [("cam-1", dev.frames(1)) for _ in range(3)]
    assert ing.ingest_batch(raws).acks["cam-1"].stored_through == 3
    again = ing.ingest_batch(raws[:2])  # known duplicates: the database is not asked about them
    assert [o.status for o in again.outcomes] == ["duplicate", "duplicate"]
    assert again.acks["cam-1"].stored_through == 3
    assert _count(db, IngestLog) == 3


def test_revocation_cuts_a_device_off(db: Database) -> None:
    dev = _device(db)
    ing = Ingestor(db, options=IngestOptions(secret_cache_s=0))
    assert ing.ingest([("cam-1", dev.frames(1))])[0].status == "stored"
    devices.revoke(db, "cam-1")
    assert ing.ingest([("cam-1", dev.frames(1))])[0].status == "revoked"


def test_downsampling_keeps_every_nth_frame(db: Database) -> None:
    dev = _device(db)
    ing = Ingestor(db, options=IngestOptions(keep_every_nth_frame=5))
    ing.ingest([("cam-1", dev.frames(20))])
    with db.begin() as conn:
        kept = conn.execute(select(FrameRow.frame_index).order_by(FrameRow.frame_index)).scalars().all()
    assert kept == [0, 5, 10, 15]


def test_aggregates_roll_up_per_minute(db: Database) -> None:
    from edgesight.hub.storage import queries

    dev = _device(db)
    ing = Ingestor(db)
    t0 = 1_750_000_020.0
    evs = [dev.event(EventType.LINE_CROSSING, "door", timestamp=t0 + i, class_name="person", track_ids=(i,),
                     direction="in" if i % 3 else "out", status="CrossRight", crossed_frame_index=i,
                     point=[0.1, 0.2]) for i in range(6)]  # fmt: skip
    evs += [dev.event(EventType.ZONE_COUNT, "till", timestamp=t0 + i, trigger="interval", count=c,
                      counts_by_class={"person": c}) for i, c in enumerate([1, 4, 2])]  # fmt: skip
    assert ing.ingest([("cam-1", dev.events(evs))])[0].status == "stored"
    counts = queries.counts(db, queries.Filter(start=t0 - 60, end=t0 + 60))
    assert counts["line_crossings"] == [
        {"device_id": "cam-1", "rule": "door", "direction": "in", "class_name": "person", "count": 4},
        {"device_id": "cam-1", "rule": "door", "direction": "out", "class_name": "person", "count": 2},
    ]
    zone = [z for z in counts["zone_counts"] if z["class_name"] == "*"]
    assert zone == [{"device_id": "cam-1", "rule": "till", "class_name": "*", "max": 4.0, "mean": 7 / 3,
                     "samples": 3}]  # fmt: skip


def test_newer_payload_versions_are_refused_permanently_and_counted(db: Database) -> None:
    dev = _device(db)
    ing = Ingestor(db)
    frames = bytearray(FrameBatch((dev.frame(),)).to_bytes())
    frames[3] = 3  # binary layout version 3
    event = dev.event(EventType.ZONE_ENTER, "z", side=None).to_dict()
    raws = [
        ("cam-1", dev.seal(Kind.HEARTBEAT, b'{"v":2,"fps":9.0}')),
        ("cam-1", dev.seal(Kind.FRAMES, bytes(frames))),
        ("cam-1", dev.seal(Kind.EVENTS, json.dumps([{**event, "schema": "edgesight.event/2"}]).encode())),
        ("cam-1", dev.send(Heartbeat(fps=9.0))),
    ]
    result = ing.ingest_batch(raws)
    assert [o.status for o in result.outcomes] == ["unsupported_version"] * 3 + ["stored"]
    assert "this reader knows version 1" in result.outcomes[0].detail
    assert "unsupported binary version 3" in result.outcomes[1].detail
    # permanent: logged, so the device's stored_through moves past them and it stops resending
    assert result.acks["cam-1"].stored_through == 4
    assert result.rejected["cam-1"] == [(1, "unsupported_version"), (2, "unsupported_version"),
                                        (3, "unsupported_version")]  # fmt: skip
    rendered = ing.metrics.render().decode()
    for kind in ("heartbeat", "frames", "events"):
        assert f'edgesight_hub_unsupported_version_total{{kind="{kind}"}} 1.0' in rendered
    assert 'edgesight_hub_rejected_total{reason="unsupported_version"} 3.0' in rendered
    assert _count(db, FrameRow) == 0 and _count(db, EventRow) == 0
