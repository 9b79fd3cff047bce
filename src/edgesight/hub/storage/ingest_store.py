"""The write path of ingestion: one transaction per batch, exactly once per ``(device_id, seq)``.

The batch first claims its ``(device_id, seq)`` pairs in ``ingest_log`` with
``INSERT .. ON CONFLICT DO NOTHING RETURNING``; only claimed messages have their data written, so
a message delivered twice (or to two workers at once) is stored once whatever the interleaving:
the primary key of ``ingest_log`` is the arbiter, and it commits with the data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Connection, Insert, Table, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from edgesight.core.errors import StorageError
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import (
    Aggregate,
    Command,
    Device,
    DeviceHealth,
    EventRow,
    IngestLog,
    Twin,
)

__all__ = [
    "AckState",
    "CommandResultRow",
    "EventRecord",
    "FrameBatchRow",
    "FrameIndexRow",
    "HealthRow",
    "IngestStatus",
    "LogRow",
    "MessageRows",
    "ReportedRow",
    "StoreBatch",
    "StoreResult",
    "rollup",
    "store_batch",
]

Key = tuple[str, int]
_WALK = 5000
_HEALTH_VALUES = ("fps", "dnn_ms", "model", "outbox_pending", "uptime_s")


class IngestStatus(StrEnum):
    """What became of one message (docs/protocol.md lists the reject reasons)."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    BAD_MAGIC = "bad_magic"
    TRUNCATED = "truncated"
    OVERSIZED = "oversized"
    BAD_DEVICE_ID = "bad_device_id"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED = "revoked"
    BAD_MAC = "bad_mac"
    BAD_KIND = "bad_kind"
    BAD_FLAGS = "bad_flags"
    BAD_SEQ = "bad_seq"
    DEVICE_MISMATCH = "device_mismatch"
    BAD_PAYLOAD = "bad_payload"
    BAD_TIMESTAMP = "bad_timestamp"
    UNSUPPORTED_VERSION = "unsupported_version"
    RECORD_DEVICE_MISMATCH = "record_device_mismatch"
    """A signed message whose frames or events name another device."""
    UNSTORABLE = "unstorable"
    """A signed message the database refused to store although it stored the rest of its batch."""

    @property
    def permanent(self) -> bool:
        """A rejection found after the MAC check: logged like a stored message, so the device's
        ``stored_through`` moves past it and the device stops resending.

        Example:
            >>> IngestStatus.BAD_PAYLOAD.permanent, IngestStatus.BAD_MAC.permanent
            (True, False)
        """
        return self in _PERMANENT

    @property
    def logged(self) -> bool:
        """Whether the message's ``(device_id, seq)`` goes into ``ingest_log``."""
        return self is IngestStatus.STORED or self in _PERMANENT


_PERMANENT = frozenset(
    {
        IngestStatus.BAD_PAYLOAD,
        IngestStatus.BAD_TIMESTAMP,
        IngestStatus.BAD_KIND,
        IngestStatus.BAD_FLAGS,
        IngestStatus.UNSUPPORTED_VERSION,
        IngestStatus.RECORD_DEVICE_MISMATCH,
        IngestStatus.UNSTORABLE,
    }
)


@dataclass(frozen=True, slots=True)
class LogRow:
    """An ``ingest_log`` row: the claim of one message, stored or permanently rejected."""

    device_id: str
    seq: int
    kind: int
    status: IngestStatus
    received_at: float

    @property
    def key(self) -> Key:
        return self.device_id, self.seq


class FrameIndexRow(NamedTuple):
    """A ``frames`` row (``seq`` is the message's). A typed tuple: COPY writes it as it is, on the
    hot path of ingest (tens of thousands per second)."""

    device_id: str
    seq: int
    frame_index: int
    stream_id: str
    timestamp: float
    model: str
    n_detections: int


class FrameBatchRow(NamedTuple):
    """A ``frame_batches`` row: a frames message's binary batch, stored as sent."""

    device_id: str
    seq: int
    timestamp: float
    """The first frame's."""
    payload: bytes


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An ``events`` row."""

    device_id: str
    seq: int
    id: str
    stream_id: str
    type: str
    rule: str
    trigger: str
    frame_index: int
    timestamp: float
    class_name: str | None
    track_ids: list[int]
    properties: dict[str, Any]

    def as_row(self) -> dict[str, Any]:
        """The column values (also what alert rules and the per-minute rollup read)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HealthRow:
    """What one message says about its device's health; None: not said by this message."""

    device_id: str
    seq: int
    last_seen: float
    fps: float | None = None
    dnn_ms: float | None = None
    model: str | None = None
    outbox_pending: int | None = None
    uptime_s: float | None = None


@dataclass(frozen=True, slots=True)
class ReportedRow:
    """A reported twin, applied to ``twins`` unless it is older than the one stored."""

    device_id: str
    seq: int
    version: int
    state: dict[str, Any]
    received_at: float


@dataclass(frozen=True, slots=True)
class CommandResultRow:
    """A command's result, applied to ``commands``."""

    device_id: str
    seq: int
    command_id: str
    ok: bool
    detail: str | None


