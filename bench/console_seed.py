"""A hub seeded for the console bench: devices with health and twins, a day of events and their roll-ups.

Everything is written with the hub's own write path (:func:`edgesight.hub.storage.ingest_store.store_batch`:
the exactly-once log, the events, the per-minute aggregates, health and reported twins), one
transaction per device, so the database holds exactly what ingestion would have stored.

Per device and minute of the day: one ``zone_count`` of the ``till`` zone (interval), Poisson
``door`` crossings (more in opening hours), and on every fifth device a checkout queue
(``queue_advice`` every 10 min, advice from the Erlang C maths of the queue app), a shelf
(``restock`` every 30 min, alerting as it runs low) and a few ``hazard`` intrusions.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from edgesight.apps.retail.staffing import mean_wait_s, recommend_counters
from edgesight.core.wire import Kind
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.rules import RuleEngine
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage import rules as rule_store
from edgesight.hub.storage.ingest_store import (
    EventRecord,
    HealthRow,
    IngestStatus,
    LogRow,
    MessageRows,
    ReportedRow,
    StoreBatch,
    store_batch,
)

__all__ = ["ANALYTICS", "SeedPlan", "seed"]

ANALYTICS: dict[str, Any] = {
    "zones": [{"name": "till", "polygon": [[0.1, 0.5], [0.45, 0.5], [0.45, 0.95], [0.1, 0.95]]}],
    "lines": [{"name": "door", "start": [0.6, 0.1], "end": [0.6, 0.9]}],
}
"""What every seeded device reports running (its twin), so the device page has shapes to draw."""


@dataclass(frozen=True, slots=True)
class SeedPlan:
    devices: int = 200
    hours: int = 24
    crossings_per_min: float = 1.0
    """Mean ``door`` crossings per device-minute over the day (busier in opening hours)."""
    sites: int = 20
    seed: int = 12


def _busy(ts: float) -> float:
    """Relative traffic by hour of day: low at night, peaks at noon and 18:00 (mean about 1)."""
    h = (ts % 86_400) / 3600
    return 0.15 + 1.6 * (math.exp(-(((h - 12) / 2.5) ** 2)) + math.exp(-(((h - 18) / 2.0) ** 2)))


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


class _Events:
    """Builds one device's events in time order."""

    def __init__(self, device_id: str, rng: random.Random) -> None:
        self.device_id, self.rng, self.rows = device_id, rng, list[EventRecord]()
        self.frame = 0

    def add(self, kind: str, rule: str, ts: float, props: dict[str, Any], *, trigger: str = "event",
            class_name: str | None = None, tracks: list[int] | None = None) -> None:  # fmt: skip
        self.frame += 1
        self.rows.append(EventRecord(self.device_id, 0, uuid.UUID(int=self.rng.getrandbits(128)).hex, "main", kind,
                                     rule, trigger, self.frame, ts, class_name, tracks or [], props))  # fmt: skip


def _queue(ev: _Events, ts: float, busy: float, previous: int | None) -> int:
    lam = 0.6 * busy / 60  # arrivals per second
    aht = 150.0
    counters = recommend_counters(max(lam, 1e-6), aht, target_mean_wait_s=60.0).counters
    wait = mean_wait_s(counters, lam, aht) if lam > 0 else 0.0
    length = _poisson(ev.rng, lam * 60 * 1.5)
    ev.add("queue_advice", "checkout", ts, {
        "queue_length": length, "arrivals_per_min": round(lam * 60, 3),
        "wait_s": round(length / (lam * 60) * 60, 1) if lam > 0 else None, "counters": counters,
        "previous_counters": previous, "recommended_counters": counters, "mean_wait_s": round(wait, 2),
        "service_level": None, "target": {"mean_wait_s": 60.0, "service_level": None, "target_s": None},
        "target_met": True, "aht_s": aht, "aht_source": "configured", "traffic_erlang": round(lam * aht, 3),
        "window_s": 1800.0,
    }, trigger="event" if counters != previous else "interval")  # fmt: skip
    return counters


def _shelf(ev: _Events, ts: float, level: float) -> None:
    state = "alert" if level < 0.25 else "ok"
    rate = 0.12
    ev.add("restock", "drinks", ts, {
        "state": state, "occupancy": round(level, 3), "level": round(level, 3), "mode": "count",
        "item_count": round(level * 20), "capacity": 20, "gaps": [[0.1, 0.1 + round(0.8 * (1 - level), 3)]],
        "time_to_empty_s": round(level / rate * 3600, 1), "time_to_low_s": round(max(level - 0.25, 0) / rate * 3600, 1),
        "rate_per_hour": rate, "low_threshold": 0.25, "high_threshold": 0.6,
    }, trigger="interval")  # fmt: skip


