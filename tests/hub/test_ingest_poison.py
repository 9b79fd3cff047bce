"""Poison messages on real SQLite and PostgreSQL: one signed message never blocks the others.

A message read as bad (a NUL in a heartbeat's model id), a message the database itself refuses,
and signed messages of an unknown kind, bad flags or records naming another device are each
rejected with a reason, logged in ``ingest_log`` (so ``stored_through`` passes them), counted, and
the rest of their batch is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from sqlalchemy import func, select, text

from edgesight.core.events import EventType
from edgesight.core.wire import EventBatch, Kind, encode_batch
from edgesight.hub.ingest import Ingestor
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.tables import EventRow, FrameRow, IngestLog
from edgesight.testing import FakeDevice


def _device(db: Database, name: str) -> FakeDevice:
    e = devices.enrol(db, name, "s1")
    return FakeDevice(e.device_id, e.secret)


def _count(db: Database, table: type) -> int:
    with db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _logged(db: Database, device_id: str) -> dict[int, str]:
    with db.begin() as conn:
        rows = conn.execute(select(IngestLog.seq, IngestLog.status).where(IngestLog.device_id == device_id))
        return {int(seq): status for seq, status in rows}


def nul_heartbeat(dev: FakeDevice) -> bytes:
    """The reported attack: a signed heartbeat whose model id holds a NUL."""
    body = b'{"fps":10.0,"model":{"id":"nano\\u0000det","version":"1"}}'
    return dev.seal(Kind.HEARTBEAT, body)


def refuse_rule(db: Database, rule: str, table: str = "events", column: str = "rule") -> None:
    """Make the database itself refuse rows of ``table`` whose ``column`` is ``rule`` (a value the wire accepts)."""
    with db.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT no_poison CHECK ({column} <> '{rule}')"))
        else:
            conn.execute(text(f"CREATE TRIGGER no_poison BEFORE INSERT ON {table} WHEN NEW.{column} = '{rule}' "
                              "BEGIN SELECT RAISE(ABORT, 'poison rule'); END"))  # fmt: skip


def crossing(dev: FakeDevice, rule: str) -> bytes:
    ev = dev.event(EventType.LINE_CROSSING, rule, class_name="person", track_ids=(1,), direction="in",
                   status="CrossRight", crossed_frame_index=0, point=[0.5, 0.5])  # fmt: skip
    return dev.events([ev])


def test_nul_in_a_heartbeat_is_rejected_logged_and_the_batch_is_stored(db: Database) -> None:
    a, b = _device(db, "cam-a"), _device(db, "cam-b")
    ing = Ingestor(db)
    raws = [("cam-a", a.frames(2)), ("cam-a", nul_heartbeat(a)), ("cam-b", b.frames(1)), ("cam-a", a.frames(1))]
    result = ing.ingest_batch(raws)
    assert [o.status for o in result.outcomes] == ["stored", "bad_payload", "stored", "stored"]
    assert "NUL character" in result.outcomes[1].detail
    assert result.acks["cam-a"].stored_through == 3 and result.acks["cam-b"].stored_through == 1
    assert result.rejected == {"cam-a": [(2, "bad_payload")]}
    assert _logged(db, "cam-a") == {1: "stored", 2: "bad_payload", 3: "stored"}
    assert _count(db, FrameRow) == 4
    assert 'edgesight_hub_rejected_total{reason="bad_payload"} 1.0' in ing.metrics.render().decode()


def test_a_message_the_database_refuses_is_isolated_from_its_batch(db: Database) -> None:
    refuse_rule(db, "poison")
    fleet = [_device(db, f"cam-{i}") for i in range(3)]
    ing = Ingestor(db)
    raws = []
    for round_ in range(3):
        for dev in fleet:
            rule = "poison" if (round_, dev.device_id) == (1, "cam-1") else "door"
            raws += [(dev.device_id, dev.frames(1)), (dev.device_id, crossing(dev, rule))]
    result = ing.ingest_batch(raws)
    statuses = [o.status.value for o in result.outcomes]
    poison = 9  # round 1, cam-1's events (its seq 4)
    assert statuses[poison] == "unstorable" and statuses.count("stored") == len(raws) - 1
    assert {d: a.stored_through for d, a in result.acks.items()} == {"cam-0": 6, "cam-1": 6, "cam-2": 6}
    assert result.rejected == {"cam-1": [(4, "unstorable")]}
    assert _logged(db, "cam-1")[4] == "unstorable"
    assert _count(db, EventRow) == 8 and _count(db, FrameRow) == 9
    assert 'edgesight_hub_rejected_total{reason="unstorable"} 1.0' in ing.metrics.render().decode()
    # the next batch goes through in one piece
    again = ing.ingest_batch([("cam-1", fleet[1].frames(1)), ("cam-1", crossing(fleet[1], "door"))])
    assert [o.status.value for o in again.outcomes] == ["stored", "stored"]
    assert again.acks["cam-1"].stored_through == 8


def test_frames_the_database_refuses_are_isolated(db: Database) -> None:
    """The same through the frames path (COPY on PostgreSQL, whose driver errors are wrapped)."""
    refuse_rule(db, "poison", table="frames", column="stream_id")
    dev, bad = _device(db, "cam-1"), _device(db, "cam-2")
    bad.stream_id = "poison"
    result = Ingestor(db).ingest_batch([("cam-1", dev.frames(2)), ("cam-2", bad.frames(2)), ("cam-1", dev.frames(1))])
    assert [o.status.value for o in result.outcomes] == ["stored", "unstorable", "stored"]
    assert result.acks["cam-2"].stored_through == 1 and _count(db, FrameRow) == 3


def _with_flags(raw: bytes, flags: int, secret: bytes) -> bytes:
    body = raw[:4] + bytes([raw[4], flags]) + raw[6:-32]
    return body + hmac.new(secret, body, hashlib.sha256).digest()


def _with_kind(raw: bytes, kind: int, secret: bytes) -> bytes:
    body = raw[:4] + bytes([kind]) + raw[5:-32]
    return body + hmac.new(secret, body, hashlib.sha256).digest()


def test_signed_rejects_move_stored_through_past_them(db: Database) -> None:
    """Issue 8 item 5: unknown kind, bad flags, events or frames of another device are permanent."""
    dev, other = _device(db, "cam-1"), _device(db, "cam-2")
    ing = Ingestor(db)
    unknown_kind = _with_kind(dev.frames(1), 9, dev.secret)
    bad_flags = _with_flags(dev.frames(1), 4, dev.secret)
    foreign_event = other.event(EventType.ZONE_ENTER, "z", side=None)
    foreign_events = dev.seal(Kind.EVENTS, EventBatch((foreign_event,)).to_bytes())
    foreign_frames = dev.seal(Kind.FRAMES, _foreign_frames(other))
    last = dev.frames(1)
    raws = [("cam-1", r) for r in (unknown_kind, bad_flags, foreign_events, foreign_frames, last)]
    result = ing.ingest_batch(raws)
    assert [o.status.value for o in result.outcomes] == [
        "bad_kind", "bad_flags", "record_device_mismatch", "record_device_mismatch", "stored",
    ]  # fmt: skip
    assert result.acks["cam-1"].stored_through == 5
    assert [seq for seq, _ in result.rejected["cam-1"]] == [1, 2, 3, 4]
    assert _logged(db, "cam-1") == {1: "bad_kind", 2: "bad_flags", 3: "record_device_mismatch",
                                    4: "record_device_mismatch", 5: "stored"}  # fmt: skip
    # resent (as a device whose ack was lost would): duplicates, nothing stored twice
    assert {o.status.value for o in ing.ingest(raws)} == {"duplicate"}


def _foreign_frames(other: FakeDevice) -> bytes:
    return encode_batch([other.frame(1)])


def test_topic_mismatch_is_not_logged(db: Database) -> None:
    """An envelope on another device's topic may be a capture: refused, but its seq stays free."""
    dev, _other = _device(db, "cam-1"), _device(db, "cam-2")
    raw = dev.frames(1)
    assert Ingestor(db).ingest([("cam-2", raw)])[0].status == "device_mismatch"
    assert _logged(db, "cam-1") == {}
    assert Ingestor(db).ingest([("cam-1", raw)])[0].status == "stored"


