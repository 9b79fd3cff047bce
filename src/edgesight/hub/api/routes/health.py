"""``GET /health`` (no authentication) and ``GET /metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter()


@router.get("/health", tags=["health"])
def health(hub: HubDep) -> dict[str, Any]:
    """Liveness: the hub answers and knows its database."""
    return {"status": "ok", "database": hub.db.dialect}


@router.get("/metrics", tags=["health"], dependencies=[AdminDep], response_class=Response)
def metrics(hub: HubDep) -> Response:
    """Prometheus text exposition of the hub counters."""
    return Response(hub.metrics.render(), media_type=CONTENT_TYPE)
