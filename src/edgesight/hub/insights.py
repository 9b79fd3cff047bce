"""Business insights over stored events: staffing advice (queue_advice), shelves to restock and
inspection yield per product."""

from __future__ import annotations

import time
from typing import Any

from edgesight.apps.inspection.tally import tally_inspections
from edgesight.hub.storage import queries
from edgesight.hub.storage.db import Database

__all__ = ["inspection", "restock", "staffing"]


def staffing(db: Database, site: str | None, start: float | None, end: float | None) -> list[dict[str, Any]]:
    """Counters advised over time: one point per ``queue_advice`` event, oldest first.

    ``counters`` is the event's ``properties.counters`` (the recommended number of open counters),
    ``open_counters`` its ``properties.open_counters`` (counters staffed then; None when the queue
    declares no counters) and ``gap`` advised minus open (None without ``open_counters``).
    """
    rows = queries.events(db, queries.Filter(site=site, type="queue_advice", start=start, end=end, limit=100_000))
    return [
        {"timestamp": r["timestamp"], "device_id": r["device_id"], "rule": r["rule"],
         "counters": (advised := r["properties"].get("counters")),
         "open_counters": (open_ := r["properties"].get("open_counters")),
         "gap": None if advised is None or open_ is None else advised - open_,
         "properties": r["properties"]}
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


def inspection(
    db: Database, site: str | None, product: str | None, start: float | None, end: float | None
) -> list[dict[str, Any]]:
    """Per product: parts inspected, passed, rejected, yield, false rejects and escapes, by product name.

    From ``inspection`` events (``rule`` is the product): each judged part counts once; false
    rejects and escapes come from the events reporting the line's findings (property ``finding``),
    the latest per device and part (see :func:`edgesight.apps.inspection.tally.tally_inspections`).
    ``threshold`` is the one the latest part was judged with.
    """
    f = queries.Filter(site=site, type="inspection", rule=product, start=start, end=end)
    rows = (row for chunk in queries.iter_events(db, f) for row in chunk)
    tallies = tally_inspections((r["device_id"], r["properties"]) for r in rows)
    return [
        {"product": t.product, "inspected": t.inspected, "passed": t.passed, "rejected": t.rejected,
         "yield": round(t.yield_rate, 6), "false_rejects": t.false_rejects, "escapes": t.escapes,
         "threshold": t.threshold}
        for t in sorted(tallies.values(), key=lambda t: t.product)
    ]  # fmt: skip