def device_events(device_id: str, start: float, plan: SeedPlan, index: int) -> list[EventRecord]:
    """A day (``plan.hours``) of one device's events from ``start``, oldest first."""
    ev = _Events(device_id, random.Random(f"{plan.seed}/{device_id}"))
    retail = index % 5 == 0
    counters: int | None = None
    level = 1.0
    for minute in range(plan.hours * 60):
        ts = start + minute * 60
        busy = _busy(ts)
        inside = _poisson(ev.rng, 3 * busy)
        ev.add("zone_count", "till", ts + 0.5, {"count": inside, "counts_by_class": {"person": inside}},
               trigger="interval")  # fmt: skip
        for _ in range(_poisson(ev.rng, plan.crossings_per_min * busy)):
            inward = ev.rng.random() < 0.5
            ev.add("line_crossing", "door", ts + ev.rng.uniform(1, 59), {
                "direction": "in" if inward else "out", "status": "CrossRight" if inward else "CrossLeft",
                "crossed_frame_index": ev.frame, "point": [0.6, round(ev.rng.uniform(0.1, 0.9), 3)],
            }, class_name="person", tracks=[ev.frame])  # fmt: skip
        if retail and minute % 10 == 0:
            counters = _queue(ev, ts + 1, busy, counters)
        if retail and minute % 30 == 0:
            level = 1.0 if level < 0.15 else level - 0.06 * busy
            _shelf(ev, ts + 2, max(level, 0.0))
        if retail and minute % 240 == 120:
            ev.add("hazard", "forklift_lane", ts + 3, {"state": "alert", "kind": "intrusion", "severity": "critical",
                                                       "point": [0.7, 0.62], "allowed_classes": ["forklift"]},
                   class_name="person", tracks=[ev.frame])  # fmt: skip
            ev.add("hazard", "forklift_lane", ts + 9, {"state": "cleared", "kind": "intrusion", "severity": "critical",
                                                       "duration_s": 6.0, "lost": False},
                   class_name="person", tracks=[ev.frame - 1])  # fmt: skip
    ev.rows.sort(key=lambda e: e.timestamp)
    return ev.rows


def _messages(device_id: str, events: list[EventRecord], now: float, rng: random.Random) -> list[MessageRows]:
    """Events in one message per hour (as an agent's outbox would batch them), then a heartbeat and a twin."""
    out: list[MessageRows] = []
    seq = 0
    for i in range(0, len(events), 500):
        seq += 1
        chunk = [EventRecord(**{**e.as_row(), "seq": seq}) for e in events[i : i + 500]]
        out.append(MessageRows(LogRow(device_id, seq, Kind.EVENTS, IngestStatus.STORED, now), events=chunk))
    offline = rng.random() < 0.1
    health = HealthRow(device_id, seq + 1, now - (rng.uniform(600, 7200) if offline else rng.uniform(0, 10)),
                       round(rng.uniform(9.0, 10.0), 2), round(rng.uniform(30, 45), 1), "nanodet-plus-m-416-int8@1.0.0",
                       0, 86_400.0)  # fmt: skip
    out.append(MessageRows(LogRow(device_id, seq + 1, Kind.HEARTBEAT, IngestStatus.STORED, now), health=health))
    out.append(MessageRows(LogRow(device_id, seq + 2, Kind.REPORTED, IngestStatus.STORED, now),
                           reported=ReportedRow(device_id, seq + 2, 1, {"analytics": ANALYTICS}, now)))  # fmt: skip
    return out


RULES = [
    ("forklift lane", "hazard", {"rule": "forklift_lane", "property": "state", "op": "==", "value": "alert"}),
    ("long queue", "queue_advice", {"property": "queue_length", "op": ">=", "value": 4}),
    ("crowded till", "zone_count", {"rule": "till", "property": "count", "op": ">=", "value": 12}),
]
"""Alert rules of the seeded hub; its rule engine raises their alerts as the events are stored."""


def seed(db: Database, plan: SeedPlan, now: float | None = None) -> dict[str, float]:
    """Enrol ``plan.devices`` devices (``cam-000``..) and store a day of their events; returns counts and seconds."""
    now = time.time() if now is None else now
    start = (now // 60) * 60 - plan.hours * 3600
    rng = random.Random(plan.seed)
    for name, event_type, condition in RULES:
        rule_store.create_rule(db, name, event_type, condition, None, f"alerts/{event_type}")
    engine = RuleEngine(db, HubMetrics())  # not started: alerts are written, none is delivered
    t0 = time.perf_counter()
    n_events = 0
    for i in range(plan.devices):
        device_id = f"cam-{i:03d}"
        devices.enrol(db, device_id, site=f"store-{i % plan.sites:02d}")
        events = device_events(device_id, start, plan, i)
        n_events += len(events)
        store_batch(db, StoreBatch(_messages(device_id, events, now, rng)), engine.evaluate, reserve_acks=False)
        engine.flush(committed=False)
    alerts = sum(n for n, _ in rule_store.alert_totals(db).values())
    return {"devices": plan.devices, "events": n_events, "alerts": alerts, "seconds": time.perf_counter() - t0}
