"""Read side: events, frames, aggregates and counts over a time range, and export streams."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select

from edgesight.core.wire import decode_batch, frame_to_dict
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import Aggregate, Device, EventRow, FrameBatch, FrameRow

__all__ = ["EVENT_COLUMNS", "Filter", "aggregates", "counts", "event_properties", "events", "frames", "iter_events"]

EVENT_COLUMNS = ("id", "device_id", "stream_id", "seq", "type", "rule", "trigger", "frame_index", "timestamp",
                 "class_name", "track_ids", "properties")  # fmt: skip


_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True, slots=True)
class Filter:
    """Which rows a query returns; ``start`` inclusive, ``end`` exclusive, Unix seconds."""

    device: str | None = None
    site: str | None = None
    type: str | None = None
    rule: str | None = None
    start: float | None = None
    end: float | None = None
    limit: int = 1000


def _where_events(query: _Q, f: Filter) -> _Q:
    if f.device is not None:
        query = query.where(EventRow.device_id == f.device)
    if f.site is not None:
        query = query.where(EventRow.device_id.in_(select(Device.id).where(Device.site == f.site)))
    if f.type is not None:
        query = query.where(EventRow.type == f.type)
    if f.rule is not None:
        query = query.where(EventRow.rule == f.rule)
    if f.start is not None:
        query = query.where(EventRow.timestamp >= f.start)
    if f.end is not None:
        query = query.where(EventRow.timestamp < f.end)
    return query


def events(db: Database, f: Filter) -> list[dict[str, Any]]:
    """Events matching ``f``, oldest first, at most ``f.limit``."""
    cols = [getattr(EventRow, c) for c in EVENT_COLUMNS]
    query = _where_events(select(*cols), f).order_by(EventRow.timestamp, EventRow.id).limit(f.limit)
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def event_properties(db: Database, f: Filter, names: Mapping[str, type[float] | type[str]]) -> list[dict[str, Any]]:
    """Events matching ``f`` as ``timestamp``, ``device_id``, ``rule`` and only the named properties, oldest first.

    The database extracts each property as a number (``float``) or a string (``str``), None where
    absent, so a page over thousands of events decodes no JSON document in Python.
    """
    props = [(EventRow.properties[n].as_float() if t is float else EventRow.properties[n].as_string()).label(n)
             for n, t in names.items()]  # fmt: skip
    query = _where_events(select(EventRow.timestamp, EventRow.device_id, EventRow.rule, *props), f)
    query = query.order_by(EventRow.timestamp, EventRow.id).limit(f.limit)
    with db.begin() as conn:
        result = conn.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result]


def iter_events(db: Database, f: Filter, chunk: int = 5000) -> Iterator[list[dict[str, Any]]]:
    """All events matching ``f`` (``limit`` ignored) in chunks, oldest first (for exports)."""
    cols = [getattr(EventRow, c) for c in EVENT_COLUMNS]
    after: tuple[float, str] | None = None
    while True:
        query = _where_events(select(*cols), f)
        if after is not None:
            query = query.where(
                (EventRow.timestamp > after[0]) | ((EventRow.timestamp == after[0]) & (EventRow.id > after[1]))
            )
        query = query.order_by(EventRow.timestamp, EventRow.id).limit(chunk)
        with db.begin() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        if not rows:
            return
        yield rows
        after = (rows[-1]["timestamp"], rows[-1]["id"])


def frames(db: Database, f: Filter) -> list[dict[str, Any]]:
    """Stored frames matching ``f`` (device, site, time), oldest first, detections decoded.

    Detections come from the message's stored binary batch (decoded once per message), or from
    the JSON of frames stored before migration 0002.
    """
    query = select(FrameRow.device_id, FrameRow.stream_id, FrameRow.seq, FrameRow.frame_index,
                   FrameRow.timestamp, FrameRow.model, FrameRow.n_detections, FrameRow.detections,
                   FrameBatch.payload).outerjoin(
        FrameBatch, (FrameBatch.device_id == FrameRow.device_id) & (FrameBatch.seq == FrameRow.seq)
    )  # fmt: skip
    if f.device is not None:
        query = query.where(FrameRow.device_id == f.device)
    if f.site is not None:
        query = query.where(FrameRow.device_id.in_(select(Device.id).where(Device.site == f.site)))
    if f.start is not None:
        query = query.where(FrameRow.timestamp >= f.start)
    if f.end is not None:
        query = query.where(FrameRow.timestamp < f.end)
    query = query.order_by(FrameRow.timestamp, FrameRow.device_id, FrameRow.frame_index).limit(f.limit)
    with db.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    decoded: dict[tuple[str, int], dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        payload = row.pop("payload")
        if row["detections"] is not None:
            row["detections"] = json.loads(row["detections"])
            continue
        key = (row["device_id"], row["seq"])
        if key not in decoded:
            decoded[key] = {m.frame_index: frame_to_dict(m)["detections"] for m in decode_batch(bytes(payload))}
        row["detections"] = decoded[key][row["frame_index"]]
    return rows


def _where_aggregates(query: _Q, f: Filter) -> _Q:
    if f.device is not None:
        query = query.where(Aggregate.device_id == f.device)
    if f.site is not None:
        query = query.where(Aggregate.device_id.in_(select(Device.id).where(Device.site == f.site)))
    if f.rule is not None:
        query = query.where(Aggregate.rule == f.rule)
    if f.start is not None:
        query = query.where(Aggregate.minute >= int(f.start // 60) * 60)
    if f.end is not None:
        query = query.where(Aggregate.minute < f.end)
    return query


def aggregates(db: Database, f: Filter, bucket_s: int = 60) -> list[dict[str, Any]]:
    """Per-bucket roll-ups (bucket a multiple of a minute): zone count max/mean, crossings per key."""
    bucket = Aggregate.minute - Aggregate.minute % bucket_s
    query = select(
        bucket.label("bucket"), Aggregate.device_id, Aggregate.rule, Aggregate.metric, Aggregate.key,
        func.sum(Aggregate.n).label("n"), func.sum(Aggregate.total).label("total"),
        func.max(Aggregate.maximum).label("maximum"),
    ).group_by(bucket, Aggregate.device_id, Aggregate.rule, Aggregate.metric, Aggregate.key)  # fmt: skip
    query = _where_aggregates(query, f).order_by("bucket", Aggregate.device_id, Aggregate.rule, Aggregate.key)
    with db.begin() as conn:
        rows = conn.execute(query.limit(f.limit)).all()
    out = []
    for r in rows:
        item: dict[str, Any] = {"bucket": int(r.bucket), "device_id": r.device_id, "rule": r.rule,
                                "metric": r.metric, "key": r.key}  # fmt: skip
        if r.metric == "zone_count":
            item.update(max=float(r.maximum), mean=float(r.total) / int(r.n), samples=int(r.n))
        else:
            item.update(count=int(r.n))
        out.append(item)
    return out


def counts(db: Database, f: Filter) -> dict[str, list[dict[str, Any]]]:
    """Line crossings per direction and class, and zone counts (max/mean), over whole minutes of ``f``."""
    query = select(
        Aggregate.device_id, Aggregate.rule, Aggregate.metric, Aggregate.key,
        func.sum(Aggregate.n).label("n"), func.sum(Aggregate.total).label("total"),
        func.max(Aggregate.maximum).label("maximum"),
    ).group_by(Aggregate.device_id, Aggregate.rule, Aggregate.metric, Aggregate.key)  # fmt: skip
    query = _where_aggregates(query, f).order_by(Aggregate.device_id, Aggregate.rule, Aggregate.key)
    crossings: list[dict[str, Any]] = []
    zones: list[dict[str, Any]] = []
    with db.begin() as conn:
        for r in conn.execute(query):
            if r.metric == "line_crossing":
                direction, _, cls = str(r.key).rpartition("/")
                crossings.append({"device_id": r.device_id, "rule": r.rule, "direction": direction,
                                  "class_name": None if cls == "*" else cls, "count": int(r.n)})  # fmt: skip
            else:
                zones.append({"device_id": r.device_id, "rule": r.rule, "class_name": r.key,
                              "max": float(r.maximum), "mean": float(r.total) / int(r.n),
                              "samples": int(r.n)})  # fmt: skip
    return {"line_crossings": crossings, "zone_counts": zones}
