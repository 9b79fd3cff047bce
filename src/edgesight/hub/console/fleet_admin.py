"""The console's fleet management: an admin edits a device's tags (CSRF); any session lists deployments.

Both go through the hub's own API handlers (``PUT /api/v1/devices/{id}/tags``,
``GET /api/v1/deployments``), so the console applies the same checks and returns the same bodies;
only the authentication differs: the console session and its CSRF token, never the admin token.
"""

from __future__ import annotations

from fastapi import APIRouter

from edgesight.hub.api.deps import HubDep
from edgesight.hub.api.routes import devices as device_routes
from edgesight.hub.api.routes import models as model_routes
from edgesight.hub.api.schemas import DeploymentPublic, DevicePublic, TagsUpdate
from edgesight.hub.console.auth import EditorDep, SessionDep

__all__ = ["router"]

router = APIRouter(prefix="/console/api", tags=["console"])


@router.put("/devices/{device_id}/tags")
def set_tags(device_id: str, body: TagsUpdate, session: EditorDep, hub: HubDep) -> DevicePublic:
    """Replace the device's tags (admin only); 422 names a malformed tag, 404 an unknown device."""
    return device_routes.set_tags(device_id, body, hub)


@router.get("/deployments")
def deployments(session: SessionDep, hub: HubDep) -> list[DeploymentPublic]:
    """Every deployment with its status and each device's state (read-only)."""
    return model_routes.list_deployments(hub)
