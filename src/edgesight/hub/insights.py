"""Business insights over stored events: staffing advice (queue_advice) and shelves to restock."""

from __future__ import annotations

import time
from typing import Any

from edgesight.hub.storage import queries
from edgesight.hub.storage.db import Database

__all__ = ["restock", "staffing"]


def staffing(db: Database, site: str | None, start: float | None, end: float | None) -> list[dict[str, Any]]:
    """Counters advised over time: one point per ``queue_advice`` event, oldest first.

    ``counters`` is the event's ``properties.counters`` (the recommended number of open counters).
    """
    rows = queries.events(db, queries.Filter(site=site, type="queue_advice", start=start, end=end, limit=100_000))
    return [
        {"timestamp": r["timestamp"], "device_id": r["device_id"], "rule": r["rule"],
         "counters": r["properties"].get("counters"), "properties": r["properties"]}
        for r in rows
    ]  # fmt: skip


def restock(db: Database, site: str | None, window_s: float = 86_400.0) -> list[dict[str, Any]]:
    """Shelves whose latest ``restock`` event (within ``window_s``) still alerts, soonest empty first.

    The shelf app (docs/apps.md) sends ``state: "alert"`` when a shelf runs low and
    ``state: "cleared"`` once it is refilled; only shelves whose latest event is an alert are listed.
    """
    now = time.time()
    rows = queries.events(db, queries.Filter(site=site, type="restock", start=now - window_s, limit=100_000))
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:  # oldest first, so the last one wins
        latest[(r["device_id"], r["rule"])] = r
    shelves = [
        {"device_id": r["device_id"], "shelf": r["rule"], "timestamp": r["timestamp"],
         "time_to_empty_s": r["properties"].get("time_to_empty_s"), "level": r["properties"].get("level"),
         "properties": r["properties"]}
        for r in latest.values()
        if r["properties"].get("state") == "alert"
    ]  # fmt: skip
    return sorted(shelves, key=lambda s: (s["time_to_empty_s"] is None, s["time_to_empty_s"] or 0.0))
