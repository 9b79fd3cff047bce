"""What the insights page and the device page's panels show, read from the events and frames the hub stores.

* Staffing per store: the counters the queue apps advised (``queue_advice``) against the counters
  open (the events' ``open_counters``, where a queue declares its counters), hour by hour.
* Restock list: shelves whose latest ``restock`` event still alerts (as :func:`edgesight.hub.insights.restock`).
* Device panels: its queues, shelves and hazards (latest state and recent events), and an occupancy
  heatmap counted here from the detections of its stored frames (boxes only, never pixels: the
  device's own heatmap app keeps its grid on the device and sends nothing).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from edgesight.hub.storage import devices, queries
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.queries import Filter

__all__ = ["HEATMAP_GRID", "HEATMAP_WINDOW_S", "advised_per_hour", "device_panels", "heatmap", "restock_list",
           "store_staffing"]  # fmt: skip

HEATMAP_GRID = (32, 18)
"""Cells ``(cols, rows)`` of the hub's heatmap: the device heatmap app's default grid."""
HEATMAP_WINDOW_S = 300.0
"""The heatmap counts the stored frames of the last five minutes (a few thousand frames at 10 fps)."""
_DAY_S = 86_400.0


def advised_per_hour(advice: list[tuple[float, int]], start: float, hours: int) -> list[int | None]:
    """The most counters advised in each hour from ``start``: the advice in force when it began, or given in it.

    ``advice`` is ``(timestamp, counters)`` oldest first; None before the first advice. Open counters
    reported over time are summed up per hour the same way (the most open).

    Example:
        >>> advised_per_hour([(0.0, 2), (5400.0, 4), (5500.0, 3)], 0.0, 3)
        [2, 4, 3]
        >>> advised_per_hour([(4000.0, 1)], 0.0, 2)
        [None, 1]
    """
    out: list[int | None] = []
    i, in_force = 0, None
    for h in range(hours):
        end = start + (h + 1) * 3600
        peak = in_force
        while i < len(advice) and advice[i][0] < end:
            in_force = advice[i][1]
            peak = in_force if peak is None else max(peak, in_force)
            i += 1
        out.append(peak)
    return out


def _add(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


def store_staffing(db: Database, now: float | None = None, hours: int = 24) -> list[dict[str, Any]]:
    """Per store (site): counters advised and counters open per hour over the last ``hours``, queues seen.

    Each figure is the most in force in the hour (at its start or reported in it, see
    :func:`advised_per_hour`), summed over the store's queues. ``open`` counts only the queues that
    declare counters (their events carry ``open_counters``), and ``gap`` is advised minus open over
    those same queues: positive means fewer counters open than advised; None where no queue measures.
    Each hour also gives the longest queue and the longest live wait reported in it.
    """
    now = time.time() if now is None else now
    start = (now // 3600 + 1) * 3600 - hours * 3600
    site_of = {d.id: d.site or "(no site)" for d in devices.list_devices(db)}
    advice: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    opened: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    longest: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    # a queue's advice in force at ``start`` was given before it: look back a day for it
    f = Filter(type="queue_advice", start=start - _DAY_S, end=now + 1, limit=1_000_000)
    names = {"counters": float, "open_counters": float, "queue_length": float, "wait_s": float}
    for r in queries.event_properties(db, f, names):
        if r["counters"] is not None:
            advice[(r["device_id"], r["rule"])].append((r["timestamp"], int(r["counters"])))
        if r["open_counters"] is not None:
            opened[(r["device_id"], r["rule"])].append((r["timestamp"], int(r["open_counters"])))
        if r["timestamp"] >= start:
            cell = longest[(site_of.get(r["device_id"], "(no site)"), int((r["timestamp"] - start) // 3600))]
            cell[0] = max(cell[0], float(r["queue_length"] or 0))
            cell[1] = max(cell[1], float(r["wait_s"] or 0))
    sums: dict[str, dict[str, list[int | None]]] = {}
    queues: dict[str, list[str]] = defaultdict(list)
    for queue, points in sorted(advice.items()):
        site = site_of.get(queue[0], "(no site)")
        queues[site].append(f"{queue[0]}/{queue[1]}")
        advised = advised_per_hour(points, start, hours)
        open_ = advised_per_hour(opened.get(queue, []), start, hours)
        gap = [None if a is None or o is None else a - o for a, o in zip(advised, open_, strict=True)]
        site_sums = sums.setdefault(site, {k: [None] * hours for k in ("advised", "open", "gap")})
        for key, hourly in (("advised", advised), ("open", open_), ("gap", gap)):
            site_sums[key] = [_add(t, q) for t, q in zip(site_sums[key], hourly, strict=True)]
    return [
        {"site": site, "queues": queues[site], "hours": [
            {"start": start + h * 3600, "advised": t["advised"][h], "open": t["open"][h], "gap": t["gap"][h],
             "queue_max": longest.get((site, h), [None, None])[0],
             "wait_max_s": longest.get((site, h), [None, None])[1]}
            for h in range(hours)]}
        for site, t in sorted(sums.items())
    ]  # fmt: skip


def restock_list(db: Database, now: float | None = None) -> list[dict[str, Any]]:
    """Shelves to refill, soonest empty first, with their store: as :func:`edgesight.hub.insights.restock`
    (the latest ``restock`` event of each shelf in 24 h alerts), reading only the properties it shows."""
    now = time.time() if now is None else now
    site_of = {d.id: d.site for d in devices.list_devices(db)}
    f = Filter(type="restock", start=now - _DAY_S, limit=1_000_000)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in queries.event_properties(db, f, {"state": str, "level": float, "time_to_empty_s": float}):
        latest[(r["device_id"], r["rule"])] = r  # oldest first: the last one wins
    shelves = [{"device_id": r["device_id"], "shelf": r["rule"], "site": site_of.get(r["device_id"]),
                "timestamp": r["timestamp"], "level": r["level"], "time_to_empty_s": r["time_to_empty_s"]}
               for r in latest.values() if r["state"] == "alert"]  # fmt: skip
    return sorted(shelves, key=lambda s: (s["time_to_empty_s"] is None, s["time_to_empty_s"] or 0.0))


def heatmap(db: Database, device_id: str, now: float, grid: tuple[int, int] = HEATMAP_GRID) -> dict[str, Any]:
    """Bottom-centre anchors of the detections in the device's frames of the last :data:`HEATMAP_WINDOW_S`.

    Counts per cell, rows top first; boxes are the wire's normalised ``[x0, y0, x1, y1]``.
    """
    cols, rows = grid
    frames = queries.frames(db, Filter(device=device_id, start=now - HEATMAP_WINDOW_S, limit=20_000))
    boxes = np.array([d["box"] for f in frames for d in f["detections"]], dtype=np.float64).reshape(-1, 4)
    cx = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2 * cols).astype(np.int64), 0, cols - 1)
    cy = np.clip((boxes[:, 3] * rows).astype(np.int64), 0, rows - 1)
    counts = np.bincount(cy * cols + cx, minlength=cols * rows).reshape(rows, cols)
    return {"cols": cols, "rows": rows, "frames": len(frames), "window_s": HEATMAP_WINDOW_S,
            "counts": counts.tolist()}  # fmt: skip


def _latest_per_rule(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:  # oldest first: the last one wins
        latest[r["rule"]] = r
    return [{"rule": r["rule"], "timestamp": r["timestamp"], **r["properties"]} for _, r in sorted(latest.items())]


def _hazards(rows: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}
    for r in rows:
        state[(r["rule"], tuple(r["track_ids"]))] = r
    open_ = [r for r in state.values() if r["properties"].get("state") == "alert"]
    recent = [{"rule": r["rule"], "timestamp": r["timestamp"], "track_ids": r["track_ids"],
               "class_name": r["class_name"], **r["properties"]} for r in reversed(rows[-20:])]  # fmt: skip
    return {"open": len(open_), "today": sum(r["properties"].get("state") == "alert" for r in rows), "recent": recent}


def device_panels(db: Database, device_id: str, now: float | None = None) -> dict[str, Any]:
    """The device page's panels: queues (latest advice, advised counters per hour), shelves, hazards, heatmap."""
    now = time.time() if now is None else now
    start = (now // 3600 + 1) * 3600 - 24 * 3600

    def of(kind: str) -> list[dict[str, Any]]:
        return queries.events(db, Filter(device=device_id, type=kind, start=now - _DAY_S, limit=100_000))

    advice = of("queue_advice")
    queues = _latest_per_rule(advice)
    for q in queues:
        points = [(r["timestamp"], int(r["properties"]["counters"])) for r in advice
                  if r["rule"] == q["rule"] and r["properties"].get("counters") is not None]  # fmt: skip
        q["advised_per_hour"] = advised_per_hour(points, start, 24)
    return {
        "hours_start": start, "queues": queues, "shelves": _latest_per_rule(of("restock")),
        "hazards": _hazards(of("hazard")), "heatmap": heatmap(db, device_id, now),
    }  # fmt: skip