@dataclass(frozen=True, slots=True)
class MessageRows:
    """Everything one message writes; all of it is stored or none (when its claim fails)."""

    log: LogRow
    frames: Sequence[FrameIndexRow] = ()
    frame_batch: FrameBatchRow | None = None
    events: Sequence[EventRecord] = ()
    health: HealthRow | None = None
    reported: ReportedRow | None = None
    command_result: CommandResultRow | None = None


@dataclass
class StoreBatch:
    """The messages of one ingest transaction."""

    messages: list[MessageRows] = field(default_factory=list)
    ack_devices: set[str] = field(default_factory=set)
    """Devices to acknowledge even if none of their messages is in ``messages`` (all were duplicates):
    a device resending what the hub already stored must learn ``stored_through``, or it resends forever."""


@dataclass(frozen=True, slots=True)
class AckState:
    """What the device is told after the commit: ``stored_through`` and the ack envelope's seq."""

    stored_through: int
    down_seq: int
    secret: bytes


@dataclass
class StoreResult:
    claimed: set[Key]
    acks: dict[str, AckState]
    new_events: list[dict[str, Any]]
    """Column values of the events stored for the first time."""


EventHook = Callable[[Connection, list[dict[str, Any]]], None]


def _insert(conn: Connection, table: Table) -> Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)  # type: ignore[no-any-return]


_PG_CLAIM = text(
    "INSERT INTO ingest_log (device_id, seq, kind, status, received_at) "
    "SELECT * FROM unnest(CAST(:d AS text[]), CAST(:s AS bigint[]), CAST(:k AS int[]), CAST(:st AS text[]), "
    "CAST(:r AS float8[])) ON CONFLICT DO NOTHING RETURNING device_id, seq"
)


