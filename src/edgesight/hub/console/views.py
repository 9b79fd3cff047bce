"""What the console's pages show, read from the hub's storage: fleet rows, device summaries, live state."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from edgesight.core.errors import SchemaError
from edgesight.core.wire import ModelReport
from edgesight.hub.storage import devices, queries
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.queries import Filter
from edgesight.hub.storage.tables import EventRow

__all__ = [
    "OFFLINE_AFTER_S", "device_row", "device_status", "fleet", "live_counts", "model_rollout", "new_events", "split_model",
    "twin_versions",
]

OFFLINE_AFTER_S = 30.0
"""A device is offline when nothing arrived for three default heartbeat periods (10 s each)."""


def device_status(last_seen: float | None, revoked: bool, now: float) -> str:
    """``online``, ``offline``, ``never`` (no message yet) or ``revoked``.

    Example:
        >>> device_status(100.0, False, 110.0), device_status(100.0, False, 200.0), device_status(None, False, 1.0)
        ('online', 'offline', 'never')
    """
    if revoked:
        return "revoked"
    if last_seen is None:
        return "never"
    return "online" if now - last_seen <= OFFLINE_AFTER_S else "offline"


def split_model(model: str | None) -> tuple[str | None, str | None]:
    """The heartbeat's ``id@version`` as ``(id, version)``.

    Example:
        >>> split_model("nanodet-coco@1.0.0"), split_model(None)
        (('nanodet-coco', '1.0.0'), (None, None))
    """
    if not model:
        return None, None
    name, sep, version = model.rpartition("@")
    return (name, version) if sep else (model, None)


def _row(d: devices.DeviceInfo, now: float) -> dict[str, Any]:
    h = d.health or {}
    model, version = split_model(h.get("model"))
    return {
        "id": d.id, "site": d.site, "status": device_status(h.get("last_seen"), d.revoked_at is not None, now),
        "last_seen": h.get("last_seen"), "fps": h.get("fps"), "dnn_ms": h.get("dnn_ms"),
        "model": model, "version": version, "tags": list(d.tags),
    }  # fmt: skip


def fleet(db: Database, now: float | None = None) -> list[dict[str, Any]]:
    """One row per device: status from its last message, fps, DNN ms, model and version, site."""
    now = time.time() if now is None else now
    return [_row(d, now) for d in devices.list_devices(db)]


def device_row(db: Database, device_id: str, now: float | None = None) -> dict[str, Any] | None:
    """The fleet row of one device, None if it is not enrolled."""
    found = devices.list_devices(db, device_id=device_id)
    return _row(found[0], time.time() if now is None else now) if found else None


def live_counts(db: Database, device_id: str, since: float) -> dict[str, Any]:
    """Line crossings per line and direction since ``since`` (whole minutes), and each zone's latest count."""
    got = queries.counts(db, Filter(device=device_id, start=since, limit=100_000))
    lines: dict[str, dict[str, int]] = {}
    for c in got["line_crossings"]:
        per_dir = lines.setdefault(c["rule"], {})
        per_dir[c["direction"]] = per_dir.get(c["direction"], 0) + int(c["count"])
    latest = (
        select(EventRow.rule, EventRow.properties)
        .where(EventRow.device_id == device_id, EventRow.type == "zone_count", EventRow.timestamp >= since)
        .order_by(EventRow.timestamp.desc())
        .limit(1000)
    )
    zones: dict[str, int] = {}
    with db.begin() as conn:
        for rule, props in conn.execute(latest):
            zones.setdefault(rule, int((props or {}).get("count", 0)))
    return {"since": since, "lines": lines, "zones": dict(sorted(zones.items()))}


def new_events(db: Database, device_id: str, after: tuple[float, str], limit: int = 50) -> list[dict[str, Any]]:
    """Events of ``device_id`` stored after ``(timestamp, id)``, oldest first."""
    ts, eid = after
    query = (
        select(EventRow.id, EventRow.type, EventRow.rule, EventRow.timestamp, EventRow.class_name,
               EventRow.track_ids, EventRow.properties)
        .where(EventRow.device_id == device_id)
        .where((EventRow.timestamp > ts) | ((EventRow.timestamp == ts) & (EventRow.id > eid)))
        .order_by(EventRow.timestamp, EventRow.id)
        .limit(limit)
    )  # fmt: skip
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def model_rollout(reported: dict[str, Any]) -> dict[str, Any] | None:
    """Where the device is with its target model, from its reported twin's ``model`` report; None without one.

    ``state`` is the report's (downloading, verifying, loading, running, healthy, refused, rolled_back),
    or ``unreadable`` with the schema error as ``detail``.

    Example:
        >>> r = {"model": {"v": 1, "state": "refused", "running": {"id": "m", "version": "1"}, "check": "sha256"}}
        >>> model_rollout(r)["state"], model_rollout(r)["check"], model_rollout({})
        ('refused', 'sha256', None)
    """
    raw = reported.get("model")
    if raw is None:
        return None
    try:
        report = ModelReport.from_dict(raw)
    except SchemaError as exc:
        return {"state": "unreadable", "detail": str(exc)}
    target = report.target
    return {
        "state": report.state.value, "running": "@".join(report.running),
        "target": None if target is None else target.name, "deployment": None if target is None else target.deployment,
        "check": report.check, "reason": report.reason, "detail": report.detail, "fps": report.fps,
    }  # fmt: skip


def twin_versions(db: Database, device_id: str) -> dict[str, Any]:
    """The desired version, the version the device reports applied, its error if it refused one, and
    its model rollout state (:func:`model_rollout`)."""
    twin = devices.get_twin(db, device_id)
    if twin is None:
        return {"desired": 0, "reported": 0, "error": None, "model": None}
    return {"desired": twin.desired_version, "reported": twin.reported_version, "error": twin.reported.get("error"),
            "model": model_rollout(twin.reported)}  # fmt: skip