def test_unsigned_bad_kind_is_not_logged(db: Database) -> None:
    dev = _device(db, "cam-1")
    forged = _with_kind(dev.frames(1), 9, b"not the key" * 3)
    assert Ingestor(db).ingest([("cam-1", forged)])[0].status == "bad_mac"
    assert _logged(db, "cam-1") == {}


def test_oversized_names_are_refused_when_read(db: Database) -> None:
    dev = _device(db, "cam-1")
    long_model = dev.seal(Kind.HEARTBEAT, json.dumps({"model": {"id": "m" * 500, "version": "1"}}).encode())
    nan = dev.seal(Kind.HEARTBEAT, b'{"fps": NaN}')
    huge = dev.seal(Kind.HEARTBEAT, json.dumps({"outbox_pending": 1 << 70}).encode())
    deep = dev.seal(Kind.REPORTED, b'{"version":1,"state":' + b'{"a":' * 40 + b"1" + b"}" * 41)
    nul_key = dev.seal(Kind.REPORTED, b'{"version":1,"state":{"a\\u0000":1}}')
    statuses = [o.status.value for o in Ingestor(db).ingest([("cam-1", r) for r in (long_model, nan, huge, deep,
                                                                                     nul_key)])]  # fmt: skip
    assert statuses == ["bad_payload"] * 5
    assert devices.get_device(db, "cam-1") is not None
    assert _logged(db, "cam-1") == dict.fromkeys(range(1, 6), "bad_payload")