def _claim(conn: Connection, log: list[LogRow]) -> set[Key]:
    if not log:
        return set()
    if conn.dialect.name == "postgresql":  # one statement with five array parameters: no huge VALUES list
        params = {"d": [r.device_id for r in log], "s": [r.seq for r in log], "k": [r.kind for r in log],
                  "st": [r.status.value for r in log], "r": [r.received_at for r in log]}  # fmt: skip
        return {(r[0], int(r[1])) for r in conn.execute(_PG_CLAIM, params)}
    stmt = _insert(conn, IngestLog.__table__)  # type: ignore[arg-type]
    stmt = stmt.on_conflict_do_nothing().returning(IngestLog.device_id, IngestLog.seq)  # type: ignore[attr-defined]
    rows = [{**asdict(r), "status": r.status.value} for r in log]
    return {(r[0], int(r[1])) for r in conn.execute(stmt, rows)}


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL COPY (several times faster than multi-row INSERT)."""
    import psycopg  # the PostgreSQL path only

    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:  # the driver's own error: name the table, keep the cause for the caller
        raise StorageError(f"postgresql refused COPY into {table}: {type(exc).__name__}") from exc


def _store_rows(conn: Connection, table: str, rows: Sequence[FrameIndexRow] | Sequence[FrameBatchRow]) -> None:
    if not rows:
        return
    columns = rows[0]._fields
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
    else:  # one executemany of plain tuples: no per-row dict or SQLAlchemy compile
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows))


def _store_events(conn: Connection, events: list[EventRecord]) -> list[dict[str, Any]]:
    if not events:
        return []
    rows = [e.as_row() for e in events]
    stmt = _insert(conn, EventRow.__table__)  # type: ignore[arg-type]
    stmt = stmt.on_conflict_do_nothing().returning(EventRow.id)  # type: ignore[attr-defined]
    inserted = {r[0] for r in conn.execute(stmt, rows)}
    return [r for r in rows if r["id"] in inserted]


def rollup(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-minute aggregate rows of zone counts and line crossings.

    Example:
        >>> e = {"device_id": "d", "rule": "door", "timestamp": 125.0, "type": "line_crossing",
        ...      "class_name": "person", "properties": {"direction": "in"}}
        >>> rollup([e, e])[0]["key"], rollup([e, e])[0]["n"], rollup([e])[0]["minute"]
        ('in/person', 2, 120)
    """
    acc: dict[tuple[str, str, int, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])

    def add(e: dict[str, Any], metric: str, key: str, value: float) -> None:
        cell = acc[(e["device_id"], e["rule"], int(e["timestamp"] // 60) * 60, metric, key)]
        cell[0] += 1
        cell[1] += value
        cell[2] = max(cell[2], value)

    for e in events:
        props = e["properties"]
        if e["type"] == "zone_count":
            add(e, "zone_count", "*", float(props.get("count", 0)))
            for cls, n in (props.get("counts_by_class") or {}).items():
                add(e, "zone_count", str(cls), float(n))
        elif e["type"] == "line_crossing":
            add(e, "line_crossing", f"{props.get('direction', '?')}/{e['class_name'] or '*'}", 1.0)
    return [  # sorted: concurrent workers lock rows in one order (no deadlocks)
        {"device_id": k[0], "rule": k[1], "minute": k[2], "metric": k[3], "key": k[4],
         "n": int(v[0]), "total": v[1], "maximum": v[2]}
        for k, v in sorted(acc.items())
    ]  # fmt: skip


def _store_aggregates(conn: Connection, events: list[dict[str, Any]]) -> None:
    rows = rollup(events)
    if not rows:
        return
    table = Aggregate.__table__
    stmt = _insert(conn, table)  # type: ignore[arg-type]
    ex = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["device_id", "rule", "minute", "metric", "key"],
        set_={
            "n": table.c.n + ex.n,
            "total": table.c.total + ex.total,
            "maximum": case((ex.maximum > table.c.maximum, ex.maximum), else_=table.c.maximum),
        },
    )
    conn.execute(stmt, rows)


def _store_health(conn: Connection, rows: list[HealthRow]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r.last_seen):  # later messages say what is true now
        merged = latest.setdefault(row.device_id, {})
        merged["last_seen"] = row.last_seen
        merged.update({c: getattr(row, c) for c in _HEALTH_VALUES if getattr(row, c) is not None})
    if not latest:
        return
    full = [
        {"device_id": d, "last_seen": v["last_seen"], **{c: v.get(c) for c in _HEALTH_VALUES}}
        for d, v in sorted(latest.items())  # one lock order for all workers
    ]  # fmt: skip
    table = DeviceHealth.__table__
    stmt = _insert(conn, table)  # type: ignore[arg-type]
    ex = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["device_id"],
        set_={
            "last_seen": case((ex.last_seen > table.c.last_seen, ex.last_seen), else_=table.c.last_seen),
            **{c: func.coalesce(getattr(ex, c), table.c[c]) for c in _HEALTH_VALUES},
        },
    )  # fmt: skip
    conn.execute(stmt, full)


def _store_device_state(conn: Connection, messages: list[MessageRows]) -> None:
    for m in messages:
        if (r := m.reported) is not None:
            conn.execute(
                update(Twin)
                .where(Twin.device_id == r.device_id, Twin.reported_version <= r.version)  # no going back
                .values(reported=r.state, reported_version=r.version, updated_at=r.received_at)
            )
        if (c := m.command_result) is not None:
            conn.execute(  # the first result counts: a device refusing a replay of it says nothing new
                update(Command)
                .where(Command.id == c.command_id, Command.device_id == c.device_id, Command.status == "sent")
                .values(status="ok" if c.ok else "failed", detail=c.detail)
            )


def _advance(conn: Connection, device_ids: set[str], reserve_acks: bool) -> dict[str, AckState]:
    """Move each device's ``stored_through`` over contiguous logged seqs (and reserve an ack seq)."""
    acks: dict[str, AckState] = {}
    for device_id in sorted(device_ids):  # fixed lock order between concurrent workers
        row = conn.execute(select(Device.stored_through).where(Device.id == device_id)).first()
        if row is None:
            continue
        mark = int(row[0])
        while True:
            seqs = conn.execute(
                select(IngestLog.seq)
                .where(IngestLog.device_id == device_id, IngestLog.seq > mark)
                .order_by(IngestLog.seq)
                .limit(_WALK)
            ).scalars().all()  # fmt: skip
            moved = mark
            for s in seqs:
                if s != moved + 1:
                    break
                moved = s
            more = len(seqs) == _WALK and moved == seqs[-1]
            mark = moved
            if not more:
                break
        updated = conn.execute(
            update(Device)
            .where(Device.id == device_id)
            .values(
                stored_through=case((Device.stored_through > mark, Device.stored_through), else_=mark),
                down_seq=Device.down_seq + int(reserve_acks),
            )
            .returning(Device.stored_through, Device.down_seq, Device.secret)
        ).one()
        acks[device_id] = AckState(int(updated[0]), int(updated[1]), bytes(updated[2]))
    return acks


def store_batch(
    db: Database, batch: StoreBatch, on_events: EventHook | None = None, reserve_acks: bool = True
) -> StoreResult:
    """Write a batch in one transaction; returns what was claimed (the rest were duplicates).

    ``reserve_acks`` takes the next hub -> device seq of each device for its ``down/ack`` message
    (the MQTT path); the HTTP path answers in the response and reserves none.
    """
    with db.begin() as conn:
        claimed = _claim(conn, [m.log for m in batch.messages])
        mine = [m for m in batch.messages if m.log.key in claimed]
        _store_rows(conn, "frame_batches", [m.frame_batch for m in mine if m.frame_batch is not None])
        _store_rows(conn, "frames", [r for m in mine for r in m.frames])
        new_events = _store_events(conn, [e for m in mine for e in m.events])
        _store_aggregates(conn, new_events)
        _store_health(conn, [m.health for m in mine if m.health is not None])
        _store_device_state(conn, mine)
        if on_events is not None and new_events:
            on_events(conn, new_events)
        acks = _advance(conn, {m.log.device_id for m in batch.messages} | batch.ack_devices, reserve_acks)
    return StoreResult(claimed, acks, new_events)
