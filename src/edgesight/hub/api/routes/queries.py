"""Read-only queries: events, frames, per-minute aggregates and counts over a time range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.api.params import FromQuery, LimitQuery, ToQuery
from edgesight.hub.api.schemas import EventPublic, FramePublic
from edgesight.hub.storage import queries
from edgesight.hub.storage.queries import Filter

__all__ = ["FilterDep", "router"]

router = APIRouter(prefix="/api/v1", tags=["queries"], dependencies=[AdminDep])


def event_filter(
    device: str | None = None,
    site: str | None = None,
    type: str | None = None,
    rule: str | None = None,
    start: FromQuery = None,
    end: ToQuery = None,
    limit: LimitQuery = 1000,
) -> Filter:
    return Filter(device, site, type, rule, start, end, limit)


FilterDep = Annotated[Filter, Depends(event_filter)]


@router.get("/events")
def list_events(f: FilterDep, hub: HubDep) -> list[EventPublic]:
    """Events, oldest first."""
    return [EventPublic.model_validate(r) for r in queries.events(hub.db, f)]


@router.get("/frames")
def list_frames(f: FilterDep, hub: HubDep) -> list[FramePublic]:
    """Stored frames (after downsampling), oldest first, detections with boxes normalised 0..1."""
    return [FramePublic.model_validate(r) for r in queries.frames(hub.db, f)]


@router.get("/aggregates")
def list_aggregates(
    f: FilterDep, hub: HubDep, bucket: Annotated[str, Query(pattern="^(minute|hour|day)$")] = "minute"
) -> list[dict[str, Any]]:
    """Zone counts (max, mean) and line crossings (per ``direction/class``) per time bucket."""
    seconds = {"minute": 60, "hour": 3600, "day": 86_400}[bucket]
    return queries.aggregates(hub.db, f, seconds)


@router.get("/counts")
def counts(f: FilterDep, hub: HubDep) -> dict[str, list[dict[str, Any]]]:
    """Line crossings per direction and class, zone counts max/mean, over the minutes of the range."""
    if f.start is not None and f.end is not None and f.end <= f.start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"to ({f.end}) must be after from ({f.start})")
    return queries.counts(hub.db, f)
