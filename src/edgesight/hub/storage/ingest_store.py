"""The write path of ingestion: one transaction per batch, exactly once per ``(device_id, seq)``.

The batch first claims its ``(device_id, seq)`` pairs in ``ingest_log`` with
``INSERT .. ON CONFLICT DO NOTHING RETURNING``; only claimed messages have their data written, so
a message delivered twice (or to two workers at once) is stored once whatever the interleaving:
the primary key of ``ingest_log`` is the arbiter, and it commits with the data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Insert, Table, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

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

__all__ = ["AckState", "FrameRecord", "StoreBatch", "StoreResult", "store_batch"]

Key = tuple[str, int]
_WALK = 5000
_FRAME_COLUMNS = ("device_id", "seq", "frame_index", "stream_id", "timestamp", "model", "n_detections")
_BATCH_COLUMNS = ("device_id", "seq", "timestamp", "payload")
FrameRecord = tuple[str, int, int, str, float, str, int]
"""A ``frames`` row in ``_FRAME_COLUMNS`` order (``seq`` is the message's): tuples, not dicts, on
the hot path."""


@dataclass
class StoreBatch:
    """Rows of one batch, each tagged with the ``(device_id, seq)`` of its message."""

    log: list[dict[str, Any]] = field(default_factory=list)
    frames: list[FrameRecord] = field(default_factory=list)
    frame_batches: list[tuple[str, int, float, bytes]] = field(default_factory=list)
    """``(device_id, seq, first frame's timestamp, binary batch)`` of each frames message, stored as sent."""
    events: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    reported: list[dict[str, Any]] = field(default_factory=list)
    command_results: list[dict[str, Any]] = field(default_factory=list)


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


EventHook = Callable[[Connection, list[dict[str, Any]]], None]


def _insert(conn: Connection, table: Table) -> Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)  # type: ignore[no-any-return]


_PG_CLAIM = text(
    "INSERT INTO ingest_log (device_id, seq, kind, status, received_at) "
    "SELECT * FROM unnest(CAST(:d AS text[]), CAST(:s AS bigint[]), CAST(:k AS int[]), CAST(:st AS text[]), "
    "CAST(:r AS float8[])) ON CONFLICT DO NOTHING RETURNING device_id, seq"
)


def _claim(conn: Connection, log: list[dict[str, Any]]) -> set[Key]:
    if not log:
        return set()
    if conn.dialect.name == "postgresql":  # one statement with five array parameters: no huge VALUES list
        params = {"d": [r["device_id"] for r in log], "s": [r["seq"] for r in log], "k": [r["kind"] for r in log],
                  "st": [r["status"] for r in log], "r": [r["received_at"] for r in log]}  # fmt: skip
        return {(r[0], int(r[1])) for r in conn.execute(_PG_CLAIM, params)}
    stmt = _insert(conn, IngestLog.__table__)  # type: ignore[arg-type]
    stmt = stmt.on_conflict_do_nothing().returning(IngestLog.device_id, IngestLog.seq)  # type: ignore[attr-defined]
    return {(r[0], int(r[1])) for r in conn.execute(stmt, log)}


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL COPY (several times faster than multi-row INSERT)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _store_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
    else:  # one executemany of plain tuples: no per-row dict or SQLAlchemy compile
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows))


def _store_events(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return []
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


def _store_health(conn: Connection, rows: list[dict[str, Any]]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["last_seen"]):
        merged = latest.setdefault(row["device_id"], {})
        merged.update({k: v for k, v in row.items() if v is not None})
    if not latest:
        return
    full = [
        {"device_id": d, "last_seen": v["last_seen"], **{c: v.get(c) for c in
         ("fps", "dnn_ms", "model", "outbox_pending", "uptime_s")}}
        for d, v in sorted(latest.items())  # one lock order for all workers
    ]  # fmt: skip
    table = DeviceHealth.__table__
    stmt = _insert(conn, table)  # type: ignore[arg-type]
    ex = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["device_id"],
        set_={
            "last_seen": case((ex.last_seen > table.c.last_seen, ex.last_seen), else_=table.c.last_seen),
            **{c: func.coalesce(getattr(ex, c), table.c[c]) for c in
               ("fps", "dnn_ms", "model", "outbox_pending", "uptime_s")},
        },
    )  # fmt: skip
    conn.execute(stmt, full)


def _store_device_state(conn: Connection, batch: StoreBatch, claimed: set[Key]) -> None:
    for r in batch.reported:
        if (r["device_id"], r["seq"]) in claimed:
            conn.execute(
                update(Twin)
                .where(Twin.device_id == r["device_id"], Twin.reported_version <= r["version"])  # no going back
                .values(reported=r["state"], reported_version=r["version"], updated_at=r["received_at"])
            )
    for r in batch.command_results:
        if (r["device_id"], r["seq"]) in claimed:
            conn.execute(
                update(Command)
                .where(Command.id == r["command_id"], Command.device_id == r["device_id"])
                .values(status="ok" if r["ok"] else "failed", detail=r["detail"])
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
        claimed = _claim(conn, batch.log)
        _store_rows(conn, "frame_batches", _BATCH_COLUMNS,
                    [r for r in batch.frame_batches if (r[0], r[1]) in claimed])  # fmt: skip
        _store_rows(conn, "frames", _FRAME_COLUMNS, [r for r in batch.frames if (r[0], r[1]) in claimed])
        new_events = _store_events(conn, [r for r in batch.events if (r["device_id"], r["seq"]) in claimed])
        _store_aggregates(conn, new_events)
        _store_health(conn, [r for r in batch.health if (r["device_id"], r["seq"]) in claimed])
        _store_device_state(conn, batch, claimed)
        if on_events is not None and new_events:
            on_events(conn, new_events)
        acks = _advance(conn, {r["device_id"] for r in batch.log}, reserve_acks)
    return StoreResult(claimed, acks, new_events)
