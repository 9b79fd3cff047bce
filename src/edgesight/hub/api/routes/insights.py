"""Insights: staffing advice over time, shelves to restock, inspection yield per product."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edgesight.hub import insights
from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.api.params import FromQuery, ToQuery

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/insights", tags=["insights"], dependencies=[AdminDep])


@router.get("/staffing")
def staffing(
    hub: HubDep,
    site: str | None = None,
    start: FromQuery = None,
    end: ToQuery = None,
) -> list[dict[str, Any]]:
    """Counters advised (and open, where a queue declares counters) over time, from ``queue_advice`` events."""
    return insights.staffing(hub.db, site, start, end)


@router.get("/restock")
def restock(hub: HubDep, site: str | None = None) -> list[dict[str, Any]]:
    """Shelves currently alerting, soonest ``time_to_empty_s`` first."""
    return insights.restock(hub.db, site)


@router.get("/inspection")
def inspection(
    hub: HubDep,
    site: str | None = None,
    product: str | None = None,
    start: FromQuery = None,
    end: ToQuery = None,
) -> list[dict[str, Any]]:
    """Per product: inspected, passed, rejected, yield, false rejects, escapes, latest threshold."""
    return insights.inspection(hub.db, site, product, start, end)
